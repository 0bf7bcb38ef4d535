/* nn/low */

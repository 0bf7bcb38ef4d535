/* nn/net */

/* nn/peer */

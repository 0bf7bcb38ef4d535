/* http/web */

/* http/high */

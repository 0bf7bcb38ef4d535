/* twice: implemented in two layers */

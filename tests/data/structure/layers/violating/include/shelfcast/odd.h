/* odd: implemented in a directory that is not a layer */

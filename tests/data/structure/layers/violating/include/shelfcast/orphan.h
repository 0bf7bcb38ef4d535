/* orphan: no implementation anywhere */

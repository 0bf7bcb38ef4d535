/* model/mid */

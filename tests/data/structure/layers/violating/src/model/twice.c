/* model/twice */

/* core/twice */

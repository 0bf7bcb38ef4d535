/* core/base */

/* high: http */
#include "shelfcast/low.h"

/* mid: model, includes a header that does not exist */
#include "shelfcast/nothere.h"

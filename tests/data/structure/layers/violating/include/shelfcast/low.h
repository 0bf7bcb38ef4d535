/* low: nn, includes an http header */
#include "shelfcast/base.h"
#include "shelfcast/high.h"
int low(void);

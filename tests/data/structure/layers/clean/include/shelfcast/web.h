/* web: http, includes everything below it */
#include "shelfcast/net.h"
#include "shelfcast/base.h"
#include "local.h"
int web(void);

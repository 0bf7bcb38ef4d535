/* net: nn, includes core and its own layer */
#ifndef NET_H
#define NET_H
#include "shelfcast/base.h"
#include <shelfcast/peer.h>
#include <stdio.h>
int net(void);
#endif

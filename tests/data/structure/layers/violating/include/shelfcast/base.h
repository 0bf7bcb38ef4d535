/* base: core, includes a model header */
# include <shelfcast/mid.h>
int base(void);

/* base: core */
#ifndef BASE_H
#define BASE_H
int base(void);
#endif

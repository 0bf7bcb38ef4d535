/* rng — see include/shelfcast/rng.h. */
#include "shelfcast/rng.h"

uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double rng_uniform(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

void rng_shuffle(struct rng *r, size_t *a, size_t n)
{
	size_t i;
	for (i = n; i > 1; i--) {
		size_t j = (size_t)(rng_next(r) % i);
		size_t tmp = a[i - 1];
		a[i - 1] = a[j];
		a[j] = tmp;
	}
}

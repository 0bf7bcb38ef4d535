/* coldstart — see include/shelfcast/coldstart.h. */
#include "shelfcast/coldstart.h"

#include <string.h>

#include "shelfcast/rng.h"

void coldstart_route(const struct spec *spec, const struct encoder *enc, float *X, size_t d,
		     const size_t *rows, size_t n, uint64_t seed, size_t *counts, bool *routed)
{
	struct rng r = {seed ^ 0xc01d57a7ULL};
	size_t i, j;

	memset(counts, 0, spec->n_categorical * sizeof *counts);
	for (i = 0; i < n; i++) {
		float *x = X + rows[i] * d;
		for (j = 0; j < spec->n_categorical; j++) {
			size_t off = encoder_categorical_offset(enc, j), nv = spec->categorical[j].n_vocabulary;
			if (rng_uniform(&r) < COLDSTART_SHARE) {
				memset(x + off, 0, nv * sizeof *x);
				x[off + nv] = 1.0f;
				if (routed)
					routed[rows[i]] = true;
			}
			if (x[off + nv] == 1.0f)
				counts[j]++;
		}
	}
}

/* adam — see include/shelfcast/adam.h. */
#include "shelfcast/adam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


#define ADAM_B1 0.9
#define ADAM_B2 0.999
#define ADAM_EPS 1e-8

enum error_code adam_init(struct adam *a, size_t n, struct error *err)
{
	memset(a, 0, sizeof *a);
	a->m = calloc(n ? n : 1, sizeof *a->m);
	a->v = calloc(n ? n : 1, sizeof *a->v);
	if (!a->m || !a->v) {
		adam_done(a);
		return error_nomem(err, "the optimizer state");
	}
	a->n = n;
	return ERROR_OK;
}

void adam_done(struct adam *a)
{
	if (!a)
		return;
	free(a->m);
	free(a->v);
	memset(a, 0, sizeof *a);
}

void adam_begin_step(struct adam *a)
{
	a->step++;
	a->c1 = 1 - pow(ADAM_B1, (double)a->step);
	a->c2 = 1 - pow(ADAM_B2, (double)a->step);
}

void adam_update(struct adam *a, float *p, const float *g, size_t off, size_t n, double lr,
		 double wd)
{
	size_t i;
	for (i = off; i < off + n; i++) {
		double gi = g[i];
		double m = ADAM_B1 * a->m[i] + (1 - ADAM_B1) * gi, v = ADAM_B2 * a->v[i] + (1 - ADAM_B2) * gi * gi;
		double upd = (m / a->c1) / (sqrt(v / a->c2) + ADAM_EPS);
		a->m[i] = (float)m;
		a->v[i] = (float)v;
		if (wd > 0) /* decoupled: the decay is not part of the moments */
			upd += wd * p[i];
		p[i] -= (float)(lr * upd);
	}
}

/*
 * testmlp — for the network's unit tests: a dense network with random
 * weights that owns them (w, b and wt), and a norm-wise relative error.
 */
#ifndef SHELFCAST_TEST_TESTMLP_H
#define SHELFCAST_TEST_TESTMLP_H

#include "testutil.h"

#include <math.h>

#include "shelfcast/mlp.h"

struct testmlp {
	struct mlp m;
	float *w[MLP_MAX_LAYERS], *b[MLP_MAX_LAYERS], *wt[MLP_MAX_LAYERS];
};

static inline void testmlp_build(struct testmlp *o, const size_t *dims, size_t n_layers, uint64_t *seed)
{
	size_t l, i, j;
	memset(o, 0, sizeof *o);
	o->m.n_layers = n_layers;
	for (l = 0; l < n_layers; l++) {
		size_t I = dims[l], O = dims[l + 1];
		float bound = 1.0f / sqrtf((float)I);
		o->w[l] = malloc(I * O * sizeof(float));
		o->b[l] = malloc(O * sizeof(float));
		o->wt[l] = malloc(I * O * sizeof(float));
		for (i = 0; i < I * O; i++)
			o->w[l][i] = test_uniform(seed, -bound, bound);
		for (i = 0; i < O; i++)
			o->b[l][i] = test_uniform(seed, -bound, bound);
		for (i = 0; i < O; i++)
			for (j = 0; j < I; j++)
				o->wt[l][j * O + i] = o->w[l][i * I + j];
		o->m.layer[l] = (struct mlp_layer){I, O, o->w[l], o->b[l], o->wt[l]};
	}
}

static inline void testmlp_release(struct testmlp *o)
{
	size_t l;
	for (l = 0; l < o->m.n_layers; l++) {
		free(o->w[l]);
		free(o->b[l]);
		free(o->wt[l]);
	}
}

/* max |a - b| / max |b|: the output's norm-wise relative error */
static inline double testmlp_rel_error(const float *a, const float *b, size_t n)
{
	double num = 0, den = 0;
	size_t i;
	for (i = 0; i < n; i++) {
		double d = fabs((double)a[i] - (double)b[i]);
		num = d > num ? d : num;
		den = fabs((double)b[i]) > den ? fabs((double)b[i]) : den;
	}
	return den > 0 ? num / den : num;
}

#endif

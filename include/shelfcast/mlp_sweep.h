/*
 * mlp_sweep — a network's second layer over rows whose first-layer
 * pre-activations lie on one affine family: row r's is
 * a + sum_k s_r[k] u_k, P fixed directions u_k (the first layer's weight
 * columns of the inputs a search varies: a price read raw and through its
 * log) from one base a (the row's other inputs, its level).
 *
 * While the set of first-layer units that are on stays the same, the
 * second layer's pre-activation is affine in s:
 *     c + sum_k s_k d_k,   c = b + W (on . a),   d_k = W (on . u_k),
 * so a row costs (1 + P) O multiply-adds instead of the H O of the
 * layer (68 x 36 against 3 x 36 on the OJ model), and H P to find which
 * units are on.  A row whose set differs from the last row's adds or takes
 * out each switched unit's column of W, (1 + P) O multiply-adds a unit:
 * rows in the order of one coefficient cross each unit's zero once.  A
 * sweep starts with every unit off (c = b, d = 0), so its first row pays
 * for its units that are on.
 *
 * The sums run in another order than mlp_forward's, and c and d carry the
 * rounding of every switch since the start, so after MLP_SWEEP_RESTART
 * switches a unit the sweep starts again from every unit off (a row that
 * switches every unit costs what a dense row does): the same function to
 * within float rounding (the unit tests bound it), for a search whose chosen
 * numbers are computed again by the serving path.  The layers after the
 * second run in mlp_forward_search_from.
 *
 * A plan is made once per network and directions (a model keeps one): the
 * directions and the bias padded to whole vectors of eight; the columns are
 * layer 1's wt itself, read in place.  A sweep is one line's state;
 * a search keeps one per promotion level.  A row runs in AVX2 vectors of
 * eight (the units' signs as bits), so a plan is available only where the
 * CPU has AVX2 and FMA and there are one or two directions; elsewhere the
 * search runs its rows through the dense layer (mlp_forward_search_from
 * from layer 1), the engine's own kernels, which a plain-C sweep measured
 * 2.6 times slower than (77 against 29 µs a recommendation).
 *
 * Both own their memory; a plan borrows m (at least one hidden layer; layer
 * 1's wt is read) and its weights, which must outlive it, a sweep its plan.  A plan is
 * read-only once made; a sweep belongs to one thread.
 */
#ifndef SHELFCAST_MLP_SWEEP_H
#define SHELFCAST_MLP_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shelfcast/mlp.h"

#define MLP_SWEEP_RESTART 4

struct mlp_sweep_plan {
	size_t H, O, P;       /* layer 0's outputs, layer 1's outputs, directions */
	size_t H8, O8, words; /* H and O rounded up to 8; 64-unit words of a sign pattern */
	const float *cols;    /* (H, O) layer 1's weight column of each unit: its wt, borrowed */
	float *u;             /* (P, H8) the directions, zero past H */
	float *b;             /* (O8) layer 1's bias, zero past O */
	bool relu_out;        /* layer 1 is hidden: its output goes through the ReLU */
	bool available;       /* the CPU has AVX2 and FMA, P is 1 or 2: else no sweep may run (tests may clear it) */
};

struct mlp_sweep {
	const struct mlp_sweep_plan *pl;
	float *a;             /* (H8) the base, zero past H */
	float *cd;            /* (1 + P, O8): c, then each d_k */
	uint64_t *on, *now;   /* (words) the units on, bit j % 64 of word j / 64: since the last row, at this row;
				 on is the sweep's one allocation, which every array here lies in */
	size_t switched;      /* units switched since every unit was off */
	uint32_t *list;       /* (H) a row's switched units */
	float *z;             /* (3, H) their coefficients: sign a_j, sign u_0[j], sign u_1[j] */
};

/*
 * For network m and P directions u[0..P) (each H floats, copied): false
 * when out of memory, or when m has no hidden layer (the spec requires one).
 */
bool mlp_sweep_plan_init(struct mlp_sweep_plan *pl, const struct mlp *m, size_t P, const float *const *u);
void mlp_sweep_plan_done(struct mlp_sweep_plan *pl);

/* A sweep of plan pl (available): false when out of memory. */
bool mlp_sweep_init(struct mlp_sweep *sw, const struct mlp_sweep_plan *pl);
void mlp_sweep_done(struct mlp_sweep *sw);
/* Start from base a (H floats, copied), every unit off. */
void mlp_sweep_start(struct mlp_sweep *sw, const float *a);
/* The row a + sum_k s[k] u_k: layer 1's output (after its ReLU when hidden) into out (O floats). */
void mlp_sweep_row(struct mlp_sweep *sw, const float *s, float *out);

#endif

/*
 * explain — why a prediction is what it is: Shapley values of the features,
 * per prediction, for both network outputs, against a reference
 * distribution stored with the model version (spec "reference": encoded rows
 * the trainer sampled from the training part).
 *
 * A feature is what the client names: a numeric feature (its raw and log
 * inputs together), a categorical one (its whole one-hot block) or the
 * promotion level (its block).  The value of a coalition S of features for
 * an item x is the mean over the reference rows r of the network's output on
 * the row that takes S's columns from x and the others from r
 * (interventional Shapley values).  The baseline is the mean output over the
 * reference rows, v(empty); v(all) is the item's own output, so the values
 * sum to output - baseline (completeness).
 *
 * The first layer is linear, so a coalition's first-layer pre-activation is
 * h_r + sum_{j in S} W1[:, cols_j] (x - r)[cols_j]: the parts are computed
 * once per (item, reference row) and each coalition costs one vector add
 * plus the layers after the first (mlp_forward_rest, batched).
 *
 * Exact when R * 2^M <= EXPLAIN_EXACT_ROWS (every coalition of every
 * reference row, in Gray-code order); beyond it, permutation sampling: one
 * random feature order per reference row, consecutive rows antithetic (the
 * second of a pair walks the first's order backwards), seeded by the item's
 * encoded row so an item always gets the same numbers.  Every walk's steps
 * telescope to f(x) - f(r), so completeness holds exactly in both modes.
 *
 * Thread-safety: an explainer holds per-call scratch: one per thread.
 */
#ifndef SHELFCAST_EXPLAIN_H
#define SHELFCAST_EXPLAIN_H

#include <stddef.h>
#include <stdint.h>

#include "shelfcast/error.h"
#include "shelfcast/mlp.h"
#include "shelfcast/model.h"

#define EXPLAIN_MAX_FEATURES 256
#define EXPLAIN_EXACT_ROWS 16384
#define EXPLAIN_CHUNK 64
/* The feature name the promotion level is explained under. */
#define EXPLAIN_LEVEL_FEATURE "promotion_level"

struct explainer {
	const struct mlp *mlp;
	size_t M, d, H, R;         /* features, input width, first-layer width, reference rows */
	const uint16_t *col;       /* (d) feature of each input column (borrowed) */
	const float *ref;          /* (R, d) reference rows (borrowed) */
	float *ref_pre;            /* (R, H) first-layer pre-activations of the reference rows */
	float *ref_out;            /* (R, 2) outputs of the reference rows */
	double baseline[2];        /* mean of ref_out */
	double *delta;             /* (M, H) per-feature first-layer parts for one reference row */
	double *acc;               /* (H) running pre-activation */
	float *rows, *out, *scratch; /* (EXPLAIN_CHUNK, H), (EXPLAIN_CHUNK, 2), forward scratch */
	uint64_t *coal;            /* (EXPLAIN_CHUNK) coalition or walk step of each chunk row */
	double *value;             /* (2^M, 2) coalition values, exact mode only */
	size_t *order;             /* (M) sampling mode's feature order */
	void *block;
};

/*
 * Set up an explainer over a network with its first layer's wt (a model's
 * mlp), col[c] < M the feature of input column c, R >= 1 reference rows.
 */
enum error_code explainer_init(struct explainer *e, const struct mlp *mlp, const uint16_t *col,
			       size_t M, const float *ref, size_t R, struct error *err);
void explainer_done(struct explainer *e);
/* Does this explainer enumerate every coalition (else it samples)? */
int explainer_exact(const struct explainer *e);
/*
 * Explain one encoded row x (d values, its level slot set): phi (M, 2),
 * phi[2j + o] the contribution of feature j to raw output o.
 */
void explainer_row(struct explainer *e, const float *x, double *phi);

/*
 * The reference the trainer stores (spec "reference"): EXPLAIN_REFERENCE_ROWS
 * of the encoded training rows X (d wide, each at its own level) listed in
 * rows, drawn without replacement by seed (all of them when fewer).
 */
#define EXPLAIN_REFERENCE_ROWS 32
enum error_code explain_sample_reference(struct spec *spec, const float *X, const size_t *rows,
					 size_t n, uint64_t seed, struct error *err);

/* A model's features, named as the client names them, and its explainer. */
struct explain_model {
	const struct model *model;
	size_t M;
	const char *name[EXPLAIN_MAX_FEATURES]; /* borrowed from the spec */
	uint16_t *col;            /* (d), then: */
	float *x;                 /* (d) the row at its level */
	double *phi;              /* (M, 2) */
	struct explainer e;
	double sales_baseline, exposure_baseline; /* on the output scale */
};

/*
 * Features of model m's spec (numeric features in first-input order, then
 * categoricals, then the promotion level) and an explainer over its stored
 * reference.  ERROR_INVALID naming "explain" when the version has no
 * reference rows (trained before explanations existed).
 */
enum error_code explain_model_init(struct explain_model *x, const struct model *m,
				   struct error *err);
void explain_model_done(struct explain_model *x);
/*
 * Explain encoded row `row` (level slots zero) at level index k: sales[j],
 * exposure[j] (M each) on the output scale (the transformed sales target,
 * the exposure logit); their sums plus the baselines are the outputs.
 */
void explain_model_item(struct explain_model *x, const float *row, int k, double *sales,
			double *exposure);

#endif

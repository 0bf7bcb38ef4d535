/*
 * predict — batch scoring of encoded items at every promotion level, shared
 * by the HTTP API (predict_api.h: a /v1/predict body in, a reply out) and
 * the offline `shelfcast predict`, so both give the same numbers for the
 * same rows.
 *
 * A batch of n items is scored at all K promotion levels at once: each
 * item's features are encoded once (level slots zero) and
 * mlp_forward_levels scores the n*K (item, level) rows in one pass.
 *
 * Thread-safety: a batch belongs to one request; the model is shared and
 * read-only.
 */
#ifndef SHELFCAST_PREDICT_H
#define SHELFCAST_PREDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shelfcast/drift.h"
#include "shelfcast/error.h"
#include "shelfcast/model.h"

struct predict_batch {
	size_t n, K, d;         /* items, levels, encoded width */
	size_t nc, nn;          /* the per-item strides of unknown and of defaulted/clipped (at least 1) */
	float *x;               /* (n, d): encoded items, level slots zero */
	float *y;               /* (n*K, 2) */
	float *scratch;         /* mlp_levels_scratch_floats(K) */
	double *price;          /* (n) */
	double *unit_cost;      /* (n) */
	int *asked;             /* (n) requested level index, or -1 */
	int *recommended;       /* (n) chosen level index */
	double *expected;       /* (n*K) expected units, the mean (heads_expected_sales): what value
				   and the recommendation use (the centre and the exposure probability
				   are computed where printed: predict_batch_sales, _exposure) */
	double *value;          /* (n*K) objective value */
	bool *finite;           /* (n) the network's outputs and the values finite at every level: an
				   item without is an error, never a number (units map NaN to 0) */
	uint32_t *unknown;      /* (n, nc) categorical indices that were unknown */
	size_t *n_unknown;      /* (n) */
	/* (n, nn) numeric input indices (encoder_report): defaulted, clipped; counts (n) */
	uint32_t *defaulted, *clipped;
	size_t *n_defaulted, *n_clipped;
	struct drift_tally *tally; /* set by the caller after the layout: each item set is tallied
				      there (drift.h); NULL: none */
	void *block;            /* the allocation behind every array (predict_batch_init); NULL when
				   laid out in the caller's memory (predict_batch_layout) */
};

/* Size a batch for n items of model m (one allocation). */
enum error_code predict_batch_init(struct predict_batch *b, const struct model *m, size_t n,
				   struct error *err);
void predict_batch_done(struct predict_batch *b);
/*
 * Bytes a batch of n items needs, a multiple of 64 (0 when that overflows),
 * and laying one out in caller memory (64-byte aligned).
 */
size_t predict_batch_bytes(const struct model *m, size_t n);
void predict_batch_layout(struct predict_batch *b, const struct model *m, size_t n, void *block);

/*
 * Encode item i from its feature values (encoder order), with its report
 * (unknown, defaulted, clipped; a value <= 0 for a log input is an error).
 * asked: the requested level index or -1.  field_prefix names the item in
 * errors.  An item encoded without error is added to b->tally, when tallying.
 */
enum error_code predict_batch_set(struct predict_batch *b, const struct model *m, size_t i,
				  const struct encoder_value *values, int asked,
				  const char *field_prefix, struct error *err);

/*
 * Score the first n items (n <= b->n) at every level, choose levels by
 * `objective` and say which items' numbers are finite (b->finite).
 */
void predict_batch_run(struct predict_batch *b, const struct model *m, size_t n,
		       enum spec_objective objective);

/*
 * Row r's predicted units (the centre, heads_sales) and exposure
 * probability, from its outputs: a reply prints them for one level of most
 * items, so they are not computed for every level.
 */
double predict_batch_sales(const struct predict_batch *b, const struct model *m, size_t r);
double predict_batch_exposure(const struct predict_batch *b, size_t r);

/*
 * Items per tile for model m: a request is encoded and scored a tile at a
 * time, so its working memory is one tile whatever its item count: about
 * PREDICT_TILE_BYTES, at most PREDICT_TILE_ITEMS items, always a whole
 * number of MLP_TILEs (so a request scored tile by tile gets the same bits
 * as scored whole; for a very wide model the tile is MLP_TILE items).
 */
#define PREDICT_TILE_ITEMS 256
#define PREDICT_TILE_BYTES (1u << 20)
size_t predict_tile_items(const struct model *m);

/* The level index an item's predicted_sales / exposure_probability refer to. */
static inline int predict_reported_level(const struct predict_batch *b, size_t i)
{
	return b->asked[i] >= 0 ? b->asked[i] : b->recommended[i];
}

/* Significant digits of every number in replies and offline output. */
#define PREDICT_DIGITS 7

#endif

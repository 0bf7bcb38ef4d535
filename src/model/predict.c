/* predict — see include/shelfcast/predict.h. */
#include "shelfcast/predict.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/heads.h"
#include "shelfcast/promo.h"
#include "shelfcast/util.h"

/*
 * The batch's arrays, each 64-byte aligned, in one block.  One function
 * says the order and the sizes: with c->block NULL it only measures.
 */
struct carver {
	char *block;
	size_t off;
	bool ok;
};

static void *carve(struct carver *c, size_t count, size_t elem_size)
{
	size_t start = c->off, bytes;

	if (!c->ok || !util_mul_size(count, elem_size, &bytes) || !util_add_size(bytes, 63, &bytes) ||
	    !util_add_size(start, bytes & ~(size_t)63, &c->off)) {
		c->ok = false;
		return NULL;
	}
	return c->block ? c->block + start : NULL;
}

static bool lay_out(struct predict_batch *b, const struct model *m, size_t n, struct carver *c)
{
	size_t K = m->spec.n_levels, d = m->spec.input_size, rows;

	if (n == 0 || !util_mul_size(n, K, &rows))
		return false;
	b->n = n;
	b->K = K;
	b->d = d;
	b->nc = m->spec.n_categorical ? m->spec.n_categorical : 1;
	b->nn = m->spec.n_numeric ? m->spec.n_numeric : 1;
	b->x = carve(c, n, d * sizeof *b->x);
	b->y = carve(c, rows, 2 * sizeof *b->y);
	b->scratch = carve(c, mlp_levels_scratch_floats(&m->mlp, K), sizeof *b->scratch);
	b->price = carve(c, n, sizeof *b->price);
	b->unit_cost = carve(c, n, sizeof *b->unit_cost);
	b->asked = carve(c, n, sizeof *b->asked);
	b->recommended = carve(c, n, sizeof *b->recommended);
	b->expected = carve(c, rows, sizeof *b->expected);
	b->value = carve(c, rows, sizeof *b->value);
	b->finite = carve(c, n, sizeof *b->finite);
	b->unknown = carve(c, n, b->nc * sizeof *b->unknown);
	b->n_unknown = carve(c, n, sizeof *b->n_unknown);
	b->defaulted = carve(c, n, b->nn * sizeof *b->defaulted);
	b->clipped = carve(c, n, b->nn * sizeof *b->clipped);
	b->n_defaulted = carve(c, n, sizeof *b->n_defaulted);
	b->n_clipped = carve(c, n, sizeof *b->n_clipped);
	return c->ok;
}

size_t predict_batch_bytes(const struct model *m, size_t n)
{
	struct predict_batch b;
	struct carver c = {NULL, 0, true};

	return lay_out(&b, m, n, &c) ? c.off : 0;
}

void predict_batch_layout(struct predict_batch *b, const struct model *m, size_t n, void *block)
{
	struct carver c = {block, 0, true};

	memset(b, 0, sizeof *b);
	lay_out(b, m, n, &c);
}

enum error_code predict_batch_init(struct predict_batch *b, const struct model *m, size_t n,
				   struct error *err)
{
	size_t total = predict_batch_bytes(m, n);
	void *block;

	memset(b, 0, sizeof *b);
	if (!total)
		return error_set(err, ERROR_TOO_LARGE, "items", "items: too many items");
	block = malloc(total);
	if (!block)
		return error_nomem(err, "a prediction batch");
	predict_batch_layout(b, m, n, block);
	b->block = block;
	return ERROR_OK;
}

void predict_batch_done(struct predict_batch *b)
{
	if (!b)
		return;
	free(b->block);
	memset(b, 0, sizeof *b);
}

enum error_code predict_batch_set(struct predict_batch *b, const struct model *m, size_t i,
				  const struct encoder_value *values, int asked,
				  const char *field_prefix, struct error *err)
{
	const struct spec *spec = &m->spec;
	struct drift_tally *tally = b->tally && b->tally->spec ? b->tally : NULL;
	struct encoder_report rep = {b->defaulted + i * b->nn, 0, b->clipped + i * b->nn, 0,
				     tally ? tally->slots : NULL};
	enum error_code rc;

	/* Level slots stay zero: the forward pass adds each level's weights itself. */
	rc = encoder_encode_reported(m->enc, values, -1, b->x + i * b->d, b->unknown + i * b->nc,
				     &b->n_unknown[i], &rep, field_prefix, err);
	b->n_defaulted[i] = rep.n_defaulted;
	b->n_clipped[i] = rep.n_clipped;
	if (rc)
		return rc;
	if (tally)
		drift_tally_add(tally, values, rep.clipped, rep.n_clipped);
	b->price[i] = encoder_numeric_value(m->enc, values, (size_t)spec->price_index);
	b->unit_cost[i] = spec->unit_cost_index >= 0
				  ? encoder_numeric_value(m->enc, values, (size_t)spec->unit_cost_index)
				  : 0.0;
	b->asked[i] = asked;
	return ERROR_OK;
}

size_t predict_tile_items(const struct model *m)
{
	/* what one more item costs (the forward's scratch is the same for any n) */
	size_t per_item = predict_batch_bytes(m, 2) - predict_batch_bytes(m, 1), n;

	n = per_item ? PREDICT_TILE_BYTES / per_item : 1;
	if (n > PREDICT_TILE_ITEMS)
		n = PREDICT_TILE_ITEMS;
	/*
	 * Whole MLP_TILEs, at least one: mlp_forward_levels works MLP_TILE items at
	 * a time, so a request scored tile by tile meets exactly the chunks it
	 * would meet scored whole, and gets the same bits (for a model so wide
	 * that MLP_TILE items pass PREDICT_TILE_BYTES, the tile is that much larger).
	 */
	n -= n % MLP_TILE;
	return n < MLP_TILE ? MLP_TILE : n;
}

double predict_batch_sales(const struct predict_batch *b, const struct model *m, size_t r)
{
	return heads_sales(&m->spec, (double)b->y[2 * r]);
}

double predict_batch_exposure(const struct predict_batch *b, size_t r)
{
	return heads_exposure((double)b->y[2 * r + 1]);
}

void predict_batch_run(struct predict_batch *b, const struct model *m, size_t n,
		       enum spec_objective objective)
{
	size_t rows = n * b->K, r, i, k;

	mlp_forward_levels(&m->mlp, b->x, n, encoder_level_offset(m->enc), b->K, b->scratch, b->y);
	for (r = 0; r < rows; r++)
		b->expected[r] = heads_expected_sales(&m->spec, (double)b->y[2 * r]);
	for (i = 0; i < n; i++) {
		b->recommended[i] = (int)promo_choose(&m->spec, objective, b->expected + i * b->K,
						      b->price[i], b->unit_cost[i],
						      b->value + i * b->K);
		/* units and the exposure follow from y (a NaN maps to 0 units): y and the values decide */
		b->finite[i] = true;
		for (k = 0, r = i * b->K; k < b->K; k++, r++)
			b->finite[i] &= isfinite(b->y[2 * r]) && isfinite(b->y[2 * r + 1]) && isfinite(b->value[r]);
	}
}

/* explain — see include/shelfcast/explain.h. */
#include "shelfcast/explain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/heads.h"
#include "shelfcast/rng.h"
#include "shelfcast/util.h"

/* Carve n bytes (aligned to 64) from *p. */
static void *carve(char **p, size_t n)
{
	void *r = *p;
	*p += (n + 63) & ~(size_t)63;
	return r;
}

int explainer_exact(const struct explainer *e)
{
	return e->M < 31 && e->R <= ((size_t)EXPLAIN_EXACT_ROWS >> e->M);
}

/* e->acc = b1 + W1 x, the first layer's pre-activations, in double (zero inputs skipped). */
static void first_layer(struct explainer *e, const float *x)
{
	const struct mlp_layer *L = &e->mlp->layer[0];
	size_t c, o;

	for (o = 0; o < e->H; o++)
		e->acc[o] = L->b[o];
	for (c = 0; c < e->d; c++)
		if (x[c] != 0)
			for (o = 0; o < e->H; o++)
				e->acc[o] += (double)x[c] * L->wt[c * e->H + o];
}

/* First-layer pre-activations of the reference rows and their outputs. */
static void reference_outputs(struct explainer *e)
{
	size_t r, o, done;

	for (r = 0; r < e->R; r++) {
		first_layer(e, e->ref + r * e->d);
		for (o = 0; o < e->H; o++)
			e->ref_pre[r * e->H + o] = (float)e->acc[o];
	}
	e->baseline[0] = e->baseline[1] = 0;
	for (done = 0; done < e->R; done += EXPLAIN_CHUNK) {
		size_t n = e->R - done < EXPLAIN_CHUNK ? e->R - done : EXPLAIN_CHUNK;
		memcpy(e->rows, e->ref_pre + done * e->H, n * e->H * sizeof(float));
		mlp_forward_rest(e->mlp, e->rows, n, e->scratch, e->ref_out + done * 2);
	}
	for (r = 0; r < e->R; r++) {
		e->baseline[0] += e->ref_out[2 * r] / (double)e->R;
		e->baseline[1] += e->ref_out[2 * r + 1] / (double)e->R;
	}
}

enum error_code explainer_init(struct explainer *e, const struct mlp *mlp, const uint16_t *col,
			       size_t M, const float *ref, size_t R, struct error *err)
{
	size_t H = mlp->layer[0].out, d = mlp->layer[0].in, C = EXPLAIN_CHUNK, bytes = 0;
	size_t sizes[10], i, n_value;
	char *p;

	memset(e, 0, sizeof *e);
	if (M < 1 || M > EXPLAIN_MAX_FEATURES || R < 1 || R > SPEC_MAX_REFERENCE ||
	    mlp_output_size(mlp) != 2)
		return error_set(err, ERROR_INVALID, "explain",
				 "explain: %zu features and %zu reference rows cannot be explained",
				 M, R);
	*e = (struct explainer){.mlp = mlp, .M = M, .d = d, .H = H, .R = R, .col = col, .ref = ref};
	n_value = explainer_exact(e) ? (size_t)1 << M : 0;
	sizes[0] = R * H * sizeof(float);
	sizes[1] = R * 2 * sizeof(float);
	sizes[2] = M * H * sizeof(double);
	sizes[3] = H * sizeof(double);
	sizes[4] = C * H * sizeof(float);
	sizes[5] = C * 2 * sizeof(float);
	sizes[6] = mlp_scratch_floats(mlp, C) * sizeof(float);
	sizes[7] = C * sizeof(uint64_t);
	sizes[8] = n_value * 2 * sizeof(double);
	sizes[9] = M * sizeof(size_t);
	for (i = 0; i < 10; i++)
		bytes += (sizes[i] + 63) & ~(size_t)63;
	e->block = aligned_alloc(64, bytes);
	if (!e->block)
		return error_nomem(err, "the explainer");
	p = e->block;
	e->ref_pre = carve(&p, sizes[0]);
	e->ref_out = carve(&p, sizes[1]);
	e->delta = carve(&p, sizes[2]);
	e->acc = carve(&p, sizes[3]);
	e->rows = carve(&p, sizes[4]);
	e->out = carve(&p, sizes[5]);
	e->scratch = carve(&p, sizes[6]);
	e->coal = carve(&p, sizes[7]);
	e->value = n_value ? carve(&p, sizes[8]) : NULL;
	e->order = carve(&p, sizes[9]);
	reference_outputs(e);
	return ERROR_OK;
}

void explainer_done(struct explainer *e)
{
	free(e->block);
	memset(e, 0, sizeof *e);
}

/* delta[j] = W1[:, cols_j] (x - r)[cols_j] for every feature j, over the columns that differ. */
static void feature_parts(struct explainer *e, const float *x, const float *r)
{
	const float *wt = e->mlp->layer[0].wt;
	size_t c, o, H = e->H;

	memset(e->delta, 0, e->M * H * sizeof(double));
	for (c = 0; c < e->d; c++) {
		double diff = (double)x[c] - (double)r[c];
		double *dj = e->delta + (size_t)e->col[c] * H;
		if (diff == 0)
			continue;
		for (o = 0; o < H; o++)
			dj[o] += diff * wt[c * H + o];
	}
}

static void put_row(struct explainer *e, size_t slot)
{
	size_t o;
	for (o = 0; o < e->H; o++)
		e->rows[slot * e->H + o] = (float)e->acc[o];
}

static void start_walk(struct explainer *e, size_t r)
{
	size_t o;
	for (o = 0; o < e->H; o++)
		e->acc[o] = e->ref_pre[r * e->H + o];
}

static void add_part(struct explainer *e, size_t j, double sign)
{
	const double *dj = e->delta + j * e->H;
	size_t o;
	for (o = 0; o < e->H; o++)
		e->acc[o] += sign * dj[o];
}

/* Exact: v(S) summed over the reference rows, every coalition in Gray-code order. */
static void exact_values(struct explainer *e, const float *x)
{
	size_t n = (size_t)1 << e->M, r, k, fill, i;
	uint64_t *mask = e->coal;

	memset(e->value, 0, n * 2 * sizeof(double));
	for (r = 0; r < e->R; r++) {
		feature_parts(e, x, e->ref + r * e->d);
		start_walk(e, r);
		for (k = 0, fill = 0; k < n; k++) {
			if (k) {
				size_t bit = (size_t)__builtin_ctzll(k);
				add_part(e, bit, ((k ^ (k >> 1)) >> bit) & 1 ? 1.0 : -1.0);
			}
			mask[fill] = k ^ (k >> 1);
			put_row(e, fill++);
			if (fill == EXPLAIN_CHUNK || k + 1 == n) {
				mlp_forward_rest(e->mlp, e->rows, fill, e->scratch, e->out);
				for (i = 0; i < fill; i++) {
					e->value[2 * mask[i]] += e->out[2 * i];
					e->value[2 * mask[i] + 1] += e->out[2 * i + 1];
				}
				fill = 0;
			}
		}
	}
}

/* phi_j = sum over S without j of |S|! (M-|S|-1)! / M! (v(S + j) - v(S)), v the mean over rows. */
static void exact_shapley(struct explainer *e, const float *x, double *phi)
{
	size_t M = e->M, n = (size_t)1 << M, S, j, s;
	double w[32], scale = 1.0 / (double)e->R;

	exact_values(e, x);
	/* w[s] = s! (M-s-1)! / M! = 1 / (M * C(M-1, s)) */
	for (s = 0; s < M; s++) {
		double c = 1;
		for (j = 0; j < s; j++)
			c = c * (double)(M - 1 - j) / (double)(j + 1);
		w[s] = scale / ((double)M * c);
	}
	memset(phi, 0, M * 2 * sizeof(double));
	for (S = 0; S < n; S++) {
		size_t size = (size_t)__builtin_popcountll(S);
		for (j = 0; j < M; j++) {
			if (S >> j & 1)
				continue;
			phi[2 * j] += w[size] * (e->value[2 * (S | (size_t)1 << j)] - e->value[2 * S]);
			phi[2 * j + 1] +=
				w[size] * (e->value[2 * (S | (size_t)1 << j) + 1] - e->value[2 * S + 1]);
		}
	}
}

/* The seed of an item's feature orders: FNV-1a over its encoded row. */
static uint64_t row_seed(const float *x, size_t d)
{
	const unsigned char *b = (const unsigned char *)x;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;
	for (i = 0; i < d * sizeof(float); i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/*
 * The rows of the sampled walks wait in e->rows until a chunk is full; coal
 * says which feature each row adds (bits 0-15), for which reference row
 * (16-31), whether it is its walk's first step (whose predecessor is the
 * reference row itself) and, for the next-to-last step, the last feature + 1
 * (bits 32-47): every walk ends at x itself, whose output fx is computed once.
 */
#define WALK_FIRST (1ull << 63)

static void flush_walks(struct explainer *e, size_t fill, double *phi, double prev[2],
			const float fx[2])
{
	double weight = 1.0 / (double)e->R;
	size_t i;

	mlp_forward_rest(e->mlp, e->rows, fill, e->scratch, e->out);
	for (i = 0; i < fill; i++) {
		uint64_t c = e->coal[i];
		size_t j = c & 0xffff, r = (c >> 16) & 0xffff, last = (c >> 32) & 0xffff;
		if (c & WALK_FIRST) {
			prev[0] = e->ref_out[2 * r];
			prev[1] = e->ref_out[2 * r + 1];
		}
		phi[2 * j] += weight * (e->out[2 * i] - prev[0]);
		phi[2 * j + 1] += weight * (e->out[2 * i + 1] - prev[1]);
		prev[0] = e->out[2 * i];
		prev[1] = e->out[2 * i + 1];
		if (last) {
			phi[2 * (last - 1)] += weight * (fx[0] - prev[0]);
			phi[2 * (last - 1) + 1] += weight * (fx[1] - prev[1]);
		}
	}
}

/* The network's output on x itself, through the same path as the walks' rows. */
static void own_output(struct explainer *e, const float *x, float fx[2])
{
	first_layer(e, x);
	put_row(e, 0);
	mlp_forward_rest(e->mlp, e->rows, 1, e->scratch, fx);
}

/* The next feature order: random for even reference rows, the previous one reversed for odd. */
static void next_order(struct explainer *e, size_t r, struct rng *rng)
{
	size_t j, M = e->M;

	if (r % 2 == 0) {
		for (j = 0; j < M; j++)
			e->order[j] = j;
		rng_shuffle(rng, e->order, M);
		return;
	}
	for (j = 0; j < M / 2; j++) {
		size_t v = e->order[j];
		e->order[j] = e->order[M - 1 - j];
		e->order[M - 1 - j] = v;
	}
}

/*
 * Sampling happens when R * 2^M > EXPLAIN_EXACT_ROWS with R <= SPEC_MAX_REFERENCE,
 * so M >= 7: every walk has a next-to-last step.
 */
static void sampled_shapley(struct explainer *e, const float *x, double *phi)
{
	struct rng rng = {row_seed(x, e->d)};
	double prev[2] = {0, 0};
	size_t r, k, fill = 0, M = e->M;
	float fx[2];

	memset(phi, 0, M * 2 * sizeof(double));
	own_output(e, x, fx);
	for (r = 0; r < e->R; r++) {
		next_order(e, r, &rng);
		feature_parts(e, x, e->ref + r * e->d);
		start_walk(e, r);
		for (k = 0; k + 1 < M; k++) {
			add_part(e, e->order[k], 1.0);
			e->coal[fill] = (uint64_t)e->order[k] | (uint64_t)r << 16 |
					(k + 2 == M ? (uint64_t)(e->order[k + 1] + 1) << 32 : 0) |
					(k ? 0 : WALK_FIRST);
			put_row(e, fill++);
			if (fill == EXPLAIN_CHUNK) {
				flush_walks(e, fill, phi, prev, fx);
				fill = 0;
			}
		}
	}
	if (fill)
		flush_walks(e, fill, phi, prev, fx);
}

void explainer_row(struct explainer *e, const float *x, double *phi)
{
	if (explainer_exact(e))
		exact_shapley(e, x, phi);
	else
		sampled_shapley(e, x, phi);
}

/* The feature of every input column, named as the client names it. */
static enum error_code model_features(struct explain_model *x, struct error *err)
{
	const struct spec *spec = &x->model->spec;
	size_t i, j, c = 0, v;

	x->M = 0;
	for (i = 0; i < spec->n_numeric; i++) {
		for (j = 0; j < i && strcmp(spec->numeric[j].name, spec->numeric[i].name); j++)
			;
		x->col[c++] = (uint16_t)(j < i ? x->col[j] : x->M);
		if (j == i)
			x->name[x->M++] = spec->numeric[i].name;
		if (x->M >= EXPLAIN_MAX_FEATURES)
			break;
	}
	for (i = 0; i < spec->n_categorical && x->M < EXPLAIN_MAX_FEATURES; i++) {
		for (v = 0; v <= spec->categorical[i].n_vocabulary; v++)
			x->col[c++] = (uint16_t)x->M;
		x->name[x->M++] = spec->categorical[i].name;
	}
	if (x->M >= EXPLAIN_MAX_FEATURES)
		return error_set(err, ERROR_INVALID, "explain",
				 "explain: the model has more than %d features",
				 EXPLAIN_MAX_FEATURES - 1);
	for (v = 0; v < spec->n_levels; v++)
		x->col[c++] = (uint16_t)x->M;
	x->name[x->M++] = EXPLAIN_LEVEL_FEATURE;
	return ERROR_OK;
}

enum error_code explain_model_init(struct explain_model *x, const struct model *m,
				   struct error *err)
{
	const struct spec *spec = &m->spec;
	size_t d = spec->input_size;
	enum error_code rc;

	memset(x, 0, sizeof *x);
	x->model = m;
	if (!spec->reference)
		return error_set(err, ERROR_INVALID, "explain",
				 "explain: model %s version %d has no reference rows (retrain it "
				 "to explain its predictions)",
				 m->name, m->version);
	x->col = util_alloc_array(d * sizeof(uint16_t) + d * sizeof(float) + 64 +
					  2 * EXPLAIN_MAX_FEATURES * sizeof(double),
				  1);
	if (!x->col)
		return error_nomem(err, "the explainer");
	x->phi = (double *)(void *)((char *)x->col + ((d * sizeof(uint16_t) + 7) & ~(size_t)7));
	x->x = (float *)(void *)(x->phi + 2 * EXPLAIN_MAX_FEATURES);
	rc = model_features(x, err);
	if (!rc)
		rc = explainer_init(&x->e, &m->mlp, x->col, x->M, spec->reference,
				    spec->n_reference, err);
	if (rc) {
		explain_model_done(x);
		return rc;
	}
	x->sales_baseline = heads_unstandardize(spec, x->e.baseline[HEADS_SALES]);
	x->exposure_baseline = x->e.baseline[HEADS_EXPOSURE];
	return ERROR_OK;
}

void explain_model_done(struct explain_model *x)
{
	explainer_done(&x->e);
	free(x->col);
	memset(x, 0, sizeof *x);
}

void explain_model_item(struct explain_model *x, const float *row, int k, double *sales,
			double *exposure)
{
	const struct spec *spec = &x->model->spec;
	size_t j;

	memcpy(x->x, row, spec->input_size * sizeof(float));
	encoder_set_level(x->model->enc, x->x, k);
	explainer_row(&x->e, x->x, x->phi);
	for (j = 0; j < x->M; j++) {
		sales[j] = x->phi[2 * j + HEADS_SALES] * spec->target_std;
		exposure[j] = x->phi[2 * j + HEADS_EXPOSURE];
	}
}

enum error_code explain_sample_reference(struct spec *spec, const float *X, const size_t *rows,
					 size_t n, uint64_t seed, struct error *err)
{
	size_t k = n < EXPLAIN_REFERENCE_ROWS ? n : EXPLAIN_REFERENCE_ROWS, d = spec->input_size, i;
	size_t *pick = util_alloc_array(n, sizeof *pick);
	float *ref = util_alloc_array(k * d, sizeof *ref);
	struct rng r = {seed};
	enum error_code rc;

	if (!pick || !ref) {
		rc = error_nomem(err, "the reference rows");
		goto out;
	}
	memcpy(pick, rows, n * sizeof *pick);
	rng_shuffle(&r, pick, n);
	for (i = 0; i < k; i++)
		memcpy(ref + i * d, X + pick[i] * d, d * sizeof *ref);
	rc = spec_set_reference(spec, ref, k, err);
out:
	free(pick);
	free(ref);
	return rc;
}

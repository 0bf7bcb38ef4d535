/* train — see include/shelfcast/train.h. */
#include "shelfcast/train.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "build_config.h"
#include "shelfcast/baseline.h"
#include "shelfcast/encoder.h"
#include "shelfcast/evaluate.h"
#include "shelfcast/promo.h"
#include "shelfcast/trainmem.h"
#include "shelfcast/util.h"

#define EVAL_BATCH 4096
#define RIDGE 1.0

/* ---- a seeded generator (splitmix64): reproducible shuffles and initial weights ---- */

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double rng_uniform(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static void shuffle(size_t *a, size_t n, struct rng *r)
{
	size_t i;
	for (i = n; i > 1; i--) {
		size_t j = (size_t)(rng_next(r) % i);
		size_t tmp = a[i - 1];
		a[i - 1] = a[j];
		a[j] = tmp;
	}
}

/* ---- columns --------------------------------------------------------------------------- */

struct table_colspec *train_columns(const struct dataset_config *cfg, size_t *n_out)
{
	size_t n = cfg->n_numeric + cfg->n_log + cfg->n_categorical + 5, k = 0, i, j;
	struct table_colspec *c = calloc(n, sizeof *c);

	if (!c)
		return NULL;
	for (i = 0; i < cfg->n_numeric; i++)
		c[k++] = (struct table_colspec){cfg->numeric[i], TABLE_NUMBER, false, false, false};
	for (i = 0; i < cfg->n_log; i++) {
		for (j = 0; j < cfg->n_numeric && strcmp(cfg->numeric[j], cfg->log[i]); j++)
			;
		if (j == cfg->n_numeric)
			c[k++] = (struct table_colspec){cfg->log[i], TABLE_NUMBER, false, false, false};
	}
	for (i = 0; i < cfg->n_categorical; i++)
		c[k++] = (struct table_colspec){cfg->categorical[i], TABLE_CATEGORY, false, false, false};
	c[k++] = (struct table_colspec){cfg->target_column, TABLE_NUMBER, false, true, false};
	c[k++] = (struct table_colspec){cfg->exposure_column, TABLE_LABEL01, false, false, true};
	c[k++] = (struct table_colspec){cfg->promo_column, TABLE_LEVEL, false, false, true};
	if (cfg->split_by_column)
		c[k++] = (struct table_colspec){cfg->split_column, TABLE_NUMBER, false, false, true};
	if (cfg->id_column)
		c[k++] = (struct table_colspec){cfg->id_column, TABLE_TEXT, true, false, false};
	*n_out = k;
	return c;
}

/* The table columns train_run reads, found by name. */
struct roles {
	int target, exposure, level, split;
};

static void find_roles(const struct dataset_config *cfg, const struct table *t, struct roles *r)
{
	r->target = table_column(t, cfg->target_column);
	r->exposure = table_column(t, cfg->exposure_column);
	r->level = table_column(t, cfg->promo_column);
	r->split = cfg->split_by_column ? table_column(t, cfg->split_column) : -1;
}

/* ---- fitting the encoder's statistics on the training part ------------------------------ */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double quantile(const double *sorted, size_t n, double q)
{
	double pos = q * (double)(n - 1), frac;
	size_t lo = (size_t)pos;
	if (lo + 1 >= n)
		return sorted[n - 1];
	frac = pos - (double)lo;
	return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

struct vocab_entry {
	int32_t id;
	size_t count;
	const char *s;
};

static int by_count(const void *a, const void *b)
{
	const struct vocab_entry *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->s, y->s);
}

struct fit_report {
	size_t winsorized;
	json_t *rare;   /* feature -> values mapped to unknown */
	json_t *vocab;  /* feature -> vocabulary size */
};

static enum error_code fit_spec(const struct dataset_config *cfg, const struct table *t,
				const struct roles *roles, const size_t *rows, size_t n,
				struct spec *spec, struct fit_report *rep, struct error *err)
{
	size_t n_num = cfg->n_numeric + cfg->n_log, i, j, k;
	double *vals = util_alloc_array(n ? n : 1, sizeof *vals), sum, sum2;

	if (!vals)
		return error_nomem(err, "feature statistics");
	memset(spec, 0, sizeof *spec);
	spec->numeric = calloc(n_num + 1, sizeof *spec->numeric);
	spec->categorical = calloc(cfg->n_categorical + 1, sizeof *spec->categorical);
	if (!spec->numeric || !spec->categorical)
		goto nomem;
	/* Numeric inputs: every numeric column as it is, then the log ones. */
	for (j = 0; j < n_num; j++) {
		struct spec_numeric *f = &spec->numeric[j];
		bool is_log = j >= cfg->n_numeric;
		const char *name = is_log ? cfg->log[j - cfg->n_numeric] : cfg->numeric[j];
		const double *col = t->cols[table_column(t, name)].num;
		size_t m = 0;

		f->name = strdup(name);
		f->transform = is_log ? SPEC_INPUT_LOG : SPEC_INPUT_IDENTITY;
		spec->n_numeric = j + 1;
		if (!f->name)
			goto nomem;
		for (i = 0; i < n; i++) {
			double x = col[rows[i]];
			if (isnan(x) || (is_log && !(x > 0)))
				continue;
			vals[m++] = is_log ? log(x) : x;
		}
		f->mean = 0;
		f->std = 1;
		f->def = 0;
		if (m == 0)
			continue;
		qsort(vals, m, sizeof *vals, cmp_double);
		f->has_clip = true;
		f->clip_lo = quantile(vals, m, cfg->winsor_lo);
		f->clip_hi = quantile(vals, m, cfg->winsor_hi);
		sum = sum2 = 0;
		for (i = 0; i < m; i++) {
			double v = vals[i] < f->clip_lo ? f->clip_lo : vals[i] > f->clip_hi ? f->clip_hi : vals[i];
			rep->winsorized += vals[i] != v;
			sum += v;
		}
		f->mean = sum / (double)m;
		for (i = 0; i < m; i++) {
			double v = vals[i] < f->clip_lo ? f->clip_lo : vals[i] > f->clip_hi ? f->clip_hi : vals[i];
			sum2 += (v - f->mean) * (v - f->mean);
		}
		f->std = sqrt(sum2 / (double)m);
		if (!(f->std > 1e-12))
			f->std = 1;
		f->def = f->mean; /* a missing value encodes as the average, z = 0 */
	}
	for (j = 0; j < cfg->n_categorical; j++) {
		const struct table_column *c = &t->cols[table_column(t, cfg->categorical[j])];
		struct spec_categorical *f = &spec->categorical[j];
		struct vocab_entry *e = calloc(c->n_strings + 1, sizeof *e);
		size_t kept = 0, rare = 0;

		f->name = strdup(cfg->categorical[j]);
		spec->n_categorical = j + 1;
		if (!e || !f->name) {
			free(e);
			goto nomem;
		}
		for (k = 0; k < c->n_strings; k++) {
			e[k].id = (int32_t)k;
			e[k].s = c->strings[k];
		}
		for (i = 0; i < n; i++)
			if (c->id[rows[i]] >= 0)
				e[c->id[rows[i]]].count++;
		qsort(e, c->n_strings, sizeof *e, by_count);
		f->vocabulary = calloc(c->n_strings + 1, sizeof *f->vocabulary);
		if (!f->vocabulary) {
			free(e);
			goto nomem;
		}
		for (k = 0; k < c->n_strings; k++) {
			if (e[k].count >= cfg->min_count) {
				f->vocabulary[kept] = strdup(e[k].s);
				if (!f->vocabulary[kept]) {
					free(e);
					goto nomem;
				}
				f->n_vocabulary = ++kept;
			} else if (e[k].count > 0) {
				rare++;
			}
		}
		free(e);
		json_object_set_new(rep->rare, f->name, json_integer((json_int_t)rare));
		json_object_set_new(rep->vocab, f->name, json_integer((json_int_t)kept));
	}
	/* The target: transform, then standardize. */
	sum = sum2 = 0;
	for (i = 0; i < n; i++) {
		double y = t->cols[roles->target].num[rows[i]];
		sum += cfg->transform == SPEC_TRANSFORM_LOG1P ? log1p(y) : y;
	}
	spec->target_mean = n ? sum / (double)n : 0;
	for (i = 0; i < n; i++) {
		double y = t->cols[roles->target].num[rows[i]];
		double v = cfg->transform == SPEC_TRANSFORM_LOG1P ? log1p(y) : y;
		sum2 += (v - spec->target_mean) * (v - spec->target_mean);
	}
	spec->target_std = n ? sqrt(sum2 / (double)n) : 1;
	if (!(spec->target_std > 1e-12))
		spec->target_std = 1;
	spec->transform = cfg->transform;
	spec->target_column = strdup(cfg->target_column);
	spec->exposure_column = strdup(cfg->exposure_column);
	spec->promo_column = strdup(cfg->promo_column);
	spec->price_column = strdup(cfg->price_column);
	spec->unit_cost_column = cfg->unit_cost_column ? strdup(cfg->unit_cost_column) : NULL;
	spec->id_column = cfg->id_column ? strdup(cfg->id_column) : NULL;
	if (!spec->target_column || !spec->exposure_column || !spec->promo_column ||
	    !spec->price_column || (cfg->unit_cost_column && !spec->unit_cost_column) ||
	    (cfg->id_column && !spec->id_column))
		goto nomem;
	spec->objective = cfg->objective;
	memcpy(spec->levels, cfg->levels, sizeof cfg->levels);
	spec->n_levels = cfg->n_levels;
	spec->price_index = -1;
	spec->unit_cost_index = -1;
	for (j = 0; j < cfg->n_numeric; j++) { /* the untransformed inputs */
		if (!strcmp(cfg->numeric[j], cfg->price_column))
			spec->price_index = (int)j;
		if (cfg->unit_cost_column && !strcmp(cfg->numeric[j], cfg->unit_cost_column))
			spec->unit_cost_index = (int)j;
	}
	memcpy(spec->hidden, cfg->hidden, sizeof cfg->hidden);
	spec->n_hidden = cfg->n_hidden;
	spec->input_size = spec_expected_input_size(spec);
	free(vals);
	return ERROR_OK;
nomem:
	free(vals);
	spec_done(spec);
	return error_nomem(err, "the model spec");
}

/* ---- the network ------------------------------------------------------------------------- */

struct net {
	size_t L;                        /* layers */
	size_t dims[SPEC_MAX_HIDDEN + 2];
	size_t off_w[SPEC_MAX_HIDDEN + 1], off_b[SPEC_MAX_HIDDEN + 1];
	size_t n_params;
	float *p, *g, *m, *v, *best;     /* (n_params) each */
	float *ema, *avg;                /* (n_params): running weight average, its debiased copy */
	float *act[SPEC_MAX_HIDDEN + 2]; /* act[l]: (B, dims[l]); act[0] is the input batch */
	float *dz, *da;                  /* (B, max width) */
	size_t B;
};

static void net_free(struct net *n)
{
	size_t l;
	free(n->p);
	free(n->g);
	free(n->m);
	free(n->v);
	free(n->best);
	free(n->ema);
	free(n->avg);
	for (l = 0; l <= n->L; l++)
		free(n->act[l]);
	free(n->dz);
	free(n->da);
}

static enum error_code net_init(struct net *n, const struct spec *spec, size_t B, struct rng *r,
				struct error *err)
{
	size_t l, i, maxw = 2, off = 0;

	memset(n, 0, sizeof *n);
	n->L = spec_layer_dims(spec, n->dims) - 1;
	n->B = B;
	for (l = 0; l < n->L; l++) {
		n->off_w[l] = off;
		off += n->dims[l + 1] * n->dims[l];
		n->off_b[l] = off;
		off += n->dims[l + 1];
		if (n->dims[l + 1] > maxw)
			maxw = n->dims[l + 1];
	}
	if (n->dims[0] > maxw)
		maxw = n->dims[0];
	n->n_params = off;
	n->p = util_alloc_array(off, sizeof(float));
	n->g = util_alloc_array(off, sizeof(float));
	n->m = util_alloc_array(off, sizeof(float));
	n->v = util_alloc_array(off, sizeof(float));
	n->best = util_alloc_array(off, sizeof(float));
	n->ema = util_alloc_array(off, sizeof(float));
	n->avg = util_alloc_array(off, sizeof(float));
	n->dz = util_alloc_array(B * maxw, sizeof(float));
	n->da = util_alloc_array(B * maxw, sizeof(float));
	for (l = 0; l <= n->L; l++)
		n->act[l] = util_alloc_array(B * n->dims[l], sizeof(float));
	if (!n->p || !n->g || !n->m || !n->v || !n->best || !n->ema || !n->avg || !n->dz || !n->da)
		goto nomem;
	for (l = 0; l <= n->L; l++)
		if (!n->act[l])
			goto nomem;
	/* PyTorch's nn.Linear default: U(-1/sqrt(in), 1/sqrt(in)) for weights and biases. */
	for (l = 0; l < n->L; l++) {
		double bound = 1.0 / sqrt((double)n->dims[l]);
		size_t cnt = n->dims[l + 1] * n->dims[l] + n->dims[l + 1];
		for (i = 0; i < cnt; i++)
			n->p[n->off_w[l] + i] = (float)((2 * rng_uniform(r) - 1) * bound);
	}
	memcpy(n->best, n->p, off * sizeof(float));
	return ERROR_OK;
nomem:
	net_free(n);
	return error_nomem(err, "the network");
}

/* act[L]: (B, 2) from act[0]: (B, dims[0]). */
static void net_forward(struct net *n, size_t B)
{
	size_t l, r;
	for (l = 0; l < n->L; l++) {
		size_t In = n->dims[l], Out = n->dims[l + 1];
		float *out = n->act[l + 1];
		for (r = 0; r < B; r++)
			memcpy(out + r * Out, n->p + n->off_b[l], Out * sizeof(float));
		/* out: (B, O) += act[l]: (B, I) . W^T, W: (O, I) */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)Out, (int)In, 1.0f,
			    n->act[l], (int)In, n->p + n->off_w[l], (int)In, 1.0f, out, (int)Out);
		if (l + 1 < n->L)
			for (r = 0; r < B * Out; r++)
				out[r] = out[r] > 0 ? out[r] : 0;
	}
}

static double bce(double z, double e)
{
	/* log(1 + exp(z)) - z e, without overflow */
	return (z > 0 ? z : 0) - z * e + log1p(exp(-fabs(z)));
}

static double sigmoid(double z)
{
	return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
}

/* Loss over a forwarded batch; with dz set, also dL/dY into n->dz. */
static double batch_loss(struct net *n, size_t B, const double *tt, const double *ee, double w_exp,
			 bool grad)
{
	const float *y = n->act[n->L];
	double loss = 0;
	size_t r;
	for (r = 0; r < B; r++) {
		double d = (double)y[2 * r] - tt[r], z = y[2 * r + 1];
		loss += d * d + w_exp * bce(z, ee[r]);
		if (grad) {
			/* L = mean(d^2) + w mean(bce): dL/dy0 = 2d/B, dL/dz = w (sigmoid(z) - e)/B */
			n->dz[2 * r] = (float)(2 * d / (double)B);
			n->dz[2 * r + 1] = (float)(w_exp * (sigmoid(z) - ee[r]) / (double)B);
		}
	}
	return loss / (double)B;
}

/* Gradients of every parameter into n->g from n->dz (dL/dY) and the forward activations. */
static void net_backward(struct net *n, size_t B)
{
	size_t l, r, o;
	float *dz = n->dz, *da = n->da;

	for (l = n->L; l-- > 0;) {
		size_t In = n->dims[l], Out = n->dims[l + 1];
		float *gb = n->g + n->off_b[l];
		/* out = act W^T + b  =>  dW: (O, I) = dz^T: (O, B) . act: (B, I) */
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Out, (int)In, (int)B, 1.0f, dz,
			    (int)Out, n->act[l], (int)In, 0.0f, n->g + n->off_w[l], (int)In);
		memset(gb, 0, Out * sizeof *gb);
		for (r = 0; r < B; r++)
			for (o = 0; o < Out; o++)
				gb[o] += dz[r * Out + o];
		if (l == 0)
			break;
		/* d act: (B, I) = dz: (B, O) . W: (O, I); then through the ReLU: act = max(0, pre) */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)In, (int)Out, 1.0f, dz,
			    (int)Out, n->p + n->off_w[l], (int)In, 0.0f, da, (int)In);
		for (r = 0; r < B * In; r++)
			da[r] = n->act[l][r] > 0 ? da[r] : 0;
		{
			float *tmp = dz;
			dz = da;
			da = tmp;
		}
	}
}

static void adam_step(struct net *n, double lr, double wd, int step)
{
	const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
	double c1 = 1 - pow(b1, step), c2 = 1 - pow(b2, step);
	size_t l, i;

	for (l = 0; l < n->L; l++) {
		size_t start = n->off_w[l], nw = n->dims[l + 1] * n->dims[l], end = n->off_b[l] + n->dims[l + 1];
		for (i = start; i < end; i++) {
			double g = n->g[i];
			double m = b1 * n->m[i] + (1 - b1) * g, v = b2 * n->v[i] + (1 - b2) * g * g;
			double upd = (m / c1) / (sqrt(v / c2) + eps);
			n->m[i] = (float)m;
			n->v[i] = (float)v;
			if (wd > 0 && i < start + nw) /* decoupled weight decay (AdamW), weights only */
				upd += wd * n->p[i];
			n->p[i] -= (float)(lr * upd);
		}
	}
}

/*
 * Polyak averaging: an exponential moving average of the weights after every
 * step, zero-initialized and debiased like Adam's moments.  The average is
 * what gets evaluated and kept; it is far less noisy than the last step.
 */
static void ema_update(struct net *n, double decay)
{
	size_t i;
	for (i = 0; i < n->n_params; i++)
		n->ema[i] = (float)(decay * n->ema[i] + (1 - decay) * n->p[i]);
}

/* Swap the live weights for the debiased average (and back: call it twice). */
static void ema_swap(struct net *n, double decay, int step, bool in)
{
	float *tmp;
	size_t i;
	if (in) {
		double c = 1 - pow(decay, step);
		for (i = 0; i < n->n_params; i++)
			n->avg[i] = (float)(n->ema[i] / c);
	}
	tmp = n->p;
	n->p = n->avg;
	n->avg = tmp;
}

static void gather(struct net *n, const float *X, size_t d, const size_t *rows, size_t B,
		   const double *tt_all, const double *ee_all, double *tt, double *ee)
{
	size_t r;
	for (r = 0; r < B; r++) {
		memcpy(n->act[0] + r * d, X + rows[r] * d, d * sizeof(float));
		tt[r] = tt_all[rows[r]];
		ee[r] = ee_all[rows[r]];
	}
}

/* One epoch of minibatch Adam over rows (shuffled in place); returns the mean batch loss. */
static double run_epoch(struct net *net, const struct dataset_config *cfg, const float *X, size_t d,
			size_t *rows, size_t n_rows, const double *tt, const double *ee, double *btt,
			double *bee, struct rng *rng, int *step)
{
	double loss = 0;
	size_t i, nb = 0;

	shuffle(rows, n_rows, rng);
	for (i = 0; i < n_rows; i += cfg->batch_size) {
		size_t B = n_rows - i < cfg->batch_size ? n_rows - i : cfg->batch_size;
		gather(net, X, d, rows + i, B, tt, ee, btt, bee);
		net_forward(net, B);
		loss += batch_loss(net, B, btt, bee, cfg->exposure_weight, true);
		net_backward(net, B);
		adam_step(net, cfg->learning_rate, cfg->weight_decay, ++*step);
		if (cfg->ema > 0)
			ema_update(net, cfg->ema);
		nb++;
	}
	return nb ? loss / (double)nb : 0;
}

static double eval_loss(struct net *n, const float *X, size_t d, const size_t *rows, size_t cnt,
			const double *tt_all, const double *ee_all, double w_exp, double *tt, double *ee)
{
	double total = 0;
	size_t i;
	for (i = 0; i < cnt; i += n->B) {
		size_t B = cnt - i < n->B ? cnt - i : n->B;
		gather(n, X, d, rows + i, B, tt_all, ee_all, tt, ee);
		net_forward(n, B);
		total += batch_loss(n, B, tt, ee, w_exp, false) * (double)B;
	}
	return cnt ? total / (double)cnt : 0;
}

/* ---- splitting ------------------------------------------------------------------------- */

struct keyed {
	double key;
	size_t row;
};

static int by_key(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->row < y->row ? -1 : x->row > y->row;
}

struct split {
	size_t *train, *valid, *test, *all_train; /* all_train = train + valid */
	size_t n_train, n_valid, n_test, n_all_train;
};

static void split_free(struct split *s)
{
	free(s->train);
	free(s->valid);
	free(s->test);
	free(s->all_train);
	memset(s, 0, sizeof *s);
}

static enum error_code make_split(const struct dataset_config *cfg, const struct table *t,
				  const struct roles *roles, struct split *s, struct error *err)
{
	size_t n = t->n_rows, i, n_valid;
	int split_col = roles->split;
	struct keyed *k = calloc(n + 1, sizeof *k);
	struct rng r = {cfg->split_seed ^ 0x5eed5eedULL};

	memset(s, 0, sizeof *s);
	s->train = calloc(n + 1, sizeof *s->train);
	s->valid = calloc(n + 1, sizeof *s->valid);
	s->test = calloc(n + 1, sizeof *s->test);
	s->all_train = calloc(n + 1, sizeof *s->all_train);
	if (!k || !s->train || !s->valid || !s->test || !s->all_train) {
		free(k);
		split_free(s);
		return error_nomem(err, "the split");
	}
	if (cfg->split_by_column) {
		for (i = 0; i < n; i++) {
			double v = t->cols[split_col].num[i];
			if (v >= cfg->test_from)
				s->test[s->n_test++] = i;
			else
				s->all_train[s->n_all_train++] = i;
		}
	} else {
		/* s->train is free until the validation carve-out: use it for the permutation. */
		size_t *perm = s->train, n_test;
		for (i = 0; i < n; i++)
			perm[i] = i;
		shuffle(perm, n, &r);
		n_test = (size_t)ceil(cfg->test_fraction * (double)n);
		for (i = 0; i < n; i++) {
			if (i < n_test)
				s->test[s->n_test++] = perm[i];
			else
				s->all_train[s->n_all_train++] = perm[i];
		}
		/* Keep row order stable inside each part. */
		for (i = 0; i < s->n_test; i++)
			k[i] = (struct keyed){(double)s->test[i], s->test[i]};
		qsort(k, s->n_test, sizeof *k, by_key);
		for (i = 0; i < s->n_test; i++)
			s->test[i] = k[i].row;
		for (i = 0; i < s->n_all_train; i++)
			k[i] = (struct keyed){(double)s->all_train[i], s->all_train[i]};
		qsort(k, s->n_all_train, sizeof *k, by_key);
		for (i = 0; i < s->n_all_train; i++)
			s->all_train[i] = k[i].row;
	}
	if (s->n_test == 0) {
		free(k);
		split_free(s);
		if (cfg->split_by_column)
			return error_set(err, ERROR_INVALID, "split.test_from",
					 "split: no row has %s >= %g, so the test part is empty",
					 cfg->split_column, cfg->test_from);
		return error_set(err, ERROR_INVALID, "split.fraction", "split: the test part is empty");
	}
	if (s->n_all_train < 2) {
		free(k);
		split_free(s);
		return error_set(err, ERROR_INVALID, "split",
				 "split: the training part has %zu rows; it needs at least 2",
				 s->n_all_train);
	}
	/* Validation: the latest share of the training part by the split column, else a random share. */
	n_valid = (size_t)ceil(cfg->validation_fraction * (double)s->n_all_train);
	if (n_valid >= s->n_all_train)
		n_valid = s->n_all_train - 1;
	if (!cfg->validation_random) {
		for (i = 0; i < s->n_all_train; i++)
			k[i] = (struct keyed){t->cols[split_col].num[s->all_train[i]], s->all_train[i]};
	} else {
		for (i = 0; i < s->n_all_train; i++)
			k[i] = (struct keyed){rng_uniform(&r), s->all_train[i]};
	}
	qsort(k, s->n_all_train, sizeof *k, by_key);
	for (i = 0; i < s->n_all_train; i++) {
		if (i >= s->n_all_train - n_valid)
			s->valid[s->n_valid++] = k[i].row;
		else
			s->train[s->n_train++] = k[i].row;
	}
	free(k);
	return ERROR_OK;
}

/* ---- the run ---------------------------------------------------------------------------- */

void train_result_done(struct train_result *res)
{
	if (!res)
		return;
	spec_done(&res->spec);
	free(res->weights);
	json_decref(res->metrics);
	json_decref(res->training);
	free(res->test_rows);
	free(res->test_t);
	memset(res, 0, sizeof *res);
}

static enum error_code check_rows(const struct dataset_config *cfg, const struct table *t,
				  struct error *err)
{
	const struct table_stats *s = &t->stats;
	if (s->rows_read == 0)
		return error_set(err, ERROR_INVALID, NULL, "the data has a header but no rows");
	if (s->target_missing + s->target_negative + s->target_nonfinite + s->duplicates ==
	    s->rows_read)
		return error_set(err, ERROR_INVALID, cfg->target_column,
				 "target column \"%s\" has no usable rows (%zu missing, %zu negative, "
				 "%zu not finite, %zu duplicates)",
				 cfg->target_column, s->target_missing, s->target_negative,
				 s->target_nonfinite, s->duplicates);
	if (t->n_rows == 0)
		return error_set(err, ERROR_INVALID, NULL,
				 "no rows are left after cleaning (%zu read: %zu duplicates, %zu without a "
				 "usable target, %zu missing the exposure, level or split value)",
				 s->rows_read, s->duplicates,
				 s->target_missing + s->target_negative + s->target_nonfinite,
				 s->missing_required);
	return ERROR_OK;
}

static void predict_rows(struct net *n, const float *X, size_t d, const size_t *rows, size_t cnt,
			 double *y0, double *y1)
{
	size_t i, r;
	for (i = 0; i < cnt; i += n->B) {
		size_t B = cnt - i < n->B ? cnt - i : n->B;
		for (r = 0; r < B; r++)
			memcpy(n->act[0] + r * d, X + rows[i + r] * d, d * sizeof(float));
		net_forward(n, B);
		for (r = 0; r < B; r++) {
			y0[i + r] = n->act[n->L][2 * r];
			y1[i + r] = n->act[n->L][2 * r + 1];
		}
	}
}

enum error_code train_run(const struct dataset_config *cfg, const struct table *t,
			  train_progress_fn progress, void *ctx, struct train_result *res,
			  struct error *err)
{
	size_t n_feat = 0, d = 0, N = t->n_rows, i, j;
	struct roles roles;
	struct fit_report rep = {0, json_object(), json_object()};
	struct encoder_value *vals = NULL;
	struct encoder *enc = NULL;
	struct split sp = {0};
	struct net net = {0};
	struct rng rng = {cfg->seed};
	float *X = NULL;
	double *tt = NULL, *ee = NULL, *btt = NULL, *bee = NULL, *y0 = NULL, *y1 = NULL,
	       *w_lin = NULL, *w_log = NULL, *pred_t = NULL, *pred_p = NULL, best = INFINITY;
	int *colmap = NULL, epoch, best_epoch = 0, bad = 0, step = 0, epochs_run = 0;
	double t0 = util_now_s();
	struct sales_metrics sm, lm;
	struct exposure_metrics em, gm;
	enum error_code rc;

	memset(res, 0, sizeof *res);
	find_roles(cfg, t, &roles);
	if (!rep.rare || !rep.vocab) {
		rc = error_nomem(err, "the training report");
		goto out;
	}
	rc = check_rows(cfg, t, err);
	if (!rc)
		rc = make_split(cfg, t, &roles, &sp, err);
	if (!rc)
		rc = fit_spec(cfg, t, &roles, sp.all_train, sp.n_all_train, &res->spec, &rep, err);
	if (!rc)
		rc = trainmem_check(&res->spec, N, cfg->batch_size > EVAL_BATCH ? cfg->batch_size : EVAL_BATCH,
				    err);
	if (rc)
		goto out;
	enc = encoder_new(&res->spec, err);
	if (!enc) {
		rc = err->code;
		goto out;
	}
	d = encoder_width(enc);
	n_feat = encoder_n_inputs(enc);
	colmap = table_encoder_map(t, &res->spec);
	vals = calloc(n_feat + 1, sizeof *vals);
	X = util_alloc_array(N * d, sizeof *X);
	tt = util_alloc_array(N, sizeof *tt);
	ee = util_alloc_array(N, sizeof *ee);
	/* Batch targets: training batches and the (larger) evaluation batches share them. */
	btt = util_alloc_array(cfg->batch_size > EVAL_BATCH ? cfg->batch_size : EVAL_BATCH, sizeof *btt);
	bee = util_alloc_array(cfg->batch_size > EVAL_BATCH ? cfg->batch_size : EVAL_BATCH, sizeof *bee);
	if (!colmap || !vals || !X || !tt || !ee || !btt || !bee) {
		rc = error_nomem(err, "the encoded data");
		goto out;
	}
	/* Every row through the serving encoder. */
	for (i = 0; i < N; i++) {
		double y = t->cols[roles.target].num[i];
		table_encoder_values(t, colmap, n_feat, i, vals);
		rc = encoder_encode(enc, vals, t->cols[roles.level].id[i], X + i * d, NULL, NULL, NULL, err);
		if (rc) {
			error_prefix(err, "row %zu", i + 1);
			goto out;
		}
		y = cfg->transform == SPEC_TRANSFORM_LOG1P ? log1p(y) : y;
		tt[i] = (y - res->spec.target_mean) / res->spec.target_std;
		ee[i] = t->cols[roles.exposure].num[i];
	}

	rc = net_init(&net, &res->spec, cfg->batch_size > EVAL_BATCH ? cfg->batch_size : EVAL_BATCH,
		      &rng, err);
	if (rc)
		goto out;
	for (epoch = 1; epoch <= cfg->epochs; epoch++) {
		double loss, valid, te = util_now_s();
		struct train_epoch ep;

		loss = run_epoch(&net, cfg, X, d, sp.train, sp.n_train, tt, ee, btt, bee, &rng, &step);
		if (cfg->ema > 0 && step > 0)
			ema_swap(&net, cfg->ema, step, true);
		valid = eval_loss(&net, X, d, sp.valid, sp.n_valid, tt, ee, cfg->exposure_weight, btt, bee);
		epochs_run = epoch;
		ep.epoch = epoch;
		ep.epochs = cfg->epochs;
		ep.train_loss = loss;
		ep.valid_loss = valid;
		ep.seconds = util_now_s() - te;
		ep.improved = valid < best - 1e-9;
		if (!isfinite(valid) || !isfinite(ep.train_loss)) {
			rc = error_set(err, ERROR_INVALID, "model.learning_rate",
				       "training diverged at epoch %d (loss is not finite): lower "
				       "model.learning_rate",
				       epoch);
			goto out;
		}
		if (ep.improved) {
			best = valid;
			best_epoch = epoch;
			bad = 0;
			memcpy(net.best, net.p, net.n_params * sizeof(float));
		} else {
			bad++;
		}
		if (cfg->ema > 0 && step > 0)
			ema_swap(&net, cfg->ema, step, false);
		ep.eta_seconds = (util_now_s() - t0) / epoch * (cfg->epochs - epoch);
		if (progress)
			progress(ctx, &ep);
		if (bad >= cfg->patience)
			break;
	}
	if (cfg->refit) {
		/*
		 * Early stopping found how many epochs generalize; train again from the same
		 * start on the whole training part, validation slice included, for that many.
		 * On a time split this lets the final model see the latest weeks.
		 */
		struct rng rr = {cfg->seed};
		net_free(&net);
		rc = net_init(&net, &res->spec, cfg->batch_size > EVAL_BATCH ? cfg->batch_size : EVAL_BATCH,
			      &rr, err);
		if (rc)
			goto out;
		step = 0;
		memcpy(sp.train, sp.all_train, sp.n_all_train * sizeof *sp.train);
		for (epoch = 1; epoch <= best_epoch; epoch++) {
			struct train_epoch ep = {epoch, best_epoch, 0, NAN, 0, 0, false};
			double te = util_now_s();
			ep.train_loss = run_epoch(&net, cfg, X, d, sp.train, sp.n_all_train, tt, ee, btt, bee,
						  &rr, &step);
			ep.seconds = util_now_s() - te;
			if (!isfinite(ep.train_loss)) {
				rc = error_set(err, ERROR_INVALID, "model.learning_rate",
					       "refit diverged at epoch %d: lower model.learning_rate", epoch);
				goto out;
			}
			if (progress)
				progress(ctx, &ep);
		}
		if (cfg->ema > 0 && step > 0)
			ema_swap(&net, cfg->ema, step, true);
		memcpy(net.best, net.p, net.n_params * sizeof(float));
	}
	memcpy(net.p, net.best, net.n_params * sizeof(float));

	/* Test part: the MLP, then the baselines on the same rows. */
	res->n_test = sp.n_test;
	res->test_rows = util_alloc_array(sp.n_test, sizeof *res->test_rows);
	res->test_t = util_alloc_array(sp.n_test, sizeof *res->test_t);
	y0 = util_alloc_array(sp.n_test, sizeof *y0);
	y1 = util_alloc_array(sp.n_test, sizeof *y1);
	pred_t = util_alloc_array(sp.n_test, sizeof *pred_t);
	pred_p = util_alloc_array(sp.n_test, sizeof *pred_p);
	w_lin = util_alloc_array(d + 1, sizeof *w_lin);
	w_log = util_alloc_array(d + 1, sizeof *w_log);
	if (!res->test_rows || !res->test_t || !y0 || !y1 || !pred_t || !pred_p || !w_lin || !w_log) {
		rc = error_nomem(err, "the evaluation");
		goto out;
	}
	memcpy(res->test_rows, sp.test, sp.n_test * sizeof *sp.test);
	predict_rows(&net, X, d, sp.test, sp.n_test, y0, y1);
	for (i = 0; i < sp.n_test; i++) {
		res->test_t[i] = tt[sp.test[i]] * res->spec.target_std + res->spec.target_mean;
		pred_t[i] = y0[i] * res->spec.target_std + res->spec.target_mean;
		pred_p[i] = sigmoid(y1[i]);
		y1[i] = ee[sp.test[i]];
	}
	evaluate_sales(cfg->transform, res->test_t, pred_t, sp.n_test, &sm);
	rc = evaluate_exposure(y1, pred_p, sp.n_test, &em, err);
	if (!rc)
		rc = baseline_linear_fit(X, d, sp.all_train, sp.n_all_train, tt, RIDGE, w_lin, err);
	if (!rc)
		rc = baseline_logistic_fit(X, d, sp.all_train, sp.n_all_train, ee, RIDGE, w_log, err);
	if (rc)
		goto out;
	for (i = 0; i < sp.n_test; i++) {
		const float *x = X + sp.test[i] * d;
		pred_t[i] = baseline_predict(w_lin, x, d) * res->spec.target_std + res->spec.target_mean;
		pred_p[i] = sigmoid(baseline_predict(w_log, x, d));
	}
	evaluate_sales(cfg->transform, res->test_t, pred_t, sp.n_test, &lm);
	rc = evaluate_exposure(y1, pred_p, sp.n_test, &gm, err);
	if (rc)
		goto out;

	/* The result: weights as tensors in layer order. */
	res->weights = util_alloc_array(net.n_params, sizeof(float));
	if (!res->weights) {
		rc = error_nomem(err, "the weights");
		goto out;
	}
	memcpy(res->weights, net.p, net.n_params * sizeof(float));
	res->n_tensors = 2 * net.L;
	for (j = 0; j < net.L; j++) {
		struct tensor *w = &res->tensors[2 * j], *b = &res->tensors[2 * j + 1];
		memset(w, 0, sizeof *w);
		memset(b, 0, sizeof *b);
		snprintf(w->name, sizeof w->name, "dense.%zu.weight", j);
		snprintf(b->name, sizeof b->name, "dense.%zu.bias", j);
		memcpy(w->dtype, "F32", 4);
		memcpy(b->dtype, "F32", 4);
		w->ndim = 2;
		w->shape[0] = net.dims[j + 1];
		w->shape[1] = net.dims[j];
		w->data = res->weights + net.off_w[j];
		w->nbytes = net.dims[j + 1] * net.dims[j] * sizeof(float);
		b->ndim = 1;
		b->shape[0] = net.dims[j + 1];
		b->data = res->weights + net.off_b[j];
		b->nbytes = net.dims[j + 1] * sizeof(float);
	}
	model_checksum_tensors(res->tensors, res->n_tensors, res->checksum);
	res->metrics = json_pack(
		"{s:o, s:o, s:{s:o, s:o}, s:I}", "sales", evaluate_sales_json(&sm), "exposure",
		evaluate_exposure_json(&em), "baselines", "linear", evaluate_sales_json(&lm), "logistic",
		evaluate_exposure_json(&gm), "test_rows", (json_int_t)sp.n_test);
	res->training = json_pack(
		"{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:I, s:[f, f], s:O, s:O,"
		" s:I, s:i, s:i, s:f, s:s, s:s, s:s, s:{s:[], s:I, s:f, s:i, s:f, s:f, s:f}}",
		"rows", "read", (json_int_t)t->stats.rows_read, "duplicates_dropped",
		(json_int_t)t->stats.duplicates, "target_missing_dropped",
		(json_int_t)t->stats.target_missing, "target_negative_dropped",
		(json_int_t)t->stats.target_negative, "target_nonfinite_dropped",
		(json_int_t)t->stats.target_nonfinite, "label_level_or_split_missing_dropped",
		(json_int_t)t->stats.missing_required, "nonfinite_feature_values",
		(json_int_t)t->stats.nonfinite_values, "used", (json_int_t)N, "train",
		(json_int_t)sp.n_train, "validation", (json_int_t)sp.n_valid, "test",
		(json_int_t)sp.n_test, "winsorized_values", (json_int_t)rep.winsorized, "winsorize",
		cfg->winsor_lo, cfg->winsor_hi, "rare_categories_to_unknown", rep.rare,
		"vocabulary_sizes", rep.vocab, "seed", (json_int_t)cfg->seed, "epochs_run", epochs_run,
		"best_epoch", best_epoch, "duration_seconds", util_now_s() - t0, "data_checksum",
		t->checksum, "shelfcast_version", SHELFCAST_VERSION, "dataset", cfg->name, "model",
		"hidden", "batch_size", (json_int_t)cfg->batch_size, "learning_rate",
		cfg->learning_rate, "patience", cfg->patience, "weight_decay", cfg->weight_decay,
		"exposure_weight", cfg->exposure_weight, "validation_fraction",
		cfg->validation_fraction);
	if (res->training) {
		json_t *mj = json_object_get(res->training, "model");
		json_object_set_new(mj, "ema", json_real(cfg->ema));
		json_object_set_new(mj, "validation", json_string(cfg->validation_random ? "random" : "latest"));
		json_object_set_new(mj, "log_inputs", json_integer((json_int_t)cfg->n_log));
		json_object_set_new(mj, "refit", json_boolean(cfg->refit));
	}
	if (!res->metrics || !res->training) {
		rc = error_nomem(err, "the metrics");
		goto out;
	}
	{
		json_t *hidden = json_object_get(json_object_get(res->training, "model"), "hidden");
		for (j = 0; j < cfg->n_hidden; j++)
			json_array_append_new(hidden, json_integer((json_int_t)cfg->hidden[j]));
	}
out:
	json_decref(rep.rare);
	json_decref(rep.vocab);
	encoder_free(enc);
	net_free(&net);
	split_free(&sp);
	free(colmap);
	free(vals);
	free(X);
	free(tt);
	free(ee);
	free(btt);
	free(bee);
	free(y0);
	free(y1);
	free(pred_t);
	free(pred_p);
	free(w_lin);
	free(w_log);
	if (rc)
		train_result_done(res);
	return rc;
}

enum error_code train_compare(const struct train_result *res, const struct dataset_config *cfg,
			      const struct table *t, const struct model *other, double *r2_log,
			      struct error *err)
{
	size_t n = res->n_test, n_in = encoder_n_inputs(other->enc), chunk = 1024, i, j;
	int level_col = table_column(t, cfg->promo_column);
	struct encoder_value *vals = calloc(n_in + 1, sizeof *vals);
	int *colmap = table_encoder_map(t, &other->spec);
	double *pred = util_alloc_array(n ? n : 1, sizeof *pred);
	float *X = util_alloc_array(chunk * other->spec.input_size, sizeof *X);
	float *Y = util_alloc_array(chunk * 2, sizeof *Y);
	float *scratch = util_alloc_array(mlp_scratch_floats(&other->mlp, chunk), sizeof *scratch);
	struct sales_metrics m;
	enum error_code rc = ERROR_OK;

	if (!vals || !colmap || !pred || !X || !Y || !scratch) {
		rc = error_nomem(err, "the comparison");
		goto out;
	}
	for (i = 0; i < n && !rc; i += chunk) {
		size_t B = n - i < chunk ? n - i : chunk;
		for (j = 0; j < B && !rc; j++) {
			size_t r = res->test_rows[i + j];
			int level = -1;
			/* the level of this row, as the other model numbers it */
			int32_t idx = t->cols[level_col].id[r];
			if (idx >= 0)
				level = spec_level_index(&other->spec, cfg->levels[idx].level);
			table_encoder_values(t, colmap, n_in, r, vals);
			rc = encoder_encode(other->enc, vals, level < 0 ? 0 : level,
					    X + j * other->spec.input_size, NULL, NULL, NULL, err);
		}
		if (rc)
			break;
		mlp_forward(&other->mlp, X, B, scratch, Y);
		for (j = 0; j < B; j++) {
			double units = promo_sales_head(&other->spec, Y[2 * j]);
			/* onto this run's transformed scale */
			pred[i + j] = cfg->transform == SPEC_TRANSFORM_LOG1P ? log1p(units) : units;
		}
	}
	if (!rc) {
		evaluate_sales(cfg->transform, res->test_t, pred, n, &m);
		*r2_log = m.r2_log;
	}
out:
	free(vals);
	free(colmap);
	free(pred);
	free(X);
	free(Y);
	free(scratch);
	return rc;
}

double train_gradient_check(size_t inputs, const size_t *hidden, size_t n_hidden, size_t batch,
			    double exposure_weight, uint64_t seed)
{
	struct spec spec;
	struct net net;
	struct rng r = {seed};
	struct error err;
	double *tt = calloc(batch, sizeof *tt), *ee = calloc(batch, sizeof *ee), worst = 0, gmax = 0;
	float *grad = NULL;
	size_t i;

	memset(&spec, 0, sizeof spec);
	spec.input_size = inputs;
	memcpy(spec.hidden, hidden, n_hidden * sizeof *hidden);
	spec.n_hidden = n_hidden;
	error_init(&err);
	if (!tt || !ee || net_init(&net, &spec, batch, &r, &err) != ERROR_OK) {
		free(tt);
		free(ee);
		return INFINITY;
	}
	grad = calloc(net.n_params, sizeof *grad);
	for (i = 0; i < batch * inputs; i++)
		net.act[0][i] = (float)(2 * rng_uniform(&r) - 1);
	for (i = 0; i < batch; i++) {
		tt[i] = 2 * rng_uniform(&r) - 1;
		ee[i] = rng_uniform(&r) < 0.5;
	}
	net_forward(&net, batch);
	batch_loss(&net, batch, tt, ee, exposure_weight, true);
	net_backward(&net, batch);
	memcpy(grad, net.g, net.n_params * sizeof *grad);
	for (i = 0; i < net.n_params; i++)
		gmax = fmax(gmax, fabs(grad[i]));
	for (i = 0; i < net.n_params; i++) {
		const float h = 2e-3f;
		float keep = net.p[i];
		double up, down, numeric;
		net.p[i] = keep + h;
		net_forward(&net, batch);
		up = batch_loss(&net, batch, tt, ee, exposure_weight, false);
		net.p[i] = keep - h;
		net_forward(&net, batch);
		down = batch_loss(&net, batch, tt, ee, exposure_weight, false);
		net.p[i] = keep;
		numeric = (up - down) / (2.0 * h);
		worst = fmax(worst, fabs(numeric - grad[i]));
	}
	free(grad);
	free(tt);
	free(ee);
	net_free(&net);
	return gmax > 0 ? worst / gmax : worst;
}

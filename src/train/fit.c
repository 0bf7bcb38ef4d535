/* fit — see include/shelfcast/fit.h. */
#include "shelfcast/fit.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/drift.h"
#include "shelfcast/heads.h"
#include "shelfcast/util.h"

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

static double clip(const struct spec_numeric *f, double v)
{
	return v < f->clip_lo ? f->clip_lo : v > f->clip_hi ? f->clip_hi : v;
}

/*
 * One numeric input's statistics from its column over rows[0..n); vals: (n)
 * scratch.  A log input skips values that are not positive; an input with
 * no usable value encodes as 0 with mean 0 and std 1.
 */
static void fit_numeric(struct spec_numeric *f, const double *col, const size_t *rows, size_t n,
			double winsor_lo, double winsor_hi, double *vals, size_t *winsorized)
{
	bool is_log = f->transform == SPEC_INPUT_LOG;
	double sum = 0, sum2 = 0;
	size_t i, m = 0;

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
		return;
	qsort(vals, m, sizeof *vals, cmp_double);
	f->has_clip = true;
	f->clip_lo = quantile(vals, m, winsor_lo);
	f->clip_hi = quantile(vals, m, winsor_hi);
	for (i = 0; i < m; i++) {
		double v = clip(f, vals[i]);
		*winsorized += vals[i] != v;
		sum += v;
	}
	f->mean = sum / (double)m;
	for (i = 0; i < m; i++) {
		double v = clip(f, vals[i]);
		sum2 += (v - f->mean) * (v - f->mean);
	}
	f->std = sqrt(sum2 / (double)m);
	if (!(f->std > 1e-12))
		f->std = 1;
	f->def = f->mean; /* a missing value encodes as the average, z = 0 */
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

enum error_code fit_vocabulary(struct spec_categorical *f, char *const *strings, const size_t *counts,
			       size_t n, size_t min_count, size_t *rare, struct error *err)
{
	struct vocab_entry *e = calloc(n + 1, sizeof *e);
	size_t k, kept = 0;

	*rare = 0;
	f->vocabulary = calloc(n + 1, sizeof *f->vocabulary);
	if (!e || !f->vocabulary)
		goto nomem;
	for (k = 0; k < n; k++) {
		e[k].id = (int32_t)k;
		e[k].s = strings[k];
		e[k].count = counts[k];
	}
	qsort(e, n, sizeof *e, by_count);
	for (k = 0; k < n; k++) {
		if (e[k].count >= min_count) {
			f->vocabulary[kept] = strdup(e[k].s);
			if (!f->vocabulary[kept])
				goto nomem;
			f->n_vocabulary = ++kept;
		} else if (e[k].count > 0) {
			++*rare;
		}
	}
	free(e);
	return ERROR_OK;
nomem:
	free(e);
	return error_nomem(err, "the model spec");
}

/* One categorical input's vocabulary from column c over rows[0..n); rare: values left out. */
static enum error_code fit_categorical(struct spec_categorical *f, const struct table_column *c,
				       const size_t *rows, size_t n, size_t min_count, size_t *rare,
				       struct error *err)
{
	size_t *counts = calloc(c->n_strings + 1, sizeof *counts), i;
	enum error_code rc;

	if (!counts)
		return error_nomem(err, "the model spec");
	for (i = 0; i < n; i++)
		if (c->id[rows[i]] >= 0)
			counts[c->id[rows[i]]]++;
	rc = fit_vocabulary(f, c->strings, counts, c->n_strings, min_count, rare, err);
	free(counts);
	return rc;
}

/* The transformed target's mean and std over rows[0..n) (std 1 when constant). */
static void fit_target(struct spec *spec, enum spec_transform transform, const double *col,
		       const size_t *rows, size_t n)
{
	double sum = 0, sum2 = 0;
	size_t i;

	for (i = 0; i < n; i++)
		sum += heads_transform(transform, col[rows[i]]);
	spec->target_mean = n ? sum / (double)n : 0;
	for (i = 0; i < n; i++) {
		double v = heads_transform(transform, col[rows[i]]);
		sum2 += (v - spec->target_mean) * (v - spec->target_mean);
	}
	spec->target_std = n ? sqrt(sum2 / (double)n) : 1;
	if (!(spec->target_std > 1e-12))
		spec->target_std = 1;
	spec->transform = transform;
}

static bool copy_name(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return !src || *dst;
}

/* What the spec takes from the config as it is: columns, levels, objective, layers. */
static bool copy_config(struct spec *spec, const struct dataset_config *cfg)
{
	size_t j;

	if (!copy_name(&spec->target_column, cfg->target_column) ||
	    !copy_name(&spec->exposure_column, cfg->exposure_column) ||
	    !copy_name(&spec->promo_column, cfg->promo_column) ||
	    !copy_name(&spec->price_column, cfg->price_column) ||
	    !copy_name(&spec->unit_cost_column, cfg->unit_cost_column) ||
	    !copy_name(&spec->id_column, cfg->id_column))
		return false;
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
	return true;
}

enum error_code fit_spec(const struct dataset_config *cfg, const struct table *t, int target_col,
			 const size_t *rows, size_t n, struct spec *spec, struct fit_report *rep,
			 struct error *err)
{
	size_t n_num = cfg->n_numeric + cfg->n_log, j, rare;
	double *vals = util_alloc_array(n, sizeof *vals);
	enum error_code rc = ERROR_OK;

	memset(spec, 0, sizeof *spec);
	memset(rep, 0, sizeof *rep);
	rep->rare = json_object();
	rep->vocab = json_object();
	spec->numeric = calloc(n_num + 1, sizeof *spec->numeric);
	spec->categorical = calloc(cfg->n_categorical + 1, sizeof *spec->categorical);
	if (!vals || !rep->rare || !rep->vocab || !spec->numeric || !spec->categorical)
		goto nomem;
	for (j = 0; j < n_num; j++) {
		struct spec_numeric *f = &spec->numeric[j];
		bool is_log = j >= cfg->n_numeric;
		const char *name = is_log ? cfg->log[j - cfg->n_numeric] : cfg->numeric[j];

		f->name = strdup(name);
		f->transform = is_log ? SPEC_INPUT_LOG : SPEC_INPUT_IDENTITY;
		f->required = dataset_is_required(cfg, name);
		spec->n_numeric = j + 1;
		if (!f->name)
			goto nomem;
		fit_numeric(f, t->cols[table_column(t, name)].num, rows, n, cfg->winsor_lo,
			    cfg->winsor_hi, vals, &rep->winsorized);
	}
	for (j = 0; j < cfg->n_categorical; j++) {
		struct spec_categorical *f = &spec->categorical[j];

		f->name = strdup(cfg->categorical[j]);
		f->required = dataset_is_required(cfg, cfg->categorical[j]);
		spec->n_categorical = j + 1;
		if (!f->name)
			goto nomem;
		rc = fit_categorical(f, &t->cols[table_column(t, f->name)], rows, n, cfg->min_count,
				     &rare, err);
		if (rc)
			goto fail;
		if (json_object_set_new(rep->rare, f->name, json_integer((json_int_t)rare)) ||
		    json_object_set_new(rep->vocab, f->name, json_integer((json_int_t)f->n_vocabulary)))
			goto nomem;
	}
	fit_target(spec, cfg->transform, t->cols[target_col].num, rows, n);
	if (!copy_config(spec, cfg))
		goto nomem;
	spec->input_size = spec_expected_input_size(spec);
	free(vals);
	return ERROR_OK;
nomem:
	rc = error_nomem(err, "the model spec");
fail:
	free(vals);
	spec_done(spec);
	return rc;
}

/* One numeric feature's reference from its column over rows[0..n); vals: (n) scratch. */
static void drift_numeric(struct spec_drift_numeric *d, const double *col, const size_t *rows,
			  size_t n, double *vals)
{
	size_t i, k, m = 0;

	for (i = 0; i < n; i++)
		if (!isnan(col[rows[i]]))
			vals[m++] = col[rows[i]];
	d->missing = n ? (double)(n - m) / (double)n : 0;
	memset(d->freq, 0, sizeof d->freq);
	memset(d->edges, 0, sizeof d->edges);
	if (!m)
		return;
	qsort(vals, m, sizeof *vals, cmp_double);
	for (k = 0; k < SPEC_DRIFT_BINS - 1; k++)
		d->edges[k] = quantile(vals, m, (double)(k + 1) / SPEC_DRIFT_BINS);
	for (i = 0; i < m; i++) /* ties among the values can leave a bin empty: PSI floors it */
		d->freq[drift_bin(d->edges, vals[i])] += 1;
	for (k = 0; k < SPEC_DRIFT_BINS; k++)
		d->freq[k] /= (double)m;
}

/* One categorical input's reference: each slot's share as enc encodes the column's strings. */
static enum error_code drift_categorical(struct spec_drift_categorical *d, const struct encoder *enc,
					 size_t i, size_t n_slots, const struct table_column *c,
					 const size_t *rows, size_t n, struct error *err)
{
	int32_t *slot_of = calloc(c->n_strings + 1, sizeof *slot_of);
	size_t r, k, m = 0;

	d->freq = calloc(n_slots, sizeof *d->freq);
	if (!slot_of || !d->freq) {
		free(slot_of);
		return error_nomem(err, "the drift reference");
	}
	for (k = 0; k < c->n_strings; k++) {
		struct encoder_value v = {.kind = ENCODER_VALUE_STRING, .str = c->strings[k],
					  .len = strlen(c->strings[k])};
		slot_of[k] = encoder_categorical_slot(enc, i, &v);
	}
	for (r = 0; r < n; r++) {
		int32_t id = c->id[rows[r]];
		if (id < 0)
			continue;
		d->freq[slot_of[id]] += 1;
		m++;
	}
	for (k = 0; m && k < n_slots; k++)
		d->freq[k] /= (double)m;
	d->missing = n ? (double)(n - m) / (double)n : 0;
	free(slot_of);
	return ERROR_OK;
}

enum error_code fit_drift_reference(struct spec *spec, const struct encoder *enc,
				    const struct table *t, const size_t *rows, size_t n,
				    struct error *err)
{
	size_t n_features = spec_numeric_features(spec), i, j, k = 0;
	double *vals = util_alloc_array(n ? n : 1, sizeof *vals);
	enum error_code rc = ERROR_OK;

	spec_drift_done(spec);
	spec->drift_numeric = calloc(n_features + 1, sizeof *spec->drift_numeric);
	spec->drift_categorical = calloc(spec->n_categorical + 1, sizeof *spec->drift_categorical);
	if (!vals || !spec->drift_numeric || !spec->drift_categorical) {
		rc = error_nomem(err, "the drift reference");
		goto out;
	}
	for (i = 0; i < spec->n_numeric; i++) {
		for (j = 0; j < i && strcmp(spec->numeric[j].name, spec->numeric[i].name); j++)
			;
		if (j < i) /* a later input of a feature already measured (its log) */
			continue;
		spec->drift_numeric[k].input = (int)i;
		drift_numeric(&spec->drift_numeric[k], t->cols[table_column(t, spec->numeric[i].name)].num,
			      rows, n, vals);
		spec->n_drift_numeric = ++k;
	}
	for (i = 0; !rc && i < spec->n_categorical; i++)
		rc = drift_categorical(&spec->drift_categorical[i], enc, i,
				       spec->categorical[i].n_vocabulary + 1,
				       &t->cols[table_column(t, spec->categorical[i].name)], rows, n, err);
	spec->drift_rows = n;
	spec->has_drift = !rc;
out:
	free(vals);
	if (rc)
		spec_drift_done(spec);
	return rc;
}

void fit_report_done(struct fit_report *rep)
{
	if (!rep)
		return;
	json_decref(rep->rare);
	json_decref(rep->vocab);
	memset(rep, 0, sizeof *rep);
}

bool fit_copy_config(struct spec *spec, const struct dataset_config *cfg)
{
	return copy_config(spec, cfg);
}

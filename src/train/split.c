/* split — see include/shelfcast/split.h. */
#include "shelfcast/split.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/rng.h"
#include "shelfcast/util.h"

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

void split_done(struct split *s)
{
	if (!s)
		return;
	free(s->train);
	free(s->valid);
	free(s->test);
	free(s->all_train);
	free(s->fit_train);
	free(s->fit_all);
	free(s->cal);
	free(s->cal_train);
	free(s->fit_cal);
	memset(s, 0, sizeof *s);
}

/*
 * rows[0..n) (new, into *out, *n_out) with the latest recent_fraction of
 * them by the split column repeated to recent_weight times in all; k: (n)
 * scratch.
 */
static bool weight_recent(const struct dataset_config *cfg, const struct table *t, int split_col,
			  const size_t *rows, size_t n, struct keyed *k, size_t **out, size_t *n_out)
{
	size_t n_recent = (size_t)ceil(cfg->recent_fraction * (double)n), i, m = n;
	int w;

	if (n_recent > n)
		n_recent = n;
	*out = util_alloc_array(n + n_recent * (size_t)(cfg->recent_weight - 1), sizeof **out);
	if (!*out)
		return false;
	memcpy(*out, rows, n * sizeof *rows);
	for (i = 0; i < n; i++)
		k[i] = (struct keyed){t->cols[split_col].num[rows[i]], rows[i]};
	qsort(k, n, sizeof *k, by_key);
	for (w = 1; w < cfg->recent_weight; w++)
		for (i = n - n_recent; i < n; i++)
			(*out)[m++] = k[i].row;
	*n_out = m;
	return true;
}

/* The calibration window: the last calibration_fraction of k (all_train as the validation slice orders it). */
static bool carve_calibration(const struct dataset_config *cfg, const struct keyed *k, struct split *s)
{
	size_t n = s->n_all_train, n_cal = (size_t)ceil(cfg->calibration_fraction * (double)n), i;

	if (n_cal < s->n_valid)
		n_cal = s->n_valid;
	s->cal = util_alloc_array(n_cal ? n_cal : 1, sizeof *s->cal);
	s->cal_train = util_alloc_array(n - n_cal ? n - n_cal : 1, sizeof *s->cal_train);
	if (!s->cal || !s->cal_train)
		return false;
	for (i = 0; i < n; i++) {
		if (i >= n - n_cal)
			s->cal[s->n_cal++] = k[i].row;
		else
			s->cal_train[s->n_cal_train++] = k[i].row;
	}
	return true;
}

enum error_code split_make(const struct dataset_config *cfg, const struct table *t, int split_col,
			   struct split *s, struct error *err)
{
	size_t n = t->n_rows, i, n_valid;
	struct keyed *k = calloc(n + 1, sizeof *k);
	struct rng r = {cfg->split_seed ^ 0x5eed5eedULL};

	memset(s, 0, sizeof *s);
	s->train = calloc(n + 1, sizeof *s->train);
	s->valid = calloc(n + 1, sizeof *s->valid);
	s->test = calloc(n + 1, sizeof *s->test);
	s->all_train = calloc(n + 1, sizeof *s->all_train);
	if (!k || !s->train || !s->valid || !s->test || !s->all_train) {
		free(k);
		split_done(s);
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
		/*
		 * s->train and s->valid are free until the validation carve-out: the
		 * permutation and the test marks.  One pass in row order keeps row
		 * order stable inside each part.
		 */
		size_t *perm = s->train, *is_test = s->valid, n_test;
		for (i = 0; i < n; i++)
			perm[i] = i;
		rng_shuffle(&r, perm, n);
		n_test = (size_t)ceil(cfg->test_fraction * (double)n);
		for (i = 0; i < n_test && i < n; i++)
			is_test[perm[i]] = 1;
		for (i = 0; i < n; i++) {
			if (is_test[i])
				s->test[s->n_test++] = i;
			else
				s->all_train[s->n_all_train++] = i;
		}
	}
	if (s->n_test == 0) {
		free(k);
		split_done(s);
		if (cfg->split_by_column)
			return error_set(err, ERROR_INVALID, "split.test_from",
					 "split: no row has %s >= %g, so the test part is empty",
					 cfg->split_column, cfg->test_from);
		return error_set(err, ERROR_INVALID, "split.fraction", "split: the test part is empty");
	}
	if (s->n_all_train < 2) {
		free(k);
		split_done(s);
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
	if (cfg->calibration_fraction > 0 && !carve_calibration(cfg, k, s)) {
		free(k);
		split_done(s);
		return error_nomem(err, "the split");
	}
	if (cfg->recent_weight > 1 && split_col >= 0 &&
	    (!weight_recent(cfg, t, split_col, s->train, s->n_train, k, &s->fit_train, &s->n_fit_train) ||
	     !weight_recent(cfg, t, split_col, s->all_train, s->n_all_train, k, &s->fit_all,
			    &s->n_fit_all) ||
	     (s->cal_train && !weight_recent(cfg, t, split_col, s->cal_train, s->n_cal_train, k,
					     &s->fit_cal, &s->n_fit_cal)))) {
		free(k);
		split_done(s);
		return error_nomem(err, "the split");
	}
	free(k);
	return ERROR_OK;
}

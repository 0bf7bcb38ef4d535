/* calibrate — see include/shelfcast/calibrate.h. */
#include "shelfcast/calibrate.h"

#include <math.h>
#include <stdlib.h>

#include "shelfcast/heads.h"
#include "shelfcast/util.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The split-conformal table of n absolute residuals (sorted in place). */
static void fill_table(double *a, size_t n, double q[SPEC_RESIDUAL_QUANTILES])
{
	size_t i;

	qsort(a, n, sizeof *a, cmp_double);
	for (i = 0; i < SPEC_RESIDUAL_QUANTILES; i++) {
		double p = (double)i / (SPEC_RESIDUAL_QUANTILES - 1);
		double k = ceil((double)(n + 1) * p - 1e-9); /* 1-based rank */
		q[i] = k < 1 ? 0 : a[k > (double)n ? n - 1 : (size_t)k - 1];
	}
}

/*
 * shrink > 0: group g's scale s_g = q_g(interval)^(1 - shrink) *
 * q(interval)^shrink (q: the one table), each row's |resid| over its
 * group's scale (over q(interval) outside the groups), one table T of all of
 * them, and group g's table s_g * T.  a: |resid| by slot, slot s's rows
 * a[start[s], start[s + 1]) for s in [0, nv]; slots (n_groups): each group's
 * slot, increasing; scale: (n_groups) scratch.  A scale that is not
 * positive (every residual 0) leaves the groups' own tables.
 */
static void shrink_groups(const double global_q[SPEC_RESIDUAL_QUANTILES], double *a, const size_t *start,
			  size_t nv, const size_t *slots, size_t n_groups, double shrink, double interval,
			  double *scale, double (*q)[SPEC_RESIDUAL_QUANTILES])
{
	double global = heads_table_halfwidth(global_q, interval), t[SPEC_RESIDUAL_QUANTILES];
	size_t g, i, j, s;

	if (!(global > 0))
		return;
	for (g = 0; g < n_groups; g++) {
		scale[g] = pow(heads_table_halfwidth(q[g], interval), 1 - shrink) * pow(global, shrink);
		if (!(scale[g] > 0))
			return;
	}
	for (s = 0, g = 0; s <= nv; s++) {
		double d = g < n_groups && slots[g] == s ? scale[g++] : global;
		for (i = start[s]; i < start[s + 1]; i++)
			a[i] /= d;
	}
	fill_table(a, start[nv + 1], t);
	for (g = 0; g < n_groups; g++)
		for (j = 0; j < SPEC_RESIDUAL_QUANTILES; j++)
			q[g][j] = scale[g] * t[j];
}

/* A table per slot of categorical `by` with at least CALIBRATE_GROUP_MIN rows. */
static enum error_code fit_groups(struct spec *spec, const double *resid, size_t n, const size_t *slot,
				  size_t by, double interval, double shrink, struct error *err)
{
	size_t nv = spec->categorical[by].n_vocabulary, s, i, g = 0, n_groups = 0;
	size_t *start = calloc(nv + 2, sizeof *start), *slots = NULL, *rows = NULL;
	double (*q)[SPEC_RESIDUAL_QUANTILES] = NULL, *a = util_alloc_array(n ? n : 1, sizeof *a), *scale = NULL;
	enum error_code rc = ERROR_OK;

	if (!start || !a) {
		rc = error_nomem(err, "the calibration groups");
		goto out;
	}
	/* |resid| bucketed by slot in one pass: slot s's rows are a[start[s], start[s + 1]) */
	for (i = 0; i < n; i++)
		start[slot[i] + 1]++;
	for (s = 0; s <= nv; s++) {
		n_groups += start[s + 1] >= CALIBRATE_GROUP_MIN;
		start[s + 1] += start[s];
	}
	for (i = 0; i < n; i++)
		a[start[slot[i]]++] = fabs(resid[i]);
	for (s = nv + 1; s > 0; s--) /* each start moved to its slot's end: shift them back */
		start[s] = start[s - 1];
	start[0] = 0;
	slots = calloc(n_groups + 1, sizeof *slots);
	rows = calloc(n_groups + 1, sizeof *rows);
	q = calloc(n_groups + 1, sizeof *q);
	scale = calloc(n_groups + 1, sizeof *scale);
	if (!slots || !rows || !q || !scale) {
		rc = error_nomem(err, "the calibration groups");
		goto out;
	}
	for (s = 0; s <= nv; s++) {
		size_t m = start[s + 1] - start[s];
		if (m < CALIBRATE_GROUP_MIN)
			continue;
		fill_table(a + start[s], m, q[g]);
		slots[g] = s;
		rows[g++] = m;
	}
	if (n_groups && shrink > 0)
		shrink_groups(spec->residual_q, a, start, nv, slots, n_groups, shrink, interval, scale,
			      q);
	if (n_groups)
		rc = spec_set_cal_groups(spec, by, n_groups, slots, rows,
					 (const double(*)[SPEC_RESIDUAL_QUANTILES])q, err);
out:
	free(start);
	free(slots);
	free(rows);
	free(q);
	free(scale);
	free(a);
	return rc;
}

enum error_code calibrate_fit(struct spec *spec, const double *resid, size_t n, double interval,
			      const size_t *slot, int by, double shrink, struct error *err)
{
	double *a, smear = 0;
	size_t i;

	if (n == 0)
		return error_set(err, ERROR_INVALID, "model.validation_fraction",
				 "no held-out rows to calibrate the intervals on: raise "
				 "model.validation_fraction");
	a = util_alloc_array(n, sizeof *a);
	if (!a)
		return error_nomem(err, "the calibration");
	for (i = 0; i < n; i++) {
		a[i] = fabs(resid[i]);
		smear += exp(resid[i] > 700 ? 700 : resid[i]);
	}
	fill_table(a, n, spec->residual_q);
	free(a);
	spec->smearing = spec->transform == SPEC_TRANSFORM_LOG1P ? smear / (double)n : 1;
	spec->interval = interval;
	spec->calibration_rows = n;
	spec->has_calibration = true;
	return by >= 0 && slot ? fit_groups(spec, resid, n, slot, (size_t)by, interval, shrink, err)
			       : ERROR_OK;
}

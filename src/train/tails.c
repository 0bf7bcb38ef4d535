/* tails — see include/shelfcast/tails.h. */
#include "shelfcast/tails.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/util.h"

enum error_code tails_init(struct tails *t, size_t max_values, double q_lo, double q_hi,
			   size_t exact_max, uint64_t seed, struct error *err)
{
	double M1 = max_values ? (double)(max_values - 1) : 0, klo = floor(q_lo * M1) + 3,
	       khi = floor((1 - q_hi) * M1) + 3;

	memset(t, 0, sizeof *t);
	t->q_lo = q_lo;
	t->q_hi = q_hi;
	t->k_lo = klo <= (double)exact_max ? (size_t)klo : 0;
	t->k_hi = khi <= (double)exact_max ? (size_t)khi : 0;
	t->lo = util_alloc_array(t->k_lo + 1, sizeof *t->lo);
	t->hi = util_alloc_array(t->k_hi + 1, sizeof *t->hi);
	if (!t->k_lo || !t->k_hi)
		t->res = util_alloc_array(TAILS_RESERVOIR, sizeof *t->res);
	t->rng.s = seed;
	if (!t->lo || !t->hi || ((!t->k_lo || !t->k_hi) && !t->res)) {
		tails_done(t);
		return error_nomem(err, "the quantile sketches");
	}
	return ERROR_OK;
}

void tails_done(struct tails *t)
{
	if (!t)
		return;
	free(t->lo);
	free(t->hi);
	free(t->res);
	memset(t, 0, sizeof *t);
}

/* Keep v among the k smallest of a max-heap h of *n (<= k) values. */
static void heap_keep_smallest(double *h, size_t *n, size_t k, double v)
{
	size_t i;
	if (*n == k) { /* replace the largest if v is smaller */
		if (!(v < h[0]))
			return;
		i = 0;
		for (;;) {
			size_t c = 2 * i + 1;
			if (c >= k)
				break;
			if (c + 1 < k && h[c + 1] > h[c])
				c++;
			if (!(h[c] > v))
				break;
			h[i] = h[c];
			i = c;
		}
		h[i] = v;
		return;
	}
	for (i = (*n)++; i > 0 && h[(i - 1) / 2] < v; i = (i - 1) / 2)
		h[i] = h[(i - 1) / 2];
	h[i] = v;
}

void tails_add(struct tails *t, double v)
{
	if (t->k_lo)
		heap_keep_smallest(t->lo, &t->n_lo, t->k_lo, v);
	if (t->k_hi) /* the largest, as the smallest of the negated */
		heap_keep_smallest(t->hi, &t->n_hi, t->k_hi, -v);
	if (t->res) { /* Algorithm R */
		if (t->n_res < TAILS_RESERVOIR) {
			t->res[t->n_res++] = v;
		} else {
			uint64_t j = rng_next(&t->rng) % (uint64_t)(t->m + 1);
			if (j < TAILS_RESERVOIR)
				t->res[j] = v;
		}
	}
	t->m++;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/*
 * fit.c's quantile over m sorted values of which lo_sorted[0..n_lo) are the
 * smallest and hi_sorted[0..n_hi) the largest; *ok false when it needs one
 * in neither.
 */
static double quantile_at(const double *lo_sorted, size_t n_lo, const double *hi_sorted, size_t n_hi,
			  size_t m, double q, bool *ok)
{
	double pos = q * (double)(m - 1), frac, a, b;
	size_t lo = (size_t)pos;

#define AT(i) ((i) < n_lo ? lo_sorted[i] : (i) >= m - n_hi ? hi_sorted[(i) - (m - n_hi)] : (*ok = false, 0.0))
	if (lo + 1 >= m)
		return AT(m - 1);
	frac = pos - (double)lo;
	a = AT(lo);
	b = AT(lo + 1);
#undef AT
	return a + frac * (b - a);
}

enum error_code tails_bounds(struct tails *t, double *lo, double *hi, const char **how_lo,
			     const char **how_hi, struct error *err)
{
	const char *sampled = t->m <= TAILS_RESERVOIR ? "exact" : "reservoir";
	bool ok = true;
	size_t k;

	qsort(t->lo, t->n_lo, sizeof *t->lo, cmp_double);
	for (k = 0; k < t->n_hi; k++)
		t->hi[k] = -t->hi[k];
	qsort(t->hi, t->n_hi, sizeof *t->hi, cmp_double);
	if (t->res)
		qsort(t->res, t->n_res, sizeof *t->res, cmp_double);
	*lo = t->k_lo ? quantile_at(t->lo, t->n_lo, NULL, 0, t->m, t->q_lo, &ok)
		      : quantile_at(t->res, t->n_res, NULL, 0, t->n_res, t->q_lo, &ok);
	*hi = t->k_hi ? quantile_at(NULL, 0, t->hi, t->n_hi, t->m, t->q_hi, &ok)
		      : quantile_at(t->res, t->n_res, NULL, 0, t->n_res, t->q_hi, &ok);
	*how_lo = t->k_lo ? "exact" : sampled;
	*how_hi = t->k_hi ? "exact" : sampled;
	if (!ok || !t->m)
		return error_set(err, ERROR_INTERNAL, NULL, "tails: a quantile fell outside the kept tails");
	return ERROR_OK;
}

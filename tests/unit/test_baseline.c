/* Unit tests: the linear and logistic baselines, dense and iterative solvers. */
#include "testutil.h"

#include <math.h>

#include "shelfcast/baseline.h"

struct problem {
	size_t n, d;
	float *X;     /* (n, d) */
	size_t *rows; /* (n) */
	double *t;    /* (n) regression targets */
	double *y;    /* (n) 0/1 labels */
};

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * Rows shaped like encoded training data: two numeric columns, then a
 * one-hot categorical of `cats` values over the next columns, the rest of
 * the d columns zero.  The targets depend on all of it, with noise.
 */
static void problem_init(struct problem *p, size_t n, size_t d, size_t cats, uint64_t seed)
{
	size_t i;
	p->n = n;
	p->d = d;
	p->X = calloc(n * d, sizeof *p->X);
	p->rows = calloc(n, sizeof *p->rows);
	p->t = calloc(n, sizeof *p->t);
	p->y = calloc(n, sizeof *p->y);
	assert_non_null(p->X);
	assert_non_null(p->rows && p->t && p->y);
	for (i = 0; i < n; i++) {
		double a = (double)(rng(&seed) % 2001) / 1000.0 - 1, b = (double)(rng(&seed) % 2001) / 1000.0 - 1;
		size_t c = rng(&seed) % cats;
		double noise = (double)(rng(&seed) % 1001) / 1000.0 - 0.5;
		p->X[i * d + 0] = (float)a;
		p->X[i * d + 1] = (float)b;
		p->X[i * d + 2 + c] = 1;
		p->rows[i] = i;
		p->t[i] = 0.5 + 2 * a - b + 0.3 * sin((double)c) + 0.2 * noise;
		p->y[i] = a + 0.5 * cos((double)c) + noise > 0;
	}
}

static void problem_done(struct problem *p)
{
	free(p->X);
	free(p->rows);
	free(p->t);
	free(p->y);
}

/* The same rows with zero columns appended up to width d2. */
static float *padded(const struct problem *p, size_t d2)
{
	float *X2 = calloc(p->n * d2, sizeof *X2);
	size_t i;
	assert_non_null(X2);
	for (i = 0; i < p->n; i++)
		memcpy(X2 + i * d2, p->X + i * p->d, p->d * sizeof *X2);
	return X2;
}

/* Largest |gradient| of the ridge objective, computed naively (the reference loop). */
static double linear_gradient(const struct problem *p, const double *w, double ridge)
{
	size_t i, j, D = p->d + 1;
	double *g = calloc(D, sizeof *g), worst = 0;
	assert_non_null(g);
	for (i = 0; i < p->n; i++) {
		double r = baseline_predict(w, p->X + i * p->d, p->d) - p->t[i];
		for (j = 0; j < p->d; j++)
			g[j] += r * p->X[i * p->d + j];
		g[p->d] += r;
	}
	for (j = 0; j < D; j++) {
		double v = fabs(g[j] + (j < p->d ? ridge * w[j] : 0));
		worst = v > worst ? v : worst;
	}
	free(g);
	return worst;
}

static double logistic_gradient(const struct problem *p, const double *w, double ridge)
{
	size_t i, j, D = p->d + 1;
	double *g = calloc(D, sizeof *g), worst = 0;
	assert_non_null(g);
	for (i = 0; i < p->n; i++) {
		double r = 1 / (1 + exp(-baseline_predict(w, p->X + i * p->d, p->d))) - p->y[i];
		for (j = 0; j < p->d; j++)
			g[j] += r * p->X[i * p->d + j];
		g[p->d] += r;
	}
	for (j = 0; j < D; j++) {
		double v = fabs(g[j] + (j < p->d ? ridge * w[j] : 0));
		worst = v > worst ? v : worst;
	}
	free(g);
	return worst;
}

static void test_iterative_solvers_match_the_dense_ones_across_the_threshold(void **state)
{
	struct problem p;
	size_t d2 = BASELINE_DENSE_MAX + 40, j;
	double w1[33], w2[BASELINE_DENSE_MAX + 41];
	float *X2;
	struct error err;
	(void)state;
	problem_init(&p, 800, 32, 30, 7);
	X2 = padded(&p, d2);
	error_init(&err);
	/* linear: Cholesky on 33 weights, conjugate gradients on 2089 */
	assert_int_equal(baseline_linear_fit(p.X, p.d, p.rows, p.n, p.t, 1.0, w1, &err), ERROR_OK);
	assert_int_equal(baseline_linear_fit(X2, d2, p.rows, p.n, p.t, 1.0, w2, &err), ERROR_OK);
	for (j = 0; j < p.d; j++)
		assert_true(fabs(w1[j] - w2[j]) < 1e-7);
	assert_true(fabs(w1[p.d] - w2[d2]) < 1e-7);
	for (j = p.d; j < d2; j++)
		assert_true(w2[j] == 0);
	/* logistic: Newton on 33 weights, L-BFGS on 2089 */
	assert_int_equal(baseline_logistic_fit(p.X, p.d, p.rows, p.n, p.y, 1.0, w1, &err), ERROR_OK);
	assert_int_equal(baseline_logistic_fit(X2, d2, p.rows, p.n, p.y, 1.0, w2, &err), ERROR_OK);
	for (j = 0; j < p.d; j++)
		assert_true(fabs(w1[j] - w2[j]) < 1e-4);
	assert_true(fabs(w1[p.d] - w2[d2]) < 1e-4);
	assert_true(logistic_gradient(&p, w1, 1.0) < 1e-6 * (double)p.n);
	free(X2);
	problem_done(&p);
}

static void test_a_hundred_thousand_inputs_fit_without_a_dense_system(void **state)
{
	/* D = 100,001: the dense system would be 80 GB and fail to allocate */
	struct problem p;
	double *w;
	struct error err;
	(void)state;
	problem_init(&p, 400, 100000, 99990, 11);
	w = calloc(p.d + 1, sizeof *w);
	assert_non_null(w);
	error_init(&err);
	assert_int_equal(baseline_linear_fit(p.X, p.d, p.rows, p.n, p.t, 1.0, w, &err), ERROR_OK);
	assert_true(linear_gradient(&p, w, 1.0) < 1e-6);
	assert_int_equal(baseline_logistic_fit(p.X, p.d, p.rows, p.n, p.y, 1.0, w, &err), ERROR_OK);
	assert_true(logistic_gradient(&p, w, 1.0) < 1e-7 * (double)p.n * 10);
	free(w);
	problem_done(&p);
}

static void test_wide_one_hot_fit_solves_the_normal_equations(void **state)
{
	struct problem p;
	double *w;
	struct error err;
	(void)state;
	problem_init(&p, 3000, 5000, 4990, 3);
	w = calloc(p.d + 1, sizeof *w);
	assert_non_null(w);
	error_init(&err);
	assert_int_equal(baseline_linear_fit(p.X, p.d, p.rows, p.n, p.t, 1.0, w, &err), ERROR_OK);
	assert_true(linear_gradient(&p, w, 1.0) < 1e-6);
	/* an empty selection still gives finite weights (the intercept's tiny ridge) */
	assert_int_equal(baseline_linear_fit(p.X, p.d, p.rows, 0, p.t, 1.0, w, &err), ERROR_OK);
	assert_true(isfinite(w[p.d]) && w[0] == 0);
	free(w);
	problem_done(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iterative_solvers_match_the_dense_ones_across_the_threshold),
		cmocka_unit_test(test_a_hundred_thousand_inputs_fit_without_a_dense_system),
		cmocka_unit_test(test_wide_one_hot_fit_solves_the_normal_equations),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

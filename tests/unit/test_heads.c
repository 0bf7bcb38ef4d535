/* Unit tests: the output heads, the training loss and the promotion objective. */
#include "testutil.h"

#include <float.h>
#include <math.h>

#include "shelfcast/heads.h"

static struct spec spec_log1p(void)
{
	struct spec s;
	memset(&s, 0, sizeof s);
	s.n_levels = 2;
	s.levels[0] = (struct spec_level){0, 0.0, 0.0};
	s.levels[1] = (struct spec_level){1, 0.4, 3.0};
	s.transform = SPEC_TRANSFORM_LOG1P;
	s.target_mean = 2;
	s.target_std = 0.5;
	return s;
}

static void test_heads_inverts_log1p_and_clamps_at_zero(void **state)
{
	struct spec s = spec_log1p();
	(void)state;
	/* y = 0 -> t = 2 -> expm1(2) */
	assert_true(fabs(heads_sales(&s, 0.0) - expm1(2.0)) < 1e-9);
	/* t = 2 + 0.5 * -10 = -3 -> expm1(-3) < 0 -> 0 */
	assert_true(heads_sales(&s, -10.0) == 0.0);
	/* an enormous output does not overflow into inf */
	assert_true(isfinite(heads_sales(&s, 1e30)));
	assert_true(heads_units(SPEC_TRANSFORM_LOG1P, 1e6) == expm1(700.0));
	s.transform = SPEC_TRANSFORM_NONE;
	assert_true(heads_sales(&s, 1.0) == 2.5);
	assert_true(heads_sales(&s, -5.0) == 0.0);
	assert_true(heads_sales(&s, NAN) == 0.0);
	assert_true(heads_units(SPEC_TRANSFORM_NONE, INFINITY) == DBL_MAX);
}

static void test_heads_transform_and_standardize_round_trip(void **state)
{
	struct spec s = spec_log1p();
	const double units[] = {0, 1, 3.5, 120, 98765};
	size_t i;
	(void)state;
	for (i = 0; i < sizeof units / sizeof units[0]; i++) {
		double t = heads_transform(SPEC_TRANSFORM_LOG1P, units[i]);
		assert_true(t == log1p(units[i]));
		assert_true(fabs(heads_units(SPEC_TRANSFORM_LOG1P, t) - units[i]) <= 1e-9 * (1 + units[i]));
		/* the training target of units, served back, is those units */
		assert_true(fabs(heads_sales(&s, heads_standardize(&s, units[i])) - units[i]) <=
			    1e-9 * (1 + units[i]));
		assert_true(fabs(heads_unstandardize(&s, heads_standardize(&s, units[i])) - t) < 1e-12);
	}
	assert_true(heads_transform(SPEC_TRANSFORM_NONE, 7.25) == 7.25);
}

static void test_heads_exposure_is_stable_for_huge_logits(void **state)
{
	(void)state;
	assert_true(heads_exposure(1000.0) == 1.0);
	assert_true(heads_exposure(-1000.0) == 0.0);
	assert_true(fabs(heads_exposure(0.0) - 0.5) < 1e-12);
	assert_true(fabs(heads_exposure(2.0) - 1.0 / (1.0 + exp(-2.0))) < 1e-12);
	assert_true(fabs(heads_exposure(-30.0) - exp(-30.0) / (1 + exp(-30.0))) < 1e-20);
}

static void test_heads_loss_is_squared_error_plus_weighted_cross_entropy(void **state)
{
	double dy, dz;
	(void)state;
	/* y - t = 0.5; z = 0, e = 1: bce = log 2 */
	assert_true(fabs(heads_loss(1.5, 1.0, 0.0, 1.0, 0.3, &dy, &dz) - (0.25 + 0.3 * log(2.0))) < 1e-12);
	assert_true(dy == 1.0);
	assert_true(fabs(dz - 0.3 * (0.5 - 1.0)) < 1e-12);
	/* a confident right answer costs almost nothing, and stays finite far out */
	assert_true(heads_loss(0, 0, 800.0, 1.0, 1.0, NULL, NULL) < 1e-300);
	assert_true(fabs(heads_loss(0, 0, -800.0, 1.0, 1.0, NULL, NULL) - 800.0) < 1e-9);
}

static void test_heads_loss_derivatives_match_finite_differences(void **state)
{
	const double pts[][4] = {{0.3, -0.2, 1.7, 1}, {-1.1, 0.4, -2.5, 0}, {2.0, 2.0, 0.1, 1}};
	const double h = 1e-6;
	size_t i;
	(void)state;
	for (i = 0; i < sizeof pts / sizeof pts[0]; i++) {
		double y = pts[i][0], t = pts[i][1], z = pts[i][2], e = pts[i][3], dy, dz, ny, nz;
		heads_loss(y, t, z, e, 0.7, &dy, &dz);
		ny = (heads_loss(y + h, t, z, e, 0.7, NULL, NULL) - heads_loss(y - h, t, z, e, 0.7, NULL, NULL)) /
		     (2 * h);
		nz = (heads_loss(y, t, z + h, e, 0.7, NULL, NULL) - heads_loss(y, t, z - h, e, 0.7, NULL, NULL)) /
		     (2 * h);
		assert_true(fabs(dy - ny) < 1e-6);
		assert_true(fabs(dz - nz) < 1e-6);
	}
}

static void test_heads_value_of_each_objective(void **state)
{
	struct spec s = spec_log1p();
	(void)state;
	/* level 1: discount 0.4, cost 3; 10 units at price 10, unit cost 5 */
	assert_true(heads_value(&s, SPEC_OBJECTIVE_UNITS, 1, 10, 10, 5) == 10);
	assert_true(fabs(heads_value(&s, SPEC_OBJECTIVE_REVENUE, 1, 10, 10, 5) - (60 - 3)) < 1e-9);
	assert_true(fabs(heads_value(&s, SPEC_OBJECTIVE_PROFIT, 1, 10, 10, 5) - (10 * (6 - 5) - 3)) < 1e-9);
	assert_true(fabs(heads_value(&s, SPEC_OBJECTIVE_REVENUE, 0, 10, 10, 5) - 100) < 1e-9);
}

static void test_heads_expected_sales_is_the_smeared_mean(void **state)
{
	struct spec s = spec_log1p();
	(void)state;
	/* no calibration: the centre */
	assert_true(heads_expected_sales(&s, 0.0) == heads_sales(&s, 0.0));
	s.has_calibration = true;
	s.smearing = 1.25;
	/* y = 0 -> t = 2: exp(2) * 1.25 - 1 */
	assert_true(fabs(heads_expected_sales(&s, 0.0) - (exp(2.0) * 1.25 - 1)) < 1e-9);
	assert_true(heads_expected_sales(&s, 0.0) > heads_sales(&s, 0.0));
	s.transform = SPEC_TRANSFORM_NONE;
	assert_true(fabs(heads_expected_sales(&s, 0.0) - 2.0) < 1e-12);
}

static void test_heads_interval_is_a_table_lookup_rounded_up(void **state)
{
	struct spec s = spec_log1p();
	double lo, hi;
	size_t i;
	(void)state;
	assert_true(heads_interval_halfwidth(&s, 0.9) == 0); /* uncalibrated */
	s.has_calibration = true;
	for (i = 0; i < SPEC_RESIDUAL_QUANTILES; i++)
		s.residual_q[i] = (double)i;
	assert_true(heads_interval_halfwidth(&s, 0.9) == 180);
	assert_true(heads_interval_halfwidth(&s, 0.901) == 181); /* up to the next 0.005 */
	assert_true(heads_interval_halfwidth(&s, 0.5) == 100);
	assert_true(heads_interval_halfwidth(&s, 0.999) == 200);
	s.residual_q[180] = 0.5;
	heads_interval(&s, 0.0, heads_interval_halfwidth(&s, 0.9), &lo, &hi);
	assert_true(fabs(lo - expm1(1.5)) < 1e-9 && fabs(hi - expm1(2.5)) < 1e-9);
}

/* The search's vectorized heads agree with the exact ones to a few ulp of exp(t) = units + 1. */
static void test_heads_rows_fast_match_the_exact_heads(void **state)
{
	enum { N = 4000 };
	static float y[N * HEADS_COUNT];
	static double expected[N], exposure[N];
	struct spec s = spec_log1p();
	size_t r, pass;
	(void)state;
	s.has_calibration = true;
	s.smearing = 1.37;
	for (r = 0; r < N; r++) { /* t from -1000 to 1000 (clamped past 700), logits from -1000 to 1000 */
		y[HEADS_COUNT * r + HEADS_SALES] = (float)(((double)r / N - 0.5) * 4000.0 / 0.5 / 2.0);
		y[HEADS_COUNT * r + HEADS_EXPOSURE] = (float)(((double)(r * 7919 % N) / N - 0.5) * 2000.0);
	}
	for (r = 0; r < 200; r++) /* and finely around t + log(smearing) = 0 (y = -4.63), where units are small */
		y[HEADS_COUNT * r + HEADS_SALES] = (float)(-4.73 + (double)r * 1e-3);
	y[HEADS_SALES] = NAN;
	y[HEADS_EXPOSURE] = NAN;
	y[HEADS_COUNT + HEADS_SALES] = INFINITY;
	y[HEADS_COUNT + HEADS_EXPOSURE] = -INFINITY;
	y[2 * HEADS_COUNT + HEADS_SALES] = -INFINITY;
	y[2 * HEADS_COUNT + HEADS_EXPOSURE] = INFINITY;
	for (pass = 0; pass < 2; pass++) {
		heads_rows_fast(&s, y, N, expected, exposure);
		for (r = 0; r < N; r++) {
			double e = heads_expected_sales(&s, (double)y[HEADS_COUNT * r + HEADS_SALES]);
			double p = heads_exposure((double)y[HEADS_COUNT * r + HEADS_EXPOSURE]);
			if (isnan(p))
				assert_true(isnan(exposure[r]));
			else
				/* 1e-300: logits below -700 give exp(-700), 1e-304, where the exact one underflows */
				assert_true(fabs(exposure[r] - p) <= 4 * DBL_EPSILON * p + 1e-300);
			assert_true(fabs(expected[r] - e) <= 4 * DBL_EPSILON * (e + 1));
		}
		if (pass == 0) { /* NaN and infinite outputs, as the exact heads map them */
			assert_true(expected[0] == 0.0 && isnan(exposure[0]));
			assert_true(fabs(expected[1] - expm1(700.0)) <= 4 * DBL_EPSILON * expm1(700.0) && exposure[1] < 1e-300);
			assert_true(expected[2] == 0.0 && exposure[2] == 1.0);
		}
		s.transform = SPEC_TRANSFORM_NONE; /* the other transform: no exp, the exact heads row by row */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heads_inverts_log1p_and_clamps_at_zero),
		cmocka_unit_test(test_heads_transform_and_standardize_round_trip),
		cmocka_unit_test(test_heads_exposure_is_stable_for_huge_logits),
		cmocka_unit_test(test_heads_rows_fast_match_the_exact_heads),
		cmocka_unit_test(test_heads_loss_is_squared_error_plus_weighted_cross_entropy),
		cmocka_unit_test(test_heads_loss_derivatives_match_finite_differences),
		cmocka_unit_test(test_heads_value_of_each_objective),
		cmocka_unit_test(test_heads_expected_sales_is_the_smeared_mean),
		cmocka_unit_test(test_heads_interval_is_a_table_lookup_rounded_up),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

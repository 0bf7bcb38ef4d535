/* Unit tests: split-conformal quantiles and the smearing factor. */
#include "testutil.h"

#include <math.h>

#include "shelfcast/calibrate.h"
#include "shelfcast/heads.h"

static void test_calibrate_quantiles_are_conformal_ranks(void **state)
{
	struct spec s;
	struct error err;
	double r[99];
	size_t i;
	(void)state;
	memset(&s, 0, sizeof s);
	s.transform = SPEC_TRANSFORM_LOG1P;
	/* |r| = 0.01 .. 0.99 with alternating signs, unsorted */
	for (i = 0; i < 99; i++)
		r[i] = (i % 2 ? -1.0 : 1.0) * (double)((i * 37) % 99 + 1) / 100;
	error_init(&err);
	assert_int_equal(calibrate_fit(&s, r, 99, 0.8, &err), ERROR_OK);
	assert_true(s.has_calibration && s.interval == 0.8 && s.calibration_rows == 99);
	/* level 0.9: rank ceil(100 * 0.9) = 90 of 99 */
	assert_true(fabs(s.residual_q[180] - 0.90) < 1e-12);
	/* level 0.5: rank 50 */
	assert_true(fabs(s.residual_q[100] - 0.50) < 1e-12);
	/* level 1: past n, the largest */
	assert_true(fabs(s.residual_q[200] - 0.99) < 1e-12);
	assert_true(s.residual_q[0] == 0);
	for (i = 1; i < SPEC_RESIDUAL_QUANTILES; i++)
		assert_true(s.residual_q[i] >= s.residual_q[i - 1]);
	/* an interval at 0.9 around each row's own prediction covers 90 of them */
	{
		double h = heads_interval_halfwidth(&s, 0.9);
		size_t inside = 0;
		for (i = 0; i < 99; i++)
			inside += fabs(r[i]) <= h;
		assert_int_equal(inside, 90);
	}
}

static void test_calibrate_smearing_is_the_mean_of_exp_residuals(void **state)
{
	struct spec s;
	struct error err;
	double r[2] = {-0.5, 0.5};
	(void)state;
	memset(&s, 0, sizeof s);
	s.transform = SPEC_TRANSFORM_LOG1P;
	error_init(&err);
	assert_int_equal(calibrate_fit(&s, r, 2, 0.9, &err), ERROR_OK);
	assert_true(fabs(s.smearing - cosh(0.5)) < 1e-12);
	s.transform = SPEC_TRANSFORM_NONE;
	assert_int_equal(calibrate_fit(&s, r, 2, 0.9, &err), ERROR_OK);
	assert_true(s.smearing == 1);
	assert_int_equal(calibrate_fit(&s, r, 0, 0.9, &err), ERROR_INVALID);
	assert_string_equal(err.field, "model.validation_fraction");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_calibrate_quantiles_are_conformal_ranks),
		cmocka_unit_test(test_calibrate_smearing_is_the_mean_of_exp_residuals),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests: held-out metrics. */
#include "testutil.h"

#include <math.h>

#include "shelfcast/evaluate.h"

static void test_auc_counts_ties_as_half(void **state)
{
	double y[4] = {0, 1, 0, 1}, p[4] = {0.1, 0.9, 0.5, 0.5}, auc;
	struct error err;
	(void)state;
	error_init(&err);
	/* pairs (pos, neg): (0.9,0.1)=1 (0.9,0.5)=1 (0.5,0.1)=1 (0.5,0.5)=0.5 -> 3.5/4 */
	assert_int_equal(evaluate_auc(y, p, 4, &auc, &err), ERROR_OK);
	assert_true(fabs(auc - 0.875) < 1e-12);
	y[1] = y[3] = 0;
	assert_int_equal(evaluate_auc(y, p, 4, &auc, &err), ERROR_OK);
	assert_true(auc == 0.5); /* one class only */
}

static void test_sales_metrics_on_a_hand_computed_case(void **state)
{
	double t[3] = {log1p(10), log1p(20), log1p(30)}, p[3] = {log1p(10), log1p(25), log1p(30)};
	struct sales_metrics m;
	(void)state;
	evaluate_sales(SPEC_TRANSFORM_LOG1P, t, p, 3, &m);
	assert_true(fabs(m.wmape - 5.0 / 60.0) < 1e-12);
	assert_true(fabs(m.mape - (0.25 / 3.0)) < 1e-12);
	assert_true(fabs(m.rmse - sqrt(25.0 / 3.0)) < 1e-9);
	assert_true(m.r2_log < 1 && m.r2_log > 0.9);
	evaluate_sales(SPEC_TRANSFORM_LOG1P, t, t, 3, &m);
	assert_true(m.r2_log == 1 && m.mae_log == 0);
}

static void test_exposure_metrics_and_calibration(void **state)
{
	double y[4] = {1, 1, 0, 0}, p[4] = {0.95, 0.4, 0.6, 0.05};
	struct exposure_metrics m;
	struct error err;
	(void)state;
	error_init(&err);
	assert_int_equal(evaluate_exposure(y, p, 4, &m, &err), ERROR_OK);
	assert_true(fabs(m.accuracy - 0.5) < 1e-12);
	assert_true(fabs(m.precision - 0.5) < 1e-12 && fabs(m.recall - 0.5) < 1e-12 && fabs(m.f1 - 0.5) < 1e-12);
	/* ece: bins 0 (0.05 vs 0), 4 (0.4 vs 1), 6 (0.6 vs 0), 9 (0.95 vs 1) each 1/4 */
	assert_true(fabs(m.ece - (0.05 + 0.6 + 0.6 + 0.05) / 4) < 1e-12);
	assert_true(isfinite(m.log_loss) && m.log_loss > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auc_counts_ties_as_half),
		cmocka_unit_test(test_sales_metrics_on_a_hand_computed_case),
		cmocka_unit_test(test_exposure_metrics_and_calibration),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests: the promotion choice on hand-computed cases. */
#include "testutil.h"

#include <float.h>
#include <math.h>

#include "shelfcast/promo.h"

static struct spec spec_with(size_t K, const double *discount, const double *cost)
{
	struct spec s;
	size_t k;
	memset(&s, 0, sizeof s);
	s.n_levels = K;
	for (k = 0; k < K; k++)
		s.levels[k] = (struct spec_level){(long long)k, discount[k], cost[k]};
	s.transform = SPEC_TRANSFORM_LOG1P;
	s.target_mean = 2;
	s.target_std = 0.5;
	return s;
}

static void test_revenue_picks_the_best_level(void **state)
{
	struct spec s = spec_with(3, (double[]){0, 0.1, 0.2}, (double[]){0, 5, 10});
	double values[3], units[3] = {10, 12, 20};
	(void)state;
	/* price 10: 100, 12*9-5 = 103, 20*8-10 = 150 */
	assert_int_equal(promo_choose(&s, SPEC_OBJECTIVE_REVENUE, units, 10, 0, values), 2);
	assert_true(fabs(values[0] - 100) < 1e-9 && fabs(values[1] - 103) < 1e-9 && fabs(values[2] - 150) < 1e-9);
}

static void test_ties_go_to_the_lower_level(void **state)
{
	struct spec s = spec_with(3, (double[]){0, 0.5, 0.0}, (double[]){0, 0, 0});
	double units[3] = {10, 20, 10};
	(void)state;
	/* revenue 100, 100, 100: all tied */
	assert_int_equal(promo_choose(&s, SPEC_OBJECTIVE_REVENUE, units, 10, 0, NULL), 0);
	units[0] = 5; /* 50, 100, 100: tie between 1 and 2 */
	assert_int_equal(promo_choose(&s, SPEC_OBJECTIVE_REVENUE, units, 10, 0, NULL), 1);
}

static void test_negative_revenue_still_chooses_the_least_bad(void **state)
{
	struct spec s = spec_with(2, (double[]){0, 0.5}, (double[]){50, 10});
	double values[2], units[2] = {1, 2};
	(void)state;
	/* 1*10 - 50 = -40, 2*5 - 10 = 0 */
	assert_int_equal(promo_choose(&s, SPEC_OBJECTIVE_REVENUE, units, 10, 0, values), 1);
	assert_true(values[0] == -40 && values[1] == 0);
}

static void test_a_single_level_is_always_chosen(void **state)
{
	struct spec s = spec_with(1, (double[]){0.3}, (double[]){1e9});
	double units[1] = {0};
	(void)state;
	assert_int_equal(promo_choose(&s, SPEC_OBJECTIVE_REVENUE, units, 10, 0, NULL), 0);
}

static void test_units_and_profit_objectives(void **state)
{
	struct spec s = spec_with(2, (double[]){0, 0.4}, (double[]){0, 0});
	double values[2], units[2] = {10, 15};
	(void)state;
	assert_int_equal(promo_choose(&s, SPEC_OBJECTIVE_UNITS, units, 10, 0, values), 1);
	assert_true(values[1] == 15);
	/* profit, unit cost 5: 10*(10-5) = 50, 15*(6-5) = 15 */
	assert_int_equal(promo_choose(&s, SPEC_OBJECTIVE_PROFIT, units, 10, 5, values), 0);
	assert_true(fabs(values[0] - 50) < 1e-9 && fabs(values[1] - 15) < 1e-9);
	/* revenue: 100 vs 90 */
	assert_int_equal(promo_choose(&s, SPEC_OBJECTIVE_REVENUE, units, 10, 5, values), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_revenue_picks_the_best_level),
		cmocka_unit_test(test_ties_go_to_the_lower_level),
		cmocka_unit_test(test_negative_revenue_still_chooses_the_least_bad),
		cmocka_unit_test(test_a_single_level_is_always_chosen),
		cmocka_unit_test(test_units_and_profit_objectives),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

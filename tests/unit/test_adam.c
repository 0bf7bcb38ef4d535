/* Unit tests: Adam's update on hand-computed cases. */
#include "testutil.h"

#include <math.h>

#include "shelfcast/adam.h"

static void test_adam_first_step_moves_each_parameter_by_the_learning_rate(void **state)
{
	struct adam a;
	struct error err;
	float p[3] = {1.0f, -2.0f, 0.5f}, g[3] = {0.3f, -4.0f, 1e-3f};
	size_t i;
	(void)state;
	error_init(&err);
	assert_int_equal(adam_init(&a, 3, &err), ERROR_OK);
	adam_begin_step(&a);
	adam_update(&a, p, g, 0, 3, 0.01, 0);
	/* bias-corrected m / sqrt(v) is g / |g| on the first step */
	assert_true(fabsf(p[0] - (1.0f - 0.01f)) < 1e-6f);
	assert_true(fabsf(p[1] - (-2.0f + 0.01f)) < 1e-6f);
	assert_true(fabsf(p[2] - (0.5f - 0.01f)) < 1e-5f);
	for (i = 0; i < 3; i++)
		assert_true(a.m[i] == (float)(0.1 * g[i]));
	adam_done(&a);
}

static void test_adam_bias_correction_keeps_a_steady_gradient_at_full_step(void **state)
{
	struct adam a;
	struct error err;
	float p[1] = {0}, g[1] = {2.0f};
	int s;
	(void)state;
	error_init(&err);
	assert_int_equal(adam_init(&a, 1, &err), ERROR_OK);
	for (s = 0; s < 5; s++) {
		adam_begin_step(&a);
		adam_update(&a, p, g, 0, 1, 0.1, 0);
	}
	assert_int_equal(a.step, 5);
	assert_true(fabsf(p[0] + 0.5f) < 1e-5f);
	adam_done(&a);
}

static void test_adam_updates_only_the_range_it_is_given(void **state)
{
	struct adam a;
	struct error err;
	float p[4] = {1, 1, 1, 1}, g[4] = {1, 1, 1, 1};
	(void)state;
	error_init(&err);
	assert_int_equal(adam_init(&a, 4, &err), ERROR_OK);
	adam_begin_step(&a);
	adam_update(&a, p, g, 1, 2, 0.5, 0);
	assert_true(p[0] == 1 && p[3] == 1);
	assert_true(p[1] < 1 && p[2] < 1);
	assert_true(a.m[0] == 0 && a.m[3] == 0);
	adam_done(&a);
	adam_done(NULL);
}

static void test_adam_weight_decay_is_decoupled_from_the_moments(void **state)
{
	struct adam a;
	struct error err;
	float p[1] = {4.0f}, g[1] = {0};
	(void)state;
	error_init(&err);
	assert_int_equal(adam_init(&a, 1, &err), ERROR_OK);
	adam_begin_step(&a);
	adam_update(&a, p, g, 0, 1, 0.1, 0.25);
	assert_true(p[0] == 4.0f - (float)(0.1 * 0.25 * 4.0));
	assert_true(a.m[0] == 0 && a.v[0] == 0);
	adam_done(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_adam_first_step_moves_each_parameter_by_the_learning_rate),
		cmocka_unit_test(test_adam_bias_correction_keeps_a_steady_gradient_at_full_step),
		cmocka_unit_test(test_adam_updates_only_the_range_it_is_given),
		cmocka_unit_test(test_adam_weight_decay_is_decoupled_from_the_moments),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests: the training loss's gradient through the network against finite differences. */
#include "testutil.h"

#include <math.h>

#include "shelfcast/learn.h"

static void test_learn_backprop_matches_finite_differences(void **state)
{
	size_t h1[1] = {7}, h2[2] = {9, 5};
	double e1, e2;
	(void)state;
	e1 = learn_gradient_check(6, h1, 1, 5, 1.0, 3);
	e2 = learn_gradient_check(11, h2, 2, 8, 0.3, 4);
	print_message("# gradient check: %g, %g (relative to the largest gradient)\n", e1, e2);
	assert_true(e1 < 1e-3);
	assert_true(e2 < 1e-3);
}

static void test_learn_gradient_check_refuses_too_many_layers(void **state)
{
	size_t hidden[SPEC_MAX_HIDDEN + 1] = {3, 3, 3, 3, 3, 3, 3, 3, 3};
	(void)state;
	assert_true(isinf(learn_gradient_check(4, hidden, SPEC_MAX_HIDDEN + 1, 2, 1.0, 1)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_learn_backprop_matches_finite_differences),
		cmocka_unit_test(test_learn_gradient_check_refuses_too_many_layers),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

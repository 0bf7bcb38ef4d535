/* Unit tests: the training loss's gradient against finite differences; a diverging run stops. */
#include "traintable.h"

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

static void test_learn_names_the_learning_rate_when_the_loss_diverges(void **state)
{
	static const char config[] =
		"{\"name\": \"d\", \"features\": {\"numeric\": [\"price\"]},"
		" \"target\": {\"column\": \"units\"}, \"exposure\": {\"column\": \"featured\"},"
		" \"promotion\": {\"column\": \"level\", \"price_column\": \"price\","
		"   \"levels\": [{\"level\": 0, \"discount\": 0}]},"
		" \"split\": {\"fraction\": 0.25, \"seed\": 1},"
		" \"model\": {\"hidden\": [4], \"epochs\": 3, \"batch_size\": 2}}";
	static const char csv[] = "price,units,featured,level\n1,1,0,0\n2,3,1,0\n3,2,0,0\n4,5,1,0\n"
				  "5,4,0,0\n6,7,1,0\n7,6,0,0\n8,9,1,0\n";
	struct dataset_config cfg;
	struct train_result res;
	struct table t;
	struct error err;
	(void)state;
	traintable_load(config, csv, sizeof csv - 1, &cfg, &t);
	/* past what a config may say (under 10): the first step throws the weights to infinity */
	cfg.learning_rate = 1e300;
	error_init(&err);
	assert_int_equal(train_run(&cfg, &t, NULL, NULL, &res, &err), ERROR_INVALID);
	assert_string_equal(err.field, "model.learning_rate");
	assert_non_null(strstr(err.message, "diverged at epoch 1"));
	assert_null(res.weights);
	assert_null(res.metrics);
	table_done(&t);
	dataset_config_done(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_learn_backprop_matches_finite_differences),
		cmocka_unit_test(test_learn_gradient_check_refuses_too_many_layers),
		cmocka_unit_test(test_learn_names_the_learning_rate_when_the_loss_diverges),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

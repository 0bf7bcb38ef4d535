/* Unit tests: the stored metrics and training documents. */
#include "testutil.h"

#include <math.h>

#include "shelfcast/report.h"

static void test_report_metrics_puts_the_baselines_beside_the_network(void **state)
{
	struct report_scores s = {.n_test = 42, .interval_coverage = 0.5, .interval_mean_width_log = 1.25};
	json_t *m;
	char *text;
	(void)state;
	s.sales.r2_log = 0.75;
	s.linear.r2_log = 0.5;
	s.exposure.auc = 0.875;
	s.logistic.auc = 0.625;
	m = report_metrics(&s);
	assert_non_null(m);
	text = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_non_null(strstr(text, "{\"sales\":{\"r2_log\":0.75,"));
	assert_non_null(strstr(text, "\"baselines\":{\"linear\":{\"r2_log\":0.5,"));
	assert_non_null(strstr(text, "\"logistic\":{\"auc\":0.625,"));
	assert_non_null(strstr(text, "\"test_rows\":42,\"interval_coverage\":0.5,"
				     "\"interval_mean_width_log\":1.25}"));
	free(text);
	json_decref(m);
}

static void test_report_training_lists_rows_then_fit_then_model_then_slots_and_ensemble_in_order(void **state)
{
	char name[] = "demo";
	struct dataset_config cfg;
	struct table t;
	struct split sp = {.n_train = 6, .n_valid = 2, .n_test = 3};
	struct fit_report fit = {.winsorized = 4, .rare = json_object(), .vocab = json_object()};
	struct learn_outcome learned = {.epochs_run = 9, .best_epoch = 5};
	const char *keys[] = {"rows", "winsorized_values", "winsorize", "rare_categories_to_unknown",
			      "vocabulary_sizes", "seed", "epochs_run", "best_epoch", "duration_seconds",
			      "data_checksum", "shelfcast_version", "dataset", "model", "unknown_slot_rows",
			      "ensemble"};
	struct spec_categorical cats[2] = {{.name = (char *)"brand"}, {.name = (char *)"store"}};
	struct spec spec = {.categorical = cats, .n_categorical = 2};
	const size_t slot_rows[2] = {3, 17};
	json_t *o, *rows, *model, *ensemble = json_pack("{s:i}", "members", 2);
	const char *key;
	json_t *v;
	size_t i = 0;
	(void)state;
	memset(&cfg, 0, sizeof cfg);
	memset(&t, 0, sizeof t);
	cfg.name = name;
	cfg.n_hidden = 2;
	cfg.hidden[0] = 16;
	cfg.hidden[1] = 8;
	cfg.n_log = 1;
	cfg.refit = true;
	cfg.members = 2;
	cfg.interval = 0.8;
	t.n_rows = 11;
	t.stats.rows_read = 12;
	t.stats.duplicates = 1;
	snprintf(t.checksum, sizeof t.checksum, "%s", "abc");
	json_object_set_new(fit.vocab, "brand", json_integer(7));
	o = report_training(&cfg, &t, &sp, &fit, &learned, &spec, slot_rows, ensemble, 1.5);
	assert_non_null(o);
	json_object_foreach(o, key, v) {
		assert_true(i < sizeof keys / sizeof keys[0]);
		assert_string_equal(key, keys[i++]);
	}
	assert_int_equal(i, sizeof keys / sizeof keys[0]);
	rows = json_object_get(o, "rows");
	assert_int_equal(json_integer_value(json_object_get(rows, "read")), 12);
	assert_int_equal(json_integer_value(json_object_get(rows, "used")), 11);
	assert_int_equal(json_integer_value(json_object_get(rows, "validation")), 2);
	assert_int_equal(json_integer_value(json_object_get(o, "best_epoch")), 5);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "vocabulary_sizes"), "brand")), 7);
	model = json_object_get(o, "model");
	assert_int_equal(json_array_size(json_object_get(model, "hidden")), 2);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(model, "hidden"), 1)), 8);
	assert_true(json_is_true(json_object_get(model, "refit")));
	assert_string_equal(json_string_value(json_object_get(model, "validation")), "latest");
	assert_int_equal(json_integer_value(json_object_get(model, "members")), 2);
	assert_true(json_real_value(json_object_get(model, "interval")) == 0.8);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "unknown_slot_rows"), "store")), 17);
	assert_ptr_equal(json_object_get(o, "ensemble"), ensemble);
	json_decref(o);
	assert_int_equal(ensemble->refcount, 1); /* shared, not taken */
	json_decref(ensemble);
	fit_report_done(&fit);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report_metrics_puts_the_baselines_beside_the_network),
		cmocka_unit_test(test_report_training_lists_rows_then_fit_then_model_then_slots_and_ensemble_in_order),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

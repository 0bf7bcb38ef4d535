/* Unit tests: models_view — the /v1/models documents from a catalog and the served models. */
#include "testutil.h"

#include <jansson.h>

#include "shelfcast/models_view.h"

static const char catalog[] =
	"{\"models\": ["
	" {\"name\": \"alpha\", \"description\": \"first\", \"active_version\": 2, \"versions\": ["
	"   {\"version\": 1, \"status\": \"archived\", \"metrics\": {\"sales\": {\"r2_log\": 0.5}}},"
	"   {\"version\": 2, \"status\": \"active\", \"metrics\": {\"sales\": {\"r2_log\": 0.7, \"wmape\": 0.3},"
	"     \"exposure\": {\"auc\": 0.8, \"log_loss\": 0.4},"
	"     \"baselines\": {\"linear\": {\"r2_log\": 0.6}, \"logistic\": {\"auc\": 0.75}}}}]},"
	" {\"name\": \"beta\", \"description\": null, \"active_version\": null, \"versions\": []}]}";

static struct model *named(const char *name, int version)
{
	float *w = calloc(test_weight_count(TEST_SPEC), sizeof *w);
	struct model *m = test_model_from(name, version, TEST_SPEC, w);
	free(w);
	return m;
}

static json_t *entry(json_t *list, const char *name)
{
	json_t *e;
	size_t i;
	json_array_foreach(json_object_get(list, "models"), i, e)
		if (!strcmp(json_string_value(json_object_get(e, "name")), name))
			return e;
	return NULL;
}

static void test_models_view_merges_the_catalog_with_what_serves(void **state)
{
	/* alpha serves version 1 while 2 is active (stale); gamma serves but the catalog has no row */
	struct model *served[2] = {named("alpha", 1), named("gamma", 4)};
	json_t *v, *a, *b, *g;
	bool found;
	(void)state;
	v = models_view(catalog, served, 2, NULL, &found);
	assert_non_null(v);
	assert_true(found);
	assert_int_equal(json_array_size(json_object_get(v, "models")), 3);
	a = entry(v, "alpha");
	b = entry(v, "beta");
	g = entry(v, "gamma");
	assert_true(a && b && g);
	assert_string_equal(json_string_value(json_object_get(a, "status")), "stale");
	assert_int_equal(json_integer_value(json_object_get(a, "active_version")), 2);
	assert_int_equal(json_integer_value(json_object_get(a, "serving_version")), 1);
	assert_null(json_object_get(a, "versions")); /* only the one-model document lists versions */
	assert_string_equal(json_string_value(json_object_get(b, "status")), "not_loaded");
	assert_string_equal(json_string_value(json_object_get(b, "description")), "");
	assert_true(json_is_null(json_object_get(b, "serving_version")));
	assert_int_equal(json_array_size(json_object_get(b, "inputs")), 0);
	assert_string_equal(json_string_value(json_object_get(g, "status")), "serving");
	assert_true(json_array_size(json_object_get(g, "inputs")) > 0);
	json_decref(v);
	model_unref(served[0]);
	model_unref(served[1]);
}

static void test_models_view_one_model_has_versions_and_headline_metrics(void **state)
{
	json_t *v, *m;
	bool found;
	(void)state;
	v = models_view(catalog, NULL, 0, "alpha", &found);
	assert_true(found);
	assert_int_equal(json_array_size(json_object_get(v, "versions")), 2);
	m = json_object_get(v, "metrics"); /* from the active version's catalog row: nothing serves */
	assert_true(json_real_value(json_object_get(m, "sales_r2_log")) == 0.7);
	assert_true(json_real_value(json_object_get(m, "exposure_auc")) == 0.8);
	assert_true(json_real_value(json_object_get(m, "baseline_logistic_auc")) == 0.75);
	json_decref(v);
	v = models_view(catalog, NULL, 0, "beta", &found); /* no active version: every figure null */
	assert_true(found);
	assert_true(json_is_null(json_object_get(json_object_get(v, "metrics"), "sales_r2_log")));
	assert_int_equal(json_array_size(json_object_get(v, "versions")), 0);
	json_decref(v);
	assert_null(models_view(catalog, NULL, 0, "nope", &found));
	assert_false(found);
	/* no catalog yet (database away): the served model alone */
	{
		struct model *only = named("alpha", 7);
		v = models_view(NULL, &only, 1, "alpha", &found);
		assert_true(found);
		assert_string_equal(json_string_value(json_object_get(v, "status")), "serving");
		assert_int_equal(json_integer_value(json_object_get(v, "serving_version")), 7);
		json_decref(v);
		v = models_view(NULL, NULL, 0, NULL, &found);
		assert_int_equal(json_array_size(json_object_get(v, "models")), 0);
		json_decref(v);
		model_unref(only);
	}
}

static const char *drift_status(json_t *view)
{
	return json_string_value(json_object_get(json_object_get(view, "drift"), "status"));
}

static void test_models_view_drift_says_why_there_is_none_and_counts_a_window(void **state)
{
	char *text = test_data("spec/ok_drift/input.json", NULL);
	float *w;
	struct model *plain = named("alpha", 2), *tracked;
	struct drift_tally t;
	struct encoder_value v[5];
	json_t *view, *d, *f;
	bool found;
	(void)state;
	assert_non_null(text);
	w = calloc(test_weight_count(text), sizeof *w);
	tracked = test_model_from("gamma", 3, text, w);
	/* not served, no reference */
	view = models_view(NULL, &plain, 1, "alpha", &found);
	models_view_add_drift(view, NULL, 0, 10000);
	assert_string_equal(drift_status(view), "not_loaded");
	models_view_add_drift(view, &plain, 1, 10000);
	assert_string_equal(drift_status(view), "no_reference");
	assert_int_equal(json_array_size(json_object_get(json_object_get(view, "drift"), "features")), 0);
	json_decref(view);
	/* off, then tracking with no item yet, then with two */
	view = models_view(NULL, &tracked, 1, "gamma", &found);
	models_view_add_drift(view, &tracked, 1, 0);
	assert_string_equal(drift_status(view), "off");
	models_view_add_drift(view, &tracked, 1, 100);
	d = json_object_get(view, "drift");
	assert_string_equal(drift_status(view), "tracking");
	assert_int_equal(json_integer_value(json_object_get(d, "items")), 0);
	assert_int_equal(json_integer_value(json_object_get(d, "min_values")), 100);
	assert_int_equal(json_integer_value(json_object_get(d, "reference_rows")), 500);
	f = json_array_get(json_object_get(d, "features"), 1);
	assert_string_equal(json_string_value(json_object_get(f, "name")), "weight");
	assert_true(json_is_null(json_object_get(f, "psi")) && json_is_null(json_object_get(f, "missing_rate")));
	assert_true(json_real_value(json_object_get(f, "reference_missing_rate")) == 0.25);
	drift_tally_init(&t);
	assert_true(drift_tally_begin(&t, &tracked->spec, 100, 2));
	memset(v, 0, sizeof v);
	v[0] = (struct encoder_value){.kind = ENCODER_VALUE_NUMBER, .number = 3};
	t.slots[0] = t.slots[1] = 0;
	drift_tally_add(&t, v, NULL, 0);
	drift_tally_add(&t, v, NULL, 0);
	drift_window_commit(model_drift(tracked, 100), &t);
	models_view_add_drift(view, &tracked, 1, 100);
	d = json_object_get(view, "drift");
	assert_int_equal(json_integer_value(json_object_get(d, "items")), 2);
	f = json_array_get(json_object_get(d, "features"), 1);
	assert_true(json_real_value(json_object_get(f, "missing_rate")) == 1.0);
	f = json_array_get(json_object_get(d, "features"), 2);
	assert_string_equal(json_string_value(json_object_get(f, "type")), "categorical");
	assert_true(json_real_value(json_object_get(f, "unknown_rate")) == 0.0);
	assert_true(json_is_null(json_object_get(f, "out_of_range_rate")));
	json_decref(view);
	drift_tally_done(&t);
	model_unref(tracked);
	model_unref(plain);
	free(w);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_models_view_merges_the_catalog_with_what_serves),
		cmocka_unit_test(test_models_view_one_model_has_versions_and_headline_metrics),
		cmocka_unit_test(test_models_view_drift_says_why_there_is_none_and_counts_a_window),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_models_view_merges_the_catalog_with_what_serves),
		cmocka_unit_test(test_models_view_one_model_has_versions_and_headline_metrics),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

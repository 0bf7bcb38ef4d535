/* Unit tests: route — a request path parsed once into a route and its parameters. */
#include "testutil.h"

#include "shelfcast/route.h"

/* Every fixed path, and paths that are no route (ROUTE_OTHER, no name kept) */
static void test_route_parses_every_fixed_path(void **state)
{
	static const struct {
		const char *path;
		enum route_id id;
	} cases[] = {
		{"/v1/predict", ROUTE_PREDICT}, {"/v1/models", ROUTE_MODELS},     {"/healthz", ROUTE_HEALTHZ},
		{"/readyz", ROUTE_READYZ},      {"/metrics", ROUTE_METRICS},       {"/openapi.yaml", ROUTE_OPENAPI},
		{"/v1/predict/", ROUTE_OTHER},  {"/v1/models/", ROUTE_OTHER},      {"/", ROUTE_OTHER},
		{"/healthz/x", ROUTE_OTHER},    {"/V1/PREDICT", ROUTE_OTHER},      {"", ROUTE_OTHER},
		/* under a model: an input needs a name and nothing after it; a version must be a
		 * positive int followed by /activate and nothing more */
		{"/v1/models/demo/inputs/", ROUTE_OTHER},
		{"/v1/models/demo/inputs/brand/x", ROUTE_OTHER},
		{"/v1/models/demo/versions/0/activate", ROUTE_OTHER},
		{"/v1/models/demo/versions/2147483648/activate", ROUTE_OTHER},
		{"/v1/models/demo/versions/x/activate", ROUTE_OTHER},
		{"/v1/models/demo/versions/+3/activate", ROUTE_OTHER}, /* digits only (util_parse_long) */
		{"/v1/models/demo/versions/ 3/activate", ROUTE_OTHER},
		{"/v1/models/demo/versions/3", ROUTE_OTHER},
		{"/v1/models/demo/versions/3/activate/", ROUTE_OTHER},
		{"/v1/models/demo/other", ROUTE_OTHER},
	};
	struct route_target t;
	size_t i;
	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		route_parse(cases[i].path, &t);
		if (t.id != cases[i].id)
			fail_msg("%s: route %d, expected %d", cases[i].path, t.id, cases[i].id);
		assert_string_equal(t.name, "");
	}
}

static void test_route_takes_the_model_name_and_version_from_the_path(void **state)
{
	struct route_target t;
	char long_name[MODEL_NAME_MAX + 20];
	(void)state;
	route_parse("/v1/models/demo", &t);
	assert_int_equal(t.id, ROUTE_MODEL);
	assert_string_equal(t.name, "demo");
	route_parse("/v1/models/demo/versions/12/activate", &t);
	assert_int_equal(t.id, ROUTE_ACTIVATE);
	assert_string_equal(t.name, "demo");
	assert_int_equal(t.version, 12);
	route_parse("/v1/models/demo/inputs/brand", &t);
	assert_int_equal(t.id, ROUTE_MODEL_INPUT);
	assert_string_equal(t.name, "demo");
	assert_string_equal(t.input, "brand");
	/* one byte past the longest name is still the model route (answered "does not exist") */
	memset(long_name, 'a', MODEL_NAME_MAX + 1);
	snprintf(long_name + MODEL_NAME_MAX + 1, 16, "%s", "");
	{
		char path[MODEL_NAME_MAX + 40];
		snprintf(path, sizeof path, "/v1/models/%s", long_name);
		route_parse(path, &t);
		assert_int_equal(t.id, ROUTE_MODEL);
		snprintf(path, sizeof path, "/v1/models/%sa", long_name);
		route_parse(path, &t);
		assert_int_equal(t.id, ROUTE_OTHER);
	}
}

static void test_route_methods_follow_the_table(void **state)
{
	(void)state;
	assert_true(route_allows(ROUTE_PREDICT, "POST"));
	assert_false(route_allows(ROUTE_PREDICT, "GET"));
	assert_true(route_allows(ROUTE_ACTIVATE, "POST"));
	assert_true(route_allows(ROUTE_MODELS, "GET"));
	assert_true(route_allows(ROUTE_MODELS, "HEAD"));
	assert_false(route_allows(ROUTE_MODELS, "POST"));
	assert_false(route_allows(ROUTE_HEALTHZ, "DELETE"));
	assert_false(route_allows(ROUTE_OTHER, "GET"));
	assert_true(route_takes_body(ROUTE_PREDICT, "POST"));
	assert_false(route_takes_body(ROUTE_PREDICT, "GET"));
	assert_false(route_takes_body(ROUTE_METRICS, "POST"));
	assert_string_equal(route_allow(ROUTE_PREDICT), "POST");
	assert_string_equal(route_allow(ROUTE_READYZ), "GET, HEAD");
	assert_null(route_allow(ROUTE_OTHER));
	assert_string_equal(route_label(ROUTE_ACTIVATE), "/v1/models/{name}/versions/{version}/activate");
	assert_string_equal(route_label(ROUTE_OTHER), "other");
	assert_string_equal(route_label(ROUTE_COUNT), "other");
	assert_true(route_admin(ROUTE_ACTIVATE));
	assert_true(route_admin(ROUTE_OUTCOMES));
	assert_false(route_admin(ROUTE_PREDICT));
	assert_false(route_admin(ROUTE_MODEL));
	assert_false(route_admin(ROUTE_OTHER));
	assert_false(route_admin(ROUTE_COUNT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_parses_every_fixed_path),
		cmocka_unit_test(test_route_takes_the_model_name_and_version_from_the_path),
		cmocka_unit_test(test_route_methods_follow_the_table),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

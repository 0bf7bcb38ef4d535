/* Unit tests: the model spec parser, driven by tests/data/spec/<case>/{input.json,expected}. */
#include "testutil.h"

#include <dirent.h>

/* expected: "ok", or "error <field>\n<message fragment>". */
static void run_case(const char *name)
{
	char rel[512], *input, *expected, *nl, *field, *fragment;
	struct spec spec;
	struct error err;
	size_t len = 0;
	enum error_code rc;

	snprintf(rel, sizeof rel, "spec/%s/input.json", name);
	input = test_data(rel, &len);
	snprintf(rel, sizeof rel, "spec/%s/expected", name);
	expected = test_data(rel, NULL);
	assert_non_null(input);
	assert_non_null(expected);
	error_init(&err);
	rc = spec_parse_string(input, len, &spec, &err);
	if (!strncmp(expected, "ok", 2)) {
		if (rc != ERROR_OK)
			fail_msg("case %s: expected ok, got %s", name, err.message);
		/* what is serialized parses back to the same encoding */
		{
			char *text = spec_to_string(&spec);
			struct spec again;
			assert_non_null(text);
			assert_int_equal(spec_parse_string(text, strlen(text), &again, &err), ERROR_OK);
			assert_int_equal(again.input_size, spec.input_size);
			assert_int_equal(again.n_numeric, spec.n_numeric);
			assert_int_equal(again.numeric[2].transform, spec.numeric[2].transform);
			assert_int_equal(again.has_calibration, spec.has_calibration);
			assert_true(again.interval == spec.interval && again.smearing == spec.smearing);
			assert_memory_equal(again.residual_q, spec.residual_q, sizeof spec.residual_q);
			assert_int_equal(again.has_drift, spec.has_drift);
			assert_int_equal(again.n_drift_numeric, spec.n_drift_numeric);
			assert_int_equal(again.drift_rows, spec.drift_rows);
			if (spec.has_drift) {
				size_t k;
				assert_memory_equal(again.drift_numeric, spec.drift_numeric,
						    spec.n_drift_numeric * sizeof *spec.drift_numeric);
				for (k = 0; k < spec.n_categorical; k++) {
					assert_true(again.drift_categorical[k].missing ==
						    spec.drift_categorical[k].missing);
					assert_memory_equal(again.drift_categorical[k].freq,
							    spec.drift_categorical[k].freq,
							    (spec.categorical[k].n_vocabulary + 1) * sizeof(double));
				}
			}
			spec_done(&again);
			free(text);
		}
		spec_done(&spec);
	} else {
		field = expected + strlen("error ");
		nl = strchr(field, '\n');
		assert_non_null(nl);
		*nl = '\0';
		fragment = nl + 1;
		nl = strchr(fragment, '\n');
		if (nl)
			*nl = '\0';
		if (rc == ERROR_OK)
			fail_msg("case %s: expected an error at %s, the spec parsed", name, field);
		if (strcmp(err.field, field))
			fail_msg("case %s: error field \"%s\", expected \"%s\" (%s)", name, err.field, field,
				 err.message);
		if (!strstr(err.message, fragment))
			fail_msg("case %s: message \"%s\" lacks \"%s\"", name, err.message, fragment);
		assert_int_equal(spec.n_numeric, 0); /* nothing left allocated */
	}
	free(input);
	free(expected);
}

static void test_spec_every_case_parses_or_names_its_field(void **state)
{
	const char *root = getenv("SHELFCAST_TEST_DATA");
	char dir[1024];
	struct dirent *e;
	DIR *d;
	int n = 0;
	(void)state;
	snprintf(dir, sizeof dir, "%s/spec", root ? root : "tests/data");
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		run_case(e->d_name);
		n++;
	}
	closedir(d);
	assert_true(n >= 20);
}

static void test_spec_rejects_malformed_json_with_offset(void **state)
{
	struct spec spec;
	struct error err;
	(void)state;
	error_init(&err);
	assert_int_equal(spec_parse_string("{\"format\": ", 11, &spec, &err), ERROR_PARSE);
	assert_non_null(strstr(err.message, "at byte"));
}

static void test_spec_layer_dims_follow_the_architecture(void **state)
{
	struct spec spec;
	struct error err;
	size_t dims[SPEC_MAX_HIDDEN + 2];
	(void)state;
	error_init(&err);
	assert_int_equal(spec_parse_string(TEST_SPEC, strlen(TEST_SPEC), &spec, &err), ERROR_OK);
	assert_int_equal(spec_layer_dims(&spec, dims), 4);
	assert_int_equal(dims[0], 13);
	assert_int_equal(dims[1], 8);
	assert_int_equal(dims[2], 4);
	assert_int_equal(dims[3], 2);
	assert_int_equal(spec_level_index(&spec, 2), 2);
	assert_int_equal(spec_level_index(&spec, 3), -1);
	assert_int_equal(spec.price_index, 0);
	spec_done(&spec);
}

/* migration 0001's CHECK: ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ */
static void test_model_names_follow_the_registry_rule(void **state)
{
	static const char *const good[] = {"oj", "oj.v2_a-b", "9", "A-", "x123456789012345678901234567890123456789012345678901234567890123"};
	static const char *const bad[] = {"", "a@b", ".d", "-d", "_d", "a b", "é",
					  "x1234567890123456789012345678901234567890123456789012345678901234"};
	size_t i;
	(void)state;
	for (i = 0; i < sizeof good / sizeof good[0]; i++)
		if (!model_name_valid(good[i]))
			fail_msg("refused %s", good[i]);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (model_name_valid(bad[i]))
			fail_msg("accepted %s", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_every_case_parses_or_names_its_field),
		cmocka_unit_test(test_spec_rejects_malformed_json_with_offset),
		cmocka_unit_test(test_spec_layer_dims_follow_the_architecture),
		cmocka_unit_test(test_model_names_follow_the_registry_rule),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

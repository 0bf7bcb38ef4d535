/* Unit tests: the encoder, with golden cases under tests/data/encoder/<case>/. */
#include "testutil.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>

#include "shelfcast/encoder.h"

/* The encoder of TEST_SPEC, built from the spec alone (no model, no weights). */
struct fixture {
	struct spec spec;
	struct encoder *enc; /* borrows spec */
};

static void fixture_init(struct fixture *f)
{
	struct error err;
	error_init(&err);
	assert_int_equal(spec_parse_string(TEST_SPEC, strlen(TEST_SPEC), &f->spec, &err), ERROR_OK);
	f->enc = encoder_new(&f->spec, &err);
	if (!f->enc)
		fail_msg("encoder_new: %s", err.message);
}

static void fixture_done(struct fixture *f)
{
	encoder_free(f->enc);
	spec_done(&f->spec);
}

static void run_case(const struct fixture *f, const char *name)
{
	char rel[512], *features_text, *level_text, *expected_text;
	json_t *features, *expected;
	struct encoder_value values[8];
	float out[13];
	uint32_t unknown[4];
	size_t n_unknown = 0, i;
	struct error err;
	enum error_code rc;
	int level;

	snprintf(rel, sizeof rel, "encoder/%s/features.json", name);
	features_text = test_data(rel, NULL);
	snprintf(rel, sizeof rel, "encoder/%s/level", name);
	level_text = test_data(rel, NULL);
	snprintf(rel, sizeof rel, "encoder/%s/expected.json", name);
	expected_text = test_data(rel, NULL);
	assert_non_null(features_text);
	assert_non_null(level_text);
	assert_non_null(expected_text);
	features = json_loads(features_text, 0, NULL);
	expected = json_loads(expected_text, 0, NULL);
	level = atoi(level_text);
	error_init(&err);
	rc = encoder_values_from_json(f->enc, features, values, "items[0].features", &err);
	if (!rc)
		rc = encoder_encode(f->enc, values, level, out, unknown, &n_unknown, "items[0].features", &err);
	if (json_object_get(expected, "error_field")) {
		if (rc == ERROR_OK)
			fail_msg("case %s: expected an error", name);
		assert_int_equal(rc, ERROR_INVALID);
		if (strcmp(err.field, json_string_value(json_object_get(expected, "error_field"))))
			fail_msg("case %s: field %s", name, err.field);
		if (!strstr(err.message, json_string_value(json_object_get(expected, "message"))))
			fail_msg("case %s: message %s", name, err.message);
	} else {
		json_t *vec = json_object_get(expected, "vector"), *unk = json_object_get(expected, "unknown");
		if (rc != ERROR_OK)
			fail_msg("case %s: %s", name, err.message);
		assert_int_equal(json_array_size(vec), encoder_width(f->enc));
		for (i = 0; i < json_array_size(vec); i++) {
			double want = json_number_value(json_array_get(vec, i));
			if (fabs(out[i] - want) > 1e-5 * (1 + fabs(want)))
				fail_msg("case %s: element %zu is %g, expected %g", name, i, out[i], want);
		}
		assert_int_equal(n_unknown, json_array_size(unk));
		for (i = 0; i < n_unknown; i++)
			assert_string_equal(f->spec.categorical[unknown[i]].name,
					    json_string_value(json_array_get(unk, i)));
	}
	json_decref(features);
	json_decref(expected);
	free(features_text);
	free(level_text);
	free(expected_text);
}

static void test_encoder_golden_cases_encode_or_name_their_field(void **state)
{
	struct fixture f;
	const char *root = getenv("SHELFCAST_TEST_DATA");
	char dir[1024];
	struct dirent *e;
	DIR *d;
	int n = 0;
	(void)state;
	fixture_init(&f);
	snprintf(dir, sizeof dir, "%s/encoder", root ? root : "tests/data");
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		run_case(&f, e->d_name);
		n++;
	}
	closedir(d);
	assert_true(n >= 10);
	fixture_done(&f);
}

static void test_encoder_set_level_moves_the_one_hot(void **state)
{
	struct fixture f;
	struct encoder_value v[5] = {{0}};
	float out[13];
	struct error err;
	(void)state;
	fixture_init(&f);
	error_init(&err);
	v[1].kind = ENCODER_VALUE_NUMBER;
	v[1].number = 1;
	assert_int_equal(encoder_encode(f.enc, v, 0, out, NULL, NULL, NULL, &err), ERROR_OK);
	assert_true(out[10] == 1 && out[11] == 0 && out[12] == 0);
	encoder_set_level(f.enc, out, 2);
	assert_true(out[10] == 0 && out[11] == 0 && out[12] == 1);
	assert_int_equal(encoder_encode(f.enc, v, 3, out, NULL, NULL, "row", &err), ERROR_INVALID);
	fixture_done(&f);
}

static void test_encoder_refuses_non_finite_numbers(void **state)
{
	struct fixture f;
	struct encoder_value v[5] = {{0}};
	float out[13];
	struct error err;
	(void)state;
	fixture_init(&f);
	error_init(&err);
	v[0].kind = ENCODER_VALUE_NUMBER;
	v[0].number = NAN;
	v[1].kind = ENCODER_VALUE_NUMBER;
	v[1].number = 1;
	assert_int_equal(encoder_encode(f.enc, v, 0, out, NULL, NULL, "items[3].features", &err), ERROR_INVALID);
	assert_string_equal(err.field, "items[3].features.price");
	assert_non_null(strstr(err.message, "finite"));
	fixture_done(&f);
}

/* A required categorical feature: missing (absent or null) is an error naming it; an unknown value is not. */
static void test_encoder_required_categorical(void **state)
{
	char spec_text[sizeof TEST_SPEC + 32], *at;
	struct spec spec;
	struct encoder *enc;
	struct encoder_value v[5] = {{0}};
	float out[13];
	struct error err;
	(void)state;

	/* TEST_SPEC with brand required */
	at = strstr(TEST_SPEC, "\"name\": \"brand\",");
	assert_non_null(at);
	snprintf(spec_text, sizeof spec_text, "%.*s\"required\": true, %s", (int)(at - TEST_SPEC), TEST_SPEC, at);
	error_init(&err);
	assert_int_equal(spec_parse_string(spec_text, strlen(spec_text), &spec, &err), ERROR_OK);
	assert_true(spec.categorical[0].required);
	assert_false(spec.categorical[1].required);
	enc = encoder_new(&spec, &err);
	assert_non_null(enc);
	v[1] = (struct encoder_value){.kind = ENCODER_VALUE_NUMBER, .number = 1};
	assert_int_equal(encoder_encode(enc, v, 0, out, NULL, NULL, "items[2].features", &err), ERROR_INVALID);
	assert_string_equal(err.field, "items[2].features.brand");
	assert_non_null(strstr(err.message, "required"));
	v[3] = (struct encoder_value){.kind = ENCODER_VALUE_STRING, .str = "zz", .len = 2};
	error_init(&err);
	assert_int_equal(encoder_encode(enc, v, 0, out, NULL, NULL, "items[2].features", &err), ERROR_OK);
	assert_true(out[3 + 3] == 1.0f); /* the unknown slot: brand's three words, then it */
	encoder_free(enc);
	spec_done(&spec);
	/* "required" must be a boolean */
	snprintf(spec_text, sizeof spec_text, "%.*s\"required\": 1, %s", (int)(at - TEST_SPEC), TEST_SPEC, at);
	error_init(&err);
	assert_int_equal(spec_parse_string(spec_text, strlen(spec_text), &spec, &err), ERROR_INVALID);
	assert_string_equal(err.field, "inputs.categorical[0].required");
}

/* Encode {features} with a report; the report's names joined, or the error's field. */
static void reported(const struct fixture *f, const char *features, char *out, size_t size)
{
	struct encoder_value values[8];
	uint32_t defaulted[3], clipped[3];
	struct encoder_report rep = {defaulted, 0, clipped, 0};
	json_t *j = json_loads(features, 0, NULL);
	struct error err;
	float x[13];
	size_t i, n = 0;

	error_init(&err);
	assert_non_null(j);
	if (encoder_values_from_json(f->enc, j, values, "f", &err) ||
	    encoder_encode_reported(f->enc, values, 0, x, NULL, NULL, &rep, "f", &err)) {
		snprintf(out, size, "error %s", err.field);
	} else {
		n += (size_t)snprintf(out + n, size - n, "defaulted");
		for (i = 0; i < rep.n_defaulted; i++)
			n += (size_t)snprintf(out + n, size - n, " %s", f->spec.numeric[defaulted[i]].name);
		n += (size_t)snprintf(out + n, size - n, "; clipped");
		for (i = 0; i < rep.n_clipped; i++)
			n += (size_t)snprintf(out + n, size - n, " %s", f->spec.numeric[clipped[i]].name);
	}
	json_decref(j);
}

/* defaulted and clipped name each feature once (price feeds two inputs); log inputs refuse x <= 0. */
static void test_encoder_reports_defaulted_and_clipped(void **state)
{
	static const char *const cases[][2] = {
		{"{\"weight\": 1, \"price\": 10}", "defaulted; clipped"},
		{"{\"weight\": 1}", "defaulted price; clipped"},
		{"{\"weight\": 1, \"price\": null}", "defaulted price; clipped"},
		{"{\"weight\": 1, \"price\": 500}", "defaulted; clipped price"},
		{"{\"weight\": 1, \"price\": 0.5}", "defaulted; clipped price"},
		{"{\"weight\": 1, \"price\": 0}", "error f.price"},
		{"{\"weight\": 1, \"price\": -3}", "error f.price"},
		{"{\"price\": 3}", "error f.weight"},
		{"{\"weight\": null, \"price\": 3}", "error f.weight"},
	};
	struct fixture f;
	char got[128];
	size_t i;
	(void)state;
	fixture_init(&f);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		reported(&f, cases[i][0], got, sizeof got);
		assert_string_equal(got, cases[i][1]);
	}
	fixture_done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encoder_golden_cases_encode_or_name_their_field),
		cmocka_unit_test(test_encoder_set_level_moves_the_one_hot),
		cmocka_unit_test(test_encoder_refuses_non_finite_numbers),
		cmocka_unit_test(test_encoder_required_categorical),
		cmocka_unit_test(test_encoder_reports_defaulted_and_clipped),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

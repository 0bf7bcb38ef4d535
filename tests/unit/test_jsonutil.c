/*
 * Unit tests: jsonutil, the strict readers the spec, dataset-config and
 * request parsers share.  Every refusal is ERROR_INVALID, names the field
 * path in err.field and at the start of the message, and leaves the output
 * as the caller set it.
 */
#include "testutil.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>

#include "shelfcast/jsonutil.h"

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
	if (!v)
		fail_msg("test JSON %s: %s", text, jerr.text);
	return v;
}

/* One refusal: the code, the field, the message's start (the field) and a fragment of the rest. */
static void expect_refusal(enum error_code rc, const struct error *err, const char *field,
			   const char *fragment)
{
	if (rc != ERROR_INVALID || err->code != ERROR_INVALID)
		fail_msg("%s: expected ERROR_INVALID, got %d (%s)", field, rc, err->message);
	if (strcmp(err->field, field))
		fail_msg("field \"%s\", expected \"%s\" (%s)", err->field, field, err->message);
	if (strncmp(err->message, field, strlen(field)) || err->message[strlen(field)] != ':')
		fail_msg("message \"%s\" does not start with \"%s:\"", err->message, field);
	if (!strstr(err->message, fragment))
		fail_msg("message \"%s\" lacks \"%s\"", err->message, fragment);
}

static void test_jsonutil_type_names_read_in_a_sentence(void **state)
{
	json_t *v = parse("{\"o\": {}, \"a\": [], \"s\": \"x\", \"i\": 1, \"r\": 1.5, \"t\": true, \"f\": false,"
			  " \"n\": null}");
	(void)state;
	assert_string_equal(jsonutil_type_name(json_object_get(v, "o")), "an object");
	assert_string_equal(jsonutil_type_name(json_object_get(v, "a")), "an array");
	assert_string_equal(jsonutil_type_name(json_object_get(v, "s")), "a string");
	assert_string_equal(jsonutil_type_name(json_object_get(v, "i")), "an integer");
	assert_string_equal(jsonutil_type_name(json_object_get(v, "r")), "a number");
	assert_string_equal(jsonutil_type_name(json_object_get(v, "t")), "a boolean");
	assert_string_equal(jsonutil_type_name(json_object_get(v, "f")), "a boolean");
	assert_string_equal(jsonutil_type_name(json_object_get(v, "n")), "null");
	assert_string_equal(jsonutil_type_name(NULL), "nothing");
	json_decref(v);
}

static void test_jsonutil_paths_join_keys_and_indexes(void **state)
{
	char out[JSONUTIL_PATH_MAX], inner[JSONUTIL_PATH_MAX], deep[JSONUTIL_PATH_MAX], key[300];
	(void)state;
	jsonutil_path_key(out, "", "model");
	assert_string_equal(out, "model");
	jsonutil_path_key(out, NULL, "model");
	assert_string_equal(out, "model");
	jsonutil_path_key(out, "model", "hidden");
	assert_string_equal(out, "model.hidden");
	jsonutil_path_index(inner, out, 1);
	assert_string_equal(inner, "model.hidden[1]");
	jsonutil_path_index(out, NULL, 3);
	assert_string_equal(out, "[3]");
	jsonutil_path_index(out, "items", 3);
	jsonutil_path_key(deep, out, "features");
	jsonutil_path_key(out, deep, "price");
	assert_string_equal(out, "items[3].features.price");
	/* a path longer than the buffer is cut, still terminated */
	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	jsonutil_path_key(out, "model", key);
	assert_int_equal(strlen(out), JSONUTIL_PATH_MAX - 1);
	assert_memory_equal(out, "model.kkk", 9);
	memcpy(inner, out, sizeof inner);
	jsonutil_path_index(out, inner, 7); /* from a path of the maximum length */
	assert_int_equal(strlen(out), JSONUTIL_PATH_MAX - 1);
}

static void test_jsonutil_expect_object_refuses_unknown_fields_and_other_types(void **state)
{
	static const char *const allowed[] = {"name", "mean", NULL};
	json_t *ok = parse("{\"name\": \"price\", \"mean\": 3}"), *empty = parse("{}");
	json_t *extra = parse("{\"name\": \"price\", \"maen\": 3}"), *array = parse("[1]");
	struct error err;
	(void)state;
	error_init(&err);
	assert_int_equal(jsonutil_expect_object(ok, allowed, "inputs.numeric[0]", &err), ERROR_OK);
	assert_int_equal(jsonutil_expect_object(empty, allowed, "x", &err), ERROR_OK); /* nothing is required here */
	assert_int_equal(err.code, ERROR_OK);

	expect_refusal(jsonutil_expect_object(extra, allowed, "inputs.numeric[0]", &err), &err,
		       "inputs.numeric[0].maen", "unknown field");
	error_init(&err);
	expect_refusal(jsonutil_expect_object(extra, allowed, "", &err), &err, "maen", "unknown field");
	error_init(&err);
	assert_int_equal(jsonutil_expect_object(ok, NULL, "x", &err), ERROR_INVALID); /* no list: no field allowed */
	assert_true(!strcmp(err.field, "x.name") || !strcmp(err.field, "x.mean"));
	assert_non_null(strstr(err.message, ": unknown field"));
	error_init(&err);
	expect_refusal(jsonutil_expect_object(array, allowed, "model", &err), &err, "model",
		       "expected an object, got an array");
	/* the top level has no path: the message calls it the body */
	error_init(&err);
	assert_int_equal(jsonutil_expect_object(array, allowed, "", &err), ERROR_INVALID);
	assert_string_equal(err.message, "body: expected an object, got an array");
	error_init(&err);
	assert_int_equal(jsonutil_expect_object(NULL, allowed, NULL, &err), ERROR_INVALID);
	assert_string_equal(err.message, "body: expected an object, got nothing");
	json_decref(ok);
	json_decref(empty);
	json_decref(extra);
	json_decref(array);
}

static void test_jsonutil_number_takes_integers_and_reals_only(void **state)
{
	json_t *v = parse("{\"i\": -3, \"r\": 0.25, \"big\": 9007199254740993, \"s\": \"1.5\", \"b\": true,"
			  " \"n\": null, \"a\": [1]}");
	struct error err;
	double d = 0;
	(void)state;
	error_init(&err);
	assert_int_equal(jsonutil_number(json_object_get(v, "i"), "i", &d, &err), ERROR_OK);
	assert_true(d == -3.0);
	assert_int_equal(jsonutil_number(json_object_get(v, "r"), "r", &d, &err), ERROR_OK);
	assert_true(d == 0.25);
	assert_int_equal(jsonutil_number(json_object_get(v, "big"), "big", &d, &err), ERROR_OK);
	assert_true(d == 9007199254740992.0); /* the nearest double */
	d = 42;
	expect_refusal(jsonutil_number(json_object_get(v, "s"), "s", &d, &err), &err, "s",
		       "expected a number, got a string");
	error_init(&err);
	expect_refusal(jsonutil_number(json_object_get(v, "b"), "b", &d, &err), &err, "b",
		       "expected a number, got a boolean");
	error_init(&err);
	expect_refusal(jsonutil_number(json_object_get(v, "n"), "n", &d, &err), &err, "n",
		       "expected a number, got null");
	error_init(&err);
	expect_refusal(jsonutil_number(json_object_get(v, "a"), "a", &d, &err), &err, "a",
		       "expected a number, got an array");
	error_init(&err);
	expect_refusal(jsonutil_number(NULL, "x", &d, &err), &err, "x", "expected a number, got nothing");
	assert_true(d == 42); /* refusals leave the output alone */
	json_decref(v);
}

/*
 * jsonutil_number also refuses NaN and the infinities, but jansson never
 * holds one: json_real() will not make it and the parser refuses numbers out
 * of range.  This pins the jansson behaviour the readers rely on; should it
 * change, the readers' own check is what stands between a NaN and a model.
 */
static void test_jsonutil_numbers_are_never_nan_or_infinite(void **state)
{
	json_error_t jerr;
	(void)state;
	assert_null(json_real(NAN));
	assert_null(json_real(INFINITY));
	assert_null(json_real(-INFINITY));
	assert_null(json_loads("{\"x\": 1e400}", 0, &jerr));
	assert_null(json_loads("{\"x\": NaN}", 0, &jerr));
	assert_null(json_loads("{\"x\": Infinity}", 0, &jerr));
}

static void test_jsonutil_get_number_reads_a_member_or_keeps_the_default(void **state)
{
	json_t *v = parse("{\"mean\": 2.5, \"std\": \"wide\", \"clip\": null}");
	struct error err;
	double d = -1;
	(void)state;
	error_init(&err);
	assert_int_equal(jsonutil_get_number(v, "mean", "inputs.numeric[1]", true, &d, &err), ERROR_OK);
	assert_true(d == 2.5);
	d = 7;
	assert_int_equal(jsonutil_get_number(v, "default", "inputs.numeric[1]", false, &d, &err), ERROR_OK);
	assert_true(d == 7); /* missing and optional: the default stays */
	assert_int_equal(jsonutil_get_number(v, "clip", "inputs.numeric[1]", false, &d, &err), ERROR_OK);
	assert_true(d == 7); /* null counts as missing */
	assert_int_equal(err.code, ERROR_OK);
	expect_refusal(jsonutil_get_number(v, "default", "inputs.numeric[1]", true, &d, &err), &err,
		       "inputs.numeric[1].default", "required field is missing");
	error_init(&err);
	expect_refusal(jsonutil_get_number(v, "clip", "inputs.numeric[1]", true, &d, &err), &err,
		       "inputs.numeric[1].clip", "required field is missing");
	error_init(&err);
	expect_refusal(jsonutil_get_number(v, "std", "inputs.numeric[1]", false, &d, &err), &err,
		       "inputs.numeric[1].std", "expected a number, got a string");
	error_init(&err);
	expect_refusal(jsonutil_get_number(v, "std", "", false, &d, &err), &err, "std", "got a string");
	assert_true(d == 7);
	json_decref(v);
}

static void test_jsonutil_get_int_wants_an_integer_within_bounds(void **state)
{
	json_t *v = parse("{\"lo\": 1, \"hi\": 64, \"under\": 0, \"over\": 65, \"real\": 8.0, \"text\": \"8\","
			  " \"huge\": 9223372036854775807}");
	struct error err;
	long long x = -1;
	(void)state;
	error_init(&err);
	assert_int_equal(jsonutil_get_int(v, "lo", "model", true, 1, 64, &x, &err), ERROR_OK);
	assert_int_equal(x, 1); /* the bounds are inclusive */
	assert_int_equal(jsonutil_get_int(v, "hi", "model", true, 1, 64, &x, &err), ERROR_OK);
	assert_int_equal(x, 64);
	assert_int_equal(jsonutil_get_int(v, "huge", "model", true, 0, LLONG_MAX, &x, &err), ERROR_OK);
	assert_int_equal(x, LLONG_MAX);
	x = 5;
	assert_int_equal(jsonutil_get_int(v, "epochs", "model", false, 1, 64, &x, &err), ERROR_OK);
	assert_int_equal(x, 5);
	expect_refusal(jsonutil_get_int(v, "under", "model", true, 1, 64, &x, &err), &err, "model.under",
		       "0 is out of range [1, 64]");
	error_init(&err);
	expect_refusal(jsonutil_get_int(v, "over", "model", true, 1, 64, &x, &err), &err, "model.over",
		       "65 is out of range [1, 64]");
	error_init(&err);
	expect_refusal(jsonutil_get_int(v, "real", "model", true, 1, 64, &x, &err), &err, "model.real",
		       "expected an integer, got a number");
	error_init(&err);
	expect_refusal(jsonutil_get_int(v, "text", "model", true, 1, 64, &x, &err), &err, "model.text",
		       "expected an integer, got a string");
	error_init(&err);
	expect_refusal(jsonutil_get_int(v, "epochs", "model", true, 1, 64, &x, &err), &err, "model.epochs",
		       "required field is missing");
	assert_int_equal(x, 5);
	json_decref(v);
}

static void test_jsonutil_get_bool_wants_true_or_false(void **state)
{
	json_t *v = parse("{\"yes\": true, \"no\": false, \"one\": 1, \"word\": \"true\"}");
	struct error err;
	bool b = false;
	(void)state;
	error_init(&err);
	assert_int_equal(jsonutil_get_bool(v, "yes", "model", true, &b, &err), ERROR_OK);
	assert_true(b);
	assert_int_equal(jsonutil_get_bool(v, "no", "model", true, &b, &err), ERROR_OK);
	assert_false(b);
	b = true;
	assert_int_equal(jsonutil_get_bool(v, "refit", "model", false, &b, &err), ERROR_OK);
	assert_true(b);
	expect_refusal(jsonutil_get_bool(v, "one", "model", false, &b, &err), &err, "model.one",
		       "expected a boolean, got an integer");
	error_init(&err);
	expect_refusal(jsonutil_get_bool(v, "word", "model", false, &b, &err), &err, "model.word",
		       "expected a boolean, got a string");
	error_init(&err);
	expect_refusal(jsonutil_get_bool(v, "refit", "model", true, &b, &err), &err, "model.refit",
		       "required field is missing");
	assert_true(b);
	json_decref(v);
}

static void test_jsonutil_get_string_borrows_and_refuses_nul_characters(void **state)
{
	json_t *v = parse("{\"name\": \"price\", \"n\": 3}");
	const char *s = "default";
	struct error err;
	(void)state;
	json_object_set_new(v, "nul", json_stringn("a\0b", 3));
	error_init(&err);
	assert_int_equal(jsonutil_get_string(v, "name", "inputs", true, &s, &err), ERROR_OK);
	assert_string_equal(s, "price");
	assert_ptr_equal(s, json_string_value(json_object_get(v, "name"))); /* borrowed, not copied */
	s = "default";
	assert_int_equal(jsonutil_get_string(v, "label", "inputs", false, &s, &err), ERROR_OK);
	assert_string_equal(s, "default");
	expect_refusal(jsonutil_get_string(v, "nul", "inputs", true, &s, &err), &err, "inputs.nul",
		       "contains a NUL character");
	error_init(&err);
	expect_refusal(jsonutil_get_string(v, "n", "inputs", true, &s, &err), &err, "inputs.n",
		       "expected a string, got an integer");
	error_init(&err);
	expect_refusal(jsonutil_get_string(v, "label", "inputs", true, &s, &err), &err, "inputs.label",
		       "required field is missing");
	assert_string_equal(s, "default");
	json_decref(v);
}

static void test_jsonutil_get_typed_wants_the_named_container(void **state)
{
	json_t *v = parse("{\"inputs\": {}, \"hidden\": [8, 4], \"levels\": 3}");
	json_t *out = NULL;
	struct error err;
	(void)state;
	error_init(&err);
	assert_int_equal(jsonutil_get_typed(v, "inputs", "", true, JSON_OBJECT, &out, &err), ERROR_OK);
	assert_ptr_equal(out, json_object_get(v, "inputs"));
	assert_int_equal(jsonutil_get_typed(v, "hidden", "", true, JSON_ARRAY, &out, &err), ERROR_OK);
	assert_ptr_equal(out, json_object_get(v, "hidden"));
	out = NULL;
	assert_int_equal(jsonutil_get_typed(v, "exposure", "", false, JSON_OBJECT, &out, &err), ERROR_OK);
	assert_null(out);
	expect_refusal(jsonutil_get_typed(v, "inputs", "spec", true, JSON_ARRAY, &out, &err), &err,
		       "spec.inputs", "expected an array, got an object");
	error_init(&err);
	expect_refusal(jsonutil_get_typed(v, "hidden", "spec", true, JSON_OBJECT, &out, &err), &err,
		       "spec.hidden", "expected an object, got an array");
	error_init(&err);
	expect_refusal(jsonutil_get_typed(v, "levels", "spec", false, JSON_ARRAY, &out, &err), &err,
		       "spec.levels", "expected an array, got an integer");
	error_init(&err);
	expect_refusal(jsonutil_get_typed(v, "exposure", "spec", true, JSON_OBJECT, &out, &err), &err,
		       "spec.exposure", "required field is missing");
	assert_null(out);
	json_decref(v);
}

/* Members read from something that is not an object are missing, never a crash. */
static void test_jsonutil_readers_on_a_non_object_find_nothing(void **state)
{
	json_t *a = parse("[1, 2]");
	struct error err;
	double d = 1;
	(void)state;
	error_init(&err);
	assert_int_equal(jsonutil_get_number(a, "x", "p", false, &d, &err), ERROR_OK);
	assert_true(d == 1);
	expect_refusal(jsonutil_get_number(a, "x", "p", true, &d, &err), &err, "p.x", "required field is missing");
	json_decref(a);
}

/* JSONUTIL_DISPLAY: numbers people read come out with 15 significant digits, not jansson's 17. */
static void test_jsonutil_display_flags_write_numbers_as_stored(void **state)
{
	json_t *v = json_pack("{s:f, s:f}", "auc", 0.929964, "mae", 0.1);
	char *text;
	(void)state;
	assert_non_null(v);
	text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSONUTIL_DISPLAY);
	assert_string_equal(text, "{\"auc\":0.929964,\"mae\":0.1}");
	free(text);
	json_decref(v);
}

/* jsonb writes 1e20 as 100000000000000000000: read back as the double it was, small whole numbers as integers. */
static void test_jsonutil_loadb_reads_jsonb_numbers(void **state)
{
	char text[512];
	const char *dup, *exact;
	size_t n;
	json_error_t jerr;
	json_t *j;
	(void)state;
	n = (size_t)snprintf(text, sizeof text, "{\"big\": 100000000000000000000, \"huge\": -1");
	memset(text + n, '0', 300); /* -1e300 as jsonb writes it */
	n += 300;
	n += (size_t)snprintf(text + n, sizeof text - n,
			      ", \"n\": [3, 2.0, 0.5, 9007199254740993], \"deep\": {\"level\": 2}}");
	j = json_loadb(text, n, 0, &jerr);
	assert_null(j); /* what jansson alone says of it */
	assert_non_null(strstr(jerr.text, "too big integer"));
	j = jsonutil_loadb(text, n, JSON_REJECT_DUPLICATES, &jerr);
	assert_non_null(j);
	assert_true(json_is_real(json_object_get(j, "big")));
	assert_true(json_real_value(json_object_get(j, "big")) == 1e20);
	assert_true(json_real_value(json_object_get(j, "huge")) == -1e300);
	assert_true(json_is_integer(json_array_get(json_object_get(j, "n"), 0)));
	assert_int_equal(json_integer_value(json_array_get(json_object_get(j, "n"), 1)), 2);
	assert_true(json_is_real(json_array_get(json_object_get(j, "n"), 2)));
	assert_true(json_is_real(json_array_get(json_object_get(j, "n"), 3))); /* past 2^53: not exact as a double */
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "deep"), "level")), 2);
	json_decref(j);
	j = jsonutil_loadb("7", 1, JSON_DECODE_ANY, &jerr);
	assert_true(json_is_integer(j) && json_integer_value(j) == 7);
	json_decref(j);
	dup = "{\"a\": 1, \"a\": 2}";
	assert_null(jsonutil_loadb(dup, strlen(dup), JSON_REJECT_DUPLICATES, &jerr));
	/* what jansson reads alone is read as it reads it: a seed past 2^53 exact, a real a real */
	exact = "{\"seed\": 9007199254740993, \"e\": 40.0}";
	j = jsonutil_loadb(exact, strlen(exact), 0, &jerr);
	assert_non_null(j);
	assert_true(json_is_integer(json_object_get(j, "seed")));
	assert_true(json_integer_value(json_object_get(j, "seed")) == 9007199254740993LL);
	assert_true(json_is_real(json_object_get(j, "e")));
	json_decref(j);
}

static void test_jsonutil_unsigned_zeros_drops_the_sign_of_zero(void **state)
{
	json_t *j = json_pack("{s:f, s:[f, f, i]}", "a", -0.0, "b", -0.0, -1.5, 0);
	char *s;
	(void)state;
	jsonutil_unsigned_zeros(j);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"a\":0.0,\"b\":[0.0,-1.5,0]}");
	free(s);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jsonutil_type_names_read_in_a_sentence),
		cmocka_unit_test(test_jsonutil_loadb_reads_jsonb_numbers),
		cmocka_unit_test(test_jsonutil_unsigned_zeros_drops_the_sign_of_zero),
		cmocka_unit_test(test_jsonutil_paths_join_keys_and_indexes),
		cmocka_unit_test(test_jsonutil_expect_object_refuses_unknown_fields_and_other_types),
		cmocka_unit_test(test_jsonutil_number_takes_integers_and_reals_only),
		cmocka_unit_test(test_jsonutil_numbers_are_never_nan_or_infinite),
		cmocka_unit_test(test_jsonutil_get_number_reads_a_member_or_keeps_the_default),
		cmocka_unit_test(test_jsonutil_get_int_wants_an_integer_within_bounds),
		cmocka_unit_test(test_jsonutil_get_bool_wants_true_or_false),
		cmocka_unit_test(test_jsonutil_get_string_borrows_and_refuses_nul_characters),
		cmocka_unit_test(test_jsonutil_get_typed_wants_the_named_container),
		cmocka_unit_test(test_jsonutil_readers_on_a_non_object_find_nothing),
		cmocka_unit_test(test_jsonutil_display_flags_write_numbers_as_stored),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

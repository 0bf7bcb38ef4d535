/* Unit tests: reply — error bodies, the code -> status table, and bodies taken from buffers. */
#include "testutil.h"

#include <jansson.h>

#include "shelfcast/reply.h"

static void test_reply_status_comes_from_the_error_code(void **state)
{
	static const struct {
		enum error_code code;
		unsigned status;
		const char *name;
	} cases[] = {
		{ERROR_PARSE, 400, "malformed_json"},    {ERROR_INVALID, 422, "invalid_request"},
		{ERROR_NOT_FOUND, 404, "not_found"},     {ERROR_TOO_LARGE, 413, "too_large"},
		{ERROR_UNAVAILABLE, 503, "unavailable"}, {ERROR_CONFLICT, 409, "conflict"},
		{ERROR_PERMISSION, 409, "conflict"},     {ERROR_NOMEM, 503, "overloaded"},
		{ERROR_DB, 503, "database_unavailable"}, {ERROR_IO, 500, "internal"},
		{ERROR_INTERNAL, 500, "internal"},
	};
	unsigned status;
	const char *name;
	size_t i;
	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		reply_status_of(cases[i].code, &status, &name);
		if (status != cases[i].status || strcmp(name, cases[i].name))
			fail_msg("code %d: %u %s, expected %u %s", cases[i].code, status, name,
				 cases[i].status, cases[i].name);
	}
	reply_status_of((enum error_code)999, &status, &name);
	assert_int_equal(status, 500);
	assert_string_equal(name, "internal");
}

static void test_reply_error_body_names_the_field_only_when_there_is_one(void **state)
{
	struct reply r;
	struct error err;
	(void)state;
	reply_init(&r);
	reply_error(&r, 404, "not_found", "no \"such\" route", NULL);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.content_type, "application/json");
	assert_int_equal(r.len, strlen(r.body));
	assert_string_equal(r.body, "{\"error\":{\"code\":\"not_found\",\"message\":\"no \\\"such\\\" route\"}}");
	assert_string_equal(r.error_code, "not_found");
	assert_string_equal(r.error_field, "");
	error_init(&err);
	error_set(&err, ERROR_INVALID, "items[3].features.price", "items[3].features.price: expected a number");
	reply_from_error(&r, &err); /* replaces the first reply */
	assert_int_equal(r.status, 422);
	assert_string_equal(r.body, "{\"error\":{\"code\":\"invalid_request\",\"message\":"
				    "\"items[3].features.price: expected a number\","
				    "\"field\":\"items[3].features.price\"}}");
	assert_string_equal(r.error_code, "invalid_request");
	assert_string_equal(r.error_field, "items[3].features.price");
	reply_done(&r);
	assert_int_equal(r.status, 0);
	assert_null(r.body);
}

static void test_reply_takes_buffers_and_says_overloaded_when_one_failed(void **state)
{
	struct reply r;
	struct strbuf sb;
	(void)state;
	reply_init(&r);
	strbuf_init(&sb);
	strbuf_puts(&sb, "{\"status\":\"ready\"}");
	reply_json(&r, 200, &sb);
	assert_int_equal(r.status, 200);
	assert_true(r.owned);
	assert_string_equal(r.body, "{\"status\":\"ready\"}");
	assert_null(sb.data); /* taken */
	assert_null(r.error_code);
	reply_jansson(&r, 201, json_pack("{s:i}", "a", 1));
	assert_int_equal(r.status, 201);
	assert_string_equal(r.body, "{\"a\":1}");
	reply_jansson(&r, 200, NULL); /* a document that could not be built */
	assert_int_equal(r.status, 503);
	assert_false(r.owned);
	assert_non_null(strstr(r.body, "\"overloaded\""));
	assert_string_equal(r.error_code, "overloaded");
	reply_static(&r, 200, "application/yaml", "a: 1\n", 5);
	assert_false(r.owned);
	assert_int_equal(r.len, 5);
	assert_null(r.error_code);
	reply_done(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_status_comes_from_the_error_code),
		cmocka_unit_test(test_reply_error_body_names_the_field_only_when_there_is_one),
		cmocka_unit_test(test_reply_takes_buffers_and_says_overloaded_when_one_failed),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

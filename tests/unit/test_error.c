/* Unit tests: error, the one error type every fallible function fills. */
#include "testutil.h"

static enum error_code fail_deep(struct error *err)
{
	return error_set(err, ERROR_INVALID, "items[3].price", "items[3].price: expected a number, got %s",
			 "\"abc\"");
}

/* The deepest error is the one kept: callers on the way up may set again, and change nothing. */
static void test_error_the_first_error_wins(void **state)
{
	struct error err;
	(void)state;
	error_init(&err);
	assert_int_equal(err.code, ERROR_OK);
	assert_string_equal(err.field, "");
	assert_string_equal(err.message, "");
	assert_int_equal(fail_deep(&err), ERROR_INVALID);
	assert_int_equal(error_set(&err, ERROR_INTERNAL, "items", "something failed"), ERROR_INTERNAL);
	assert_int_equal(error_nomem(&err, "a reply"), ERROR_NOMEM);
	assert_int_equal(err.code, ERROR_INVALID);
	assert_string_equal(err.field, "items[3].price");
	assert_string_equal(err.message, "items[3].price: expected a number, got \"abc\"");
	error_init(&err); /* and init starts over */
	assert_int_equal(error_nomem(&err, "a reply"), ERROR_NOMEM);
	assert_string_equal(err.message, "out of memory allocating a reply");
	assert_string_equal(err.field, "");
}

/* A NULL error struct is allowed: the code is still returned; a NULL field is stored as "". */
static void test_error_without_a_struct_only_returns_the_code(void **state)
{
	struct error err;
	(void)state;
	assert_int_equal(error_set(NULL, ERROR_NOT_FOUND, "model", "no model"), ERROR_NOT_FOUND);
	assert_int_equal(error_nomem(NULL, "x"), ERROR_NOMEM);
	error_prefix(NULL, "context");
	error_init(NULL);
	error_init(&err);
	error_set(&err, ERROR_IO, NULL, "cannot open %s", "f");
	assert_string_equal(err.field, "");
	assert_string_equal(err.message, "cannot open f");
}

/* Context added on the way up goes before the message; with no error recorded there is nothing to prefix. */
static void test_error_prefix_adds_context_before_the_message(void **state)
{
	struct error err;
	(void)state;
	error_init(&err);
	error_prefix(&err, "model %s", "demo");
	assert_int_equal(err.code, ERROR_OK);
	assert_string_equal(err.message, "");
	error_set(&err, ERROR_PARSE, "spec", "unexpected end of input");
	error_prefix(&err, "model %s version %d", "demo", 3);
	assert_string_equal(err.message, "model demo version 3: unexpected end of input");
	assert_string_equal(err.field, "spec"); /* the field is not touched */
	assert_int_equal(err.code, ERROR_PARSE);
}

/* Long fields and messages are cut to fit, always terminated. */
static void test_error_long_texts_are_truncated_not_overrun(void **state)
{
	char long_text[2000];
	struct error err;
	(void)state;
	memset(long_text, 'x', sizeof long_text - 1);
	long_text[sizeof long_text - 1] = '\0';
	error_init(&err);
	error_set(&err, ERROR_INVALID, long_text, "%s", long_text);
	assert_int_equal(strlen(err.field), ERROR_FIELD_MAX - 1);
	assert_int_equal(strlen(err.message), ERROR_MESSAGE_MAX - 1);
	error_prefix(&err, "ctx");
	assert_int_equal(strlen(err.message), ERROR_MESSAGE_MAX - 1);
	assert_memory_equal(err.message, "ctx: xxx", 8);
}

/* Every code has its own stable name (they appear in replies and logs). */
static void test_error_every_code_has_its_own_name(void **state)
{
	static const struct {
		enum error_code code;
		const char *name;
	} names[] = {
		{ERROR_OK, "ok"},
		{ERROR_INVALID, "invalid"},
		{ERROR_PARSE, "malformed"},
		{ERROR_NOT_FOUND, "not_found"},
		{ERROR_TOO_LARGE, "too_large"},
		{ERROR_UNAVAILABLE, "unavailable"},
		{ERROR_CONFLICT, "conflict"},
		{ERROR_NOMEM, "out_of_memory"},
		{ERROR_IO, "io"},
		{ERROR_DB, "database"},
		{ERROR_PERMISSION, "permission"},
		{ERROR_INTERNAL, "internal"},
	};
	size_t i;
	(void)state;
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		assert_int_equal(names[i].code, (enum error_code)i); /* the table lists every code, in order */
		assert_string_equal(error_code_name(names[i].code), names[i].name);
	}
	assert_string_equal(error_code_name((enum error_code)99), "internal"); /* not a code: a bug */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_the_first_error_wins),
		cmocka_unit_test(test_error_without_a_struct_only_returns_the_code),
		cmocka_unit_test(test_error_prefix_adds_context_before_the_message),
		cmocka_unit_test(test_error_long_texts_are_truncated_not_overrun),
		cmocka_unit_test(test_error_every_code_has_its_own_name),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests: strbuf, the growable buffer replies and log lines are built in. */
#include "testutil.h"

#include <math.h>

#include "shelfcast/strbuf.h"

static void test_strbuf_escapes_quotes_backslashes_and_control_characters(void **state)
{
	struct strbuf sb;
	(void)state;
	strbuf_init(&sb);
	strbuf_json_string(&sb, "a\"b\\c\n\x01\xc3\xa9", 9);
	assert_string_equal(sb.data, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"");
	strbuf_reset(&sb);
	strbuf_json_string(&sb, "\r\t\x1f\x7f", 4); /* DEL is printable for JSON: kept as it is */
	assert_string_equal(sb.data, "\"\\r\\t\\u001f\x7f\"");
	strbuf_done(&sb);
}

static void test_strbuf_replaces_invalid_utf8_with_u_fffd(void **state)
{
	struct strbuf sb;
	(void)state;
	strbuf_init(&sb);
	strbuf_json_string(&sb, "x\xff\xc3(y\xed\xa0\x80", 8);
	assert_string_equal(sb.data, "\"x\\ufffd\\ufffd(y\\ufffd\\ufffd\\ufffd\"");
	strbuf_done(&sb);
}

/*
 * Strings of up to 32 bytes take a short path: it must write exactly what the
 * general one does.  Each random short string is also written with 40 plain
 * bytes after it (the general path), and the two must agree.
 */
static void test_strbuf_short_strings_match_the_general_path(void **state)
{
	static const char alphabet[] = "aZ0 /\"\\\n\x01\x1f\xc3\xa9\xe2\x82\xac\xff\xed\xa0";
	uint64_t seed = 3;
	int t;
	(void)state;
	for (t = 0; t < 100000; t++) {
		char in[80];
		size_t len = test_rand(&seed) % 33, i;
		struct strbuf a, b;
		for (i = 0; i < len; i++)
			in[i] = alphabet[test_rand(&seed) % (sizeof alphabet - 1)];
		memset(in + len, 'a', 40);
		strbuf_init(&a);
		strbuf_init(&b);
		strbuf_json_string(&a, in, len);
		strbuf_json_string(&b, in, len + 40);
		/* b is a without its closing quote, then the 40 a's and the quote */
		if (b.len != a.len + 40 || memcmp(a.data, b.data, a.len - 1))
			fail_msg("%zu bytes: short path %s, general path %s", len, a.data, b.data);
		strbuf_done(&a);
		strbuf_done(&b);
	}
}

static void test_strbuf_numbers_are_valid_json(void **state)
{
	struct strbuf sb;
	(void)state;
	strbuf_init(&sb);
	strbuf_json_double(&sb, NAN, 7);
	strbuf_putc(&sb, ' ');
	strbuf_json_double(&sb, INFINITY, 7);
	strbuf_putc(&sb, ' ');
	strbuf_json_double(&sb, -0.0, 7);
	strbuf_putc(&sb, ' ');
	strbuf_json_double(&sb, 4210.5, 7);
	strbuf_putc(&sb, ' ');
	strbuf_json_double(&sb, 1.0 / 3.0, 3);
	strbuf_putc(&sb, ' ');
	strbuf_json_int(&sb, -9223372036854775807LL - 1);
	assert_string_equal(sb.data, "null null 0 4210.5 0.333 -9223372036854775808");
	assert_int_equal(sb.len, strlen(sb.data));
	strbuf_done(&sb);
}

static void test_strbuf_printf_grows_past_its_first_guess(void **state)
{
	struct strbuf sb;
	char big[1000];
	(void)state;
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	strbuf_init(&sb);
	strbuf_puts(&sb, "<");
	strbuf_printf(&sb, "%s-%d", big, 42);
	assert_int_equal(sb.len, 1003);
	assert_int_equal(sb.data[0], '<');
	assert_string_equal(sb.data + 1000, "-42");
	strbuf_done(&sb);
}

/* reset keeps the memory and forgets the text; steal hands the text over and leaves the buffer empty. */
static void test_strbuf_reset_forgets_and_steal_hands_over(void **state)
{
	struct strbuf sb;
	char *p, *kept;
	(void)state;
	strbuf_init(&sb);
	p = strbuf_steal(&sb); /* nothing appended yet: an empty string, not NULL */
	assert_non_null(p);
	assert_string_equal(p, "");
	free(p);
	strbuf_puts(&sb, "hello");
	kept = sb.data;
	strbuf_reset(&sb);
	assert_int_equal(sb.len, 0);
	assert_string_equal(sb.data, "");
	assert_ptr_equal(sb.data, kept);
	strbuf_append(&sb, "ab\0c", 4); /* bytes, not a C string */
	assert_int_equal(sb.len, 4);
	assert_memory_equal(sb.data, "ab\0c", 5);
	p = strbuf_steal(&sb);
	assert_memory_equal(p, "ab\0c", 5);
	assert_null(sb.data);
	assert_int_equal(sb.len, 0);
	assert_false(strbuf_failed(&sb));
	free(p);
	strbuf_done(&sb);
	strbuf_done(&sb); /* done twice is fine */
}

/* A growth that cannot happen fails once and for all: later appends do nothing, steal gives NULL. */
static void test_strbuf_failure_is_sticky(void **state)
{
	struct strbuf sb;
	(void)state;
	strbuf_init(&sb);
	strbuf_puts(&sb, "before");
	assert_false(strbuf_reserve(&sb, SIZE_MAX - 3));
	assert_true(strbuf_failed(&sb));
	strbuf_puts(&sb, "after");
	strbuf_putc(&sb, '!');
	strbuf_printf(&sb, "%d", 7);
	strbuf_json_int(&sb, 7);
	assert_int_equal(sb.len, 6);
	assert_string_equal(sb.data, "before");
	assert_false(strbuf_reserve(&sb, 1)); /* even a byte: the failure is sticky */
	assert_null(strbuf_steal(&sb));
	assert_null(sb.data);
	strbuf_done(&sb);

	/* a string too long to escape in the worst case fails the same way, without reading it */
	strbuf_init(&sb);
	strbuf_json_string(&sb, "", SIZE_MAX / 4);
	assert_true(strbuf_failed(&sb));
	strbuf_done(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strbuf_escapes_quotes_backslashes_and_control_characters),
		cmocka_unit_test(test_strbuf_replaces_invalid_utf8_with_u_fffd),
		cmocka_unit_test(test_strbuf_short_strings_match_the_general_path),
		cmocka_unit_test(test_strbuf_numbers_are_valid_json),
		cmocka_unit_test(test_strbuf_printf_grows_past_its_first_guess),
		cmocka_unit_test(test_strbuf_reset_forgets_and_steal_hands_over),
		cmocka_unit_test(test_strbuf_failure_is_sticky),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

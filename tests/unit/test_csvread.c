/* Unit tests: csvread, RFC 4180 CSV reading. */
#include "testutil.h"

#include "shelfcast/csvread.h"

struct rows {
	char fields[16][8][64];
	size_t n[16], line[16];
	size_t count;
};

static enum error_code keep(void *ctx, const struct csvread_row *row, struct error *err)
{
	struct rows *r = ctx;
	size_t i;
	(void)err;
	for (i = 0; i < row->n && i < 8; i++)
		snprintf(r->fields[r->count][i], 64, "%s", row->fields[i]);
	r->n[r->count] = row->n;
	r->line[r->count] = row->line;
	r->count++;
	return ERROR_OK;
}

/* len bytes of text (NULs and all) read into r; with checksum, the file's sha256. */
static enum error_code read_bytes(const char *text, size_t len, struct rows *r, char checksum[65], struct error *err)
{
	FILE *f = fmemopen((void *)text, len, "r");
	enum error_code rc;
	memset(r, 0, sizeof *r);
	rc = csvread_stream(f, "test.csv", keep, keep, r, checksum, err);
	fclose(f);
	return rc;
}

static enum error_code read_string(const char *text, struct rows *r, struct error *err)
{
	return read_bytes(text, strlen(text), r, NULL, err);
}

static void test_csvread_handles_quotes_commas_newlines_and_crlf(void **state)
{
	struct rows r;
	struct error err;
	(void)state;
	error_init(&err);
	assert_int_equal(read_string("a,b,c\r\n\"x,1\",\"he said \"\"hi\"\"\",\"two\nlines\"\r\n4,,6\r\n", &r, &err), ERROR_OK);
	assert_int_equal(r.count, 3);
	assert_string_equal(r.fields[1][0], "x,1");
	assert_string_equal(r.fields[1][1], "he said \"hi\"");
	assert_string_equal(r.fields[1][2], "two\nlines");
	assert_string_equal(r.fields[2][1], "");
	assert_int_equal(r.line[1], 2);
	assert_int_equal(r.line[2], 4); /* the quoted newline took a physical line */
}

static void test_csvread_ragged_rows_and_bad_quotes_name_the_line(void **state)
{
	struct rows r;
	struct error err;
	(void)state;
	error_init(&err);
	assert_int_equal(read_string("a,b\n1,2\n3\n", &r, &err), ERROR_INVALID);
	assert_non_null(strstr(err.message, "line 3"));
	assert_non_null(strstr(err.message, "1 fields, but the header has 2"));
	error_init(&err);
	assert_int_equal(read_string("a,b\n1,\"2\n", &r, &err), ERROR_INVALID);
	assert_non_null(strstr(err.message, "line 2"));
	error_init(&err);
	assert_int_equal(read_string("a,b\n1,x\"y\"\n", &r, &err), ERROR_INVALID);
	assert_non_null(strstr(err.message, "malformed CSV"));
	error_init(&err);
	assert_int_equal(read_string("", &r, &err), ERROR_INVALID);
	assert_non_null(strstr(err.message, "empty"));
}

static void test_csvread_refuses_nul_bytes_and_skips_a_byte_order_mark(void **state)
{
	static const char nul_cell[] = "a,b\n1.5\0junk,2\n", nul_header[] = "a\0zz,b\n1,2\n",
			  bom[] = "\xef\xbb\xbfprice,b\n1,2\n", plain[] = "price,b\n1,2\n";
	char with_bom[65], without[65];
	struct rows r;
	struct error err;
	(void)state;
	error_init(&err);
	assert_int_equal(read_bytes(nul_cell, sizeof nul_cell - 1, &r, NULL, &err), ERROR_INVALID);
	assert_non_null(strstr(err.message, "line 2, column 1 (a): a NUL byte"));
	error_init(&err);
	assert_int_equal(read_bytes(nul_header, sizeof nul_header - 1, &r, NULL, &err), ERROR_INVALID);
	assert_non_null(strstr(err.message, "line 1, column 1: a NUL byte"));
	error_init(&err);
	assert_int_equal(read_bytes(bom, sizeof bom - 1, &r, with_bom, &err), ERROR_OK);
	assert_string_equal(r.fields[0][0], "price");
	assert_string_equal(r.fields[1][0], "1");
	/* the checksum is the file's bytes, the mark among them */
	assert_int_equal(read_bytes(plain, sizeof plain - 1, &r, without, &err), ERROR_OK);
	assert_string_not_equal(with_bom, without);
	error_init(&err);
	assert_int_equal(read_string("a,b,a\n1,2,3\n", &r, &err), ERROR_INVALID);
	assert_non_null(strstr(err.message, "the header names column \"a\" twice (columns 1 and 3)"));
	/* only at the start of the file */
	assert_int_equal(read_string("a,b\n\xef\xbb\xbfx,2\n", &r, &err), ERROR_OK);
	assert_string_equal(r.fields[1][0], "\xef\xbb\xbfx");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csvread_handles_quotes_commas_newlines_and_crlf),
		cmocka_unit_test(test_csvread_ragged_rows_and_bad_quotes_name_the_line),
		cmocka_unit_test(test_csvread_refuses_nul_bytes_and_skips_a_byte_order_mark),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

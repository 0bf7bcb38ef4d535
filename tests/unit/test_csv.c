/* Unit tests: RFC 4180 CSV reading and the table loader's cleaning and errors. */
#include "testutil.h"

#include <math.h>

#include "shelfcast/csvread.h"
#include "shelfcast/table.h"

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

static enum error_code read_string(const char *text, struct rows *r, struct error *err)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	enum error_code rc;
	memset(r, 0, sizeof *r);
	rc = csvread_stream(f, "test.csv", keep, keep, r, NULL, err);
	fclose(f);
	return rc;
}

static void test_quotes_commas_newlines_and_crlf(void **state)
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

static void test_ragged_rows_and_bad_quotes_name_the_line(void **state)
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

static enum error_code load(const char *text, struct table *t, struct error *err)
{
	static const struct spec_level levels[2] = {{0, 0, 0}, {1, 0.1, 0}};
	const struct table_colspec cols[] = {
		{"price", TABLE_NUMBER, false, false, false},
		{"brand", TABLE_CATEGORY, false, false, false},
		{"units", TABLE_NUMBER, false, true, false},
		{"featured", TABLE_LABEL01, false, false, true},
		{"level", TABLE_LEVEL, false, false, true},
	};
	struct table_options opt = {levels, 2, true, 3};
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	enum error_code rc = table_load(f, "t.csv", cols, 5, &opt, t, err);
	fclose(f);
	return rc;
}

static void test_cleaning_counts_every_dropped_row(void **state)
{
	struct table t;
	struct error err;
	(void)state;
	error_init(&err);
	assert_int_equal(load("price,brand,units,featured,level,extra\n"
			      "1.5,a,10,1,0,x\n"
			      "1.5,a,10,1,0,x\n"    /* duplicate */
			      "1.5,a,10,1,0,y\n"    /* not a duplicate: another column differs */
			      "2,b,,0,1,x\n"        /* target missing */
			      "2,b,-1,0,1,x\n"      /* target negative */
			      "2,b,inf,0,1,x\n"     /* target not finite */
			      "2,b,3,,1,x\n"        /* exposure missing */
			      ",c,4,0,,x\n"         /* level missing */
			      "nan,,5,0,1,x\n",     /* a NaN feature is a missing value */
			      &t, &err), ERROR_OK);
	assert_int_equal(t.stats.rows_read, 9);
	assert_int_equal(t.stats.duplicates, 1);
	assert_int_equal(t.stats.target_missing, 1);
	assert_int_equal(t.stats.target_negative, 1);
	assert_int_equal(t.stats.target_nonfinite, 1);
	assert_int_equal(t.stats.missing_required, 2);
	assert_int_equal(t.stats.nonfinite_values, 1);
	assert_int_equal(t.n_rows, 3);
	assert_true(isnan(t.cols[0].num[2]));
	assert_int_equal(t.cols[1].id[2], -1);
	assert_int_equal(t.cols[4].id[0], 0);
	table_done(&t);
}

static void test_bad_cells_are_errors_with_line_and_column(void **state)
{
	struct table t;
	struct error err;
	(void)state;
	error_init(&err);
	assert_int_equal(load("price,brand,units,featured,level\n1,a,2,1,0\nabc,a,2,1,0\n", &t, &err), ERROR_INVALID);
	assert_non_null(strstr(err.message, "line 3, column 1 (price): expected a number, got \"abc\""));
	error_init(&err);
	assert_int_equal(load("price,brand,units,featured,level\n1,a,2,2,0\n", &t, &err), ERROR_INVALID);
	assert_non_null(strstr(err.message, "must be 0 or 1"));
	error_init(&err);
	assert_int_equal(load("price,brand,units,featured,level\n1,a,2,1,7\n", &t, &err), ERROR_INVALID);
	assert_non_null(strstr(err.message, "not one of the configured promotion levels"));
	error_init(&err);
	assert_int_equal(load("price,brand,units,featured\n1,a,2,1\n", &t, &err), ERROR_INVALID);
	assert_non_null(strstr(err.message, "has no column \"level\""));
	error_init(&err);
	assert_int_equal(load("price,brand,units,featured,level\n1,a,2,1,0\n1,b,2,1,0\n1,c,2,1,0\n1,d,2,1,0\n",
			      &t, &err), ERROR_INVALID);
	assert_non_null(strstr(err.message, "more than 3 distinct values"));
	error_init(&err);
	assert_int_equal(load("price,brand,brand,units,featured,level\n", &t, &err), ERROR_INVALID);
	assert_non_null(strstr(err.message, "twice"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quotes_commas_newlines_and_crlf),
		cmocka_unit_test(test_ragged_rows_and_bad_quotes_name_the_line),
		cmocka_unit_test(test_cleaning_counts_every_dropped_row),
		cmocka_unit_test(test_bad_cells_are_errors_with_line_and_column),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

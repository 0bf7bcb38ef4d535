/* Unit tests: table, the CSV loader's typed columns, cleaning and errors. */
#include "testutil.h"

#include <math.h>

#include "shelfcast/table.h"

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

static void test_table_cleaning_counts_every_dropped_row(void **state)
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

static void test_table_bad_cells_are_errors_with_line_and_column(void **state)
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

static const char DUPS[] = "price,brand,units,featured,level\n"
			   "1,a,1,1,0\n2,a,1,1,0\n1,a,1,1,0\n3,b,2,0,1\n2,a,1,1,0\n"
			   "4,b,2,0,1\n1,a,1,1,0\n5,c,,0,1\n5,c,,0,1\n3,b,2,0,1\n";

struct chunks {
	size_t calls, rows, max_seen;
	double price_sum;
};

static enum error_code on_chunk(void *ctx, const struct table *t, size_t first, struct error *err)
{
	struct chunks *c = ctx;
	size_t r;
	(void)err;
	assert_int_equal(first, c->rows);
	c->calls++;
	c->rows += t->n_rows;
	c->max_seen = t->n_rows > c->max_seen ? t->n_rows : c->max_seen;
	for (r = 0; r < t->n_rows; r++)
		c->price_sum += t->cols[0].num[r];
	return ERROR_OK;
}

/* table_stream drops what table_load drops, with the duplicates found in partitions or by the index. */
static void test_table_stream_cleans_as_load_does_with_duplicates_found_in_partitions(void **state)
{
	static const struct spec_level levels[2] = {{0, 0, 0}, {1, 0.1, 0}};
	const struct table_colspec cols[] = {
		{"price", TABLE_NUMBER, false, false, false},
		{"brand", TABLE_IGNORE, false, false, false},
		{"units", TABLE_NUMBER, false, true, false},
		{"featured", TABLE_LABEL01, false, false, true},
		{"level", TABLE_LEVEL, false, false, true},
	};
	struct table_options opt = {levels, 2, true, 3};
	size_t max_rows;
	struct error err;
	(void)state;

	error_init(&err);
	for (max_rows = 0; max_rows <= 3; max_rows++) { /* 0: the index while streaming */
		struct table_dups d = {0};
		struct chunks c = {0};
		struct table t;
		FILE *f = fmemopen((void *)DUPS, strlen(DUPS), "r");
		if (max_rows)
			assert_int_equal(table_find_duplicates(f, "t.csv", max_rows, &d, &err), ERROR_OK);
		rewind(f);
		assert_int_equal(table_stream(f, "t.csv", cols, 5, &opt, 2, &d, on_chunk, &c, &t, &err),
				 ERROR_OK);
		assert_int_equal(t.stats.rows_read, 10);
		assert_int_equal(t.stats.duplicates, 5);
		assert_int_equal(t.stats.target_missing, 1);
		assert_int_equal(t.stats.rows_kept, 4);
		assert_int_equal(c.rows, 4);
		assert_int_equal(c.max_seen, 2);
		assert_true(c.price_sum == 1 + 2 + 3 + 4);
		assert_true(d.known);
		table_done(&t);
		free(d.bits);
		fclose(f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_cleaning_counts_every_dropped_row),
		cmocka_unit_test(test_table_bad_cells_are_errors_with_line_and_column),
		cmocka_unit_test(test_table_stream_cleans_as_load_does_with_duplicates_found_in_partitions),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

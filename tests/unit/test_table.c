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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_cleaning_counts_every_dropped_row),
		cmocka_unit_test(test_table_bad_cells_are_errors_with_line_and_column),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

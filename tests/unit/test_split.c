/* Unit tests: the train / validation / test split. */
#include "traintable.h"

#include "shelfcast/rng.h"
#include "shelfcast/split.h"

/* 20 rows, week 1..20; columns the config needs and nothing more. */
static char *csv_of_weeks(size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	int w;
	fprintf(f, "week,price,units,featured,level\n");
	for (w = 1; w <= 20; w++)
		fprintf(f, "%d,%d.5,%d,%d,%d\n", w, w, w % 7, w % 2, w % 2);
	fclose(f);
	return buf;
}

static const char CONFIG[] =
	"{\"name\": \"s\", \"features\": {\"numeric\": [\"price\"]},"
	" \"target\": {\"column\": \"units\"}, \"exposure\": {\"column\": \"featured\"},"
	" \"promotion\": {\"column\": \"level\", \"price_column\": \"price\","
	"   \"levels\": [{\"level\": 0, \"discount\": 0}, {\"level\": 1, \"discount\": 0.1}]},"
	" \"split\": %s, \"model\": {\"validation_fraction\": 0.25%s}}";

static void load(const char *split, const char *model_extra, struct dataset_config *cfg,
		 struct table *t)
{
	char text[1024], *csv;
	size_t len;
	snprintf(text, sizeof text, CONFIG, split, model_extra);
	csv = csv_of_weeks(&len);
	traintable_load(text, csv, len, cfg, t);
	free(csv);
}

static void test_split_by_week_tests_the_latest_and_validates_on_the_latest_training_weeks(void **state)
{
	struct dataset_config cfg;
	struct table t;
	struct split s;
	struct error err;
	size_t i;
	(void)state;
	load("{\"column\": \"week\", \"test_from\": 17}", "", &cfg, &t);
	error_init(&err);
	assert_int_equal(split_make(&cfg, &t, table_column(&t, "week"), &s, &err), ERROR_OK);
	/* weeks 17..20 test; 1..16 train, of which the latest 4 (13..16) validate */
	assert_int_equal(s.n_test, 4);
	assert_int_equal(s.n_all_train, 16);
	assert_int_equal(s.n_valid, 4);
	assert_int_equal(s.n_train, 12);
	for (i = 0; i < s.n_test; i++)
		assert_int_equal(s.test[i], 16 + i);
	for (i = 0; i < s.n_valid; i++)
		assert_int_equal(s.valid[i], 12 + i);
	for (i = 0; i < s.n_train; i++)
		assert_int_equal(s.train[i], i);
	split_done(&s);
	split_done(NULL);
	table_done(&t);
	dataset_config_done(&cfg);
}

/* model.recent_weight: the latest recent_fraction of train and of all_train, repeated in their fit lists. */
static void test_split_repeats_the_latest_rows_for_recency_weighting(void **state)
{
	struct dataset_config cfg;
	struct table t;
	struct split s;
	struct error err;
	size_t i;
	(void)state;
	load("{\"column\": \"week\", \"test_from\": 17}", ", \"recent_fraction\": 0.25, \"recent_weight\": 3",
	     &cfg, &t);
	error_init(&err);
	assert_int_equal(split_make(&cfg, &t, table_column(&t, "week"), &s, &err), ERROR_OK);
	/* train: weeks 1..12 (rows 0..11), its latest 3 rows twice more; all_train: rows 0..15, its latest 4 twice more */
	assert_int_equal(s.n_train, 12);
	assert_int_equal(s.n_fit_train, 12 + 2 * 3);
	assert_memory_equal(s.fit_train, s.train, s.n_train * sizeof *s.train);
	for (i = 12; i < s.n_fit_train; i++)
		assert_int_equal(s.fit_train[i], 9 + (i - 12) % 3);
	assert_int_equal(s.n_fit_all, 16 + 2 * 4);
	assert_memory_equal(s.fit_all, s.all_train, s.n_all_train * sizeof *s.all_train);
	for (i = 16; i < s.n_fit_all; i++)
		assert_int_equal(s.fit_all[i], 12 + (i - 16) % 4);
	split_done(&s);
	table_done(&t);
	dataset_config_done(&cfg);

	load("{\"column\": \"week\", \"test_from\": 17}", "", &cfg, &t);
	assert_int_equal(split_make(&cfg, &t, table_column(&t, "week"), &s, &err), ERROR_OK);
	assert_null(s.fit_train); /* off: the epochs run over train and all_train */
	assert_null(s.fit_all);
	split_done(&s);
	table_done(&t);
	dataset_config_done(&cfg);
}

/* model.calibration_fraction: the latest share of all_train calibrates; the networks that do train on the rest. */
static void test_split_carves_the_calibration_window_from_the_latest_training_rows(void **state)
{
	struct dataset_config cfg;
	struct table t;
	struct split s;
	struct error err;
	size_t i;
	(void)state;
	load("{\"column\": \"week\", \"test_from\": 17}", ", \"calibration_fraction\": 0.4", &cfg, &t);
	error_init(&err);
	assert_int_equal(split_make(&cfg, &t, table_column(&t, "week"), &s, &err), ERROR_OK);
	/* all_train: weeks 1..16; ceil(0.4 * 16) = 7 calibrate (weeks 10..16), the validation slice among them */
	assert_int_equal(s.n_cal, 7);
	assert_int_equal(s.n_cal_train, 9);
	for (i = 0; i < s.n_cal; i++)
		assert_int_equal(s.cal[i], 9 + i);
	for (i = 0; i < s.n_cal_train; i++)
		assert_int_equal(s.cal_train[i], i);
	assert_null(s.fit_cal);
	split_done(&s);
	table_done(&t);
	dataset_config_done(&cfg);
}

static void test_split_by_fraction_is_seeded_and_covers_every_row_once(void **state)
{
	struct dataset_config cfg;
	struct table t;
	struct split a, b;
	struct error err;
	int seen[20] = {0};
	size_t i;
	(void)state;
	load("{\"fraction\": 0.25, \"seed\": 5}", ", \"validation\": \"random\"", &cfg, &t);
	error_init(&err);
	assert_int_equal(split_make(&cfg, &t, -1, &a, &err), ERROR_OK);
	assert_int_equal(split_make(&cfg, &t, -1, &b, &err), ERROR_OK);
	assert_int_equal(a.n_test, 5);
	assert_memory_equal(a.test, b.test, a.n_test * sizeof *a.test);
	assert_memory_equal(a.valid, b.valid, a.n_valid * sizeof *a.valid);
	for (i = 0; i < a.n_test; i++)
		seen[a.test[i]]++;
	for (i = 0; i < a.n_train; i++)
		seen[a.train[i]]++;
	for (i = 0; i < a.n_valid; i++)
		seen[a.valid[i]]++;
	for (i = 0; i < 20; i++)
		assert_int_equal(seen[i], 1);
	for (i = 1; i < a.n_test; i++) /* row order kept inside the part */
		assert_true(a.test[i - 1] < a.test[i]);
	split_done(&a);
	split_done(&b);
	table_done(&t);
	dataset_config_done(&cfg);
}

/* The test part: the first ceil(fraction * n) rows of split.seed's permutation, in row order. */
static void test_split_by_fraction_tests_the_seeded_permutations_first_rows_in_row_order(void **state)
{
	struct dataset_config cfg;
	struct table t;
	struct split s;
	struct error err;
	struct rng r = {5 ^ 0x5eed5eedULL};
	size_t perm[20], i, k = 0;
	bool is_test[20] = {false};
	(void)state;
	load("{\"fraction\": 0.25, \"seed\": 5}", "", &cfg, &t);
	error_init(&err);
	assert_int_equal(split_make(&cfg, &t, -1, &s, &err), ERROR_OK);
	for (i = 0; i < 20; i++)
		perm[i] = i;
	rng_shuffle(&r, perm, 20);
	for (i = 0; i < 5; i++)
		is_test[perm[i]] = true;
	assert_int_equal(s.n_test, 5);
	assert_int_equal(s.n_all_train, 15);
	for (i = 0; i < 20; i++)
		if (is_test[i])
			assert_int_equal(s.test[k++], i);
	for (i = 0, k = 0; i < 20; i++)
		if (!is_test[i])
			assert_int_equal(s.all_train[k++], i);
	split_done(&s);
	table_done(&t);
	dataset_config_done(&cfg);
}

static void test_split_with_no_row_past_test_from_names_the_field(void **state)
{
	struct dataset_config cfg;
	struct table t;
	struct split s;
	struct error err;
	(void)state;
	load("{\"column\": \"week\", \"test_from\": 99}", "", &cfg, &t);
	error_init(&err);
	assert_int_equal(split_make(&cfg, &t, table_column(&t, "week"), &s, &err), ERROR_INVALID);
	assert_string_equal(err.field, "split.test_from");
	assert_null(s.test);
	table_done(&t);
	dataset_config_done(&cfg);
}

static void test_split_with_one_training_row_is_refused(void **state)
{
	struct dataset_config cfg;
	struct table t;
	struct split s;
	struct error err;
	(void)state;
	load("{\"column\": \"week\", \"test_from\": 2}", "", &cfg, &t);
	error_init(&err);
	assert_int_equal(split_make(&cfg, &t, table_column(&t, "week"), &s, &err), ERROR_INVALID);
	assert_string_equal(err.field, "split");
	table_done(&t);
	dataset_config_done(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_by_week_tests_the_latest_and_validates_on_the_latest_training_weeks),
		cmocka_unit_test(test_split_repeats_the_latest_rows_for_recency_weighting),
		cmocka_unit_test(test_split_carves_the_calibration_window_from_the_latest_training_rows),
		cmocka_unit_test(test_split_by_fraction_is_seeded_and_covers_every_row_once),
		cmocka_unit_test(test_split_by_fraction_tests_the_seeded_permutations_first_rows_in_row_order),
		cmocka_unit_test(test_split_with_no_row_past_test_from_names_the_field),
		cmocka_unit_test(test_split_with_one_training_row_is_refused),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests: the streaming export against the in-memory trainer.  The same
 * config on the same CSV must give the same parts (row for row) as
 * split_make and the same encoder statistics as fit_spec: the winsorizing
 * bounds and vocabularies exactly, means and deviations to 1e-12 (Welford
 * in row order against sums over sorted values).
 */
#include "traintable.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shelfcast/encoder.h"
#include "shelfcast/export.h"
#include "shelfcast/fit.h"
#include "shelfcast/rng.h"
#include "shelfcast/safetensors.h"
#include "shelfcast/split.h"
#include "shelfcast/tails.h"
#include "shelfcast/util.h"

static const char *const BRANDS[] = {"Acme", "Borealis", "Cobalt", "Dune", "Ember", "Fjord",
				     "Gale", "Harbor", "rare1", "rare2"};

/*
 * n rows with what cleaning drops (duplicates, negative and missing
 * targets, missing levels), missing and non-positive prices, rare brands
 * and a week column with ties.
 */
static char *make_csv(size_t n, uint64_t seed, size_t *len)
{
	char *buf = NULL, line[256] = "";
	FILE *f = open_memstream(&buf, len);
	struct rng r = {seed};
	size_t i;

	fprintf(f, "item_id,brand,price,weight_kg,level,units,featured,week\n");
	for (i = 0; i < n; i++) {
		double u = rng_uniform(&r);
		int b = (int)(rng_uniform(&r) * 8), week = 1 + (int)(rng_uniform(&r) * 30);
		char price[32], units[32], level[8];
		if (u < 0.01)
			b = 8 + (int)(rng_uniform(&r) * 2); /* fewer than min_count */
		if (rng_uniform(&r) < 0.02 && line[0]) { /* a duplicate of the previous row */
			fputs(line, f);
			continue;
		}
		u = rng_uniform(&r);
		if (u < 0.03)
			snprintf(price, sizeof price, "%s", "");
		else if (u < 0.05)
			snprintf(price, sizeof price, "%s", "0");
		else
			snprintf(price, sizeof price, "%.3f", exp(3 * rng_uniform(&r)));
		u = rng_uniform(&r);
		if (u < 0.01)
			snprintf(units, sizeof units, "%s", "");
		else if (u < 0.02)
			snprintf(units, sizeof units, "%s", "-3");
		else
			snprintf(units, sizeof units, "%d", (int)(40 * rng_uniform(&r)));
		snprintf(level, sizeof level, "%s", rng_uniform(&r) < 0.01 ? "" : rng_uniform(&r) < 0.5 ? "0" : "1");
		snprintf(line, sizeof line, "it%zu,%s,%s,%.2f,%s,%s,%d,%d\n", i, BRANDS[b], price,
			 rng_uniform(&r) < 0.05 ? NAN : 10 * rng_uniform(&r), level, units,
			 rng_uniform(&r) < 0.4, week);
		/* printf of NAN gives "nan": make it missing */
		{
			char *p = strstr(line, ",nan,");
			if (p)
				memmove(p + 1, p + 4, strlen(p + 4) + 1);
		}
		fputs(line, f);
	}
	fclose(f);
	return buf;
}

static const char CONFIG[] =
	"{\"name\": \"x\", \"id_column\": \"item_id\","
	" \"features\": {\"numeric\": [\"price\", \"weight_kg\", \"week\"], \"log\": [\"price\"],"
	"   \"categorical\": [\"brand\"]},"
	" \"target\": {\"column\": \"units\"}, \"exposure\": {\"column\": \"featured\"},"
	" \"promotion\": {\"column\": \"level\", \"price_column\": \"price\","
	"   \"levels\": [{\"level\": 0, \"discount\": 0}, {\"level\": 1, \"discount\": 0.1}]},"
	" \"split\": %s, \"model\": {\"hidden\": [8]%s}, \"cleaning\": {\"winsorize\": %s}}";

struct parts {
	size_t *rows[EXPORT_PARTS];
	size_t n[EXPORT_PARTS];
	json_t *manifest;
	struct spec spec;
};

static enum export_part part_named(const char *s)
{
	return !strcmp(s, "train") ? EXPORT_TRAIN : !strcmp(s, "validation") ? EXPORT_VALIDATION : EXPORT_TEST;
}

/* Read back every shard the manifest lists: the row numbers of each part. */
static void read_parts(const char *dir, struct parts *p)
{
	char path[512], *bytes, *text;
	size_t len, i, k, j;
	json_t *shard;
	struct error err;

	error_init(&err);
	snprintf(path, sizeof path, "%s/manifest.json", dir);
	p->manifest = json_load_file(path, 0, NULL);
	assert_non_null(p->manifest);
	snprintf(path, sizeof path, "%s/spec.json", dir);
	assert_int_equal(util_read_file(path, 1 << 24, &text, &len, &err), ERROR_OK);
	assert_int_equal(spec_parse_string(text, len, &p->spec, &err), ERROR_OK);
	free(text);
	json_array_foreach(json_object_get(p->manifest, "shards"), i, shard) {
		struct safetensors st;
		enum export_part part = part_named(json_string_value(json_object_get(shard, "part")));
		snprintf(path, sizeof path, "%s/%s", dir, json_string_value(json_object_get(shard, "file")));
		assert_int_equal(util_read_file(path, 1 << 28, &bytes, &len, &err), ERROR_OK);
		if (safetensors_parse((const uint8_t *)bytes, len, &st, &err) != ERROR_OK)
			fail_msg("%s: %s", path, err.message);
		for (k = 0; k < st.n_tensors; k++)
			if (!strcmp(st.tensors[k].name, "row")) {
				size_t n = st.tensors[k].shape[0];
				p->rows[part] = realloc(p->rows[part], (p->n[part] + n) * sizeof(size_t));
				for (j = 0; j < n; j++) {
					int64_t v;
					memcpy(&v, (const char *)st.tensors[k].data + 8 * j, 8);
					p->rows[part][p->n[part]++] = (size_t)v;
				}
			}
		safetensors_done(&st);
		free(bytes);
	}
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

static void same_rows(size_t *a, size_t na, size_t *b, size_t nb, const char *what)
{
	size_t i;
	qsort(a, na, sizeof *a, cmp_size);
	qsort(b, nb, sizeof *b, cmp_size);
	if (na != nb)
		fail_msg("%s: %zu rows exported, %zu in train's split", what, na, nb);
	for (i = 0; i < na; i++)
		if (a[i] != b[i])
			fail_msg("%s: row %zu differs (%zu exported, %zu in train's split)", what, i, a[i], b[i]);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void close_to(double a, double b, const char *what)
{
	if (!(fabs(a - b) <= 1e-12 * fmax(1, fabs(b))))
		fail_msg("%s: %.17g exported, %.17g fitted", what, a, b);
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
	rmdir(dir);
}

/* Export and train's own split and fit agree on one config. */
static void check_against_train(const char *split, const char *model_extra, const char *winsor,
				size_t rows, size_t shard_rows, size_t track_rows)
{
	char config[2048], dir[] = "/tmp/test_export_XXXXXX", *csv;
	size_t len, i, j;
	struct dataset_config cfg;
	struct table t;
	struct split sp;
	struct spec spec;
	struct fit_report rep;
	struct parts p = {0};
	struct export_summary sum;
	struct error err;
	FILE *f;

	snprintf(config, sizeof config, CONFIG, split, model_extra, winsor);
	csv = make_csv(rows, 99, &len);
	traintable_load(config, csv, len, &cfg, &t);
	error_init(&err);
	assert_int_equal(split_make(&cfg, &t, cfg.split_by_column ? table_column(&t, cfg.split_column) : -1,
				    &sp, &err),
			 ERROR_OK);
	assert_int_equal(fit_spec(&cfg, &t, table_column(&t, "units"), sp.all_train, sp.n_all_train, &spec,
				  &rep, &err),
			 ERROR_OK);
	assert_non_null(mkdtemp(dir));
	f = fmemopen(csv, len, "r");
	if (export_dataset(&cfg, f, &(struct export_options){dir, shard_rows, "test.csv", track_rows, 0}, &sum, &err))
		fail_msg("export: %s", err.message);
	fclose(f);
	read_parts(dir, &p);
	same_rows(p.rows[EXPORT_TEST], p.n[EXPORT_TEST], sp.test, sp.n_test, "test");
	same_rows(p.rows[EXPORT_VALIDATION], p.n[EXPORT_VALIDATION], sp.valid, sp.n_valid, "validation");
	same_rows(p.rows[EXPORT_TRAIN], p.n[EXPORT_TRAIN], sp.train, sp.n_train, "train");
	assert_int_equal(p.spec.n_numeric, spec.n_numeric);
	for (i = 0; i < spec.n_numeric; i++) {
		const struct spec_numeric *a = &p.spec.numeric[i], *b = &spec.numeric[i];
		assert_int_equal(a->has_clip, b->has_clip);
		assert_true(a->clip_lo == b->clip_lo);
		assert_true(a->clip_hi == b->clip_hi);
		close_to(a->mean, b->mean, a->name);
		close_to(a->std, b->std, a->name);
		close_to(a->def, b->def, a->name);
	}
	assert_int_equal(p.spec.n_categorical, spec.n_categorical);
	for (i = 0; i < spec.n_categorical; i++) {
		assert_int_equal(p.spec.categorical[i].n_vocabulary, spec.categorical[i].n_vocabulary);
		for (j = 0; j < spec.categorical[i].n_vocabulary; j++)
			assert_string_equal(p.spec.categorical[i].vocabulary[j], spec.categorical[i].vocabulary[j]);
	}
	close_to(p.spec.target_mean, spec.target_mean, "target mean");
	close_to(p.spec.target_std, spec.target_std, "target std");
	assert_int_equal(p.spec.input_size, spec.input_size);
	assert_int_equal(sum.rows[EXPORT_TEST], sp.n_test);
	for (i = 0; i < EXPORT_PARTS; i++)
		free(p.rows[i]);
	json_decref(p.manifest);
	spec_done(&p.spec);
	spec_done(&spec);
	fit_report_done(&rep);
	split_done(&sp);
	table_done(&t);
	dataset_config_done(&cfg);
	free(csv);
	remove_dir(dir);
}

static void test_export_fraction_split_matches_train_row_for_row(void **state)
{
	(void)state;
	check_against_train("{\"fraction\": 0.2, \"seed\": 11}", "", "[0.001, 0.999]", 5000, 333, 0);
}

static void test_export_fraction_split_matches_train_across_tracking_blocks(void **state)
{
	(void)state;
	/* more rows than one replay of the shuffle follows */
	check_against_train("{\"fraction\": 0.3, \"seed\": 3}", "", "[0.05, 0.95]", 5000, 1000000, 777);
}

static void test_export_time_split_takes_the_latest_weeks_for_validation_as_train_does(void **state)
{
	(void)state;
	check_against_train("{\"column\": \"week\", \"test_from\": 25}", "", "[0.001, 0.999]", 4000, 512, 0);
}

static void test_export_time_split_with_random_validation_matches_train(void **state)
{
	(void)state;
	check_against_train("{\"column\": \"week\", \"test_from\": 25}", ", \"validation\": \"random\"",
			    "[0.1, 0.9]", 4000, 4000, 0);
}

static void test_export_tiny_data_keeps_every_value_for_the_quantiles(void **state)
{
	(void)state;
	check_against_train("{\"fraction\": 0.5, \"seed\": 1}", "", "[0, 1]", 12, 1, 5);
}

/* The sorted values of numeric input i over the training rows, as fit.c sees them (new; *m their count). */
static double *training_values(const struct dataset_config *cfg, const struct table *t, const struct split *sp,
			       const char *name, bool is_log, size_t *m)
{
	const double *col = t->cols[table_column(t, name)].num;
	double *v = calloc(sp->n_all_train + 1, sizeof *v);
	size_t i;
	(void)cfg;
	*m = 0;
	for (i = 0; i < sp->n_all_train; i++) {
		double x = col[sp->all_train[i]];
		if (isnan(x) || (is_log && !(x > 0)))
			continue;
		v[(*m)++] = is_log ? log(x) : x;
	}
	qsort(v, *m, sizeof *v, cmp_double);
	return v;
}

/* The bound b sits where quantile q does, to 0.0105 of the ranks: F(b-) - e <= q <= F(b) + e (ties span ranks). */
static void rank_ok(const double *v, size_t m, double b, double q, const char *name)
{
	size_t lt = 0, le;
	while (lt < m && v[lt] < b)
		lt++;
	for (le = lt; le < m && v[le] <= b; le++)
		;
	if ((double)lt / (double)m - 0.0105 > q || (double)le / (double)m + 0.0105 < q)
		fail_msg("%s: bound %g spans ranks %.4f..%.4f, quantile %.3f", name, b, (double)lt / (double)m,
			 (double)le / (double)m, q);
}

/* Beyond the exact tails, the reservoir's bound is within the documented rank error (0.0105). */
static void test_export_reservoir_quantiles_stay_within_their_rank_error(void **state)
{
	char config[2048], dir[] = "/tmp/test_export_XXXXXX", *csv;
	size_t len, m, k;
	struct dataset_config cfg;
	struct table t;
	struct split sp;
	struct parts p = {0};
	struct export_summary sum;
	struct error err;
	json_t *q;
	FILE *f;
	(void)state;

	snprintf(config, sizeof config, CONFIG, "{\"fraction\": 0.1, \"seed\": 5}", "", "[0.05, 0.95]");
	csv = make_csv(100000, 7, &len);
	traintable_load(config, csv, len, &cfg, &t);
	error_init(&err);
	assert_int_equal(split_make(&cfg, &t, -1, &sp, &err), ERROR_OK);
	assert_non_null(mkdtemp(dir));
	f = fmemopen(csv, len, "r");
	if (export_dataset(&cfg, f, &(struct export_options){dir, 1000000, "t.csv", 0, 16}, &sum, &err))
		fail_msg("export: %s", err.message);
	fclose(f);
	read_parts(dir, &p);
	q = json_object_get(p.manifest, "quantiles");
	for (k = 0; k < p.spec.n_numeric; k++) {
		const struct spec_numeric *s = &p.spec.numeric[k];
		double *v = training_values(&cfg, &t, &sp, s->name, s->transform == SPEC_INPUT_LOG, &m);
		assert_true(m > TAILS_RESERVOIR);
		assert_string_equal(json_string_value(json_object_get(json_array_get(q, k), "low")), "reservoir");
		rank_ok(v, m, s->clip_lo, 0.05, s->name);
		rank_ok(v, m, s->clip_hi, 0.95, s->name);
		free(v);
	}
	json_decref(p.manifest);
	spec_done(&p.spec);
	for (k = 0; k < EXPORT_PARTS; k++)
		free(p.rows[k]);
	split_done(&sp);
	table_done(&t);
	dataset_config_done(&cfg);
	free(csv);
	remove_dir(dir);
}

static void test_export_refuses_a_directory_that_is_not_empty(void **state)
{
	char dir[] = "/tmp/test_export_XXXXXX", path[600], *csv, config[2048];
	struct dataset_config cfg;
	struct export_summary sum;
	struct error err;
	size_t len;
	FILE *f;
	(void)state;

	snprintf(config, sizeof config, CONFIG, "{\"fraction\": 0.2}", "", "[0.001, 0.999]");
	error_init(&err);
	assert_int_equal(dataset_config_parse(config, strlen(config), &cfg, &err), ERROR_OK);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/old.safetensors", dir);
	fclose(fopen(path, "w"));
	csv = make_csv(100, 1, &len);
	f = fmemopen(csv, len, "r");
	assert_int_equal(export_dataset(&cfg, f, &(struct export_options){dir, 10, "t.csv", 0, 0}, &sum, &err),
			 ERROR_INVALID);
	assert_non_null(strstr(err.message, "is not empty"));
	fclose(f);
	free(csv);
	dataset_config_done(&cfg);
	remove_dir(dir);
}

static void test_export_names_the_line_of_a_bad_cell(void **state)
{
	static const char csv[] = "item_id,brand,price,weight_kg,level,units,featured,week\n"
				  "a,Acme,1.5,2,0,3,1,1\n"
				  "b,Acme,abc,2,0,3,1,1\n";
	char dir[] = "/tmp/test_export_XXXXXX", config[2048];
	struct dataset_config cfg;
	struct export_summary sum;
	struct error err;
	FILE *f;
	(void)state;

	snprintf(config, sizeof config, CONFIG, "{\"fraction\": 0.2}", "", "[0.001, 0.999]");
	error_init(&err);
	assert_int_equal(dataset_config_parse(config, strlen(config), &cfg, &err), ERROR_OK);
	assert_non_null(mkdtemp(dir));
	f = fmemopen((void *)csv, sizeof csv - 1, "r");
	assert_int_equal(export_dataset(&cfg, f, &(struct export_options){dir, 10, "t.csv", 0, 0}, &sum, &err),
			 ERROR_INVALID);
	assert_non_null(strstr(err.message, "t.csv line 3, column 3 (price)"));
	assert_string_equal(err.field, "price");
	fclose(f);
	dataset_config_done(&cfg);
	remove_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_export_fraction_split_matches_train_row_for_row),
		cmocka_unit_test(test_export_fraction_split_matches_train_across_tracking_blocks),
		cmocka_unit_test(test_export_time_split_takes_the_latest_weeks_for_validation_as_train_does),
		cmocka_unit_test(test_export_time_split_with_random_validation_matches_train),
		cmocka_unit_test(test_export_tiny_data_keeps_every_value_for_the_quantiles),
		cmocka_unit_test(test_export_reservoir_quantiles_stay_within_their_rank_error),
		cmocka_unit_test(test_export_refuses_a_directory_that_is_not_empty),
		cmocka_unit_test(test_export_names_the_line_of_a_bad_cell),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

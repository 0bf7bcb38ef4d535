/* Unit tests: the encoder's statistics fitted on the training rows. */
#include "traintable.h"

#include <math.h>

#include "shelfcast/fit.h"

/* brand: a x3, b x2, c x1; price 1..6; units 0..5. */
static const char CSV[] = "price,brand,units,featured,level\n"
			  "1,a,0,0,0\n2,a,1,1,1\n3,b,2,0,0\n4,a,3,1,1\n5,b,4,0,0\n6,c,5,1,1\n";

static const char CONFIG[] =
	"{\"name\": \"f\", \"features\": {\"numeric\": [\"price\"], \"log\": [\"price\"],"
	"  \"categorical\": [\"brand\"]},"
	" \"target\": {\"column\": \"units\"}, \"exposure\": {\"column\": \"featured\"},"
	" \"promotion\": {\"column\": \"level\", \"price_column\": \"price\","
	"   \"levels\": [{\"level\": 0, \"discount\": 0}, {\"level\": 1, \"discount\": 0.1}]},"
	" \"split\": {\"fraction\": 0.5}, \"cleaning\": {\"winsorize\": [0, 1], \"min_count\": 2}}";

struct fitted {
	struct dataset_config cfg;
	struct table t;
	struct spec spec;
	struct fit_report rep;
};

static void fit_all(struct fitted *f)
{
	size_t rows[6] = {0, 1, 2, 3, 4, 5};
	struct error err;
	traintable_load(CONFIG, CSV, sizeof CSV - 1, &f->cfg, &f->t);
	error_init(&err);
	if (fit_spec(&f->cfg, &f->t, table_column(&f->t, "units"), rows, 6, &f->spec, &f->rep, &err))
		fail_msg("fit: %s", err.message);
}

static void done(struct fitted *f)
{
	spec_done(&f->spec);
	fit_report_done(&f->rep);
	table_done(&f->t);
	dataset_config_done(&f->cfg);
}

static void test_fit_numeric_inputs_get_mean_and_population_std(void **state)
{
	struct fitted f;
	const struct spec_numeric *p, *lp;
	double lmean = 0;
	int i;
	(void)state;
	fit_all(&f);
	assert_int_equal(f.spec.n_numeric, 2);
	p = &f.spec.numeric[0];
	lp = &f.spec.numeric[1];
	assert_int_equal(p->transform, SPEC_INPUT_IDENTITY);
	assert_int_equal(lp->transform, SPEC_INPUT_LOG);
	assert_true(fabs(p->mean - 3.5) < 1e-12);
	assert_true(fabs(p->std - sqrt(35.0 / 12.0)) < 1e-12);
	assert_true(p->def == p->mean);
	assert_true(p->clip_lo == 1 && p->clip_hi == 6);
	for (i = 1; i <= 6; i++)
		lmean += log(i) / 6;
	assert_true(fabs(lp->mean - lmean) < 1e-12);
	assert_int_equal(f.spec.price_index, 0);
	done(&f);
}

static void test_fit_vocabulary_keeps_values_seen_min_count_times_most_frequent_first(void **state)
{
	struct fitted f;
	const struct spec_categorical *b;
	(void)state;
	fit_all(&f);
	b = &f.spec.categorical[0];
	assert_int_equal(b->n_vocabulary, 2);
	assert_string_equal(b->vocabulary[0], "a");
	assert_string_equal(b->vocabulary[1], "b");
	assert_int_equal(json_integer_value(json_object_get(f.rep.rare, "brand")), 1);
	assert_int_equal(json_integer_value(json_object_get(f.rep.vocab, "brand")), 2);
	done(&f);
}

static void test_fit_target_is_standardized_on_the_log1p_scale(void **state)
{
	struct fitted f;
	double mean = 0, var = 0;
	int u;
	(void)state;
	fit_all(&f);
	for (u = 0; u <= 5; u++)
		mean += log1p(u) / 6;
	for (u = 0; u <= 5; u++)
		var += (log1p(u) - mean) * (log1p(u) - mean) / 6;
	assert_int_equal(f.spec.transform, SPEC_TRANSFORM_LOG1P);
	assert_true(fabs(f.spec.target_mean - mean) < 1e-12);
	assert_true(fabs(f.spec.target_std - sqrt(var)) < 1e-12);
	assert_int_equal(f.spec.input_size, spec_expected_input_size(&f.spec));
	done(&f);
}

static void test_fit_drift_reference_measures_each_feature_once(void **state)
{
	static const double edges[SPEC_DRIFT_BINS - 1] = {1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5};
	size_t rows[6] = {0, 1, 2, 3, 4, 5}, k;
	struct fitted f;
	struct encoder *enc;
	struct error err;
	struct spec again;
	char *text;
	(void)state;
	fit_all(&f);
	error_init(&err);
	enc = encoder_new(&f.spec, &err);
	assert_non_null(enc);
	assert_int_equal(fit_drift_reference(&f.spec, enc, &f.t, rows, 6, &err), ERROR_OK);
	assert_true(f.spec.has_drift && f.spec.drift_rows == 6);
	/* price feeds a raw and a log input: one histogram, of its raw values 1..6 */
	assert_int_equal(f.spec.n_drift_numeric, 1);
	assert_int_equal(f.spec.drift_numeric[0].input, 0);
	for (k = 0; k < SPEC_DRIFT_BINS - 1; k++)
		assert_true(fabs(f.spec.drift_numeric[0].edges[k] - edges[k]) < 1e-12);
	/* 1, 2, 3, 4, 5, 6 fall in bins 0, 2, 4, 6, 8, 9 */
	for (k = 0; k < SPEC_DRIFT_BINS; k++)
		assert_true(fabs(f.spec.drift_numeric[0].freq[k] -
				 (k == 0 || k == 2 || k == 4 || k == 6 || k == 8 || k == 9 ? 1.0 / 6 : 0)) < 1e-12);
	/* brand: vocabulary a, b (c is rare: the unknown slot) */
	assert_true(fabs(f.spec.drift_categorical[0].freq[0] - 0.5) < 1e-12);
	assert_true(fabs(f.spec.drift_categorical[0].freq[1] - 2.0 / 6) < 1e-12);
	assert_true(fabs(f.spec.drift_categorical[0].freq[2] - 1.0 / 6) < 1e-12);
	assert_true(f.spec.drift_numeric[0].missing == 0 && f.spec.drift_categorical[0].missing == 0);
	/* what the trainer writes, the parser reads back */
	text = spec_to_string(&f.spec);
	assert_non_null(text);
	assert_int_equal(spec_parse_string(text, strlen(text), &again, &err), ERROR_OK);
	assert_true(again.has_drift);
	spec_done(&again);
	free(text);
	encoder_free(enc);
	done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fit_numeric_inputs_get_mean_and_population_std),
		cmocka_unit_test(test_fit_vocabulary_keeps_values_seen_min_count_times_most_frequent_first),
		cmocka_unit_test(test_fit_target_is_standardized_on_the_log1p_scale),
		cmocka_unit_test(test_fit_drift_reference_measures_each_feature_once),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

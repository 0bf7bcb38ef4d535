/* Unit tests: a training run end to end is deterministic and learns. */
#include "testutil.h"

#include <cblas.h>
#include <math.h>

#include "shelfcast/demo.h"
#include "shelfcast/train.h"

static const char CONFIG[] =
	"{\"name\": \"demo\", \"id_column\": \"item_id\","
	" \"features\": {\"numeric\": [\"price\", \"weight_kg\"], \"categorical\": [\"brand\", \"category\"],"
	"              \"log\": [\"price\"]},"
	" \"target\": {\"column\": \"units\"}, \"exposure\": {\"column\": \"featured\"},"
	" \"promotion\": {\"column\": \"promo_level\", \"price_column\": \"price\","
	"   \"levels\": [{\"level\": 0, \"discount\": 0}, {\"level\": 1, \"discount\": 0.1, \"cost\": 15},"
	"              {\"level\": 2, \"discount\": 0.2, \"cost\": 40}, {\"level\": 3, \"discount\": 0.3, \"cost\": 80}]},"
	" \"split\": {\"fraction\": 0.2, \"seed\": 3},"
	" \"model\": {\"hidden\": [16, 8], \"epochs\": 40, \"batch_size\": 64, \"learning_rate\": 0.003, \"patience\": 40, \"seed\": %d, \"ema\": 0.99,"
	"           \"members\": %d}}";

/* The stored reference: 32 encoded training rows, each at exactly one level. */
static void check_reference(const struct spec *spec)
{
	size_t i, k, d = spec->input_size;
	assert_int_equal(spec->n_reference, 32);
	for (i = 0; i < spec->n_reference; i++) {
		float levels = 0;
		for (k = 0; k < spec->n_levels; k++)
			levels += spec->reference[i * d + d - spec->n_levels + k];
		assert_true(levels == 1.0f);
	}
}

static void train_once(int seed, int members, char checksum[MODEL_CHECKSUM_SIZE], double *r2,
		       struct train_result *keep)
{
	struct dataset_config cfg;
	struct train_result res;
	struct table t;
	struct table_colspec *cols;
	struct table_options opt;
	struct error err;
	char text[2048], *buf = NULL;
	size_t len = 0, n;
	FILE *mem = open_memstream(&buf, &len), *f;

	error_init(&err);
	assert_int_equal(demo_write(mem, NULL, 1500, 11, &err), ERROR_OK);
	fclose(mem);
	snprintf(text, sizeof text, CONFIG, seed, members);
	assert_int_equal(dataset_config_parse(text, strlen(text), &cfg, &err), ERROR_OK);
	cols = train_columns(&cfg, &n);
	opt = (struct table_options){cfg.levels, cfg.n_levels, true, cfg.max_categories};
	f = fmemopen(buf, len, "r");
	assert_int_equal(table_load(f, "demo", cols, n, &opt, &t, &err), ERROR_OK);
	fclose(f);
	if (train_run(&cfg, &t, NULL, NULL, &res, &err) != ERROR_OK)
		fail_msg("train: %s", err.message);
	memcpy(checksum, res.checksum, MODEL_CHECKSUM_SIZE);
	*r2 = json_real_value(json_object_get(json_object_get(res.metrics, "sales"), "r2_log"));
	assert_int_equal(res.spec.n_numeric, 3);
	assert_int_equal(res.spec.numeric[2].transform, SPEC_INPUT_LOG);
	check_reference(&res.spec);
	if (keep)
		*keep = res;
	else
		train_result_done(&res);
	table_done(&t);
	free(cols);
	dataset_config_done(&cfg);
	free(buf);
}

static void test_same_seed_same_weights(void **state)
{
	char a[MODEL_CHECKSUM_SIZE], b[MODEL_CHECKSUM_SIZE], c[MODEL_CHECKSUM_SIZE];
	double ra, rb, rc;
	(void)state;
	openblas_set_num_threads(1);
	train_once(7, 1, a, &ra, NULL);
	train_once(7, 1, b, &rb, NULL);
	train_once(8, 1, c, &rc, NULL);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_true(ra == rb);
	/* and it learned something: the demo data is mostly explained by its features */
	print_message("# r2_log %g (seed 7), %g (seed 8)\n", ra, rc);
	assert_true(ra > 0.5);
}

static double metric(const json_t *m, const char *a, const char *b, const char *c)
{
	const json_t *v = json_object_get(m, a);
	if (b)
		v = json_object_get(v, b);
	if (c)
		v = json_object_get(v, c);
	assert_non_null(v);
	return json_real_value(v);
}

/*
 * The served model packs 3 members of [16, 8] and the baselines' 4 units,
 * is no worse than the baselines on the test part, and its 0.9 interval
 * covers about 0.9 of it.
 */
static void test_ensemble_is_one_wider_network_no_worse_than_the_baselines(void **state)
{
	struct train_result res;
	char sum[MODEL_CHECKSUM_SIZE];
	double r2, auc, cover;
	(void)state;
	train_once(9, 3, sum, &r2, &res);
	assert_int_equal(res.spec.n_hidden, 2);
	assert_int_equal(res.spec.hidden[0], 3 * 16 + 4);
	assert_int_equal(res.spec.hidden[1], 3 * 8 + 4);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(res.training, "ensemble"),
							    "members")),
			 3);
	auc = metric(res.metrics, "exposure", "auc", NULL);
	print_message("# r2_log %g (linear %g), auc %g (logistic %g)\n", r2,
		      metric(res.metrics, "baselines", "linear", "r2_log"), auc,
		      metric(res.metrics, "baselines", "logistic", "auc"));
	assert_true(r2 >= metric(res.metrics, "baselines", "linear", "r2_log") - 0.005);
	assert_true(auc >= metric(res.metrics, "baselines", "logistic", "auc") - 0.005);
	cover = metric(res.metrics, "interval_coverage", NULL, NULL);
	print_message("# coverage %g, width %g\n", cover,
		      metric(res.metrics, "interval_mean_width_log", NULL, NULL));
	assert_true(cover > 0.8 && cover < 0.97);
	assert_true(res.spec.has_calibration && res.spec.interval == 0.9 && res.spec.smearing > 1);
	train_result_done(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_seed_same_weights),
		cmocka_unit_test(test_ensemble_is_one_wider_network_no_worse_than_the_baselines),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests: the dataset config parser. */
#include "testutil.h"

#include "shelfcast/dataset.h"

static const char BASE[] =
	"{\"name\": \"d\", \"features\": {\"numeric\": [\"price\"], \"categorical\": [\"brand\"]},"
	" \"target\": {\"column\": \"units\"}, \"exposure\": {\"column\": \"featured\"},"
	" \"promotion\": {\"column\": \"level\", \"price_column\": \"price\","
	"   \"levels\": [{\"level\": 0, \"discount\": 0}, {\"level\": 1, \"discount\": 0.1}]},"
	" \"split\": {\"fraction\": 0.2}%s}";

static enum error_code parse_with(const char *extra, struct dataset_config *cfg, struct error *err)
{
	char text[4096];
	snprintf(text, sizeof text, BASE, extra);
	error_init(err);
	return dataset_config_parse(text, strlen(text), cfg, err);
}

static void expect(const char *text, const char *fragment)
{
	struct dataset_config cfg;
	struct error err;
	error_init(&err);
	if (dataset_config_parse(text, strlen(text), &cfg, &err) == ERROR_OK)
		fail_msg("accepted: %s", text);
	if (!strstr(err.message, fragment))
		fail_msg("\"%s\" lacks \"%s\"", err.message, fragment);
}

static void test_dataset_defaults_are_sensible(void **state)
{
	struct dataset_config cfg;
	struct error err;
	(void)state;
	assert_int_equal(parse_with("", &cfg, &err), ERROR_OK);
	assert_int_equal(cfg.n_hidden, 2);
	assert_int_equal(cfg.hidden[0], 64);
	assert_int_equal(cfg.batch_size, 256);
	assert_int_equal(cfg.patience, 4);
	assert_int_equal(cfg.members, 1);
	assert_int_equal(cfg.recent_weight, 1); /* recency weighting off */
	assert_true(cfg.interval == 0.9);
	assert_true(cfg.validation_random); /* a fraction split validates on a random slice */
	assert_int_equal(cfg.min_count, 5);
	assert_int_equal(cfg.max_categories, 100000);
	assert_true(cfg.winsor_lo == 0.001 && cfg.winsor_hi == 0.999);
	assert_int_equal(cfg.transform, SPEC_TRANSFORM_LOG1P);
	dataset_config_done(&cfg);
}

static void test_dataset_members_may_pack_up_to_the_widest_layer(void **state)
{
	struct dataset_config cfg;
	struct error err;
	(void)state;
	/* 16 x 4095 + 4 = 65524 packed units: within SPEC_MAX_WIDTH */
	assert_int_equal(parse_with(", \"model\": {\"members\": 16, \"hidden\": [4095]}", &cfg, &err),
			 ERROR_OK);
	assert_int_equal(cfg.members, 16);
	dataset_config_done(&cfg);
}

static void test_dataset_bad_configs_are_refused_naming_the_field(void **state)
{
	/* BASE with one extra member, and what the refusal must name */
	static const struct {
		const char *extra, *fragment;
	} cases[] = {
		{", \"colour\": 1", "colour: unknown field"},
		{", \"model\": {\"epoch\": 3}", "model.epoch: unknown field"},
		{", \"id_column\": \"brand\"", "column \"brand\" is named twice"},
		{", \"model\": {\"learning_rate\": -1}", "model.learning_rate"},
		{", \"model\": {\"members\": 0}", "model.members"},
		{", \"model\": {\"members\": 17}", "model.members"},
		/* 16 x 4096 + 4 baseline units = 65540 packed units, past SPEC_MAX_WIDTH = 65536 */
		{", \"model\": {\"members\": 16, \"hidden\": [64, 4096]}",
		 "model.members: 16 members of model.hidden[1]'s 4096 units and 4 baseline units are wider than 65536"},
		{", \"model\": {\"interval\": 1}", "model.interval: must be in (0, 1)"},
		{", \"model\": {\"interval\": \"0.9\"}", "model.interval"},
		{", \"model\": {\"validation\": \"latest\"}", "latest needs a split by column"},
		{", \"model\": {\"recent_fraction\": 1}", "model.recent_fraction: must be in [0, 1)"},
		{", \"model\": {\"recent_weight\": 2}", "model.recent_fraction: model.recent_weight needs a share"},
		{", \"model\": {\"recent_fraction\": 0.3}", "model.recent_fraction: needs model.recent_weight > 1"},
		{", \"model\": {\"recent_weight\": 17, \"recent_fraction\": 0.3}", "model.recent_weight"},
		{", \"model\": {\"recent_weight\": 2, \"recent_fraction\": 0.3}",
		 "model.recent_weight: needs a split by column"},
		{", \"model\": {\"calibration_fraction\": 0.05}",
		 "model.calibration_fraction: must be 0 or between model.validation_fraction (0.1) and 0.5"},
		{", \"model\": {\"calibration_fraction\": 0.5}", "model.calibration_fraction"},
		{", \"model\": {\"interval_by_shrink\": 0.1}", "model.interval_by_shrink: needs model.interval_by"},
		{", \"model\": {\"interval_by_shrink\": 1.5}", "model.interval_by_shrink: must be in [0, 1]"},
		{", \"cleaning\": {\"winsorize\": [0.9, 0.1]}", "cleaning.winsorize"},
	};
	char text[4096];
	size_t i;
	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text, BASE, cases[i].extra);
		expect(text, cases[i].fragment);
	}
	expect("{\"name\": \"d\"", "dataset config");
	expect("{\"name\": \"d\", \"features\": {\"numeric\": [\"price\", \"price\"]}, \"target\": {\"column\": \"u\"},"
	       " \"exposure\": {\"column\": \"f\"}, \"promotion\": {\"column\": \"l\", \"price_column\": \"price\","
	       " \"levels\": [{\"level\": 0, \"discount\": 0}]}, \"split\": {\"fraction\": 0.2}}",
	       "named twice");
	expect("{\"name\": \"d\", \"features\": {\"numeric\": [\"p\"]}, \"target\": {\"column\": \"u\"},"
	       " \"exposure\": {\"column\": \"f\"}, \"promotion\": {\"column\": \"l\", \"price_column\": \"price\","
	       " \"levels\": [{\"level\": 0, \"discount\": 0}]}, \"split\": {\"fraction\": 0.2}}",
	       "must also be a numeric feature");
	expect("{\"name\": \"d\", \"features\": {\"numeric\": [\"price\"]}, \"target\": {\"column\": \"u\"},"
	       " \"exposure\": {\"column\": \"f\"}, \"promotion\": {\"column\": \"l\", \"price_column\": \"price\","
	       " \"levels\": [{\"level\": 0, \"discount\": 0}]}, \"split\": {\"fraction\": 1.5}}",
	       "split.fraction");
	expect("{\"name\": \"d\", \"features\": {\"numeric\": [\"price\"]}, \"target\": {\"column\": \"u\"},"
	       " \"exposure\": {\"column\": \"f\"}, \"promotion\": {\"column\": \"l\", \"price_column\": \"price\","
	       " \"levels\": [{\"level\": 0, \"discount\": 0}]}, \"split\": {\"test_from\": 3}}",
	       "split.column");
}

static void test_dataset_log_columns_may_be_numeric_or_their_own(void **state)
{
	struct dataset_config cfg;
	struct error err;
	(void)state;
	assert_int_equal(parse_with(", \"model\": {\"ema\": 0.99, \"refit\": true}", &cfg, &err), ERROR_OK);
	assert_true(cfg.ema == 0.99 && cfg.refit);
	dataset_config_done(&cfg);
	{
		const char *t = "{\"name\": \"d\", \"features\": {\"numeric\": [\"price\"], \"log\": [\"price\", \"cost\"]},"
				" \"target\": {\"column\": \"u\"}, \"exposure\": {\"column\": \"f\"},"
				" \"promotion\": {\"column\": \"l\", \"price_column\": \"price\","
				" \"levels\": [{\"level\": 0, \"discount\": 0}]}, \"split\": {\"fraction\": 0.2}}";
		error_init(&err);
		assert_int_equal(dataset_config_parse(t, strlen(t), &cfg, &err), ERROR_OK);
		assert_int_equal(cfg.n_log, 2);
		dataset_config_done(&cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dataset_defaults_are_sensible),
		cmocka_unit_test(test_dataset_members_may_pack_up_to_the_widest_layer),
		cmocka_unit_test(test_dataset_bad_configs_are_refused_naming_the_field),
		cmocka_unit_test(test_dataset_log_columns_may_be_numeric_or_their_own),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

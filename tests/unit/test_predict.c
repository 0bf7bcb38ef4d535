/* Unit tests: the /v1/predict body through validation, encoding, scoring and the reply. */
#include "testutil.h"

#include <jansson.h>
#include <math.h>

#include "shelfcast/predict.h"
#include "shelfcast/predict_api.h"
#include "shelfcast/heads.h"
#include "shelfcast/promo.h"
#include "shelfcast/reqparse.h"
#include "shelfcast/strbuf.h"

static const struct predict_limits limits = {100, 64u << 20, 50};
static struct model *the_model;
static struct predict_api_scratch *the_scratch; /* the fast path's, kept between requests as a worker keeps it */

static struct model *resolve(void *ctx, const char *name, struct error *err)
{
	(void)ctx;
	if (name && strcmp(name, "test")) {
		error_set(err, ERROR_NOT_FOUND, "model", "model \"%s\" is not served here", name);
		return NULL;
	}
	return the_model; /* borrowed: the test holds it */
}

static struct model *resolve_ctx(void *ctx, const char *name, struct error *err)
{
	(void)name;
	(void)err;
	return ctx;
}

static json_t *run_ok(const char *body)
{
	struct strbuf reply;
	struct predict_outcome o;
	struct error err;
	json_t *j;

	strbuf_init(&reply);
	error_init(&err);
	if (predict_api_run(the_scratch, body, strlen(body), &limits, resolve, NULL, &reply, &o, &err) != ERROR_OK)
		fail_msg("%s: %s", body, err.message);
	j = json_loads(reply.data, 0, NULL);
	assert_non_null(j);
	predict_outcome_done(&o);
	strbuf_done(&reply);
	return j;
}

static void run_err(const char *body, enum error_code code, const char *field, const char *fragment)
{
	struct strbuf reply;
	struct predict_outcome o;
	struct error err;
	enum error_code rc;

	strbuf_init(&reply);
	error_init(&err);
	rc = predict_api_run(the_scratch, body, strlen(body), &limits, resolve, NULL, &reply, &o, &err);
	if (rc != code)
		fail_msg("%s: code %d (%s), expected %d", body, rc, err.message, code);
	if (field && strcmp(err.field, field))
		fail_msg("%s: field \"%s\", expected \"%s\"", body, err.field, field);
	if (fragment && !strstr(err.message, fragment))
		fail_msg("%s: message \"%s\" lacks \"%s\"", body, err.message, fragment);
	predict_outcome_done(&o);
	strbuf_done(&reply);
}

/* TEST_SPEC with a calibration (testmodel.h), the given smearing. */
static struct model *calibrated_model(double smearing)
{
	static char spec[8192];
	assert_true(test_calibrated_spec(smearing, spec, sizeof spec));
	return test_model(spec, 11, 0.5f, NULL);
}

static int setup(void **state)
{
	(void)state;
	static char calibrated[8192];
	char *spec;
	assert_true(test_calibrated_spec(1.0, calibrated, sizeof calibrated));
	spec = test_spec_with_reference(calibrated, 13, 6, 5); /* its replies carry intervals, and it can explain */
	the_model = test_model(spec, 11, 0.5f, NULL);
	free(spec);
	the_scratch = predict_api_scratch_new();
	return the_model ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	model_unref(the_model);
	predict_api_scratch_free(the_scratch);
	return 0;
}

static void test_a_valid_request_gets_one_prediction_per_item_in_order(void **state)
{
	json_t *r = run_ok("{\"items\": [{\"id\": \"x\", \"features\": {\"price\": 12, \"weight\": 1, \"brand\": \"b\"}},"
			   " {\"id\": 7, \"features\": {\"weight\": 2, \"store\": 9}, \"promotion_level\": 1}],"
			   " \"include_levels\": true}");
	json_t *p = json_object_get(r, "predictions"), *a = json_array_get(p, 0), *b = json_array_get(p, 1);
	(void)state;
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "model"), "name")), "test");
	assert_int_equal(json_array_size(p), 2);
	assert_string_equal(json_string_value(json_object_get(a, "id")), "x");
	assert_int_equal(json_integer_value(json_object_get(b, "id")), 7);
	assert_int_equal(json_integer_value(json_object_get(b, "promotion_level")), 1);
	/* the item without a level reports the recommended one */
	assert_true(json_equal(json_object_get(a, "promotion_level"), json_object_get(a, "recommended_promotion_level")));
	/* unknown categories are reported, not rejected: b has store 9 (unknown) and no brand (unknown) */
	assert_int_equal(json_array_size(json_object_get(b, "unknown")), 2);
	/* a names no store: a missing category goes to the unknown slot too */
	assert_int_equal(json_array_size(json_object_get(a, "unknown")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(a, "unknown"), 0)), "store");
	assert_int_equal(json_array_size(json_object_get(a, "levels")), 3);
	assert_non_null(json_object_get(json_array_get(json_object_get(a, "levels"), 0), "expected_revenue"));
	json_decref(r);
}

static void test_reported_numbers_match_a_direct_forward_pass(void **state)
{
	json_t *r = run_ok("{\"items\": [{\"features\": {\"price\": 12, \"weight\": 1, \"brand\": \"b\", \"store\": \"1\"},"
			   " \"promotion_level\": 2}]}");
	json_t *p = json_array_get(json_object_get(r, "predictions"), 0);
	struct encoder_value v[5];
	json_t *features = json_loads("{\"price\": 12, \"weight\": 1, \"brand\": \"b\", \"store\": \"1\"}", 0, NULL);
	float x[13], y[2], scratch[64];
	struct error err;
	double units;
	(void)state;
	error_init(&err);
	assert_int_equal(encoder_values_from_json(the_model->enc, features, v, "f", &err), ERROR_OK);
	assert_int_equal(encoder_encode(the_model->enc, v, 2, x, NULL, NULL, "f", &err), ERROR_OK);
	mlp_forward_naive(&the_model->mlp, x, 1, scratch, y);
	units = heads_sales(&the_model->spec, (double)y[0]);
	assert_true(fabs(json_number_value(json_object_get(p, "predicted_sales")) - units) <= 1e-5 * (1 + units));
	assert_true(fabs(json_number_value(json_object_get(p, "exposure_probability")) -
			 heads_exposure((double)y[1])) < 1e-6);
	json_decref(features);
	json_decref(r);
}

static double number_at(const json_t *o, const char *a, const char *b)
{
	const json_t *v = json_object_get(o, a);
	if (b)
		v = json_object_get(v, b);
	assert_true(json_is_number(v));
	return json_number_value(v);
}

/*
 * Every prediction and every level carries expected_sales and its own
 * interval: the centre +- the conformal half-width on the log1p scale, at
 * the model's coverage (0.8: half-width 1.6) or the asked one (0.5: 1.0).
 */
static void test_intervals_and_expected_sales_in_every_prediction_and_level(void **state)
{
	json_t *r = run_ok("{\"include_levels\": true, \"items\": [{\"features\": {\"weight\": 1}}]}");
	json_t *h = run_ok("{\"interval\": 0.5, \"items\": [{\"features\": {\"weight\": 1}}]}");
	json_t *p = json_array_get(json_object_get(r, "predictions"), 0), *levels = json_object_get(p, "levels");
	json_t *q = json_array_get(json_object_get(h, "predictions"), 0);
	double t = log1p(number_at(p, "predicted_sales", NULL)), lower;
	size_t l;
	(void)state;
	assert_true(number_at(p, "predicted_sales_interval", "coverage") == 0.8);
	/* heads_interval: expm1 of the centre less the half-width, floored at 0 (7 digits each) */
	lower = fmax(0, expm1(t - 1.6));
	assert_true(fabs(number_at(p, "predicted_sales_interval", "lower") - lower) <= 1e-6 * lower);
	assert_true(fabs(log1p(number_at(p, "predicted_sales_interval", "upper")) - (t + 1.6)) < 1e-5);
	assert_true(number_at(q, "predicted_sales_interval", "coverage") == 0.5);
	assert_true(fabs(log1p(number_at(q, "predicted_sales_interval", "upper")) - (t + 1.0)) < 1e-5);
	/* smearing 1: the mean is the centre */
	assert_true(number_at(p, "expected_sales", NULL) == number_at(p, "predicted_sales", NULL));
	assert_int_equal(json_array_size(levels), 3);
	for (l = 0; l < 3; l++) {
		json_t *e = json_array_get(levels, l);
		assert_true(number_at(e, "predicted_sales_interval", "lower") <= number_at(e, "predicted_sales", NULL));
		assert_true(number_at(e, "predicted_sales_interval", "upper") > number_at(e, "predicted_sales", NULL));
		assert_true(number_at(e, "expected_sales", NULL) > 0);
	}
	json_decref(r);
	json_decref(h);
}

/* With smearing, expected_sales = exp(t) * s - 1 and the objective is computed from it. */
static void test_expected_revenue_uses_the_mean_units(void **state)
{
	struct model *keep = the_model;
	json_t *r, *p, *lv;
	double units, expected;
	(void)state;
	the_model = calibrated_model(1.5);
	assert_non_null(the_model);
	r = run_ok("{\"include_levels\": true, \"items\": [{\"features\": {\"weight\": 1, \"price\": 10}}]}");
	p = json_array_get(json_object_get(r, "predictions"), 0);
	lv = json_array_get(json_object_get(p, "levels"), 0);
	units = number_at(lv, "predicted_sales", NULL);
	expected = number_at(lv, "expected_sales", NULL);
	assert_true(fabs(expected - ((units + 1) * 1.5 - 1)) < 1e-5 * (1 + expected));
	/* level 0: no discount, no cost: revenue = expected units * price */
	assert_true(fabs(number_at(lv, "expected_revenue", NULL) - expected * 10) < 1e-4 * (1 + expected * 10));
	json_decref(r);
	model_unref(the_model);
	the_model = keep;
}

static void test_bad_requests_name_their_field(void **state)
{
	(void)state;
	run_err("{\"items\": [", ERROR_PARSE, NULL, "at byte");
	run_err("[1, 2]", ERROR_INVALID, NULL, "expected an object");
	run_err("\"items\"", ERROR_INVALID, NULL, "expected an object");
	run_err("{\"items\": []}", ERROR_INVALID, "items", "at least one item");
	run_err("{\"items\": {}}", ERROR_INVALID, "items", "expected an array");
	run_err("{\"itemz\": []}", ERROR_INVALID, "itemz", "unknown field");
	run_err("{\"items\": [{\"features\": {\"weight\": 1}}], \"items\": []}", ERROR_PARSE, NULL, "duplicate");
	run_err("{\"items\": [{\"features\": {\"weight\": 1e999}}]}", ERROR_INVALID, NULL, "out of range");
	run_err("{\"items\": [{\"features\": {\"weight\": NaN}}]}", ERROR_PARSE, NULL, "at byte");
	run_err("{\"items\": [{\"features\": {\"weight\": \"1\"}}]}", ERROR_INVALID, "items[0].features.weight",
		"expected a number, got a string");
	run_err("{\"items\": [{\"features\": {\"weight\": 1}}, {\"features\": {\"price\": 2}}]}", ERROR_INVALID,
		"items[1].features.weight", "required");
	run_err("{\"items\": [{\"features\": {\"weight\": 1}, \"promotion_level\": -1}]}", ERROR_INVALID,
		"items[0].promotion_level", "not a promotion level");
	run_err("{\"items\": [{\"features\": {\"weight\": 1}, \"promotion_level\": 2.5}]}", ERROR_INVALID,
		"items[0].promotion_level", "expected an integer");
	run_err("{\"items\": [{\"features\": {\"weight\": 1}, \"promotion_level\": 3}]}", ERROR_INVALID,
		"items[0].promotion_level", "levels: 0, 1, 2");
	run_err("{\"items\": [{\"features\": {\"weight\": 1}, \"sku\": 1}]}", ERROR_INVALID, "items[0].sku",
		"unknown field");
	run_err("{\"items\": [{\"id\": [1], \"features\": {\"weight\": 1}}]}", ERROR_INVALID, "items[0].id", NULL);
	run_err("{\"items\": [{\"features\": 5}]}", ERROR_INVALID, "items[0].features", "expected an object");
	run_err("{\"items\": [{}]}", ERROR_INVALID, "items[0].features", "missing");
	run_err("{\"items\": [5]}", ERROR_INVALID, "items[0]", "expected an object");
	run_err("{\"objective\": \"fun\", \"items\": [{\"features\": {\"weight\": 1}}]}", ERROR_INVALID, "objective",
		"not one of");
	run_err("{\"objective\": \"profit\", \"items\": [{\"features\": {\"weight\": 1}}]}", ERROR_INVALID,
		"objective", "unit-cost");
	run_err("{\"model\": \"other\", \"items\": [{\"features\": {\"weight\": 1}}]}", ERROR_NOT_FOUND, "model", NULL);
	run_err("{\"model\": 5, \"items\": [{\"features\": {\"weight\": 1}}]}", ERROR_INVALID, "model", "expected a string");
	run_err("{\"include_levels\": 1, \"items\": [{\"features\": {\"weight\": 1}}]}", ERROR_INVALID,
		"include_levels", "expected a boolean");
	run_err("{\"interval\": 1, \"items\": [{\"features\": {\"weight\": 1}}]}", ERROR_INVALID,
		"interval", "between 0 and 1");
	run_err("{\"interval\": 0, \"items\": [{\"features\": {\"weight\": 1}}]}", ERROR_INVALID,
		"interval", "between 0 and 1");
	run_err("{\"items\": [{\"features\": {\"weight\": 1}}], \"interval\": -0.5}", ERROR_INVALID,
		"interval", "between 0 and 1");
	run_err("{\"interval\": 95, \"items\": [{\"features\": {\"weight\": 1}}]}", ERROR_INVALID,
		"interval", "between 0 and 1");
	run_err("{\"interval\": \"0.9\", \"items\": [{\"features\": {\"weight\": 1}}]}", ERROR_INVALID,
		"interval", "expected a number");
	run_err("{\"interval\": true, \"items\": [{\"features\": {\"weight\": 1}}]}", ERROR_INVALID,
		"interval", "expected a number");
	run_err("{\"items\": [{\"features\": {\"weight\": 1, \"brand\": {\"a\": {\"b\": {\"c\": []}}}}}]}",
		ERROR_INVALID, "items[0].features.brand", "got an object");
	run_err("{\"items\": [{\"features\": {\"weight\": 1, \"brand\": \"\xff\"}}]}", ERROR_PARSE, NULL, NULL);
}

static void test_too_many_items_is_too_large(void **state)
{
	struct strbuf body;
	int i;
	(void)state;
	strbuf_init(&body);
	strbuf_puts(&body, "{\"items\": [");
	for (i = 0; i < 101; i++)
		strbuf_printf(&body, "%s{\"features\": {\"weight\": 1}}", i ? "," : "");
	strbuf_puts(&body, "]}");
	run_err(body.data, ERROR_TOO_LARGE, "items", "more than the limit of 100 items");
	strbuf_done(&body);
}

/*
 * The item limit is found by a scan that stops at the item past it, before
 * the body is parsed: what comes after (even broken JSON) is never read.
 * Commas, brackets and the word "items" inside strings or deeper values do
 * not count; "items" written with escapes is the same key to jansson and is
 * refused after the parse with the same message.
 */
static void test_item_limit_stops_reading_at_the_item_past_it(void **state)
{
	struct strbuf body;
	int i;
	(void)state;
	strbuf_init(&body);
	strbuf_puts(&body, "{\"model\": \"a,b]\\\"items\", \"items\": [");
	for (i = 0; i < 101; i++)
		strbuf_printf(&body, "%s{\"features\": {\"weight\": 1, \"brand\": \",[{\"}}", i ? "," : "");
	strbuf_puts(&body, ", this is not JSON");
	run_err(body.data, ERROR_TOO_LARGE, "items", "more than the limit of 100 items");
	strbuf_done(&body);
	/* exactly at the limit, with nested arrays and commas in strings: scored */
	strbuf_init(&body);
	strbuf_puts(&body, "{\"items\": [");
	for (i = 0; i < 100; i++)
		strbuf_printf(&body, "%s{\"id\": \"a,b,[c]\", \"features\": {\"weight\": 1, \"brand\": \"a\"}}", i ? ", " : "");
	strbuf_puts(&body, "]}");
	json_decref(run_ok(body.data));
	strbuf_done(&body);
	/* the key with an escape: jansson's "items", counted after the parse */
	strbuf_init(&body);
	strbuf_puts(&body, "{\"it\\u0065ms\": [");
	for (i = 0; i < 101; i++)
		strbuf_printf(&body, "%s{\"features\": {\"weight\": 1}}", i ? "," : "");
	strbuf_puts(&body, "]}");
	run_err(body.data, ERROR_TOO_LARGE, "items", "more than the limit of 100 items");
	strbuf_done(&body);
	/* "items" deeper down is not the items array */
	run_err("{\"model\": \"test\", \"objective\": \"revenue\", \"x\": {\"items\": [1,2,3]}}", ERROR_INVALID, "x", NULL);
}

/* Two numbers of the reply, within float rounding (one item alone takes the small-batch kernel). */
static void close_enough(const json_t *a, const json_t *b, size_t i, const char *what)
{
	double x = json_number_value(a), y = json_number_value(b);
	if (!json_is_number(a) || !json_is_number(b) || fabs(x - y) > 1e-5 * (1 + fabs(x)))
		fail_msg("item %zu: %s %g alone, %g in the request", i, what, x, y);
}

/* The same prediction: ids, levels and unknown features exactly, numbers within rounding. */
static void same_prediction(const json_t *alone, const json_t *in_batch, size_t i)
{
	static const char *const exact[] = {"id", "promotion_level", "recommended_promotion_level", "unknown"};
	const json_t *la = json_object_get(alone, "levels"), *lb = json_object_get(in_batch, "levels");
	size_t k;

	for (k = 0; k < sizeof exact / sizeof exact[0]; k++)
		if (!json_equal(json_object_get(alone, exact[k]), json_object_get(in_batch, exact[k])) &&
		    (json_object_get(alone, exact[k]) || json_object_get(in_batch, exact[k])))
			fail_msg("item %zu: %s differs from its own request", i, exact[k]);
	close_enough(json_object_get(alone, "predicted_sales"), json_object_get(in_batch, "predicted_sales"), i,
		     "predicted_sales");
	close_enough(json_object_get(alone, "exposure_probability"),
		     json_object_get(in_batch, "exposure_probability"), i, "exposure_probability");
	assert_int_equal(json_array_size(la), json_array_size(lb));
	for (k = 0; k < json_array_size(la); k++)
		close_enough(json_object_get(json_array_get(la, k), "expected_revenue"),
			     json_object_get(json_array_get(lb, k), "expected_revenue"), i, "expected_revenue");
}

/* Items are scored a tile at a time: a request of several tiles answers as its items one by one. */
static void test_several_tiles_answer_as_items_one_by_one(void **state)
{
	size_t tile = predict_tile_items(the_model), n = 2 * tile + 7, i;
	struct strbuf body;
	json_t *all, *one;
	char item[160];
	(void)state;
	assert_true(tile >= 1 && tile <= PREDICT_TILE_ITEMS);
	strbuf_init(&body);
	strbuf_puts(&body, "{\"include_levels\": true, \"items\": [");
	for (i = 0; i < n; i++)
		strbuf_printf(&body, "%s{\"id\": %zu, \"features\": {\"weight\": %zu.5, \"price\": %zu, \"brand\": \"%s\"}}",
			      i ? "," : "", i, i % 7, 1 + i % 40, i % 3 ? "a" : "zz");
	strbuf_puts(&body, "]}");
	{
		struct predict_limits big = {1000, 64u << 20, 0};
		struct strbuf reply;
		struct predict_outcome o;
		struct error err;
		strbuf_init(&reply);
		error_init(&err);
		assert_int_equal(predict_api_run(the_scratch, body.data, body.len, &big, resolve, NULL, &reply, &o,
						 &err), ERROR_OK);
		assert_int_equal(o.items, n);
		assert_non_null(o.unknown_counts); /* brand "zz" on a third of the items */
		all = json_loads(reply.data, 0, NULL);
		predict_outcome_done(&o);
		strbuf_done(&reply);
	}
	assert_int_equal(json_array_size(json_object_get(all, "predictions")), n);
	for (i = 0; i < n; i += 13) {
		snprintf(item, sizeof item, "{\"include_levels\": true, \"items\": [{\"id\": %zu, \"features\": "
			 "{\"weight\": %zu.5, \"price\": %zu, \"brand\": \"%s\"}}]}", i, i % 7, 1 + i % 40, i % 3 ? "a" : "zz");
		one = run_ok(item);
		same_prediction(json_array_get(json_object_get(one, "predictions"), 0),
				json_array_get(json_object_get(all, "predictions"), i), i);
		json_decref(one);
	}
	json_decref(all);
	strbuf_done(&body);
}

/*
 * A model whose output is not a number for an item answers 422 naming it,
 * never a null or a 500.  One unclipped input x (and the price the spec
 * needs, unused), two hidden units that both copy x, and a sales output of
 * h0 - h1: for x = 1e308 (beyond float) that is inf - inf.
 */
static const char NAN_SPEC[] =
	"{\"format\": \"shelfcast.spec.v1\","
	" \"inputs\": {\"numeric\": [{\"name\": \"x\", \"mean\": 0, \"std\": 1, \"required\": true},"
	"   {\"name\": \"price\", \"mean\": 0, \"std\": 1, \"default\": 1, \"clip\": [0, 2]}], \"categorical\": []},"
	" \"promotion\": {\"column\": \"level\", \"price_column\": \"price\", \"objective\": \"units\","
	"   \"levels\": [{\"level\": 0, \"discount\": 0, \"cost\": 0}]},"
	" \"target\": {\"column\": \"units\", \"transform\": \"log1p\", \"mean\": 0, \"std\": 1},"
	" \"exposure\": {\"column\": \"featured\"},"
	" \"architecture\": {\"input_size\": 3, \"hidden\": [2], \"activation\": \"relu\"}}";

static void test_a_non_finite_output_names_its_item(void **state)
{
	/* dense.0: (2, 3) rows over [x, price, level] then bias (2); dense.1: (2, 2) then bias (2) */
	static const float w[] = {1, 0, 0, 1, 0, 0, 0, 0, 1, -1, 0, 0, 0, 0};
	struct model *m = test_model_from("nan", 1, NAN_SPEC, w);
	const char *body = "{\"items\": [{\"features\": {\"x\": 3}}, {\"features\": {\"x\": 1e308}}]}";
	struct strbuf reply;
	struct predict_outcome o;
	struct error e1, e2;
	(void)state;
	strbuf_init(&reply);
	error_init(&e1);
	error_init(&e2);
	assert_int_equal(predict_api_run(the_scratch, body, strlen(body), &limits, resolve_ctx, m, &reply, &o, &e1),
			 ERROR_INVALID);
	predict_outcome_done(&o);
	assert_int_equal(predict_api_run_jansson(body, strlen(body), &limits, resolve_ctx, m, &reply, &o, &e2),
			 ERROR_INVALID);
	predict_outcome_done(&o);
	assert_string_equal(e1.field, "items[1]");
	assert_string_equal(e2.field, "items[1]");
	assert_non_null(strstr(e1.message, "not a finite number"));
	assert_int_equal(reply.len, 0);
	/* after an earlier bad item, the non-finite one is still named by its own index */
	body = "{\"items\": [{\"features\": {\"y\": 1}}, {\"features\": {\"x\": 3}},"
	       " {\"features\": {\"x\": 1e308}}], \"on_error\": \"skip\"}";
	error_init(&e1);
	assert_int_equal(predict_api_run(the_scratch, body, strlen(body), &limits, resolve_ctx, m, &reply, &o, &e1),
			 ERROR_OK);
	assert_int_equal(o.items, 1);
	predict_outcome_done(&o);
	/* skipped like any bad item: the valid one answered, both others listed with their own index */
	assert_non_null(strstr(reply.data, "\"index\":0"));
	assert_non_null(strstr(reply.data, "\"index\":2,\"field\":\"items[2]\""));
	assert_non_null(strstr(reply.data, "not a finite number"));
	assert_null(strstr(reply.data, "\"index\":1"));
	strbuf_reset(&reply);
	/* on_error fail: the lowest-index bad item is the error, the non-finite one is in details too */
	body = "{\"items\": [{\"features\": {\"x\": 1e308}}, {\"features\": {\"x\": 3}},"
	       " {\"features\": {\"y\": 1}}]}";
	error_init(&e1);
	assert_int_equal(predict_api_run(the_scratch, body, strlen(body), &limits, resolve_ctx, m, &reply, &o, &e1),
			 ERROR_INVALID);
	assert_string_equal(e1.field, "items[0]");
	assert_non_null(o.error_details);
	assert_non_null(strstr(o.error_details, "\"index\":0"));
	assert_non_null(strstr(o.error_details, "\"index\":2"));
	predict_outcome_done(&o);
	/* the first item alone is fine */
	body = "{\"items\": [{\"features\": {\"x\": 3}}]}";
	assert_int_equal(predict_api_run(the_scratch, body, strlen(body), &limits, resolve_ctx, m, &reply, &o, &e1),
			 ERROR_OK);
	predict_outcome_done(&o);
	strbuf_done(&reply);
	model_unref(m);
}

/* head, then "items": n items of weight 1, closed. */
static void weight_items(struct strbuf *b, const char *head, int n)
{
	int i;
	strbuf_puts(b, head);
	strbuf_puts(b, "\"items\": [");
	for (i = 0; i < n; i++)
		strbuf_printf(b, "%s{\"features\": {\"weight\": 1}}", i ? "," : "");
	strbuf_puts(b, "]}");
}

/* A request whose reply and encoding would pass the memory limit is refused before any work. */
static void test_memory_limit_refuses_before_the_work(void **state)
{
	struct predict_limits tight = {100, 4096, 0};
	struct strbuf body, reply;
	struct predict_outcome o;
	struct error err;
	(void)state;
	strbuf_init(&body);
	weight_items(&body, "{", 50);
	strbuf_init(&reply);
	error_init(&err);
	assert_int_equal(predict_api_run(the_scratch, body.data, body.len, &tight, resolve, NULL, &reply, &o, &err),
			 ERROR_TOO_LARGE);
	assert_string_equal(err.field, "items");
	assert_non_null(strstr(err.message, "50 items of model test"));
	assert_int_equal(reply.len, 0);
	predict_outcome_done(&o);
	/* 5 items fit, but not with their explanations */
	strbuf_reset(&body);
	weight_items(&body, "{", 5);
	assert_int_equal(predict_api_run(the_scratch, body.data, body.len, &tight, resolve, NULL, &reply, &o, &err),
			 ERROR_OK);
	predict_outcome_done(&o);
	strbuf_reset(&reply);
	strbuf_reset(&body);
	weight_items(&body, "{\"explain\": true, ", 5);
	assert_int_equal(predict_api_run(the_scratch, body.data, body.len, &tight, resolve, NULL, &reply, &o, &err),
			 ERROR_TOO_LARGE);
	assert_string_equal(err.field, "items");
	predict_outcome_done(&o);
	strbuf_done(&reply);
	strbuf_done(&body);
}

static void test_deep_nesting_is_malformed_not_a_crash(void **state)
{
	size_t depth = 100000, i;
	char *body = malloc(2 * depth + 1);
	(void)state;
	for (i = 0; i < depth; i++) {
		body[i] = '[';
		body[2 * depth - 1 - i] = ']';
	}
	body[2 * depth] = '\0';
	run_err(body, ERROR_PARSE, NULL, "depth");
	free(body);
}

/*
 * "explain": true: every prediction carries an explanation whose baseline
 * plus contributions is the reported output (log1p of predicted_sales, the
 * logit of exposure_probability), contributions sorted by |sales|, one per
 * feature; a non-boolean is 422, too many items 413, a model without a
 * reference 422.
 */
static void test_explain_request(void **state)
{
	json_t *r = run_ok("{\"explain\": true, \"items\": [{\"features\": {\"price\": 12, \"weight\": 1, \"brand\": \"b\"}},"
			   " {\"features\": {\"weight\": 2, \"store\": 1}, \"promotion_level\": 2}]}");
	json_t *p = json_object_get(r, "predictions"), *item, *c;
	size_t i, j;
	(void)state;
	json_array_foreach(p, i, item) {
		json_t *x = json_object_get(item, "explanation"), *list = json_object_get(x, "contributions");
		double s = json_real_value(json_object_get(x, "sales_baseline")),
		       e = json_real_value(json_object_get(x, "exposure_baseline")), prev = INFINITY;
		double units = json_real_value(json_object_get(item, "predicted_sales")),
		       prob = json_real_value(json_object_get(item, "exposure_probability"));
		assert_string_equal(json_string_value(json_object_get(x, "method")), "shapley");
		assert_int_equal(json_array_size(list), 5);
		json_array_foreach(list, j, c) {
			double cs = json_number_value(json_object_get(c, "sales"));
			assert_true(fabs(cs) <= prev);
			prev = fabs(cs);
			s += cs;
			e += json_number_value(json_object_get(c, "exposure"));
		}
		/* the reply's numbers have 7 significant digits */
		assert_true(fabs(expm1(s) - units) <= 1e-4 * (1 + units));
		assert_true(fabs(1 / (1 + exp(-e)) - prob) <= 1e-5);
	}
	json_decref(r);
	r = run_ok("{\"explain\": false, \"items\": [{\"features\": {\"weight\": 1}}]}");
	assert_null(json_object_get(json_array_get(json_object_get(r, "predictions"), 0), "explanation"));
	json_decref(r);
	run_err("{\"explain\": 1, \"items\": [{\"features\": {\"weight\": 1}}]}", ERROR_INVALID,
		"explain", "boolean");
	run_err("{\"explain\": \"true\", \"items\": [{\"features\": {\"weight\": 1}}]}", ERROR_INVALID,
		"explain", NULL);
	{
		struct strbuf b;
		strbuf_init(&b);
		weight_items(&b, "{\"explain\": true, ", 51); /* limits.max_explain_items is 50 */
		run_err(b.data, ERROR_TOO_LARGE, "explain", "50 explained items");
		strbuf_done(&b);
	}
}

static void test_explain_needs_a_reference(void **state)
{
	struct model *plain = test_model(TEST_SPEC, 11, 0.5f, NULL);
	const char *body = "{\"explain\": true, \"items\": [{\"features\": {\"weight\": 1}}]}";
	struct strbuf r1, r2;
	struct predict_outcome o1, o2;
	struct error e1, e2;
	(void)state;
	strbuf_init(&r1);
	strbuf_init(&r2);
	error_init(&e1);
	error_init(&e2);
	assert_int_equal(predict_api_run(the_scratch, body, strlen(body), &limits, resolve_ctx, plain, &r1,
					 &o1, &e1), ERROR_INVALID);
	assert_int_equal(predict_api_run_jansson(body, strlen(body), &limits, resolve_ctx, plain, &r2, &o2,
						 &e2), ERROR_INVALID);
	assert_string_equal(e1.field, "explain");
	assert_string_equal(e1.message, e2.message);
	assert_non_null(strstr(e1.message, "no reference rows"));
	predict_outcome_done(&o1);
	predict_outcome_done(&o2);
	strbuf_done(&r1);
	strbuf_done(&r2);
	model_unref(plain);
}

/* Random requests, valid and broken: the fast path and the jansson path must answer alike. */
static void append_number(struct strbuf *b, uint64_t *seed)
{
	int a = (int)(test_rand(seed) % 200), c = (int)(test_rand(seed) % 1000), e = (int)(test_rand(seed) % 30);
	switch (test_rand(seed) % 12) {
	case 0: strbuf_printf(b, "%d", a); break;
	case 1: strbuf_printf(b, "%d.%d", a, c); break;
	case 2: strbuf_printf(b, "-%d.%de-%d", a, c, e); break;
	case 3: strbuf_printf(b, "%de%d", a, e); break;
	case 4: strbuf_printf(b, "0.%03d", c); break;
	case 5: strbuf_printf(b, "%d.0", a); break;
	case 6: strbuf_puts(b, "1e999"); break;
	case 7: strbuf_puts(b, "123456789012345678901"); break;
	case 8: strbuf_puts(b, "0.1234567890123456789012"); break;
	case 9: strbuf_puts(b, "-0"); break;
	case 10: strbuf_puts(b, "1E+2"); break;
	default: strbuf_puts(b, "2.5e-3"); break;
	}
}

static void random_request(struct strbuf *b, uint64_t *seed)
{
	static const char *const cats[] = {"\"a\"", "\"b\"", "\"zz\"", "1", "2", "\"2\"", "2.5", "null",
					   "\"caf\u00e9\"", "\"caf\xc3\xa9\"", "\"x\xff\"", "true", "[1]"};
	int n = 1 + (int)(test_rand(seed) % 4), i;
	strbuf_puts(b, "{");
	if (test_rand(seed) % 4 == 0)
		strbuf_puts(b, "\"include_levels\": true, ");
	if (test_rand(seed) % 6 == 0)
		strbuf_puts(b, test_rand(seed) % 2 ? "\"objective\": \"units\", " : "\"objective\": \"fun\", ");
	if (test_rand(seed) % 8 == 0)
		strbuf_puts(b, "\"model\": \"test\", ");
	if (test_rand(seed) % 5 == 0) {
		static const char *const explain[] = {"true", "false", "1", "\"yes\"", "null", "tru"};
		strbuf_printf(b, "\"explain\": %s, ", explain[test_rand(seed) % 6]);
	}
	if (test_rand(seed) % 4 == 0) {
		static const char *const intervals[] = {"0.9", "0.5", "0.975", "1", "0", "-1", "\"0.9\"",
							 "null", "1e-3", "0.90000000000000000001", "true"};
		strbuf_printf(b, "\"interval\": %s, ",
			      intervals[test_rand(seed) % (sizeof intervals / sizeof intervals[0])]);
	}
	strbuf_puts(b, "\"items\": [");
	for (i = 0; i < n; i++) {
		int k = 0;
		strbuf_printf(b, "%s{", i ? ", " : "");
		if (test_rand(seed) % 3 == 0)
			strbuf_printf(b, test_rand(seed) % 2 ? "\"id\": %d, " : "\"id\": \"sku-%d\", ",
				      (int)(test_rand(seed) % 100));
		strbuf_puts(b, "\"features\": {");
		if (test_rand(seed) % 10) {
			strbuf_puts(b, "\"weight\": ");
			append_number(b, seed);
			k++;
		}
		if (test_rand(seed) % 2) {
			strbuf_printf(b, "%s\"price\": ", k++ ? ", " : "");
			append_number(b, seed);
		}
		if (test_rand(seed) % 2)
			strbuf_printf(b, "%s\"brand\": %s", k++ ? ", " : "",
				      cats[test_rand(seed) % (sizeof cats / sizeof cats[0])]);
		if (test_rand(seed) % 2)
			strbuf_printf(b, "%s\"store\": %s", k++ ? ", " : "",
				      cats[test_rand(seed) % (sizeof cats / sizeof cats[0])]);
		if (test_rand(seed) % 20 == 0)
			strbuf_printf(b, "%s\"weight\": 1", k++ ? ", " : ""); /* a repeated key */
		strbuf_puts(b, "}");
		if (test_rand(seed) % 3 == 0)
			strbuf_printf(b, ", \"promotion_level\": %d", (int)(test_rand(seed) % 5) - 1);
		strbuf_puts(b, "}");
	}
	strbuf_puts(b, test_rand(seed) % 50 ? "]}" : "]");
}

static void test_fast_path_and_jansson_path_answer_alike(void **state)
{
	uint64_t seed = 99;
	int i, ok = 0;
	(void)state;
	for (i = 0; i < 20000; i++) {
		struct strbuf body, r1, r2;
		struct predict_outcome o1, o2;
		struct error e1, e2;
		enum error_code c1, c2;

		strbuf_init(&body);
		strbuf_init(&r1);
		strbuf_init(&r2);
		error_init(&e1);
		error_init(&e2);
		random_request(&body, &seed);
		c1 = predict_api_run(the_scratch, body.data, body.len, &limits, resolve, NULL, &r1, &o1, &e1);
		c2 = predict_api_run_jansson(body.data, body.len, &limits, resolve, NULL, &r2, &o2, &e2);
		if (c1 != c2 || (c1 == ERROR_OK && (r1.len != r2.len || memcmp(r1.data, r2.data, r1.len))) ||
		    strcmp(e1.message, e2.message) || strcmp(e1.field, e2.field))
			fail_msg("request %s\nfast: %d %s %s\njansson: %d %s %s", body.data, c1,
				 r1.data ? r1.data : "", e1.message, c2, r2.data ? r2.data : "", e2.message);
		ok += c1 == ERROR_OK;
		predict_outcome_done(&o1);
		predict_outcome_done(&o2);
		strbuf_done(&body);
		strbuf_done(&r1);
		strbuf_done(&r2);
	}
	print_message("# %d of 20000 random requests were valid; all answered alike\n", ok);
	assert_true(ok > 1000);
}

/*
 * Feature keys the thread has seen before are taken on trust from the last
 * request: that must never carry over to another model whose inputs are the
 * same names in another order, nor to an item whose keys come in another
 * order than the item before it.  Two such models in turn, items of shifting
 * key order, each request checked against the jansson path.
 */

static void test_key_hints_never_carry_over_to_another_model_or_order(void **state)
{
	static const char *const bodies[] = {
		"{\"items\": [{\"features\": {\"price\": 3, \"weight\": 2, \"brand\": \"a\", \"store\": 1}}]}",
		"{\"items\": [{\"features\": {\"weight\": 2, \"price\": 3, \"store\": 1, \"brand\": \"a\"}}]}",
		"{\"items\": [{\"features\": {\"price\": 3, \"weight\": 2}}, {\"features\": {\"weight\": 5, \"price\": 7}},"
		" {\"features\": {\"price\": 9, \"weight\": 1, \"brand\": \"c\"}}]}",
	};
	/* the same inputs as TEST_SPEC, numeric ones in another order: price and weight swap places */
	char spec_b[sizeof TEST_SPEC + 16];
	const char *w = strstr(TEST_SPEC, "{\"name\": \"weight\""), *p = strstr(TEST_SPEC, "{\"name\": \"price\"");
	const char *w_end = strchr(w, '}') + 1, *p_end = strchr(p, '}') + 1;
	struct model *models[2];
	int round;
	(void)state;
	assert_true(p < w && p_end + 1 < w); /* "price {...}, weight {...}" in TEST_SPEC */
	snprintf(spec_b, sizeof spec_b, "%.*s%.*s, %.*s%s", (int)(p - TEST_SPEC), TEST_SPEC, (int)(w_end - w), w,
		 (int)(p_end - p), p, w_end);
	models[0] = the_model;
	models[1] = test_model_named("other", spec_b, 12, 0.5f, NULL);
	for (round = 0; round < 60; round++) {
		const char *body = bodies[(round / 2) % 3];
		struct model *m = models[round % 2 ? round % 4 == 1 : 0];
		struct strbuf r1, r2;
		struct predict_outcome o1, o2;
		struct error e1, e2;
		enum error_code c1, c2;
		strbuf_init(&r1);
		strbuf_init(&r2);
		error_init(&e1);
		error_init(&e2);
		c1 = predict_api_run(the_scratch, body, strlen(body), &limits, resolve_ctx, m, &r1, &o1, &e1);
		c2 = predict_api_run_jansson(body, strlen(body), &limits, resolve_ctx, m, &r2, &o2, &e2);
		if (c1 != ERROR_OK || c2 != ERROR_OK || r1.len != r2.len || memcmp(r1.data, r2.data, r1.len))
			fail_msg("round %d, model %s, %s\nfast: %s %s\njansson: %s %s", round, m->name, body,
				 r1.data ? r1.data : "", e1.message, r2.data ? r2.data : "", e2.message);
		predict_outcome_done(&o1);
		predict_outcome_done(&o2);
		strbuf_done(&r1);
		strbuf_done(&r2);
	}
	model_unref(models[1]);
}

/*
 * The request parser's numbers against strtod/strtoll, bit for bit: random
 * digit strings of every length (short ones and runs past eight digits, at
 * the end of the body and not), with and without fraction and exponent.
 * Whatever it does not take exactly it must hand to jansson.
 */
static void test_fast_numbers_are_exact_or_fall_back(void **state)
{
	uint64_t seed = 5;
	int i, taken = 0;
	(void)state;
	for (i = 0; i < 200000; i++) {
		char num[96], body[160];
		size_t n = 0, k, int_digits = test_rand(&seed) % 21, frac_digits = test_rand(&seed) % 24;
		bool frac = test_rand(&seed) % 3 != 0, expo = test_rand(&seed) % 5 == 0;
		struct reqparse r;

		if (test_rand(&seed) % 4 == 0)
			num[n++] = '-';
		if (int_digits == 0 || test_rand(&seed) % 8 == 0) {
			num[n++] = '0';
		} else {
			num[n++] = (char)('1' + test_rand(&seed) % 9);
			for (k = 1; k < int_digits; k++)
				num[n++] = (char)('0' + test_rand(&seed) % 10);
		}
		if (frac) {
			num[n++] = '.';
			for (k = 0; k < 1 + frac_digits; k++) /* runs of zeros too */
				num[n++] = (char)('0' + (test_rand(&seed) % 3 ? test_rand(&seed) % 10 : 0));
		}
		if (expo)
			n += (size_t)snprintf(num + n, sizeof num - n, "e%s%d", test_rand(&seed) % 2 ? "-" : "",
					      (int)(test_rand(&seed) % 40));
		num[n] = '\0';
		/* the number last in its object, then a tail of 4 bytes (fewer than 8) or more */
		snprintf(body, sizeof body,
			 test_rand(&seed) % 2 ? "{\"items\": [{\"features\": {\"x\": %s}}]}"
					      : "{\"items\": [{\"features\": {\"x\": %s, \"y\": \"abcdefgh\"}}]}",
			 num);
		reqparse_init(&r);
		if (reqparse_parse(&r, body, strlen(body)) == REQPARSE_OK) {
			const struct reqparse_value *v = &r.features[0].value;
			bool integer = !frac && !expo;
			taken++;
			if (integer) {
				if (v->kind != REQPARSE_INT || v->i != strtoll(num, NULL, 10))
					fail_msg("%s: read as kind %d, %lld", num, (int)v->kind, v->i);
			} else {
				double want = strtod(num, NULL);
				if (v->kind != REQPARSE_REAL || memcmp(&v->d, &want, sizeof want))
					fail_msg("%s: read as kind %d, %.17g; strtod gives %.17g", num, (int)v->kind,
						 v->d, want);
			}
		}
		reqparse_done(&r);
	}
	print_message("# %d of 200000 numbers taken by the fast parser, all exact\n", taken);
	assert_true(taken > 50000);
}

/* Every top-level key has its own "seen" bit, and each parse sets every output again. */
static void test_fast_parser_takes_every_top_level_key_once(void **state)
{
	const char *all = "{\"model\": \"m\", \"objective\": \"units\", \"include_levels\": true,"
			  " \"explain\": true, \"interval\": 0.8, \"items\": [{\"features\": {\"x\": 1}}]}";
	const char *plain = "{\"items\": [{\"features\": {\"x\": 1}}]}";
	struct reqparse r;
	(void)state;
	reqparse_init(&r);
	assert_int_equal(reqparse_parse(&r, all, strlen(all)), REQPARSE_OK);
	assert_true(r.explain && r.include_levels);
	assert_int_equal(r.interval.kind, REQPARSE_REAL);
	assert_int_equal(r.model.kind, REQPARSE_STRING);
	assert_int_equal(reqparse_parse(&r, plain, strlen(plain)), REQPARSE_OK);
	assert_false(r.explain || r.include_levels);
	assert_int_equal(r.interval.kind, REQPARSE_NONE);
	assert_int_equal(r.model.kind, REQPARSE_NONE);
	assert_int_equal(r.n_items, 1);
	reqparse_done(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_valid_request_gets_one_prediction_per_item_in_order),
		cmocka_unit_test(test_reported_numbers_match_a_direct_forward_pass),
		cmocka_unit_test(test_bad_requests_name_their_field),
		cmocka_unit_test(test_intervals_and_expected_sales_in_every_prediction_and_level),
		cmocka_unit_test(test_expected_revenue_uses_the_mean_units),
		cmocka_unit_test(test_too_many_items_is_too_large),
		cmocka_unit_test(test_item_limit_stops_reading_at_the_item_past_it),
		cmocka_unit_test(test_several_tiles_answer_as_items_one_by_one),
		cmocka_unit_test(test_a_non_finite_output_names_its_item),
		cmocka_unit_test(test_memory_limit_refuses_before_the_work),
		cmocka_unit_test(test_deep_nesting_is_malformed_not_a_crash),
		cmocka_unit_test(test_fast_path_and_jansson_path_answer_alike),
		cmocka_unit_test(test_explain_request),
		cmocka_unit_test(test_explain_needs_a_reference),
		cmocka_unit_test(test_fast_numbers_are_exact_or_fall_back),
		cmocka_unit_test(test_key_hints_never_carry_over_to_another_model_or_order),
		cmocka_unit_test(test_fast_parser_takes_every_top_level_key_once),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * Unit tests: the price x level search (recommend.h) against a brute force
 * through the prediction path, its constraints, and the /v1/recommend body's
 * errors (recommend_api.h).
 */
#include "testutil.h"

#include <jansson.h>
#include <math.h>

#include "shelfcast/heads.h"
#include "shelfcast/numfmt.h"
#include "shelfcast/predict.h"
#include "shelfcast/recommend.h"
#include "shelfcast/recommend_api.h"
#include "shelfcast/recommend_search.h"
#include "shelfcast/strbuf.h"

#define N_IN 5 /* price, weight, log(price), brand, store */

static void item_values(struct encoder_value *v, double weight, const char *brand)
{
	memset(v, 0, N_IN * sizeof *v);
	v[1] = (struct encoder_value){.kind = ENCODER_VALUE_NUMBER, .number = weight};
	v[3] = (struct encoder_value){.kind = ENCODER_VALUE_STRING, .str = brand, .len = strlen(brand)};
}

/* Item values at price p and level k through the prediction path (one item): its sales output etc. */
static void predict_at(const struct model *m, const struct encoder_value *base, double p, int k,
		       double *expected, double *sales, double *exposure)
{
	struct encoder_value v[N_IN];
	struct predict_batch b;
	struct error err;

	memcpy(v, base, sizeof v);
	v[0] = v[2] = (struct encoder_value){.kind = ENCODER_VALUE_NUMBER, .number = p};
	error_init(&err);
	assert_int_equal(predict_batch_init(&b, m, 1, &err), ERROR_OK);
	assert_int_equal(predict_batch_set(&b, m, 0, v, k, NULL, &err), ERROR_OK);
	predict_batch_run(&b, m, 1, SPEC_OBJECTIVE_REVENUE);
	*expected = b.expected[k];
	*sales = predict_batch_sales(&b, m, (size_t)k);
	*exposure = predict_batch_exposure(&b, (size_t)k);
	predict_batch_done(&b);
}

static struct recommend_ask ask_for(struct encoder_value *v)
{
	return (struct recommend_ask){v, NAN, NAN, NAN, 0, NAN, NAN};
}

/*
 * The chosen option is within 0.5 % of the best the model scores over 3,000
 * prices per level through the prediction path, meets every constraint, and
 * its numbers are the prediction path's at its printed price, bit for bit;
 * the options come best first by those numbers.  120 random models: rougher
 * than trained ones (narrow peaks between grid points are what a search
 * misses), so they are the search's hard case.
 */
static void test_recommend_is_the_best_of_the_model_over_a_fine_grid(void **state)
{
	const char *brands[] = {"a", "b", "c", "zz"};
	uint64_t seed;
	(void)state;
	for (seed = 1; seed <= 120; seed++) {
		struct model *m = test_model(TEST_SPEC, seed, 0.8f, NULL);
		struct encoder_value v[N_IN];
		struct recommend_ask a = ask_for(v);
		struct recommend_params p = {seed % 3 == 0 ? SPEC_OBJECTIVE_REVENUE : SPEC_OBJECTIVE_PROFIT, 3, NAN};
		struct recommend_answer ans;
		struct error err;
		double best = -INFINITY, e, s, x;
		uint64_t r = seed * 7919;
		int k, i;

		item_values(v, 0.5 + 0.1 * (double)(seed % 10), brands[seed % 4]);
		a.unit_cost = 1.0 + (double)(test_rand(&r) % 400) / 100.0;
		a.price_min = 2.0;
		a.price_max = 40.0;
		if (seed % 2)
			a.min_margin = 0.2;
		if (seed % 4 == 1)
			a.levels = 5; /* levels 0 and 2 */
		error_init(&err);
		assert_int_equal(recommend_run(m, &a, 1, &p, &ans, &err), ERROR_OK);
		for (k = 0; k < 3; k++) {
			if (a.levels && !(a.levels >> k & 1))
				continue;
			for (i = 0; i <= 3000; i++) {
				double price = 2.0 + 38.0 * i / 3000.0, eff = price * (1 - m->spec.levels[k].discount);
				if (!isnan(a.min_margin) && (eff - a.unit_cost) / eff < a.min_margin)
					continue;
				predict_at(m, v, price, k, &e, &s, &x);
				best = fmax(best, heads_value(&m->spec, p.objective, (size_t)k, e, price, a.unit_cost));
			}
		}
		assert_true(isfinite(best));
		assert_true(ans.feasible);
		if (ans.opt[0].value < best - 0.005 * fabs(best))
			fail_msg("seed %llu: chose %g, the grid's best is %g", (unsigned long long)seed,
				 ans.opt[0].value, best);
		assert_true(ans.n >= 2 && ans.n <= 4);
		for (i = 0; i < (int)ans.n; i++) {
			const struct recommend_option *o = &ans.opt[i];
			assert_true(o->price >= 2.0 && o->price <= 40.0);
			assert_true(!a.levels || (a.levels >> o->level & 1));
			if (!isnan(a.min_margin))
				assert_true(o->margin >= a.min_margin);
			if (i > 0)
				assert_true(o->value <= ans.opt[i - 1].value);
			predict_at(m, v, o->price, o->level, &e, &s, &x);
			assert_true(e == o->expected && s == o->sales && x == o->exposure);
		}
		model_unref(m);
	}
}

/*
 * At the margin's price floor the printed price keeps the margin, as the
 * reply computes it, within a printed unit of the floor: margins up to
 * 0.99999, cent costs, every level.
 */
static void test_recommend_printed_price_at_the_floor_keeps_the_margin(void **state)
{
	struct model *m = test_model(TEST_SPEC, 3, 0.8f, NULL);
	uint64_t r = 17;
	size_t k, i, raised = 0;
	char buf[NUMFMT_MAX];
	(void)state;
	for (i = 0; i < 200000; i++) {
		double c = (double)(1 + test_rand(&r) % 100000) / 100.0,
		       mm = i % 2 ? (double)(test_rand(&r) % 95) / 100.0 : (double)(test_rand(&r) % 100000) / 100000.0;
		for (k = 0; k < m->spec.n_levels; k++) {
			double fl = recommend_margin_floor(&m->spec, k, c, mm), p, at;
			p = recommend_printed_price(&m->spec, k, c, mm, fl, fl, 1e300, false);
			if (!(recommend_margin(&m->spec, k, c, p) >= mm) || p < fl || p > fl * (1 + 2.1e-6))
				fail_msg("cost %.17g, margin %.17g, level %zu: floor %.17g printed %.17g leaves %.17g", c, mm,
					 k, fl, p, recommend_margin(&m->spec, k, c, p));
			numfmt_g(buf, fl, PREDICT_DIGITS);
			at = strtod(buf, NULL);
			raised += at >= fl && recommend_margin(&m->spec, k, c, at) < mm; /* printed as is, it would not */
		}
	}
	assert_true(raised > 0); /* the margin's division does lose the last bit at the floor, sometimes */
	model_unref(m);
}

/* The margin's division at the floor rounds: the chosen price is the lowest printed price that keeps it. */
static void test_recommend_prints_the_lowest_price_that_keeps_the_margin(void **state)
{
	struct model *m = test_model(TEST_SPEC, 9, 0.8f, NULL);
	struct encoder_value v[N_IN];
	struct recommend_ask a = ask_for(v);
	struct recommend_params p = {SPEC_OBJECTIVE_UNITS, 0, NAN};
	struct recommend_answer ans;
	struct error err;
	double want, unit, e;
	char buf[NUMFMT_MAX];
	(void)state;

	item_values(v, 1.0, "b");
	a.unit_cost = 384.51;
	a.min_margin = 0.86; /* the floor, 2746.4999999999995, prints as 2746.5: a margin of 0.85999999999999988 */
	a.levels = 1;        /* level 0 only */
	a.price_min = 2000;
	a.price_max = 4000;
	error_init(&err);
	assert_int_equal(recommend_run(m, &a, 1, &p, &ans, &err), ERROR_OK);
	assert_true(ans.feasible);
	numfmt_g(buf, recommend_margin_floor(&m->spec, 0, a.unit_cost, a.min_margin), PREDICT_DIGITS);
	want = strtod(buf, NULL);
	unit = pow(10.0, floor(log10(want)) - (PREDICT_DIGITS - 1));
	for (e = want; (e - a.unit_cost) / e < a.min_margin;) { /* level 0: no discount */
		numfmt_g(buf, e + unit, PREDICT_DIGITS);
		e = want = strtod(buf, NULL);
	}
	assert_true(ans.opt[0].margin >= a.min_margin);
	if (ans.opt[0].price != want) /* this model's units fall with the price: the best is at the floor */
		fail_msg("chose %.17g (margin %.17g), the lowest price keeping the margin is %.17g", ans.opt[0].price,
			 ans.opt[0].margin, want);
	model_unref(m);
}

/* A price ending holds at any magnitude (123499.99 has 8 digits), and no two options print alike. */
static void test_recommend_endings_at_any_magnitude_and_distinct_options(void **state)
{
	struct model *m = test_model(TEST_SPEC, 4, 0.8f, NULL);
	struct encoder_value v[N_IN];
	struct recommend_ask a = ask_for(v);
	struct recommend_params p = {SPEC_OBJECTIVE_REVENUE, 3, 0.99};
	struct recommend_answer ans;
	struct error err;
	char buf[NUMFMT_MAX];
	size_t i, j;
	(void)state;

	item_values(v, 1.0, "a");
	a.price_min = 123400;
	a.price_max = 123500;
	error_init(&err);
	assert_int_equal(recommend_run(m, &a, 1, &p, &ans, &err), ERROR_OK);
	assert_true(ans.feasible);
	assert_int_equal(ans.n, 4);
	for (j = 0; j < ans.n; j++) {
		size_t len = numfmt_g(buf, ans.opt[j].price, RECOMMEND_PRICE_DIGITS);
		if (len < 3 || strcmp(buf + len - 3, ".99") || strtod(buf, NULL) != ans.opt[j].price)
			fail_msg("option %zu: price %.17g prints as %s", j, ans.opt[j].price, buf);
	}
	/* a range a few printed units wide: the refined points print as grid points */
	p = (struct recommend_params){SPEC_OBJECTIVE_REVENUE, 3, NAN};
	for (i = 0; i < 40; i++) {
		a.price_min = 10;
		a.price_max = 10.0002 + 0.00005 * (double)i;
		assert_int_equal(recommend_run(m, &a, 1, &p, &ans, &err), ERROR_OK);
		assert_true(ans.feasible);
		for (j = 0; j < ans.n; j++) {
			size_t q;
			for (q = 0; q < j; q++)
				if (ans.opt[q].price == ans.opt[j].price && ans.opt[q].level == ans.opt[j].level)
					fail_msg("max %.17g: options %zu and %zu are both %.17g at level %d", a.price_max, q,
						 j, ans.opt[j].price, ans.opt[j].level);
		}
	}
	model_unref(m);
}

/* Price endings, minimum exposure, and the reasons of an infeasible item. */
static void test_recommend_constraints_and_reasons(void **state)
{
	struct model *m = test_model(TEST_SPEC, 5, 0.8f, NULL);
	struct encoder_value v[N_IN];
	struct recommend_ask a = ask_for(v);
	struct recommend_params p = {SPEC_OBJECTIVE_PROFIT, 10, 0.99};
	struct recommend_answer ans;
	struct error err;
	size_t j;
	(void)state;

	item_values(v, 1.0, "b");
	a.unit_cost = 2.0;
	a.price_min = 3.5;
	a.price_max = 12.2;
	error_init(&err);
	assert_int_equal(recommend_run(m, &a, 1, &p, &ans, &err), ERROR_OK);
	assert_true(ans.feasible);
	for (j = 0; j < ans.n; j++) {
		double cents = ans.opt[j].price - floor(ans.opt[j].price);
		assert_true(fabs(cents - 0.99) < 1e-9);
		assert_true(ans.opt[j].price >= 3.5 && ans.opt[j].price <= 12.2);
	}
	/* 3.99 .. 11.99 at three levels: 27 candidates, all scored; 10 alternatives */
	assert_int_equal(ans.n, 11);

	/* no .99 price in [2.0, 2.5] */
	a.price_min = 2.0;
	a.price_max = 2.5;
	assert_int_equal(recommend_run(m, &a, 1, &p, &ans, &err), ERROR_OK);
	assert_false(ans.feasible);
	assert_non_null(strstr(ans.reason, "no price ending"));

	/* a margin no price in the range leaves */
	p.price_ending = NAN;
	a.price_max = 10;
	a.unit_cost = 9;
	a.min_margin = 0.5;
	assert_int_equal(recommend_run(m, &a, 1, &p, &ans, &err), ERROR_OK);
	assert_false(ans.feasible);
	assert_non_null(strstr(ans.reason, "margin"));

	/* an exposure no candidate reaches; then one every chosen option must clear */
	a.min_margin = NAN;
	a.unit_cost = 1;
	a.min_exposure = 1.0;
	assert_int_equal(recommend_run(m, &a, 1, &p, &ans, &err), ERROR_OK);
	assert_false(ans.feasible);
	assert_non_null(strstr(ans.reason, "exposure"));
	a.min_exposure = 0.0;
	assert_int_equal(recommend_run(m, &a, 1, &p, &ans, &err), ERROR_OK);
	assert_true(ans.feasible);
	a.min_exposure = ans.opt[0].exposure; /* the unconstrained choice's, exactly: it must go */
	assert_int_equal(recommend_run(m, &a, 1, &p, &ans, &err), ERROR_OK);
	for (j = 0; ans.feasible && j < ans.n; j++)
		assert_true(ans.opt[j].exposure >= a.min_exposure);
	model_unref(m);
}

static struct model *the_model;

static struct model *resolve(void *ctx, const char *name, struct error *err)
{
	(void)ctx;
	(void)name;
	(void)err;
	return the_model;
}

static void run_err(const char *body, const char *field)
{
	static const struct predict_limits limits = {100, 64u << 20, 50};
	struct strbuf reply;
	struct predict_outcome o;
	struct error err;
	enum error_code rc;

	strbuf_init(&reply);
	error_init(&err);
	rc = recommend_api_run(body, strlen(body), &limits, resolve, NULL, &reply, &o, &err);
	if (rc != ERROR_INVALID || strcmp(err.field, field))
		fail_msg("%s: code %d field \"%s\" (%s), expected 422 naming \"%s\"", body, rc, err.field,
			 err.message, field);
	assert_int_equal(reply.len, 0);
	predict_outcome_done(&o);
	strbuf_done(&reply);
}

/* Every refused field is named. */
static void test_recommend_body_errors_name_the_field(void **state)
{
	static const struct {
		const char *body, *field;
	} cases[] = {
		{"{\"items\": [{\"features\": {\"weight\": 1}, \"unit_cost\": -1}]}", "items[0].unit_cost"},
		{"{\"items\": [{\"features\": {\"weight\": 1}, \"unit_cost\": \"1\"}]}", "items[0].unit_cost"},
		{"{\"items\": [{\"features\": {\"weight\": 1}, \"price\": {\"min\": 3, \"max\": 2}}]}",
		 "items[0].price.min"},
		{"{\"items\": [{\"features\": {\"weight\": 1}, \"price\": {\"min\": 0}}]}", "items[0].price.min"},
		{"{\"items\": [{\"features\": {\"weight\": 1}, \"price\": {\"max\": -2}}]}", "items[0].price.max"},
		{"{\"items\": [{\"features\": {\"weight\": 1}, \"price\": {\"mid\": 2}}]}", "items[0].price.mid"},
		{"{\"items\": [{\"features\": {\"weight\": 1}, \"levels\": [0, 5]}]}", "items[0].levels[1]"},
		{"{\"items\": [{\"features\": {\"weight\": 1}, \"levels\": []}]}", "items[0].levels"},
		{"{\"items\": [{\"features\": {\"weight\": 1}, \"min_margin\": 1}]}", "items[0].min_margin"},
		{"{\"items\": [{\"features\": {\"weight\": 1}, \"min_margin\": -0.1}]}", "items[0].min_margin"},
		{"{\"items\": [{\"features\": {\"weight\": 1}, \"min_exposure_probability\": 1.01}]}",
		 "items[0].min_exposure_probability"},
		{"{\"objective\": \"profit\", \"items\": [{\"features\": {\"weight\": 1}}]}", "objective"},
		{"{\"objective\": \"profit\", \"items\": [{\"features\": {\"weight\": 1}, \"unit_cost\": 1},"
		 " {\"features\": {\"weight\": 1}}]}",
		 "items[1].unit_cost"},
		{"{\"items\": [{\"features\": {\"weight\": 1}, \"min_margin\": 0.2}]}", "items[0].unit_cost"},
		{"{\"alternatives\": 11, \"items\": [{\"features\": {\"weight\": 1}}]}", "alternatives"},
		{"{\"price_ending\": 1, \"items\": [{\"features\": {\"weight\": 1}}]}", "price_ending"},
		{"{\"price_ending\": -0.01, \"items\": [{\"features\": {\"weight\": 1}}]}", "price_ending"},
		{"{\"items\": [{\"features\": {}}]}", "items[0].features.weight"},
		{"{\"items\": [{\"features\": {\"weight\": 1, \"colour\": 2}}]}", "items[0].features.colour"},
		{"{\"items\": [{\"features\": {\"weight\": 1}, \"promotion_level\": 1}]}",
		 "items[0].promotion_level"},
		{"{\"items\": []}", "items"},
		{"{\"items\": [{\"features\": {\"weight\": 1}}], \"interval\": 0.9}", "interval"},
		{"{\"items\": [{\"features\": {\"weight\": 1}}], \"explain\": 1}", "explain"},
	};
	size_t i;
	(void)state;

	the_model = test_model(TEST_SPEC, 3, 0.8f, NULL);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_err(cases[i].body, cases[i].field);
	model_unref(the_model);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recommend_is_the_best_of_the_model_over_a_fine_grid),
		cmocka_unit_test(test_recommend_printed_price_at_the_floor_keeps_the_margin),
		cmocka_unit_test(test_recommend_prints_the_lowest_price_that_keeps_the_margin),
		cmocka_unit_test(test_recommend_endings_at_any_magnitude_and_distinct_options),
		cmocka_unit_test(test_recommend_constraints_and_reasons),
		cmocka_unit_test(test_recommend_body_errors_name_the_field),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

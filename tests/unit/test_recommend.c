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
#include "shelfcast/reqparse.h"
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
		int k, i, dense;

		item_values(v, 0.5 + 0.1 * (double)(seed % 10), brands[seed % 4]);
		a.unit_cost = 1.0 + (double)(test_rand(&r) % 400) / 100.0;
		a.price_min = 2.0;
		a.price_max = 40.0;
		if (seed % 2)
			a.min_margin = 0.2;
		if (seed % 4 == 1)
			a.levels = 5; /* levels 0 and 2 */
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
		/* the sweep along the price (where the CPU has it), then the dense rows every CPU runs */
		for (dense = 0; dense < 2; dense++) {
			m->sweep.available &= !dense;
			error_init(&err);
			assert_int_equal(recommend_run(m, &a, 1, &p, &ans, &err), ERROR_OK);
			assert_true(ans.feasible);
			if (ans.opt[0].value < best - 0.005 * fabs(best))
				fail_msg("seed %llu, %s rows: chose %g, the grid's best is %g", (unsigned long long)seed,
					 dense ? "dense" : "swept", ans.opt[0].value, best);
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

static const struct predict_limits limits = {100, 64u << 20, 50};
static struct predict_api_scratch *the_scratch; /* the fast path's, kept between requests as a worker keeps it */

/* body through the jansson path alone (fast false) or the fast path first, as the server runs it */
static enum error_code run_body(const char *body, size_t len, bool fast, struct strbuf *reply, struct error *err)
{
	struct predict_outcome o;
	enum error_code rc;

	error_init(err);
	rc = fast ? recommend_api_run_logged(the_scratch, body, len, &limits, resolve, NULL, NULL, reply, &o, err)
		  : recommend_api_run(body, len, &limits, resolve, NULL, reply, &o, err);
	predict_outcome_done(&o);
	return rc;
}

static void run_err(const char *body, const char *field)
{
	struct strbuf reply;
	struct error err;
	enum error_code rc;
	int fast;

	for (fast = 0; fast < 2; fast++) {
		strbuf_init(&reply);
		rc = run_body(body, strlen(body), fast, &reply, &err);
		if (rc != ERROR_INVALID || strcmp(err.field, field))
			fail_msg("%s (%s path): code %d field \"%s\" (%s), expected 422 naming \"%s\"", body,
				 fast ? "fast" : "jansson", rc, err.field, err.message, field);
		assert_int_equal(reply.len, 0);
		strbuf_done(&reply);
	}
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
	the_scratch = predict_api_scratch_new();
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_err(cases[i].body, cases[i].field);
	{ /* an error of the search itself, once every item is read, the fast path answers as it is */
		static const char body[] = "{\"items\": [{\"features\": {\"weight\": 1}, \"min_margin\": 0.2}]}";
		struct predict_outcome o = {0};
		struct strbuf reply;
		struct error err;
		enum error_code rc = ERROR_OK;
		strbuf_init(&reply);
		error_init(&err);
		assert_true(recommend_api_run_fast(the_scratch, body, strlen(body), &limits, resolve, NULL, NULL, &reply,
						   &o, &rc, &err));
		assert_int_equal(rc, ERROR_INVALID);
		assert_string_equal(err.field, "items[0].unit_cost");
		assert_true(o.model == the_model && reply.len == 0);
		predict_outcome_done(&o);
		strbuf_done(&reply);
	}
	predict_api_scratch_free(the_scratch);
	model_unref(the_model);
}

/* The fast parser reads every option of a /v1/recommend body, and only through reqparse_parse_recommend. */
static void test_recommend_tape_reads_every_option(void **state)
{
	static const char body[] =
		"{\"model\": \"m\", \"objective\": \"profit\", \"alternatives\": 2, \"price_ending\": 0.99,"
		" \"explain\": true, \"items\": [{\"id\": \"sku-1\", \"features\": {\"weight\": 0.3, \"brand\": \"a\"},"
		" \"unit_cost\": 1.2, \"price\": {\"min\": 1.99, \"max\": 3}, \"levels\": [0, 2],"
		" \"min_margin\": 0.25, \"min_exposure_probability\": 0.4},"
		" {\"id\": 7, \"features\": {\"weight\": 1}, \"unit_cost\": null, \"price\": null, \"levels\": null,"
		" \"min_margin\": null, \"min_exposure_probability\": null}, {\"features\": {}, \"price\": {}, \"levels\": [1]}]}";
	static const char *const refused[] = {
		"{\"items\": [{\"features\": {}, \"promotion_level\": 1}]}",  /* not this route's */
		"{\"interval\": 0.9, \"items\": [{\"features\": {}}]}",
		"{\"include_levels\": true, \"items\": [{\"features\": {}}]}",
		"{\"items\": [{\"features\": {}, \"levels\": []}]}",           /* jansson says why */
		"{\"items\": [{\"features\": {}, \"levels\": [1.0]}]}",
		"{\"items\": [{\"features\": {}, \"price\": {\"min\": 1, \"mid\": 2}}]}",
		"{\"items\": [{\"features\": {}, \"price\": [1, 2]}]}",
		"{\"items\": [{\"features\": {}, \"unit_cost\": \"1\"}]}",
		"{\"items\": [{\"features\": {}, \"unit_cost\": 1, \"unit_cost\": 2}]}",
		"{\"alternatives\": 1.5, \"items\": [{\"features\": {}}]}",
		"{\"price_ending\": \"0.99\", \"items\": [{\"features\": {}}]}",
	};
	struct reqparse rp;
	const struct reqparse_item *it;
	size_t i;
	(void)state;

	reqparse_init(&rp);
	assert_int_equal(reqparse_parse(&rp, body, strlen(body)), REQPARSE_FALLBACK); /* /v1/predict's shape: no */
	assert_int_equal(reqparse_parse_recommend(&rp, body, strlen(body)), REQPARSE_OK);
	assert_true(rp.alternatives.kind == REQPARSE_INT && rp.alternatives.i == 2);
	assert_true(rp.price_ending.kind == REQPARSE_REAL && rp.price_ending.d == 0.99);
	assert_true(rp.explain && rp.n_items == 3);
	it = &rp.items[0];
	assert_true(it->unit_cost.d == 1.2 && it->price_min.d == 1.99 && it->price_max.kind == REQPARSE_INT &&
		    it->price_max.d == 3 && it->min_margin.d == 0.25 && it->min_exposure.d == 0.4);
	assert_true(it->n_levels == 2 && rp.levels[it->first_level] == 0 && rp.levels[it->first_level + 1] == 2);
	assert_true(it->count == 2 && it->id.kind == REQPARSE_STRING);
	it = &rp.items[1];
	assert_true(it->unit_cost.kind == REQPARSE_NONE && it->price_min.kind == REQPARSE_NONE &&
		    it->price_max.kind == REQPARSE_NONE && it->n_levels == 0 && it->min_margin.kind == REQPARSE_NONE &&
		    it->min_exposure.kind == REQPARSE_NONE && it->id.kind == REQPARSE_INT && it->id.i == 7);
	it = &rp.items[2];
	assert_true(it->price_min.kind == REQPARSE_NONE && it->n_levels == 1 && rp.levels[it->first_level] == 1);
	for (i = 0; i < sizeof refused / sizeof refused[0]; i++)
		if (reqparse_parse_recommend(&rp, refused[i], strlen(refused[i])) != REQPARSE_FALLBACK)
			fail_msg("taken by the fast parser: %s", refused[i]);
	{ /* n levels then a refused one, for every n up to 200 (one of them at each growth of the array), each
	     followed by n + 1 good ones (fd1cea6: a refused value right after a growth lost the grown array) */
		struct strbuf b;
		int n, k, bad;
		strbuf_init(&b);
		for (n = 1; n <= 200; n++)
			for (bad = 1; bad >= 0; bad--) {
				int count = bad ? n : n + 1;
				strbuf_reset(&b);
				strbuf_puts(&b, "{\"items\": [{\"features\": {}, \"levels\": [");
				for (k = 0; k < count; k++)
					strbuf_printf(&b, "%s%d", k ? ", " : "", k % 3);
				strbuf_puts(&b, bad ? ", \"x\"]}]}" : "]}]}");
				assert_int_equal(reqparse_parse_recommend(&rp, b.data, b.len), bad ? REQPARSE_FALLBACK : REQPARSE_OK);
				if (!bad)
					assert_true(rp.items[0].n_levels == (size_t)count &&
						    rp.levels[rp.items[0].first_level + (size_t)count - 1] == (count - 1) % 3);
			}
		strbuf_done(&b);
	}
	reqparse_done(&rp);
}

static void append_option_number(struct strbuf *b, uint64_t *seed)
{
	static const char *const v[] = {"0", "0.25", "1", "1.2", "3.49", "2", "-1", "0.99", "1e999", "null",
					"\"1\"", "true", "0.9999999", "1E1", "40", "0.1234567890123456789012"};
	strbuf_puts(b, v[test_rand(seed) % (sizeof v / sizeof v[0])]);
}

/* A random /v1/recommend body: valid and broken alike. */
static void random_recommend(struct strbuf *b, uint64_t *seed)
{
	static const char *const cats[] = {"\"a\"", "\"b\"", "\"zz\"", "1", "2", "\"2\"", "2.5", "null", "true"};
	static const char *const top[] = {"\"alternatives\": 2, ", "\"alternatives\": 11, ", "\"alternatives\": null, ",
					  "\"price_ending\": 0.99, ", "\"price_ending\": 1, ", "\"objective\": \"profit\", ",
					  "\"objective\": \"units\", ", "\"objective\": \"fun\", ", "\"model\": \"test\", ",
					  "\"explain\": true, ", "\"interval\": 0.9, ", "\"alternatives\": 1.0, "};
	static const char *const levels[] = {"[0]", "[0, 2]", "[2, 1, 0]", "[]", "[5]", "[1.5]", "null", "[\"1\"]"};
	int n = 1 + (int)(test_rand(seed) % 3), i, t;
	strbuf_puts(b, "{");
	for (t = 0; t < 2; t++)
		if (test_rand(seed) % 3 == 0)
			strbuf_puts(b, top[test_rand(seed) % (sizeof top / sizeof top[0])]);
	strbuf_puts(b, "\"items\": [");
	for (i = 0; i < n; i++) {
		strbuf_printf(b, "%s{", i ? ", " : "");
		if (test_rand(seed) % 3 == 0)
			strbuf_printf(b, test_rand(seed) % 2 ? "\"id\": %d, " : "\"id\": \"sku-%d\", ",
				      (int)(test_rand(seed) % 100));
		strbuf_puts(b, "\"features\": {");
		if (test_rand(seed) % 12)
			strbuf_printf(b, "\"weight\": %d.%d", (int)(test_rand(seed) % 3), (int)(test_rand(seed) % 10));
		else
			strbuf_puts(b, "\"size\": 1");
		if (test_rand(seed) % 2)
			strbuf_printf(b, ", \"price\": %d.5", 1 + (int)(test_rand(seed) % 30));
		if (test_rand(seed) % 2)
			strbuf_printf(b, ", \"brand\": %s", cats[test_rand(seed) % (sizeof cats / sizeof cats[0])]);
		if (test_rand(seed) % 3 == 0)
			strbuf_printf(b, ", \"store\": %s", cats[test_rand(seed) % (sizeof cats / sizeof cats[0])]);
		strbuf_puts(b, "}");
		if (test_rand(seed) % 3 == 0) {
			strbuf_puts(b, ", \"unit_cost\": ");
			append_option_number(b, seed);
		}
		if (test_rand(seed) % 3 == 0) {
			strbuf_puts(b, ", \"price\": {\"min\": ");
			append_option_number(b, seed);
			strbuf_puts(b, test_rand(seed) % 2 ? ", \"max\": " : "}");
			if (b->data[b->len - 1] != '}') {
				append_option_number(b, seed);
				strbuf_puts(b, "}");
			}
		}
		if (test_rand(seed) % 3 == 0)
			strbuf_printf(b, ", \"levels\": %s", levels[test_rand(seed) % (sizeof levels / sizeof levels[0])]);
		if (test_rand(seed) % 4 == 0) {
			strbuf_puts(b, test_rand(seed) % 2 ? ", \"min_margin\": " : ", \"min_exposure_probability\": ");
			append_option_number(b, seed);
		}
		if (test_rand(seed) % 30 == 0)
			strbuf_puts(b, ", \"promotion_level\": 1");
		strbuf_puts(b, "}");
	}
	strbuf_puts(b, test_rand(seed) % 50 ? "]}" : "]");
}

/* Random bodies, valid and broken: the fast path (with its fallback) and the jansson path answer alike. */
static void test_recommend_fast_and_jansson_paths_answer_alike(void **state)
{
	uint64_t seed = 5;
	int i, ok = 0, fast = 0;
	(void)state;

	the_model = test_model(TEST_SPEC, 3, 0.8f, NULL);
	the_scratch = predict_api_scratch_new();
	for (i = 0; i < 3000; i++) {
		struct strbuf body, r1, r2;
		struct error e1, e2;
		enum error_code c1, c2;

		strbuf_init(&body);
		strbuf_init(&r1);
		strbuf_init(&r2);
		random_recommend(&body, &seed);
		c1 = run_body(body.data, body.len, true, &r1, &e1);
		c2 = run_body(body.data, body.len, false, &r2, &e2);
		if (c1 != c2 || r1.len != r2.len || (r1.len && memcmp(r1.data, r2.data, r1.len)) ||
		    strcmp(e1.message, e2.message) || strcmp(e1.field, e2.field))
			fail_msg("request %s\nfast: %d %s %s\njansson: %d %s %s", body.data, c1, r1.data ? r1.data : "",
				 e1.message, c2, r2.data ? r2.data : "", e2.message);
		ok += c1 == ERROR_OK;
		if (c1 == ERROR_OK) { /* answered by the fast path itself, unless a feature or option is not its */
			struct predict_outcome o = {0};
			enum error_code c3;
			strbuf_reset(&r1);
			error_init(&e1);
			fast += recommend_api_run_fast(the_scratch, body.data, body.len, &limits, resolve, NULL, NULL,
						       &r1, &o, &c3, &e1) &&
				c3 == ERROR_OK && r1.len == r2.len && !memcmp(r1.data, r2.data, r1.len);
			predict_outcome_done(&o);
		}
		strbuf_done(&body);
		strbuf_done(&r1);
		strbuf_done(&r2);
	}
	print_message("# %d of 3000 answered, %d of them by the fast path alone\n", ok, fast);
	assert_true(ok > 300 && fast > ok / 2);
	predict_api_scratch_free(the_scratch);
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
		cmocka_unit_test(test_recommend_tape_reads_every_option),
		cmocka_unit_test(test_recommend_fast_and_jansson_paths_answer_alike),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

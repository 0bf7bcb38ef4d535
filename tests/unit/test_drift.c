/* Unit tests: drift histograms, PSI, the tally and the sliding window. */
#include "testutil.h"

#include <math.h>

#include "shelfcast/drift.h"

/* tests/data/spec/ok_drift: numeric price (raw and log), weight; categorical brand (a, b, c), store (1, 2). */
static void load_spec(struct spec *spec)
{
	struct error err;
	size_t len = 0;
	char *text = test_data("spec/ok_drift/input.json", &len);

	assert_non_null(text);
	error_init(&err);
	assert_int_equal(spec_parse_string(text, len, spec, &err), ERROR_OK);
	free(text);
}

static void test_drift_psi_matches_a_hand_computation(void **state)
{
	const double ref[2] = {0.5, 0.5}, skewed[2] = {1.0, 0.0};
	const uint32_t counts[2] = {3, 1}, even[2] = {1, 1}, none[2] = {0, 0};
	(void)state;
	/* a = (0.75, 0.25): 0.25 ln 1.5 + (-0.25) ln 0.5 */
	assert_true(fabs(drift_psi(ref, counts, 2) - (0.25 * log(1.5) - 0.25 * log(0.5))) < 1e-12);
	assert_true(fabs(drift_psi(ref, counts, 2) - 0.2746530721670274) < 1e-12);
	/* identical shares: 0 */
	assert_true(drift_psi(ref, even, 2) == 0);
	/* an empty reference bin is floored at epsilon: (0.5 - 1) ln 0.5 + (0.5 - 1e-4) ln(0.5 / 1e-4) */
	assert_true(fabs(drift_psi(skewed, even, 2) -
			 (-0.5 * log(0.5) + (0.5 - DRIFT_EPSILON) * log(0.5 / DRIFT_EPSILON))) < 1e-12);
	/* no values: no figure */
	assert_true(isnan(drift_psi(ref, none, 2)));
}

static void test_drift_bin_counts_the_edges_at_or_below(void **state)
{
	/* ties: edges 3 and 4 equal make bin 4 empty; a value on them goes above both */
	const double e[SPEC_DRIFT_BINS - 1] = {1, 2, 3, 5, 5, 6, 7, 8, 9};
	(void)state;
	assert_int_equal(drift_bin(e, 0.5), 0);
	assert_int_equal(drift_bin(e, 1), 1);
	assert_int_equal(drift_bin(e, 4.9), 3);
	assert_int_equal(drift_bin(e, 5), 5);
	assert_int_equal(drift_bin(e, 8.99), 8);
	assert_int_equal(drift_bin(e, 9), 9);
	assert_int_equal(drift_bin(e, 1e300), 9);
	assert_int_equal(drift_bin(e, -1e300), 0);
}

/* One item: price, weight (NAN: missing), brand slot (-1: missing; 3 is unknown), store slot. */
static void add(struct drift_tally *t, const struct spec *spec, double price, double weight,
		int brand, int store, bool price_clipped)
{
	struct encoder_value v[5];
	uint32_t clipped[1] = {0};

	memset(v, 0, sizeof v);
	v[0] = (struct encoder_value){.kind = ENCODER_VALUE_NUMBER, .number = price};
	v[2] = v[0]; /* the log input reads the same feature */
	v[1].kind = isnan(weight) ? ENCODER_VALUE_MISSING : ENCODER_VALUE_NUMBER;
	v[1].number = weight;
	v[3].kind = brand < 0 ? ENCODER_VALUE_MISSING : ENCODER_VALUE_STRING;
	v[4].kind = ENCODER_VALUE_STRING;
	t->slots[0] = brand < 0 ? 3 : (uint32_t)brand; /* the encoder sends a missing one to unknown */
	t->slots[1] = (uint32_t)store;
	(void)spec;
	drift_tally_add(t, v, clipped, price_clipped ? 1 : 0);
}

static void test_drift_window_counts_rates_and_slides(void **state)
{
	struct spec spec;
	struct drift_tally t;
	struct drift_window *w;
	struct drift_stat s[4];
	size_t items = 0, i;
	(void)state;
	load_spec(&spec);
	assert_int_equal(drift_features(&spec), 4);
	assert_string_equal(drift_feature_name(&spec, 1), "weight");
	assert_string_equal(drift_feature_name(&spec, 2), "brand");
	assert_true(drift_feature_is_categorical(&spec, 2) && !drift_feature_is_categorical(&spec, 1));
	w = drift_window_new(&spec, 4);
	assert_non_null(w);
	drift_tally_init(&t);
	assert_true(drift_tally_begin(&t, &spec, 4, 2));
	add(&t, &spec, 2.5, 0.5, 0, 0, false);
	add(&t, &spec, 100, NAN, 3, 1, true);
	drift_window_commit(w, &t);
	drift_window_stats(w, s, &items);
	assert_int_equal(items, 2);
	assert_true(s[0].missing_rate == 0 && s[0].out_of_range_rate == 0.5 && isnan(s[0].unknown_rate));
	assert_true(s[1].missing_rate == 0.5 && s[1].values == 1);
	assert_true(s[2].unknown_rate == 0.5 && isnan(s[2].out_of_range_rate));
	assert_true(isnan(s[0].psi)); /* 2 values: fewer than min(1000, window 4) */
	/* a request of 6 items keeps its last 4, and they replace the window whole */
	assert_true(drift_tally_begin(&t, &spec, 4, 6));
	for (i = 0; i < 6; i++)
		add(&t, &spec, i < 2 ? 100 : 2.5, 0.5, i < 2 ? -1 : 1, 0, i < 2);
	drift_window_commit(w, &t);
	drift_window_stats(w, s, &items);
	assert_int_equal(items, 4);
	assert_true(s[0].out_of_range_rate == 0 && s[1].missing_rate == 0);
	assert_true(s[2].missing_rate == 0 && s[2].unknown_rate == 0);
	/* every price in bin 1 (2 <= x < 3) against 0.1 per bin: 0.9 ln 10 + 9 (1e-4 - 0.1) ln(1e-3) */
	assert_true(fabs(s[0].psi - (0.9 * log(10) + 9 * (DRIFT_EPSILON - 0.1) * log(DRIFT_EPSILON / 0.1))) <
		    1e-9);
	/* brand all b against (0.5, 0.25, 0.125, 0.125) */
	assert_true(fabs(s[2].psi - (-0.5 + DRIFT_EPSILON) * log(DRIFT_EPSILON / 0.5) -
			 0.75 * log(4) - 2 * (DRIFT_EPSILON - 0.125) * log(DRIFT_EPSILON / 0.125)) < 1e-9);
	/* one more item slides the oldest out */
	assert_true(drift_tally_begin(&t, &spec, 4, 1));
	add(&t, &spec, 100, NAN, -1, 2, true);
	drift_window_commit(w, &t);
	drift_window_stats(w, s, &items);
	assert_int_equal(items, 4);
	assert_true(s[0].out_of_range_rate == 0.25 && s[1].missing_rate == 0.25 && s[2].missing_rate == 0.25);
	assert_true(s[3].unknown_rate == 0.25);
	drift_tally_done(&t);
	drift_window_free(w);
	spec_done(&spec);
}

/* The request path bins with a vector compare (drift.c): the same bin as drift_bin, edges and ties included. */
static void test_drift_tally_bins_as_drift_bin_does(void **state)
{
	struct spec spec;
	struct drift_tally t;
	struct encoder_value v[5];
	uint64_t seed = 17;
	size_t i, k;
	(void)state;
	load_spec(&spec);
	drift_tally_init(&t);
	assert_true(drift_tally_begin(&t, &spec, 1, 1));
	memset(v, 0, sizeof v);
	v[3].kind = v[4].kind = ENCODER_VALUE_STRING;
	for (i = 0; i < 20000; i++) {
		for (k = 0; k < 2; k++) {
			const double *e = spec.drift_numeric[k].edges;
			double x = i % 4 ? test_uniform(&seed, -1, 12) : e[test_rand(&seed) % (SPEC_DRIFT_BINS - 1)];
			if (i % 8 == 1)
				x = nextafter(x, -INFINITY); /* just below an edge */
			v[spec.drift_numeric[k].input] = (struct encoder_value){.kind = ENCODER_VALUE_NUMBER, .number = x};
		}
		drift_tally_add(&t, v, NULL, 0);
		for (k = 0; k < 2; k++)
			assert_int_equal(t.cells[k],
					 drift_bin(spec.drift_numeric[k].edges, v[spec.drift_numeric[k].input].number));
	}
	drift_tally_done(&t);
	spec_done(&spec);
}

static void test_drift_is_off_without_a_reference_or_a_window(void **state)
{
	struct spec spec;
	struct drift_tally t;
	(void)state;
	load_spec(&spec);
	drift_tally_init(&t);
	assert_null(drift_window_new(&spec, 0));
	assert_false(drift_tally_begin(&t, &spec, 0, 10));
	spec_drift_done(&spec);
	assert_int_equal(drift_features(&spec), 0);
	assert_null(drift_window_new(&spec, 100));
	assert_false(drift_tally_begin(&t, &spec, 100, 10));
	assert_null(t.spec);
	drift_tally_done(&t);
	spec_done(&spec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drift_psi_matches_a_hand_computation),
		cmocka_unit_test(test_drift_bin_counts_the_edges_at_or_below),
		cmocka_unit_test(test_drift_window_counts_rates_and_slides),
		cmocka_unit_test(test_drift_tally_bins_as_drift_bin_does),
		cmocka_unit_test(test_drift_is_off_without_a_reference_or_a_window),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

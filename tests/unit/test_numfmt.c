/* Unit tests: numfmt, number to text without stdio, against snprintf. */
#include "testutil.h"

#include <float.h>
#include <math.h>

#include "shelfcast/numfmt.h"

/* numfmt_g must write what snprintf("%.*g") writes; compare them and count the differences. */
static int compare_g(double v, int digits)
{
	char want[64], got[NUMFMT_MAX];
	size_t n = numfmt_g(got, v, digits);
	snprintf(want, sizeof want, "%.*g", digits, v);
	if (strcmp(want, got) || n != strlen(want)) {
		print_error("numfmt_g(%a, %d) = \"%s\", snprintf gives \"%s\"\n", v, digits, got, want);
		return 1;
	}
	return 0;
}

/* A few cases written out, so a reader sees the format without running snprintf. */
static void test_numfmt_g_writes_percent_g(void **state)
{
	static const struct {
		double v;
		int digits;
		const char *text;
	} cases[] = {
		{4210.5, 7, "4210.5"},
		{0.1, 7, "0.1"},
		{2.5, 1, "2"},         /* a tie goes to the even digit */
		{3.5, 1, "4"},
		{0.0001, 7, "0.0001"}, /* exponent -4 is still written plainly ... */
		{0.00001, 7, "1e-05"}, /* ... -5 is not */
		{123456789.0, 7, "1.234568e+08"},
		{1e100, 3, "1e+100"},
		{-0.0, 7, "-0"},
		{-1.25, 2, "-1.2"},
	};
	char got[NUMFMT_MAX];
	size_t i;
	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = numfmt_g(got, cases[i].v, cases[i].digits);
		if (strcmp(got, cases[i].text) || n != strlen(cases[i].text))
			fail_msg("numfmt_g(%g, %d) = \"%s\" (%zu), expected \"%s\"", cases[i].v, cases[i].digits,
				 got, n, cases[i].text);
	}
}

static void test_numfmt_g_clamps_digits_to_1_through_17(void **state)
{
	char got[NUMFMT_MAX];
	(void)state;
	numfmt_g(got, 1.0 / 3.0, 0);
	assert_string_equal(got, "0.3");
	numfmt_g(got, 1.0 / 3.0, -5);
	assert_string_equal(got, "0.3");
	numfmt_g(got, 1.0 / 3.0, 40);
	assert_string_equal(got, "0.33333333333333331");
}

static void test_numfmt_g_matches_snprintf_on_millions_of_values(void **state)
{
	uint64_t seed = 0x5eedf00dULL;
	int bad = 0, k, d;
	long i;
	(void)state;
	/* Random magnitudes over 1e-25..1e25, random precision. */
	for (i = 0; i < 1000000; i++) {
		double mant = (double)(test_rand(&seed) >> 11) / 9007199254740992.0;
		int e = (int)(test_rand(&seed) % 51) - 25;
		double v = mant * pow(10.0, e) * ((test_rand(&seed) & 1) ? -1 : 1);
		bad += compare_g(v, 1 + (int)(test_rand(&seed) % 17));
	}
	/* Any bit pattern: subnormals, huge values, NaN and infinities. */
	for (i = 0; i < 200000; i++) {
		uint64_t bits = test_rand(&seed);
		double v;
		memcpy(&v, &bits, sizeof v);
		bad += compare_g(v, 1 + (int)(test_rand(&seed) % 17));
	}
	/* The served precision (7 digits) over the magnitudes replies carry, and values at and a hair
	 * from a decimal half at that precision. */
	for (i = 0; i < 1000000; i++) {
		double mant = (double)(test_rand(&seed) >> 11) / 9007199254740992.0;
		int e = (int)(test_rand(&seed) % 11) - 4;
		double v = (0.1 + mant) * pow(10.0, e), half;
		bad += compare_g(v, 7);
		half = (floor(v * 1e6 / pow(10.0, e)) + 0.5) * pow(10.0, e) / 1e6;
		bad += compare_g(half, 7) + compare_g(nextafter(half, 0), 7) + compare_g(nextafter(half, INFINITY), 7);
	}
	/* Exact binary fractions: decimal ties at some precision (round half to even). */
	for (i = 0; i < 200000; i++) {
		double v = ldexp((double)(test_rand(&seed) % 2000000), -(int)(test_rand(&seed) % 12));
		bad += compare_g(v, 1 + (int)(test_rand(&seed) % 8));
	}
	/* Beside every power of ten, where the exponent estimate is off by one, and at it. */
	for (k = -30; k <= 30; k++) {
		double p = pow(10.0, k);
		for (d = 1; d <= 17; d++) {
			bad += compare_g(p, d);
			bad += compare_g(nextafter(p, 0), d);
			bad += compare_g(nextafter(p, INFINITY), d);
			bad += compare_g(p * 0.99999995, d); /* rounds up to the power at low precision */
		}
	}
	for (i = 0; i <= 100000; i++)
		bad += compare_g((double)i, 7) + compare_g((double)i / 1000.0, 7);
	bad += compare_g(0.0, 7) + compare_g(-0.0, 7) + compare_g(DBL_MAX, 17) + compare_g(DBL_MIN, 17) +
	       compare_g(5e-324, 3) + compare_g(0.0001, 7) + compare_g(0.00001, 7) + compare_g(1e7, 7);
	assert_int_equal(bad, 0);
}

static void test_numfmt_int_covers_the_whole_range(void **state)
{
	uint64_t seed = 42;
	char want[32], got[NUMFMT_MAX];
	long i;
	(void)state;
	assert_int_equal(numfmt_int(got, -9223372036854775807LL - 1), 20);
	assert_string_equal(got, "-9223372036854775808");
	numfmt_int(got, 9223372036854775807LL);
	assert_string_equal(got, "9223372036854775807");
	assert_int_equal(numfmt_int(got, 0), 1);
	assert_string_equal(got, "0");
	for (i = 0; i < 100000; i++) {
		long long v = (long long)test_rand(&seed) >> (test_rand(&seed) % 63);
		size_t n = numfmt_int(got, v);
		snprintf(want, sizeof want, "%lld", v);
		assert_string_equal(got, want);
		assert_int_equal(n, strlen(want));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numfmt_g_writes_percent_g),
		cmocka_unit_test(test_numfmt_g_clamps_digits_to_1_through_17),
		cmocka_unit_test(test_numfmt_g_matches_snprintf_on_millions_of_values),
		cmocka_unit_test(test_numfmt_int_covers_the_whole_range),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

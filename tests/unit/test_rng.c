/* Unit tests: the seeded generator. */
#include "testutil.h"

#include "shelfcast/rng.h"

static void test_rng_same_seed_same_sequence(void **state)
{
	struct rng a = {42}, b = {42}, c = {43};
	int i, differ = 0;
	(void)state;
	for (i = 0; i < 100; i++) {
		uint64_t x = rng_next(&a);
		assert_true(x == rng_next(&b));
		differ += x != rng_next(&c);
	}
	assert_true(differ > 90);
}

static void test_rng_uniform_stays_in_the_unit_interval_and_fills_it(void **state)
{
	struct rng r = {7};
	int i, low = 0, high = 0;
	(void)state;
	for (i = 0; i < 10000; i++) {
		double u = rng_uniform(&r);
		assert_true(u >= 0.0 && u < 1.0);
		low += u < 0.1;
		high += u >= 0.9;
	}
	/* about 1000 each; 5 standard deviations either side */
	assert_in_range(low, 850, 1150);
	assert_in_range(high, 850, 1150);
}

static void test_rng_shuffle_is_a_permutation(void **state)
{
	struct rng r = {3};
	size_t a[50], seen[50] = {0}, i, moved = 0;
	(void)state;
	for (i = 0; i < 50; i++)
		a[i] = i;
	rng_shuffle(&r, a, 50);
	for (i = 0; i < 50; i++) {
		seen[a[i]]++;
		moved += a[i] != i;
	}
	for (i = 0; i < 50; i++)
		assert_int_equal(seen[i], 1);
	assert_true(moved > 40);
	rng_shuffle(&r, a, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng_same_seed_same_sequence),
		cmocka_unit_test(test_rng_uniform_stays_in_the_unit_interval_and_fills_it),
		cmocka_unit_test(test_rng_shuffle_is_a_permutation),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests: acceptor — libmicrohttpd's connection limit kept out of the acceptor's way. */
#include "testutil.h"

#include <limits.h>

#include "shelfcast/acceptor.h"

/* Each worker's share (libmicrohttpd divides the option by the workers) holds the whole limit and a burst. */
static void test_acceptor_mhd_limit_gives_every_worker_the_whole_limit_and_a_burst(void **state)
{
	static const unsigned limits[] = {1, 4, 16384, 1000000};
	static const unsigned workers[] = {1, 2, 3, 64};
	size_t i, j;
	(void)state;
	for (i = 0; i < sizeof limits / sizeof *limits; i++)
		for (j = 0; j < sizeof workers / sizeof *workers; j++) {
			unsigned m = acceptor_mhd_limit(limits[i], workers[j]);
			assert_true(m / workers[j] >= limits[i] + ACCEPTOR_BURST);
		}
	assert_int_equal(acceptor_mhd_limit(4, 2), 2 * (4 + ACCEPTOR_BURST));
	assert_int_equal(acceptor_mhd_limit(4, 0), 4 + ACCEPTOR_BURST); /* no workers: the daemon's own thread */
	assert_int_equal(acceptor_mhd_limit(UINT_MAX - 10, 8), UINT_MAX); /* capped, never wrapped */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acceptor_mhd_limit_gives_every_worker_the_whole_limit_and_a_burst),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

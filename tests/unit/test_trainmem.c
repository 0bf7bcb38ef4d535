/* Unit tests: the training memory estimate and its refusal. */
#include "testutil.h"

#include <math.h>

#include "shelfcast/trainmem.h"

static void test_need_counts_the_encoded_rows_network_and_baselines(void **state)
{
	struct spec s;
	double need, rows;
	(void)state;
	memset(&s, 0, sizeof s);
	s.input_size = 100;
	s.n_hidden = 1;
	s.hidden[0] = 10;
	/* rows 1000x100x4 + split 1000x7x8 + params 7x(10x101 + 2x11)x4
	 * + acts 64x(100+10+2 + 2x100)x4 + dense baseline 101^2x8 + 2048x101x8 + 1000x3x8 */
	need = trainmem_need(&s, 1000, 64);
	assert_true(fabs(need - (400000.0 + 56000 + 7 * 1032 * 4 + 64 * 312 * 4 + 101.0 * 101 * 8 +
				 2048.0 * 101 * 8 + 24000)) < 1);
	/* past the dense solver the baseline term is linear in the width: 23 words of D, 16 MiB */
	s.input_size = 100000;
	rows = 1000.0 * 100000 * 4;
	need = trainmem_need(&s, 1000, 64);
	assert_true(fabs(need - (rows + 56000 + 7 * (10 * 100001.0 + 22) * 4 + 64 * 300012.0 * 4 +
				 23 * 100001.0 * 8 + (16 << 20) + 24000)) < 1);
}

static void test_check_refuses_what_cannot_fit_and_names_the_widest_feature(void **state)
{
	struct spec s;
	struct spec_categorical cats[2];
	struct error err;
	(void)state;
	memset(&s, 0, sizeof s);
	memset(cats, 0, sizeof cats);
	cats[0].name = (char *)"store";
	cats[0].n_vocabulary = 40;
	cats[1].name = (char *)"brand";
	cats[1].n_vocabulary = 99990;
	s.categorical = cats;
	s.n_categorical = 2;
	s.input_size = 100032;
	s.n_hidden = 1;
	s.hidden[0] = 64;
	error_init(&err);
	/* 10^8 rows x 10^5 inputs: 40 PB, more than any machine */
	assert_int_equal(trainmem_check(&s, 100000000, 256, &err), ERROR_TOO_LARGE);
	assert_non_null(strstr(err.message, "feature brand alone has 99990 categories"));
	assert_non_null(strstr(err.message, "100000000 rows x 100032 encoded inputs"));
	assert_string_equal(err.field, "cleaning.min_count");
	/* and a small run fits */
	error_init(&err);
	assert_int_equal(trainmem_check(&s, 10, 256, &err), ERROR_OK);
	assert_true(trainmem_available() > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_need_counts_the_encoded_rows_network_and_baselines),
		cmocka_unit_test(test_check_refuses_what_cannot_fit_and_names_the_widest_feature),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

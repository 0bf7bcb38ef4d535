/* Unit tests: the training memory estimate and its refusal. */
#include "testutil.h"

#include <math.h>

#include "shelfcast/trainmem.h"

#define MAXF(a, b) ((a) > (b) ? (a) : (b))

/* 100 inputs -> 10 units -> the heads, in batches of 64 rows. */
static void small_run(struct spec *s, struct dataset_config *cfg)
{
	memset(s, 0, sizeof *s);
	memset(cfg, 0, sizeof *cfg);
	s->input_size = 100;
	s->n_hidden = 1;
	s->hidden[0] = 10;
	cfg->batch_size = 64; /* networks are sized for LEARN_EVAL_ROWS = 4096 rows all the same */
}

static void test_need_counts_the_encoded_rows_network_and_baselines(void **state)
{
	struct spec s;
	struct dataset_config cfg;
	double need, rows;
	(void)state;
	small_run(&s, &cfg);
	/* rows 1000x100x4 + split 1000x7x8
	 * + networks: the larger of training 7x(10x101 + 2x11)x4 + 4096x(100+10+2 + 2x100)x4
	 *   and packing (1032 + 14x101 + 2x15)x4 + 4096x(100+14+2 + 2x100)x4
	 * + dense baseline 101^2x8 + 2048x101x8 + 1000x3x8 */
	need = trainmem_need(&s, &cfg, 1000);
	assert_true(fabs(need - (400000.0 + 56000 +
				 MAXF(7 * 1032 * 4 + 4096 * 312 * 4.0, (1032 + 1444) * 4 + 4096 * 316 * 4.0) +
				 101.0 * 101 * 8 + 2048.0 * 101 * 8 + 24000)) < 1);
	/* past the dense solver the baseline term is linear in the width: 23 words of D, 16 MiB */
	s.input_size = 100000;
	rows = 1000.0 * 100000 * 4;
	need = trainmem_need(&s, &cfg, 1000);
	assert_true(fabs(need - (rows + 56000 +
				 MAXF(7 * (10 * 100001.0 + 22) * 4 + 4096 * 300012.0 * 4,
				      (10 * 100001.0 + 22 + 14 * 100001.0 + 30) * 4 + 4096 * 300016.0 * 4) +
				 23 * 100001.0 * 8 + (16 << 20) + 24000)) < 1);
}

static void test_need_counts_every_member_the_refit_copy_and_the_packed_network(void **state)
{
	struct spec s;
	struct dataset_config cfg;
	double one, need;
	(void)state;
	small_run(&s, &cfg);
	cfg.members = 1;
	one = trainmem_need(&s, &cfg, 1000);
	cfg.members = 4;
	cfg.refit = true;
	need = trainmem_need(&s, &cfg, 1000);
	/* training: 3 members kept + 7 copies + the early-stopping weights of 1032 parameters;
	 * packing: 4 members and the packed 100 -> 44 -> 2 network (44x101 + 2x45 = 4534) */
	assert_true(fabs(need - (400000.0 + 56000 +
				 MAXF(11 * 1032 * 4 + 4096 * 312 * 4.0, (4 * 1032 + 4534) * 4 + 4096 * 346 * 4.0) +
				 101.0 * 101 * 8 + 2048.0 * 101 * 8 + 24000)) < 1);
	assert_true(need > one);
	/* wide inputs and batches past LEARN_EVAL_ROWS: training the last member is the peak,
	 * 1 kept + 7 copies + the refit copy of 10x100001 + 22 parameters, 8192-row batches */
	s.input_size = 100000;
	cfg.members = 2;
	cfg.batch_size = 8192;
	need = trainmem_need(&s, &cfg, 1000);
	assert_true(fabs(need - (1000.0 * 100000 * 4 + 56000 + 9 * 1000032.0 * 4 +
				 8192 * 300012.0 * 4 + 23 * 100001.0 * 8 + (16 << 20) + 24000)) < 1);
	cfg.refit = false;
	assert_true(fabs(need - trainmem_need(&s, &cfg, 1000) - 1000032.0 * 4) < 1);
}

static void test_check_refuses_what_cannot_fit_and_names_the_widest_feature(void **state)
{
	struct spec s;
	struct spec_categorical cats[2];
	struct dataset_config cfg;
	struct error err;
	(void)state;
	memset(&s, 0, sizeof s);
	memset(&cfg, 0, sizeof cfg);
	cfg.batch_size = 256;
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
	assert_int_equal(trainmem_check(&s, &cfg, 100000000, &err), ERROR_TOO_LARGE);
	assert_non_null(strstr(err.message, "feature brand alone has 99990 categories"));
	assert_non_null(strstr(err.message, "100000000 rows x 100032 encoded inputs"));
	assert_string_equal(err.field, "cleaning.min_count");
	/* and a small run fits */
	error_init(&err);
	assert_int_equal(trainmem_check(&s, &cfg, 10, &err), ERROR_OK);
	assert_true(trainmem_available() > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_need_counts_the_encoded_rows_network_and_baselines),
		cmocka_unit_test(test_need_counts_every_member_the_refit_copy_and_the_packed_network),
		cmocka_unit_test(test_check_refuses_what_cannot_fit_and_names_the_widest_feature),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

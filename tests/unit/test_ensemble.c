/* Unit tests: members and baselines packed as one MLP compute the blend. */
#include "testutil.h"

#include <math.h>

#include "shelfcast/baseline.h"
#include "shelfcast/ensemble.h"
#include "shelfcast/heads.h"

#define D 5

/*
 * 3 random members of 5 -> 4 -> 3 -> 2 and random baselines, packed: for
 * random inputs the packed network's outputs are a * mean(member sales) +
 * (1 - a) * linear and b * mean(member logits) + (1 - b) * logistic.
 */
static void test_packed_network_is_the_blend_of_members_and_baselines(void **state)
{
	const size_t md[4] = {D, 4, 3, HEADS_COUNT};
	struct ensemble_parts p = {.E = 3, .n_layers = 3, .a = 0.75, .b = 0.25};
	float *member[3], *packed, x[D], y[HEADS_COUNT], my[HEADS_COUNT], scratch[4096];
	double w_lin[D + 1], w_log[D + 1];
	struct mlp net, one;
	uint64_t seed = 5;
	size_t n_member = mlp_params_count(md, 3), e, i, r, h;
	(void)state;
	memcpy(p.md, md, sizeof md);
	p.pd[0] = D;
	p.pd[1] = 3 * 4 + ENSEMBLE_BASELINE_UNITS;
	p.pd[2] = 3 * 3 + ENSEMBLE_BASELINE_UNITS;
	p.pd[3] = HEADS_COUNT;
	for (e = 0; e < 3; e++) {
		member[e] = malloc(n_member * sizeof *member[e]);
		assert_non_null(member[e]);
		for (i = 0; i < n_member; i++)
			member[e][i] = test_uniform(&seed, -1, 1);
	}
	for (i = 0; i <= D; i++) {
		w_lin[i] = test_uniform(&seed, -1, 1);
		w_log[i] = test_uniform(&seed, -1, 1);
	}
	p.member = member;
	p.w_lin = w_lin;
	p.w_log = w_log;
	packed = calloc(mlp_params_count(p.pd, 3), sizeof *packed);
	assert_non_null(packed);
	ensemble_pack(&p, packed);
	mlp_bind(&net, p.pd, 3, packed);
	for (r = 0; r < 50; r++) {
		double mean[HEADS_COUNT] = {0, 0}, want[HEADS_COUNT];
		for (i = 0; i < D; i++)
			x[i] = test_uniform(&seed, -3, 3);
		for (e = 0; e < 3; e++) {
			mlp_bind(&one, md, 3, member[e]);
			mlp_forward_naive(&one, x, 1, scratch, my);
			for (h = 0; h < HEADS_COUNT; h++)
				mean[h] += my[h] / 3.0;
		}
		want[HEADS_SALES] = 0.75 * mean[HEADS_SALES] + 0.25 * baseline_predict(w_lin, x, D);
		want[HEADS_EXPOSURE] = 0.25 * mean[HEADS_EXPOSURE] + 0.75 * baseline_predict(w_log, x, D);
		mlp_forward_naive(&net, x, 1, scratch, y);
		for (h = 0; h < HEADS_COUNT; h++)
			if (fabs(y[h] - want[h]) > 1e-4 * (1 + fabs(want[h])))
				fail_msg("row %zu output %zu: packed %g, blend %g", r, h, (double)y[h], want[h]);
	}
	for (e = 0; e < 3; e++)
		free(member[e]);
	free(packed);
}

/*
 * Encoded inputs may be wider than any layer (spec.h allows 64 x
 * SPEC_MAX_WIDTH): 70,000 inputs, one member of 2 units, trains and packs.
 */
static void test_inputs_wider_than_a_layer_are_not_refused(void **state)
{
	enum { N = 24, WIDE = 70000 };
	struct dataset_config cfg = {.members = 1, .epochs = 1, .batch_size = 8, .patience = 1,
				     .learning_rate = 0.01, .seed = 1, .interval = 0.9,
				     .exposure_weight = 1, .n_hidden = 1, .hidden = {2}};
	struct spec spec;
	size_t train[16], valid[4], test[4], all[20], i;
	struct split sp = {.train = train, .valid = valid, .test = test, .all_train = all,
			   .n_train = 16, .n_valid = 4, .n_test = 4, .n_all_train = 20};
	float *X = calloc((size_t)N * WIDE, sizeof *X);
	double target[N], exposure[N];
	struct learn_data data = {X, WIDE, target, exposure};
	struct learn_outcome out;
	struct error err;
	json_t *info = NULL;
	uint64_t seed = 9;
	(void)state;
	assert_non_null(X);
	memset(&spec, 0, sizeof spec);
	spec.input_size = WIDE;
	spec.n_hidden = 1;
	spec.hidden[0] = 2;
	spec.target_std = 1;
	spec.transform = SPEC_TRANSFORM_LOG1P;
	for (i = 0; i < N; i++) {
		X[i * WIDE + i * 997] = 1;
		X[i * WIDE + WIDE - 1] = test_uniform(&seed, -1, 1);
		target[i] = test_uniform(&seed, -1, 1);
		exposure[i] = (double)(i % 2);
		if (i < 16)
			train[i] = i;
		else if (i < 20)
			valid[i - 16] = i;
		else
			test[i - 20] = i;
		if (i < 20)
			all[i] = i;
	}
	error_init(&err);
	assert_int_equal(ensemble_learn(&cfg, &spec, &data, &sp, &(struct ensemble_baselines){NULL, NULL},
					NULL, NULL, &out, &info, &err),
			 ERROR_OK);
	assert_int_equal(spec.hidden[0], 2 + ENSEMBLE_BASELINE_UNITS);
	assert_int_equal(out.n_params, (2 + ENSEMBLE_BASELINE_UNITS) * (WIDE + 1) +
					       HEADS_COUNT * (2 + ENSEMBLE_BASELINE_UNITS + 1));
	learn_outcome_done(&out);
	json_decref(info);
	free(X);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_packed_network_is_the_blend_of_members_and_baselines),
		cmocka_unit_test(test_inputs_wider_than_a_layer_are_not_refused),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

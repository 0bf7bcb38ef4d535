/* Unit tests: the trainer runs the serving forward, its backward against finite differences. */
#include "testutil.h"

#include <math.h>

#include "shelfcast/mlp_train.h"

static const size_t DIMS[] = {13, 16, 8, 2};
#define N_LAYERS 3
#define ROWS 37

static void init(struct mlp_train *t, uint64_t seed)
{
	struct rng r = {seed};
	struct error err;
	size_t i;
	float *x;

	error_init(&err);
	assert_int_equal(mlp_train_init(t, DIMS, N_LAYERS, ROWS, &r, &err), ERROR_OK);
	x = mlp_train_input(t);
	for (i = 0; i < ROWS * DIMS[0]; i++)
		x[i] = (float)(2 * rng_uniform(&r) - 1);
}

static void test_mlp_train_forward_is_mlp_forward_bit_for_bit(void **state)
{
	struct mlp_train t;
	struct mlp copy;
	float *params, *scratch, y[ROWS * 2], naive[ROWS * 2];
	(void)state;
	init(&t, 5);
	/* the same weights in a block of their own, as a model would hold them */
	params = malloc(t.n_params * sizeof *params);
	memcpy(params, t.params, t.n_params * sizeof *params);
	mlp_bind(&copy, DIMS, N_LAYERS, params);
	scratch = malloc(mlp_scratch_floats(&copy, ROWS) * sizeof *scratch);
	mlp_train_forward(&t, ROWS);
	mlp_forward(&copy, mlp_train_input(&t), ROWS, scratch, y);
	assert_memory_equal(mlp_train_output(&t), y, sizeof y);
	/* and it is a forward: the naive loop agrees to float rounding */
	mlp_forward_naive(&copy, mlp_train_input(&t), ROWS, scratch, naive);
	for (size_t i = 0; i < ROWS * 2; i++)
		assert_true(fabsf(naive[i] - y[i]) < 1e-5f);
	free(scratch);
	free(params);
	mlp_train_done(&t);
}

static void test_mlp_train_init_is_seeded_within_pytorch_bounds(void **state)
{
	struct mlp_train a, b, c;
	size_t l, i;
	(void)state;
	init(&a, 9);
	init(&b, 9);
	init(&c, 10);
	assert_int_equal(a.n_params, mlp_params_count(DIMS, N_LAYERS));
	assert_memory_equal(a.params, b.params, a.n_params * sizeof(float));
	assert_memory_not_equal(a.params, c.params, a.n_params * sizeof(float));
	for (l = 0; l < N_LAYERS; l++) {
		const struct mlp_layer *L = &a.net.layer[l];
		float bound = 1.0f / sqrtf((float)L->in);
		for (i = 0; i < L->in * L->out; i++)
			assert_true(fabsf(L->w[i]) <= bound);
		for (i = 0; i < L->out; i++)
			assert_true(fabsf(L->b[i]) <= bound);
	}
	mlp_train_done(&a);
	mlp_train_done(&b);
	mlp_train_done(&c);
}

/*
 * L = sum over rows and outputs of c * y, so dL/dY = c; over a few rows, so
 * that few ReLU inputs sit close enough to 0 for a difference step to cross.
 */
#define GRAD_ROWS 6
static double linear_loss(struct mlp_train *t, const float *c)
{
	const float *y;
	double loss = 0;
	size_t i;
	mlp_train_forward(t, GRAD_ROWS);
	y = mlp_train_output(t);
	for (i = 0; i < GRAD_ROWS * 2; i++)
		loss += (double)c[i] * y[i];
	return loss;
}

static void test_mlp_train_backward_matches_finite_differences(void **state)
{
	struct mlp_train t;
	struct rng r = {77};
	float c[GRAD_ROWS * 2];
	double worst = 0, gmax = 0;
	size_t i;
	(void)state;
	init(&t, 21);
	for (i = 0; i < GRAD_ROWS * 2; i++)
		c[i] = (float)(2 * rng_uniform(&r) - 1);
	linear_loss(&t, c);
	memcpy(mlp_train_output_grad(&t), c, sizeof c);
	mlp_train_backward(&t, GRAD_ROWS);
	for (i = 0; i < t.n_params; i++)
		gmax = fmax(gmax, fabs(t.grad[i]));
	for (i = 0; i < t.n_params; i++) {
		const float h = 2e-3f;
		float keep = t.params[i];
		double up, down;
		t.params[i] = keep + h;
		up = linear_loss(&t, c);
		t.params[i] = keep - h;
		down = linear_loss(&t, c);
		t.params[i] = keep;
		worst = fmax(worst, fabs((up - down) / (2.0 * h) - t.grad[i]));
	}
	print_message("# backward vs finite differences: %g of the largest gradient\n", worst / gmax);
	assert_true(gmax > 0);
	assert_true(worst / gmax < 1e-3);
	mlp_train_done(&t);
}

static void test_mlp_train_adam_step_decays_weights_not_biases(void **state)
{
	struct mlp_train t;
	struct adam a;
	struct error err;
	float *before;
	size_t l, i;
	(void)state;
	init(&t, 3);
	error_init(&err);
	assert_int_equal(adam_init(&a, t.n_params, &err), ERROR_OK);
	before = malloc(t.n_params * sizeof *before);
	memcpy(before, t.params, t.n_params * sizeof *before);
	memset(t.grad, 0, t.n_params * sizeof *t.grad); /* no gradient: only the decay moves anything */
	mlp_train_adam_step(&t, &a, 0.01, 0.5);
	for (l = 0; l < N_LAYERS; l++) {
		const struct mlp_layer *L = &t.net.layer[l];
		size_t w = (size_t)(L->w - t.params), b = (size_t)(L->b - t.params);
		for (i = 0; i < L->in * L->out; i++)
			assert_true(t.params[w + i] == before[w + i] - (float)(0.01 * 0.5 * before[w + i]));
		for (i = 0; i < L->out; i++)
			assert_true(t.params[b + i] == before[b + i]);
	}
	free(before);
	adam_done(&a);
	mlp_train_done(&t);
}

static void test_mlp_train_swap_params_rebinds_the_network(void **state)
{
	struct mlp_train t;
	float *zeros, *was;
	const float *y;
	size_t i;
	(void)state;
	init(&t, 4);
	zeros = calloc(t.n_params, sizeof *zeros);
	was = mlp_train_swap_params(&t, zeros);
	mlp_train_forward(&t, ROWS);
	y = mlp_train_output(&t);
	for (i = 0; i < ROWS * 2; i++) /* all-zero weights and biases answer 0 */
		assert_true(y[i] == 0.0f);
	assert_ptr_equal(mlp_train_swap_params(&t, was), zeros);
	assert_ptr_equal(t.net.layer[0].w, was);
	free(zeros);
	mlp_train_done(&t);
}

static void test_mlp_train_refuses_more_layers_than_an_mlp_holds(void **state)
{
	size_t dims[MLP_MAX_LAYERS + 2];
	struct mlp_train t;
	struct rng r = {1};
	struct error err;
	size_t i;
	(void)state;
	for (i = 0; i < MLP_MAX_LAYERS + 2; i++)
		dims[i] = 3;
	error_init(&err);
	assert_int_equal(mlp_train_init(&t, dims, MLP_MAX_LAYERS + 1, 4, &r, &err), ERROR_INVALID);
	assert_string_equal(err.field, "architecture");
	error_init(&err);
	assert_int_equal(mlp_train_init(&t, dims, 0, 4, &r, &err), ERROR_INVALID);
	mlp_train_done(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mlp_train_forward_is_mlp_forward_bit_for_bit),
		cmocka_unit_test(test_mlp_train_init_is_seeded_within_pytorch_bounds),
		cmocka_unit_test(test_mlp_train_backward_matches_finite_differences),
		cmocka_unit_test(test_mlp_train_adam_step_decays_weights_not_biases),
		cmocka_unit_test(test_mlp_train_swap_params_rebinds_the_network),
		cmocka_unit_test(test_mlp_train_refuses_more_layers_than_an_mlp_holds),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

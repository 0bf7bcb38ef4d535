/* Unit tests: the MLP forward (BLAS and small-batch loop) against the naive reference. */
#include "testmlp.h"

#include <math.h>


static void test_blas_forward_matches_the_naive_loop_on_random_shapes(void **state)
{
	static const size_t batches[] = {1, 2, 3, 7, 16, 17, 33, 256, 1001};
	uint64_t seed = 42;
	double worst = 0;
	int trial;
	(void)state;
	for (trial = 0; trial < 40; trial++) {
		size_t dims[MLP_MAX_LAYERS + 1], n_layers = 1 + (size_t)(test_rand(&seed) % 3), l, k;
		struct testmlp o;
		dims[0] = 1 + (size_t)(test_rand(&seed) % 200);
		for (l = 1; l < n_layers; l++)
			dims[l] = 1 + (size_t)(test_rand(&seed) % 130);
		dims[n_layers] = 1 + (size_t)(test_rand(&seed) % 3);
		testmlp_build(&o, dims, n_layers, &seed);
		for (k = 0; k < sizeof batches / sizeof batches[0]; k++) {
			size_t B = batches[k], i, out_n = B * dims[n_layers];
			float *x = malloc(B * dims[0] * sizeof(float));
			float *scratch = malloc(mlp_scratch_floats(&o.m, B) * sizeof(float));
			float *y = malloc(out_n * sizeof(float)), *yr = malloc(out_n * sizeof(float));
			double e;
			/* one-hot-like inputs: mostly zeros, as the encoder makes them */
			for (i = 0; i < B * dims[0]; i++)
				x[i] = test_rand(&seed) % 4 == 0 ? test_uniform(&seed, -2, 2) : 0.0f;
			mlp_forward(&o.m, x, B, scratch, y);
			mlp_forward_naive(&o.m, x, B, scratch, yr);
			e = testmlp_rel_error(y, yr, out_n);
			worst = fmax(worst, e);
			if (e > 1e-5)
				fail_msg("dims %zu..%zu, %zu layers, batch %zu: relative error %g", dims[0],
					 dims[n_layers], n_layers, B, e);
			free(x);
			free(scratch);
			free(y);
			free(yr);
		}
		testmlp_release(&o);
	}
	print_message("# worst relative error %g\n", worst);
}

/*
 * The serving path equals mlp_forward on the rows it stands for: each item at
 * each level.  Run twice: with AVX-512 where the CPU has it, and without.
 */
static void levels_path_matches(void);

static void test_levels_path_matches_the_naive_loop_on_expanded_rows(void **state)
{
	(void)state;
	levels_path_matches();
	mlp_allow_avx512(false);
	levels_path_matches();
	mlp_allow_avx512(true);
}

static void levels_path_matches(void)
{
	static const size_t items[] = {1, 2, 5, 63, 64, 65, 200};
	uint64_t seed = 7;
	double worst = 0;
	int trial;
	for (trial = 0; trial < 20; trial++) {
		size_t K = 1 + (size_t)(test_rand(&seed) % 5), dims[MLP_MAX_LAYERS + 1],
		       n_layers = 1 + (size_t)(test_rand(&seed) % 3), l, t;
		struct testmlp o;
		dims[0] = K + 1 + (size_t)(test_rand(&seed) % 120);
		for (l = 1; l < n_layers; l++)
			dims[l] = 1 + (size_t)(test_rand(&seed) % 100);
		dims[n_layers] = 2;
		testmlp_build(&o, dims, n_layers, &seed);
		for (t = 0; t < sizeof items / sizeof items[0]; t++) {
			size_t n = items[t], rows = n * K, off = dims[0] - K, i, k, j;
			float *base = calloc(n * dims[0], sizeof(float)), *x = calloc(rows * dims[0], sizeof(float));
			float *scratch = malloc((mlp_levels_scratch_floats(&o.m, K) + mlp_scratch_floats(&o.m, rows)) *
						sizeof(float));
			float *y = malloc(rows * 2 * sizeof(float)), *yr = malloc(rows * 2 * sizeof(float));
			double e;
			for (i = 0; i < n; i++)
				for (j = 0; j < off; j++)
					/* dense and one-hot-like sparse rows: runs of zeros are skipped a block at a time */
					base[i * dims[0] + j] = test_rand(&seed) % (trial % 2 ? 16 : 3) == 0
									? test_uniform(&seed, -2, 2)
									: 0.0f;
			for (i = 0; i < n; i++)
				for (k = 0; k < K; k++) {
					memcpy(x + (i * K + k) * dims[0], base + i * dims[0], dims[0] * sizeof(float));
					x[(i * K + k) * dims[0] + off + k] = 1.0f;
				}
			mlp_forward_levels(&o.m, base, n, off, K, scratch, y);
			mlp_forward_naive(&o.m, x, rows, scratch, yr);
			e = testmlp_rel_error(y, yr, rows * 2);
			worst = fmax(worst, e);
			if (e > 1e-5)
				fail_msg("items %zu x %zu levels, %zu layers: relative error %g", n, K, n_layers, e);
			free(base);
			free(x);
			free(scratch);
			free(y);
			free(yr);
		}
		testmlp_release(&o);
	}
	print_message("# worst relative error %g\n", worst);
}

/*
 * The search's forward (the engine's kernels at any row count, the heads'
 * narrow columns in vectors) equals the naive loop, given the first layer's
 * pre-activations: last layers of 1 to 70 outputs, hidden layers of 1 to 100
 * units and one of 300, dense and
 * with four weights in five zero, row counts around its tiles; with AVX-512
 * where the CPU has it, and without.
 */
static void search_forward_matches(void)
{
	static const size_t batches[] = {1, 3, 4, 5, 17, 240, 301};
	uint64_t seed = 11;
	double worst = 0;
	int trial;
	for (trial = 0; trial < 30; trial++) {
		size_t dims[MLP_MAX_LAYERS + 1], n_layers = 2 + (size_t)(test_rand(&seed) % 3), l, k;
		struct testmlp o;
		dims[0] = 1 + (size_t)(test_rand(&seed) % 120);
		for (l = 1; l < n_layers; l++)
			dims[l] = 1 + (size_t)(test_rand(&seed) % 100);
		if (trial == 0) { /* a wide layer before narrow columns */
			n_layers = 3;
			dims[1] = 300;
			dims[2] = 20;
		}
		/* the heads' few outputs, and last layers of 16-wide and 32-wide blocks (no ReLU after them) */
		dims[n_layers] = 1 + (size_t)(test_rand(&seed) % (trial % 3 ? 12 : 70));
		testmlp_build(&o, dims, n_layers, &seed);
		if (trial % 2) /* sparse layers, as the packed ensemble's (most inputs of a narrow column unused) */
			for (l = 1; l < n_layers; l++) {
				size_t i, j;
				for (i = 0; i < dims[l + 1]; i++)
					for (j = 0; j < dims[l]; j++)
						if (test_rand(&seed) % 5)
							o.w[l][i * dims[l] + j] = o.wt[l][j * dims[l + 1] + i] = 0.0f;
			}
		for (k = 0; k < sizeof batches / sizeof batches[0]; k++) {
			size_t B = batches[k], H = dims[1], i, j, r, out_n = B * dims[n_layers];
			struct mlp_search plan;
			float *x = malloc(B * dims[0] * sizeof(float)), *pre = malloc(B * H * sizeof(float));
			float *scratch = malloc(mlp_scratch_floats(&o.m, B) * sizeof(float));
			float *y = malloc(out_n * sizeof(float)), *yr = malloc(out_n * sizeof(float));
			double e;
			for (i = 0; i < B * dims[0]; i++)
				x[i] = test_uniform(&seed, -2, 2);
			for (r = 0; r < B; r++)
				for (j = 0; j < H; j++) {
					double acc = o.b[0][j];
					for (i = 0; i < dims[0]; i++)
						acc += (double)x[r * dims[0] + i] * (double)o.w[0][j * dims[0] + i];
					pre[r * H + j] = acc > 0 ? (float)acc : 0.0f; /* after the ReLU */
				}
			assert_true(mlp_search_init(&plan, &o.m));
			mlp_forward_search_from(&plan, 1, pre, B, scratch, y);
			mlp_search_done(&plan);
			mlp_forward_naive(&o.m, x, B, scratch, yr);
			e = testmlp_rel_error(y, yr, out_n);
			worst = fmax(worst, e);
			if (e > 1e-5)
				fail_msg("dims %zu..%zu, %zu layers, %zu rows: relative error %g", dims[0], dims[n_layers],
					 n_layers, B, e);
			free(x);
			free(pre);
			free(scratch);
			free(y);
			free(yr);
		}
		testmlp_release(&o);
	}
	print_message("# worst relative error %g\n", worst);
}

static void test_search_forward_matches_the_naive_loop(void **state)
{
	(void)state;
	search_forward_matches();
	mlp_allow_avx512(false);
	search_forward_matches();
	mlp_allow_avx512(true);
}

static void test_relu_between_layers_not_after_the_last(void **state)
{
	size_t dims[3] = {1, 1, 1};
	struct testmlp o;
	uint64_t seed = 1;
	float x[1] = {1}, y[1], scratch[4];
	(void)state;
	testmlp_build(&o, dims, 2, &seed);
	o.w[0][0] = -1; o.b[0][0] = 0;  /* hidden = relu(-1) = 0 */
	o.wt[0][0] = -1;
	o.w[1][0] = 1; o.b[1][0] = -3;  /* out = 0 - 3: negative, no ReLU */
	o.wt[1][0] = 1;
	mlp_forward(&o.m, x, 1, scratch, y);
	assert_true(y[0] == -3.0f);
	mlp_forward_naive(&o.m, x, 1, scratch, y);
	assert_true(y[0] == -3.0f);
	testmlp_release(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blas_forward_matches_the_naive_loop_on_random_shapes),
		cmocka_unit_test(test_levels_path_matches_the_naive_loop_on_expanded_rows),
		cmocka_unit_test(test_search_forward_matches_the_naive_loop),
		cmocka_unit_test(test_relu_between_layers_not_after_the_last),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests: the second layer along a line of first-layer pre-activations (mlp_sweep) against the naive network. */
#include "testmlp.h"

#include <sys/mman.h>
#include <unistd.h>

#include "shelfcast/mlp_sweep.h"

/*
 * n floats ending exactly where a page that faults on any access begins:
 * a read or write past them crashes the test.
 */
struct guarded {
	void *base;
	size_t len;
	float *p;
};

static void guarded_init(struct guarded *g, size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), data = (n * sizeof(float) + page - 1) / page * page;

	g->len = data + page;
	g->base = mmap(NULL, g->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(g->base != MAP_FAILED);
	assert_int_equal(mprotect((char *)g->base + data, page, PROT_NONE), 0);
	g->p = (float *)g->base + (data / sizeof(float) - n);
}

static void guarded_done(struct guarded *g)
{
	munmap(g->base, g->len);
}

/*
 * A network with inputs `vary` (P of them) moved row by row, the others
 * fixed at x: the sweep's rows through mlp_forward_search_from(2) against
 * mlp_forward_naive on each row's whole input.
 */
struct line {
	struct testmlp o;
	size_t I, P, vary[4];
	float *x;   /* (I) the fixed inputs (the varied ones are set per row) */
	float *a;   /* (H) b0 + the fixed inputs' share of the first layer */
	const float *u[4];
	struct mlp_search plan;
	struct mlp_sweep_plan sweep_plan;
	struct mlp_sweep sw;
	bool guard;
	struct guarded wt1, out; /* with guard: layer 1's wt, and a row's output, before a faulting page */
};

static void line_done(struct line *ln);

#define LINE_SPARSE 1 /* a quarter of layer 1's weights zero, as the packed ensemble's columns */
#define LINE_GUARD 2  /* layer 1's wt and each row's output end where a faulting page begins */

static void line_init(struct line *ln, const size_t *dims, size_t n_layers, size_t P, int flags, uint64_t *seed)
{
	size_t H = dims[1], i, j, k;

	memset(ln, 0, sizeof *ln);
	testmlp_build(&ln->o, dims, n_layers, seed);
	for (k = 0; (flags & LINE_SPARSE) && k < dims[1] * dims[2]; k++)
		if (test_rand(seed) % 4 == 0) /* w[1][o, i] and wt[1][i, o] */
			ln->o.w[1][k] = ln->o.wt[1][(k % dims[1]) * dims[2] + k / dims[1]] = 0.0f;
	ln->guard = flags & LINE_GUARD;
	if (ln->guard) {
		guarded_init(&ln->wt1, dims[1] * dims[2]);
		memcpy(ln->wt1.p, ln->o.wt[1], dims[1] * dims[2] * sizeof(float));
		ln->o.m.layer[1].wt = ln->wt1.p;
		guarded_init(&ln->out, dims[2]);
	}
	ln->I = dims[0];
	ln->P = P;
	ln->x = malloc(ln->I * sizeof *ln->x);
	ln->a = malloc(H * sizeof *ln->a);
	for (i = 0; i < ln->I; i++)
		ln->x[i] = test_uniform(seed, -2, 2);
	for (k = 0; k < P; k++) {
		ln->vary[k] = k * ln->I / P; /* distinct: P <= I */
		ln->x[ln->vary[k]] = 0.0f;
		ln->u[k] = ln->o.wt[0] + ln->vary[k] * H;
	}
	for (j = 0; j < H; j++) {
		double acc = ln->o.b[0][j];
		for (i = 0; i < ln->I; i++)
			acc += (double)ln->x[i] * (double)ln->o.w[0][j * ln->I + i];
		ln->a[j] = (float)acc;
	}
	assert_true(mlp_search_init(&ln->plan, &ln->o.m));
	assert_true(mlp_sweep_plan_init(&ln->sweep_plan, &ln->o.m, P, ln->u));
	if (!ln->sweep_plan.available) { /* a CPU without AVX2 and FMA: the search takes the dense rows */
		line_done(ln);
		skip();
	}
	assert_true(mlp_sweep_init(&ln->sw, &ln->sweep_plan));
	mlp_sweep_start(&ln->sw, ln->a);
}

static void line_done(struct line *ln)
{
	mlp_sweep_done(&ln->sw);
	mlp_sweep_plan_done(&ln->sweep_plan);
	mlp_search_done(&ln->plan);
	if (ln->guard) {
		guarded_done(&ln->wt1);
		guarded_done(&ln->out);
	}
	free(ln->x);
	free(ln->a);
	testmlp_release(&ln->o);
}

/* Rows s (R, P) through the sweep and the naive network: the norm-wise relative error of the outputs. */
static double line_error(struct line *ln, const float *s, size_t R)
{
	const struct mlp *m = &ln->o.m;
	size_t O1 = m->layer[1].out, O = mlp_output_size(m), r, k;
	float *mid = malloc(R * O1 * sizeof *mid), *y = malloc(R * O * sizeof *y), *yr = malloc(R * O * sizeof *yr);
	float *scratch = malloc(mlp_scratch_floats(m, R) * sizeof *scratch), *row = malloc(ln->I * sizeof *row);
	double e;

	for (r = 0; r < R; r++) {
		if (ln->guard) {
			mlp_sweep_row(&ln->sw, s + r * ln->P, ln->out.p);
			memcpy(mid + r * O1, ln->out.p, O1 * sizeof *mid);
		} else {
			mlp_sweep_row(&ln->sw, s + r * ln->P, mid + r * O1);
		}
		memcpy(row, ln->x, ln->I * sizeof *row);
		for (k = 0; k < ln->P; k++)
			row[ln->vary[k]] = s[r * ln->P + k];
		mlp_forward_naive(m, row, 1, scratch, yr + r * O);
	}
	mlp_forward_search_from(&ln->plan, 2, mid, R, scratch, y);
	e = testmlp_rel_error(y, yr, R * O);
	free(mid);
	free(y);
	free(yr);
	free(scratch);
	free(row);
	return e;
}

/*
 * Random networks (one to three hidden layers, some sparse), one or two
 * varied inputs: a search's rows -- an even grid, then points around a few
 * of them in no order, then points repeated -- agree with the naive network.
 */
static void test_a_sweep_matches_the_naive_network_along_a_line(void **state)
{
	uint64_t seed = 5;
	double worst = 0;
	int trial;
	(void)state;

	for (trial = 0; trial < 40; trial++) {
		size_t dims[MLP_MAX_LAYERS + 1], n_layers = 2 + (size_t)(test_rand(&seed) % 3), l, P, R = 0, r, k;
		float s[200 * 3];
		struct line ln;
		double e;
		dims[0] = 3 + (size_t)(test_rand(&seed) % 100);
		for (l = 1; l < n_layers; l++)
			dims[l] = 1 + (size_t)(test_rand(&seed) % 90);
		dims[n_layers] = 1 + (size_t)(test_rand(&seed) % 4);
		P = 1 + (size_t)trial % 2;
		line_init(&ln, dims, n_layers, P, trial % 2 ? LINE_SPARSE : 0, &seed);
		for (r = 0; r < 60; r++, R++) /* a grid: the varied inputs move together, as a price's */
			for (k = 0; k < P; k++)
				s[R * P + k] = -3.0f + 6.0f * (float)r / 59.0f * (float)(k + 1) / (float)P;
		for (r = 0; r < 100; r++, R++)
			for (k = 0; k < P; k++)
				s[R * P + k] = test_uniform(&seed, -4, 4);
		for (r = 0; r < 40; r++, R++)
			for (k = 0; k < P; k++)
				s[R * P + k] = s[(r % 7) * P + k];
		e = line_error(&ln, s, R);
		worst = fmax(worst, e);
		if (e > 1e-5)
			fail_msg("trial %d: dims %zu..%zu, %zu layers, %zu varied: relative error %g", trial, dims[0],
				 dims[n_layers], n_layers, P, e);
		line_done(&ln);
	}
	print_message("# worst relative error %g\n", worst);
}

/* A plan is available for one or two directions where the CPU has AVX2 and FMA, for no other count. */
static void test_a_plan_is_available_for_one_or_two_directions_with_avx2(void **state)
{
	static const size_t dims[] = {8, 12, 6, 2};
	uint64_t seed = 3;
	struct testmlp o;
	struct mlp_sweep_plan pl;
	const float *u[3];
	bool cpu = false;
	size_t P;
	(void)state;

#ifdef __x86_64__
	cpu = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
	testmlp_build(&o, dims, 3, &seed);
	u[0] = u[1] = u[2] = o.wt[0];
	for (P = 0; P <= 3; P++) {
		assert_true(mlp_sweep_plan_init(&pl, &o.m, P, u));
		assert_int_equal(pl.available, cpu && (P == 1 || P == 2));
		mlp_sweep_plan_done(&pl);
	}
	testmlp_release(&o);
}

/*
 * Widths where the units' sign words fill exactly, or spill one unit into
 * the next (64, 65, 128), and outputs that end a vector or not, with
 * layer 1's weights and each output row ending at a faulting page: with
 * one and two directions, a row stays inside them.
 */
static void test_word_edges_and_buffer_ends(void **state)
{
	static const size_t widths[] = {64, 65, 128, 7};
	static const size_t outs[] = {36, 8, 5, 40};
	uint64_t seed = 21;
	float s[120 * 2];
	size_t t, P, r;
	(void)state;

	for (t = 0; t < 4; t++)
		for (P = 1; P <= 2; P++) {
			size_t dims[] = {10, widths[t], outs[t], 2};
			struct line ln;
			double e;
			line_init(&ln, dims, 3, P, LINE_GUARD, &seed);
			for (r = 0; r < 120 * P; r++)
				s[r] = r < 60 * P ? -4.0f + 8.0f * (float)(r / P) / 59.0f : test_uniform(&seed, -4, 4);
			e = line_error(&ln, s, 120);
			if (e > 1e-5)
				fail_msg("H %zu, O %zu, %zu directions: relative error %g", widths[t], outs[t], P, e);
			line_done(&ln);
		}
}

/*
 * Rows jumping between the ends of a long line switch most units every
 * row: the sweep starts again (its count of switches comes back down) and
 * the error stays bounded, with one and two directions.  Without the restart the error
 * reaches about 1e-4.
 */
static void test_switching_units_back_and_forth_keeps_the_error_bounded(void **state)
{
	static const size_t dims[] = {20, 68, 36, 2};
	uint64_t seed = 9;
	float s[2000 * 2];
	size_t r, P;
	(void)state;

	for (P = 1; P <= 2; P++) {
		struct line ln;
		double e;
		line_init(&ln, dims, 3, P, 0, &seed);
		for (r = 0; r < 2000 * P; r++)
			s[r] = (r / P) % 2 ? 8.0f : -8.0f;
		e = line_error(&ln, s, 2000);
		print_message("# %zu directions: relative error after 2,000 rows that switch most units %g\n", P, e);
		assert_true(e < 1e-5);
		assert_true(ln.sw.switched <= (MLP_SWEEP_RESTART + 1) * dims[1]); /* it started again */
		line_done(&ln);
	}
}

/* A new start forgets the last base: its rows match a fresh sweep's. */
static void test_a_new_start_forgets_the_last_base(void **state)
{
	static const size_t dims[] = {30, 40, 24, 2};
	uint64_t seed = 13;
	float s[60 * 2], y1[60 * 24], y2[60 * 24];
	struct line ln;
	struct mlp_sweep fresh;
	size_t r, H = dims[1];
	(void)state;

	line_init(&ln, dims, 3, 2, 0, &seed);
	for (r = 0; r < 120; r++)
		s[r] = test_uniform(&seed, -3, 3);
	for (r = 0; r < 60; r++) /* the first base, then another */
		mlp_sweep_row(&ln.sw, s + 2 * r, y1 + 24 * r);
	for (r = 0; r < H; r++)
		ln.a[r] += test_uniform(&seed, -1, 1);
	mlp_sweep_start(&ln.sw, ln.a);
	assert_true(mlp_sweep_init(&fresh, &ln.sweep_plan));
	mlp_sweep_start(&fresh, ln.a);
	for (r = 0; r < 60; r++) {
		mlp_sweep_row(&ln.sw, s + 2 * r, y1 + 24 * r);
		mlp_sweep_row(&fresh, s + 2 * r, y2 + 24 * r);
	}
	assert_memory_equal(y1, y2, sizeof y1);
	mlp_sweep_done(&fresh);
	line_done(&ln);
}

/* One hidden layer: layer 1 is the output, no ReLU after it, and the rest of the network is a copy. */
static void test_with_one_hidden_layer_the_sweep_is_the_output(void **state)
{
	static const size_t dims[] = {12, 16, 3};
	uint64_t seed = 17;
	float s[50];
	struct line ln;
	size_t r;
	bool negative = false;
	(void)state;

	line_init(&ln, dims, 2, 1, 0, &seed);
	for (r = 0; r < 50; r++)
		s[r] = -5.0f + 10.0f * (float)r / 49.0f;
	assert_true(line_error(&ln, s, 50) < 1e-5);
	for (r = 0; r < 50 && !negative; r++) { /* some output below zero: not through a ReLU */
		float out[3];
		mlp_sweep_row(&ln.sw, s + r, out);
		negative = out[0] < 0 || out[1] < 0 || out[2] < 0;
	}
	assert_true(negative);
	line_done(&ln);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_plan_is_available_for_one_or_two_directions_with_avx2),
		cmocka_unit_test(test_a_sweep_matches_the_naive_network_along_a_line),
		cmocka_unit_test(test_word_edges_and_buffer_ends),
		cmocka_unit_test(test_switching_units_back_and_forth_keeps_the_error_bounded),
		cmocka_unit_test(test_a_new_start_forgets_the_last_base),
		cmocka_unit_test(test_with_one_hidden_layer_the_sweep_is_the_output),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

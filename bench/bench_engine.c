/*
 * bench_engine — the inference engine alone, on the OJ model's shape
 * (113 inputs -> 64 -> 32 -> 2), one core: item-levels per second for
 * batches of 1, 16, 256 and 4096 items x 4 levels, for the serving path
 * (mlp_forward_levels), the plain forward (one cblas_sgemm per layer over
 * the expanded rows) and the naive reference loop, measured in the same run.
 * Then explanations (explain.h): microseconds per explained item for the
 * OJ model's 18 features (16 numeric inputs, regular_price read raw and
 * through log; brand, 11 slots; store, 82; 4 levels) against 32 reference
 * rows, the trainer's count.  Then a recommendation (recommend.h): one
 * item of the OJ layout, its price searched over 60 points per level and
 * refined, at 4 levels, through recommend_run (search, confirmation and
 * the call's allocations included).
 *
 * usage: bench_engine [SECONDS_PER_CASE [recommend]]   (SHELFCAST_BENCH_NO_AVX512=1: the AVX2 copy)
 */
#include <cblas.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/explain.h"
#include "shelfcast/mlp.h"
#include "shelfcast/recommend.h"
#include "shelfcast/strbuf.h"
#include "shelfcast/util.h"

#include "../tests/common/testmodel.h"

#define LEVELS 4

static uint64_t state = 12345;

static float uniform(float lo, float hi)
{
	uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return lo + (hi - lo) * (float)((double)(z >> 11) / 9007199254740992.0);
}

typedef void (*forward_fn)(const struct mlp *, const float *, size_t, float *, float *);

/* The serving path: base rows (items, level slots zero) scored at every level. */
static size_t g_items;
static const float *g_base;
static void levels(const struct mlp *m, const float *x, size_t rows, float *scratch, float *y)
{
	(void)x;
	(void)rows;
	mlp_forward_levels(m, g_base, g_items, 109, LEVELS, scratch, y);
}

/* Seconds per call, over at least `budget` seconds. */
static double time_it(forward_fn f, const struct mlp *m, const float *x, size_t rows, float *scratch,
		      float *y, double budget)
{
	size_t calls = 0, batch = 1;
	double t0 = util_now_s(), t;
	do {
		size_t i;
		for (i = 0; i < batch; i++)
			f(m, x, rows, scratch, y);
		calls += batch;
		batch *= 2;
		t = util_now_s() - t0;
	} while (t < budget);
	return t / (double)calls;
}

/* A random encoded row of the OJ layout, at a random level. */
static void oj_row(float *r)
{
	size_t j;
	memset(r, 0, 113 * sizeof(float));
	for (j = 0; j < 16; j++)
		r[j] = uniform(-2, 2);
	r[16 + (size_t)uniform(0, 10.99f)] = 1;
	r[27 + (size_t)uniform(0, 81.99f)] = 1;
	r[109 + (size_t)uniform(0, 3.99f)] = 1;
}

/* Microseconds per explained item, over `items` random items. */
static void bench_explain(const struct mlp *m, double budget)
{
	enum { ITEMS = 256, REF = 32 };
	static uint16_t col[113];
	float *ref = malloc(REF * 113 * sizeof(float)), *x = malloc(ITEMS * 113 * sizeof(float));
	double phi[2 * 18], t0, t;
	size_t i, n = 0;
	struct explainer e;
	struct error err;

	for (i = 0; i < 113; i++) /* numeric 0-15 (13: log regular_price, feature 0), brand, store, level */
		col[i] = (uint16_t)(i < 16 ? (i == 13 ? 0 : i < 13 ? i : i - 1)
				   : i < 27 ? 15 : i < 109 ? 16 : 17);
	for (i = 0; i < REF; i++)
		oj_row(ref + i * 113);
	for (i = 0; i < ITEMS; i++)
		oj_row(x + i * 113);
	error_init(&err);
	if (explainer_init(&e, m, col, 18, ref, REF, &err) != ERROR_OK) {
		fprintf(stderr, "explainer: %s\n", err.message);
		exit(1);
	}
	t0 = util_now_s();
	do {
		for (i = 0; i < ITEMS; i++)
			explainer_row(&e, x + i * 113, phi);
		n += ITEMS;
		t = util_now_s() - t0;
	} while (t < budget);
	printf("\nexplain: %.1f us per item (M = 18 features, %d reference rows, %s), goal <= 100\n",
	       t / (double)n * 1e6, REF, explainer_exact(&e) ? "exact" : "sampled");
	explainer_done(&e);
	free(ref);
	free(x);
}

/* The OJ layout as a spec: 16 numeric inputs (regular_price raw first, its log 14th), brand, store, 4 levels. */
static char *oj_spec(void)
{
	struct strbuf sb;
	size_t i;

	strbuf_init(&sb);
	strbuf_puts(&sb, "{\"format\": \"shelfcast.spec.v1\", \"inputs\": {\"numeric\": [");
	strbuf_puts(&sb, "{\"name\": \"regular_price\", \"mean\": 0.04, \"std\": 0.01, \"default\": 0.04, "
			 "\"clip\": [0.01, 0.09]}");
	for (i = 1; i < 16; i++) {
		if (i == 13)
			strbuf_puts(&sb, ", {\"name\": \"regular_price\", \"transform\": \"log\", \"mean\": -3.3, "
					 "\"std\": 0.3, \"default\": -3.3, \"clip\": [-4.6, -2.4]}");
		else
			strbuf_printf(&sb, ", {\"name\": \"x%zu\", \"mean\": 0, \"std\": 1, \"default\": 0}", i);
	}
	strbuf_puts(&sb, "], \"categorical\": [{\"name\": \"brand\", \"vocabulary\": [");
	for (i = 0; i < 10; i++)
		strbuf_printf(&sb, "%s\"b%zu\"", i ? ", " : "", i);
	strbuf_puts(&sb, "]}, {\"name\": \"store\", \"vocabulary\": [");
	for (i = 0; i < 81; i++)
		strbuf_printf(&sb, "%s\"%zu\"", i ? ", " : "", i + 1);
	strbuf_puts(&sb, "]}]}, \"promotion\": {\"column\": \"promo_level\", \"price_column\": \"regular_price\", "
			 "\"objective\": \"revenue\", \"levels\": [{\"level\": 0, \"discount\": 0, \"cost\": 0}, "
			 "{\"level\": 1, \"discount\": 0.1, \"cost\": 0}, {\"level\": 2, \"discount\": 0.2, \"cost\": 0}, "
			 "{\"level\": 3, \"discount\": 0.3, \"cost\": 0}]}, "
			 "\"target\": {\"column\": \"units\", \"transform\": \"log1p\", \"mean\": 8, \"std\": 1}, "
			 "\"exposure\": {\"column\": \"featured\"}, "
			 "\"architecture\": {\"input_size\": 113, \"hidden\": [68, 36], \"activation\": \"relu\"}}");
	return sb.data;
}

/*
 * Microseconds per one-item recommendation of the OJ model as served: the
 * config's 64 and 32 units and the 4 baseline units each hidden layer carries
 * (ensemble.h), 68 -> 36.
 */
static void bench_recommend(double budget)
{
	char *spec = oj_spec();
	struct model *m = test_model_named("oj", spec, 3, 0.3f, NULL);
	struct encoder_value v[20];
	struct recommend_ask a;
	struct recommend_params p = {SPEC_OBJECTIVE_REVENUE, 0, NAN};
	struct recommend_answer ans;
	struct error err;
	double t0, t;
	size_t n = 0, i;

	/* the server's fixed malloc thresholds (src/http/server.c): a call's arrays are reused, not mapped anew */
	mallopt(M_MMAP_THRESHOLD, 8 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);
	memset(v, 0, sizeof v);
	for (i = 1; i < 16; i++)
		if (i != 13)
			v[i] = (struct encoder_value){.kind = ENCODER_VALUE_NUMBER, .number = uniform(-1, 1)};
	v[16] = (struct encoder_value){.kind = ENCODER_VALUE_STRING, .str = "b3", .len = 2};
	v[17] = (struct encoder_value){.kind = ENCODER_VALUE_STRING, .str = "12", .len = 2};
	a = (struct recommend_ask){v, NAN, 0.02, 0.08, 0, NAN, NAN};
	error_init(&err);
	t0 = util_now_s();
	do {
		if (recommend_run(m, &a, 1, &p, &ans, &err) != ERROR_OK) {
			fprintf(stderr, "recommend: %s\n", err.message);
			exit(1);
		}
		n++;
		t = util_now_s() - t0;
	} while (t < budget);
	printf("\nrecommend: %.1f us per item (%d-point grid per level and its refinement, %d levels, "
	       "the chosen option rescored), goal <= 50\n",
	       t / (double)n * 1e6, RECOMMEND_GRID, LEVELS);
	model_unref(m);
	free(spec);
}

int main(int argc, char **argv)
{
	static const size_t dims[4] = {113, 64, 32, 2}, items[4] = {1, 16, 256, 4096};
	double budget = argc > 1 ? atof(argv[1]) : 0.5, flops_per_row = 0;
	const char *no512 = getenv("SHELFCAST_BENCH_NO_AVX512");
	struct mlp m;
	float *w[3], *b[3], *wt[3];
	size_t l, i, j, k;

	openblas_set_num_threads(1);
	if (no512 && *no512 && strcmp(no512, "0") != 0) { /* time the AVX2 copy on a CPU that has AVX-512 */
		mlp_allow_avx512(false);
		printf("SHELFCAST_BENCH_NO_AVX512: the AVX-512 tile is off\n");
	}
	if (argc > 2 && !strcmp(argv[2], "recommend")) { /* that case alone (for a profiler) */
		bench_recommend(budget);
		return 0;
	}
	memset(&m, 0, sizeof m);
	m.n_layers = 3;
	for (l = 0; l < 3; l++) {
		size_t n_in = dims[l], n_out = dims[l + 1];
		w[l] = malloc(n_in * n_out * sizeof(float));
		b[l] = malloc(n_out * sizeof(float));
		wt[l] = malloc(n_in * n_out * sizeof(float));
		for (i = 0; i < n_in * n_out; i++)
			w[l][i] = uniform(-0.1f, 0.1f);
		for (i = 0; i < n_out; i++)
			b[l][i] = uniform(-0.1f, 0.1f);
		for (i = 0; i < n_out; i++)
			for (j = 0; j < n_in; j++)
				wt[l][j * n_out + i] = w[l][i * n_in + j];
		m.layer[l] = (struct mlp_layer){n_in, n_out, w[l], b[l], wt[l]};
		flops_per_row += 2.0 * (double)(n_in * n_out);
	}
	printf("BLAS: %s\n", openblas_get_config());
	printf("shape 113 -> 64 -> 32 -> 2, %d levels per item, one thread\n\n", LEVELS);
	printf("%-6s %-6s %13s %13s %13s %10s %9s %11s %11s\n", "items", "rows", "serving il/s",
	       "forward il/s", "naive il/s", "serv/naive", "GFLOP/s", "serving us", "naive us");
	for (k = 0; k < 4; k++) {
		size_t rows = items[k] * LEVELS;
		float *x = calloc(rows * dims[0], sizeof(float)), *y = malloc(rows * 2 * sizeof(float));
		float *scratch = malloc((mlp_scratch_floats(&m, rows) + mlp_levels_scratch_floats(&m, LEVELS)) *
					sizeof(float));
		float *base = calloc(items[k] * dims[0], sizeof(float));
		double tl, te, tn;
		/* like the encoder's output: ~15 numeric values, 2 categories, 1 level set */
		for (i = 0; i < rows; i++) {
			float *r = x + i * dims[0];
			for (j = 0; j < 15; j++)
				r[j] = uniform(-2, 2);
			r[15 + (size_t)(uniform(0, 11))] = 1;
			r[27 + (size_t)(uniform(0, 82))] = 1;
			r[109 + i % LEVELS] = 1;
		}
		for (i = 0; i < items[k]; i++) {
			memcpy(base + i * dims[0], x + i * LEVELS * dims[0], dims[0] * sizeof(float));
			memset(base + i * dims[0] + 109, 0, LEVELS * sizeof(float));
		}
		g_items = items[k];
		g_base = base;
		tl = time_it(levels, &m, x, rows, scratch, y, budget);
		te = time_it(mlp_forward, &m, x, rows, scratch, y, budget);
		tn = time_it(mlp_forward_naive, &m, x, rows, scratch, y, budget);
		printf("%-6zu %-6zu %13.0f %13.0f %13.0f %9.1fx %9.1f %11.2f %11.2f\n", items[k], rows,
		       (double)rows / tl, (double)rows / te, (double)rows / tn, tn / tl,
		       flops_per_row * (double)rows / tl / 1e9, tl * 1e6, tn * 1e6);
		free(base);
		free(x);
		free(y);
		free(scratch);
	}
	printf("\nil/s: item-levels per second. serving: mlp_forward_levels (what /v1/predict runs);\n"
	       "forward: mlp_forward, one cblas_sgemm per layer over the expanded rows; naive: the\n"
	       "reference loop. GFLOP/s counts the dense work of the expanded rows (the serving path\n"
	       "skips zero inputs and computes the first layer once per item, so it does less).\n");
	printf("goals: >= 5,000,000 il/s at 4096 items; batch 1 within 2x of the naive loop's latency.\n");
	bench_explain(&m, budget);
	bench_recommend(budget);
	for (l = 0; l < 3; l++) {
		free(w[l]);
		free(b[l]);
		free(wt[l]);
	}
	return 0;
}

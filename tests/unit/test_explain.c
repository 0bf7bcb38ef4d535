/* Unit tests: the spec's reference rows and per-prediction Shapley values (explain.h). */
#include "testutil.h"

#include <math.h>

#include "shelfcast/explain.h"
#include "shelfcast/heads.h"
#include "shelfcast/strbuf.h"

/* TEST_SPEC's layout: price 0, weight 1, log(price) 2, brand 3-6, store 7-9, levels 10-12. */
#define WIDTH 13

/* A random encoded row of TEST_SPEC's layout, level slots zero. */
static void random_row(uint64_t *s, float *x)
{
	memset(x, 0, WIDTH * sizeof(float));
	x[0] = test_uniform(s, -2, 2);
	x[1] = test_uniform(s, -2, 2);
	x[2] = test_uniform(s, -2, 2);
	x[3 + test_rand(s) % 4] = 1;
	x[7 + test_rand(s) % 3] = 1;
}

/* spec_text with a "reference" member of n random rows (each at a random level) appended. */
static char *with_reference(const char *spec_text, size_t n, uint64_t seed)
{
	struct strbuf b;
	float x[WIDTH];
	size_t i, j;

	strbuf_init(&b);
	strbuf_append(&b, spec_text, strlen(spec_text) - 1);
	strbuf_printf(&b, ", \"reference\": [");
	for (i = 0; i < n; i++) {
		random_row(&seed, x);
		x[10 + test_rand(&seed) % 3] = 1;
		for (j = 0; j < WIDTH; j++)
			strbuf_printf(&b, "%s%.9g", j ? ", " : (i ? "], [" : "["), (double)x[j]);
	}
	strbuf_printf(&b, "]]}");
	return b.data;
}

static void spec_error(const char *text, const char *field)
{
	struct spec spec;
	struct error err;
	error_init(&err);
	assert_int_not_equal(spec_parse_string(text, strlen(text), &spec, &err), ERROR_OK);
	if (strcmp(err.field, field))
		fail_msg("field %s, expected %s (%s)", err.field, field, err.message);
}

static char *replace_reference(const char *rows)
{
	struct strbuf b;
	strbuf_init(&b);
	strbuf_append(&b, TEST_SPEC, strlen(TEST_SPEC) - 1);
	strbuf_printf(&b, ", \"reference\": %s}", rows);
	return b.data;
}

static void test_spec_reference(void **state)
{
	static const char *const bad[][2] = {
		{"[]", "reference"},
		{"{}", "reference"},
		{"[[1, 2]]", "reference[0]"},
		{"[[0,0,0,0,0,0,0,0,0,0,0,0,0], 3]", "reference[1]"},
		{"[[0,0,0,0,0,0,0,0,0,\"x\",0,0,0]]", "reference[0][9]"},
		{"[[0,0,0,0,0,0,0,0,0,0,0,0,1e300]]", "reference[0][12]"},
	};
	char *text = with_reference(TEST_SPEC, 3, 7), *again;
	struct spec spec, round;
	struct error err;
	size_t i;

	(void)state;
	error_init(&err);
	assert_int_equal(spec_parse_string(text, strlen(text), &spec, &err), ERROR_OK);
	assert_int_equal(spec.n_reference, 3);
	again = spec_to_string(&spec);
	assert_int_equal(spec_parse_string(again, strlen(again), &round, &err), ERROR_OK);
	assert_int_equal(round.n_reference, 3);
	assert_memory_equal(round.reference, spec.reference, 3 * WIDTH * sizeof(float));
	spec_done(&round);
	spec_done(&spec);
	free(again);
	free(text);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		text = replace_reference(bad[i][0]);
		spec_error(text, bad[i][1]);
		free(text);
	}
	/* without a reference, a model cannot explain, and says so */
	{
		struct model *m = test_model(TEST_SPEC, 1, 0.5f, NULL);
		struct explain_model x;
		assert_int_equal(explain_model_init(&x, m, &err), ERROR_INVALID);
		assert_string_equal(err.field, "explain");
		model_unref(m);
	}
}

/* baseline + sum equals the network's own output on the row, for n random items. */
static void check_complete(struct model *m, struct explain_model *x, uint64_t seed, size_t n,
			   int *exact_seen)
{
	float row[WIDTH], at[WIDTH], y[2], scratch[64];
	double sales[EXPLAIN_MAX_FEATURES], expo[EXPLAIN_MAX_FEATURES];
	size_t i, j;

	*exact_seen = explainer_exact(&x->e);
	for (i = 0; i < n; i++) {
		int k = (int)(test_rand(&seed) % 3);
		double s = x->sales_baseline, e = x->exposure_baseline;
		random_row(&seed, row);
		explain_model_item(x, row, k, sales, expo);
		memcpy(at, row, sizeof row);
		at[10 + k] = 1;
		mlp_forward_naive(&m->mlp, at, 1, scratch, y);
		for (j = 0; j < x->M; j++) {
			s += sales[j];
			e += expo[j];
		}
		if (fabs(s - heads_unstandardize(&m->spec, y[0])) > 1e-4 || fabs(e - y[1]) > 1e-4)
			fail_msg("item %zu: %.7f + contributions = %.7f, output %.7f (exposure %.7f vs %.7f)",
				 i, x->sales_baseline, s, heads_unstandardize(&m->spec, y[0]), e,
				 (double)y[1]);
	}
}

/* Every column its own feature (M = 13): past the exact limit, sampled; still complete. */
static int sampled_complete(void)
{
	char *text = with_reference(TEST_SPEC, 8, 5);
	struct model *m = test_model(text, 9, 1.0f, NULL);
	uint16_t col[WIDTH];
	struct explainer e;
	struct error err;
	float x[WIDTH], y[2], scratch[64];
	double phi[2 * WIDTH];
	uint64_t seed = 77;
	size_t i, j;
	int exact;

	for (j = 0; j < WIDTH; j++)
		col[j] = (uint16_t)j;
	error_init(&err);
	assert_int_equal(explainer_init(&e, &m->mlp, col, WIDTH, m->spec.reference, 8, &err),
			 ERROR_OK);
	exact = explainer_exact(&e);
	for (i = 0; i < 2000; i++) {
		double s = e.baseline[0], z = e.baseline[1];
		random_row(&seed, x);
		x[10 + test_rand(&seed) % 3] = 1;
		explainer_row(&e, x, phi);
		mlp_forward_naive(&m->mlp, x, 1, scratch, y);
		for (j = 0; j < WIDTH; j++) {
			s += phi[2 * j];
			z += phi[2 * j + 1];
		}
		if (fabs(s - y[0]) > 1e-4 || fabs(z - y[1]) > 1e-4)
			fail_msg("sampled item %zu: %.7f vs %.7f, %.7f vs %.7f", i, s, (double)y[0], z,
				 (double)y[1]);
	}
	explainer_done(&e);
	model_unref(m);
	free(text);
	return exact;
}

static void test_complete(void **state)
{
	static const size_t refs[] = {1, 8, 64, 256};
	size_t i;
	int modes[2] = {0, 0};

	(void)state;
	modes[sampled_complete()] = 1;
	for (i = 0; i < sizeof refs / sizeof refs[0]; i++) {
		char *text = with_reference(TEST_SPEC, refs[i], 11 + i);
		struct model *m = test_model(text, 3 + i, 1.0f, NULL);
		struct explain_model x;
		struct error err;
		int exact;
		error_init(&err);
		assert_int_equal(explain_model_init(&x, m, &err), ERROR_OK);
		assert_int_equal(x.M, 5);
		assert_string_equal(x.name[0], "price");
		assert_string_equal(x.name[1], "weight");
		assert_string_equal(x.name[2], "brand");
		assert_string_equal(x.name[3], "store");
		assert_string_equal(x.name[4], EXPLAIN_LEVEL_FEATURE);
		check_complete(m, &x, 100 + i, 3000, &exact);
		modes[exact] = 1;
		explain_model_done(&x);
		model_unref(m);
		free(text);
	}
	assert_true(modes[0] && modes[1]); /* both the exact and the sampled method were checked */
}

/*
 * Sampling estimates the exact values: every column its own feature (M =
 * 13), one reference row (exact: 2^13 sets) against 256 copies of it
 * (sampled: 256 walks); the estimates land near the exact values.
 */
static void test_sampled_estimates_exact(void **state)
{
	char *text = with_reference(TEST_SPEC, 1, 21);
	struct model *m = test_model(text, 4, 1.0f, NULL);
	float *copies = malloc(256 * WIDTH * sizeof(float)), x[WIDTH];
	uint16_t col[WIDTH];
	struct explainer exact, sampled;
	struct error err;
	double a[2 * WIDTH], b[2 * WIDTH], worst = 0, scale = 0;
	uint64_t seed = 5;
	size_t i, j;

	(void)state;
	for (j = 0; j < WIDTH; j++)
		col[j] = (uint16_t)j;
	for (i = 0; i < 256; i++)
		memcpy(copies + i * WIDTH, m->spec.reference, WIDTH * sizeof(float));
	error_init(&err);
	assert_int_equal(explainer_init(&exact, &m->mlp, col, WIDTH, m->spec.reference, 1, &err), ERROR_OK);
	assert_int_equal(explainer_init(&sampled, &m->mlp, col, WIDTH, copies, 256, &err), ERROR_OK);
	assert_true(explainer_exact(&exact) && !explainer_exact(&sampled));
	for (i = 0; i < 50; i++) {
		random_row(&seed, x);
		x[10 + test_rand(&seed) % 3] = 1;
		explainer_row(&exact, x, a);
		explainer_row(&sampled, x, b);
		for (j = 0; j < 2 * WIDTH; j++) {
			worst = fmax(worst, fabs(a[j] - b[j]));
			scale = fmax(scale, fabs(a[j]));
		}
	}
	print_message("# sampled vs exact: largest difference %.3g, largest value %.3g\n", worst, scale);
	assert_true(worst < 0.1 * scale);
	explainer_done(&exact);
	explainer_done(&sampled);
	model_unref(m);
	free(copies);
	free(text);
}

/*
 * A hand-built network over inputs a, b (identical weights), c (all weights
 * zero: ignored) and a level block: a's and b's shares are equal when the
 * item and every reference row have a = b, and c's is 0.
 */
static const char HAND_SPEC[] =
	"{\"format\": \"shelfcast.spec.v1\","
	" \"inputs\": {\"numeric\": ["
	"   {\"name\": \"a\", \"mean\": 0, \"std\": 1, \"default\": 0},"
	"   {\"name\": \"b\", \"mean\": 0, \"std\": 1, \"default\": 0},"
	"   {\"name\": \"c\", \"mean\": 0, \"std\": 1, \"default\": 0}], \"categorical\": []},"
	" \"promotion\": {\"column\": \"level\", \"price_column\": \"a\", \"objective\": \"units\","
	"   \"levels\": [{\"level\": 0, \"discount\": 0, \"cost\": 0}, {\"level\": 1, \"discount\": 0.1, \"cost\": 0}]},"
	" \"target\": {\"column\": \"units\", \"transform\": \"none\", \"mean\": 0, \"std\": 2},"
	" \"exposure\": {\"column\": \"featured\"},"
	" \"architecture\": {\"input_size\": 5, \"hidden\": [3], \"activation\": \"relu\"},"
	" \"reference\": [[0.5, 0.5, 1, 1, 0], [-1, -1, -2, 0, 1], [2, 2, 0.3, 1, 0]]}";

static void test_symmetry_dummy(void **state)
{
	/* layer 0 (3 x 5): a and b the same column, c zero; layer 1 (2 x 3) */
	static const float w[] = {1.0f, 1.0f, 0, 0.5f, -0.2f,  -0.7f, -0.7f, 0, 0.3f, 0.9f,
				  0.4f, 0.4f, 0, -1.0f, 0.6f,  /* bias */ 0.1f, -0.2f, 0.3f,
				  1.5f, -2.0f, 0.7f,  -0.4f, 0.8f, 1.1f, /* bias */ 0.2f, -0.1f};
	static const float items[][2] = {{1.5f, 3.0f}, {-0.8f, 0.1f}, {0.2f, -4.0f}};
	struct model *m = test_model_from("hand", 1, HAND_SPEC, w);
	struct explain_model x;
	struct error err;
	double sales[8], expo[8];
	size_t i;
	int k;

	(void)state;
	error_init(&err);
	assert_int_equal(explain_model_init(&x, m, &err), ERROR_OK);
	assert_int_equal(x.M, 4);
	for (i = 0; i < 3; i++)
		for (k = 0; k < 2; k++) {
			float row[5] = {items[i][0], items[i][0], items[i][1], 0, 0};
			explain_model_item(&x, row, k, sales, expo);
			assert_true(fabs(sales[0] - sales[1]) < 1e-9);
			assert_true(fabs(expo[0] - expo[1]) < 1e-9);
			assert_true(fabs(sales[0]) > 1e-3); /* not trivially equal */
			assert_true(sales[2] == 0 && expo[2] == 0);
		}
	explain_model_done(&x);
	model_unref(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_reference),
		cmocka_unit_test(test_complete),
		cmocka_unit_test(test_sampled_estimates_exact),
		cmocka_unit_test(test_symmetry_dummy),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

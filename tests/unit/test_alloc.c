/*
 * Allocation failure: for the spec parser, the encoder, the safetensors
 * reader (and the model built from it) and the request path, fail the k-th
 * allocation for every k until the call succeeds.  Each failure must give a
 * clean ERROR_NOMEM and leave nothing allocated.
 *
 * This binary is linked with -Wl,--wrap for malloc, calloc, realloc, free,
 * strdup and strndup, so every allocation shelfcast's own code makes is
 * counted and can fail; jansson's are tracked for leaks (see json_malloc).
 */
#include "testutil.h"

#include <jansson.h>

#include "shelfcast/drift.h"
#include "shelfcast/predict_api.h"
#include "shelfcast/safetensors.h"
#include "shelfcast/shards.h"
#include "shelfcast/strbuf.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

/* ---- a counting, failing allocator with a table of live blocks ---- */

#define LIVE_SLOTS (1u << 20)
static const struct predict_limits limits = {100, 64u << 20, 50};
static void *live[LIVE_SLOTS]; /* open addressing; (void *)1 marks a deleted slot */
static size_t live_count;
static long armed_calls, fail_at;
static int armed;

static size_t slot_of(const void *p)
{
	return (size_t)(((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ULL) & (LIVE_SLOTS - 1);
}

static void remember(void *p)
{
	size_t i = slot_of(p);
	while (live[i] && live[i] != (void *)1)
		i = (i + 1) & (LIVE_SLOTS - 1);
	live[i] = p;
	live_count++;
}

static int forget(void *p)
{
	size_t i = slot_of(p);
	while (live[i]) {
		if (live[i] == p) {
			live[i] = (void *)1;
			live_count--;
			return 1;
		}
		i = (i + 1) & (LIVE_SLOTS - 1);
	}
	return 0;
}

static int should_fail(void)
{
	return armed && ++armed_calls == fail_at;
}

void *__wrap_malloc(size_t n)
{
	void *p;
	if (should_fail())
		return NULL;
	p = __real_malloc(n);
	if (p && armed)
		remember(p);
	return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
	void *p;
	if (should_fail())
		return NULL;
	p = __real_calloc(n, size);
	if (p && armed)
		remember(p);
	return p;
}

void *__wrap_realloc(void *old, size_t n)
{
	void *p;
	if (should_fail())
		return NULL;
	p = __real_realloc(old, n);
	if (p) {
		int tracked = old ? forget(old) : 0;
		if (armed || tracked)
			remember(p);
	}
	return p;
}

void __wrap_free(void *p)
{
	if (p)
		forget(p);
	__real_free(p);
}

char *__wrap_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = __wrap_malloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

char *__wrap_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = __wrap_malloc(len + 1);
	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

/*
 * jansson's own allocations are tracked (a missing json_decref is a leak) but
 * never failed: jansson 2.14 asserts inside its lexer (load.c, lex_scan_string)
 * when some of them fail, which this test found; our code is what is tested.
 */
static void *json_malloc(size_t n)
{
	void *p = __real_malloc(n);
	if (p && armed)
		remember(p);
	return p;
}

static void json_free(void *p)
{
	__wrap_free(p);
}

/*
 * Run op with the k-th allocation failing, k = 1, 2, ... until it succeeds.
 * op returns its error code and must have released everything it holds.
 */
static void every_failure(const char *what, enum error_code (*op)(void *), void *arg, bool recovers)
{
	long k;
	for (k = 1; k < 100000; k++) {
		enum error_code rc;
		armed_calls = 0;
		fail_at = k;
		live_count = 0;
		memset(live, 0, sizeof live);
		armed = 1;
		rc = op(arg);
		armed = 0;
		if (live_count != 0)
			fail_msg("%s: failing allocation %ld left %zu blocks allocated (rc %d)", what, k,
				 live_count, rc);
		if (rc == ERROR_OK) {
			/* Only a path with a fallback (the fast request path) may recover from a failure. */
			if (armed_calls >= k && !recovers)
				fail_msg("%s: allocation %ld failed and the call still said ok", what, k);
			if (armed_calls >= k)
				continue;
			print_message("# %s: %ld allocations, each failure handled cleanly\n", what, k - 1);
			return;
		}
		if (rc != ERROR_NOMEM)
			fail_msg("%s: failing allocation %ld gave error %d instead of out-of-memory", what, k, rc);
	}
	fail_msg("%s never succeeded", what);
}

/* ---- the operations ---- */

static enum error_code op_spec(void *arg)
{
	struct spec spec;
	struct error err;
	enum error_code rc;
	(void)arg;
	error_init(&err);
	rc = spec_parse_string(TEST_SPEC, strlen(TEST_SPEC), &spec, &err);
	if (rc == ERROR_OK) {
		char *text = spec_to_string(&spec);
		if (!text)
			rc = ERROR_NOMEM;
		free(text);
		spec_done(&spec);
	}
	return rc;
}

/* A spec with a drift reference parsed and written back, a window and a tally made and used. */
static enum error_code op_drift(void *arg)
{
	const char *text = arg;
	struct encoder_value v[5];
	struct drift_stat st[4];
	struct drift_tally t;
	struct drift_window *w = NULL;
	struct spec spec;
	struct error err;
	enum error_code rc;
	char *back = NULL;
	size_t items;

	error_init(&err);
	drift_tally_init(&t);
	rc = spec_parse_string(text, strlen(text), &spec, &err);
	if (rc)
		return rc;
	back = spec_to_string(&spec);
	w = drift_window_new(&spec, 4);
	if (!back || !w || !drift_tally_begin(&t, &spec, 4, 2)) {
		rc = ERROR_NOMEM; /* drift is off then: what a request sees of it */
		goto out;
	}
	memset(v, 0, sizeof v);
	v[0] = (struct encoder_value){.kind = ENCODER_VALUE_NUMBER, .number = 3};
	drift_tally_add(&t, v, NULL, 0);
	drift_window_commit(w, &t);
	drift_window_stats(w, st, &items);
out:
	free(back);
	drift_window_free(w);
	drift_tally_done(&t);
	spec_done(&spec);
	return rc;
}

static struct spec g_spec;
static json_t *g_features;

static enum error_code op_encoder(void *arg)
{
	struct encoder *enc;
	struct encoder_value v[5];
	float out[13];
	uint32_t unknown[2];
	size_t nu;
	struct error err;
	enum error_code rc;
	(void)arg;
	error_init(&err);
	enc = encoder_new(&g_spec, &err);
	if (!enc)
		return err.code;
	rc = encoder_values_from_json(enc, g_features, v, "items[0].features", &err);
	if (!rc)
		rc = encoder_encode(enc, v, 1, out, unknown, &nu, "items[0].features", &err);
	encoder_free(enc);
	return rc;
}

static struct strbuf g_file;

static enum error_code op_safetensors(void *arg)
{
	struct safetensors st;
	struct spec spec;
	struct model *m = NULL;
	struct error err;
	enum error_code rc;
	(void)arg;
	error_init(&err);
	rc = safetensors_parse((const uint8_t *)g_file.data, g_file.len, &st, &err);
	if (rc)
		return rc;
	rc = spec_parse_string(st.spec_json, strlen(st.spec_json), &spec, &err);
	if (!rc)
		rc = model_new("back", 2, &spec, st.tensors, st.n_tensors, NULL, &m, &err);
	model_unref(m);
	safetensors_done(&st);
	return rc;
}

static const char MANIFEST[] =
	"{\"format\": \"shelfcast.dataset.v1\", \"input_size\": 7, \"transform\": \"log1p\","
	" \"parts\": {\"test\": 3}, \"source\": {\"sha256\": \""
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}, \"levels\": [0, 2],"
	" \"features\": {\"numeric\": [\"price\", \"weight\"],"
	"   \"categorical\": [{\"name\": \"brand\", \"values\": [\"a\", \"b\"]}]},"
	" \"shards\": [{\"file\": \"test-00000.safetensors\", \"part\": \"test\", \"rows\": 3, \"sha256\": \""
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}]}";

static enum error_code op_manifest(void *arg)
{
	struct shards_manifest m;
	struct error err;
	enum error_code rc;
	(void)arg;
	error_init(&err);
	rc = shards_manifest_parse(MANIFEST, strlen(MANIFEST), &m, &err);
	if (!rc)
		shards_manifest_done(&m);
	return rc;
}

static struct model *g_model;
static struct predict_api_scratch *g_scratch;

static struct model *resolve(void *ctx, const char *name, struct error *err)
{
	(void)ctx;
	(void)name;
	(void)err;
	return g_model; /* borrowed: the test holds it */
}

struct request_case {
	const char *body;
	int jansson_only;
	enum error_code expect;
};

static enum error_code op_request(void *arg)
{
	const struct request_case *c = arg;
	struct strbuf reply;
	struct predict_outcome o;
	struct error err;
	enum error_code rc;

	strbuf_init(&reply);
	error_init(&err);
	rc = c->jansson_only
		     ? predict_api_run_jansson(c->body, strlen(c->body), &limits, resolve, NULL, &reply, &o, &err)
		     : predict_api_run(g_scratch, c->body, strlen(c->body), &limits, resolve, NULL, &reply, &o, &err);
	predict_outcome_done(&o);
	strbuf_done(&reply);
	/* An expected contract error is this operation's success. */
	return rc == c->expect ? ERROR_OK : rc;
}

static void test_spec_parser_survives_every_allocation_failure(void **state)
{
	(void)state;
	every_failure("spec parser", op_spec, NULL, false);
}

static void test_drift_survives_every_allocation_failure(void **state)
{
	char *text = test_data("spec/ok_drift/input.json", NULL);
	(void)state;
	assert_non_null(text);
	every_failure("drift reference, window and tally", op_drift, text, false);
	free(text);
}

static void test_encoder_survives_every_allocation_failure(void **state)
{
	struct error err;
	(void)state;
	error_init(&err);
	assert_int_equal(spec_parse_string(TEST_SPEC, strlen(TEST_SPEC), &g_spec, &err), ERROR_OK);
	g_features = json_loads("{\"price\": 12, \"weight\": 1, \"brand\": \"b\", \"store\": 7}", 0, NULL);
	every_failure("encoder", op_encoder, NULL, false);
	json_decref(g_features);
	spec_done(&g_spec);
}

static void test_safetensors_reader_survives_every_allocation_failure(void **state)
{
	struct tensor t[2 * MLP_MAX_LAYERS];
	struct error err;
	char *spec_text;
	size_t i;
	(void)state;
	g_model = test_model(TEST_SPEC, 9, 0.5f, NULL);
	for (i = 0; i < model_tensor_count(g_model); i++)
		model_tensor_at(g_model, i, &t[i]);
	spec_text = spec_to_string(&g_model->spec);
	strbuf_init(&g_file);
	error_init(&err);
	assert_int_equal(safetensors_write(t, model_tensor_count(g_model), spec_text, &g_file, &err), ERROR_OK);
	every_failure("safetensors reader and model", op_safetensors, NULL, false);
	strbuf_done(&g_file);
	free(spec_text);
	model_unref(g_model);
}

static void test_dataset_manifest_parser_survives_every_allocation_failure(void **state)
{
	(void)state;
	every_failure("dataset manifest parser", op_manifest, NULL, false);
}

static void test_request_path_survives_every_allocation_failure(void **state)
{
	static const struct request_case cases[] = {
		{"{\"items\": [{\"id\": \"a\", \"features\": {\"price\": 12, \"weight\": 1, \"brand\": \"b\"}},"
		 " {\"id\": 3, \"features\": {\"weight\": 2, \"store\": 9}, \"promotion_level\": 1}],"
		 " \"include_levels\": true}", 0, ERROR_OK},
		{"{\"items\": [{\"features\": {\"weight\": 1, \"brand\": \"\\u0062\"}}]}", 0, ERROR_OK},
		{"{\"items\": [{\"id\": \"a\", \"features\": {\"price\": 12, \"weight\": 1}}], \"include_levels\": true}",
		 1, ERROR_OK},
		{"{\"items\": [{\"features\": {\"weight\": \"heavy\"}}]}", 0, ERROR_INVALID},
		{"{\"items\": [{\"features\": {\"weight\": 1}}", 0, ERROR_PARSE},
	};
	struct strbuf warm;
	struct predict_outcome o;
	struct error err;
	size_t i;
	(void)state;
	g_model = test_model(TEST_SPEC, 9, 0.5f, NULL);
	/* The fast path keeps its scratch between requests: make it first, unarmed, and warm it. */
	g_scratch = predict_api_scratch_new();
	assert_non_null(g_scratch);
	strbuf_init(&warm);
	error_init(&err);
	predict_api_run(g_scratch, cases[0].body, strlen(cases[0].body), &limits, resolve, NULL, &warm, &o, &err);
	predict_outcome_done(&o);
	strbuf_done(&warm);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char what[64];
		snprintf(what, sizeof what, "request path, case %zu", i);
		every_failure(what, op_request, (void *)&cases[i], !cases[i].jansson_only);
	}
	predict_api_scratch_free(g_scratch);
	g_scratch = NULL;
	model_unref(g_model);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_parser_survives_every_allocation_failure),
		cmocka_unit_test(test_drift_survives_every_allocation_failure),
		cmocka_unit_test(test_encoder_survives_every_allocation_failure),
		cmocka_unit_test(test_safetensors_reader_survives_every_allocation_failure),
		cmocka_unit_test(test_request_path_survives_every_allocation_failure),
		cmocka_unit_test(test_dataset_manifest_parser_survives_every_allocation_failure),
	};
	json_set_alloc_funcs(json_malloc, json_free);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

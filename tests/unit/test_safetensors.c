/* Unit tests: safetensors round trip and every malformed header we could think of. */
#include "testutil.h"

#include "shelfcast/safetensors.h"
#include "shelfcast/strbuf.h"

/* 8-byte length + header + `data_len` bytes of data. */
static uint8_t *file_of(const char *header, size_t data_len, size_t *len)
{
	size_t h = strlen(header), i;
	uint8_t *b = calloc(8 + h + data_len + 1, 1);
	for (i = 0; i < 8; i++)
		b[i] = (uint8_t)((uint64_t)h >> (8 * i));
	memcpy(b + 8, header, h);
	*len = 8 + h + data_len;
	return b;
}

static void expect_error(const char *header, size_t data_len, const char *fragment)
{
	struct safetensors st;
	struct error err;
	size_t len;
	uint8_t *b = file_of(header, data_len, &len);
	error_init(&err);
	if (safetensors_parse(b, len, &st, &err) == ERROR_OK)
		fail_msg("accepted: %s", header);
	if (!strstr(err.message, fragment))
		fail_msg("header %s: message \"%s\" lacks \"%s\"", header, err.message, fragment);
	assert_null(st.tensors);
	free(b);
}

static void test_safetensors_round_trip_keeps_tensors_and_spec(void **state)
{
	float *weights = NULL;
	struct model *m = test_model(TEST_SPEC, 3, 0.5f, &weights), *back = NULL;
	struct tensor t[2 * MLP_MAX_LAYERS];
	struct safetensors st;
	struct strbuf sb;
	struct spec spec;
	struct error err;
	char *spec_text;
	size_t i;
	(void)state;
	assert_non_null(m);
	for (i = 0; i < model_tensor_count(m); i++)
		model_tensor_at(m, i, &t[i]);
	spec_text = spec_to_string(&m->spec);
	strbuf_init(&sb);
	error_init(&err);
	assert_int_equal(safetensors_write(t, model_tensor_count(m), spec_text, &sb, &err), ERROR_OK);
	assert_int_equal((sb.len - 8 - (size_t)sb.data[0] - 256 * (uint8_t)sb.data[1]) % 4, 0);
	assert_int_equal(((uint8_t)sb.data[0] + 8) % 8, 0); /* data aligned to 8 */
	assert_int_equal(safetensors_parse((uint8_t *)sb.data, sb.len, &st, &err), ERROR_OK);
	assert_int_equal(st.n_tensors, model_tensor_count(m));
	assert_non_null(st.spec_json);
	assert_int_equal(spec_parse_string(st.spec_json, strlen(st.spec_json), &spec, &err), ERROR_OK);
	assert_int_equal(model_new("back", 2, &spec, st.tensors, st.n_tensors, m->checksum, &back, &err),
			 ERROR_OK);
	assert_string_equal(back->checksum, m->checksum);
	assert_memory_equal(back->block, m->block, m->block_floats * sizeof(float));
	model_unref(back);
	safetensors_done(&st);
	strbuf_done(&sb);
	free(spec_text);
	free(weights);
	model_unref(m);
}

static void test_safetensors_malformed_files_are_refused_with_a_reason(void **state)
{
	struct safetensors st;
	struct error err;
	uint8_t tiny[4] = {1, 2, 3, 4}, liar[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0};
	(void)state;
	error_init(&err);
	assert_int_not_equal(safetensors_parse(tiny, sizeof tiny, &st, &err), ERROR_OK);
	assert_non_null(strstr(err.message, "too short"));
	error_init(&err);
	assert_int_not_equal(safetensors_parse(liar, sizeof liar, &st, &err), ERROR_OK);
	assert_non_null(strstr(err.message, "does not fit"));

	expect_error("{", 0, "header is empty");
	expect_error("{\"a\"", 0, "not valid JSON");
	expect_error("[1, 2]", 0, "must be a JSON object");
	expect_error("{}", 4, "trailing bytes");
	expect_error("{\"a\": 5}", 0, "must be {dtype, shape, data_offsets}");
	expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, "must be {dtype, shape, data_offsets}");
	expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4], \"x\": 1}}", 4,
		     "must be {dtype, shape, data_offsets}");
	expect_error("{\"a\": {\"dtype\": \"Q4\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "unknown dtype");
	expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4, "non-negative");
	expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", 4, "non-negative");
	expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904, 4611686018427387904],"
		     " \"data_offsets\": [0, 4]}}", 4, "overflows");
	expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [1, 1, 1, 1, 1], \"data_offsets\": [0, 4]}}", 4,
		     "dimensions");
	expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 8]}}", 4, "outside");
	expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}", 4, "outside");
	expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4, "outside");
	expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 4, "needing 8");
	expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
		     " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "overlap");
	expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8, "gap");
	expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
		     " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8, "not valid JSON");
	expect_error("{\"__metadata__\": {\"spec\": 5}}", 0, "must be a string");
	expect_error("{\"__metadata__\": [1]}", 0, "must be an object");
	expect_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, \"4\"]}}", 4,
		     "data_offsets must be [begin, end]");
}

static void test_safetensors_other_dtypes_and_wrong_shapes_never_become_a_model(void **state)
{
	float *weights = NULL;
	struct model *m = test_model(TEST_SPEC, 3, 0.5f, &weights), *out = NULL;
	struct tensor t[2 * MLP_MAX_LAYERS];
	struct spec spec;
	struct error err;
	size_t n = model_tensor_count(m), i;
	(void)state;
	for (i = 0; i < n; i++)
		model_tensor_at(m, i, &t[i]);
	/* F16 */
	strcpy(t[0].dtype, "F16");
	error_init(&err);
	assert_int_equal(spec_parse_string(TEST_SPEC, strlen(TEST_SPEC), &spec, &err), ERROR_OK);
	assert_int_equal(model_new("x", 1, &spec, t, n, NULL, &out, &err), ERROR_INVALID);
	assert_non_null(strstr(err.message, "expected F32"));
	strcpy(t[0].dtype, "F32");
	/* transposed shape */
	t[0].shape[0] = 13;
	t[0].shape[1] = 8;
	error_init(&err);
	assert_int_equal(spec_parse_string(TEST_SPEC, strlen(TEST_SPEC), &spec, &err), ERROR_OK);
	assert_int_equal(model_new("x", 1, &spec, t, n, NULL, &out, &err), ERROR_INVALID);
	assert_non_null(strstr(err.message, "does not match the architecture"));
	assert_null(out);
	/* only the test's own descriptors were changed: the model they were read from is as it was built */
	{
		char sum[MODEL_CHECKSUM_SIZE];
		for (i = 0; i < n; i++)
			model_tensor_at(m, i, &t[i]);
		assert_true(model_checksum(&m->spec, t, n, sum));
		assert_string_equal(sum, m->checksum);
	}
	free(weights);
	model_unref(m);
}

/* A model's tensors with their spec parsed from text, through model_new with an expected checksum. */
static enum error_code load_with(const char *spec_text, const struct model *from, const char *expected,
				 struct error *err)
{
	struct tensor t[2 * MLP_MAX_LAYERS];
	struct spec spec;
	struct model *m = NULL;
	size_t i, n = model_tensor_count(from);
	enum error_code rc;

	for (i = 0; i < n; i++)
		model_tensor_at(from, i, &t[i]);
	error_init(err);
	assert_int_equal(spec_parse_string(spec_text, strlen(spec_text), &spec, err), ERROR_OK);
	rc = model_new("x", 1, &spec, t, n, expected, &m, err);
	model_unref(m);
	return rc;
}

/*
 * The checksum covers the spec: the same weights under a spec whose level
 * cost differs hash differently and are refused under the other's
 * checksum; a version from before (the tensors' bare hex) still validates.
 */
static void test_checksum_covers_spec_and_tensors(void **state)
{
	struct model *m = test_model(TEST_SPEC, 5, 0.5f, NULL);
	char other[sizeof TEST_SPEC], legacy[SHA256_HEX_SIZE], *at;
	struct tensor t[2 * MLP_MAX_LAYERS];
	struct error err;
	size_t i, n = model_tensor_count(m);
	(void)state;

	assert_memory_equal(m->checksum, MODEL_CHECKSUM_PREFIX, strlen(MODEL_CHECKSUM_PREFIX));
	assert_int_equal(load_with(TEST_SPEC, m, m->checksum, &err), ERROR_OK);
	/* level 2's fixed cost 10 -> 19 */
	memcpy(other, TEST_SPEC, sizeof TEST_SPEC);
	at = strstr(other, "\"cost\": 10}");
	assert_non_null(at);
	at[8] = '9';
	at[9] = '}';
	at[10] = ' ';
	assert_int_equal(load_with(other, m, m->checksum, &err), ERROR_INVALID);
	assert_string_equal(err.field, "checksum");
	/* the legacy form: the tensors alone */
	for (i = 0; i < n; i++)
		model_tensor_at(m, i, &t[i]);
	tensor_checksum(t, n, legacy);
	assert_int_equal(load_with(TEST_SPEC, m, legacy, &err), ERROR_OK);
	assert_int_equal(load_with(other, m, legacy, &err), ERROR_OK); /* it never covered the spec */
	legacy[0] = legacy[0] == 'a' ? 'b' : 'a';
	assert_int_equal(load_with(TEST_SPEC, m, legacy, &err), ERROR_INVALID);
	model_unref(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_safetensors_round_trip_keeps_tensors_and_spec),
		cmocka_unit_test(test_safetensors_malformed_files_are_refused_with_a_reason),
		cmocka_unit_test(test_safetensors_other_dtypes_and_wrong_shapes_never_become_a_model),
		cmocka_unit_test(test_checksum_covers_spec_and_tensors),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests: shards, the dataset export's manifest as models evaluate reads it. */
#include "testutil.h"

#include <jansson.h>

#include "shelfcast/shards.h"

static const char GOOD[] =
	"{\"format\": \"shelfcast.dataset.v1\", \"input_size\": 7, \"transform\": \"log1p\","
	" \"parts\": {\"train\": 5, \"validation\": 1, \"test\": 3},"
	" \"source\": {\"sha256\": \"" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" "\"},"
	" \"levels\": [0, 2],"
	" \"features\": {\"numeric\": [\"price\", \"weight\"],"
	"   \"categorical\": [{\"name\": \"brand\", \"values\": [\"a\", \"b\"]}]},"
	" \"shards\": ["
	"  {\"file\": \"train-00000.safetensors\", \"part\": \"train\", \"rows\": 5, \"sha256\": \"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "\"},"
	"  {\"file\": \"test-00000.safetensors\", \"part\": \"test\", \"rows\": 2, \"sha256\": \"" "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" "\"},"
	"  {\"file\": \"test-00001.safetensors\", \"part\": \"test\", \"rows\": 1, \"sha256\": \"" "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc" "\"}]}";

static void test_shards_manifest_parses_what_export_writes(void **state)
{
	struct shards_manifest m;
	struct error err;
	(void)state;
	error_init(&err);
	assert_int_equal(shards_manifest_parse(GOOD, strlen(GOOD), &m, &err), ERROR_OK);
	assert_int_equal(m.input_size, 7);
	assert_int_equal(m.transform, SPEC_TRANSFORM_LOG1P);
	assert_int_equal(m.n_numeric, 2);
	assert_string_equal(m.categorical[0].values[1], "b");
	assert_int_equal(m.n_levels, 2);
	assert_int_equal(m.levels[1], 2);
	assert_int_equal(m.n_shards, 3);
	assert_int_equal(m.test_rows, 3);
	shards_manifest_done(&m);
}

/* A change to GOOD (path into the JSON, new value as JSON) and the field the error must name. */
static const struct {
	const char *path, *value, *field, *words;
} BAD[] = {
	{"format", "\"shelfcast.dataset.v0\"", "format", "is not shelfcast.dataset.v1"},
	{"input_size", "0", "input_size", "input_size"},
	{"transform", "\"sqrt\"", "transform", "not one of log1p, none"},
	{"parts.test", "\"3\"", "parts.test", "parts.test"},
	{"source.sha256", "\"abc\"", "source.sha256", "64 lowercase hex digits"},
	{"levels", "[]", "levels", "1 to 64 levels"},
	{"levels.0", "1.5", "levels[0]", "an integer level"},
	{"features.numeric.1", "7", "features.numeric[1]", "expected a string"},
	{"features.categorical.0.values.0", "null", "features.categorical[0].values[0]", "expected a string"},
	{"shards.1.file", "\"../etc/passwd\"", "shards[1].file", "not a file name in the export directory"},
	{"shards.1.file", "\"/tmp/x\"", "shards[1].file", "not a file name"},
	{"shards.1.file", "\".hidden\"", "shards[1].file", "not a file name"},
	{"shards.1.part", "\"holdout\"", "shards[1].part", "not one of train, validation, test"},
	{"shards.1.rows", "-1", "shards[1].rows", "shards[1].rows"},
	{"shards.1.rows", "3", "shards", "the test shards hold 4 rows, parts.test says 3"},
	{"shards.2.sha256", "\"CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC\"", "shards[2].sha256",
	 "64 lowercase hex digits"},
	{"shards.0", "[]", "shards[0]", "expected an object"},
	{"features", NULL, "features", "features"},
	{"shards", "{}", "shards", "shards"},
};

/* GOOD with path set to value (parsed as JSON), or removed when value is NULL. */
static char *mutate(const char *path, const char *value)
{
	json_t *root = json_loads(GOOD, 0, NULL), *node = root, *v = value ? json_loads(value, JSON_DECODE_ANY, NULL) : NULL;
	char buf[256], *key, *next, *text;

	assert_non_null(root);
	snprintf(buf, sizeof buf, "%s", path);
	for (key = buf; (next = strchr(key, '.')); key = next + 1) {
		*next = '\0';
		node = json_is_array(node) ? json_array_get(node, strtoul(key, NULL, 10)) : json_object_get(node, key);
		assert_non_null(node);
	}
	if (json_is_array(node))
		assert_int_equal(json_array_set_new(node, strtoul(key, NULL, 10), v), 0);
	else if (v)
		assert_int_equal(json_object_set_new(node, key, v), 0);
	else
		assert_int_equal(json_object_del(node, key), 0);
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}

static void test_shards_manifest_errors_name_the_field(void **state)
{
	size_t i;
	(void)state;
	for (i = 0; i < sizeof BAD / sizeof *BAD; i++) {
		struct shards_manifest m;
		struct error err;
		char *text = mutate(BAD[i].path, BAD[i].value);
		error_init(&err);
		if (shards_manifest_parse(text, strlen(text), &m, &err) == ERROR_OK)
			fail_msg("case %zu (%s = %s): accepted", i, BAD[i].path, BAD[i].value);
		if (strcmp(err.field, BAD[i].field) || !strstr(err.message, BAD[i].words))
			fail_msg("case %zu (%s = %s): field \"%s\", message \"%s\"", i, BAD[i].path, BAD[i].value,
				 err.field, err.message);
		shards_manifest_done(&m);
		free(text);
	}
}

static void test_shards_manifest_refuses_what_is_not_json_or_not_an_object(void **state)
{
	static const char *const texts[] = {"", "{", "[1]", "\"x\"", "{\"format\": 1}",
					    "{\"format\": \"a\", \"format\": \"b\"}"};
	size_t i;
	(void)state;
	for (i = 0; i < sizeof texts / sizeof *texts; i++) {
		struct shards_manifest m;
		struct error err;
		error_init(&err);
		assert_int_not_equal(shards_manifest_parse(texts[i], strlen(texts[i]), &m, &err), ERROR_OK);
		assert_true(err.message[0] != '\0');
		shards_manifest_done(&m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shards_manifest_parses_what_export_writes),
		cmocka_unit_test(test_shards_manifest_errors_name_the_field),
		cmocka_unit_test(test_shards_manifest_refuses_what_is_not_json_or_not_an_object),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Fuzz what models evaluate does with a shard file (shards.h): any bytes are refused or scored, never a crash. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "shelfcast/shards.h"

/* The features, levels and row count of TEST_SPEC's data: the seed shard matches it. */
static const char MANIFEST[] =
	"{\"format\": \"shelfcast.dataset.v1\", \"input_size\": 13, \"transform\": \"log1p\","
	" \"parts\": {\"test\": 4}, \"source\": {\"sha256\": \""
	"0000000000000000000000000000000000000000000000000000000000000000\"}, \"levels\": [0, 1, 2],"
	" \"features\": {\"numeric\": [\"price\", \"weight\"], \"categorical\": ["
	"   {\"name\": \"brand\", \"values\": [\"a\", \"b\", \"z\"]}, {\"name\": \"store\", \"values\": [\"1\", \"2\"]}]},"
	" \"shards\": [{\"file\": \"test-00000.safetensors\", \"part\": \"test\", \"rows\": 4, \"sha256\": \""
	"0000000000000000000000000000000000000000000000000000000000000000\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct model *m;
	static struct shards_manifest mf;
	json_t *metrics = NULL;
	struct error err;

	if (!m) {
		error_init(&err);
		m = test_model(TEST_SPEC, 9, 0.5f, NULL);
		if (!m || shards_manifest_parse(MANIFEST, strlen(MANIFEST), &mf, &err) != ERROR_OK)
			abort();
	}
	error_init(&err);
	if (shards_evaluate_bytes(m, &mf, data, size, &metrics, &err) == ERROR_OK) {
		if (!json_is_object(metrics))
			abort();
		json_decref(metrics);
	} else if (!err.message[0] || metrics) {
		abort();
	}
	return 0;
}

/* Fuzz the dataset export's manifest parser (shards.h): what parses keeps the invariants evaluate relies on. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "shelfcast/export.h"
#include "shelfcast/shards.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shards_manifest m;
	struct error err;
	size_t i, test = 0;

	error_init(&err);
	if (shards_manifest_parse((const char *)data, size, &m, &err) == ERROR_OK) {
		for (i = 0; i < m.n_shards; i++) {
			const struct shards_file *f = &m.shards[i];
			if (strchr(f->file, '/') || f->file[0] == '.' || f->part < 0 || f->part >= EXPORT_PARTS ||
			    strlen(f->sha256) != 64 || f->rows > EXPORT_MAX_SHARD_ROWS)
				abort(); /* a shard evaluate would read outside the directory, or trust */
			if (f->part == EXPORT_TEST)
				test += f->rows;
		}
		if (test != m.test_rows || m.n_levels < 1 || m.input_size < 1)
			abort();
		for (i = 0; i < m.n_categorical; i++)
			if (!m.categorical[i].name)
				abort();
		shards_manifest_done(&m);
	} else if (!err.message[0]) {
		abort();
	}
	return 0;
}

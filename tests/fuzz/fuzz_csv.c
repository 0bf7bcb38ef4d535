/* Fuzz the CSV reader and the table loader behind training. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "shelfcast/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct spec_level levels[2] = {{0, 0, 0}, {1, 0.1, 0}};
	static const struct table_colspec cols[] = {
		{"price", TABLE_NUMBER, false, false, false},
		{"brand", TABLE_CATEGORY, true, false, false},
		{"units", TABLE_NUMBER, false, true, false},
		{"featured", TABLE_LABEL01, true, false, true},
		{"level", TABLE_LEVEL, true, false, true},
		{"id", TABLE_TEXT, true, false, false},
	};
	struct table_options opt = {levels, 2, true, 50};
	struct table t;
	struct error err;
	FILE *f;

	if (size == 0)
		return 0;
	f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	error_init(&err);
	if (table_load(f, "fuzz.csv", cols, sizeof cols / sizeof cols[0], &opt, &t, &err) == ERROR_OK)
		table_done(&t);
	else if (!err.message[0])
		abort();
	fclose(f);
	return 0;
}

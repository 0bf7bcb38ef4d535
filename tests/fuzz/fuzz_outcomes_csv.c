/* Fuzz the outcomes CSV reader (`shelfcast outcomes import`): a named error or valid outcomes only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "shelfcast/outcomes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcomes o;
	struct error err;
	FILE *f;
	size_t i;

	if (size == 0)
		return 0;
	f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	outcomes_init(&o);
	error_init(&err);
	if (outcomes_read_csv(f, "fuzz.csv", &o, &err) == ERROR_OK) {
		for (i = 0; i < o.n; i++)
			if (!predlog_id_valid(o.items[i].id, strlen(o.items[i].id)) || !isfinite(o.items[i].units) ||
			    o.items[i].units < 0)
				abort();
	} else if (!err.message[0]) {
		abort();
	}
	outcomes_done(&o);
	fclose(f);
	return 0;
}

/* Fuzz the POST /v1/outcomes body parser: any bytes give a named error or valid outcomes only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "shelfcast/outcomes_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcomes o;
	struct error err;
	size_t i;

	outcomes_init(&o);
	error_init(&err);
	if (outcomes_api_parse((const char *)data, size, &o, &err) == ERROR_OK) {
		if (o.n == 0 || o.n > OUTCOMES_MAX)
			abort();
		for (i = 0; i < o.n; i++)
			if (!predlog_id_valid(o.items[i].id, strlen(o.items[i].id)) || !isfinite(o.items[i].units) ||
			    o.items[i].units < 0)
				abort();
	} else if (!err.message[0]) {
		abort();
	}
	outcomes_done(&o);
	return 0;
}

/* Fuzz the dataset config parser. */
#include <stdlib.h>

#include "fuzz_common.h"
#include "shelfcast/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dataset_config cfg;
	struct error err;

	error_init(&err);
	if (dataset_config_parse((const char *)data, size, &cfg, &err) == ERROR_OK)
		dataset_config_done(&cfg);
	else if (!err.message[0])
		abort();
	return 0;
}

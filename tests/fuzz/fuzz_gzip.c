/* Fuzz the gzip request-body inflater: any bytes give a body within the limit or a named error. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "shelfcast/gzip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct error err;
	char *out = NULL, *packed = NULL;
	size_t n = 0, packed_len = 0, limit = 4096;

	error_init(&err);
	if (gzip_inflate((const char *)data, size, limit, &out, &n, &err) == ERROR_OK) {
		if (n > limit || out[n] != '\0')
			abort();
		/* what inflates deflates and inflates back to the same bytes */
		if (gzip_deflate(out, n, &packed, &packed_len)) {
			char *again = NULL;
			size_t m = 0;
			if (gzip_inflate(packed, packed_len, limit, &again, &m, &err) != ERROR_OK || m != n ||
			    memcmp(again, out, n))
				abort();
			free(again);
			free(packed);
		}
		free(out);
	} else if (!err.message[0] || out || n) {
		abort();
	}
	return 0;
}

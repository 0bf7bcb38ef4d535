/* tensor — see include/shelfcast/tensor.h. */
#include "shelfcast/tensor.h"

#include <stdint.h>
#include <string.h>

void tensor_hash(struct sha256 *ctx, const struct tensor *tensors, size_t n)
{
	size_t i, d;

	for (i = 0; i < n; i++) {
		sha256_update(ctx, tensors[i].name, strlen(tensors[i].name) + 1);
		for (d = 0; d < tensors[i].ndim; d++) {
			uint64_t dim = tensors[i].shape[d];
			uint8_t le[8];
			int b;
			for (b = 0; b < 8; b++)
				le[b] = (uint8_t)(dim >> (8 * b));
			sha256_update(ctx, le, sizeof le);
		}
		sha256_update(ctx, tensors[i].data, tensors[i].nbytes);
	}
}

void tensor_checksum(const struct tensor *tensors, size_t n, char hex[SHA256_HEX_SIZE])
{
	struct sha256 ctx;

	sha256_init(&ctx);
	tensor_hash(&ctx, tensors, n);
	sha256_final_hex(&ctx, hex);
}

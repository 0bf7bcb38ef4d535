/*
 * tensor — a named float32 tensor as it arrives from outside (a registry
 * row, a safetensors file) or goes out, and the checksum over a list of
 * them that identifies a version's weights.
 *
 * The checksum is SHA-256 over, for each tensor in the given order:
 *   name, NUL, each dimension as u64 little-endian, the raw f32 data.
 *
 * Thread-safety: pure functions; a tensor borrows its data.
 */
#ifndef SHELFCAST_TENSOR_H
#define SHELFCAST_TENSOR_H

#include <stddef.h>

#include "shelfcast/sha256.h"

#define TENSOR_NAME_MAX 64
#define TENSOR_MAX_DIMS 4

struct tensor {
	char name[TENSOR_NAME_MAX];
	char dtype[8];                  /* "F32" is the only one accepted */
	size_t ndim;
	size_t shape[TENSOR_MAX_DIMS];
	const void *data;               /* borrowed: little-endian elements */
	size_t nbytes;
};

/* The checksum over tensors in the given order, as lowercase hex. */
void tensor_checksum(const struct tensor *tensors, size_t n, char hex[SHA256_HEX_SIZE]);
/* The same bytes fed into a running hash (model_checksum covers a spec before them). */
void tensor_hash(struct sha256 *ctx, const struct tensor *tensors, size_t n);

#endif

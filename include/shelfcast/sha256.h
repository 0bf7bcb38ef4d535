/*
 * sha256 — SHA-256 (FIPS 180-4), for model checksums and data fingerprints.
 * Thread-safety: a context belongs to one thread; no shared state.
 */
#ifndef SHELFCAST_SHA256_H
#define SHELFCAST_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_HEX_SIZE 65 /* 64 hex digits and a NUL */

struct sha256 {
	uint32_t h[8];
	uint64_t total; /* bytes hashed so far */
	uint8_t block[64];
	size_t fill;
};

void sha256_init(struct sha256 *ctx);
void sha256_update(struct sha256 *ctx, const void *data, size_t len);
void sha256_final(struct sha256 *ctx, uint8_t digest[SHA256_DIGEST_SIZE]);
/* Finish and write the lower-case hex digest. */
void sha256_final_hex(struct sha256 *ctx, char hex[SHA256_HEX_SIZE]);

#endif

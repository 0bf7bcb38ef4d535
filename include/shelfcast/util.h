/*
 * util — small system helpers: clocks, whole-file reads with a cap, paths,
 * overflow-checked sizes, random bytes.  No logging, no exits.
 * Thread-safety: every function is safe to call from any thread.
 */
#ifndef SHELFCAST_UTIL_H
#define SHELFCAST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shelfcast/error.h"

/* Monotonic clock in nanoseconds / seconds. */
uint64_t util_now_ns(void);
double util_now_s(void);
/* Wall clock as RFC 3339 UTC with milliseconds: "2026-11-28T06:31:19.123Z" (buf >= 32). */
void util_format_time(char *buf, size_t size, double unix_seconds);
double util_unix_time(void);

/* a*b without overflow: false when it would overflow. */
static inline bool util_mul_size(size_t a, size_t b, size_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}
static inline bool util_add_size(size_t a, size_t b, size_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}

/*
 * Room for element n of a growable array of *cap elements of `size` bytes:
 * the array itself while n < *cap, else the array reallocated to twice the
 * capacity (`first` when empty), with *cap updated.  NULL when memory runs
 * out or the size overflows; the array and *cap are then unchanged.
 */
void *util_grow_array(void *array, size_t *cap, size_t size, size_t first);
static inline void *util_reserve(void *array, size_t *cap, size_t n, size_t size, size_t first)
{
	return n < *cap ? array : util_grow_array(array, cap, size, first);
}

/* Copy src into dst (size > 0), truncating; always NUL-terminated. Returns the length copied. */
size_t util_copy(char *dst, size_t size, const char *src);

/* calloc-like array allocation with an overflow check (NULL on overflow). */
void *util_alloc_array(size_t n, size_t size);

/*
 * Read a whole file (at most max_size bytes) into a new NUL-terminated
 * buffer the caller frees.  Errors name the path and the cause.
 */
enum error_code util_read_file(const char *path, size_t max_size, char **data, size_t *len,
			       struct error *err);
/* Write data to path atomically (temp file + rename). */
enum error_code util_write_file(const char *path, const void *data, size_t len, struct error *err);

/* mkdir -p with the given mode for created directories. */
enum error_code util_mkdirs(const char *path, unsigned mode, struct error *err);

/* Fill buf with random bytes (getrandom, falling back to time and pid). */
void util_random_bytes(void *buf, size_t len);
/* A fast per-thread pseudo-random number (ids, not secrets). */
uint64_t util_random_u64(void);

/* Online CPUs, at least 1. */
unsigned util_cpu_count(void);

/* Strict decimal parses of a whole string; false on junk, overflow or empty input. */
bool util_parse_long(const char *s, long long min, long long max, long long *out);
bool util_parse_double(const char *s, size_t len, double *out);

/* Resident set size of this process in bytes (0 when unknown). */
size_t util_rss_bytes(void);
/* Number of open file descriptors of this process (-1 when unknown). */
int util_open_fds(void);

#endif

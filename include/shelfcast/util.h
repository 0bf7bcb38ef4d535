/*
 * util — small system helpers: clocks, whole-file reads with a cap, paths,
 * overflow-checked sizes, random bytes.  No logging, no exits.
 * Thread-safety: every function is safe to call from any thread; a struct
 * util_clock belongs to one thread at a time.
 */
#ifndef SHELFCAST_UTIL_H
#define SHELFCAST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "shelfcast/error.h"

/* Monotonic clock in nanoseconds / seconds. */
uint64_t util_now_ns(void);
double util_now_s(void);
/* Wall clock as RFC 3339 UTC with milliseconds: "2026-11-28T06:31:19.123Z" (buf >= UTIL_TIME_SIZE). */
#define UTIL_TIME_SIZE 32
void util_format_time(char *buf, size_t size, double unix_seconds);
double util_unix_time(void);

/*
 * A clock cache for one writer at a time (a server worker owns one): the
 * offset between the monotonic and the wall clock, read again once a
 * second, and the formatted second, so that stamping a line reads no clock
 * and formats no date most of the time.  Caller-owned: util_clock_init.
 */
#define UTIL_CLOCK_REFRESH_NS 1000000000ULL
struct util_clock {
	uint64_t base_mono; /* 0: not read yet */
	double base_unix;
	int64_t cached_secs;
	char cached[24];
};
void util_clock_init(struct util_clock *c);
/* The wall-clock time (unix seconds) at monotonic time mono_ns (from util_now_ns). */
double util_clock_unix_at(struct util_clock *c, uint64_t mono_ns);
/* util_format_time through the cache. */
void util_clock_format(struct util_clock *c, char *buf, size_t size, double unix_seconds);

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

/*
 * How many bytes from p (n available) can stand in a JSON string as they
 * are: printable ASCII other than '"' and '\\'.  Eight bytes per step.
 */
static inline size_t util_json_plain_len(const unsigned char *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	size_t i = 0;

#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	for (; i + 8 <= n; i += 8) {
		uint64_t w, q, b, m;
		memcpy(&w, p + i, 8);
		q = w ^ (ones * '"');
		b = w ^ (ones * '\\');
		/*
		 * High bit of each byte below 0x20 or from 0x80, or equal to '"' or
		 * '\\'.  Borrows can mark bytes above a marked one, never below, so
		 * the lowest mark is the first byte that is not plain.
		 */
		m = ((w - ones * 0x20) | w | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
		if (m)
			return i + (size_t)__builtin_ctzll(m) / 8;
	}
#endif
	while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\')
		i++;
	return i;
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

/* mkdir -p with the given mode for created directories. */
enum error_code util_mkdirs(const char *path, unsigned mode, struct error *err);

/* Fill buf with random bytes (getrandom, falling back to time and pid). */
void util_random_bytes(void *buf, size_t len);

/* Online CPUs, at least 1. */
unsigned util_cpu_count(void);

/*
 * Strict decimal parses of a whole string; false on junk, overflow or empty
 * input.  A long is digits only, led by '-' only when min is negative: no
 * space, no '+' (a port, a count, a version number, a Content-Length).
 */
bool util_parse_long(const char *s, long long min, long long max, long long *out);
bool util_parse_double(const char *s, size_t len, double *out);

/* Resident set size of this process in bytes (0 when unknown). */
size_t util_rss_bytes(void);
/* Number of open file descriptors of this process (-1 when unknown). */
int util_open_fds(void);

#endif

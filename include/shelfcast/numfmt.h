/*
 * numfmt — number to text without stdio, for the serving path.
 *
 * Why: libopenblas pulls in libgfortran and libquadmath, and libquadmath
 * registers a printf modifier at load time; from then on every printf-family
 * call in the process takes glibc's slow positional path (about 0.2 µs for one
 * "%.7g").  Replies and log lines format numbers on every request.
 *
 * numfmt_g() writes exactly what snprintf("%.*g", digits, v) writes (C locale,
 * round-to-nearest): it computes the digits with exact 128-bit integer
 * arithmetic and falls back to snprintf for the rare values outside that range
 * (magnitudes beyond about 1e±20 at 7 digits).  A unit test compares the two on
 * millions of values, ties included.
 *
 * Thread-safety: pure functions.
 */
#ifndef SHELFCAST_NUMFMT_H
#define SHELFCAST_NUMFMT_H

#include <stddef.h>

/* Big enough for any result below, with its terminator. */
#define NUMFMT_MAX 40

/* Decimal integer; returns the length written (NUL-terminated). */
size_t numfmt_int(char *buf, long long v);
/*
 * snprintf(buf, NUMFMT_MAX, "%.*g", digits, v) for 1 <= digits <= 17 (other
 * values are clamped into that range), including "nan", "inf" and "-0".
 * Returns the length written.
 */
size_t numfmt_g(char *buf, double v, int digits);

#endif

/* numfmt — see include/shelfcast/numfmt.h. */
#include "shelfcast/numfmt.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

__extension__ typedef unsigned __int128 u128;

size_t numfmt_int(char *buf, long long v)
{
	char tmp[24];
	int i = (int)sizeof tmp;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	size_t n;

	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[--i] = '-';
	n = sizeof tmp - (size_t)i;
	memcpy(buf, tmp + i, n);
	buf[n] = '\0';
	return n;
}

static const uint64_t pow10_u64[20] = {
	1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
	100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL,
	1000000000000ULL, 10000000000000ULL, 100000000000000ULL,
	1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
	1000000000000000000ULL, 10000000000000000000ULL,
};

static u128 pow10_u128(int k) /* 0 <= k <= 38 */
{
	if (k < 20)
		return pow10_u64[k];
	return (u128)pow10_u64[19] * pow10_u64[k - 19];
}

static int bit_length(u128 x)
{
	uint64_t hi = (uint64_t)(x >> 64), lo = (uint64_t)x;
	if (hi)
		return 128 - __builtin_clzll(hi);
	return lo ? 64 - __builtin_clzll(lo) : 0;
}

static size_t fallback(char *buf, double v, int digits)
{
	int n = snprintf(buf, NUMFMT_MAX, "%.*g", digits, v);
	return n > 0 && n < NUMFMT_MAX ? (size_t)n : 0;
}

/*
 * floor(m * 2^e * 10^k) and whether the rest is below, at or above one half,
 * exactly.  false when the operands do not fit in 127 bits.
 */
static bool scaled(uint64_t m, int e, int k, uint64_t *q, int *half)
{
	u128 num = m, den = 1, quot, rem;

	if (k > 38 || k < -38)
		return false;
	if (k >= 0 && k < 20 && e < 0 && e > -128) {
		/* The common case, without a division: m * 10^k < 2^117, and dividing
		 * by 2^-e is a shift; the bits shifted out are the rest. */
		unsigned s = (unsigned)-e;
		num *= pow10_u64[k];
		quot = num >> s;
		if (quot >> 64)
			return false;
		rem = num - (quot << s);
		den = (u128)1 << (s - 1); /* one half, in units of 2^-s */
		*q = (uint64_t)quot;
		*half = rem < den ? -1 : rem == den ? 0 : 1;
		return true;
	}
	if (k >= 0) {
		if (bit_length(num) + bit_length(pow10_u128(k)) > 127)
			return false;
		num *= pow10_u128(k);
	} else {
		den = pow10_u128(-k);
	}
	if (e >= 0) {
		if (bit_length(num) + e > 127)
			return false;
		num <<= e;
	} else {
		if (bit_length(den) - e > 127)
			return false;
		den <<= -e;
	}
	quot = num / den;
	rem = num - quot * den;
	if (quot >> 64)
		return false;
	*q = (uint64_t)quot;
	rem <<= 1; /* rem < den < 2^127 */
	*half = rem < den ? -1 : rem == den ? 0 : 1;
	return true;
}

size_t numfmt_g(char *buf, double v, int digits)
{
	uint64_t bits, m, q = 0, lo, hi;
	int e, x, attempt, half = 0, nd, i;
	char d[20];
	char *p = buf;
	bool found = false, neg = false;

	if (digits < 1)
		digits = 1;
	if (digits > 17)
		digits = 17;
	if (!isfinite(v))
		return fallback(buf, v, digits);
	if (signbit(v)) {
		*p++ = '-';
		v = -v;
		neg = true;
	}
	if (v == 0.0) {
		*p++ = '0';
		*p = '\0';
		return (size_t)(p - buf);
	}
	memcpy(&bits, &v, sizeof bits);
	if (((bits >> 52) & 0x7ff) == 0) /* subnormal */
		return fallback(buf, neg ? -v : v, digits);
	m = (bits & ((1ULL << 52) - 1)) | (1ULL << 52);
	e = (int)((bits >> 52) & 0x7ff) - 1075; /* v = m * 2^e */
	lo = (uint64_t)pow10_u128(digits - 1);
	hi = lo * 10;
	/* The decimal exponent from the binary one: v is in [2^b, 2^(b+1)) with
	 * b = e + 52, so floor(log10 v) is floor(b log10 2) or one above it;
	 * 78913 / 2^18 is log10 2 to 8e-7, which over |b| < 1100 moves the floor
	 * by at most one more.  The loop corrects an exponent off by up to two. */
	x = (e + 52) * 78913;
	x = x >= 0 ? x >> 18 : -((-x + (1 << 18) - 1) >> 18);
	for (attempt = 0; attempt < 3 && !found; attempt++) {
		if (!scaled(m, e, digits - 1 - x, &q, &half))
			break;
		if (q >= hi)
			x++;
		else if (q < lo)
			x--;
		else
			found = true;
	}
	if (!found)
		return fallback(buf, neg ? -v : v, digits);
	if (half > 0 || (half == 0 && (q & 1))) /* to nearest, ties to even */
		q++;
	if (q == hi) {
		q = lo;
		x++;
	}
	for (i = digits - 1; i >= 0; i--) {
		d[i] = (char)('0' + q % 10);
		q /= 10;
	}
	nd = digits;
	if (x < -4 || x >= digits) {
		while (nd > 1 && d[nd - 1] == '0')
			nd--;
		*p++ = d[0];
		if (nd > 1) {
			*p++ = '.';
			memcpy(p, d + 1, (size_t)nd - 1);
			p += nd - 1;
		}
		*p++ = 'e';
		*p++ = x < 0 ? '-' : '+';
		if (x < 0)
			x = -x;
		if (x >= 100)
			*p++ = (char)('0' + x / 100);
		*p++ = (char)('0' + x / 10 % 10);
		*p++ = (char)('0' + x % 10);
	} else if (x >= 0) {
		while (nd > x + 1 && d[nd - 1] == '0')
			nd--;
		memcpy(p, d, (size_t)x + 1);
		p += x + 1;
		if (nd > x + 1) {
			*p++ = '.';
			memcpy(p, d + x + 1, (size_t)(nd - x - 1));
			p += nd - x - 1;
		}
	} else {
		while (nd > 1 && d[nd - 1] == '0')
			nd--;
		*p++ = '0';
		*p++ = '.';
		for (i = 0; i < -x - 1; i++)
			*p++ = '0';
		memcpy(p, d, (size_t)nd);
		p += nd;
	}
	*p = '\0';
	return (size_t)(p - buf);
}

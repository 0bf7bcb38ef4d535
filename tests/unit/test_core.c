/* Unit tests: strbuf, sha256, hashmap, util parsing, buffered log lines. */
#include "testutil.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "shelfcast/hashmap.h"
#include "shelfcast/log.h"
#include "shelfcast/numfmt.h"
#include "shelfcast/sha256.h"
#include "shelfcast/strbuf.h"

static void test_strbuf_escapes_json_strings(void **state)
{
	struct strbuf sb;
	(void)state;
	strbuf_init(&sb);
	strbuf_json_string(&sb, "a\"b\\c\n\x01\xc3\xa9", 9);
	assert_string_equal(sb.data, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"");
	strbuf_done(&sb);
}

static void test_strbuf_replaces_invalid_utf8(void **state)
{
	struct strbuf sb;
	(void)state;
	strbuf_init(&sb);
	strbuf_json_string(&sb, "x\xff\xc3(y\xed\xa0\x80", 8);
	assert_string_equal(sb.data, "\"x\\ufffd\\ufffd(y\\ufffd\\ufffd\\ufffd\"");
	strbuf_done(&sb);
}

/*
 * Strings of up to 32 bytes take a short path: it must write exactly what the
 * general one does.  Each random short string is also written with 40 plain
 * bytes after it (the general path), and the two must agree.
 */
static void test_strbuf_short_strings_match_the_general_path(void **state)
{
	static const char alphabet[] = "aZ0 /\"\\\n\x01\x1f\xc3\xa9\xe2\x82\xac\xff\xed\xa0";
	uint64_t seed = 3;
	int t;
	(void)state;
	for (t = 0; t < 100000; t++) {
		char in[80];
		size_t len = test_rand(&seed) % 33, i;
		struct strbuf a, b;
		for (i = 0; i < len; i++)
			in[i] = alphabet[test_rand(&seed) % (sizeof alphabet - 1)];
		memset(in + len, 'a', 40);
		strbuf_init(&a);
		strbuf_init(&b);
		strbuf_json_string(&a, in, len);
		strbuf_json_string(&b, in, len + 40);
		/* b is a without its closing quote, then the 40 a's and the quote */
		if (b.len != a.len + 40 || memcmp(a.data, b.data, a.len - 1))
			fail_msg("%zu bytes: short path %s, general path %s", len, a.data, b.data);
		strbuf_done(&a);
		strbuf_done(&b);
	}
}

static void test_strbuf_numbers_are_valid_json(void **state)
{
	struct strbuf sb;
	(void)state;
	strbuf_init(&sb);
	strbuf_json_double(&sb, NAN, 7);
	strbuf_putc(&sb, ' ');
	strbuf_json_double(&sb, -0.0, 7);
	strbuf_putc(&sb, ' ');
	strbuf_json_double(&sb, 4210.5, 7);
	strbuf_putc(&sb, ' ');
	strbuf_json_int(&sb, -9223372036854775807LL - 1);
	assert_string_equal(sb.data, "null 0 4210.5 -9223372036854775808");
	strbuf_done(&sb);
}

static void test_strbuf_printf_grows(void **state)
{
	struct strbuf sb;
	char big[1000];
	(void)state;
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	strbuf_init(&sb);
	strbuf_printf(&sb, "%s-%d", big, 42);
	assert_int_equal(sb.len, 1002);
	assert_string_equal(sb.data + 999, "-42");
	strbuf_done(&sb);
}

static void hex_of(const char *msg, size_t len, char out[65])
{
	struct sha256 c;
	sha256_init(&c);
	sha256_update(&c, msg, len);
	sha256_final_hex(&c, out);
}

static void test_sha256_matches_the_fips_vectors(void **state)
{
	char hex[65], *million;
	struct sha256 c;
	size_t i;
	(void)state;
	hex_of("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	hex_of("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* a million 'a', fed in uneven pieces */
	million = malloc(1000000);
	memset(million, 'a', 1000000);
	sha256_init(&c);
	for (i = 0; i < 1000000;) {
		size_t n = (i * 7 + 13) % 997 + 1;
		if (n > 1000000 - i)
			n = 1000000 - i;
		sha256_update(&c, million + i, n);
		i += n;
	}
	sha256_final_hex(&c, hex);
	assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(million);
}

static void test_hashmap_keeps_first_value_and_grows(void **state)
{
	struct hashmap *m = hashmap_new(1);
	char key[32];
	int i;
	(void)state;
	for (i = 0; i < 5000; i++) {
		int n = snprintf(key, sizeof key, "k%d", i);
		assert_int_equal(hashmap_put(m, key, (size_t)n, i), i);
	}
	assert_int_equal(hashmap_put(m, "k7", 2, 99), 7);
	assert_int_equal(hashmap_count(m), 5000);
	for (i = 0; i < 5000; i++) {
		int n = snprintf(key, sizeof key, "k%d", i);
		assert_int_equal(hashmap_get(m, key, (size_t)n), i);
	}
	assert_int_equal(hashmap_get(m, "missing", 7), -1);
	assert_int_equal(hashmap_get(m, "k1\0", 3), -1); /* lengths are part of the key */
	hashmap_free(m);
}

/* The word-at-a-time hash: every byte and the length count, whatever the alignment. */
static void test_hash_sees_every_byte(void **state)
{
	char a[40], b[40];
	size_t len, i;
	(void)state;
	for (len = 0; len < 33; len++) {
		memset(a, 'x', sizeof a);
		assert_true(hashmap_hash(a, len, 0) != hashmap_hash(a, len + 1, 0));
		for (i = 0; i < len; i++) {
			memcpy(b, a, sizeof b);
			b[i] ^= 1;
			assert_true(hashmap_hash(a, len, 0) != hashmap_hash(b, len, 0));
		}
		/* the same bytes at another alignment, with other bytes around them: the same hash */
		memset(b, 'y', sizeof b);
		memcpy(b + 3, a, len);
		assert_true(hashmap_hash(a, len, 7) == hashmap_hash(b + 3, len, 7));
	}
	assert_true(hashmap_hash("ab", 2, 0) != hashmap_hash("ab\0", 3, 0));
	assert_true(hashmap_hash("ab", 2, 0) != hashmap_hash("ab", 2, 1));
}

/* The plain-run scanner agrees with a byte-by-byte loop on every position of a special byte. */
static void test_json_plain_len_matches_a_byte_loop(void **state)
{
	static const unsigned char specials[] = {'"', '\\', 0x00, 0x1f, 0x7f, 0x80, 0xc3, 0xff, 0x20, 'a'};
	unsigned char buf[48];
	uint64_t seed = 3;
	size_t n, pos, k, trial;
	(void)state;
	for (n = 0; n <= sizeof buf; n++)
		for (pos = 0; pos <= n; pos++)
			for (k = 0; k < sizeof specials; k++) {
				size_t want = 0;
				memset(buf, 'q', sizeof buf);
				if (pos < n)
					buf[pos] = specials[k];
				while (want < n && buf[want] >= 0x20 && buf[want] < 0x80 && buf[want] != '"' &&
				       buf[want] != '\\')
					want++;
				assert_int_equal(util_json_plain_len(buf, n), want);
			}
	for (trial = 0; trial < 20000; trial++) { /* random bytes, mostly plain */
		size_t want = 0;
		n = test_rand(&seed) % sizeof buf;
		for (k = 0; k < n; k++)
			buf[k] = test_rand(&seed) % 16 ? (unsigned char)(0x20 + test_rand(&seed) % 0x60)
						       : (unsigned char)test_rand(&seed);
		while (want < n && buf[want] >= 0x20 && buf[want] < 0x80 && buf[want] != '"' &&
		       buf[want] != '\\')
			want++;
		assert_int_equal(util_json_plain_len(buf, n), want);
	}
}

static void test_util_parsers_are_strict(void **state)
{
	long long v;
	double d;
	(void)state;
	assert_true(util_parse_long("42", 0, 100, &v) && v == 42);
	assert_false(util_parse_long("42x", 0, 100, &v));
	assert_false(util_parse_long("", 0, 100, &v));
	assert_false(util_parse_long("101", 0, 100, &v));
	assert_true(util_parse_double(" 1.5 ", 5, &d) && d == 1.5);
	assert_false(util_parse_double("abc", 3, &d));
	assert_false(util_parse_double("1e999", 5, &d));
	assert_false(util_parse_double("", 0, &d));
	assert_true(util_parse_double("nan", 3, &d) && isnan(d)); /* the caller decides what NaN means */
}

/* numfmt_g must write what snprintf("%.*g") writes; compare them and count the differences. */
static int compare_g(double v, int digits)
{
	char want[64], got[NUMFMT_MAX];
	size_t n = numfmt_g(got, v, digits);
	snprintf(want, sizeof want, "%.*g", digits, v);
	if (strcmp(want, got) || n != strlen(want)) {
		print_error("numfmt_g(%a, %d) = \"%s\", snprintf gives \"%s\"\n", v, digits, got, want);
		return 1;
	}
	return 0;
}

static void test_numfmt_g_matches_snprintf(void **state)
{
	uint64_t seed = 0x5eedf00dULL;
	int bad = 0, k, d;
	long i;
	(void)state;
	/* Random magnitudes over 1e-25..1e25, random precision. */
	for (i = 0; i < 1000000; i++) {
		double mant = (double)(test_rand(&seed) >> 11) / 9007199254740992.0;
		int e = (int)(test_rand(&seed) % 51) - 25;
		double v = mant * pow(10.0, e) * ((test_rand(&seed) & 1) ? -1 : 1);
		bad += compare_g(v, 1 + (int)(test_rand(&seed) % 17));
	}
	/* Any bit pattern: subnormals, huge values, NaN and infinities. */
	for (i = 0; i < 200000; i++) {
		uint64_t bits = test_rand(&seed);
		double v;
		memcpy(&v, &bits, sizeof v);
		bad += compare_g(v, 1 + (int)(test_rand(&seed) % 17));
	}
	/* Exact binary fractions: decimal ties at some precision (round half to even). */
	for (i = 0; i < 200000; i++) {
		double v = ldexp((double)(test_rand(&seed) % 2000000), -(int)(test_rand(&seed) % 12));
		bad += compare_g(v, 1 + (int)(test_rand(&seed) % 8));
	}
	/* Beside every power of ten, where the exponent estimate is off by one, and at it. */
	for (k = -30; k <= 30; k++) {
		double p = pow(10.0, k);
		for (d = 1; d <= 17; d++) {
			bad += compare_g(p, d);
			bad += compare_g(nextafter(p, 0), d);
			bad += compare_g(nextafter(p, INFINITY), d);
			bad += compare_g(p * 0.99999995, d); /* rounds up to the power at low precision */
		}
	}
	for (i = 0; i <= 100000; i++)
		bad += compare_g((double)i, 7) + compare_g((double)i / 1000.0, 7);
	bad += compare_g(0.0, 7) + compare_g(-0.0, 7) + compare_g(DBL_MAX, 17) + compare_g(DBL_MIN, 17) +
	       compare_g(5e-324, 3) + compare_g(0.0001, 7) + compare_g(0.00001, 7) + compare_g(1e7, 7);
	assert_int_equal(bad, 0);
}

static void test_numfmt_int_covers_the_range(void **state)
{
	uint64_t seed = 42;
	char want[32], got[NUMFMT_MAX];
	long i;
	(void)state;
	assert_int_equal(numfmt_int(got, -9223372036854775807LL - 1), 20);
	assert_string_equal(got, "-9223372036854775808");
	numfmt_int(got, 9223372036854775807LL);
	assert_string_equal(got, "9223372036854775807");
	numfmt_int(got, 0);
	assert_string_equal(got, "0");
	for (i = 0; i < 100000; i++) {
		long long v = (long long)test_rand(&seed) >> (test_rand(&seed) % 63);
		size_t n = numfmt_int(got, v);
		snprintf(want, sizeof want, "%lld", v);
		assert_string_equal(got, want);
		assert_int_equal(n, strlen(want));
	}
}

static void test_util_reserve_doubles_and_refuses_overflow(void **state)
{
	int *a = NULL, *p;
	size_t cap = 0, n;
	(void)state;
	for (n = 0; n < 100; n++) {
		p = util_reserve(a, &cap, n, sizeof *a, 4);
		assert_non_null(p);
		a = p;
		a[n] = (int)n;
		assert_true(cap > n);
	}
	assert_int_equal(cap, 128); /* 4, 8, ..., 128 */
	for (n = 0; n < 100; n++)
		assert_int_equal(a[n], (int)n);
	assert_ptr_equal(util_reserve(a, &cap, 127, sizeof *a, 4), a); /* room left: no realloc */
	/* A capacity that cannot double, or an element count whose byte size overflows: refused, unchanged. */
	n = SIZE_MAX / 2 + 1;
	assert_null(util_grow_array(a, &n, 1, 4));
	assert_int_equal(n, SIZE_MAX / 2 + 1);
	n = SIZE_MAX / 16;
	assert_null(util_grow_array(a, &n, 16, 4));
	assert_int_equal(n, SIZE_MAX / 16);
	free(a);
}

/*
 * The wall clock from a monotonic reading: now is now, time moves with the
 * monotonic clock, and an offset older than a second is read again (a clock
 * whose offset is planted 100 s wrong and 2 s old comes right).
 */
static void test_clock_follows_both_clocks_and_refreshes_a_stale_offset(void **state)
{
	struct util_clock c;
	uint64_t now = util_now_ns();
	double wall = util_unix_time(), at;
	char a[UTIL_TIME_SIZE], b[UTIL_TIME_SIZE];
	(void)state;
	util_clock_init(&c);
	at = util_clock_unix_at(&c, now);
	if (fabs(at - wall) > 0.05)
		fail_msg("util_clock_unix_at(now) %.3f, util_unix_time() %.3f", at, wall);
	/* 0.5 s later and 0.25 s earlier: the same offset */
	assert_true(fabs(util_clock_unix_at(&c, now + 500000000ULL) - at - 0.5) < 0.05);
	assert_true(fabs(util_clock_unix_at(&c, now - 250000000ULL) - at + 0.25) < 0.05);
	/* an offset read 2 s ago that is 100 s off: the next reading refreshes it */
	now = util_now_ns();
	c.base_mono = now - 2 * UTIL_CLOCK_REFRESH_NS;
	c.base_unix = util_unix_time() - 2.0 - 100.0;
	at = util_clock_unix_at(&c, now);
	if (fabs(at - util_unix_time()) > 0.05)
		fail_msg("a stale offset was not read again: %.3f against %.3f", at, util_unix_time());
	/* the cached format gives what the uncached one gives, across a second's change */
	util_clock_format(&c, a, sizeof a, 1764484279.123);
	util_format_time(b, sizeof b, 1764484279.123);
	assert_string_equal(a, b);
	util_clock_format(&c, a, sizeof a, 1764484280.5);
	assert_string_equal(a, "2025-11-30T06:31:20.500Z");
}

/*
 * Buffered log lines from several threads, with the flusher writing every
 * millisecond meanwhile: every line arrives exactly once, whole, and each
 * thread's lines in the order it wrote them.  Lengths vary so that buffers
 * fill at every offset, and each thread writes a few lines longer than a
 * buffer (written at once).
 */
#define LOG_THREADS 4
#define LOG_LINES 6000

static void *log_lines(void *arg)
{
	int t = (int)(intptr_t)arg, i;
	struct log_buffer *b = log_buffer_new(); /* each writer its own, as each server worker */
	struct strbuf sb;

	assert_non_null(b);
	strbuf_init(&sb);
	for (i = 0; i < LOG_LINES; i++) {
		int pad = i % 1000 == 999 ? 20000 : (i * 37 + t * 11) % 300, k;
		strbuf_reset(&sb);
		strbuf_printf(&sb, "{\"t\":%d,\"i\":%d,\"p\":\"", t, i);
		for (k = 0; k < pad; k++)
			strbuf_putc(&sb, (char)('a' + (i + k) % 26));
		strbuf_putc(&sb, '"');
		log_end_buffered(b, &sb);
		if (i % 500 == 0)
			usleep(300); /* let the flusher in between lines */
	}
	strbuf_done(&sb);
	log_buffer_free(b);
	return NULL;
}

static void test_buffered_log_lines_arrive_once_whole_and_in_order(void **state)
{
	FILE *f = tmpfile();
	int fd = f ? fileno(f) : -1, saved = dup(STDERR_FILENO), t, next[LOG_THREADS] = {0};
	pthread_t th[LOG_THREADS];
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long lines = 0;

	(void)state;
	assert_true(fd >= 0 && saved >= 0);
	assert_true(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
	log_start_flusher(1);
	for (t = 0; t < LOG_THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, log_lines, (void *)(intptr_t)t), 0);
	for (t = 0; t < LOG_THREADS; t++)
		pthread_join(th[t], NULL);
	log_stop_flusher();
	assert_true(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
	close(saved);

	rewind(f);
	while ((n = getline(&line, &cap, f)) > 0) {
		int tt, i, used = 0, pad, k;
		if (sscanf(line, "{\"t\":%d,\"i\":%d,\"p\":\"%n", &tt, &i, &used) != 2 || !used ||
		    tt < 0 || tt >= LOG_THREADS)
			fail_msg("line %ld is not a whole line: %.60s", lines + 1, line);
		if (i != next[tt])
			fail_msg("thread %d: line %d where %d was due (lost, repeated or out of order)", tt,
				 i, next[tt]);
		next[tt]++;
		pad = i % 1000 == 999 ? 20000 : (i * 37 + tt * 11) % 300;
		if (n != used + pad + 3 || strcmp(line + used + pad, "\"}\n") != 0)
			fail_msg("thread %d line %d: %zd bytes, %d expected", tt, i, n, used + pad + 3);
		for (k = 0; k < pad; k++)
			if (line[used + k] != (char)('a' + (i + k) % 26))
				fail_msg("thread %d line %d: byte %d changed", tt, i, k);
		lines++;
	}
	free(line);
	fclose(f);
	assert_int_equal(lines, LOG_THREADS * LOG_LINES);
	for (t = 0; t < LOG_THREADS; t++)
		assert_int_equal(next[t], LOG_LINES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strbuf_escapes_json_strings),
		cmocka_unit_test(test_strbuf_replaces_invalid_utf8),
		cmocka_unit_test(test_strbuf_short_strings_match_the_general_path),
		cmocka_unit_test(test_strbuf_numbers_are_valid_json),
		cmocka_unit_test(test_strbuf_printf_grows),
		cmocka_unit_test(test_numfmt_g_matches_snprintf),
		cmocka_unit_test(test_numfmt_int_covers_the_range),
		cmocka_unit_test(test_sha256_matches_the_fips_vectors),
		cmocka_unit_test(test_hashmap_keeps_first_value_and_grows),
		cmocka_unit_test(test_hash_sees_every_byte),
		cmocka_unit_test(test_json_plain_len_matches_a_byte_loop),
		cmocka_unit_test(test_util_parsers_are_strict),
		cmocka_unit_test(test_util_reserve_doubles_and_refuses_overflow),
		cmocka_unit_test(test_clock_follows_both_clocks_and_refreshes_a_stale_offset),
		cmocka_unit_test(test_buffered_log_lines_arrive_once_whole_and_in_order),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

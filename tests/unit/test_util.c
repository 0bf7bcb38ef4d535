/*
 * Unit tests: util — strict parsers, growable arrays, the JSON plain-run
 * scanner, whole-file reads and writes, and the clocks.
 *
 * This binary is linked with -Wl,--wrap=clock_gettime (tests/meson.build), so
 * a test can put the clocks where it wants them: the wall clock stepped while
 * the monotonic one runs on, as NTP does to a server.  With `fake.on` false
 * the wrapper is the real clock_gettime.
 */
#include "testutil.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int __real_clock_gettime(clockid_t id, struct timespec *ts);
int __wrap_clock_gettime(clockid_t id, struct timespec *ts);

static struct {
	bool on;
	uint64_t mono_ns;   /* CLOCK_MONOTONIC */
	int64_t wall_shift; /* CLOCK_REALTIME = mono_ns + wall_shift */
	int reads;          /* clock_gettime calls while on */
} fake;

int __wrap_clock_gettime(clockid_t id, struct timespec *ts)
{
	uint64_t ns;

	if (!fake.on)
		return __real_clock_gettime(id, ts);
	fake.reads++;
	ns = id == CLOCK_REALTIME ? (uint64_t)((int64_t)fake.mono_ns + fake.wall_shift) : fake.mono_ns;
	ts->tv_sec = (time_t)(ns / 1000000000ULL);
	ts->tv_nsec = (long)(ns % 1000000000ULL);
	return 0;
}

#define SEC 1000000000ULL

static void test_util_parsers_are_strict(void **state)
{
	long long v;
	double d;
	(void)state;
	assert_true(util_parse_long("42", 0, 100, &v) && v == 42);
	assert_true(util_parse_long("-7", -10, 10, &v) && v == -7);
	assert_true(util_parse_long("100", 0, 100, &v) && v == 100); /* the bounds are inclusive */
	assert_false(util_parse_long("42x", 0, 100, &v));
	assert_false(util_parse_long("", 0, 100, &v));
	assert_false(util_parse_long(NULL, 0, 100, &v));
	assert_false(util_parse_long("101", 0, 100, &v));
	assert_false(util_parse_long("-1", 0, 100, &v));
	/* digits only: strtoll's leading space and '+' are not a number here, nor '-' where min is not negative */
	assert_false(util_parse_long(" 5", 0, 100, &v));
	assert_false(util_parse_long("+5", 0, 100, &v));
	assert_false(util_parse_long("-0", 0, 100, &v));
	assert_false(util_parse_long("- 7", -10, 10, &v));
	assert_false(util_parse_long("-", -10, 10, &v));
	assert_false(util_parse_long("99999999999999999999", 0, LLONG_MAX, &v)); /* overflow */
	assert_true(util_parse_long("123456789012345678", 0, LLONG_MAX, &v) && v == 123456789012345678LL);
	assert_true(util_parse_double(" 1.5 ", 5, &d) && d == 1.5);
	assert_true(util_parse_double("2.5xyz", 3, &d) && d == 2.5); /* only len bytes are read */
	assert_false(util_parse_double("abc", 3, &d));
	assert_false(util_parse_double("1.5.", 4, &d));
	assert_false(util_parse_double("1e999", 5, &d));
	assert_true(util_parse_double("1e-999", 6, &d) && d == 0.0); /* underflow is fine */
	assert_false(util_parse_double("", 0, &d));
	assert_false(util_parse_double("   ", 3, &d));
	assert_true(util_parse_double("nan", 3, &d) && isnan(d)); /* the caller decides what NaN means */
	assert_false(util_parse_double("0x10", 4, &d));   /* strtod's hexadecimal is refused */
	assert_false(util_parse_double("0X1p3", 5, &d));
	{ /* jsonb writes 1e-70 as 0. and 69 zeros before the 1: a 72-byte number */
		char tiny[128] = "0.";
		memset(tiny + 2, '0', 69);
		strcpy(tiny + 71, "1");
		assert_true(util_parse_double(tiny, strlen(tiny), &d) && d == 1e-70);
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
	assert_null(util_alloc_array(SIZE_MAX / 2, 3));
}

/* The plain-run scanner agrees with a byte-by-byte loop on every position of a special byte. */
static void test_util_json_plain_len_matches_a_byte_loop(void **state)
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

static void test_util_copy_truncates_and_terminates(void **state)
{
	char small[4];
	(void)state;
	assert_int_equal(util_copy(small, sizeof small, "abcdef"), 3);
	assert_string_equal(small, "abc");
	assert_int_equal(util_copy(small, sizeof small, "ab"), 2);
	assert_string_equal(small, "ab");
	assert_int_equal(util_copy(small, 1, "ab"), 0);
	assert_string_equal(small, "");
}

static void test_util_format_time_writes_rfc3339_with_milliseconds(void **state)
{
	char buf[32];
	(void)state;
	util_format_time(buf, sizeof buf, 0.0);
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	util_format_time(buf, sizeof buf, 1796106679.1236);
	assert_string_equal(buf, "2026-12-01T06:31:19.123Z"); /* milliseconds are cut, not rounded */
	util_format_time(buf, sizeof buf, 1796106680.9999);
	assert_string_equal(buf, "2026-12-01T06:31:20.999Z");
	memcpy(buf, "untouched", 10);
	util_format_time(buf, 24, 0.0); /* too small for the 24 characters and the NUL: left alone */
	assert_string_equal(buf, "untouched");
}

/* Whole-file reads and atomic writes, in a directory of the test's own under /tmp. */
static void test_util_files_are_written_whole_and_read_within_a_cap(void **state)
{
	char dir[] = "/tmp/shelfcast-test-util-XXXXXX", path[256], nested[256];
	struct error err;
	struct stat st;
	char *data = NULL;
	size_t len = 0;
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(nested, sizeof nested, "%s/a/b/c", dir);
	error_init(&err);
	assert_int_equal(util_mkdirs(nested, 0755, &err), ERROR_OK);
	assert_int_equal(util_mkdirs(nested, 0755, &err), ERROR_OK); /* already there: fine */
	assert_true(stat(nested, &st) == 0 && S_ISDIR(st.st_mode));
	assert_int_equal(util_mkdirs("", 0755, &err), ERROR_IO);

	snprintf(path, sizeof path, "%s/file", nested);
	error_init(&err);
	{
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		assert_int_equal(fwrite("0123456789", 1, 10, f), 10);
		assert_int_equal(fclose(f), 0);
	}
	assert_int_equal(util_read_file(path, 10, &data, &len, &err), ERROR_OK);
	assert_int_equal(len, 10);
	assert_string_equal(data, "0123456789"); /* NUL-terminated */
	free(data);
	assert_int_equal(util_read_file(path, 9, &data, &len, &err), ERROR_TOO_LARGE);
	assert_null(data);
	assert_non_null(strstr(err.message, "larger than 9 bytes"));
	error_init(&err);
	assert_int_equal(util_read_file(nested, 100, &data, &len, &err), ERROR_IO);
	assert_non_null(strstr(err.message, "it is a directory"));
	unlink(path);
	error_init(&err);
	assert_int_equal(util_read_file(path, 100, &data, &len, &err), ERROR_IO);
	assert_non_null(strstr(err.message, path));

	for (;;) { /* remove a/b/c, a/b, a and the directory itself */
		char *slash;
		assert_int_equal(rmdir(nested), 0);
		if (strcmp(nested, dir) == 0)
			break;
		slash = strrchr(nested, '/');
		*slash = '\0';
	}
}

/* With the real clocks: the wall time at "now" is the wall clock now, and moves with the monotonic clock. */
static void test_util_clock_at_now_is_the_wall_clock_now(void **state)
{
	struct util_clock c;
	uint64_t now = util_now_ns();
	double wall = util_unix_time(), at;
	(void)state;
	util_clock_init(&c);
	at = util_clock_unix_at(&c, now);
	if (fabs(at - wall) > 0.05)
		fail_msg("util_clock_unix_at(now) %.3f, util_unix_time() %.3f", at, wall);
	assert_true(fabs(util_clock_unix_at(&c, now + 1500000000ULL) - at - 1.5) < 0.05);
	assert_true(fabs(util_clock_unix_at(&c, now + 3000000000ULL) - at - 3.0) < 0.05);
	assert_true(fabs(util_clock_unix_at(&c, now - 250000000ULL) - at + 0.25) < 0.05);
}

/* The clock's cached formatting gives what the uncached one gives, within a second and across one. */
static void test_util_clock_format_matches_util_format_time(void **state)
{
	static const double t[] = {1796106679.001, 1796106679.5, 1796106679.999, 1796106680.0, 1796106741.25, 0.0};
	struct util_clock c;
	char a[UTIL_TIME_SIZE], b[UTIL_TIME_SIZE];
	size_t i;
	(void)state;
	util_clock_init(&c);
	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		util_clock_format(&c, a, sizeof a, t[i]);
		util_format_time(b, sizeof b, t[i]);
		assert_string_equal(a, b);
	}
}

/*
 * What a new clock (struct util_clock) sees through util_clock_unix_at with
 * faked clocks (each scenario runs in a new thread with a clock of its own).  Each step sets the fake clocks, asks for
 * the wall time at a monotonic time, and keeps the answer and the number of
 * clock reads for the test thread to check.
 */
struct clock_step {
	uint64_t mono_ns;    /* the monotonic clock now */
	int64_t wall_shift;  /* realtime - monotonic, now */
	uint64_t at_ns;      /* the question: util_clock_unix_at(at_ns) */
	int64_t want_shift;  /* the right answer is at_ns + want_shift */
	int want_reads;      /* clock_gettime calls it should make */
};

#define MAX_STEPS 8

struct clock_run {
	const struct clock_step *step; /* ended by a step with mono_ns 0 */
	double answer[MAX_STEPS];
	int reads[MAX_STEPS];
};

static void *run_steps(void *arg)
{
	struct clock_run *run = arg;
	struct util_clock clock;
	size_t i;
	util_clock_init(&clock);
	for (i = 0; run->step[i].mono_ns; i++) {
		int before;
		fake.mono_ns = run->step[i].mono_ns;
		fake.wall_shift = run->step[i].wall_shift;
		before = fake.reads;
		run->answer[i] = util_clock_unix_at(&clock, run->step[i].at_ns);
		run->reads[i] = fake.reads - before;
	}
	return NULL;
}

static void run_steps_in_a_new_thread(const struct clock_step *s)
{
	struct clock_run run = {s, {0}, {0}};
	pthread_t t;
	size_t i;

	for (i = 0; s[i].mono_ns; i++)
		assert_true(i + 1 < MAX_STEPS);
	fake.on = true;
	fake.reads = 0;
	assert_int_equal(pthread_create(&t, NULL, run_steps, &run), 0);
	pthread_join(t, NULL);
	fake.on = false;
	for (i = 0; s[i].mono_ns; i++) {
		double want = (double)((int64_t)s[i].at_ns + s[i].want_shift) / 1e9;
		if (fabs(run.answer[i] - want) > 1e-6)
			fail_msg("step %zu: util_clock_unix_at(%.3f s) = %.6f, expected %.6f (off by %.3f s)", i,
				 (double)s[i].at_ns / 1e9, run.answer[i], want, run.answer[i] - want);
		if (run.reads[i] != s[i].want_reads)
			fail_msg("step %zu: %d clock reads, %d expected", i, run.reads[i], s[i].want_reads);
	}
}

/* realtime - monotonic in the scenarios: monotonic 1000 s is 2026-12-01T06:31:19Z */
#define WALL0 ((int64_t)1796106679 * (int64_t)SEC - (int64_t)(1000 * SEC))
#define STEP ((int64_t)(100 * SEC)) /* a wall clock step of 100 s */

/* The first call reads both clocks; later calls within the second read none and follow the argument. */
static void test_util_clock_reads_no_clock_within_a_second(void **state)
{
	static const struct clock_step s[] = {
		/* now                 realtime-mono  asked for             answer on  reads */
		{1000 * SEC,            WALL0,         1000 * SEC + SEC / 5,  WALL0,     2}, /* first: both clocks */
		{1000 * SEC + SEC / 2,  WALL0,         1000 * SEC + SEC / 2,  WALL0,     0}, /* half a second on */
		{1000 * SEC + SEC / 2,  WALL0,         1000 * SEC - SEC / 4,  WALL0,     0}, /* before the first */
		{1001 * SEC,            WALL0,         1001 * SEC,            WALL0,     0}, /* a second on, not past */
		{0, 0, 0, 0, 0},
	};
	(void)state;
	run_steps_in_a_new_thread(s);
}

/*
 * The wall clock is stepped by 100 s (NTP, an operator) while the monotonic
 * clock runs on.  Within the second the old offset stands; past it the clocks
 * are read again and the answer follows the stepped wall clock, forwards and
 * back.  An offset read once and never again would stay 100 s off.
 */
static void test_util_clock_follows_a_wall_clock_step_after_a_second(void **state)
{
	static const struct clock_step s[] = {
		/* now                 realtime-mono  asked for             answer on     reads */
		{1000 * SEC,            WALL0,         1000 * SEC,            WALL0,        2},
		{1000 * SEC + SEC / 2,  WALL0 + STEP,  1000 * SEC + SEC / 2,  WALL0,        0}, /* not seen yet */
		{1001 * SEC + SEC / 2,  WALL0 + STEP,  1001 * SEC + SEC / 2,  WALL0 + STEP, 2}, /* past the second */
		{1002 * SEC,            WALL0 + STEP,  1002 * SEC,            WALL0 + STEP, 0},
		{1003 * SEC,            WALL0 - STEP,  1003 * SEC,            WALL0 - STEP, 2}, /* stepped back */
		{0, 0, 0, 0, 0},
	};
	(void)state;
	run_steps_in_a_new_thread(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_util_parsers_are_strict),
		cmocka_unit_test(test_util_reserve_doubles_and_refuses_overflow),
		cmocka_unit_test(test_util_json_plain_len_matches_a_byte_loop),
		cmocka_unit_test(test_util_copy_truncates_and_terminates),
		cmocka_unit_test(test_util_format_time_writes_rfc3339_with_milliseconds),
		cmocka_unit_test(test_util_files_are_written_whole_and_read_within_a_cap),
		cmocka_unit_test(test_util_clock_at_now_is_the_wall_clock_now),
		cmocka_unit_test(test_util_clock_format_matches_util_format_time),
		cmocka_unit_test(test_util_clock_reads_no_clock_within_a_second),
		cmocka_unit_test(test_util_clock_follows_a_wall_clock_step_after_a_second),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

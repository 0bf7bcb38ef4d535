/* util — see include/shelfcast/util.h. */
#include "shelfcast/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint64_t util_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

double util_now_s(void)
{
	return (double)util_now_ns() / 1e9;
}

double util_unix_time(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void util_clock_init(struct util_clock *c)
{
	memset(c, 0, sizeof *c);
	c->cached_secs = -1;
}

double util_clock_unix_at(struct util_clock *c, uint64_t mono_ns)
{
	if (!c->base_mono || mono_ns > c->base_mono + UTIL_CLOCK_REFRESH_NS) {
		c->base_unix = util_unix_time();
		c->base_mono = util_now_ns();
	}
	return c->base_unix + (double)(int64_t)(mono_ns - c->base_mono) / 1e9;
}

void util_clock_format(struct util_clock *c, char *buf, size_t size, double t)
{
	time_t secs = (time_t)t;
	int ms = (int)((t - (double)secs) * 1000.0);

	if (size < 25) /* 24 characters and the NUL */
		return;
	if (ms < 0)
		ms = 0;
	if (ms > 999)
		ms = 999;
	/* the seconds part changes once a second: format it only then */
	if (secs != c->cached_secs) {
		struct tm tm;
		gmtime_r(&secs, &tm);
		snprintf(c->cached, sizeof c->cached, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		c->cached_secs = secs;
	}
	memcpy(buf, c->cached, 19);
	buf[19] = '.';
	buf[20] = (char)('0' + ms / 100);
	buf[21] = (char)('0' + ms / 10 % 10);
	buf[22] = (char)('0' + ms % 10);
	buf[23] = 'Z';
	buf[24] = '\0';
}

void util_format_time(char *buf, size_t size, double t)
{
	struct util_clock c;

	util_clock_init(&c);
	util_clock_format(&c, buf, size, t);
}

void *util_alloc_array(size_t n, size_t size)
{
	size_t total;
	if (!util_mul_size(n, size, &total))
		return NULL;
	return calloc(n ? n : 1, size ? size : 1);
}

enum error_code util_read_file(const char *path, size_t max_size, char **data, size_t *len,
			       struct error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	size_t cap, used = 0;

	*data = NULL;
	*len = 0;
	if (fd < 0)
		return error_set(err, ERROR_IO, NULL, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return error_set(err, ERROR_IO, NULL, "cannot read %s: it is a directory", path);
	}
	cap = (st.st_size > 0 && (size_t)st.st_size < max_size) ? (size_t)st.st_size + 1 : 65536;
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return error_nomem(err, "a file buffer");
	}
	for (;;) {
		ssize_t n;
		if (used + 1 >= cap) {
			size_t ncap = cap * 2;
			char *nb;
			if (cap > max_size + 1) {
				free(buf);
				close(fd);
				return error_set(err, ERROR_TOO_LARGE, NULL, "%s is larger than %zu bytes",
						 path, max_size);
			}
			nb = realloc(buf, ncap);
			if (!nb) {
				free(buf);
				close(fd);
				return error_nomem(err, "a file buffer");
			}
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + used, cap - used - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			close(fd);
			return error_set(err, ERROR_IO, NULL, "cannot read %s: %s", path, strerror(errno));
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > max_size) {
			free(buf);
			close(fd);
			return error_set(err, ERROR_TOO_LARGE, NULL, "%s is larger than %zu bytes", path,
					 max_size);
		}
	}
	close(fd);
	buf[used] = '\0';
	*data = buf;
	*len = used;
	return ERROR_OK;
}

enum error_code util_mkdirs(const char *path, unsigned mode, struct error *err)
{
	char buf[PATH_MAX];
	size_t n = strlen(path), i;

	if (n == 0 || n >= sizeof buf)
		return error_set(err, ERROR_IO, NULL, "invalid directory path \"%s\"", path);
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
			return error_set(err, ERROR_IO, NULL, "cannot create directory %s: %s", buf,
					 strerror(errno));
		buf[i] = i == n ? '\0' : '/';
	}
	return ERROR_OK;
}

void util_random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(p + got, len - got, 0);
		if (n <= 0) {
			/* No entropy source: a weak fallback; the ids it serves are not secrets. */
			uint64_t x = util_now_ns() ^ ((uint64_t)getpid() << 32);
			for (; got < len; got++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				p[got] = (unsigned char)x;
			}
			return;
		}
		got += (size_t)n;
	}
}

unsigned util_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1u;
}

bool util_parse_long(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;
	size_t n;

	/* decimal digits, a '-' first only where min is negative: no space, no '+' (strtoll's) */
	if (!s || !((*s >= '0' && *s <= '9') || (*s == '-' && min < 0 && s[1] >= '0' && s[1] <= '9')))
		return false;
	/* Plain digits (a Content-Length on every request, say): no strtoll. */
	for (n = 0, v = 0; n < 18 && s[n] >= '0' && s[n] <= '9'; n++)
		v = v * 10 + (s[n] - '0');
	if (n && !s[n]) {
		if (v < min || v > max)
			return false;
		*out = v;
		return true;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool util_parse_double(const char *s, size_t len, double *out)
{
	/* room for any double as a plain decimal, as jsonb writes one (1e-300: 300 zeros and more) */
	char buf[512], *end;
	double v;

	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= sizeof buf)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (memchr(buf, 'x', len) || memchr(buf, 'X', len))
		return false; /* strtod's hexadecimal ("0x10", "0x1p3") is no number of a CSV's */
	errno = 0;
	v = strtod(buf, &end);
	if (*end || end == buf)
		return false;
	if (errno == ERANGE && (v > 1.0 || v < -1.0))
		return false; /* overflow; underflow to tiny values is fine */
	*out = v;
	return true;
}

size_t util_rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "re");
	unsigned long size = 0, rss = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &rss) != 2)
		rss = 0;
	fclose(f);
	return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

int util_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory stream's own descriptor */
}

size_t util_copy(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
	return n;
}

void *util_grow_array(void *array, size_t *cap, size_t size, size_t first)
{
	size_t n = *cap ? *cap : first, bytes;
	void *p;

	if ((*cap && !util_mul_size(n, 2, &n)) || !util_mul_size(n, size, &bytes))
		return NULL;
	p = realloc(array, bytes);
	if (p)
		*cap = n;
	return p;
}

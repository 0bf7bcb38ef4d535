/* gzip — see include/shelfcast/gzip.h. */
#include "shelfcast/gzip.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

enum error_code gzip_inflate(const char *in, size_t len, size_t max_out, char **out, size_t *out_len,
			     struct error *err)
{
	z_stream z;
	size_t cap = len * 4 < 65536 ? 65536 : len * 4;
	char *buf;
	int zr = Z_OK;

	*out = NULL;
	*out_len = 0;
	if (cap > max_out + 1)
		cap = max_out + 1;
	buf = malloc(cap + 1);
	memset(&z, 0, sizeof z);
	if (!buf || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		free(buf);
		return error_nomem(err, "the inflated body");
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	while (zr == Z_OK) {
		if (z.total_out == cap) {
			char *bigger;
			if (cap > max_out) { /* one byte past the limit is enough to know */
				inflateEnd(&z);
				free(buf);
				return error_set(err, ERROR_TOO_LARGE, NULL,
						 "the inflated body is over the limit of %zu bytes", max_out);
			}
			cap = cap * 2 > max_out + 1 ? max_out + 1 : cap * 2;
			bigger = realloc(buf, cap + 1);
			if (!bigger) {
				inflateEnd(&z);
				free(buf);
				return error_nomem(err, "the inflated body");
			}
			buf = bigger;
		}
		z.next_out = (Bytef *)buf + z.total_out;
		z.avail_out = (uInt)(cap - z.total_out);
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr == Z_BUF_ERROR && z.avail_out)
			break; /* input ended before the stream did */
		if (zr == Z_BUF_ERROR)
			zr = Z_OK;
	}
	*out_len = z.total_out;
	if (zr == Z_STREAM_END && !z.avail_in && *out_len <= max_out) {
		inflateEnd(&z);
		buf[*out_len] = '\0';
		*out = buf;
		return ERROR_OK;
	}
	inflateEnd(&z);
	free(buf);
	if (*out_len > max_out) {
		*out_len = 0;
		return error_set(err, ERROR_TOO_LARGE, NULL,
				 "the inflated body is over the limit of %zu bytes", max_out);
	}
	*out_len = 0;
	return error_set(err, ERROR_PARSE, NULL,
			 "the body is not a complete gzip stream (Content-Encoding: gzip)");
}

bool gzip_deflate(const char *in, size_t len, char **out, size_t *out_len)
{
	z_stream z;
	size_t cap;
	char *buf;
	int zr;

	*out = NULL;
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return false;
	cap = deflateBound(&z, (uLong)len);
	buf = malloc(cap);
	if (!buf) {
		deflateEnd(&z);
		return false;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)buf;
	z.avail_out = (uInt)cap;
	zr = deflate(&z, Z_FINISH);
	*out_len = z.total_out;
	deflateEnd(&z);
	if (zr != Z_STREAM_END || *out_len >= len) {
		free(buf);
		return false;
	}
	*out = buf;
	return true;
}

/* The coding at s (up to a comma): its name length, and whether its q is 0. */
static size_t coding(const char *s, bool *q_zero)
{
	size_t n = strcspn(s, ",;");
	const char *q = s + n;

	while (n && s[n - 1] == ' ')
		n--;
	*q_zero = false;
	if (*q == ';') {
		q += strspn(q, "; ");
		if (!strncasecmp(q, "q=", 2))
			*q_zero = strtod(q + 2, NULL) == 0.0;
	}
	return n;
}

bool gzip_accepted(const char *ae)
{
	while (ae && *ae) {
		bool q_zero;
		size_t n;
		ae += strspn(ae, " ,");
		n = coding(ae, &q_zero);
		if (!q_zero && ((n == 4 && !strncasecmp(ae, "gzip", 4)) || (n == 6 && !strncasecmp(ae, "x-gzip", 6)) ||
				(n == 1 && *ae == '*')))
			return true;
		ae = strchr(ae, ',');
	}
	return false;
}

bool gzip_is_gzip(const char *ce)
{
	bool q_zero;
	size_t n;

	ce += strspn(ce, " ");
	n = coding(ce, &q_zero);
	return ce[n] == '\0' && ((n == 4 && !strncasecmp(ce, "gzip", 4)) || (n == 6 && !strncasecmp(ce, "x-gzip", 6)));
}

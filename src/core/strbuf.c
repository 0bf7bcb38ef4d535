/* strbuf — see include/shelfcast/strbuf.h. */
#include "shelfcast/strbuf.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/numfmt.h"
#include "shelfcast/util.h"

void strbuf_init(struct strbuf *sb)
{
	sb->data = NULL;
	sb->len = 0;
	sb->cap = 0;
	sb->failed = false;
}

void strbuf_done(struct strbuf *sb)
{
	if (!sb)
		return;
	free(sb->data);
	strbuf_init(sb);
}

bool strbuf_grow(struct strbuf *sb, size_t extra)
{
	size_t need, cap;
	char *p;

	if (sb->failed)
		return false;
	if (extra > SIZE_MAX - sb->len - 1) {
		sb->failed = true;
		return false;
	}
	need = sb->len + extra + 1;
	if (need <= sb->cap)
		return true;
	cap = sb->cap ? sb->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(sb->data, cap);
	if (!p) {
		sb->failed = true;
		return false;
	}
	sb->data = p;
	sb->cap = cap;
	return true;
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!strbuf_reserve(sb, 64))
		return;
	va_start(ap, fmt);
	n = vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		sb->failed = true;
		return;
	}
	if ((size_t)n >= sb->cap - sb->len) {
		if (!strbuf_reserve(sb, (size_t)n))
			return;
		va_start(ap, fmt);
		vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
		va_end(ap);
	}
	sb->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

void strbuf_json_string(struct strbuf *sb, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;

	/* Worst case every byte becomes \u00XX or \ufffd. */
	if (len > (SIZE_MAX - 2) / 6 || !strbuf_reserve(sb, len * 6 + 2)) {
		sb->failed = true;
		return;
	}
	sb->data[sb->len++] = '"';
	if (len <= 32) {
		/* short strings (ids, names, paths): copied byte by byte while plain */
		char *d = sb->data + sb->len;
		while (i < len && u[i] >= 0x20 && u[i] < 0x80 && u[i] != '"' && u[i] != '\\')
			d[i] = (char)u[i], i++;
		if (i == len) {
			sb->len += len;
			sb->data[sb->len++] = '"';
			sb->data[sb->len] = '\0';
			return;
		}
		run = i; /* the plain bytes so far are copied again below, with the rest */
	}
	while (i < len) {
		unsigned char c;
		size_t n = util_json_plain_len(u + i, len - i);
		run += n;
		i += n;
		if (i == len)
			break;
		c = u[i];
		if (c >= 0x80 && (n = utf8_len(u + i, len - i)) > 0) {
			run += n;
			i += n;
			continue;
		}
		memcpy(sb->data + sb->len, s + i - run, run);
		sb->len += run;
		run = 0;
		sb->data[sb->len++] = '\\';
		switch (c) {
		case '"': sb->data[sb->len++] = '"'; break;
		case '\\': sb->data[sb->len++] = '\\'; break;
		case '\n': sb->data[sb->len++] = 'n'; break;
		case '\r': sb->data[sb->len++] = 'r'; break;
		case '\t': sb->data[sb->len++] = 't'; break;
		default:
			if (c >= 0x80) { /* invalid UTF-8: the replacement character */
				memcpy(sb->data + sb->len, "ufffd", 5);
				sb->len += 5;
				break;
			}
			sb->data[sb->len++] = 'u';
			sb->data[sb->len++] = '0';
			sb->data[sb->len++] = '0';
			sb->data[sb->len++] = hex[c >> 4];
			sb->data[sb->len++] = hex[c & 15];
		}
		i++;
	}
	memcpy(sb->data + sb->len, s + len - run, run);
	sb->len += run;
	sb->data[sb->len++] = '"';
	sb->data[sb->len] = '\0';
}

void strbuf_json_double(struct strbuf *sb, double v, int digits)
{
	if (!isfinite(v)) {
		strbuf_append(sb, "null", 4);
		return;
	}
	if (v == 0.0)
		v = 0.0; /* no "-0" */
	if (!strbuf_reserve(sb, NUMFMT_MAX))
		return;
	sb->len += numfmt_g(sb->data + sb->len, v, digits);
}

void strbuf_json_int(struct strbuf *sb, long long v)
{
	if (strbuf_reserve(sb, NUMFMT_MAX))
		sb->len += numfmt_int(sb->data + sb->len, v);
}

void strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->data)
		sb->data[0] = '\0';
}

char *strbuf_steal(struct strbuf *sb)
{
	char *p;

	if (sb->failed) {
		strbuf_done(sb);
		return NULL;
	}
	if (!sb->data && !strbuf_reserve(sb, 0))
		return NULL;
	if (sb->len == 0)
		sb->data[0] = '\0';
	p = sb->data;
	strbuf_init(sb);
	return p;
}

bool strbuf_failed(const struct strbuf *sb)
{
	return sb->failed;
}

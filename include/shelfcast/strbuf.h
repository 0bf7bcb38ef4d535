/*
 * strbuf — a growable byte buffer for building replies, SQL parameters and
 * log lines without per-piece allocations.
 *
 * Allocation failure is sticky: after one failed growth every append is a
 * no-op and strbuf_failed() reports true, so a caller checks once at the end.
 * The content is always NUL-terminated once anything has been appended.
 *
 * Thread-safety: a strbuf belongs to one thread at a time.
 */
#ifndef SHELFCAST_STRBUF_H
#define SHELFCAST_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct strbuf {
	char *data; /* owned; NULL until the first append */
	size_t len;
	size_t cap;
	bool failed;
};

/* Caller-owned struct: _init/_done.  _done accepts a zeroed or done buffer. */
void strbuf_init(struct strbuf *sb);
void strbuf_done(struct strbuf *sb);

/* The slow half of strbuf_reserve: grow the buffer (or fail, stickily). */
bool strbuf_grow(struct strbuf *sb, size_t extra);

/*
 * Make room for at least `extra` more bytes (plus the terminator). false on
 * failure.  Inline with the appends below: a reply is built from many small
 * pieces, and the common case is a compare and a copy.
 */
static inline bool strbuf_reserve(struct strbuf *sb, size_t extra)
{
	if (!sb->failed && extra < sb->cap - sb->len)
		return true;
	return strbuf_grow(sb, extra);
}

static inline void strbuf_append(struct strbuf *sb, const void *data, size_t len)
{
	if (!strbuf_reserve(sb, len))
		return;
	if (len)
		memcpy(sb->data + sb->len, data, len);
	sb->len += len;
	sb->data[sb->len] = '\0';
}

static inline void strbuf_puts(struct strbuf *sb, const char *s)
{
	strbuf_append(sb, s, strlen(s));
}

static inline void strbuf_putc(struct strbuf *sb, char c)
{
	if (!strbuf_reserve(sb, 1))
		return;
	sb->data[sb->len++] = c;
	sb->data[sb->len] = '\0';
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A JSON string literal with quotes; s must be valid UTF-8 (escapes controls, " and \). */
void strbuf_json_string(struct strbuf *sb, const char *s, size_t len);
/* A JSON number: shortest "%.*g" with `digits` significant digits; non-finite as null. */
void strbuf_json_double(struct strbuf *sb, double v, int digits);
void strbuf_json_int(struct strbuf *sb, long long v);

/* Forget the content, keep the memory. */
void strbuf_reset(struct strbuf *sb);
/* Take the content (caller frees); the buffer is left empty. NULL if failed. */
char *strbuf_steal(struct strbuf *sb);
bool strbuf_failed(const struct strbuf *sb);

#endif

/*
 * gzip — Content-Encoding: gzip for request bodies and replies (zlib).
 *
 * gzip_inflate: a gzip body, inflated to at most max_out bytes: the body
 * limit applies to what the request means, not to what it weighs on the
 * wire (a small body that inflates past it is ERROR_TOO_LARGE as soon as
 * it does, and nothing past the limit is kept).  A body that is not gzip
 * is ERROR_PARSE.  *out is new (free it).
 *
 * gzip_deflate: a reply, compressed; false (nothing to free) when zlib
 * fails or it would not shrink.
 *
 * gzip_accepted: whether an Accept-Encoding header value accepts gzip
 * (a "gzip" or "x-gzip" coding whose q is not 0, or "*").
 *
 * Thread-safety: no shared state.
 */
#ifndef SHELFCAST_GZIP_H
#define SHELFCAST_GZIP_H

#include <stdbool.h>
#include <stddef.h>

#include "shelfcast/error.h"

/* Replies smaller than this go uncompressed. */
#define GZIP_MIN_REPLY 4096

enum error_code gzip_inflate(const char *in, size_t len, size_t max_out, char **out, size_t *out_len,
			     struct error *err);
bool gzip_deflate(const char *in, size_t len, char **out, size_t *out_len);
bool gzip_accepted(const char *accept_encoding);
/* Whether a Content-Encoding value names gzip (or x-gzip). */
bool gzip_is_gzip(const char *content_encoding);

#endif

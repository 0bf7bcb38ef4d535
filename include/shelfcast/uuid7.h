/*
 * uuid7 — UUID version 7 ids (RFC 9562): 48 bits of unix milliseconds, then
 * random bits, as the prediction log's ids (predlog.h).  Time-ordered, so a
 * database finds an id's day from the id alone.
 *
 * Thread-safety: pure functions; the generator is the caller's.
 */
#ifndef SHELFCAST_UUID7_H
#define SHELFCAST_UUID7_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shelfcast/rng.h"

/* Characters of the text form, with its NUL. */
#define UUID7_TEXT 37

/* A new id for time ms (unix milliseconds), 74 random bits from r. */
void uuid7_make(uint64_t ms, struct rng *r, uint8_t id[16]);
/* The canonical text form: 8-4-4-4-12 lowercase hex digits, NUL-terminated. */
void uuid7_text(const uint8_t id[16], char out[UUID7_TEXT]);
/* Whether text[0, len) is a UUID's text form (hex digits of either case, dashes in place). */
bool uuid7_valid_text(const char *text, size_t len);

#endif

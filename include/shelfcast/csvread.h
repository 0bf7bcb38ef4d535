/*
 * csvread — streaming RFC 4180 CSV (quoted fields, embedded commas, quotes
 * and newlines, CRLF) on libcsv, with a header row and columns by name.
 *
 * Input is fed to libcsv one physical line at a time, so every callback
 * knows the line it is on; errors say "line L, column C (name)".  Rows are
 * delivered to a callback as arrays of fields; an empty field is length 0.
 *
 * Thread-safety: a reader belongs to one thread.
 */
#ifndef SHELFCAST_CSVREAD_H
#define SHELFCAST_CSVREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "shelfcast/error.h"

#define CSVREAD_MAX_COLUMNS 4096
#define CSVREAD_MAX_FIELD (1u << 20)

struct csvread_row {
	const char *const *fields; /* NUL-terminated, borrowed until the callback returns */
	const size_t *lens;
	size_t n;
	size_t line;               /* physical line the row starts on (1 = header) */
};

/* Return ERROR_OK to go on, anything else (with err set) to stop. */
typedef enum error_code (*csvread_row_fn)(void *ctx, const struct csvread_row *row,
					  struct error *err);

/*
 * Read `f` (name used in messages): the first row is the header, handed to
 * on_header; every further row, which must have as many fields, to on_row.
 * Checks the file's SHA-256 on the way (hex into checksum when non-NULL).
 */
enum error_code csvread_stream(FILE *f, const char *name, csvread_row_fn on_header,
			       csvread_row_fn on_row, void *ctx, char checksum[65],
			       struct error *err);

/* Index of column `name` in a header row, or -1. */
int csvread_find(const struct csvread_row *header, const char *name);

#endif

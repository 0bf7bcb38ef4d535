/*
 * item_errors — the per-item errors of a /v1/predict request, for
 * "on_error": "skip" (listed beside the predictions of the valid items)
 * and for the default, "fail" (every bad item, up to ITEM_ERRORS_DETAILS,
 * in the 422's error.details).  Each entry is
 *   {"index": i, "field": "items[i]....", "code": "invalid_request", "message": "..."}
 * as a JSON array built as the items are read.
 *
 * Thread-safety: one per request.
 */
#ifndef SHELFCAST_ITEM_ERRORS_H
#define SHELFCAST_ITEM_ERRORS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "shelfcast/error.h"
#include "shelfcast/strbuf.h"

#define ITEM_ERRORS_DETAILS 100

struct item_errors {
	struct strbuf list; /* "[{...},{...}" (no closing bracket until item_errors_json); empty at first */
	size_t n, listed;   /* bad items seen, entries listed */
	size_t limit;       /* most entries listed (0: all) */
	struct error first; /* the bad item with the lowest index: its error */
	size_t first_index;
};

/* The request's "on_error" ("fail" when absent): *skip for "skip"; else a 422 naming on_error. */
enum error_code item_errors_mode(const json_t *root, bool *skip, struct error *err);

/* limit: most entries listed (0: every one; may be set later, before the first add).  No allocation. */
void item_errors_init(struct item_errors *e, size_t limit);
void item_errors_done(struct item_errors *e);

/* Note item index's error; ERROR_NOMEM when the list cannot grow. */
enum error_code item_errors_add(struct item_errors *e, size_t index, const struct error *item_err,
				struct error *err);

/* The list as a JSON array, new (free it); NULL when out of memory. */
char *item_errors_json(struct item_errors *e);

/*
 * reply is a finished JSON object ("...}"): insert ,"errors":[...] before
 * its closing brace.
 */
enum error_code item_errors_append(struct item_errors *e, struct strbuf *reply, struct error *err);

#endif

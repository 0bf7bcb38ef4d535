/*
 * predict_limits — what a /v1/predict request may cost, checked before the
 * work: the item limit, found by scanning the body's structure before it is
 * parsed; the explained items; and the memory its reply and encoding would
 * take.  Both parsers of predict_api.h call these, so they refuse alike.
 *
 * Thread-safety: pure functions.
 */
#ifndef SHELFCAST_PREDICT_LIMITS_H
#define SHELFCAST_PREDICT_LIMITS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "shelfcast/error.h"
#include "shelfcast/model.h"
#include "shelfcast/predict_api.h"

/*
 * Whether the body's top-level "items" array holds more than limit
 * elements, by a scan of its structure (strings and nesting) that stops at
 * element limit + 1.  false when the scan cannot follow the body (not JSON,
 * the key written with escapes): the parser then decides.
 */
bool predict_limits_items_over(const char *body, size_t len, size_t limit);

/*
 * The body's top-level "items": an array of 1 to max_items elements (*items
 * borrowed from root, *n its size); errors name "items".
 */
enum error_code predict_limits_items(json_t *root, size_t max_items, json_t **items, size_t *n,
				     struct error *err);

/* ERROR_TOO_LARGE naming items: more than max_items. */
enum error_code predict_limits_too_many_items(size_t max_items, struct error *err);

/* Whether n items asking for explanations are more than lim allows. */
bool predict_limits_too_many_explained(const struct predict_limits *lim, bool explain, size_t n);

/* ERROR_TOO_LARGE naming explain when predict_limits_too_many_explained, else ERROR_OK. */
enum error_code predict_limits_explained(const struct predict_limits *lim, bool explain, size_t n,
					 struct error *err);

/*
 * A /v1/predict or /v1/recommend body parsed by jansson into *root (the
 * caller's to json_decref): refused before parsing when its items are over
 * lim's limit (predict_limits_items_over), a syntax error naming where.
 */
enum error_code predict_limits_parse(const char *body, size_t len, const struct predict_limits *lim,
				     json_t **root, struct error *err);

/* ERROR_TOO_LARGE naming items when n items of m would take more than max_memory (0: no limit). */
enum error_code predict_limits_check_memory(const struct model *m, size_t n, bool include_levels, bool explain,
					    size_t max_memory, struct error *err);

#endif

/*
 * models_view — the /v1/models and /v1/models/{name} documents: what the
 * registry's catalog says (the watcher's JSON text, see watcher.h) merged
 * with what this process serves.  Pure JSON: no I/O, no locks.
 *
 *   {"models": [{"name", "description", "active_version", "serving_version",
 *                "loaded_at", "status": "serving"|"stale"|"not_loaded",
 *                "metrics": {headline figures}, "objective", "promotion_levels",
 *                "inputs", ["versions": catalog rows, for one model only]}]}
 *
 * Thread-safety: no shared state.
 */
#ifndef SHELFCAST_MODELS_VIEW_H
#define SHELFCAST_MODELS_VIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "shelfcast/model.h"

/*
 * only NULL: the list document, every model the catalog names then any
 * served model it does not.  only set: that model's entry with its
 * versions, or NULL when neither the catalog nor models knows it.
 * catalog_text may be NULL (no catalog yet); models: sorted by name,
 * borrowed.  New reference; NULL when out of memory (*found true) or not
 * found (*found false).
 */
json_t *models_view(const char *catalog_text, struct model *const *models, size_t n,
		    const char *only, bool *found);

/*
 * Sets "default" on every entry of a models_view document (or on the one
 * entry): true for the model a request naming none gets (default_name,
 * NULL when there is none), false for the others.
 */
void models_view_mark_default(json_t *view, const char *default_name);

/*
 * Sets "live" on every version of a one-model document (view) that the live
 * accuracy document (predlog.h, predlog_live; may be NULL) has figures for.
 */
void models_view_add_live(json_t *view, const char *live_text);

/*
 * The inputs as GET /v1/models/{name} publishes them, one per feature:
 *   numeric:     {"name", "type", "required", "transforms": ["none"|"log", ...],
 *                 "default" (null when required), "range": [lo, hi] (the winsorizing
 *                 range; null when none)}, in the caller's units
 *   categorical: {"name", "type", "required": false, "vocabulary_size",
 *                 "vocabulary" (up to MODELS_VIEW_VOCABULARY_INLINE values, or every one
 *                 when full) or "vocabulary_url" (/v1/models/NAME/inputs/INPUT)}
 * models_view_input: the input called name, or NULL when the model has none.
 */
#define MODELS_VIEW_VOCABULARY_INLINE 1000
json_t *models_view_inputs(const struct model *m);
json_t *models_view_input(const struct model *m, const char *name, bool full);

#endif

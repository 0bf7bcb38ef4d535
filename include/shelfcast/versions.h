/*
 * versions — the pinned versions a process serves beside the active ones
 * (`"model": "NAME@VERSION"`): a per-process cache of at most max_loaded
 * versions, the least recently used out, filled on first use.
 *
 * A miss loads the version through its own short connection to the
 * registry (one load at a time, so requests for unknown versions cannot
 * open connections in parallel), validated exactly as the watcher loads
 * (registry_load_version).  A hit takes one mutex for the lookup and the
 * reference: no database wait.  Served: an active, staged or archived
 * version that loads; ERROR_NOT_FOUND for a model or version the registry
 * does not have, ERROR_CONFLICT for a failed version (with the reason the
 * registry recorded) or one that does not load now.
 *
 * Thread-safety: all functions are safe from any thread.
 */
#ifndef SHELFCAST_VERSIONS_H
#define SHELFCAST_VERSIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "shelfcast/error.h"
#include "shelfcast/model.h"

#define VERSIONS_DEFAULT_MAX 4

struct versions;

/* conninfo: the registry (copied; NULL: every miss is ERROR_UNAVAILABLE).  NULL when out of memory. */
struct versions *versions_new(const char *conninfo, size_t max_loaded);
/* Drops the cache's references.  Accepts NULL. */
void versions_free(struct versions *v);

/* A new reference to that version (model_unref it), or NULL with err; *loaded: read from the registry now. */
struct model *versions_get(struct versions *v, const char *name, int version, bool *loaded,
			   struct error *err);

/* How many versions the cache holds now. */
size_t versions_loaded(struct versions *v);

/*
 * Split "NAME@VERSION": name into out (size MODEL_NAME_MAX + 1), *version
 * the number, 0 when text has no "@".  false (err: ERROR_INVALID naming
 * `model`) when the version is not a whole number from 1 to 2147483647.
 */
bool versions_parse_pin(const char *text, char *out, int *version, struct error *err);

#endif

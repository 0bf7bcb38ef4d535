/*
 * watcher — keeps the store in step with the registry.
 *
 * A thread with its own connection LISTENs on shelfcast_models and, on a
 * notification, on a poll timer (a fallback: NOTIFY does not reach read
 * replicas or pass some poolers) or when kicked, compares every model's
 * active version with the version served and loads what changed.  A load
 * that fails validation never replaces the served model: the version is
 * marked failed (when the role may write) and counted.  When the database
 * goes away, or a sync fails, the watcher reconnects with exponential
 * backoff (0.25 s to 30 s, reset by a sync that succeeds); serving goes on
 * from the loaded models meanwhile.
 *
 * It also keeps the registry catalog (the JSON of registry_catalog) for
 * GET /v1/models, so the HTTP threads never touch the database to list.
 *
 * Thread-safety: watcher_* calls are safe from any thread.
 */
#ifndef SHELFCAST_WATCHER_H
#define SHELFCAST_WATCHER_H

#include <stdbool.h>
#include <stdint.h>

#include "shelfcast/error.h"
#include "shelfcast/store.h"

struct watcher_config {
	const char *conninfo;
	struct store *store;
	double poll_interval;  /* seconds between fallback polls (<= 0: 30) */
	double health_interval;/* seconds between liveness checks of the connection (<= 0: 5) */
	const char *actor;     /* written in model_events when a load fails */
	/* Where to LISTEN: NULL = on the registry connection (conninfo); "" = nowhere,
	 * the poll alone brings new versions; else a second, direct connection (a
	 * transaction-pooling PgBouncer drops a LISTEN between transactions). */
	const char *listen_conninfo;
	/* Where model loads and the catalog are read: NULL = conninfo; else a streaming
	 * replica.  The active versions are always confirmed on conninfo (the primary),
	 * so a lagging replica delays a load but never serves an older version. */
	const char *read_conninfo;
};

struct watcher;

/* Start the thread; it connects in the background.  NULL + err on failure. */
struct watcher *watcher_start(const struct watcher_config *cfg, struct error *err);
/* Stop the thread and free everything.  Accepts NULL. */
void watcher_stop(struct watcher *w);

/* Sync now (after an activation through the API, say). */
void watcher_kick(struct watcher *w);

/* The last catalog JSON (new copy, free it), or NULL when never read. */
char *watcher_catalog(struct watcher *w);

/* Is the database connection up? */
bool watcher_db_up(struct watcher *w);

/* Versions loaded and published, and versions that failed to load or publish, so far (0 without a watcher). */
void watcher_loads(struct watcher *w, uint64_t *ok, uint64_t *failed);

/* "listen" while a LISTEN connection is up, else "poll" (the poll alone brings new versions). */
const char *watcher_notify_mode(struct watcher *w);

/* Has the first sync after start completed (successfully or not)? */
bool watcher_synced(struct watcher *w);

/* Wait until watcher_synced() or `seconds` have passed; returns watcher_synced(). */
bool watcher_wait_synced(struct watcher *w, double seconds);

#endif

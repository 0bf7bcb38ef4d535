/*
 * metrics — the process's Prometheus metrics, rendered in the text
 * exposition format for GET /metrics.
 *
 * Counters live in one shard per server worker, which only that worker
 * writes (no locked instruction, no cache line bounced between workers on
 * the request path); a scrape adds the shards up.  Labelled series keyed by
 * model (items by model and version, unknown categories by model and
 * feature) are rows of append-only tables: lookups are lock-free, a new
 * series takes a mutex once, and each shard counts by row.
 *
 * Thread-safety: every function is safe from any thread.
 */
#ifndef SHELFCAST_METRICS_H
#define SHELFCAST_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shelfcast/route.h"
#include "shelfcast/store.h"
#include "shelfcast/strbuf.h"
#include "shelfcast/watcher.h"

/*
 * One writer's counters (a server worker owns one): new, registered for
 * good, never freed, so the counts of a worker that ended still count.
 * NULL when out of memory (then the observe functions count nothing).
 */
struct metrics_shard;
struct metrics_shard *metrics_shard_new(void);

/* Record the process start (for process_start_time_seconds). */
void metrics_init(void);

/* Counting into a shard: only its writer calls these for it. */
void metrics_observe_request(struct metrics_shard *sh, enum route_id route, int status, double seconds);
void metrics_observe_items(struct metrics_shard *sh, const char *model, int version, size_t items);
/* Items a /v1/recommend request answered (shelfcast_recommended_items_total). */
void metrics_observe_recommended(struct metrics_shard *sh, const char *model, int version, size_t items);
void metrics_observe_unknown(struct metrics_shard *sh, const char *model, const char *feature,
			     uint64_t count);
/* The server trimmed the heap after a burst of bodies (shelfcast_heap_trims_total); any thread. */
void metrics_observe_heap_trim(void);

/*
 * Render everything: the counters of every shard, store's models
 * (shelfcast_model_info) and watcher's loads and database state; either may
 * be NULL.
 */
void metrics_render(struct strbuf *sb, struct store *store, struct watcher *watcher);

/*
 * The prediction log's counts (written, dropped, queued) and the live
 * accuracy gauges per model and version (predlog.h); log may be NULL (zeros,
 * no gauges).
 */
struct predlog;
void metrics_render_predlog(struct strbuf *sb, struct predlog *log);

#endif

/*
 * metrics — the process's Prometheus metrics, rendered in the text
 * exposition format for GET /metrics.
 *
 * Counters live in one shard per thread, which only that thread writes
 * (no locked instruction, no cache line bounced between workers on the
 * request path); a scrape adds the shards up.  Labelled series keyed by
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

#include "shelfcast/store.h"
#include "shelfcast/strbuf.h"

enum metrics_route {
	METRICS_ROUTE_PREDICT,
	METRICS_ROUTE_MODELS,
	METRICS_ROUTE_MODEL,
	METRICS_ROUTE_ACTIVATE,
	METRICS_ROUTE_HEALTHZ,
	METRICS_ROUTE_READYZ,
	METRICS_ROUTE_METRICS,
	METRICS_ROUTE_OPENAPI,
	METRICS_ROUTE_OTHER,
	METRICS_ROUTE_COUNT
};

/* The route label, e.g. "/v1/predict", "/v1/models/{name}". */
const char *metrics_route_label(enum metrics_route route);

/* Record the process start (for process_start_time_seconds). */
void metrics_init(void);

void metrics_observe_request(enum metrics_route route, int status, double seconds);
void metrics_observe_items(const char *model, int version, size_t items);
void metrics_observe_unknown(const char *model, const char *feature, uint64_t count);
void metrics_model_load(bool ok);
void metrics_set_db_up(bool up);
bool metrics_db_up(void);

/* Render everything; store supplies shelfcast_model_info. */
void metrics_render(struct strbuf *sb, struct store *store);

#endif

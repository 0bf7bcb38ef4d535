/*
 * server — the HTTP API on libmicrohttpd.
 *
 *   POST /v1/predict                                   score items
 *   GET  /v1/models, /v1/models/{name}                 what serves, with metrics
 *   GET  /v1/models/{name}/inputs/{input}              one input, its whole vocabulary
 *   POST /v1/models/{name}/versions/{version}/activate  (Bearer admin token)
 *   GET  /healthz  (alive; reports the database)   GET /readyz (default model loaded)
 *   GET  /metrics  (Prometheus)                     GET /openapi.yaml (the contract)
 *
 * libmicrohttpd runs its own polling thread plus a pool of worker threads
 * (epoll, one per core by default: never a single epoll thread without a
 * pool, which stalls under load in 0.9.75).  The access handler collects a
 * request body across calls up to a hard cap, answers on the final call
 * (or on the first, when the headers alone are refused: 400, 408, 413,
 * 415), and frees per-request state in the completed-request callback.
 * Every 4xx/5xx reply has one shape: {"error": {"code", "message", "field"?}}.
 *
 * Resources are bounded by design: a body is collected up to max_body and
 * counts against body_budget, shared by every connection (503 overloaded
 * past it); a request must arrive whole within request_deadline, however
 * slowly it trickles; a client address holds at most per_ip_limit
 * connections; and /v1/predict works a tile at a time within
 * max_request_memory (predict_api.h).  What a burst of bodies leaves in the
 * heap goes back to the system once it is over (malloc_trim).
 *
 * Thread-safety: server_* are called from the main thread; handlers run on
 * the pool threads and share only the store, the watcher, the metrics, the
 * pinned versions (versions.h) and the body budget.
 */
#ifndef SHELFCAST_SERVER_H
#define SHELFCAST_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "shelfcast/error.h"
#include "shelfcast/store.h"
#include "shelfcast/watcher.h"

struct server_config {
	const char *listen;            /* "host:port", "[v6]:port" or ":port" */
	unsigned threads;              /* worker threads; 0: one per core */
	size_t max_body;               /* bytes */
	size_t max_items;              /* items per /v1/predict, at least 1 */
	size_t max_explain_items;      /* items per request with "explain": true (0: no limit) */
	size_t max_request_memory;     /* bytes a request's reply and encoding may take (0: no limit) */
	size_t body_budget;            /* bytes of request bodies held at once, all connections (0: no limit) */
	unsigned per_ip_limit;         /* open connections per client address (0: no limit) */
	unsigned request_deadline;     /* seconds a request may take to arrive, however it trickles (0: none) */
	unsigned connection_limit;
	unsigned connection_timeout;   /* seconds an idle or slow connection may live */
	const char *admin_token;       /* NULL or "": activation over the API is off */
	const char *db_conninfo;       /* for activation; may be NULL */
	const char *tls_cert;          /* PEM file paths; both or neither */
	const char *tls_key;
	bool tls_allow_readable_key;   /* accept a key file group or others may read */
	struct store *store;
	struct watcher *watcher;
	struct versions *versions;   /* pinned versions (NAME@VERSION); may be NULL */
	struct predlog *predlog;     /* the prediction log (predlog.h); may be NULL: ids only */
};

struct server;

/* Bind and start serving.  Errors name the address and the cause. */
enum error_code server_start(const struct server_config *cfg, struct server **out,
			     struct error *err);

/* The address actually bound (port resolved), e.g. "127.0.0.1:8080". */
const char *server_address(const struct server *s);

/*
 * Graceful stop: stop accepting, let in-flight requests finish (up to
 * drain_seconds), then close everything and free the server.
 */
void server_stop(struct server *s, double drain_seconds);

#endif

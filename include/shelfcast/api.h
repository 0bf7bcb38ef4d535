/*
 * api — the service's routes, answered into a struct reply with no HTTP
 * library in sight: health and readiness, metrics, the models view,
 * activation and /v1/predict.  The HTTP layer (server.h) collects the
 * request, parses its path once (route.h), calls api_handle and sends the
 * reply.
 *
 * Thread-safety: api_handle runs on many workers at once; each passes its
 * own struct api_worker.  The config is read-only.
 */
#ifndef SHELFCAST_API_H
#define SHELFCAST_API_H

#include <stdbool.h>
#include <stddef.h>

#include "shelfcast/metrics.h"
#include "shelfcast/model.h"
#include "shelfcast/predict_api.h"
#include "shelfcast/predlog.h"
#include "shelfcast/reply.h"
#include "shelfcast/route.h"
#include "shelfcast/store.h"
#include "shelfcast/versions.h"
#include "shelfcast/watcher.h"

struct api_config {
	struct store *store;
	struct watcher *watcher;     /* may be NULL */
	struct predict_limits limits; /* per /v1/predict request */
	const char *admin_token;     /* NULL or "": activation over the API is off */
	const char *db_conninfo;     /* for activation; may be NULL */
	double started_at;           /* unix seconds */
	struct versions *versions;   /* pinned versions (NAME@VERSION); may be NULL */
	struct predlog *predlog;     /* the prediction log and live accuracy; may be NULL (ids only) */
};

/*
 * What one worker keeps for the routes between requests: the fast
 * parser's scratch, its model borrower and its metrics shard.  Owned by
 * the worker's context (worker.h); one thread at a time.
 */
struct api_worker {
	struct predict_api_scratch *predict;
	struct store_borrower *models;
	struct metrics_shard *metrics;
	struct versions *versions;   /* the api_config's, for the resolver */
	struct model *pinned;        /* a pinned version's reference, held for one request */
	struct predlog_writer log;   /* prediction ids and this worker's prediction log queue */
};

/* Fill w for store and log (may be NULL); ERROR_NOMEM when out of memory (w is then done'd). */
enum error_code api_worker_init(struct api_worker *w, struct store *store, struct predlog *log,
				struct error *err);
void api_worker_done(struct api_worker *w);

struct api_request {
	struct route_target target;
	const char *method;
	const char *body;            /* "" when none */
	size_t len;
	const char *authorization;   /* the header, or NULL */
	const char *client;          /* "api:ADDRESS", the actor the audit log names */
	bool draining;               /* the server is shutting down */
};

/* What a request did, for the access log and the metrics. */
struct api_result {
	char model[MODEL_NAME_MAX + 1]; /* "" when no model was involved */
	int version;
	size_t items;
};

/* Answer rq into out (filled even on failure: an error reply); res says what it did. */
void api_handle(const struct api_config *cfg, struct api_worker *w, const struct api_request *rq,
		struct reply *out, struct api_result *res);

#endif

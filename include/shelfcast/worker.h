/*
 * worker — one libmicrohttpd worker thread's context: everything it keeps
 * between requests, in one place, and the per-request state it lends out.
 *
 *   struct worker    the fast parser's scratch, the model borrower and the
 *                    metrics shard (api.h), the access-log buffer, a clock
 *                    cache and an id generator, spare request structs
 *   struct request   one request: its body, then `st`, zeroed whole on reuse
 *
 * Lifetime: the server makes a worker on a thread's first request, finds
 * it again through one thread-local pointer, lists it, and frees it in
 * server_stop once libmicrohttpd has joined the threads (a worker thread
 * belongs to one daemon and ends with it).  Nothing it holds outlives a
 * store change for long: the borrower lets go of replaced versions at once
 * (store.h).
 *
 * Thread-safety: a worker and its requests belong to their thread.
 */
#ifndef SHELFCAST_WORKER_H
#define SHELFCAST_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shelfcast/api.h"
#include "shelfcast/log.h"
#include "shelfcast/rng.h"
#include "shelfcast/route.h"
#include "shelfcast/strbuf.h"
#include "shelfcast/util.h"

#define REQUEST_ID_MAX 128

/* One request's state; `st` is zeroed whole when the struct is reused. */
struct request {
	struct strbuf body; /* kept, emptied, when the struct is reused */
	struct worker *w;   /* whose it is: it ends on the thread that began it */
	struct {
		uint64_t start_ns;      /* its headers were in */
		uint64_t arrive_ns;     /* it could begin to arrive: the connection opened, or its previous request ended */
		uint64_t *conn_since;   /* the connection's clock (server.c), set again when this request ends */
		struct route_target target;
		bool body_route;        /* collects a body */
		bool too_large;
		bool over_budget;       /* the server-wide body budget could not hold it */
		size_t reserved;        /* bytes of the body budget this request holds */
		size_t cap;
		size_t discarded;       /* bytes of an oversized body read and dropped */
		int status;             /* 0 until a reply is queued */
		int terminated;         /* libmicrohttpd's termination code when not a clean end, else 0 */
		struct api_result result;
		const char *error_code; /* of an error reply, static; NULL otherwise */
		char error_field[64];
		size_t id_len, path_len, method_len;
		char id[REQUEST_ID_MAX + 1];
		char path[256];
		char method[16];
	} st;
};

#define SPARE_REQUESTS 16
#define KEEP_BODY_BYTES (64 * 1024)

struct activity; /* the server's in-flight count for this worker */

struct worker {
	const void *owner;            /* the server it belongs to */
	unsigned index;               /* 0, 1, ... in the order of the workers' first requests */
	struct api_worker api;        /* predict scratch, model borrower, metrics shard */
	struct log_buffer *log;       /* access-log lines (NULL: written at once) */
	struct strbuf line;           /* the access-log line being written */
	struct util_clock clock;      /* stamps access-log lines */
	struct rng rng;               /* request ids (seeded from util_random_bytes) */
	struct activity *activity;
	bool activity_shared;         /* the last slot, which other workers count in too */
	struct request *spare[SPARE_REQUESTS];
	size_t n_spare;
	struct worker *next;          /* in the owner's list */
};

/* New, for a server serving store; NULL when out of memory. */
struct worker *worker_new(const void *owner, struct store *store, struct predlog *log);
/* Frees its spare requests and its parts. Accepts NULL. */
void worker_free(struct worker *w);

/* A request struct with `st` zeroed (a spare one when there is one); NULL when out of memory. */
struct request *worker_request(struct worker *w);
/* Back to the spares (its body emptied, or freed when large), or freed. */
void worker_release(struct worker *w, struct request *rq);

/* The request's id: given when it is 1 to REQUEST_ID_MAX of [A-Za-z0-9._:-], else 32 generated hex digits. */
void worker_request_id(struct worker *w, struct request *rq, const char *given);

/* The request's access-log line (when its level is logged), through the worker's buffer. */
void worker_access_log(struct worker *w, const struct request *rq, uint64_t end_ns, double seconds);

#endif

/* server — see include/shelfcast/server.h. */
#include "shelfcast/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "shelfcast/acceptor.h"
#include "shelfcast/api.h"
#include "shelfcast/gzip.h"
#include "shelfcast/listen.h"
#include "shelfcast/log.h"
#include "shelfcast/metrics.h"
#include "shelfcast/tls.h"
#include "shelfcast/util.h"
#include "shelfcast/worker.h"

#define SMALL_BODY_CAP 4096 /* for routes that take no body */
/* POST /v1/outcomes: 10,000 outcomes of up to about 400 bytes each */
#define OUTCOMES_BODY_CAP (4u << 20)
#define FIRST_BODY_BYTES KEEP_BODY_BYTES /* a body's first buffer (a spare request keeps one that size) */
#define DRAIN_QUIET_NS 500000000ULL
#define CONNECTION_MEMORY (16 * 1024)

/*
 * Memory: large request buffers (bodies, replies, the parser's arrays) are
 * kept in the heap for reuse, under fixed thresholds: nothing under 8 MiB is
 * mapped per request, and a heap's free top is given back past 16 MiB, more
 * than a request's buffers.  With glibc's adaptive thresholds a 1,000-item
 * request here mapped, faulted in (~300 fresh pages) and unmapped its
 * buffers every time: 580-690 against 1,100-1,140 requests/s (perf stat -e
 * page-faults; bench/ab_items).  What a burst of bodies leaves behind goes
 * back once it is over: when the bodies held have passed TRIM_MARK, the heap
 * is trimmed (malloc_trim, which also frees pages inside free chunks) when
 * they fall back under a quarter of it, and again when the last is gone.
 */
#define MMAP_THRESHOLD (8 * 1024 * 1024)
#define TRIM_THRESHOLD (16 * 1024 * 1024)
#define TRIM_MARK ((size_t)16 * 1024 * 1024)
enum { TRIM_NONE, TRIM_DUE, TRIM_AT_ZERO };

/*
 * Requests in flight and when the latest began, kept per worker so that
 * workers do not write one cache line on every request; the drain adds
 * them up.  128 bytes apart: the hot fields of two slots never share a
 * line.  A worker has a slot to itself (all but the last, which the workers
 * past the others share) and counts in it with a plain load and store.
 */
#define ACTIVITY_SLOTS 64
struct activity {
	atomic_long in_flight;
	atomic_uint_fast64_t last_start_ns;
	char pad[128 - sizeof(atomic_long) - sizeof(atomic_uint_fast64_t)];
};

struct server {
	struct server_config cfg;
	struct api_config api;
	struct MHD_Daemon *daemon;
	struct acceptor *acceptor; /* hands listen_fd's connections to the daemon's workers */
	struct acceptor_counts connections; /* libmicrohttpd's notifications, for the acceptor */
	int listen_fd;
	char address[128];
	struct activity activity[ACTIVITY_SLOTS];
	pthread_mutex_t workers_lock;
	struct worker *workers;
	unsigned n_workers;
	atomic_bool draining;
	atomic_size_t body_bytes; /* request bodies held now, against cfg.body_budget */
	atomic_int trim_due;      /* TRIM_DUE: bodies held passed TRIM_MARK; TRIM_AT_ZERO: trimmed once, again at 0 */
	char *tls_cert_pem, *tls_key_pem;
};

static __thread struct worker *this_worker;

/*
 * Each connection's clock, for the request deadline: when its next request
 * could begin to arrive (the connection opened, or its previous request
 * ended).  So the deadline counts the headers' arrival too, not only the
 * body's; idle keep-alive time counts, which is why --request-timeout must
 * be longer than the idle --timeout.
 */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct server *srv = cls;
	uint64_t *since;

	(void)conn;
	atomic_fetch_add(toe == MHD_CONNECTION_NOTIFY_STARTED ? &srv->connections.started : &srv->connections.closed, 1);
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		if ((since = malloc(sizeof *since)))
			*since = util_now_ns();
		*socket_context = since;
	} else {
		free(*socket_context);
		*socket_context = NULL;
	}
}

/* Has the request been arriving for longer than the deadline? */
static bool past_deadline(const struct server *srv, const struct request *rq, uint64_t now)
{
	return srv->cfg.request_deadline &&
	       now - rq->st.arrive_ns > (uint64_t)srv->cfg.request_deadline * 1000000000ULL;
}

/* The calling thread's context in srv, made on its first request; NULL when out of memory. */
static struct worker *worker_of(struct server *srv)
{
	struct worker *w = this_worker;

	if (w && w->owner == srv)
		return w;
	w = worker_new(srv, srv->cfg.store, srv->cfg.predlog);
	if (!w)
		return NULL;
	pthread_mutex_lock(&srv->workers_lock);
	w->index = srv->n_workers++;
	w->next = srv->workers;
	srv->workers = w;
	pthread_mutex_unlock(&srv->workers_lock);
	w->activity_shared = w->index >= ACTIVITY_SLOTS - 1;
	w->activity = &srv->activity[w->activity_shared ? ACTIVITY_SLOTS - 1 : w->index];
	return this_worker = w;
}

/* A request begins (+1) or ends (-1) on this worker; at its beginning, its start time. */
static void count_in_flight(struct worker *w, long delta, uint64_t start_ns)
{
	struct activity *a = w->activity;

	if (w->activity_shared)
		atomic_fetch_add_explicit(&a->in_flight, delta, memory_order_relaxed);
	else
		atomic_store_explicit(&a->in_flight,
				      atomic_load_explicit(&a->in_flight, memory_order_relaxed) + delta,
				      memory_order_relaxed);
	if (delta > 0)
		atomic_store_explicit(&a->last_start_ns, start_ns, memory_order_relaxed);
}

/* How much of an oversized body is read (and dropped) before the connection is closed instead. */
static size_t drain_limit(size_t cap)
{
	return cap < 2 * 1024 * 1024 ? 8 * 1024 * 1024 : 4 * cap;
}

/* Take n more bytes of the server-wide body budget for rq; false (nothing taken) past the budget. */
static bool reserve_body(struct server *srv, struct request *rq, size_t n)
{
	size_t held = atomic_load(&srv->body_bytes);

	do {
		if (srv->cfg.body_budget && held + n > srv->cfg.body_budget)
			return false;
	} while (!atomic_compare_exchange_weak(&srv->body_bytes, &held, held + n));
	rq->st.reserved += n;
	if (held + n >= TRIM_MARK)
		atomic_store(&srv->trim_due, TRIM_DUE);
	return true;
}

static void release_body(struct server *srv, struct request *rq)
{
	size_t left;
	int due = TRIM_DUE;

	if (!rq->st.reserved)
		return;
	left = atomic_fetch_sub(&srv->body_bytes, rq->st.reserved) - rq->st.reserved;
	rq->st.reserved = 0;
	/*
	 * After a burst (trim_due: the bodies held passed TRIM_MARK), what it left
	 * in the heap goes back: once when they fall under a quarter of the mark,
	 * and again when the last is gone.  Without a burst, never: a trim gives
	 * back the pages the next requests fault in again.
	 */
	if (left == 0 ? atomic_exchange(&srv->trim_due, TRIM_NONE) != TRIM_NONE
		      : left < TRIM_MARK / 4 &&
				atomic_compare_exchange_strong(&srv->trim_due, &due, TRIM_AT_ZERO)) {
		malloc_trim(0);
		metrics_observe_heap_trim();
	}
}

/* ---- replies ------------------------------------------------------------------------ */

/* Queue r (done'd here) as the reply to rq. */
static enum MHD_Result send_reply(struct server *srv, struct MHD_Connection *conn,
				  struct request *rq, struct reply *r)
{
	char *packed = NULL;
	size_t packed_len = 0;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (r->len >= GZIP_MIN_REPLY &&
	    gzip_accepted(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING)) &&
	    gzip_deflate(r->body, r->len, &packed, &packed_len))
		resp = MHD_create_response_from_buffer(packed_len, packed, MHD_RESPMEM_MUST_FREE);
	else
		resp = MHD_create_response_from_buffer(r->len, r->body, r->owned ? MHD_RESPMEM_MUST_FREE
										   : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(packed);
		reply_done(r);
		return MHD_NO;
	}
	if (packed) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
	} else {
		r->owned = false; /* libmicrohttpd frees it now */
	}
	rq->st.error_code = r->error_code;
	memcpy(rq->st.error_field, r->error_field, sizeof rq->st.error_field);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	MHD_add_response_header(resp, "X-Request-Id", rq->st.id);
	/* POST replies are not stored by caches anyway (RFC 9110 9.3.3): only GETs need saying so. */
	if (!strcmp(rq->st.method, MHD_HTTP_METHOD_GET) || !strcmp(rq->st.method, MHD_HTTP_METHOD_HEAD))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (r->allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (r->status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"shelfcast\"");
	if (r->close || atomic_load(&srv->draining))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	rq->st.status = (int)r->status;
	ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	reply_done(r);
	return ret;
}

/* An error of the HTTP layer's own; close: then the connection (framing that cannot be trusted, a budget spent). */
static enum MHD_Result send_error(struct server *srv, struct MHD_Connection *conn,
				  struct request *rq, unsigned status, const char *code,
				  const char *message, bool close)
{
	struct reply r;

	reply_init(&r);
	reply_error(&r, status, code, message, NULL);
	r.close = close;
	return send_reply(srv, conn, rq, &r);
}

/* ---- requests ----------------------------------------------------------------------- */

/* The routes whose bodies hold items (a JSON body up to --max-body): /v1/predict and /v1/recommend. */
static bool scoring_route(enum route_id id)
{
	return id == ROUTE_PREDICT || id == ROUTE_RECOMMEND;
}

static bool json_content_type(struct MHD_Connection *conn)
{
	const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t n;
	const char *semi;

	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	semi = strchr(ct, ';');
	n = semi ? (size_t)(semi - ct) : strlen(ct);
	while (n && ct[n - 1] == ' ')
		n--;
	if (n == strlen("application/json") && !strncasecmp(ct, "application/json", n))
		return true;
	/* application/<anything>+json */
	return n > 17 && !strncasecmp(ct, "application/", 12) && !strncasecmp(ct + n - 5, "+json", 5);
}

/* "api:ADDRESS" of the client, or "api": the actor the audit log names for an activation. */
static void client_actor(struct MHD_Connection *conn, char *actor, size_t size)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char ip[INET6_ADDRSTRLEN] = "";

	snprintf(actor, size, "api");
	if (!ci || !ci->client_addr)
		return;
	if (ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr, ip,
			  sizeof ip);
	else if (ci->client_addr->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)ci->client_addr)->sin6_addr,
			  ip, sizeof ip);
	snprintf(actor, size, "api:%s", ip);
}

static enum MHD_Result dispatch(struct server *srv, struct worker *w, struct MHD_Connection *conn,
				struct request *rq)
{
	struct api_request in = {
		.target = rq->st.target,
		.method = rq->st.method,
		.body = rq->body.data ? rq->body.data : "",
		.len = rq->body.len,
		.draining = atomic_load(&srv->draining),
	};
	const char *ce = rq->st.body_route ? MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
									  MHD_HTTP_HEADER_CONTENT_ENCODING)
					   : NULL;
	char actor[96], *inflated = NULL;
	struct reply r;
	enum MHD_Result ret;

	if (ce && strcasecmp(ce, "identity")) { /* the limit applies inflated */
		struct error err;
		error_init(&err);
		if (!gzip_is_gzip(ce))
			return send_error(srv, conn, rq, 415, "unsupported_media_type",
					  "Content-Encoding must be gzip (or identity)", false);
		if (gzip_inflate(in.body, in.len, rq->st.cap, &inflated, &in.len, &err) != ERROR_OK) {
			reply_init(&r);
			reply_from_error(&r, &err);
			return send_reply(srv, conn, rq, &r);
		}
		if (!reserve_body(srv, rq, in.len)) { /* charged, like the raw body, until the request ends */
			free(inflated);
			return send_error(srv, conn, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "overloaded",
					  "the server holds as many request bodies as it may; retry later", true);
		}
		in.body = inflated;
	}
	if (rq->st.target.id == ROUTE_ACTIVATE || rq->st.target.id == ROUTE_OUTCOMES) { /* admin routes */
		in.authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							       MHD_HTTP_HEADER_AUTHORIZATION);
		client_actor(conn, actor, sizeof actor);
		in.client = actor;
	}
	reply_init(&r);
	api_handle(&srv->api, &w->api, &in, &r, &rq->st.result);
	ret = send_reply(srv, conn, rq, &r);
	free(inflated);
	return ret;
}

/* The first call for a request: its state, and whether its body can be read at all. */
static enum MHD_Result begin(struct server *srv, struct worker *w, struct MHD_Connection *conn,
			     const char *url, const char *method, void **req_cls)
{
	struct request *rq = worker_request(w);
	const char *cl, *te;
	long long len;
	char msg[128];

	if (!rq)
		return MHD_NO;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	rq->st.start_ns = util_now_ns();
	rq->st.conn_since = ci ? ci->socket_context : NULL;
	rq->st.arrive_ns = rq->st.conn_since ? *rq->st.conn_since : rq->st.start_ns;
	rq->st.path_len = util_copy(rq->st.path, sizeof rq->st.path, url);
	rq->st.method_len = util_copy(rq->st.method, sizeof rq->st.method, method);
	worker_request_id(w, rq, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id"));
	route_parse(url, &rq->st.target);
	rq->st.body_route = route_takes_body(rq->st.target.id, method);
	count_in_flight(w, 1, rq->st.start_ns);
	*req_cls = rq;
	/* Answer on a later call: a reply queued before the request is fully read closes the connection. */
	rq->st.cap = !rq->st.body_route			       ? SMALL_BODY_CAP
		     : scoring_route(rq->st.target.id)	       ? srv->cfg.max_body
		     : rq->st.target.id == ROUTE_OUTCOMES ? OUTCOMES_BODY_CAP
							       : SMALL_BODY_CAP;
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	/*
	 * Framing a proxy in front might read another way than we do (request
	 * smuggling), on any route: both lengths, or a transfer coding other than
	 * chunked.  Refused before the body, and the connection closed.
	 */
	if ((cl && te) || (te && strcasecmp(te, "chunked")))
		return send_error(srv, conn, rq, MHD_HTTP_BAD_REQUEST, "bad_framing",
				  cl && te ? "a request may not have both Content-Length and Transfer-Encoding"
					   : "Transfer-Encoding must be chunked",
				  true);
	if (past_deadline(srv, rq, rq->st.start_ns)) /* the headers alone took too long */
		return send_error(srv, conn, rq, MHD_HTTP_REQUEST_TIMEOUT, "request_timeout",
				  "the request took longer than the deadline to arrive", true);
	if (!rq->st.body_route)
		return MHD_YES;
	if ((scoring_route(rq->st.target.id) || rq->st.target.id == ROUTE_OUTCOMES) && !json_content_type(conn))
		return send_error(srv, conn, rq, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
				  "Content-Type must be application/json", false);
	if (!cl)
		return MHD_YES;
	if (!util_parse_long(cl, 0, 0x7fffffffffffffffLL, &len) ||
	    (unsigned long long)len > drain_limit(rq->st.cap)) {
		/* Far too large to even read: refuse now and close the connection. */
		snprintf(msg, sizeof msg, "the body is larger than the limit of %zu bytes", rq->st.cap);
		return send_error(srv, conn, rq, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", msg, false);
	}
	/*
	 * Over the cap but not absurdly: read and discard it, then answer 413, so a
	 * client that sends its whole body before reading sees the answer instead
	 * of a reset.  Nothing past the cap is kept.  Within it, the body budget is
	 * charged as bytes arrive (a client announcing a length it never sends
	 * holds none of it), and the buffer grows with them past its first
	 * FIRST_BODY_BYTES: what is resident follows what was received.
	 */
	if ((unsigned long long)len > rq->st.cap)
		rq->st.too_large = true;
	else if (len > 0)
		strbuf_reserve(&rq->body, (size_t)len < FIRST_BODY_BYTES ? (size_t)len : FIRST_BODY_BYTES);
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	struct server *srv = cls;
	struct request *rq = *req_cls;
	struct worker *w = worker_of(srv);
	char msg[128];

	(void)version;
	if (!w)
		return MHD_NO;
	if (!rq)
		return begin(srv, w, conn, url, method, req_cls);
	if (past_deadline(srv, rq, util_now_ns()))
		return MHD_NO; /* still arriving past the deadline: a trickle, closed */
	if (*upload_size) {
		/* A body (chunked, say) can grow past the cap: from then on it is discarded. */
		if (!rq->st.too_large && !rq->st.over_budget && rq->body.len + *upload_size <= rq->st.cap &&
		    (rq->body.len + *upload_size <= rq->st.reserved ||
		     reserve_body(srv, rq, rq->body.len + *upload_size - rq->st.reserved))) {
			strbuf_append(&rq->body, upload, *upload_size);
		} else {
			/* over the cap (413) or over the server's budget (503): read and dropped from here */
			if (!rq->st.too_large && !rq->st.over_budget) {
				if (rq->body.len + *upload_size <= rq->st.cap)
					rq->st.over_budget = true;
				else
					rq->st.too_large = true;
			}
			strbuf_done(&rq->body);
			release_body(srv, rq);
			rq->st.discarded += *upload_size;
			if (rq->st.discarded > drain_limit(rq->st.cap))
				return MHD_NO; /* an endless upload: close the connection */
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->st.status) /* answered on the first call */
		return MHD_YES;
	if (rq->st.too_large) {
		snprintf(msg, sizeof msg, "the body is larger than the limit of %zu bytes", rq->st.cap);
		return send_error(srv, conn, rq, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", msg, false);
	}
	if (rq->st.over_budget)
		return send_error(srv, conn, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "overloaded",
				  "the server holds as many request bodies as it may; retry later", true);
	if (strbuf_failed(&rq->body))
		return send_error(srv, conn, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "overloaded",
				  "out of memory reading the body", false);
	return dispatch(srv, w, conn, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct server *srv = cls;
	struct request *rq = *req_cls;
	struct worker *w;
	uint64_t end_ns;
	double seconds;

	(void)conn;
	if (!rq)
		return;
	w = rq->w;
	*req_cls = NULL;
	end_ns = util_now_ns();
	seconds = (double)(end_ns - rq->st.start_ns) / 1e9;
	if (rq->st.conn_since) /* the connection's next request can begin from now */
		*rq->st.conn_since = end_ns;
	if (!rq->st.status) /* the client went away or the connection failed before a reply went out */
		rq->st.status = 499;
	release_body(srv, rq);
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		rq->st.terminated = (int)toe;
	metrics_observe_request(w->api.metrics, rq->st.target.id, rq->st.status, seconds);
	worker_access_log(w, rq, end_ns, seconds);
	worker_release(w, rq);
	count_in_flight(w, -1, 0);
}

/* libmicrohttpd's own messages: its format strings, checked as such. */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;
	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_msg(LOG_WARN, "http", "%s", msg);
}

/* ---- lifecycle -------------------------------------------------------------------------- */

static void server_free(struct server *srv)
{
	struct worker *w;

	acceptor_stop(srv->acceptor);
	if (srv->daemon)
		MHD_stop_daemon(srv->daemon); /* joins the worker threads: their contexts are unused from here */
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	while ((w = srv->workers)) {
		srv->workers = w->next;
		worker_free(w);
	}
	pthread_mutex_destroy(&srv->workers_lock);
	free(srv->tls_cert_pem);
	free(srv->tls_key_pem);
	free(srv);
}

/* The TLS options (tls.h: TLS 1.2 and 1.3, forward-secret AEAD suites), when a certificate is configured. */
static enum error_code tls_options(struct server *srv, unsigned *flags, struct MHD_OptionItem *opts,
				   size_t *n, struct error *err)
{
	const struct server_config *cfg = &srv->cfg;
	enum error_code rc;

	if ((cfg->tls_cert && *cfg->tls_cert) != (cfg->tls_key && *cfg->tls_key))
		return error_set(err, ERROR_INVALID, "tls", "--tls-cert and --tls-key go together");
	if (!cfg->tls_cert || !*cfg->tls_cert)
		return ERROR_OK;
	rc = tls_add_options(cfg->tls_cert, cfg->tls_key, cfg->tls_allow_readable_key, &srv->tls_cert_pem,
			     &srv->tls_key_pem, opts, n, err);
	if (!rc)
		*flags |= MHD_USE_TLS;
	return rc;
}

enum error_code server_start(const struct server_config *cfg, struct server **out,
			     struct error *err)
{
	struct server *srv = calloc(1, sizeof *srv);
	/* the server accepts connections itself (acceptor.h): no listening socket of libmicrohttpd's */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
			 MHD_USE_TURBO | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET;
	struct MHD_OptionItem opts[9 + TLS_N_OPTIONS]; /* the nine below (END included) and TLS's */
	size_t n = 0;
	enum error_code rc;

	*out = NULL;
	if (!srv)
		return error_nomem(err, "the server");
	/* First, so that every message of libmicrohttpd goes through it. */
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL};
	srv->cfg = *cfg;
	srv->listen_fd = -1;
	pthread_mutex_init(&srv->workers_lock, NULL);
	srv->api = (struct api_config){cfg->store, cfg->watcher, {cfg->max_items, cfg->max_request_memory,
								   cfg->max_explain_items},
				       cfg->admin_token, cfg->db_conninfo, util_unix_time(), cfg->versions,
				       cfg->predlog, cfg->drift_window};
	if (!srv->cfg.threads)
		srv->cfg.threads = util_cpu_count();
	mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
	mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD);
	rc = tls_options(srv, &flags, opts, &n, err);
	if (!rc)
		rc = listen_bind(cfg->listen, &srv->listen_fd, srv->address, sizeof srv->address, err);
	if (rc)
		goto fail;
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, srv->cfg.threads, NULL};
	/*
	 * libmicrohttpd zeroes a connection's whole memory pool for every request
	 * (MHD_pool_reset): 32 KiB by default, the largest single cost it adds to
	 * a small request.  16 KiB still holds request headers of up to ~8 KiB.
	 */
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY, NULL};
	/* --connection-limit is the acceptor's to enforce: libmicrohttpd's own is kept out of reach */
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
					    acceptor_mhd_limit(cfg->connection_limit, srv->cfg.threads), NULL};
	if (cfg->per_ip_limit)
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->per_ip_limit, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, srv};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_ARRAY, opts,
				       MHD_OPTION_END);
	if (!srv->daemon) {
		rc = error_set(err, ERROR_IO, "listen",
			       "cannot start the HTTP server on %s (libmicrohttpd refused the options; "
			       "see the log above)",
			       srv->address);
		goto fail;
	}
	rc = acceptor_start(srv->listen_fd, srv->daemon, &srv->connections, cfg->connection_limit,
			    &srv->acceptor, err);
	if (rc)
		goto fail;
	*out = srv;
	return ERROR_OK;
fail:
	server_free(srv);
	return rc;
}

const char *server_address(const struct server *s)
{
	return s->address;
}

/* Nothing in flight and nothing new begun for a while, or the deadline passed. */
static void wait_quiet(struct server *s, double drain_seconds)
{
	double deadline = util_now_s() + drain_seconds;

	while (util_now_s() < deadline) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		uint64_t last = 0;
		long in_flight = 0;
		size_t i;
		for (i = 0; i < ACTIVITY_SLOTS; i++) {
			uint64_t t = atomic_load(&s->activity[i].last_start_ns);
			in_flight += atomic_load(&s->activity[i].in_flight);
			last = t > last ? t : last;
		}
		if (in_flight == 0 && util_now_ns() - last > DRAIN_QUIET_NS)
			return;
		nanosleep(&ts, NULL);
	}
}

void server_stop(struct server *s, double drain_seconds)
{
	if (!s)
		return;
	atomic_store(&s->draining, true);
	/* Stop accepting: new connections are refused at once, in-flight ones go on. */
	acceptor_stop(s->acceptor);
	s->acceptor = NULL;
	close(s->listen_fd);
	s->listen_fd = -1;
	/*
	 * Requests clients already sent on open connections may not have been read
	 * yet (every worker busy): done means nothing in flight and nothing new
	 * begun for a while.  Replies carry "Connection: close" meanwhile.
	 */
	wait_quiet(s, drain_seconds);
	server_free(s);
}

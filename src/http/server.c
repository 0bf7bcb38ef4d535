/* server — see include/shelfcast/server.h. */
#include "shelfcast/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "shelfcast/db.h"
#include "shelfcast/jsonutil.h"
#include "shelfcast/log.h"
#include "shelfcast/metrics.h"
#include "shelfcast/predict.h"
#include "shelfcast/registry.h"
#include "shelfcast/sha256.h"
#include "shelfcast/strbuf.h"
#include "shelfcast/tls.h"
#include "shelfcast/util.h"

extern const char server_openapi_yaml[];
extern const size_t server_openapi_yaml_len;

#define REQUEST_ID_MAX 128
#define SMALL_BODY_CAP 4096 /* for routes that take no body */
#define DRAIN_QUIET_NS 500000000ULL
#define CONNECTION_MEMORY (16 * 1024)

/*
 * Requests in flight and when the latest began, kept per worker thread so
 * that workers do not write one cache line on every request; the drain adds
 * them up.  128 bytes apart: the hot fields of two slots never share a line.
 * A thread has a slot to itself (all but the last, which the threads past
 * the others share) and counts in it with a plain load and store, not a
 * locked read-modify-write, which waits for every store before it (the
 * access-log line) to drain.
 */
#define ACTIVITY_SLOTS 64
struct activity {
	atomic_long in_flight;
	atomic_uint_fast64_t last_start_ns;
	char pad[128 - sizeof(atomic_long) - sizeof(atomic_uint_fast64_t)];
};

struct server {
	struct server_config cfg;
	struct MHD_Daemon *daemon;
	int listen_fd;
	char address[128];
	struct activity activity[ACTIVITY_SLOTS];
	atomic_uint next_slot; /* slots handed to worker threads so far */
	atomic_bool draining;
	double started_at; /* unix seconds */
	char *tls_cert_pem, *tls_key_pem;
};

struct request {
	struct strbuf body;     /* kept, emptied, when the struct is reused */
	/* From here to model: zeroed for each request (new_request). */
	uint64_t start_ns;
	enum metrics_route route;
	const char *allow;      /* the route's methods, for a 405 */
	int status;
	bool body_route;        /* collects a body */
	bool too_large;
	size_t cap;
	size_t discarded;       /* bytes of an oversized body read and dropped */
	int version;
	size_t items;
	size_t id_len, path_len, method_len;
	/* Strings: model starts empty, the others are written first thing (on_request). */
	char model[MODEL_NAME_MAX + 1];
	char id[REQUEST_ID_MAX + 1];
	char path[256];
	char method[16];
};

/*
 * The calling worker's slot; *shared when another thread may count in it
 * too.  A worker thread serves one daemon and ends with it.
 */
static struct activity *my_activity(struct server *srv, bool *shared)
{
	static __thread const struct server *owner;
	static __thread unsigned slot;
	static __thread bool slot_shared;

	if (owner != srv) {
		/* the last slot is shared by every thread past the others */
		unsigned n = atomic_fetch_add(&srv->next_slot, 1);
		slot_shared = n >= ACTIVITY_SLOTS - 1;
		slot = slot_shared ? ACTIVITY_SLOTS - 1 : n;
		owner = srv;
	}
	*shared = slot_shared;
	return &srv->activity[slot];
}

/* A request begins (+1) or ends (-1) on this thread; at its beginning, its start time. */
static void count_in_flight(struct server *srv, long delta, uint64_t start_ns)
{
	bool shared;
	struct activity *a = my_activity(srv, &shared);

	if (shared)
		atomic_fetch_add_explicit(&a->in_flight, delta, memory_order_relaxed);
	else
		atomic_store_explicit(&a->in_flight,
				      atomic_load_explicit(&a->in_flight, memory_order_relaxed) + delta,
				      memory_order_relaxed);
	if (delta > 0)
		atomic_store_explicit(&a->last_start_ns, start_ns, memory_order_relaxed);
}

/*
 * What each worker thread keeps between requests, freed when the thread
 * ends: the request structs (and body buffers) of finished requests, so that
 * a small request allocates neither, and its access-log line buffer.
 */
#define SPARE_REQUESTS 16
#define KEEP_BODY_BYTES (64 * 1024)

struct worker {
	struct request *spare[SPARE_REQUESTS];
	size_t n_spare;
	struct strbuf line;
};

static pthread_key_t worker_key;
static pthread_once_t worker_once = PTHREAD_ONCE_INIT;
static __thread struct worker *worker_tls;

static void free_worker(void *p)
{
	struct worker *w = p;
	while (w->n_spare) {
		struct request *rq = w->spare[--w->n_spare];
		strbuf_done(&rq->body);
		free(rq);
	}
	strbuf_done(&w->line);
	free(w);
}

static void make_worker_key(void)
{
	pthread_key_create(&worker_key, free_worker);
}

/* This thread's state, made on first use; NULL when out of memory. */
static struct worker *this_worker(void)
{
	struct worker *w = worker_tls;
	if (w)
		return w;
	pthread_once(&worker_once, make_worker_key);
	w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	strbuf_init(&w->line);
	if (pthread_setspecific(worker_key, w) != 0) {
		free(w);
		return NULL;
	}
	return worker_tls = w;
}

static struct request *new_request(void)
{
	struct worker *w = worker_tls;
	struct request *rq;

	if (w && w->n_spare) {
		/* the body was emptied when it was put back; the strings are not read before written */
		rq = w->spare[--w->n_spare];
		memset(&rq->start_ns, 0, offsetof(struct request, model) - offsetof(struct request, start_ns));
		rq->model[0] = '\0';
		return rq;
	}
	rq = calloc(1, sizeof *rq);
	if (rq)
		strbuf_init(&rq->body);
	return rq;
}

static void release_request(struct worker *w, struct request *rq)
{
	if (rq->body.cap > KEEP_BODY_BYTES || strbuf_failed(&rq->body))
		strbuf_done(&rq->body);
	else
		strbuf_reset(&rq->body);
	if (w && w->n_spare < SPARE_REQUESTS) {
		w->spare[w->n_spare++] = rq;
		return;
	}
	strbuf_done(&rq->body);
	free(rq);
}

/* How much of an oversized body is read (and dropped) before the connection is closed instead. */
static size_t drain_limit(size_t cap)
{
	return cap < 2 * 1024 * 1024 ? 8 * 1024 * 1024 : 4 * cap;
}

/* ---- replies ------------------------------------------------------------------------ */

static const struct {
	enum error_code code;
	unsigned status;
	const char *name;
} error_map[] = {
	{ERROR_PARSE, MHD_HTTP_BAD_REQUEST, "malformed_json"},
	{ERROR_INVALID, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid_request"},
	{ERROR_NOT_FOUND, MHD_HTTP_NOT_FOUND, "not_found"},
	{ERROR_TOO_LARGE, MHD_HTTP_CONTENT_TOO_LARGE, "too_large"},
	{ERROR_UNAVAILABLE, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable"},
	{ERROR_CONFLICT, MHD_HTTP_CONFLICT, "conflict"},
	{ERROR_NOMEM, MHD_HTTP_SERVICE_UNAVAILABLE, "overloaded"},
	{ERROR_DB, MHD_HTTP_SERVICE_UNAVAILABLE, "database_unavailable"},
	{ERROR_IO, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal"},
	{ERROR_INTERNAL, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal"},
};

static void map_error(enum error_code code, unsigned *status, const char **name)
{
	size_t i;
	*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	*name = "internal";
	for (i = 0; i < sizeof error_map / sizeof error_map[0]; i++)
		if (error_map[i].code == code) {
			*status = error_map[i].status;
			*name = error_map[i].name;
		}
}

static bool is_get(const char *method)
{
	return !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
}

static enum MHD_Result send_body(struct server *srv, struct MHD_Connection *conn,
				 struct request *rq, unsigned status, const char *content_type,
				 char *body, size_t len, bool must_free, const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r) {
		if (must_free)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(r, "X-Request-Id", rq->id);
	/* POST replies are not stored by caches anyway (RFC 9110 9.3.3): only GETs need saying so. */
	if (is_get(rq->method))
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"shelfcast\"");
	if (atomic_load(&srv->draining))
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	rq->status = (int)status;
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_json(struct server *srv, struct MHD_Connection *conn,
				 struct request *rq, unsigned status, struct strbuf *sb)
{
	size_t len = sb->len;
	char *body;

	if (strbuf_failed(sb)) {
		strbuf_done(sb);
		return send_body(srv, conn, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "application/json",
				 (char *)"{\"error\":{\"code\":\"overloaded\",\"message\":\"out of memory\"}}",
				 58, false, NULL);
	}
	body = strbuf_steal(sb);
	if (!body)
		return MHD_NO;
	return send_body(srv, conn, rq, status, "application/json", body, len, true, NULL);
}

static enum MHD_Result send_error(struct server *srv, struct MHD_Connection *conn,
				  struct request *rq, unsigned status, const char *code,
				  const char *message, const char *field, const char *allow)
{
	struct strbuf sb;
	size_t len;
	char *body;

	strbuf_init(&sb);
	strbuf_puts(&sb, "{\"error\":{\"code\":");
	strbuf_json_string(&sb, code, strlen(code));
	strbuf_puts(&sb, ",\"message\":");
	strbuf_json_string(&sb, message, strlen(message));
	if (field && *field) {
		strbuf_puts(&sb, ",\"field\":");
		strbuf_json_string(&sb, field, strlen(field));
	}
	strbuf_puts(&sb, "}}");
	len = sb.len;
	body = strbuf_steal(&sb);
	if (!body)
		return MHD_NO;
	return send_body(srv, conn, rq, status, "application/json", body, len, true, allow);
}

static enum MHD_Result send_struct_error(struct server *srv, struct MHD_Connection *conn,
					 struct request *rq, const struct error *err)
{
	unsigned status;
	const char *name;
	map_error(err->code, &status, &name);
	return send_error(srv, conn, rq, status, name, err->message, err->field, NULL);
}

/* ---- routes ------------------------------------------------------------------------- */


static enum MHD_Result handle_healthz(struct server *srv, struct MHD_Connection *conn,
				      struct request *rq)
{
	struct strbuf sb;
	size_t n = 0;
	struct model **models = store_snapshot(srv->cfg.store, &n);

	store_release_all(models, n);
	strbuf_init(&sb);
	strbuf_printf(&sb,
		      "{\"status\":\"ok\",\"database\":\"%s\",\"models_loaded\":%zu,"
		      "\"uptime_seconds\":%.3f}",
		      watcher_db_up(srv->cfg.watcher) ? "ok" : "unreachable", n,
		      util_unix_time() - srv->started_at);
	return send_json(srv, conn, rq, MHD_HTTP_OK, &sb);
}

static enum MHD_Result handle_readyz(struct server *srv, struct MHD_Connection *conn,
				     struct request *rq)
{
	char reason[256] = "";
	struct strbuf sb;

	if (atomic_load(&srv->draining))
		return send_error(srv, conn, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "not_ready",
				  "shutting down", NULL, NULL);
	if (!store_ready(srv->cfg.store, reason, sizeof reason)) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s%s", reason,
			 watcher_db_up(srv->cfg.watcher) ? "" : " (the registry database is unreachable)");
		return send_error(srv, conn, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "not_ready", msg, NULL,
				  NULL);
	}
	strbuf_init(&sb);
	strbuf_puts(&sb, "{\"status\":\"ready\"}");
	return send_json(srv, conn, rq, MHD_HTTP_OK, &sb);
}

static enum MHD_Result handle_metrics(struct server *srv, struct MHD_Connection *conn,
				      struct request *rq)
{
	struct strbuf sb;
	size_t len;
	char *body;

	strbuf_init(&sb);
	metrics_render(&sb, srv->cfg.store);
	if (strbuf_failed(&sb)) {
		strbuf_done(&sb);
		return send_error(srv, conn, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "overloaded",
				  "out of memory", NULL, NULL);
	}
	len = sb.len;
	body = strbuf_steal(&sb);
	if (!body)
		return MHD_NO;
	return send_body(srv, conn, rq, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
			 body, len, true, NULL);
}

/* ---- /v1/models ----------------------------------------------------------------------- */

static json_t *headline_metrics(const json_t *metrics)
{
	json_t *sales = json_object_get(metrics, "sales"), *expo = json_object_get(metrics, "exposure"),
	       *base = json_object_get(metrics, "baselines"), *out = json_object();
	json_t *v;

	if (!out)
		return NULL;
#define COPY(key, obj, field)                                                                    \
	do {                                                                                     \
		v = json_object_get((obj), (field));                                             \
		json_object_set_new(out, (key), json_is_number(v) ? json_real(json_number_value(v)) \
								  : json_null());                \
	} while (0)
	COPY("sales_r2_log", sales, "r2_log");
	COPY("sales_wmape", sales, "wmape");
	COPY("exposure_auc", expo, "auc");
	COPY("exposure_log_loss", expo, "log_loss");
	COPY("baseline_linear_r2_log", json_object_get(base, "linear"), "r2_log");
	COPY("baseline_logistic_auc", json_object_get(base, "logistic"), "auc");
#undef COPY
	return out;
}

/* What a caller sends: each feature once (a numeric one may feed several inputs). */
static json_t *model_inputs(const struct model *m)
{
	json_t *arr = json_array();
	size_t i, j;
	for (i = 0; arr && i < m->spec.n_numeric; i++) {
		for (j = 0; j < i && strcmp(m->spec.numeric[j].name, m->spec.numeric[i].name); j++)
			;
		if (j < i)
			continue;
		json_array_append_new(arr, json_pack("{s:s, s:s, s:b}", "name", m->spec.numeric[i].name,
						     "type", "numeric", "required",
						     m->spec.numeric[i].required));
	}
	for (i = 0; arr && i < m->spec.n_categorical; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s}", "name", m->spec.categorical[i].name,
						     "type", "categorical"));
	return arr;
}

static json_t *model_levels(const struct model *m)
{
	json_t *arr = json_array();
	size_t k;
	for (k = 0; arr && k < m->spec.n_levels; k++)
		json_array_append_new(arr, json_pack("{s:I, s:f, s:f}", "level",
						     (json_int_t)m->spec.levels[k].level, "discount",
						     m->spec.levels[k].discount, "cost",
						     m->spec.levels[k].cost));
	return arr;
}

static const json_t *find_catalog_version(const json_t *entry, int version)
{
	const json_t *v;
	size_t i;
	json_array_foreach(json_object_get(entry, "versions"), i, v)
		if (json_integer_value(json_object_get(v, "version")) == version)
			return v;
	return NULL;
}

/* One /v1/models entry from what the catalog says (may be NULL) and what this process serves (may be NULL). */
static json_t *model_entry(const json_t *cat, const struct model *m, const char *name, bool detail)
{
	json_t *o = json_object(), *active = json_object_get(cat, "active_version");
	const json_t *version_row = NULL;
	json_t *metrics = NULL;
	char ts[40];
	const char *status;

	if (!o)
		return NULL;
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "description",
			    json_string(json_string_value(json_object_get(cat, "description"))
					? json_string_value(json_object_get(cat, "description"))
					: ""));
	json_object_set_new(o, "active_version", json_is_integer(active) ? json_copy(active) : json_null());
	json_object_set_new(o, "serving_version", m ? json_integer(m->version) : json_null());
	if (m) {
		util_format_time(ts, sizeof ts, m->loaded_at);
		json_object_set_new(o, "loaded_at", json_string(ts));
	} else {
		json_object_set_new(o, "loaded_at", json_null());
	}
	if (!m)
		status = "not_loaded";
	else if (!cat || (json_is_integer(active) && json_integer_value(active) == m->version))
		status = "serving";
	else
		status = "stale";
	json_object_set_new(o, "status", json_string(status));
	if (m && m->metrics_json)
		metrics = json_loads(m->metrics_json, 0, NULL);
	else if (cat && json_is_integer(active) &&
		 (version_row = find_catalog_version(cat, (int)json_integer_value(active))))
		metrics = json_incref(json_object_get(version_row, "metrics"));
	json_object_set_new(o, "metrics", headline_metrics(metrics));
	json_decref(metrics);
	if (m) {
		json_object_set_new(o, "objective", json_string(spec_objective_name(m->spec.objective)));
		json_object_set_new(o, "promotion_levels", model_levels(m));
		json_object_set_new(o, "inputs", model_inputs(m));
	} else {
		json_object_set_new(o, "objective", json_null());
		json_object_set_new(o, "promotion_levels", json_array());
		json_object_set_new(o, "inputs", json_array());
	}
	if (detail) {
		json_t *versions = json_array();
		const json_t *v;
		size_t i;
		json_array_foreach(json_object_get(cat, "versions"), i, v)
			json_array_append_new(versions, json_deep_copy(v));
		json_object_set_new(o, "versions", versions);
	}
	return o;
}

static enum MHD_Result reply_jansson(struct server *srv, struct MHD_Connection *conn,
				     struct request *rq, unsigned status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT | JSONUTIL_DISPLAY) : NULL;
	json_decref(j);
	if (!text)
		return send_error(srv, conn, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "overloaded",
				  "out of memory", NULL, NULL);
	return send_body(srv, conn, rq, status, "application/json", text, strlen(text), true, NULL);
}

static enum MHD_Result handle_models(struct server *srv, struct MHD_Connection *conn,
				     struct request *rq, const char *only)
{
	char *catalog_text = watcher_catalog(srv->cfg.watcher);
	json_t *catalog = catalog_text ? json_loads(catalog_text, 0, NULL) : NULL;
	json_t *list = json_array(), *cat_models = json_object_get(catalog, "models"), *e;
	size_t n = 0, i, j;
	struct model **models = store_snapshot(srv->cfg.store, &n);
	bool found = false;

	free(catalog_text);
	/* Every model the registry knows, then any served model it does not list (no catalog yet). */
	json_array_foreach(cat_models, i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		const struct model *m = NULL;
		if (!name || (only && strcmp(only, name)))
			continue;
		for (j = 0; j < n; j++)
			if (!strcmp(models[j]->name, name))
				m = models[j];
		json_array_append_new(list, model_entry(e, m, name, only != NULL));
		found = true;
	}
	for (j = 0; j < n; j++) {
		bool listed = false;
		json_array_foreach(cat_models, i, e)
			if (json_string_value(json_object_get(e, "name")) &&
			    !strcmp(json_string_value(json_object_get(e, "name")), models[j]->name))
				listed = true;
		if (listed || (only && strcmp(only, models[j]->name)))
			continue;
		json_array_append_new(list, model_entry(NULL, models[j], models[j]->name, only != NULL));
		found = true;
	}
	store_release_all(models, n);
	json_decref(catalog);
	if (only) {
		json_t *one = json_incref(json_array_get(list, 0));
		json_decref(list);
		if (!found) {
			char msg[160];
			json_decref(one);
			snprintf(msg, sizeof msg, "model \"%.64s\" does not exist", only);
			return send_error(srv, conn, rq, MHD_HTTP_NOT_FOUND, "not_found", msg, "name", NULL);
		}
		return reply_jansson(srv, conn, rq, MHD_HTTP_OK, one);
	}
	return reply_jansson(srv, conn, rq, MHD_HTTP_OK, json_pack("{s:o}", "models", list));
}

/* ---- activation ------------------------------------------------------------------------ */

static bool token_matches(const char *given, const char *expected)
{
	/* Compare digests, in constant time: no early exit, no length leak. */
	uint8_t a[SHA256_DIGEST_SIZE], b[SHA256_DIGEST_SIZE];
	struct sha256 ctx;
	unsigned diff = 0;
	size_t i;

	sha256_init(&ctx);
	sha256_update(&ctx, given, strlen(given));
	sha256_final(&ctx, a);
	sha256_init(&ctx);
	sha256_update(&ctx, expected, strlen(expected));
	sha256_final(&ctx, b);
	for (i = 0; i < SHA256_DIGEST_SIZE; i++)
		diff |= (unsigned)(a[i] ^ b[i]);
	return diff == 0;
}

static enum MHD_Result handle_activate(struct server *srv, struct MHD_Connection *conn,
				       struct request *rq, const char *name, int version)
{
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	const union MHD_ConnectionInfo *ci;
	char actor[96] = "api", ip[INET6_ADDRSTRLEN] = "";
	struct error err;
	struct strbuf sb;
	PGconn *c = NULL;
	int previous = 0;

	if (!srv->cfg.admin_token || !*srv->cfg.admin_token)
		return send_error(srv, conn, rq, MHD_HTTP_FORBIDDEN, "forbidden",
				  "activation over the API is off: start the server with --admin-token "
				  "or SHELFCAST_ADMIN_TOKEN",
				  NULL, NULL);
	if (!auth || strncmp(auth, "Bearer ", 7) || !token_matches(auth + 7, srv->cfg.admin_token))
		return send_error(srv, conn, rq, MHD_HTTP_UNAUTHORIZED, "unauthorized",
				  auth ? "the bearer token is not valid" : "an Authorization: Bearer token is required",
				  NULL, NULL);
	if (!srv->cfg.db_conninfo)
		return send_error(srv, conn, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "database_unavailable",
				  "this server has no registry database", NULL, NULL);
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, ip, sizeof ip);
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, ip, sizeof ip);
		snprintf(actor, sizeof actor, "api:%s", ip);
	}
	error_init(&err);
	if (db_connect(srv->cfg.db_conninfo, &c, &err) == ERROR_OK &&
	    registry_activate(c, name, version, actor, &previous, &err) == ERROR_OK) {
		PQfinish(c);
		watcher_kick(srv->cfg.watcher);
		snprintf(rq->model, sizeof rq->model, "%s", name);
		rq->version = version;
		strbuf_init(&sb);
		strbuf_puts(&sb, "{\"model\":");
		strbuf_json_string(&sb, name, strlen(name));
		strbuf_printf(&sb, ",\"version\":%d,\"previous_version\":", version);
		if (previous)
			strbuf_printf(&sb, "%d", previous);
		else
			strbuf_puts(&sb, "null");
		strbuf_puts(&sb, ",\"status\":\"active\"}");
		log_msg(LOG_INFO, "model_activated", "%s activated model %s version %d (was %d)", actor,
			name, version, previous);
		return send_json(srv, conn, rq, MHD_HTTP_OK, &sb);
	}
	PQfinish(c);
	if (err.code == ERROR_DB && strstr(err.message, "permission denied"))
		err.code = ERROR_CONFLICT, snprintf(err.message, sizeof err.message, "%s",
						    "the server's database role may not write: activation needs the "
						    "shelfcast_writer role (see README, least privilege)");
	return send_struct_error(srv, conn, rq, &err);
}

/* ---- predict -------------------------------------------------------------------------- */

static struct model *resolve(void *ctx, const char *name, struct error *err)
{
	return store_borrow(ctx, name, err);
}

static enum MHD_Result handle_predict(struct server *srv, struct MHD_Connection *conn,
				      struct request *rq)
{
	struct predict_outcome outcome;
	struct error err;
	struct strbuf reply;
	enum MHD_Result ret;
	enum error_code rc;

	error_init(&err);
	strbuf_init(&reply);
	rc = predict_run(rq->body.data ? rq->body.data : "", rq->body.len, srv->cfg.max_items, resolve,
			 srv->cfg.store, &reply, &outcome, &err);
	if (outcome.model) {
		util_copy(rq->model, sizeof rq->model, outcome.model->name);
		rq->version = outcome.model->version;
	}
	if (rc == ERROR_OK) {
		size_t i;
		rq->items = outcome.items;
		metrics_observe_items(outcome.model->name, outcome.model->version, outcome.items);
		for (i = 0; outcome.unknown_counts && i < outcome.model->spec.n_categorical; i++)
			if (outcome.unknown_counts[i])
				metrics_observe_unknown(outcome.model->name,
							outcome.model->spec.categorical[i].name,
							outcome.unknown_counts[i]);
		ret = send_json(srv, conn, rq, MHD_HTTP_OK, &reply);
	} else {
		strbuf_done(&reply);
		ret = send_struct_error(srv, conn, rq, &err);
	}
	predict_outcome_done(&outcome);
	return ret;
}

/* ---- dispatch --------------------------------------------------------------------------- */

/* "/v1/models/NAME" or "/v1/models/NAME/versions/N/activate". */
static bool parse_model_path(const char *url, char *name, size_t name_size, int *version,
			     bool *activate)
{
	const char *p = url + strlen("/v1/models/"), *slash = strchr(p, '/');
	size_t n = slash ? (size_t)(slash - p) : strlen(p);
	long long v;
	char num[16];
	const char *q;

	*activate = false;
	if (n == 0 || n >= name_size)
		return false;
	memcpy(name, p, n);
	name[n] = '\0';
	if (!slash)
		return true;
	if (strncmp(slash, "/versions/", 10))
		return false;
	q = slash + 10;
	slash = strchr(q, '/');
	if (!slash || strcmp(slash, "/activate") || (size_t)(slash - q) >= sizeof num)
		return false;
	memcpy(num, q, (size_t)(slash - q));
	num[slash - q] = '\0';
	if (!util_parse_long(num, 1, 2147483647, &v))
		return false;
	*version = (int)v;
	*activate = true;
	return true;
}

static enum metrics_route classify(const char *url, const char **allow, bool *body_route,
				   const char *method)
{
	char name[MODEL_NAME_MAX + 2];
	int version;
	bool activate;

	*body_route = false;
	*allow = "GET, HEAD";
	if (!strcmp(url, "/v1/predict")) {
		*allow = "POST";
		*body_route = !strcmp(method, MHD_HTTP_METHOD_POST);
		return METRICS_ROUTE_PREDICT;
	}
	if (!strcmp(url, "/healthz"))
		return METRICS_ROUTE_HEALTHZ;
	if (!strcmp(url, "/readyz"))
		return METRICS_ROUTE_READYZ;
	if (!strcmp(url, "/metrics"))
		return METRICS_ROUTE_METRICS;
	if (!strcmp(url, "/openapi.yaml"))
		return METRICS_ROUTE_OPENAPI;
	if (!strcmp(url, "/v1/models"))
		return METRICS_ROUTE_MODELS;
	if (!strncmp(url, "/v1/models/", 11) &&
	    parse_model_path(url, name, sizeof name, &version, &activate)) {
		if (activate) {
			*allow = "POST";
			*body_route = !strcmp(method, MHD_HTTP_METHOD_POST);
			return METRICS_ROUTE_ACTIVATE;
		}
		return METRICS_ROUTE_MODEL;
	}
	*allow = NULL;
	return METRICS_ROUTE_OTHER;
}

static void set_request_id(struct MHD_Connection *conn, struct request *rq)
{
	static const char hex[] = "0123456789abcdef";
	const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
	uint8_t raw[16];
	size_t i, n;

	if (given && (n = strlen(given)) > 0 && n <= REQUEST_ID_MAX) {
		for (i = 0; i < n; i++) {
			char c = given[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			      c == '-' || c == '_' || c == '.' || c == ':'))
				break;
		}
		if (i == n) {
			memcpy(rq->id, given, n + 1);
			rq->id_len = n;
			return;
		}
	}
	{
		uint64_t a = util_random_u64(), b = util_random_u64();
		memcpy(raw, &a, 8);
		memcpy(raw + 8, &b, 8);
	}
	for (i = 0; i < sizeof raw; i++) {
		rq->id[2 * i] = hex[raw[i] >> 4];
		rq->id[2 * i + 1] = hex[raw[i] & 15];
	}
	rq->id[32] = '\0';
	rq->id_len = 32;
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

static enum MHD_Result dispatch(struct server *srv, struct MHD_Connection *conn, struct request *rq,
				const char *url, const char *method)
{
	const char *allow = rq->allow;
	char name[MODEL_NAME_MAX + 2];
	int version = 0;
	bool activate;

	if (rq->route == METRICS_ROUTE_OTHER)
		return send_error(srv, conn, rq, MHD_HTTP_NOT_FOUND, "not_found", "no such route", NULL,
				  NULL);
	if (rq->route == METRICS_ROUTE_PREDICT || rq->route == METRICS_ROUTE_ACTIVATE) {
		if (strcmp(method, MHD_HTTP_METHOD_POST)) {
			char msg[96];
			snprintf(msg, sizeof msg, "method %.16s is not allowed here; use POST", method);
			return send_error(srv, conn, rq, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
					  msg, NULL, allow);
		}
	} else if (!is_get(method)) {
		char msg[96];
		snprintf(msg, sizeof msg, "method %.16s is not allowed here; use GET", method);
		return send_error(srv, conn, rq, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", msg,
				  NULL, allow);
	}
	switch (rq->route) {
	case METRICS_ROUTE_PREDICT:
		return handle_predict(srv, conn, rq);
	case METRICS_ROUTE_HEALTHZ:
		return handle_healthz(srv, conn, rq);
	case METRICS_ROUTE_READYZ:
		return handle_readyz(srv, conn, rq);
	case METRICS_ROUTE_METRICS:
		return handle_metrics(srv, conn, rq);
	case METRICS_ROUTE_OPENAPI:
		return send_body(srv, conn, rq, MHD_HTTP_OK, "application/yaml",
				 (char *)server_openapi_yaml, server_openapi_yaml_len, false, NULL);
	case METRICS_ROUTE_MODELS:
		return handle_models(srv, conn, rq, NULL);
	case METRICS_ROUTE_MODEL:
		parse_model_path(url, name, sizeof name, &version, &activate);
		return handle_models(srv, conn, rq, name);
	case METRICS_ROUTE_ACTIVATE:
		parse_model_path(url, name, sizeof name, &version, &activate);
		return handle_activate(srv, conn, rq, name, version);
	default:
		break;
	}
	return send_error(srv, conn, rq, MHD_HTTP_NOT_FOUND, "not_found", "no such route", NULL, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	struct server *srv = cls;
	struct request *rq = *req_cls;

	(void)version;
	if (!rq) {
		const char *cl;
		rq = new_request();
		if (!rq)
			return MHD_NO;
		rq->start_ns = util_now_ns();
		rq->path_len = util_copy(rq->path, sizeof rq->path, url);
		rq->method_len = util_copy(rq->method, sizeof rq->method, method);
		set_request_id(conn, rq);
		rq->route = classify(url, &rq->allow, &rq->body_route, method);
		count_in_flight(srv, 1, rq->start_ns);
		*req_cls = rq;
		/*
		 * Answer on a later call: a reply queued before the request is fully
		 * read makes libmicrohttpd close the connection (no keep-alive).
		 */
		if (!rq->body_route) {
			rq->cap = SMALL_BODY_CAP;
			return MHD_YES;
		}
		rq->cap = rq->route == METRICS_ROUTE_PREDICT ? srv->cfg.max_body : SMALL_BODY_CAP;
		if (rq->route == METRICS_ROUTE_PREDICT && !json_content_type(conn))
			return send_error(srv, conn, rq, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
					  "unsupported_media_type",
					  "Content-Type must be application/json", NULL, NULL);
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl) {
			long long len;
			if (!util_parse_long(cl, 0, 0x7fffffffffffffffLL, &len) ||
			    (unsigned long long)len > drain_limit(rq->cap)) {
				/* Far too large to even read: refuse now and close the connection. */
				char msg[128];
				snprintf(msg, sizeof msg, "the body is larger than the limit of %zu bytes",
					 rq->cap);
				return send_error(srv, conn, rq, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", msg,
						  NULL, NULL);
			}
			/*
			 * Over the cap but not absurdly: read and discard it, then answer 413,
			 * so a client that sends its whole body before reading sees the answer
			 * instead of a reset.  Nothing past the cap is kept.
			 */
			if ((unsigned long long)len > rq->cap)
				rq->too_large = true;
			else if (len > 0)
				strbuf_reserve(&rq->body, (size_t)len); /* one allocation for the body */
		}
		return MHD_YES;
	}
	if (*upload_size) {
		/* A body (chunked, say) can grow past the cap: from then on it is discarded. */
		if (!rq->too_large && rq->body.len + *upload_size <= rq->cap) {
			strbuf_append(&rq->body, upload, *upload_size);
		} else {
			rq->too_large = true;
			strbuf_done(&rq->body);
			rq->discarded += *upload_size;
			if (rq->discarded > drain_limit(rq->cap))
				return MHD_NO; /* an endless upload: close the connection */
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->status) /* answered on the first call */
		return MHD_YES;
	if (rq->too_large) {
		char msg[128];
		snprintf(msg, sizeof msg, "the body is larger than the limit of %zu bytes", rq->cap);
		return send_error(srv, conn, rq, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", msg, NULL, NULL);
	}
	if (strbuf_failed(&rq->body))
		return send_error(srv, conn, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "overloaded",
				  "out of memory reading the body", NULL, NULL);
	return dispatch(srv, conn, rq, url, method);
}

/* The request's access-log line, into the thread's buffer sb (reused: no allocation per request). */
static void access_log(struct strbuf *sb, const struct request *rq, uint64_t end_ns, double seconds,
		       enum MHD_RequestTerminationCode toe)
{
	strbuf_reset(sb);
	log_begin_at(sb, rq->status >= 500 ? LOG_ERROR : LOG_INFO, "request", util_unix_time_at(end_ns));
	/* the id is the client's only when it is of [A-Za-z0-9._:-]: nothing to escape */
	strbuf_puts(sb, ",\"id\":\"");
	strbuf_append(sb, rq->id, rq->id_len);
	strbuf_puts(sb, "\",\"method\":");
	strbuf_json_string(sb, rq->method, rq->method_len);
	strbuf_puts(sb, ",\"path\":");
	strbuf_json_string(sb, rq->path, rq->path_len);
	strbuf_puts(sb, ",\"status\":");
	strbuf_json_int(sb, rq->status);
	strbuf_puts(sb, ",\"duration_ms\":");
	strbuf_json_int(sb, (long long)(seconds * 1e6) / 1000);
	strbuf_putc(sb, '.');
	{
		long long us = (long long)(seconds * 1e6) % 1000;
		char frac[4] = {(char)('0' + us / 100), (char)('0' + us / 10 % 10), (char)('0' + us % 10), 0};
		strbuf_puts(sb, frac);
	}
	strbuf_puts(sb, ",\"items\":");
	strbuf_json_int(sb, (long long)rq->items);
	if (rq->model[0]) {
		strbuf_puts(sb, ",\"model\":");
		strbuf_json_string(sb, rq->model, strlen(rq->model));
		strbuf_puts(sb, ",\"version\":");
		strbuf_json_int(sb, rq->version);
	} else {
		strbuf_puts(sb, ",\"model\":null,\"version\":null");
	}
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		strbuf_printf(sb, ",\"terminated\":%d", (int)toe);
	log_end_buffered(sb);
	if (strbuf_failed(sb))
		strbuf_done(sb);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct server *srv = cls;
	struct request *rq = *req_cls;
	struct worker *w = this_worker();
	struct strbuf *sb = w ? &w->line : NULL;
	uint64_t end_ns;
	double seconds;

	(void)conn;
	if (!rq)
		return;
	*req_cls = NULL;
	end_ns = util_now_ns();
	seconds = (double)(end_ns - rq->start_ns) / 1e9;
	if (!rq->status) /* the client went away or the connection failed before a reply went out */
		rq->status = 499;
	metrics_observe_request(rq->route, rq->status, seconds);
	if (sb) /* without it (out of memory), the request still counts, unlogged */
		access_log(sb, rq, end_ns, seconds, toe);
	release_request(w, rq);
	count_in_flight(srv, -1, 0);
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

static enum error_code bind_listen(const char *spec, int *fd_out, char *bound, size_t bound_size,
				   struct error *err)
{
	char host[128] = "", port_s[16] = "";
	struct sockaddr_storage ss;
	socklen_t slen;
	const char *colon;
	long long port;
	int fd, one = 1;

	memset(&ss, 0, sizeof ss);
	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');
		if (!end || end[1] != ':' || (size_t)(end - spec - 1) >= sizeof host)
			goto bad;
		memcpy(host, spec + 1, (size_t)(end - spec - 1));
		snprintf(port_s, sizeof port_s, "%s", end + 2);
	} else if ((colon = strrchr(spec, ':'))) {
		if ((size_t)(colon - spec) >= sizeof host)
			goto bad;
		memcpy(host, spec, (size_t)(colon - spec));
		snprintf(port_s, sizeof port_s, "%s", colon + 1);
	} else {
		snprintf(port_s, sizeof port_s, "%s", spec);
	}
	if (!util_parse_long(port_s, 0, 65535, &port))
		goto bad;
	if (!host[0] || !strcmp(host, "*"))
		snprintf(host, sizeof host, "0.0.0.0");
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		slen = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		slen = sizeof(struct sockaddr_in6);
	} else {
		goto bad;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return error_set(err, ERROR_IO, "listen", "cannot create a socket for %s: %s", spec,
				 strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, slen) != 0 || listen(fd, 4096) != 0) {
		int e = errno;
		close(fd);
		return error_set(err, ERROR_IO, "listen", "cannot listen on %s: %s%s", spec, strerror(e),
				 e == EADDRINUSE ? " (another process holds this port; choose --listen)" : "");
	}
	slen = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &slen);
	if (ss.ss_family == AF_INET6) {
		char a[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof a);
		snprintf(bound, bound_size, "[%s]:%u", a, ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	} else {
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof a);
		snprintf(bound, bound_size, "%s:%u", a, ntohs(((struct sockaddr_in *)&ss)->sin_port));
	}
	*fd_out = fd;
	return ERROR_OK;
bad:
	return error_set(err, ERROR_INVALID, "listen",
			 "--listen \"%s\": expected HOST:PORT, [IPV6]:PORT or PORT with a numeric "
			 "address",
			 spec);
}

enum error_code server_start(const struct server_config *cfg, struct server **out,
			     struct error *err)
{
	struct server *srv = calloc(1, sizeof *srv);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
			 MHD_USE_TURBO | MHD_USE_ERROR_LOG;
	struct MHD_OptionItem opts[16];
	size_t n = 0;
	enum error_code rc;

	*out = NULL;
	/* First, so that every message of libmicrohttpd goes through it. */
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL};
	if (!srv)
		return error_nomem(err, "the server");
	srv->cfg = *cfg;
	srv->listen_fd = -1;
	srv->started_at = util_unix_time();
	if (!srv->cfg.threads)
		srv->cfg.threads = util_cpu_count();
	if ((cfg->tls_cert && *cfg->tls_cert) != (cfg->tls_key && *cfg->tls_key)) {
		rc = error_set(err, ERROR_INVALID, "tls", "--tls-cert and --tls-key go together");
		goto fail;
	}
	if (cfg->tls_cert && *cfg->tls_cert) {
		rc = tls_add_options(cfg->tls_cert, cfg->tls_key, cfg->tls_allow_readable_key,
				     &srv->tls_cert_pem, &srv->tls_key_pem, opts, &n, err);
		if (rc)
			goto fail;
		flags |= MHD_USE_TLS;
	}
	rc = bind_listen(cfg->listen, &srv->listen_fd, srv->address, sizeof srv->address, err);
	if (rc)
		goto fail;
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, srv->listen_fd, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, srv->cfg.threads, NULL};
	/*
	 * libmicrohttpd zeroes a connection's whole memory pool for every request
	 * (MHD_pool_reset): 32 KiB by default, the largest single cost it adds to
	 * a small request.  16 KiB still holds request headers of up to ~8 KiB.
	 */
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, cfg->connection_limit, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv};
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
	*out = srv;
	return ERROR_OK;
fail:
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	free(srv->tls_cert_pem);
	free(srv->tls_key_pem);
	free(srv);
	return rc;
}

const char *server_address(const struct server *s)
{
	return s->address;
}

void server_stop(struct server *s, double drain_seconds)
{
	double deadline;
	int idle;

	if (!s)
		return;
	atomic_store(&s->draining, true);
	/*
	 * Stop accepting: new connections are refused at once, in-flight ones go
	 * on.  Not with MHD_quiesce_daemon: with epoll worker threads it races a
	 * worker that removes the listening socket from its epoll set too, and the
	 * loser aborts the process ("Failed to remove listen FD from epoll set",
	 * seen here in a test's SIGTERM).  Instead the listening socket is closed
	 * under libmicrohttpd: a fresh socket that never listens takes its number
	 * (dup2), the kernel refuses new connections and drops the old socket from
	 * every epoll set by itself, and libmicrohttpd closes the stand-in when it
	 * stops.
	 */
	idle = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (idle < 0 || dup2(idle, s->listen_fd) < 0)
		log_msg(LOG_WARN, "drain", "cannot close the listening socket (%s): new connections are "
			"still accepted while draining", strerror(errno));
	if (idle >= 0)
		close(idle);
	/*
	 * Requests clients already sent on open connections may not have been read
	 * yet (every worker busy): done means nothing in flight and nothing new
	 * begun for a while.  Replies carry "Connection: close" meanwhile.
	 */
	deadline = util_now_s() + drain_seconds;
	while (util_now_s() < deadline) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		uint64_t last = 0, quiet;
		long in_flight = 0;
		size_t i;
		for (i = 0; i < ACTIVITY_SLOTS; i++) {
			uint64_t t = atomic_load(&s->activity[i].last_start_ns);
			in_flight += atomic_load(&s->activity[i].in_flight);
			last = t > last ? t : last;
		}
		quiet = util_now_ns() - last;
		if (in_flight == 0 && quiet > DRAIN_QUIET_NS)
			break;
		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(s->daemon);
	free(s->tls_cert_pem);
	free(s->tls_key_pem);
	free(s);
}

/* api — see include/shelfcast/api.h. */
#include "shelfcast/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/db.h"
#include "shelfcast/log.h"
#include "shelfcast/models_view.h"
#include "shelfcast/outcomes_api.h"
#include "shelfcast/recommend_api.h"
#include "shelfcast/registry.h"
#include "shelfcast/sha256.h"
#include "shelfcast/util.h"

extern const char server_openapi_yaml[];
extern const size_t server_openapi_yaml_len;

enum error_code api_worker_init(struct api_worker *w, struct store *store, struct predlog *log,
				struct error *err)
{
	w->predict = predict_api_scratch_new();
	w->models = store_borrower_new(store);
	w->metrics = metrics_shard_new();
	if (!w->predict || !w->models || !w->metrics || predlog_writer_init(&w->log, log, err) != ERROR_OK) {
		api_worker_done(w);
		return error_nomem(err, "a worker's state");
	}
	predict_api_set_log(w->predict, &w->log);
	return ERROR_OK;
}

void api_worker_done(struct api_worker *w)
{
	predict_api_scratch_free(w->predict);
	store_borrower_free(w->models);
	predlog_writer_done(&w->log);
	/* a metrics shard is never freed: its counts still count */
	memset(w, 0, sizeof *w);
}

static void healthz(const struct api_config *cfg, struct reply *out)
{
	struct strbuf sb;
	size_t n = 0;
	struct model **models = store_snapshot(cfg->store, &n);

	store_release_all(models, n);
	strbuf_init(&sb);
	strbuf_printf(&sb,
		      "{\"status\":\"ok\",\"database\":\"%s\",\"models_loaded\":%zu,"
		      "\"uptime_seconds\":%.3f,\"notify\":\"%s\"}",
		      watcher_db_up(cfg->watcher) ? "ok" : "unreachable", n,
		      util_unix_time() - cfg->started_at, watcher_notify_mode(cfg->watcher));
	reply_json(out, 200, &sb);
}

static void readyz(const struct api_config *cfg, bool draining, struct reply *out)
{
	char reason[256] = "", msg[512];
	struct strbuf sb;

	if (draining) {
		reply_error(out, 503, "not_ready", "shutting down", NULL);
		return;
	}
	if (!store_ready(cfg->store, reason, sizeof reason)) {
		snprintf(msg, sizeof msg, "%s%s", reason,
			 watcher_db_up(cfg->watcher) ? "" : " (the registry database is unreachable)");
		reply_error(out, 503, "not_ready", msg, NULL);
		return;
	}
	strbuf_init(&sb);
	strbuf_puts(&sb, "{\"status\":\"ready\"}");
	reply_json(out, 200, &sb);
}

static void metrics(const struct api_config *cfg, struct reply *out)
{
	struct strbuf sb;

	strbuf_init(&sb);
	metrics_render(&sb, cfg->store, cfg->watcher);
	metrics_render_predlog(&sb, cfg->predlog);
	reply_text(out, 200, "text/plain; version=0.0.4; charset=utf-8", &sb);
}

/* GET /v1/models/{name}/inputs/{input}: one input of a served model, its whole vocabulary. */
static void model_input(const struct api_config *cfg, const char *name, const char *input,
			struct reply *out)
{
	struct error err;
	struct model *m;
	json_t *view = NULL;
	bool served;
	char msg[320];

	error_init(&err);
	m = store_acquire(cfg->store, name, &err);
	served = m != NULL;
	if (m)
		view = models_view_input(m, input, true);
	model_unref(m);
	if (!view) {
		snprintf(msg, sizeof msg, served ? "model \"%.64s\" has no input \"%.128s\""
						 : "model \"%.64s\" is not served here",
			 name, input);
		reply_error(out, 404, "not_found", msg, served ? "input" : "name");
		return;
	}
	reply_jansson(out, 200, view);
}

static void models(const struct api_config *cfg, const char *only, struct reply *out)
{
	char *catalog = watcher_catalog(cfg->watcher), msg[160];
	size_t n = 0;
	struct model **served = store_snapshot(cfg->store, &n);
	bool found;
	json_t *view = models_view(catalog, served, n, only, &found);
	char default_name[MODEL_NAME_MAX + 1];

	models_view_mark_default(view, store_default_name(cfg->store, default_name,
							  sizeof default_name)
					       ? default_name
					       : NULL);
	if (only && view)
		models_view_add_drift(view, served, n, cfg->drift_window);
	free(catalog);
	store_release_all(served, n);
	if (only && !found) {
		snprintf(msg, sizeof msg, "model \"%.64s\" does not exist", only);
		reply_error(out, 404, "not_found", msg, "name");
		return;
	}
	if (only) {
		char *live = predlog_live(cfg->predlog);
		models_view_add_live(view, live);
		free(live);
	}
	reply_jansson(out, 200, view);
}

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

/* May this request use an admin route (route_admin)?  When not, out says why. */
static bool authorized(const struct api_config *cfg, const char *auth, struct reply *out)
{
	if (!cfg->admin_token || !*cfg->admin_token) {
		reply_error(out, 403, "forbidden",
			    "the admin routes (activation, outcomes) are off: start the server with "
			    "--admin-token or SHELFCAST_ADMIN_TOKEN",
			    NULL);
		return false;
	}
	if (!auth || strncmp(auth, "Bearer ", 7) || !token_matches(auth + 7, cfg->admin_token)) {
		reply_error(out, 401, "unauthorized",
			    auth ? "the bearer token is not valid" : "an Authorization: Bearer token is required",
			    NULL);
		return false;
	}
	if (!cfg->db_conninfo) {
		reply_error(out, 503, "database_unavailable", "this server has no registry database", NULL);
		return false;
	}
	return true;
}

/* An admin route's failure; a refusal by the database's grants says which role the route needs. */
static void reply_write_error(struct reply *out, struct error *err, const char *grant_needed)
{
	if (err->code == ERROR_PERMISSION)
		snprintf(err->message, sizeof err->message, "%s", grant_needed);
	reply_from_error(out, err);
}

static void activate(const struct api_config *cfg, const struct api_request *rq, struct reply *out,
		     struct api_result *res)
{
	const char *name = rq->target.name;
	int version = rq->target.version, previous = 0;
	struct error err;
	struct strbuf sb;
	PGconn *c = NULL;

	error_init(&err);
	if (db_connect(cfg->db_conninfo, &c, &err) == ERROR_OK &&
	    registry_activate(c, name, version, rq->client, &previous, &err) == ERROR_OK) {
		PQfinish(c);
		watcher_kick(cfg->watcher);
		util_copy(res->model, sizeof res->model, name);
		res->version = version;
		strbuf_init(&sb);
		strbuf_puts(&sb, "{\"model\":");
		strbuf_json_string(&sb, name, strlen(name));
		strbuf_printf(&sb, ",\"version\":%d,\"previous_version\":", version);
		if (previous)
			strbuf_printf(&sb, "%d", previous);
		else
			strbuf_puts(&sb, "null");
		strbuf_puts(&sb, ",\"status\":\"active\"}");
		log_msg(LOG_INFO, "model_activated", "%s activated model %s version %d (was %d)",
			rq->client, name, version, previous);
		reply_json(out, 200, &sb);
		return;
	}
	PQfinish(c);
	reply_write_error(out, &err,
			  "the server's database role may not write: activation needs the "
			  "shelfcast_writer role (see docs/deployment.md, least privilege)");
}

/* POST /v1/outcomes: what happened to logged predictions (admin token, as activation). */
static void outcomes(const struct api_config *cfg, const struct api_request *rq, struct reply *out)
{
	struct outcomes_counts counts = {0};
	struct outcomes o;
	struct error err;
	struct strbuf sb;
	PGconn *c = NULL;

	error_init(&err);
	outcomes_init(&o);
	if (outcomes_api_parse(rq->body, rq->len, &o, &err) == ERROR_OK &&
	    db_connect(cfg->db_conninfo, &c, &err) == ERROR_OK &&
	    outcomes_record(c, &o, 0, o.n, &counts, &err) == ERROR_OK) {
		PQfinish(c);
		predlog_kick(cfg->predlog); /* live accuracy read again soon */
		log_msg(LOG_INFO, "outcomes_recorded", "%s recorded %lld outcomes (%lld unknown, %lld duplicate)",
			rq->client, counts.accepted, counts.unknown_prediction, counts.duplicate);
		strbuf_init(&sb);
		outcomes_api_reply(&sb, &counts);
		reply_json(out, 200, &sb);
		outcomes_done(&o);
		return;
	}
	PQfinish(c);
	outcomes_done(&o);
	reply_write_error(out, &err,
			  "the server's database role may not record outcomes: it needs EXECUTE on "
			  "shelfcast.record_outcomes (shelfcast_reader or shelfcast_writer, migration 0005)");
}

/*
 * The resolver of both parsers: a plain name (or none) from the worker's
 * borrower; NAME@VERSION from it too when that is the version served, else
 * from the pinned versions (held in w->pinned until the request is done).
 */
static struct model *borrow(void *ctx, const char *name, struct error *err)
{
	struct api_worker *w = ctx;
	char base[MODEL_NAME_MAX + 1];
	struct error served;
	struct model *m;
	bool loaded;
	int version;

	if (!name || !strchr(name, '@'))
		return store_borrow(w->models, name, err);
	if (!versions_parse_pin(name, base, &version, err))
		return NULL;
	error_init(&served);
	m = store_borrow(w->models, base, &served);
	if (m && m->version == version)
		return m;
	if (!w->versions) {
		error_set(err, ERROR_NOT_FOUND, "model",
			  "version %d of model \"%s\" is not served here", version, base);
		return NULL;
	}
	model_unref(w->pinned); /* the fast parser's, when it gave the request up to the other */
	w->pinned = versions_get(w->versions, base, version, &loaded, err);
	if (loaded)
		log_msg(LOG_INFO, "version_loaded", "loaded model %s version %d for pinned requests (%zu kept)",
			base, version, versions_loaded(w->versions));
	return w->pinned;
}

/* What a successful /v1/predict counts: the drift window (one lock per request), the items, unknown categories. */
static void observe_predicted(const struct api_config *cfg, struct api_worker *w, const struct predict_outcome *o)
{
	const struct drift_tally *tally = predict_api_scratch_tally(w->predict);
	size_t i;

	if (tally) /* the window is the model's, shared */
		drift_window_commit(model_drift(o->model, cfg->drift_window), tally);
	metrics_observe_items(w->metrics, o->model->name, o->model->version, o->items);
	for (i = 0; o->unknown_counts && i < o->model->spec.n_categorical; i++)
		if (o->unknown_counts[i])
			metrics_observe_unknown(w->metrics, o->model->name, o->model->spec.categorical[i].name,
						o->unknown_counts[i]);
}

/*
 * POST /v1/predict and /v1/recommend: the models borrowed for the request,
 * its log records committed with the reply or rolled back with an error.
 */
static void scoring(const struct api_config *cfg, struct api_worker *w, const struct api_request *rq,
		    bool recommend, struct reply *out, struct api_result *res)
{
	struct predict_outcome outcome;
	struct error err;
	struct strbuf reply;
	enum error_code rc;

	error_init(&err);
	strbuf_init(&reply);
	store_borrow_begin(w->models);
	w->versions = cfg->versions;
	predlog_begin(&w->log, util_unix_time());
	if (recommend) {
		rc = recommend_api_run_logged(w->predict, rq->body, rq->len, &cfg->limits, borrow, w, &w->log, &reply,
					      &outcome, &err);
	} else {
		predict_api_scratch_track_drift(w->predict, cfg->drift_window);
		rc = predict_api_run(w->predict, rq->body, rq->len, &cfg->limits, borrow, w, &reply, &outcome, &err);
	}
	if (rc != ERROR_OK) {
		predlog_rollback(&w->log);
		strbuf_done(&reply);
		reply_from_error_details(out, &err, outcome.error_details);
	} else {
		predlog_commit(&w->log);
		reply_json(out, 200, &reply);
		res->items = outcome.items;
		if (recommend)
			metrics_observe_recommended(w->metrics, outcome.model->name, outcome.model->version,
						    outcome.items);
		else
			observe_predicted(cfg, w, &outcome);
	}
	if (outcome.model) {
		util_copy(res->model, sizeof res->model, outcome.model->name);
		res->version = outcome.model->version;
	}
	predict_outcome_done(&outcome);
	store_borrow_end(w->models); /* the outcome's model is not used past here */
	model_unref(w->pinned);
	w->pinned = NULL;
}

/* A 405 naming what the route takes. */
static void wrong_method(const struct api_request *rq, struct reply *out)
{
	const char *allow = route_allow(rq->target.id);
	char msg[96];

	snprintf(msg, sizeof msg, "method %.16s is not allowed here; use %s", rq->method,
		 strcmp(allow, "POST") ? "GET" : "POST");
	reply_error(out, 405, "method_not_allowed", msg, NULL);
	out->allow = allow;
}

void api_handle(const struct api_config *cfg, struct api_worker *w, const struct api_request *rq,
		struct reply *out, struct api_result *res)
{
	memset(res, 0, sizeof *res);
	if (rq->target.id == ROUTE_OTHER) {
		reply_error(out, 404, "not_found", "no such route", NULL);
		return;
	}
	if (!route_allows(rq->target.id, rq->method)) {
		wrong_method(rq, out);
		return;
	}
	if (route_admin(rq->target.id) && !authorized(cfg, rq->authorization, out))
		return;
	switch (rq->target.id) {
	case ROUTE_PREDICT:
		scoring(cfg, w, rq, false, out, res);
		return;
	case ROUTE_RECOMMEND:
		scoring(cfg, w, rq, true, out, res);
		return;
	case ROUTE_HEALTHZ:
		healthz(cfg, out);
		return;
	case ROUTE_READYZ:
		readyz(cfg, rq->draining, out);
		return;
	case ROUTE_METRICS:
		metrics(cfg, out);
		return;
	case ROUTE_OPENAPI:
		reply_static(out, 200, "application/yaml", server_openapi_yaml, server_openapi_yaml_len);
		return;
	case ROUTE_MODELS:
		models(cfg, NULL, out);
		return;
	case ROUTE_MODEL:
		models(cfg, rq->target.name, out);
		return;
	case ROUTE_ACTIVATE:
		activate(cfg, rq, out, res);
		return;
	case ROUTE_MODEL_INPUT:
		model_input(cfg, rq->target.name, rq->target.input, out);
		return;
	case ROUTE_OUTCOMES:
		outcomes(cfg, rq, out);
		return;
	case ROUTE_OTHER:
	case ROUTE_COUNT:
		break;
	}
	reply_error(out, 404, "not_found", "no such route", NULL);
}

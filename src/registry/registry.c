/* registry — see include/shelfcast/registry.h. */
#include "shelfcast/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/db.h"
#include "shelfcast/strbuf.h"
#include "shelfcast/util.h"

const char *const *registry_version_params(struct registry_version_params *vp, const char *model,
					   long long n)
{
	snprintf(vp->number, sizeof vp->number, "%lld", n);
	vp->p[0] = model;
	vp->p[1] = vp->number;
	return vp->p;
}

/* db_query with $1 the model and $2 the number n. */
static enum error_code query_version(PGconn *c, const char *sql, const char *model, long long n,
				     PGresult **out, struct error *err)
{
	struct registry_version_params vp;
	return db_query(c, sql, 2, registry_version_params(&vp, model, n), out, err);
}

/* Run a parameterized statement, dropping the result. */
static enum error_code run(PGconn *c, const char *sql, int n, const char *const *params,
			   struct error *err)
{
	PGresult *r;
	enum error_code rc = db_query(c, sql, n, params, &r, err);
	PQclear(r);
	return rc;
}

static enum error_code event(PGconn *c, const char *model, int version, const char *ev,
			     const char *actor, const char *detail_json, struct error *err)
{
	struct registry_version_params vp;
	const char *const *mv = registry_version_params(&vp, model, version);
	const char *params[5] = {mv[0], mv[1], ev, actor, detail_json ? detail_json : "{}"};
	return run(c,
		   "INSERT INTO shelfcast.model_events (model, version, event, actor, detail) "
		   "VALUES ($1, nullif($2, '0')::integer, $3, $4, $5::jsonb)",
		   5, params, err);
}

static void shape_text(const struct tensor *t, char *out, size_t size)
{
	size_t d, o = 0;
	o += (size_t)snprintf(out + o, size - o, "{");
	for (d = 0; d < t->ndim && o < size; d++)
		o += (size_t)snprintf(out + o, size - o, "%s%zu", d ? "," : "", t->shape[d]);
	if (o < size)
		snprintf(out + o, size - o, "}");
}

static enum error_code insert_tensor(PGconn *c, const char *model, const char *version,
				     const struct tensor *t, struct error *err)
{
	char shape[128];
	const char *params[6] = {model, version, t->name, t->dtype, shape, t->data};
	int lengths[6] = {0, 0, 0, 0, 0, (int)t->nbytes};
	int formats[6] = {0, 0, 0, 0, 0, 1};
	PGresult *r;
	enum error_code rc = ERROR_OK;

	if (t->nbytes > 0x3fffffff)
		return error_set(err, ERROR_TOO_LARGE, t->name, "tensor %s is larger than 1 GiB",
				 t->name);
	shape_text(t, shape, sizeof shape);
	r = PQexecParams(c,
			 "INSERT INTO shelfcast.model_tensors (model, version, name, dtype, shape, data) "
			 "VALUES ($1, $2, $3, $4, $5::integer[], $6)",
			 6, NULL, params, lengths, formats, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = db_result_error(c, r, "cannot store a tensor", err);
	PQclear(r);
	return rc;
}

/* Lock the model row; ERROR_NOT_FOUND when there is none. */
static enum error_code lock_model(PGconn *c, const char *model, struct error *err)
{
	const char *params[1] = {model};
	PGresult *r;
	enum error_code rc = db_query(c, "SELECT 1 FROM shelfcast.models WHERE name = $1 FOR UPDATE", 1,
				      params, &r, err);
	if (!rc && PQntuples(r) == 0)
		rc = error_set(err, ERROR_NOT_FOUND, "model", "model \"%s\" does not exist", model);
	PQclear(r);
	return rc;
}

enum error_code registry_active_version(PGconn *c, const char *model, int *version,
					struct error *err)
{
	const char *params[1] = {model};
	PGresult *r;
	enum error_code rc = db_query(
		c, "SELECT version FROM shelfcast.model_versions WHERE model = $1 AND status = 'active'",
		1, params, &r, err);
	*version = 0;
	if (!rc && PQntuples(r) == 1)
		*version = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return rc;
}

static enum error_code version_status(PGconn *c, const char *model, int version, char *status,
				      size_t size, struct error *err)
{
	PGresult *r;
	enum error_code rc;

	rc = query_version(c,
			   "SELECT status FROM shelfcast.model_versions WHERE model = $1 AND version = $2 "
			   "FOR UPDATE",
			   model, version, &r, err);
	if (!rc && PQntuples(r) == 0)
		rc = error_set(err, ERROR_NOT_FOUND, "version", "model \"%s\" has no version %d", model,
			       version);
	if (!rc)
		snprintf(status, size, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return rc;
}

/*
 * BEGIN, the model's row locked and, with status, the version's row locked
 * and its status read: what every change to a model's versions starts
 * with.  On failure no transaction is left open.
 */
static enum error_code begin_locked(PGconn *c, const char *model, int version, char *status,
				    size_t size, struct error *err)
{
	enum error_code rc = db_exec(c, "BEGIN", err);

	if (rc)
		return rc;
	rc = lock_model(c, model, err);
	if (!rc && status)
		rc = version_status(c, model, version, status, size, err);
	return rc ? db_end(c, rc, err) : ERROR_OK;
}

/* Inside a transaction, with the model row locked: make version active. */
static enum error_code activate_locked(PGconn *c, const char *model, int version, const char *actor,
				       const char *ev, int *previous, struct error *err)
{
	char detail[160], status[16];
	struct registry_version_params vp;
	const char *const *params;
	int prev = 0;
	enum error_code rc;

	rc = version_status(c, model, version, status, sizeof status, err);
	if (!rc && !strcmp(status, "failed"))
		rc = error_set(err, ERROR_CONFLICT, "version",
			       "version %d of model \"%s\" failed validation and cannot be activated "
			       "(see `shelfcast models show %s`)",
			       version, model, model);
	if (!rc)
		rc = registry_active_version(c, model, &prev, err);
	if (rc)
		return rc;
	if (previous)
		*previous = prev;
	if (prev == version)
		return ERROR_OK;
	params = registry_version_params(&vp, model, version);
	rc = run(c,
		 "UPDATE shelfcast.model_versions SET status = 'archived' "
		 "WHERE model = $1 AND status = 'active'",
		 1, params, err);
	if (!rc)
		rc = run(c,
			 "UPDATE shelfcast.model_versions SET status = 'active', activated_at = now() "
			 "WHERE model = $1 AND version = $2",
			 2, params, err);
	if (prev)
		snprintf(detail, sizeof detail, "{\"from\": %d, \"to\": %d}", prev, version);
	else
		snprintf(detail, sizeof detail, "{\"from\": null, \"to\": %d}", version);
	if (!rc)
		rc = event(c, model, version, ev, actor, detail, err);
	return rc;
}

enum error_code registry_register(PGconn *c, const struct registry_version_in *in, bool activate,
				  int *version, struct error *err)
{
	char *spec_text = spec_to_string(in->spec), detail[256];
	struct registry_version_params vp;
	const char *v;
	const char *p_model[2] = {in->model, in->description ? in->description : ""};
	PGresult *r = NULL;
	enum error_code rc;
	size_t i;

	*version = 0;
	if (!spec_text)
		return error_nomem(err, "a spec");
	rc = db_exec(c, "BEGIN", err);
	if (rc)
		goto out;
	rc = run(c,
		 "INSERT INTO shelfcast.models (name, description) VALUES ($1, $2) "
		 "ON CONFLICT (name) DO NOTHING",
		 2, p_model, err);
	if (!rc)
		rc = lock_model(c, in->model, err);
	if (!rc)
		rc = db_query(c,
			      "SELECT coalesce(max(version), 0) + 1 FROM shelfcast.model_versions "
			      "WHERE model = $1",
			      1, p_model, &r, err);
	if (rc)
		goto end;
	*version = atoi(PQgetvalue(r, 0, 0));
	v = registry_version_params(&vp, in->model, *version)[1];
	{
		const char *params[6] = {in->model, v, spec_text,
					 in->metrics_json ? in->metrics_json : "{}",
					 in->training_json ? in->training_json : "{}", in->checksum};
		rc = run(c,
			 "INSERT INTO shelfcast.model_versions "
			 "(model, version, status, spec, metrics, training, checksum) "
			 "VALUES ($1, $2, 'staged', $3::jsonb, $4::jsonb, $5::jsonb, $6)",
			 6, params, err);
	}
	for (i = 0; !rc && i < in->n_tensors; i++)
		rc = insert_tensor(c, in->model, v, &in->tensors[i], err);
	snprintf(detail, sizeof detail, "{\"checksum\": \"%s\"}", in->checksum);
	if (!rc && in->trained_on_json) { /* the detail as jsonb, with what the version was trained on */
		const char *params[2] = {detail, in->trained_on_json};
		PGresult *merged = NULL;
		rc = db_query(c, "SELECT ($1::jsonb || jsonb_build_object('trained_on', $2::jsonb))::text", 2, params,
			      &merged, err);
		if (!rc)
			rc = event(c, in->model, *version, in->event ? in->event : "registered", in->actor,
				   PQgetvalue(merged, 0, 0), err);
		PQclear(merged);
	} else if (!rc) {
		rc = event(c, in->model, *version, in->event ? in->event : "registered", in->actor,
			   detail, err);
	}
	if (!rc && activate)
		rc = activate_locked(c, in->model, *version, in->actor, "activated", NULL, err);
end:
	rc = db_end(c, rc, err);
	if (rc)
		*version = 0;
out:
	PQclear(r);
	free(spec_text);
	return rc;
}

/* Parse "[64, 113]" (array_to_json of an integer[]) into a tensor shape. */
static bool parse_shape(const char *text, struct tensor *t)
{
	const char *p = text;
	t->ndim = 0;
	if (*p++ != '[')
		return false;
	while (*p && *p != ']') {
		char *end;
		long long d = strtoll(p, &end, 10);
		if (end == p || d < 0 || t->ndim >= TENSOR_MAX_DIMS)
			return false;
		t->shape[t->ndim++] = (size_t)d;
		p = end;
		if (*p == ',')
			p++;
	}
	return *p == ']';
}

enum error_code registry_load_version(PGconn *c, const char *model, int version,
				      struct model **out, struct error *err)
{
	struct registry_version_params vp;
	struct tensor *tensors = NULL;
	struct spec spec;
	PGresult *meta = NULL, *rows = NULL;
	enum error_code rc;
	int i, n;

	*out = NULL;
	rc = query_version(c,
			   "SELECT spec::text, checksum, metrics::text FROM shelfcast.model_versions "
			   "WHERE model = $1 AND version = $2",
			   model, version, &meta, err);
	if (rc)
		return rc;
	if (PQntuples(meta) == 0) {
		rc = error_set(err, ERROR_NOT_FOUND, "version", "model \"%s\" has no version %d", model,
			       version);
		goto out;
	}
	rows = PQexecParams(c,
			    "SELECT name, dtype, array_to_json(shape)::text, data "
			    "FROM shelfcast.model_tensors WHERE model = $1 AND version = $2 ORDER BY name",
			    2, NULL, registry_version_params(&vp, model, version), NULL, NULL, 1);
	if (PQresultStatus(rows) != PGRES_TUPLES_OK) {
		rc = db_result_error(c, rows, "cannot read the tensors", err);
		goto out;
	}
	n = PQntuples(rows);
	tensors = calloc((size_t)n + 1, sizeof *tensors);
	if (!tensors) {
		rc = error_nomem(err, "tensors");
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct tensor *t = &tensors[i];
		if (PQgetlength(rows, i, 0) >= (int)sizeof t->name ||
		    PQgetlength(rows, i, 1) >= (int)sizeof t->dtype ||
		    !parse_shape(PQgetvalue(rows, i, 2), t)) {
			rc = error_set(err, ERROR_INVALID, "tensor",
				       "tensor row %d of version %d has a malformed name, dtype or shape",
				       i, version);
			goto out;
		}
		memcpy(t->name, PQgetvalue(rows, i, 0), (size_t)PQgetlength(rows, i, 0));
		memcpy(t->dtype, PQgetvalue(rows, i, 1), (size_t)PQgetlength(rows, i, 1));
		t->data = PQgetvalue(rows, i, 3);
		t->nbytes = (size_t)PQgetlength(rows, i, 3);
	}
	rc = spec_parse_string(PQgetvalue(meta, 0, 0), (size_t)PQgetlength(meta, 0, 0), &spec, err);
	if (!rc)
		rc = model_new(model, version, &spec, tensors, (size_t)n, PQgetvalue(meta, 0, 1), out, err);
	if (!rc)
		rc = model_set_metrics(*out, PQgetvalue(meta, 0, 2), err);
	if (rc && *out) {
		model_unref(*out);
		*out = NULL;
	}
	if (rc == ERROR_PARSE && err) /* a spec that does not parse is an invalid version */
		err->code = rc = ERROR_INVALID;
out:
	free(tensors);
	PQclear(rows);
	PQclear(meta);
	return rc;
}

static void json_escape_into(char *out, size_t size, const char *s)
{
	struct strbuf sb;
	strbuf_init(&sb);
	strbuf_json_string(&sb, s, strlen(s));
	snprintf(out, size, "%s", sb.data ? sb.data : "\"\"");
	strbuf_done(&sb);
}

enum error_code registry_mark_failed(PGconn *c, const char *model, int version,
				     const char *reason, const char *actor, int restore,
				     struct error *err)
{
	char detail[ERROR_MESSAGE_MAX * 2 + 64], quoted[ERROR_MESSAGE_MAX * 2];
	struct registry_version_params vp;
	const char *const *params;
	int active = 0;
	enum error_code rc;

	params = registry_version_params(&vp, model, version);
	json_escape_into(quoted, sizeof quoted, reason);
	snprintf(detail, sizeof detail, "{\"reason\": %s}", quoted);
	rc = begin_locked(c, model, version, NULL, 0, err);
	if (rc)
		return rc;
	rc = run(c,
		 "UPDATE shelfcast.model_versions SET status = 'failed' "
		 "WHERE model = $1 AND version = $2",
		 2, params, err);
	if (!rc)
		rc = event(c, model, version, "load_failed", actor, detail, err);
	if (!rc && restore > 0 && restore != version)
		rc = registry_active_version(c, model, &active, err);
	if (!rc && restore > 0 && restore != version && active == 0)
		rc = activate_locked(c, model, restore, actor, "restored", NULL, err);
	return db_end(c, rc, err);
}

enum error_code registry_activate(PGconn *c, const char *model, int version, const char *actor,
				  int *previous, struct error *err)
{
	struct model *m = NULL;
	struct error load_err;
	char status[16];
	enum error_code rc;

	if (previous)
		*previous = 0;
	rc = begin_locked(c, model, version, status, sizeof status, err);
	if (rc)
		return rc;
	/* Validate exactly as a server would load it: a bad version never becomes active. */
	error_init(&load_err);
	if (registry_load_version(c, model, version, &m, &load_err) != ERROR_OK) {
		db_end(c, load_err.code, err); /* rolls back: marking it failed is a transaction of its own */
		if (load_err.code == ERROR_INVALID) {
			struct error ignored;
			error_init(&ignored);
			registry_mark_failed(c, model, version, load_err.message, actor, 0, &ignored);
			return error_set(err, ERROR_CONFLICT, "version",
					 "version %d of model \"%s\" is invalid and was marked failed: %s",
					 version, model, load_err.message);
		}
		*err = load_err;
		return load_err.code;
	}
	model_unref(m);
	rc = activate_locked(c, model, version, actor, "activated", previous, err);
	return db_end(c, rc, err);
}

/*
 * The version the event log says was active before `current`, checked
 * rather than trusted.  Only forward activations count (`activated`, not
 * `rolled_back` or `restored`): after v4 -> v3 by a rollback, the next one
 * reads how v3 was activated and goes to v2, stepping back through the
 * history instead of toggling between two versions.  The newest
 * activation event of `current` must say it
 * replaced `current` ("to"), name a whole version number other than it
 * ("from"), and that version must have been active before (archived, with
 * an activation time) and still load as a server would load it.
 */
static enum error_code rollback_target(PGconn *c, const char *model, int current, int *target,
				       struct error *err)
{
	PGresult *r = NULL;
	struct model *m = NULL;
	long long from = 0, to = 0;
	enum error_code rc;

	rc = query_version(c,
			   "SELECT detail->>'from', detail->>'to' FROM shelfcast.model_events "
			   "WHERE model = $1 AND version = $2 "
			   "AND event = 'activated' ORDER BY id DESC LIMIT 1",
			   model, current, &r, err);
	if (rc)
		return rc;
	if (PQntuples(r) == 0 || PQgetisnull(r, 0, 0)) {
		PQclear(r);
		return error_set(err, ERROR_CONFLICT, "model",
				 "nothing to roll back to: version %d was the first active version of "
				 "model \"%s\"",
				 current, model);
	}
	if (!util_parse_long(PQgetvalue(r, 0, 0), 1, 2147483647, &from) || from == current ||
	    PQgetisnull(r, 0, 1) || !util_parse_long(PQgetvalue(r, 0, 1), 1, 2147483647, &to) ||
	    to != current) {
		rc = error_set(err, ERROR_CONFLICT, "model",
			       "the event log of model \"%s\" does not say which version preceded "
			       "version %d (from %.20s, to %.20s): activate one with `shelfcast models "
			       "activate`",
			       model, current, PQgetvalue(r, 0, 0),
			       PQgetisnull(r, 0, 1) ? "null" : PQgetvalue(r, 0, 1));
		PQclear(r);
		return rc;
	}
	PQclear(r);
	rc = query_version(c,
			   "SELECT 1 FROM shelfcast.model_versions WHERE model = $1 AND version = $2 "
			   "AND status = 'archived' AND activated_at IS NOT NULL",
			   model, from, &r, err);
	if (!rc && PQntuples(r) == 0)
		rc = error_set(err, ERROR_CONFLICT, "model",
			       "the event log of model \"%s\" names version %lld as the one before "
			       "version %d, but it is not an archived, once active version: activate "
			       "one with `shelfcast models activate`",
			       model, from, current);
	PQclear(r);
	if (!rc)
		rc = registry_load_version(c, model, (int)from, &m, err);
	if (rc == ERROR_INVALID)
		error_prefix(err, "version %lld, the one to roll back to, does not load", from);
	model_unref(m);
	*target = (int)from;
	return rc;
}

enum error_code registry_rollback(PGconn *c, const char *model, const char *actor, int *from,
				  int *to, struct error *err)
{
	int current = 0, target = 0;
	enum error_code rc;

	*from = *to = 0;
	rc = begin_locked(c, model, 0, NULL, 0, err);
	if (rc)
		return rc;
	rc = registry_active_version(c, model, &current, err);
	if (!rc && current == 0)
		rc = error_set(err, ERROR_CONFLICT, "model", "model \"%s\" has no active version",
			       model);
	if (!rc)
		rc = rollback_target(c, model, current, &target, err);
	if (!rc)
		rc = activate_locked(c, model, target, actor, "rolled_back", NULL, err);
	rc = db_end(c, rc, err);
	if (rc)
		return rc;
	*from = current;
	*to = target;
	return ERROR_OK;
}

enum error_code registry_archive(PGconn *c, const char *model, int version, const char *actor,
				 struct error *err)
{
	char status[16];
	struct registry_version_params vp;
	const char *const *params;
	enum error_code rc;

	params = registry_version_params(&vp, model, version);
	rc = begin_locked(c, model, version, status, sizeof status, err);
	if (rc)
		return rc;
	if (!strcmp(status, "active"))
		rc = error_set(err, ERROR_CONFLICT, "version",
			       "version %d is the active version of \"%s\": activate or roll back to "
			       "another version first",
			       version, model);
	if (!rc && strcmp(status, "archived")) {
		rc = run(c,
			 "UPDATE shelfcast.model_versions SET status = 'archived' "
			 "WHERE model = $1 AND version = $2",
			 2, params, err);
		if (!rc)
			rc = event(c, model, version, "archived", actor, NULL, err);
	}
	return db_end(c, rc, err);
}

enum error_code registry_served(PGconn *c, struct registry_active **out, size_t *n, char *flagged,
				size_t size, struct error *err)
{
	PGresult *r;
	enum error_code rc;
	size_t k = 0;
	int i;

	*out = NULL;
	*n = 0;
	if (flagged)
		*flagged = '\0';
	/* one row per active version, and one for the default model when it has none */
	rc = db_query(c,
		      "SELECT m.name, v.version, m.is_default FROM shelfcast.models m "
		      "LEFT JOIN shelfcast.model_versions v ON v.model = m.name AND v.status = 'active' "
		      "WHERE v.version IS NOT NULL OR m.is_default ORDER BY m.name",
		      0, NULL, &r, err);
	if (rc)
		return rc;
	*out = calloc((size_t)PQntuples(r) + 1, sizeof **out);
	if (!*out) {
		PQclear(r);
		return error_nomem(err, "the active versions");
	}
	for (i = 0; i < PQntuples(r); i++) {
		if (flagged && !strcmp(PQgetvalue(r, i, 2), "t"))
			snprintf(flagged, size, "%s", PQgetvalue(r, i, 0));
		if (PQgetisnull(r, i, 1))
			continue;
		snprintf((*out)[k].model, sizeof (*out)[k].model, "%s", PQgetvalue(r, i, 0));
		(*out)[k++].version = atoi(PQgetvalue(r, i, 1));
	}
	*n = k;
	PQclear(r);
	return ERROR_OK;
}

enum error_code registry_active_versions(PGconn *c, struct registry_active **out, size_t *n,
					 struct error *err)
{
	return registry_served(c, out, n, NULL, 0, err);
}

enum error_code registry_catalog(PGconn *c, const char *model, char **json, struct error *err)
{
	const char *params[1] = {model};
	PGresult *r;
	enum error_code rc;

	*json = NULL;
	rc = db_query(
		c,
		"SELECT json_build_object('models', coalesce(json_agg(json_build_object("
		"  'name', m.name, 'description', m.description,"
		"  'created_at', to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
		"  'active_version', (SELECT v.version FROM shelfcast.model_versions v"
		"                     WHERE v.model = m.name AND v.status = 'active'),"
		"  'versions', (SELECT coalesce(json_agg(json_build_object("
		"      'version', v.version, 'status', v.status, 'checksum', v.checksum,"
		"      'metrics', v.metrics,"
		"      'created_at', to_char(v.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
		"      'activated_at', to_char(v.activated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"
		"      ORDER BY v.version), '[]'::json)"
		"    FROM shelfcast.model_versions v WHERE v.model = m.name)"
		") ORDER BY m.name), '[]'::json))::text, count(*) "
		"FROM shelfcast.models m WHERE $1::text IS NULL OR m.name = $1",
		1, params, &r, err);
	if (rc)
		return rc;
	if (model && atoi(PQgetvalue(r, 0, 1)) == 0) {
		PQclear(r);
		return error_set(err, ERROR_NOT_FOUND, "model", "model \"%s\" does not exist", model);
	}
	*json = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return *json ? ERROR_OK : error_nomem(err, "the catalog");
}

enum error_code registry_events(PGconn *c, const char *model, int limit, char **json,
				struct error *err)
{
	PGresult *r;
	enum error_code rc;

	*json = NULL;
	rc = query_version(c,
			   "SELECT coalesce(json_agg(json_build_object('id', e.id, 'version', e.version,"
			   " 'event', e.event, 'actor', e.actor,"
			   " 'at', to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
			   " 'detail', e.detail) ORDER BY e.id DESC), '[]'::json)::text "
			   "FROM (SELECT * FROM shelfcast.model_events WHERE model = $1 "
			   "      ORDER BY id DESC LIMIT $2) e",
			   model, limit, &r, err);
	if (rc)
		return rc;
	*json = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return *json ? ERROR_OK : error_nomem(err, "the events");
}

enum error_code registry_set_metrics(PGconn *c, const char *model, int version,
				     const char *metrics_json, const char *actor,
				     const char *detail_json, struct error *err)
{
	char status[16];
	struct registry_version_params vp;
	const char *const *mv;
	const char *params[3];
	enum error_code rc;

	mv = registry_version_params(&vp, model, version);
	params[0] = mv[0];
	params[1] = mv[1];
	params[2] = metrics_json;
	rc = begin_locked(c, model, version, status, sizeof status, err);
	if (rc)
		return rc;
	rc = run(c,
		 "UPDATE shelfcast.model_versions SET metrics = coalesce(metrics, '{}'::jsonb) || $3::jsonb "
		 "WHERE model = $1 AND version = $2",
		 3, params, err);
	if (!rc)
		rc = event(c, model, version, "evaluated", actor, detail_json, err);
	return db_end(c, rc, err);
}

/* versions — see include/shelfcast/versions.h. */
#include "shelfcast/versions.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/db.h"
#include "shelfcast/registry.h"
#include "shelfcast/util.h"

struct versions {
	pthread_mutex_t lock;      /* the entries */
	pthread_mutex_t load_lock; /* one load at a time; taken before lock, never while holding it */
	char *conninfo;
	size_t max, n;
	unsigned long long tick;
	struct {
		struct model *model; /* a reference the cache holds */
		unsigned long long used;
	} *entry;
};

struct versions *versions_new(const char *conninfo, size_t max_loaded)
{
	struct versions *v = calloc(1, sizeof *v);

	if (!v)
		return NULL;
	v->max = max_loaded ? max_loaded : 1;
	v->entry = calloc(v->max, sizeof *v->entry);
	v->conninfo = conninfo ? strdup(conninfo) : NULL;
	if (!v->entry || (conninfo && !v->conninfo)) {
		free(v->entry);
		free(v->conninfo);
		free(v);
		return NULL;
	}
	pthread_mutex_init(&v->lock, NULL);
	pthread_mutex_init(&v->load_lock, NULL);
	return v;
}

void versions_free(struct versions *v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < v->n; i++)
		model_unref(v->entry[i].model);
	free(v->entry);
	free(v->conninfo);
	pthread_mutex_destroy(&v->lock);
	pthread_mutex_destroy(&v->load_lock);
	free(v);
}

size_t versions_loaded(struct versions *v)
{
	size_t n;
	pthread_mutex_lock(&v->lock);
	n = v->n;
	pthread_mutex_unlock(&v->lock);
	return n;
}

bool versions_parse_pin(const char *text, char *out, int *version, struct error *err)
{
	const char *at = strchr(text, '@');
	long long n = 0;
	size_t len = at ? (size_t)(at - text) : strlen(text);

	*version = 0;
	snprintf(out, MODEL_NAME_MAX + 1, "%.*s", (int)(len > MODEL_NAME_MAX ? MODEL_NAME_MAX : len),
		 text);
	if (!at)
		return true;
	if (len == 0 || len > MODEL_NAME_MAX || !util_parse_long(at + 1, 1, 2147483647, &n)) {
		error_set(err, ERROR_INVALID, "model",
			  "model: \"%.80s\" is not NAME or NAME@VERSION (VERSION a whole number from 1)",
			  text);
		return false;
	}
	*version = (int)n;
	return true;
}

/* A new reference from the cache, or NULL; marks it used. */
static struct model *lookup(struct versions *v, const char *name, int version)
{
	struct model *m = NULL;
	size_t i;

	pthread_mutex_lock(&v->lock);
	for (i = 0; i < v->n; i++)
		if (v->entry[i].model->version == version && !strcmp(v->entry[i].model->name, name)) {
			m = model_ref(v->entry[i].model);
			v->entry[i].used = ++v->tick;
			break;
		}
	pthread_mutex_unlock(&v->lock);
	return m;
}

/* Keep m (the cache takes a reference); the least recently used goes when full. */
static void keep(struct versions *v, struct model *m)
{
	struct model *out = NULL;
	size_t i, oldest = 0;

	pthread_mutex_lock(&v->lock);
	if (v->n == v->max) {
		for (i = 1; i < v->n; i++)
			if (v->entry[i].used < v->entry[oldest].used)
				oldest = i;
		out = v->entry[oldest].model;
		v->entry[oldest] = v->entry[--v->n];
	}
	v->entry[v->n].model = model_ref(m);
	v->entry[v->n].used = ++v->tick;
	v->n++;
	pthread_mutex_unlock(&v->lock);
	model_unref(out); /* outside the lock: freeing a model may take a moment */
}

/* ERROR_OK when the registry serves that version pinned; else why not. */
static enum error_code servable(PGconn *c, const char *name, int version, struct error *err)
{
	struct registry_version_params vp;
	PGresult *r;
	enum error_code rc;

	rc = db_query(c,
		      "SELECT v.status, (SELECT e.detail->>'reason' FROM shelfcast.model_events e "
		      "  WHERE e.model = v.model AND e.version = v.version AND e.event = 'load_failed' "
		      "  ORDER BY e.id DESC LIMIT 1) "
		      "FROM shelfcast.model_versions v WHERE v.model = $1 AND v.version = $2",
		      2, registry_version_params(&vp, name, version), &r, err);
	if (rc)
		return rc;
	if (PQntuples(r) == 0)
		rc = error_set(err, ERROR_NOT_FOUND, "model", "model \"%s\" has no version %d", name,
			       version);
	else if (!strcmp(PQgetvalue(r, 0, 0), "failed"))
		rc = error_set(err, ERROR_CONFLICT, "model",
			       "version %d of model \"%s\" failed and does not serve: %s", version, name,
			       PQgetisnull(r, 0, 1) ? "no reason recorded" : PQgetvalue(r, 0, 1));
	PQclear(r);
	return rc;
}

struct model *versions_get(struct versions *v, const char *name, int version, bool *loaded,
			   struct error *err)
{
	struct model *m = lookup(v, name, version);
	PGconn *c = NULL;
	enum error_code rc;

	*loaded = false;
	if (m)
		return m;
	if (!v->conninfo) {
		error_set(err, ERROR_UNAVAILABLE, "model",
			  "version %d of model \"%s\" is not loaded and this server has no registry",
			  version, name);
		return NULL;
	}
	pthread_mutex_lock(&v->load_lock);
	m = lookup(v, name, version); /* loaded while this request waited for its turn */
	if (m)
		goto out;
	rc = db_connect(v->conninfo, &c, err);
	if (!rc)
		rc = servable(c, name, version, err);
	if (!rc)
		rc = registry_load_version(c, name, version, &m, err);
	if (rc == ERROR_INVALID) {
		char why[ERROR_MESSAGE_MAX];
		snprintf(why, sizeof why, "%s", err->message);
		error_set(err, ERROR_CONFLICT, "model", "version %d of model \"%s\" does not load: %.200s",
			  version, name, why);
	}
	if (m) {
		keep(v, m);
		*loaded = true;
	}
out:
	pthread_mutex_unlock(&v->load_lock);
	PQfinish(c);
	return m;
}

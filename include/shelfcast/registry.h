/*
 * registry — the model registry in PostgreSQL (migrations/0001_registry.sql):
 * versions, activation and rollback, the audit log, loading with full
 * validation.
 *
 * Every state change is one transaction that also writes a model_events row
 * (who, when, from which version to which); the status trigger NOTIFYs the
 * servers.  A version is validated (registry_load_version) before it can
 * become active, and one that fails is marked `failed` with the reason.
 *
 * Thread-safety: uses only the connection it is given (one per thread).
 */
#ifndef SHELFCAST_REGISTRY_H
#define SHELFCAST_REGISTRY_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "shelfcast/error.h"
#include "shelfcast/model.h"
#include "shelfcast/spec.h"

/* The parameters of a statement about one version: $1 the model, $2 a number. */
struct registry_version_params {
	char number[24];
	const char *p[2];
};
/* Fill vp; returns its parameter array (borrowed from vp and model). */
const char *const *registry_version_params(struct registry_version_params *vp, const char *model,
					   long long n);

struct registry_version_in {
	const char *model;
	const char *description;   /* used when the model is new; may be NULL */
	const struct spec *spec;
	const struct tensor *tensors;
	size_t n_tensors;
	const char *checksum;      /* of the tensors, model_checksum_tensors order */
	const char *metrics_json;  /* may be NULL: {} */
	const char *training_json; /* may be NULL: {} */
	const char *actor;
	const char *event;         /* "registered" or "imported" */
	const char *trained_on_json; /* may be NULL; else the event's detail gains "trained_on" (an object's text) */
};

/* Insert a new staged version (and its model row) in one transaction; *version gets its number. */
enum error_code registry_register(PGconn *c, const struct registry_version_in *in, bool activate,
				  int *version, struct error *err);

/*
 * Load and validate one version.  *out is new.  Validation failures are
 * ERROR_INVALID with the reason; an unknown version is ERROR_NOT_FOUND.
 */
enum error_code registry_load_version(PGconn *c, const char *model, int version,
				      struct model **out, struct error *err);

/*
 * Make `version` the active one: validated first (a failing version is
 * marked failed and the active one stays); the active one is archived.
 * *previous (may be NULL) gets the version that was active, or 0.
 */
enum error_code registry_activate(PGconn *c, const char *model, int version, const char *actor,
				  int *previous, struct error *err);

/* Back to the version that was active before the current one (from the event log). */
enum error_code registry_rollback(PGconn *c, const char *model, const char *actor, int *from,
				  int *to, struct error *err);

/* Archive a version that is not active. */
enum error_code registry_archive(PGconn *c, const char *model, int version, const char *actor,
				 struct error *err);

/*
 * Record that `version` failed to load (status failed + an event with the
 * reason).  When restore > 0 and the model is left without an active version,
 * `restore` (the version still serving) is made active again.
 */
enum error_code registry_mark_failed(PGconn *c, const char *model, int version,
				     const char *reason, const char *actor, int restore,
				     struct error *err);

struct registry_active {
	char model[MODEL_NAME_MAX + 1];
	int version;
};

/* The model's active version into *version, 0 when it has none (or does not exist). */
enum error_code registry_active_version(PGconn *c, const char *model, int *version,
					struct error *err);

/* Every model's active version.  *out is new (free it). */
enum error_code registry_active_versions(PGconn *c, struct registry_active **out, size_t *n,
					 struct error *err);
/*
 * registry_active_versions and registry_default in one statement (one
 * snapshot): flagged (may be NULL) gets the default model's name, "" when
 * none is flagged.
 */
enum error_code registry_served(PGconn *c, struct registry_active **out, size_t *n, char *flagged,
				size_t size, struct error *err);

/*
 * The catalog as JSON text (new, free it):
 * {"models": [{"name", "description", "created_at", "active_version",
 *   "versions": [{"version", "status", "checksum", "metrics", "created_at",
 *                 "activated_at"}]}]}
 * model may be NULL (all) or one name (ERROR_NOT_FOUND when unknown).
 */
enum error_code registry_catalog(PGconn *c, const char *model, char **json, struct error *err);

/* The model's events, newest first, as a JSON array text (new). */
enum error_code registry_events(PGconn *c, const char *model, int limit, char **json,
				struct error *err);

/*
 * The model flagged default (migrations/0004): its name into out, "" when
 * none is.  registry_set_default moves the flag to model (ERROR_NOT_FOUND
 * when it does not exist) with an audit event; *previous gets the model
 * flagged before ("" when none).
 */
enum error_code registry_default(PGconn *c, char *out, size_t size, struct error *err);
enum error_code registry_set_default(PGconn *c, const char *model, const char *actor,
				     char *previous, size_t size, struct error *err);

/*
 * Merge metrics_json (an object) into a version's stored metrics (its keys
 * replace the stored ones), with an "evaluated" audit event carrying
 * detail_json (NULL: {}), in one transaction.  ERROR_NOT_FOUND for an
 * unknown model or version.
 */
enum error_code registry_set_metrics(PGconn *c, const char *model, int version,
				     const char *metrics_json, const char *actor,
				     const char *detail_json, struct error *err);

#endif

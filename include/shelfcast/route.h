/*
 * route — the service's URL space: a request's path parsed once into a
 * route id and its parameters, and what each route allows.
 *
 *   /v1/predict  /v1/recommend                   POST
 *   /v1/models                                   GET, HEAD
 *   /v1/models/{name}                            GET, HEAD
 *   /v1/models/{name}/inputs/{input}             GET, HEAD
 *   /v1/models/{name}/versions/{version}/activate  POST
 *   /healthz  /readyz  /metrics  /openapi.yaml   GET, HEAD
 *
 * Thread-safety: pure functions over constant tables.
 */
#ifndef SHELFCAST_ROUTE_H
#define SHELFCAST_ROUTE_H

#include <stdbool.h>

#include "shelfcast/model.h"
#include "shelfcast/spec.h"

enum route_id {
	ROUTE_PREDICT,
	ROUTE_MODELS,
	ROUTE_MODEL,
	ROUTE_ACTIVATE,
	ROUTE_HEALTHZ,
	ROUTE_READYZ,
	ROUTE_METRICS,
	ROUTE_OPENAPI,
	ROUTE_MODEL_INPUT, /* /v1/models/{name}/inputs/{input} */
	ROUTE_OUTCOMES,
	ROUTE_RECOMMEND,
	ROUTE_OTHER, /* no such route */
	ROUTE_COUNT
};

struct route_target {
	enum route_id id;
	/* ROUTE_MODEL, ROUTE_MODEL_INPUT, ROUTE_ACTIVATE; one byte longer than any model name, so a name too long is
	   still this route, and "does not exist" */
	char name[MODEL_NAME_MAX + 2];
	int version;                   /* ROUTE_ACTIVATE */
	char input[SPEC_NAME_MAX + 2];  /* ROUTE_MODEL_INPUT; one byte longer than any input name */
};

/* Parse a request path (no query string) into t. */
void route_parse(const char *path, struct route_target *t);

/* The path template, e.g. "/v1/models/{name}" ("other" for ROUTE_OTHER): the metrics' label. */
const char *route_label(enum route_id id);

/* The methods a route answers, as an Allow header says them ("POST", "GET, HEAD"); NULL for ROUTE_OTHER. */
const char *route_allow(enum route_id id);

/* Whether the route answers this method (HEAD counts as GET). */
bool route_allows(enum route_id id, const char *method);

/* Whether a request with this method takes a body on this route (its POST routes). */
bool route_takes_body(enum route_id id, const char *method);

/* Whether the route needs the admin token (activation, outcomes). */
bool route_admin(enum route_id id);

#endif

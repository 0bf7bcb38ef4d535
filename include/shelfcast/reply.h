/*
 * reply — what a route answers, before any HTTP library sees it: a status,
 * a media type and a body; and the one table from an error code to the
 * HTTP status and the code name a client reads in error bodies.
 *
 *   {"error": {"code": "invalid_request", "message": "...", "field": "items[3]..."}}
 *
 * Thread-safety: a struct reply belongs to one request.
 */
#ifndef SHELFCAST_REPLY_H
#define SHELFCAST_REPLY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "shelfcast/error.h"
#include "shelfcast/strbuf.h"

struct reply {
	unsigned status;          /* 0: nothing answered yet */
	const char *content_type; /* static */
	char *body;               /* freed by reply_done when owned */
	size_t len;
	bool owned;
	const char *allow;        /* static or NULL: the Allow header of a 405 */
	bool close;               /* close the connection after it */
	const char *error_code;   /* an error reply's code (static), for the access log; else NULL */
	char error_field[64];     /* and its field, cut to fit; "" when none */
};

void reply_init(struct reply *r);
/* Frees an owned body; accepts a reply never filled. */
void reply_done(struct reply *r);

/* The HTTP status and code name of an error code (the one table). */
void reply_status_of(enum error_code code, unsigned *status, const char **name);

/* An error body: {"error": {"code", "message", "field" when not empty}}; code must be static. */
void reply_error(struct reply *r, unsigned status, const char *code, const char *message,
		 const char *field);
/* The same from a struct error, through the table. */
void reply_from_error(struct reply *r, const struct error *err);

/* sb's text as the body (sb is emptied); 503 overloaded when sb failed.  reply_json: application/json. */
void reply_text(struct reply *r, unsigned status, const char *content_type, struct strbuf *sb);
void reply_json(struct reply *r, unsigned status, struct strbuf *sb);
/* j (stolen) as compact application/json; 503 overloaded when out of memory. */
void reply_jansson(struct reply *r, unsigned status, json_t *j);
/* A body that outlives the reply (static text). */
void reply_static(struct reply *r, unsigned status, const char *content_type, const char *body,
		  size_t len);

/* reply_from_error with "details": details_json (a JSON array, copied; NULL: none) in the error object. */
void reply_from_error_details(struct reply *r, const struct error *err, const char *details_json);

#endif

/*
 * predict_api — the /v1/predict wire format: a request body in, a reply
 * body out, through batch scoring (predict.h).
 *
 *   {"model": "...", "objective": "...", "include_levels": bool, "explain": bool, "interval": 0.9,
 *    "on_error": "fail"|"skip",
 *    "items": [{"id": ..., "features": {...}, "promotion_level": int}, ...]}
 *
 * A bad item fails the request (422, every bad item in the outcome's
 * error_details), or with "on_error": "skip" is left out and listed in the
 * reply's "errors" (item_errors.h); only the jansson path reads on_error.
 *
 * Two parsers read the body.  jansson is the reference
 * (predict_api_run_jansson); predict_api_run first tries a stricter, faster
 * one (reqparse.h) straight into the encoder and falls back to jansson
 * whenever that parser is not sure, so both give byte-identical replies
 * (tests and the fuzzer compare them).
 *
 * Thread-safety: a struct predict_api_scratch belongs to one thread at a
 * time (a server worker's context owns one); the model is shared and
 * read-only.
 */
#ifndef SHELFCAST_PREDICT_API_H
#define SHELFCAST_PREDICT_API_H

#include <stddef.h>
#include <stdint.h>

#include "shelfcast/drift.h"
#include "shelfcast/error.h"
#include "shelfcast/model.h"
#include "shelfcast/predict_reply.h"
#include "shelfcast/strbuf.h"

/*
 * Resolve a model name (NULL: the default model), or NULL with err set.  The
 * model is borrowed, not a new reference: it must stay valid until the caller
 * of predict_api_run is done with the outcome (the server's comes from its
 * worker's store_borrow, which holds it until store_borrow_end).
 */
typedef struct model *(*predict_resolve_fn)(void *ctx, const char *name, struct error *err);

struct predict_outcome {
	struct model *model;      /* borrowed (see predict_resolve_fn) or NULL: the model that answered */
	size_t items;
	uint32_t *unknown_counts; /* (model n_categorical): unknown values per feature; new; NULL when none */
	char *error_details;      /* on a 422 for bad items: every one (up to 100) as a JSON array; new */
};

void predict_outcome_done(struct predict_outcome *o);

struct predict_limits {
	size_t max_items;   /* items per request, at least 1; the parsers stop at the one past it */
	size_t max_memory;  /* bytes a request's reply and encoding may take (0: no limit) */
	size_t max_explain_items; /* items per request with "explain": true (0: no limit) */
};

/*
 * What the fast path keeps between requests of one thread: the parser's
 * arrays and the batch's memory (more than SCRATCH_KEEP, 4 MiB, of either
 * is given back after each request) and the feature-key hints.  New; free with
 * predict_api_scratch_free (accepts NULL).  NULL when out of memory.
 */
struct predict_api_scratch;
struct predict_api_scratch *predict_api_scratch_new(void);
void predict_api_scratch_free(struct predict_api_scratch *s);

/*
 * From now on every prediction of predict_api_run through s carries a
 * "prediction_id" and is logged by log (predlog.h; borrowed for as long as s
 * is used; NULL: neither).  The differential tests leave it unset: ids are
 * random.
 */
struct predlog_writer;
void predict_api_set_log(struct predict_api_scratch *s, struct predlog_writer *log);

/*
 * Handle a /v1/predict body.  On success the reply JSON is appended to
 * `reply`.  On failure err says why and reply is left empty: ERROR_PARSE
 * (malformed JSON, with the byte offset), ERROR_INVALID (valid JSON
 * breaking the contract, with the field; also an item whose output is not
 * a finite number), ERROR_TOO_LARGE (more items than lim->max_items, found
 * before the body is parsed, more items than lim->max_explain_items with
 * "explain": true, or more memory than lim->max_memory, found
 * before any item is encoded), ERROR_NOT_FOUND (unknown model),
 * ERROR_UNAVAILABLE (no model loaded), ERROR_NOMEM.  Items are encoded and
 * scored a tile at a time (predict_reply.h).  sc may be NULL: then only
 * the jansson path runs.
 */
enum error_code predict_api_run(struct predict_api_scratch *sc, const char *body, size_t len,
				const struct predict_limits *lim, predict_resolve_fn resolve,
				void *ctx, struct strbuf *reply, struct predict_outcome *outcome,
				struct error *err);

/*
 * Input drift (drift.h): with a window set (0, the default: off), each
 * predict_api_run on sc tallies its items for a model with a drift
 * reference, keeping the last `window`; predict_api_scratch_tally gives the
 * tally of the last run when it succeeded and tallied (borrowed, until the
 * next run on sc), else NULL: the caller moves it into the model's window.
 */
void predict_api_scratch_track_drift(struct predict_api_scratch *sc, size_t window);

/*
 * For another route that reads items of the same shape (recommend_api.c):
 * sc's parser, its hints, and an item's features from its last parse.
 *   predict_api_scratch_hints: the hints made model m's; whether they
 *     already were (the parser's marks then hold: pass it as *trust).
 *   predict_api_scratch_features: item i's features into values (the
 *     model's inputs, every one set); seen (one per input, zeroed once per
 *     request) catches a repeated key.  False: the jansson path decides (an
 *     unknown or repeated feature, a type the contract refuses).
 *   predict_api_scratch_trim: after the request, what grew past a big
 *     request's size given back.
 */
struct reqparse;
struct reqparse *predict_api_scratch_parser(struct predict_api_scratch *sc);
bool predict_api_scratch_hints(struct predict_api_scratch *sc, const struct model *m);
void predict_api_scratch_trim(struct predict_api_scratch *sc);
/* An item's id on the tape (NONE, INT or STRING) as a reply writes it (index and features unset). */
struct reqparse_value;
struct predict_id predict_api_tape_id(const struct reqparse_value *v);
/* The same from jansson's value: a string or an integer, else none. */
struct json_t;
struct predict_id predict_api_json_id(const struct json_t *v);
/*
 * The start of a /v1/predict or /v1/recommend body on the jansson path:
 * root an object of only the route's keys (NULL-terminated), its "model"
 * and "objective" (NULL when absent) into *model_name and *objective_name.
 */
enum error_code predict_api_json_head(struct json_t *root, const char *const *keys, const char **model_name,
				      const char **objective_name, struct error *err);
/* resolve(ctx, name) into *m; when it gives NULL, its error (ERROR_UNAVAILABLE when it set none). */
enum error_code predict_api_resolve(predict_resolve_fn resolve, void *ctx, const char *name, struct model **m,
				    struct error *err);
bool predict_api_scratch_features(struct predict_api_scratch *sc, const struct model *m, size_t i,
				  struct encoder_value *values, uint32_t *seen, bool *trust);
const struct drift_tally *predict_api_scratch_tally(const struct predict_api_scratch *sc);

/* The same through jansson only (the reference the fast path is held to). */
enum error_code predict_api_run_jansson(const char *body, size_t len,
					const struct predict_limits *lim, predict_resolve_fn resolve,
					void *ctx, struct strbuf *reply,
					struct predict_outcome *outcome, struct error *err);

#endif

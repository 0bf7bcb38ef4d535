/* predict_api — see include/shelfcast/predict_api.h. */
#include "shelfcast/predict_api.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/item_errors.h"
#include "shelfcast/jsonutil.h"
#include "shelfcast/numfmt.h"
#include "shelfcast/predict.h"
#include "shelfcast/predict_limits.h"
#include "shelfcast/predict_reply.h"
#include "shelfcast/predlog.h"
#include "shelfcast/reqparse.h"
#include "shelfcast/util.h"


void predict_outcome_done(struct predict_outcome *o)
{
	if (!o)
		return;
	free(o->unknown_counts);
	free(o->error_details);
	memset(o, 0, sizeof *o);
}

/* Per-item fields, validated (the jansson path). */
struct item_in {
	const json_t *id;
	const json_t *features;
	long long level;
	bool has_level;
};

static enum error_code read_item(const json_t *item, size_t i, struct item_in *in, struct error *err)
{
	char path[JSONUTIL_PATH_MAX], field[JSONUTIL_PATH_MAX];
	const char *key;
	json_t *v;

	memset(in, 0, sizeof *in);
	if (!json_is_object(item)) {
		jsonutil_path_index(path, "items", i);
		return error_set(err, ERROR_INVALID, path, "%s: expected an object, got %s", path,
				 jsonutil_type_name(item));
	}
	json_object_foreach((json_t *)item, key, v) {
		if (!strcmp(key, "features")) {
			in->features = v;
		} else if (!strcmp(key, "id")) {
			if (!json_is_string(v) && !json_is_integer(v) && !json_is_null(v)) {
				snprintf(field, sizeof field, "items[%zu].id", i);
				return error_set(err, ERROR_INVALID, field,
						 "%s: expected a string or an integer, got %s", field,
						 jsonutil_type_name(v));
			}
			in->id = json_is_null(v) ? NULL : v;
		} else if (!strcmp(key, "promotion_level")) {
			if (json_is_null(v))
				continue;
			if (!json_is_integer(v)) {
				snprintf(field, sizeof field, "items[%zu].promotion_level", i);
				return error_set(err, ERROR_INVALID, field,
						 "%s: expected an integer promotion level, got %s", field,
						 jsonutil_type_name(v));
			}
			in->level = json_integer_value(v);
			in->has_level = true;
		} else {
			snprintf(field, sizeof field, "items[%zu].%s", i, key);
			return error_set(err, ERROR_INVALID, field,
					 "%s: unknown field (expected id, features, promotion_level)",
					 field);
		}
	}
	if (!in->features) {
		snprintf(field, sizeof field, "items[%zu].features", i);
		return error_set(err, ERROR_INVALID, field, "%s: required field is missing", field);
	}
	return ERROR_OK;
}

static void write_levels_list(struct strbuf *sb, const struct spec *spec)
{
	size_t k;
	for (k = 0; k < spec->n_levels; k++) {
		if (k)
			strbuf_puts(sb, ", ");
		strbuf_json_int(sb, spec->levels[k].level);
	}
}

/* A coverage "interval" may ask for (both paths): in (0, 1). */
static bool interval_ok(double coverage)
{
	return coverage > 0 && coverage < 1;
}

/* The request's top-level fields (the jansson path). */
struct request_in {
	const char *model_name, *objective_name;
	bool include_levels, explain, skip;
	json_t *items;
	size_t n;
	double interval; /* NAN: absent, the model's */
};

static enum error_code read_request(json_t *root, const struct predict_limits *lim, struct request_in *in,
				    struct error *err)
{
	static const char *const top_keys[] = {"model",   "objective", "include_levels", "on_error",
					       "items",   "explain",   "interval",       NULL};
	enum error_code rc;

	memset(in, 0, sizeof *in);
	in->interval = NAN;
	rc = predict_api_json_head(root, top_keys, &in->model_name, &in->objective_name, err);
	if (!rc)
		rc = jsonutil_get_bool(root, "include_levels", "", false, &in->include_levels, err);
	if (!rc)
		rc = jsonutil_get_bool(root, "explain", "", false, &in->explain, err);
	if (!rc)
		rc = jsonutil_get_number(root, "interval", "", false, &in->interval, err);
	if (!rc && !isnan(in->interval) && !interval_ok(in->interval))
		rc = error_set(err, ERROR_INVALID, "interval",
			       "interval: must be a coverage between 0 and 1 (exclusive)");
	if (!rc)
		rc = item_errors_mode(root, &in->skip, err);
	if (!rc)
		rc = predict_limits_items(root, lim->max_items, &in->items, &in->n, err);
	if (!rc)
		rc = predict_limits_explained(lim, in->explain, in->n, err);
	return rc;
}

static enum error_code unknown_level(const struct model *m, size_t i, long long level,
				     struct error *err)
{
	struct strbuf levels;
	char field[JSONUTIL_PATH_MAX];
	enum error_code rc;

	strbuf_init(&levels);
	write_levels_list(&levels, &m->spec);
	snprintf(field, sizeof field, "items[%zu].promotion_level", i);
	rc = error_set(err, ERROR_INVALID, field, "%s: %lld is not a promotion level of model %s (levels: %s)",
		       field, level, m->name, levels.data ? levels.data : "");
	strbuf_done(&levels);
	return rc;
}

/* Item i into the reply's next slot (the jansson path); *fatal: the error is the request's, not the item's. */
static enum error_code jansson_item(const struct model *m, const json_t *item, size_t i,
				    struct encoder_value *values, struct predict_reply *r,
				    bool *fatal, struct error *err)
{
	char prefix[JSONUTIL_PATH_MAX];
	struct predict_id id;
	struct item_in in;
	enum error_code rc;
	int asked = -1;

	rc = read_item(item, i, &in, err);
	if (rc)
		return rc;
	id = predict_api_json_id(in.id);
	snprintf(prefix, sizeof prefix, "items[%zu].features", i);
	rc = encoder_values_from_json(m->enc, in.features, values, prefix, err);
	if (rc)
		return rc;
	if (in.has_level && (asked = spec_level_index(&m->spec, in.level)) < 0)
		return unknown_level(m, i, in.level, err);
	id.index = i;
	id.features_json = in.features;
	rc = predict_batch_set(&r->batch, m, predict_reply_slot(r), values, asked, prefix, err);
	*fatal = !rc; /* past here, the error is a full tile's scoring */
	return rc ? rc : predict_reply_push(r, &id, err);
}

/* Every item into the reply; a bad item is noted in e and the others go on (the caller decides). */
static enum error_code jansson_items(const struct model *m, const struct request_in *in,
				     struct encoder_value *values, struct predict_reply *r,
				     struct item_errors *e, struct error *err)
{
	enum error_code rc = ERROR_OK;
	size_t i;

	for (i = 0; !rc && i < in->n; i++) {
		bool fatal = false;
		rc = jansson_item(m, json_array_get(in->items, i), i, values, r, &fatal, err);
		if (rc == ERROR_INVALID && !fatal) {
			struct error item = *err;
			error_init(err);
			rc = item_errors_add(e, i, &item, err);
		}
	}
	return rc;
}

/* The reply's end both paths share: its counts go to the outcome. */
static enum error_code finish(struct predict_reply *r, struct predict_outcome *outcome,
			      struct error *err)
{
	enum error_code rc = predict_reply_end(r, err);

	if (rc)
		return rc;
	outcome->items = predict_reply_items(r);
	outcome->unknown_counts = r->unknown_counts;
	r->unknown_counts = NULL;
	return ERROR_OK;
}

/* The jansson path; tally (may be NULL) records the items when tallying is on (window > 0). */
static enum error_code run_jansson(const char *body, size_t len, const struct predict_limits *lim,
				   predict_resolve_fn resolve, void *ctx, struct predlog_writer *log,
				   struct strbuf *reply, struct predict_outcome *outcome, struct drift_tally *tally,
				   size_t window, struct error *err)
{
	struct predict_reply r = {0};
	struct encoder_value *values = NULL;
	enum spec_objective objective;
	struct request_in in;
	struct item_errors errors = {0};
	json_t *root;
	struct model *m = NULL;
	enum error_code rc;

	memset(outcome, 0, sizeof *outcome);
	rc = predict_limits_parse(body, len, lim, &root, err);
	if (rc)
		return rc;
	rc = read_request(root, lim, &in, err);
	if (rc)
		goto out;
	item_errors_init(&errors, in.skip ? 0 : ITEM_ERRORS_DETAILS);
	rc = predict_api_resolve(resolve, ctx, in.model_name, &m, err);
	if (!rc)
		rc = spec_objective_choose(&m->spec, m->name, in.objective_name, true, &objective, err);
	if (!rc)
		rc = predict_limits_check_memory(m, in.n, in.include_levels, in.explain, lim->max_memory, err);
	if (rc)
		goto out;
	values = calloc(encoder_n_inputs(m->enc) + 1, sizeof *values);
	if (!values) {
		rc = error_nomem(err, "request items");
		goto out;
	}
	rc = predict_reply_begin(&r, m, objective, in.include_levels, reply, NULL, err);
	r.log = log;
	if (!rc && tally && drift_tally_begin(tally, &m->spec, window, in.n))
		r.batch.tally = tally;
	if (!rc && in.explain)
		rc = predict_reply_explain(&r, err);
	if (!rc && !isnan(in.interval))
		predict_reply_set_interval(&r, in.interval);
	r.errors = &errors; /* an item whose output is not finite is a bad item like the others */
	if (!rc)
		rc = jansson_items(m, &in, values, &r, &errors, err);
	if (!rc)
		rc = finish(&r, outcome, err);
	if (!rc && errors.n && in.skip)
		rc = item_errors_append(&errors, reply, err);
	else if (!rc && errors.n) { /* fail: the first bad item's error, every bad item in details */
		rc = error_set(err, errors.first.code, errors.first.field, "%s", errors.first.message);
		outcome->error_details = item_errors_json(&errors);
	}
out:
	item_errors_done(&errors);
	outcome->model = m; /* reported even on failure: the access log names it */
	if (rc && tally)
		drift_tally_stop(tally);
	if (rc)
		strbuf_reset(reply);
	predict_reply_done(&r);
	free(values);
	json_decref(root);
	return rc;
}

enum error_code predict_api_run_jansson(const char *body, size_t len,
					const struct predict_limits *lim, predict_resolve_fn resolve,
					void *ctx, struct strbuf *reply,
					struct predict_outcome *outcome, struct error *err)
{
	return run_jansson(body, len, lim, resolve, ctx, NULL, reply, outcome, NULL, 0, err);
}

/*
 * The fast path's memory between requests (the parser's arrays, the batch
 * and the encoder's values), so that a small request does not allocate;
 * more than SCRATCH_KEEP bytes are given back after use.
 */
#define SCRATCH_KEEP (4u << 20)

/*
 * Clients send an item's features in the same order every time (one
 * serializer): the scratch remembers which input the f-th key named last
 * time, and a key is first compared with that input's name, with no hashing.
 * The key's text is kept too, as the parser's hint: a key that is the same
 * text as last time is read with one comparison instead of a scan, and names
 * the guessed input with no further comparison.  That holds while
 *   every hint f is the name, in the model numbered hint_serial, of input
 *   guess[f]
 * which is kept so: hints are cleared when the model changes, and a guess
 * and its hint are only ever set together, from a key just looked up.  A
 * hint that changes in the middle of a request voids the parser's marks for
 * the rest of it (they were made against the old text).
 */
#define GUESSES 64
#define HINT_MAX 48

struct predict_api_scratch {
	struct reqparse rp;
	void *mem;
	size_t cap;
	int guess[GUESSES]; /* -1: no guess */
	struct reqparse_hint hint[GUESSES];
	char hint_text[GUESSES][HINT_MAX];
	uint64_t hint_serial; /* the model the hints are names in (0: none) */
	struct predlog_writer *log; /* predict_api_set_log's */
	struct drift_tally tally; /* the last request's items, for input drift (drift.h) */
	size_t drift_window;      /* items a tally keeps; 0: not tallying */
};

static void scratch_parser_init(struct predict_api_scratch *s)
{
	reqparse_init(&s->rp);
	s->rp.hint = s->hint;
	s->rp.n_hint = GUESSES;
}

struct predict_api_scratch *predict_api_scratch_new(void)
{
	struct predict_api_scratch *s = calloc(1, sizeof *s);
	size_t i;

	if (!s)
		return NULL;
	scratch_parser_init(s);
	for (i = 0; i < GUESSES; i++)
		s->guess[i] = -1;
	drift_tally_init(&s->tally);
	return s;
}

void predict_api_set_log(struct predict_api_scratch *s, struct predlog_writer *log)
{
	s->log = log;
}

void predict_api_scratch_free(struct predict_api_scratch *s)
{
	if (!s)
		return;
	reqparse_done(&s->rp);
	drift_tally_done(&s->tally);
	free(s->mem);
	free(s);
}

static void *scratch_get(struct predict_api_scratch *s, size_t bytes)
{
	if (bytes > s->cap) {
		void *p = malloc(bytes);
		if (!p)
			return NULL;
		free(s->mem);
		s->mem = p;
		s->cap = bytes;
	}
	return s->mem;
}

void predict_api_scratch_trim(struct predict_api_scratch *s)
{
	if (s->cap > SCRATCH_KEEP) {
		free(s->mem);
		s->mem = NULL;
		s->cap = 0;
	}
	if (s->rp.cap_features * sizeof *s->rp.features > SCRATCH_KEEP ||
	    s->rp.cap_items * sizeof *s->rp.items > SCRATCH_KEEP ||
	    s->rp.cap_levels * sizeof *s->rp.levels > SCRATCH_KEEP) {
		reqparse_done(&s->rp);
		scratch_parser_init(s);
	}
}

/* Hints for model m from now on: cleared when they were another model's. Whether they already were m's. */
bool predict_api_scratch_hints(struct predict_api_scratch *sc, const struct model *m)
{
	size_t f;

	if (sc->hint_serial == m->serial)
		return true;
	for (f = 0; f < GUESSES; f++)
		sc->hint[f].len = 0;
	sc->hint_serial = m->serial;
	return false;
}

/*
 * The input the f-th feature key of an item names (see GUESSES), or -1.
 * *trust: whether the parser's marks (feature.expected) still hold.
 */
static int input_index(struct predict_api_scratch *sc, const struct encoder *enc, size_t n_in, size_t f,
		       const struct reqparse_feature *ft, bool *trust)
{
	int idx, g;

	if (f >= GUESSES)
		return encoder_input_index(enc, ft->key, ft->key_len);
	g = sc->guess[f];
	if (*trust && ft->expected && g >= 0)
		return g; /* the hint's text, which is the name of input g in this model */
	if (g >= 0 && (size_t)g < n_in && encoder_input_is(enc, g, ft->key, ft->key_len))
		idx = g;
	else
		idx = sc->guess[f] = encoder_input_index(enc, ft->key, ft->key_len);
	/* a key equal to its hint names the same input (idx): only a new text changes the hint */
	if (sc->hint[f].len != ft->key_len || memcmp(sc->hint_text[f], ft->key, ft->key_len)) {
		*trust = false; /* this request's marks were made against the old hint */
		sc->hint[f].len = 0;
		if (idx >= 0 && ft->key_len <= HINT_MAX) {
			memcpy(sc->hint_text[f], ft->key, ft->key_len);
			sc->hint[f] = (struct reqparse_hint){sc->hint_text[f], ft->key_len};
		}
	}
	return idx;
}

/* Feature f of an item from the parser's tape into values[idx]; false: let jansson decide. */
static bool fast_value(const struct model *m, int idx, const struct reqparse_value *pv,
		       struct encoder_value *values)
{
	struct encoder_value *v = &values[idx];
	bool numeric = (size_t)idx < m->spec.n_numeric;
	int j;

	switch (pv->kind) {
	case REQPARSE_NONE:
		v->kind = ENCODER_VALUE_MISSING;
		break;
	case REQPARSE_INT:
		if (numeric) {
			v->kind = ENCODER_VALUE_NUMBER;
			v->number = (double)pv->i;
		} else {
			v->kind = ENCODER_VALUE_STRING;
			v->len = numfmt_int(v->buf, pv->i);
			v->str = v->buf;
		}
		break;
	case REQPARSE_REAL:
		if (!numeric)
			return false;
		v->kind = ENCODER_VALUE_NUMBER;
		v->number = pv->d;
		break;
	case REQPARSE_STRING:
		if (numeric)
			return false;
		v->kind = ENCODER_VALUE_STRING;
		v->str = pv->s;
		v->len = pv->len;
		break;
	}
	/* a numeric feature may feed several inputs (raw and through log, say) */
	for (j = encoder_next_same(m->enc, idx); j >= 0; j = encoder_next_same(m->enc, j))
		values[j] = *v;
	return true;
}

struct reqparse *predict_api_scratch_parser(struct predict_api_scratch *sc)
{
	return &sc->rp;
}

struct predict_id predict_api_tape_id(const struct reqparse_value *v)
{
	if (v->kind == REQPARSE_STRING)
		return (struct predict_id){.kind = PREDICT_ID_STRING, .s = v->s, .len = v->len};
	if (v->kind == REQPARSE_INT)
		return (struct predict_id){.kind = PREDICT_ID_INTEGER, .i = v->i};
	return (struct predict_id){.kind = PREDICT_ID_NONE};
}

enum error_code predict_api_json_head(json_t *root, const char *const *keys, const char **model_name,
				      const char **objective_name, struct error *err)
{
	enum error_code rc = jsonutil_expect_object(root, keys, "", err);

	if (!rc)
		rc = jsonutil_get_string(root, "model", "", false, model_name, err);
	if (!rc)
		rc = jsonutil_get_string(root, "objective", "", false, objective_name, err);
	return rc;
}

enum error_code predict_api_resolve(predict_resolve_fn resolve, void *ctx, const char *name, struct model **m,
				    struct error *err)
{
	*m = resolve(ctx, name, err);
	return *m ? ERROR_OK : err && err->code ? err->code : ERROR_UNAVAILABLE;
}

struct predict_id predict_api_json_id(const json_t *v)
{
	if (json_is_string(v))
		return (struct predict_id){.kind = PREDICT_ID_STRING, .s = json_string_value(v),
					   .len = json_string_length(v)};
	if (json_is_integer(v))
		return (struct predict_id){.kind = PREDICT_ID_INTEGER, .i = (long long)json_integer_value(v)};
	return (struct predict_id){.kind = PREDICT_ID_NONE};
}

bool predict_api_scratch_features(struct predict_api_scratch *sc, const struct model *m, size_t i,
				  struct encoder_value *values, uint32_t *seen, bool *trust)
{
	const struct reqparse_item *it = &sc->rp.items[i];
	size_t n_in = encoder_n_inputs(m->enc), f;

	if (!it->has_features)
		return false;
	for (f = 0; f < n_in; f++)
		values[f].kind = ENCODER_VALUE_MISSING;
	for (f = 0; f < it->count; f++) {
		const struct reqparse_feature *ft = &sc->rp.features[it->first + f];
		int idx = input_index(sc, m->enc, n_in, f, ft, trust);

		/* unknown, or a repeated key (jansson refuses duplicates) */
		if (idx < 0 || seen[idx] == i + 1)
			return false;
		seen[idx] = (uint32_t)(i + 1);
		if (!fast_value(m, idx, &ft->value, values))
			return false;
	}
	return true;
}

/* The fast path's per-request memory, from the scratch: the reply's tile, then values and seen. */
struct fast_arrays {
	struct encoder_value *values; /* (n_in + 1) */
	uint32_t *seen;               /* (n_in + 1): the item (i + 1) that last set each input */
	void *reply_mem;              /* predict_reply_bytes */
};

static bool fast_arrays(struct predict_api_scratch *sc, const struct model *m, size_t n_in,
			struct fast_arrays *a)
{
	size_t reply_bytes = (predict_reply_bytes(m) + 63) & ~(size_t)63; /* keeps what follows aligned */
	size_t extra = (n_in + 1) * (sizeof *a->values + sizeof *a->seen);
	char *mem = scratch_get(sc, reply_bytes + extra);

	if (!mem)
		return false;
	a->reply_mem = mem;
	a->values = (struct encoder_value *)(void *)(mem + reply_bytes);
	a->seen = (uint32_t *)(void *)(a->values + n_in + 1);
	memset(a->seen, 0, (n_in + 1) * sizeof *a->seen);
	return true;
}

/* Item i from the tape into the reply's next slot; false: let jansson decide. */
static bool fast_item(struct predict_api_scratch *sc, const struct model *m, size_t i,
		      struct fast_arrays *a, struct predict_reply *r, bool *trust)
{
	const struct reqparse_item *it = &sc->rp.items[i];
	struct predict_id id;
	struct error err;
	int asked = -1;

	if (!predict_api_scratch_features(sc, m, i, a->values, a->seen, trust))
		return false;
	if (it->level.kind == REQPARSE_INT && (asked = spec_level_index(&m->spec, it->level.i)) < 0)
		return false;
	id = predict_api_tape_id(&it->id);
	id.index = i;
	id.features = it->features_text;
	id.features_len = it->features_len;
	error_init(&err);
	return predict_batch_set(&r->batch, m, predict_reply_slot(r), a->values, asked, NULL, &err) ==
		       ERROR_OK &&
	       predict_reply_push(r, &id, &err) == ERROR_OK;
}

/*
 * The fast path: reqparse's tape straight into the encoder.  Whenever it is
 * not sure the request means exactly what the jansson path would make of it
 * (an unknown or repeated feature, a type the contract refuses, an unknown
 * level, any error at all), it gives up and the jansson path decides.
 */
static bool run_fast(struct predict_api_scratch *sc, const char *body, size_t len,
		     const struct predict_limits *lim, predict_resolve_fn resolve, void *ctx,
		     struct strbuf *reply, struct predict_outcome *outcome)
{
	struct reqparse *rp = &sc->rp;
	struct predict_reply r = {0};
	struct fast_arrays a;
	enum spec_objective objective;
	struct error err;
	struct model *m;
	char name[MODEL_NAME_MAX + 1], objective_name[16];
	bool done = false, trust;
	size_t i;

	error_init(&err);
	rp->max_items = lim->max_items;
	if (reqparse_parse(rp, body, len) != REQPARSE_OK ||
	    predict_limits_too_many_explained(lim, rp->explain, rp->n_items))
		goto out;
	if (rp->model.kind == REQPARSE_STRING && !reqparse_c_string(&rp->model, name, sizeof name))
		goto out;
	m = resolve(ctx, rp->model.kind == REQPARSE_STRING ? name : NULL, &err);
	if (!m)
		goto out;
	trust = predict_api_scratch_hints(sc, m);
	if (rp->objective.kind == REQPARSE_STRING &&
	    !reqparse_c_string(&rp->objective, objective_name, sizeof objective_name))
		goto out;
	if (spec_objective_choose(&m->spec, m->name, rp->objective.kind == REQPARSE_STRING ? objective_name : NULL,
				  true, &objective, &err) ||
	    (rp->interval.kind != REQPARSE_NONE && !interval_ok(rp->interval.d)))
		goto out;
	if (predict_limits_check_memory(m, rp->n_items, rp->include_levels, rp->explain, lim->max_memory, &err) !=
		    ERROR_OK ||
	    !fast_arrays(sc, m, encoder_n_inputs(m->enc), &a) ||
	    predict_reply_begin(&r, m, objective, rp->include_levels, reply, a.reply_mem, &err) ||
	    (rp->explain && predict_reply_explain(&r, &err)))
		goto out;
	r.log = sc->log;
	if (drift_tally_begin(&sc->tally, &m->spec, sc->drift_window, rp->n_items))
		r.batch.tally = &sc->tally;
	if (rp->interval.kind != REQPARSE_NONE)
		predict_reply_set_interval(&r, rp->interval.d);
	for (i = 0; i < rp->n_items; i++)
		if (!fast_item(sc, m, i, &a, &r, &trust))
			goto out;
	if (finish(&r, outcome, &err) == ERROR_OK) {
		outcome->model = m;
		done = true;
	}
out:
	if (!done) {
		strbuf_reset(reply);
		drift_tally_stop(&sc->tally);
	}
	predict_reply_done(&r);
	predict_api_scratch_trim(sc);
	return done;
}

enum error_code predict_api_run(struct predict_api_scratch *sc, const char *body, size_t len,
				const struct predict_limits *lim, predict_resolve_fn resolve,
				void *ctx, struct strbuf *reply, struct predict_outcome *outcome,
				struct error *err)
{
	memset(outcome, 0, sizeof *outcome);
	if (sc) { /* the last request's tally was committed: let it go (kept until now for that) */
		drift_tally_stop(&sc->tally);
		drift_tally_trim(&sc->tally, SCRATCH_KEEP);
	}
	if (sc && run_fast(sc, body, len, lim, resolve, ctx, reply, outcome))
		return ERROR_OK;
	if (sc && sc->log) /* what the fast path logged before it gave up was never answered */
		predlog_rollback(sc->log);
	return run_jansson(body, len, lim, resolve, ctx, sc ? sc->log : NULL, reply, outcome,
			   sc ? &sc->tally : NULL, sc ? sc->drift_window : 0, err);
}

void predict_api_scratch_track_drift(struct predict_api_scratch *sc, size_t window)
{
	sc->drift_window = window;
}

const struct drift_tally *predict_api_scratch_tally(const struct predict_api_scratch *sc)
{
	return sc && sc->tally.spec ? &sc->tally : NULL;
}

/* predict_api — see include/shelfcast/predict_api.h. */
#include "shelfcast/predict_api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/jsonutil.h"
#include "shelfcast/numfmt.h"
#include "shelfcast/predict.h"
#include "shelfcast/reqparse.h"
#include "shelfcast/util.h"

void predict_outcome_done(struct predict_outcome *o)
{
	if (!o)
		return;
	free(o->unknown_counts);
	memset(o, 0, sizeof *o);
}

static enum error_code json_syntax_error(const json_error_t *jerr, struct error *err)
{
	/* jansson leaves the text empty when its lexer cannot allocate */
	if (json_error_code(jerr) == json_error_out_of_memory || !jerr->text[0])
		return error_nomem(err, "the request");
	/* Numbers beyond double range are well-formed JSON that breaks the contract. */
	if (json_error_code(jerr) == json_error_numeric_overflow)
		return error_set(err, ERROR_INVALID, NULL,
				 "a number near byte %d is out of range: %s", jerr->position, jerr->text);
	return error_set(err, ERROR_PARSE, NULL, "malformed JSON at byte %d: %s", jerr->position,
			 jerr->text);
}

/* An item's id as the reply echoes it. */
enum item_id_kind { ITEM_ID_NONE = 0, ITEM_ID_STRING, ITEM_ID_INTEGER };

struct item_id {
	enum item_id_kind kind;
	const char *s;   /* ITEM_ID_STRING: unescaped bytes */
	size_t len;
	long long i;     /* ITEM_ID_INTEGER */
};

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

/* A level's number, then row r's "predicted_sales" and "exposure_probability". */
static void write_row(struct strbuf *sb, const struct predict_batch *b, const struct spec *spec, int level,
		      size_t r)
{
	strbuf_json_int(sb, spec->levels[level].level);
	strbuf_puts(sb, ",\"predicted_sales\":");
	strbuf_json_double(sb, b->sales[r], PREDICT_DIGITS);
	strbuf_puts(sb, ",\"exposure_probability\":");
	strbuf_json_double(sb, b->exposure[r], PREDICT_DIGITS);
}

static void write_reply(struct strbuf *sb, const struct predict_batch *b, const struct model *m,
			const struct item_id *ids, bool include_levels, enum spec_objective objective)
{
	const struct spec *spec = &m->spec;
	size_t nc = spec->n_categorical ? spec->n_categorical : 1, i, k, u;
	const char *objective_name = spec_objective_name(objective);
	strbuf_puts(sb, "{\"model\":{\"name\":");
	strbuf_json_string(sb, m->name, strlen(m->name));
	strbuf_puts(sb, ",\"version\":");
	strbuf_json_int(sb, m->version);
	strbuf_puts(sb, "},\"predictions\":[");
	for (i = 0; i < b->n; i++) {
		int lv = predict_reported_level(b, i);
		size_t r = i * b->K + (size_t)lv;

		if (i)
			strbuf_putc(sb, ',');
		strbuf_putc(sb, '{');
		if (ids[i].kind != ITEM_ID_NONE) {
			strbuf_puts(sb, "\"id\":");
			if (ids[i].kind == ITEM_ID_STRING)
				strbuf_json_string(sb, ids[i].s, ids[i].len);
			else
				strbuf_json_int(sb, ids[i].i);
			strbuf_putc(sb, ',');
		}
		strbuf_puts(sb, "\"promotion_level\":");
		write_row(sb, b, spec, lv, r);
		strbuf_puts(sb, ",\"recommended_promotion_level\":");
		strbuf_json_int(sb, spec->levels[b->recommended[i]].level);
		if (b->n_unknown[i]) {
			strbuf_puts(sb, ",\"unknown\":[");
			for (u = 0; u < b->n_unknown[i]; u++) {
				const char *name = spec->categorical[b->unknown[i * nc + u]].name;
				if (u)
					strbuf_putc(sb, ',');
				strbuf_json_string(sb, name, strlen(name));
			}
			strbuf_putc(sb, ']');
		}
		if (include_levels) {
			strbuf_puts(sb, ",\"levels\":[");
			for (k = 0; k < b->K; k++) {
				size_t rk = i * b->K + k;
				if (k)
					strbuf_putc(sb, ',');
				strbuf_puts(sb, "{\"level\":");
				write_row(sb, b, spec, (int)k, rk);
				strbuf_puts(sb, ",\"expected_");
				strbuf_puts(sb, objective_name);
				strbuf_puts(sb, "\":");
				strbuf_json_double(sb, b->value[rk], PREDICT_DIGITS);
				strbuf_putc(sb, '}');
			}
			strbuf_putc(sb, ']');
		}
		strbuf_putc(sb, '}');
	}
	strbuf_puts(sb, "]}");
}

/* Score, write the reply, count unknown categories: the end both paths share. */
static enum error_code finish(struct predict_batch *batch, const struct model *m,
			      const struct item_id *ids, bool include_levels,
			      enum spec_objective objective, struct strbuf *reply,
			      struct predict_outcome *outcome, struct error *err)
{
	size_t nc = m->spec.n_categorical ? m->spec.n_categorical : 1, i, u;

	predict_batch_run(batch, m, objective);
	write_reply(reply, batch, m, ids, include_levels, objective);
	if (strbuf_failed(reply))
		return error_nomem(err, "the reply");
	outcome->items = batch->n;
	for (i = 0; i < batch->n && !batch->n_unknown[i]; i++)
		;
	if (i == batch->n)
		return ERROR_OK; /* no unknown category: no counts to allocate */
	outcome->unknown_counts = calloc(m->spec.n_categorical + 1, sizeof *outcome->unknown_counts);
	if (!outcome->unknown_counts)
		return error_nomem(err, "the unknown-category counts");
	for (i = 0; i < batch->n; i++)
		for (u = 0; u < batch->n_unknown[i]; u++)
			outcome->unknown_counts[batch->unknown[i * nc + u]]++;
	return ERROR_OK;
}

enum error_code predict_api_run_jansson(const char *body, size_t len, size_t max_items,
					predict_resolve_fn resolve, void *ctx, struct strbuf *reply,
					struct predict_outcome *outcome, struct error *err)
{
	static const char *const top_keys[] = {"model", "objective", "include_levels", "items", NULL};
	struct predict_batch batch = {0};
	struct encoder_value *values = NULL;
	struct item_in *items = NULL;
	struct item_id *ids = NULL;
	const char *model_name = NULL, *objective_name = NULL;
	bool include_levels = false;
	enum spec_objective objective;
	json_error_t jerr;
	json_t *root, *arr = NULL;
	struct model *m = NULL;
	enum error_code rc;
	size_t n, i;

	memset(outcome, 0, sizeof *outcome);
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root)
		return json_syntax_error(&jerr, err);

	rc = jsonutil_expect_object(root, top_keys, "", err);
	if (!rc)
		rc = jsonutil_get_string(root, "model", "", false, &model_name, err);
	if (!rc)
		rc = jsonutil_get_string(root, "objective", "", false, &objective_name, err);
	if (!rc)
		rc = jsonutil_get_bool(root, "include_levels", "", false, &include_levels, err);
	if (!rc)
		rc = jsonutil_get_typed(root, "items", "", true, JSON_ARRAY, &arr, err);
	if (rc)
		goto out;
	n = json_array_size(arr);
	if (n == 0) {
		rc = error_set(err, ERROR_INVALID, "items", "items: must hold at least one item");
		goto out;
	}
	if (n > max_items) {
		rc = error_set(err, ERROR_TOO_LARGE, "items",
			       "items: %zu items is more than the limit of %zu per request", n, max_items);
		goto out;
	}
	m = resolve(ctx, model_name, err);
	if (!m) {
		rc = err && err->code ? err->code : ERROR_UNAVAILABLE;
		goto out;
	}
	objective = m->spec.objective;
	if (objective_name && !spec_objective_parse(objective_name, &objective)) {
		rc = error_set(err, ERROR_INVALID, "objective",
			       "objective: \"%s\" is not one of revenue, units, profit", objective_name);
		goto out;
	}
	if (objective == SPEC_OBJECTIVE_PROFIT && m->spec.unit_cost_index < 0) {
		rc = error_set(err, ERROR_INVALID, "objective",
			       "objective: profit needs a unit-cost feature, and model %s has none",
			       m->name);
		goto out;
	}
	items = calloc(n, sizeof *items);
	ids = calloc(n, sizeof *ids);
	values = calloc(encoder_n_inputs(m->enc) + 1, sizeof *values);
	if (!items || !ids || !values) {
		rc = error_nomem(err, "request items");
		goto out;
	}
	rc = predict_batch_init(&batch, m, n, err);
	for (i = 0; !rc && i < n; i++) {
		char prefix[JSONUTIL_PATH_MAX];
		int asked = -1;

		rc = read_item(json_array_get(arr, i), i, &items[i], err);
		if (rc)
			break;
		if (json_is_string(items[i].id))
			ids[i] = (struct item_id){ITEM_ID_STRING, json_string_value(items[i].id),
						  json_string_length(items[i].id), 0};
		else if (json_is_integer(items[i].id))
			ids[i] = (struct item_id){ITEM_ID_INTEGER, NULL, 0, (long long)json_integer_value(items[i].id)};
		snprintf(prefix, sizeof prefix, "items[%zu].features", i);
		rc = encoder_values_from_json(m->enc, items[i].features, values, prefix, err);
		if (rc)
			break;
		if (items[i].has_level) {
			asked = spec_level_index(&m->spec, items[i].level);
			if (asked < 0) {
				struct strbuf levels;
				char field[JSONUTIL_PATH_MAX];
				strbuf_init(&levels);
				write_levels_list(&levels, &m->spec);
				snprintf(field, sizeof field, "items[%zu].promotion_level", i);
				rc = error_set(err, ERROR_INVALID, field,
					       "%s: %lld is not a promotion level of model %s (levels: %s)",
					       field, items[i].level, m->name,
					       levels.data ? levels.data : "");
				strbuf_done(&levels);
				break;
			}
		}
		rc = predict_batch_set(&batch, m, i, values, asked, prefix, err);
	}
	if (rc)
		goto out;
	rc = finish(&batch, m, ids, include_levels, objective, reply, outcome, err);
out:
	outcome->model = m; /* reported even on failure: the access log names it */
	predict_batch_done(&batch);
	free(values);
	free(items);
	free(ids);
	json_decref(root);
	return rc;
}

/*
 * The fast path's memory between requests (the parser's arrays, the batch
 * and the encoder's values), so that a small request does not allocate;
 * more than SCRATCH_KEEP bytes are given back after use.
 */
#define SCRATCH_KEEP (1u << 20)

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
	return s;
}

void predict_api_scratch_free(struct predict_api_scratch *s)
{
	if (!s)
		return;
	reqparse_done(&s->rp);
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

static void scratch_trim(struct predict_api_scratch *s)
{
	if (s->cap > SCRATCH_KEEP) {
		free(s->mem);
		s->mem = NULL;
		s->cap = 0;
	}
	if (s->rp.cap_features * sizeof *s->rp.features > SCRATCH_KEEP) {
		reqparse_done(&s->rp);
		scratch_parser_init(s);
	} else {
		s->rp.n_items = s->rp.n_features = 0;
		s->rp.model.kind = s->rp.objective.kind = REQPARSE_NONE;
		s->rp.include_levels = false;
	}
}

/* Hints for model m from now on: cleared when they were another model's. Whether they already were m's. */
static bool hints_for(struct predict_api_scratch *sc, const struct model *m)
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

/* The fast path's per-request arrays, carved from the scratch's memory. */
struct fast_arrays {
	struct predict_batch batch;
	struct encoder_value *values; /* (n_in + 1) */
	struct item_id *ids;          /* (n_items) */
	uint32_t *seen;               /* (n_in + 1): the item (i + 1) that last set each input */
};

static bool fast_arrays(struct predict_api_scratch *sc, const struct model *m, size_t n_items,
			size_t n_in, struct fast_arrays *a)
{
	/* One piece of the scratch: the batch, then values, ids and seen. */
	size_t batch_bytes = (predict_batch_bytes(m, n_items) + 63) & ~(size_t)63; /* keeps what follows aligned */
	size_t extra = (n_in + 1) * (sizeof *a->values + sizeof *a->seen) + n_items * sizeof *a->ids + 64;
	char *mem;

	if (batch_bytes < 64 || !(mem = scratch_get(sc, batch_bytes + extra)))
		return false;
	predict_batch_layout(&a->batch, m, n_items, mem);
	a->values = (struct encoder_value *)(void *)(mem + batch_bytes);
	a->ids = (struct item_id *)(void *)(a->values + n_in + 1);
	a->seen = (uint32_t *)(void *)(a->ids + n_items);
	memset(a->seen, 0, (n_in + 1) * sizeof *a->seen);
	memset(a->ids, 0, n_items * sizeof *a->ids);
	return true;
}

/* Item i from the tape into the batch; false: let jansson decide. */
static bool fast_item(struct predict_api_scratch *sc, const struct model *m, size_t i,
		      struct fast_arrays *a, bool *trust)
{
	const struct reqparse_item *it = &sc->rp.items[i];
	size_t n_in = encoder_n_inputs(m->enc), f;
	struct error err;
	int asked = -1;

	if (!it->has_features)
		return false;
	for (f = 0; f < n_in; f++)
		a->values[f].kind = ENCODER_VALUE_MISSING;
	for (f = 0; f < it->count; f++) {
		const struct reqparse_feature *ft = &sc->rp.features[it->first + f];
		int idx = input_index(sc, m->enc, n_in, f, ft, trust);

		/* unknown, or a repeated key (jansson refuses duplicates) */
		if (idx < 0 || a->seen[idx] == i + 1)
			return false;
		a->seen[idx] = (uint32_t)(i + 1);
		if (!fast_value(m, idx, &ft->value, a->values))
			return false;
	}
	if (it->level.kind == REQPARSE_INT) {
		asked = spec_level_index(&m->spec, it->level.i);
		if (asked < 0)
			return false;
	}
	error_init(&err);
	if (predict_batch_set(&a->batch, m, i, a->values, asked, NULL, &err) != ERROR_OK)
		return false;
	if (it->id.kind == REQPARSE_STRING)
		a->ids[i] = (struct item_id){ITEM_ID_STRING, it->id.s, it->id.len, 0};
	else if (it->id.kind == REQPARSE_INT)
		a->ids[i] = (struct item_id){ITEM_ID_INTEGER, NULL, 0, it->id.i};
	return true;
}

/* A string of the tape as a C string in buf; false when it does not fit or holds a NUL. */
static bool tape_string(const struct reqparse_value *v, char *buf, size_t size)
{
	if (v->len >= size || memchr(v->s, '\0', v->len))
		return false;
	memcpy(buf, v->s, v->len);
	buf[v->len] = '\0';
	return true;
}

/*
 * The fast path: reqparse's tape straight into the encoder.  Whenever it is
 * not sure the request means exactly what the jansson path would make of it
 * (an unknown or repeated feature, a type the contract refuses, an unknown
 * level, any error at all), it gives up and the jansson path decides.
 */
static bool run_fast(struct predict_api_scratch *sc, const char *body, size_t len, size_t max_items,
		     predict_resolve_fn resolve, void *ctx, struct strbuf *reply,
		     struct predict_outcome *outcome, enum error_code *rc)
{
	struct reqparse *rp = &sc->rp;
	struct fast_arrays a;
	enum spec_objective objective;
	struct error err;
	struct model *m;
	char name[MODEL_NAME_MAX + 1], objective_name[16];
	bool done = false, trust;
	size_t i;

	error_init(&err);
	if (reqparse_parse(rp, body, len) != REQPARSE_OK || rp->n_items > max_items)
		goto out;
	if (rp->model.kind == REQPARSE_STRING && !tape_string(&rp->model, name, sizeof name))
		goto out;
	m = resolve(ctx, rp->model.kind == REQPARSE_STRING ? name : NULL, &err);
	if (!m)
		goto out;
	trust = hints_for(sc, m);
	objective = m->spec.objective;
	if (rp->objective.kind == REQPARSE_STRING &&
	    (!tape_string(&rp->objective, objective_name, sizeof objective_name) ||
	     !spec_objective_parse(objective_name, &objective)))
		goto out;
	if (objective == SPEC_OBJECTIVE_PROFIT && m->spec.unit_cost_index < 0)
		goto out;
	if (!fast_arrays(sc, m, rp->n_items, encoder_n_inputs(m->enc), &a))
		goto out;
	for (i = 0; i < rp->n_items; i++)
		if (!fast_item(sc, m, i, &a, &trust))
			goto out;
	*rc = finish(&a.batch, m, a.ids, rp->include_levels, objective, reply, outcome, &err);
	if (*rc == ERROR_OK) {
		outcome->model = m;
		done = true;
	} else {
		strbuf_reset(reply);
		free(outcome->unknown_counts);
		outcome->unknown_counts = NULL;
	}
out:
	scratch_trim(sc);
	return done;
}

enum error_code predict_api_run(struct predict_api_scratch *sc, const char *body, size_t len,
				size_t max_items, predict_resolve_fn resolve, void *ctx,
				struct strbuf *reply, struct predict_outcome *outcome,
				struct error *err)
{
	enum error_code rc = ERROR_OK;

	memset(outcome, 0, sizeof *outcome);
	if (sc && run_fast(sc, body, len, max_items, resolve, ctx, reply, outcome, &rc))
		return rc;
	return predict_api_run_jansson(body, len, max_items, resolve, ctx, reply, outcome, err);
}

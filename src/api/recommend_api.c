/* recommend_api — see include/shelfcast/recommend_api.h. */
#include "shelfcast/recommend_api.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/jsonutil.h"
#include "shelfcast/predict.h"
#include "shelfcast/predict_limits.h"
#include "shelfcast/predlog.h"
#include "shelfcast/recommend.h"
#include "shelfcast/recommend_reply.h"
#include "shelfcast/reqparse.h"
#include "shelfcast/util.h"

struct request {
	const char *model_name, *objective_name;
	json_t *items;
	size_t n;
	long long alternatives;
	double price_ending; /* NAN: absent */
	bool explain;
};

static enum error_code read_request(json_t *root, const struct predict_limits *lim, struct request *in,
				    struct error *err)
{
	static const char *const keys[] = {"model", "objective", "items", "alternatives", "price_ending",
					   "explain", NULL};
	enum error_code rc;

	memset(in, 0, sizeof *in);
	in->price_ending = NAN;
	rc = predict_api_json_head(root, keys, &in->model_name, &in->objective_name, err);
	if (!rc)
		rc = jsonutil_get_int(root, "alternatives", "", false, 0, RECOMMEND_MAX_ALTERNATIVES,
				      &in->alternatives, err);
	if (!rc)
		rc = jsonutil_get_number(root, "price_ending", "", false, &in->price_ending, err);
	if (!rc && !isnan(in->price_ending) && !(in->price_ending >= 0 && in->price_ending < 1))
		rc = error_set(err, ERROR_INVALID, "price_ending",
			       "price_ending: %g is not the cents of a price, in [0, 1) (0.99, say)",
			       in->price_ending);
	if (!rc)
		rc = jsonutil_get_bool(root, "explain", "", false, &in->explain, err);
	if (!rc)
		rc = predict_limits_items(root, lim->max_items, &in->items, &in->n, err);
	if (!rc)
		rc = predict_limits_explained(lim, in->explain, in->n, err);
	return rc;
}

/* "price": {"min", "max"}, numbers (their ranges: recommend_ask_check). */
static enum error_code read_price(const json_t *v, const char *path, struct recommend_ask *a,
				  struct error *err)
{
	static const char *const keys[] = {"min", "max", NULL};
	enum error_code rc;

	if (!json_is_object(v))
		return error_set(err, ERROR_INVALID, path, "%s: expected an object {\"min\", \"max\"}, got %s",
				 path, jsonutil_type_name(v));
	rc = jsonutil_expect_object(v, keys, path, err);
	if (!rc)
		rc = jsonutil_get_number(v, "min", path, false, &a->price_min, err);
	if (!rc)
		rc = jsonutil_get_number(v, "max", path, false, &a->price_max, err);
	return rc;
}

/* "levels": a non-empty array of the model's level numbers, into a mask of level indices. */
static enum error_code read_levels(const struct model *m, const json_t *v, const char *path,
				   uint64_t *mask, struct error *err)
{
	char field[JSONUTIL_PATH_MAX];
	size_t j;
	int k;

	if (!json_is_array(v))
		return error_set(err, ERROR_INVALID, path, "%s: expected an array of promotion levels, got %s",
				 path, jsonutil_type_name(v));
	if (json_array_size(v) == 0)
		return error_set(err, ERROR_INVALID, path, "%s: must hold at least one level", path);
	*mask = 0;
	for (j = 0; j < json_array_size(v); j++) {
		const json_t *e = json_array_get(v, j);
		jsonutil_path_index(field, path, j);
		if (!json_is_integer(e))
			return error_set(err, ERROR_INVALID, field, "%s: expected an integer level, got %s",
					 field, jsonutil_type_name(e));
		k = spec_level_index(&m->spec, json_integer_value(e));
		if (k < 0)
			return error_set(err, ERROR_INVALID, field,
					 "%s: %lld is not a promotion level of model %s", field,
					 (long long)json_integer_value(e), m->name);
		*mask |= (uint64_t)1 << k;
	}
	return ERROR_OK;
}

/* The option recommend_ask_check refuses, as a field of item path, and its value. */
static enum error_code refused_option(const struct recommend_ask *a, const char *path, struct error *err)
{
	static const char *const keys[] = {[RECOMMEND_ASK_UNIT_COST] = "unit_cost",
					   [RECOMMEND_ASK_PRICE_MIN] = "price.min",
					   [RECOMMEND_ASK_PRICE_MAX] = "price.max",
					   [RECOMMEND_ASK_MIN_MARGIN] = "min_margin",
					   [RECOMMEND_ASK_MIN_EXPOSURE] = "min_exposure_probability"};
	const double values[] = {[RECOMMEND_ASK_UNIT_COST] = a->unit_cost,
				 [RECOMMEND_ASK_PRICE_MIN] = a->price_min,
				 [RECOMMEND_ASK_PRICE_MAX] = a->price_max,
				 [RECOMMEND_ASK_MIN_MARGIN] = a->min_margin,
				 [RECOMMEND_ASK_MIN_EXPOSURE] = a->min_exposure};
	char field[JSONUTIL_PATH_MAX];
	const char *why;
	enum recommend_ask_field f = recommend_ask_check(a, &why);

	if (f == RECOMMEND_ASK_OK)
		return ERROR_OK;
	jsonutil_path_key(field, path, keys[f]);
	return error_set(err, ERROR_INVALID, field, "%s: %s (%g)", field, why, values[f]);
}

/* Item i into its ask (values filled from its features) and its id. */
static enum error_code read_item(const struct model *m, const json_t *item, size_t i,
				 struct recommend_ask *a, const json_t **id, struct error *err)
{
	static const char *const keys[] = {"id",         "features",   "unit_cost",
					   "price",      "levels",     "min_margin",
					   "min_exposure_probability", NULL};
	char path[JSONUTIL_PATH_MAX], field[JSONUTIL_PATH_MAX];
	const json_t *v;
	json_t *features = NULL;
	enum error_code rc;

	jsonutil_path_index(path, "items", i);
	a->unit_cost = a->price_min = a->price_max = a->min_margin = a->min_exposure = NAN;
	a->levels = 0;
	*id = NULL;
	if (!json_is_object(item))
		return error_set(err, ERROR_INVALID, path, "%s: expected an object, got %s", path,
				 jsonutil_type_name(item));
	rc = jsonutil_expect_object(item, keys, path, err);
	if (rc)
		return rc;
	v = json_object_get(item, "id");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) && !json_is_integer(v)) {
			jsonutil_path_key(field, path, "id");
			return error_set(err, ERROR_INVALID, field, "%s: expected a string or an integer, got %s",
					 field, jsonutil_type_name(v));
		}
		*id = v;
	}
	rc = jsonutil_get_typed(item, "features", path, true, JSON_OBJECT, &features, err);
	if (!rc)
		rc = jsonutil_get_number(item, "unit_cost", path, false, &a->unit_cost, err);
	if (!rc && (v = json_object_get(item, "price")) && !json_is_null(v)) {
		jsonutil_path_key(field, path, "price");
		rc = read_price(v, field, a, err);
	}
	if (!rc && (v = json_object_get(item, "levels")) && !json_is_null(v)) {
		jsonutil_path_key(field, path, "levels");
		rc = read_levels(m, v, field, &a->levels, err);
	}
	if (!rc)
		rc = jsonutil_get_number(item, "min_margin", path, false, &a->min_margin, err);
	if (!rc)
		rc = jsonutil_get_number(item, "min_exposure_probability", path, false, &a->min_exposure, err);
	if (!rc)
		rc = refused_option(a, path, err);
	if (rc)
		return rc;
	jsonutil_path_key(field, path, "features");
	return encoder_values_from_json(m->enc, features, a->values, field, err);
}

/* "objective": "profit" with no unit cost in any item and none the model reads. */
static enum error_code profit_without_cost(const struct model *m, enum spec_objective objective,
					   const struct recommend_ask *asks, size_t n, struct error *err)
{
	size_t i;

	if (objective != SPEC_OBJECTIVE_PROFIT || m->spec.unit_cost_index >= 0)
		return ERROR_OK;
	for (i = 0; i < n; i++)
		if (!isnan(asks[i].unit_cost))
			return ERROR_OK;
	return error_set(err, ERROR_INVALID, "objective",
			 "objective: profit needs a unit cost: give each item's unit_cost (model %s "
			 "reads none)",
			 m->name);
}

/* What n items take: their asks, references, feature values and answers. */
static bool request_bytes(const struct model *m, size_t n, size_t *bytes)
{
	size_t per = sizeof(struct recommend_ask) + sizeof(struct recommend_answer) + sizeof(struct recommend_item_ref),
	       values;

	return util_mul_size(encoder_n_inputs(m->enc) + 1, sizeof(struct encoder_value), &values) &&
	       util_add_size(per, values, &per) &&
	       /* and the reply: about 400 bytes an option */
	       util_add_size(per, 400 * (1 + RECOMMEND_MAX_ALTERNATIVES), &per) &&
	       util_mul_size(n, per, bytes);
}

/* A request's items, as either path reads them: asks, their values, answers and references. */
struct items {
	struct recommend_ask *asks;
	struct recommend_answer *answers;
	struct encoder_value *values;
	struct recommend_item_ref *refs;
};

static void items_done(struct items *it)
{
	free(it->asks);
	free(it->answers);
	free(it->values);
	free(it->refs);
}

static bool items_alloc(struct items *it, size_t n, size_t n_in)
{
	size_t i;

	it->asks = calloc(n, sizeof *it->asks);
	it->answers = calloc(n, sizeof *it->answers);
	it->values = calloc(n * n_in, sizeof *it->values);
	it->refs = calloc(n, sizeof *it->refs);
	if (!it->asks || !it->answers || !it->values || !it->refs)
		return false;
	for (i = 0; i < n; i++)
		it->asks[i].values = it->values + i * n_in;
	return true;
}

/* The model's memory limit for n items: ERROR_TOO_LARGE past it. */
static enum error_code check_memory(const struct model *m, size_t n, const struct predict_limits *lim,
				    struct error *err)
{
	size_t bytes;

	if (!request_bytes(m, n, &bytes) || (lim->max_memory && bytes > lim->max_memory))
		return error_set(err, ERROR_TOO_LARGE, "items",
				 "items: %zu items of model %s would take more than the limit of %zu bytes", n,
				 m->name, lim->max_memory);
	return ERROR_OK;
}

static enum error_code run_jansson(const char *body, size_t len, const struct predict_limits *lim,
				   predict_resolve_fn resolve, void *ctx, struct predlog_writer *log,
				   struct strbuf *reply, struct predict_outcome *outcome, struct error *err)
{
	struct recommend_params params;
	struct items it = {0};
	struct request in;
	json_t *root;
	struct model *m = NULL;
	enum error_code rc;
	size_t i;

	rc = predict_limits_parse(body, len, lim, &root, err);
	if (rc)
		return rc;
	rc = read_request(root, lim, &in, err);
	if (!rc)
		rc = predict_api_resolve(resolve, ctx, in.model_name, &m, err);
	if (rc)
		goto out;
	params = (struct recommend_params){m->spec.objective, (size_t)in.alternatives, in.price_ending};
	/* profit: a unit cost per item will do (profit_without_cost) */
	rc = spec_objective_choose(&m->spec, m->name, in.objective_name, false, &params.objective, err);
	if (!rc)
		rc = check_memory(m, in.n, lim, err);
	if (rc)
		goto out;
	if (!items_alloc(&it, in.n, encoder_n_inputs(m->enc) + 1)) {
		rc = error_nomem(err, "the recommendation items");
		goto out;
	}
	for (i = 0; !rc && i < in.n; i++) {
		const json_t *item = json_array_get(in.items, i), *id;
		rc = read_item(m, item, i, &it.asks[i], &id, err);
		it.refs[i] = (struct recommend_item_ref){predict_api_json_id(id), json_object_get(item, "features"), NULL, NULL};
	}
	if (!rc)
		rc = profit_without_cost(m, params.objective, it.asks, in.n, err);
	if (!rc)
		rc = recommend_run(m, it.asks, in.n, &params, it.answers, err);
	if (!rc) {
		struct recommend_reply_params rp = {m, params.objective, in.alternatives > 0, in.explain, log};
		rc = recommend_reply_write(reply, &rp, it.refs, it.asks, it.answers, in.n, err);
	}
	if (!rc)
		outcome->items = in.n;
out:
	outcome->model = m; /* reported even on failure: the access log names it */
	if (rc)
		strbuf_reset(reply);
	items_done(&it);
	json_decref(root);
	return rc;
}

/* A tape value as a number option: NAN when absent or null. */
static double tape_number(const struct reqparse_value *v)
{
	return v->kind == REQPARSE_NONE ? NAN : v->d;
}

/*
 * Item i of the tape into its ask and reference; false: the jansson path
 * decides (a feature the tape cannot take, an unknown level, an option
 * recommend_ask_check refuses).
 */
static bool fast_item(struct predict_api_scratch *sc, const struct model *m, size_t i, uint32_t *seen,
		      bool *trust, struct items *it)
{
	const struct reqparse *rp = predict_api_scratch_parser(sc);
	const struct reqparse_item *t = &rp->items[i];
	struct recommend_ask *a = &it->asks[i];
	const char *why;
	size_t j;

	if (!predict_api_scratch_features(sc, m, i, a->values, seen, trust))
		return false;
	a->unit_cost = tape_number(&t->unit_cost);
	a->price_min = tape_number(&t->price_min);
	a->price_max = tape_number(&t->price_max);
	a->min_margin = tape_number(&t->min_margin);
	a->min_exposure = tape_number(&t->min_exposure);
	a->levels = 0;
	for (j = 0; j < t->n_levels; j++) {
		int k = spec_level_index(&m->spec, rp->levels[t->first_level + j]);
		if (k < 0)
			return false;
		a->levels |= (uint64_t)1 << k;
	}
	if (recommend_ask_check(a, &why) != RECOMMEND_ASK_OK)
		return false;
	it->refs[i].id = predict_api_tape_id(&t->id);
	it->refs[i].rp = rp;
	it->refs[i].it = t;
	return true;
}

bool recommend_api_run_fast(struct predict_api_scratch *sc, const char *body, size_t len,
			    const struct predict_limits *lim, predict_resolve_fn resolve, void *ctx,
			    struct predlog_writer *log, struct strbuf *reply, struct predict_outcome *outcome,
			    enum error_code *rc, struct error *err)
{
	struct reqparse *rp = predict_api_scratch_parser(sc);
	struct recommend_params params;
	struct items it = {0};
	struct error e;
	struct model *m = NULL;
	char name[MODEL_NAME_MAX + 1], objective_name[16];
	uint32_t *seen = NULL;
	bool decided = false, trust;
	size_t i, n_in;

	memset(outcome, 0, sizeof *outcome);
	error_init(&e);
	rp->max_items = lim->max_items;
	if (reqparse_parse_recommend(rp, body, len) != REQPARSE_OK || predict_limits_too_many_explained(lim, rp->explain, rp->n_items) ||
	    (rp->model.kind == REQPARSE_STRING && !reqparse_c_string(&rp->model, name, sizeof name)) ||
	    (rp->objective.kind == REQPARSE_STRING &&
	     !reqparse_c_string(&rp->objective, objective_name, sizeof objective_name)))
		goto out;
	params.alternatives = rp->alternatives.kind == REQPARSE_INT ? (size_t)rp->alternatives.i : 0;
	params.price_ending = tape_number(&rp->price_ending);
	if ((rp->alternatives.kind == REQPARSE_INT &&
	     (rp->alternatives.i < 0 || rp->alternatives.i > RECOMMEND_MAX_ALTERNATIVES)) ||
	    (!isnan(params.price_ending) && !(params.price_ending >= 0 && params.price_ending < 1)))
		goto out;
	m = resolve(ctx, rp->model.kind == REQPARSE_STRING ? name : NULL, &e);
	if (!m)
		goto out;
	trust = predict_api_scratch_hints(sc, m);
	n_in = encoder_n_inputs(m->enc) + 1;
	if (spec_objective_choose(&m->spec, m->name, rp->objective.kind == REQPARSE_STRING ? objective_name : NULL,
				  false, &params.objective, &e) ||
	    check_memory(m, rp->n_items, lim, &e) || !items_alloc(&it, rp->n_items, n_in) ||
	    !(seen = calloc(n_in, sizeof *seen)))
		goto out;
	for (i = 0; i < rp->n_items; i++)
		if (!fast_item(sc, m, i, seen, &trust, &it))
			goto out;
	/*
	 * Every item read as the jansson path reads it: from here on the asks are
	 * its asks, and an error is the one it would set (out of memory aside),
	 * which is answered as it is rather than searched for again.
	 */
	*rc = profit_without_cost(m, params.objective, it.asks, rp->n_items, &e);
	if (!*rc)
		*rc = recommend_run(m, it.asks, rp->n_items, &params, it.answers, &e);
	if (!*rc) {
		struct recommend_reply_params p = {m, params.objective, rp->alternatives.kind == REQPARSE_INT &&
									      rp->alternatives.i > 0,
						   rp->explain, log};
		*rc = recommend_reply_write(reply, &p, it.refs, it.asks, it.answers, rp->n_items, &e);
	}
	decided = *rc != ERROR_NOMEM;
	if (decided && *rc)
		*err = e;
	else if (!*rc)
		outcome->items = rp->n_items;
out:
	if (decided)
		outcome->model = m; /* reported even on failure: the access log names it */
	if (!decided || *rc)
		strbuf_reset(reply);
	free(seen);
	items_done(&it);
	predict_api_scratch_trim(sc);
	return decided;
}

enum error_code recommend_api_run(const char *body, size_t len, const struct predict_limits *lim,
				  predict_resolve_fn resolve, void *ctx, struct strbuf *reply,
				  struct predict_outcome *outcome, struct error *err)
{
	return recommend_api_run_logged(NULL, body, len, lim, resolve, ctx, NULL, reply, outcome, err);
}

enum error_code recommend_api_run_logged(struct predict_api_scratch *sc, const char *body, size_t len,
					 const struct predict_limits *lim, predict_resolve_fn resolve, void *ctx,
					 struct predlog_writer *log, struct strbuf *reply,
					 struct predict_outcome *outcome, struct error *err)
{
	enum error_code rc;

	if (sc && recommend_api_run_fast(sc, body, len, lim, resolve, ctx, log, reply, outcome, &rc, err))
		return rc;
	memset(outcome, 0, sizeof *outcome);
	if (log) /* what the fast path logged before it gave up was never answered */
		predlog_rollback(log);
	return run_jansson(body, len, lim, resolve, ctx, log, reply, outcome, err);
}

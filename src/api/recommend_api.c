/* recommend_api — see include/shelfcast/recommend_api.h. */
#include "shelfcast/recommend_api.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/explain_reply.h"
#include "shelfcast/heads.h"
#include "shelfcast/jsonutil.h"
#include "shelfcast/numfmt.h"
#include "shelfcast/predict.h"
#include "shelfcast/predict_limits.h"
#include "shelfcast/predlog.h"
#include "shelfcast/recommend.h"
#include "shelfcast/util.h"

struct request {
	const char *model_name, *objective_name;
	json_t *items;
	size_t n;
	long long alternatives;
	double price_ending; /* NAN: absent */
	bool explain;
};

static enum error_code read_request(json_t *root, size_t max_items, struct request *in,
				    struct error *err)
{
	static const char *const keys[] = {"model", "objective", "items", "alternatives", "price_ending",
					   "explain", NULL};
	enum error_code rc;

	memset(in, 0, sizeof *in);
	in->price_ending = NAN;
	rc = jsonutil_expect_object(root, keys, "", err);
	if (!rc)
		rc = jsonutil_get_string(root, "model", "", false, &in->model_name, err);
	if (!rc)
		rc = jsonutil_get_string(root, "objective", "", false, &in->objective_name, err);
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
		rc = predict_limits_items(root, max_items, &in->items, &in->n, err);
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

static void number(struct strbuf *sb, const char *key, double v)
{
	strbuf_puts(sb, key);
	strbuf_json_double(sb, v, PREDICT_DIGITS);
}

/* An option's members (no braces). */
static void write_option(struct strbuf *sb, const struct model *m, enum spec_objective objective,
			 const struct recommend_answer *a, const struct recommend_option *o)
{
	const struct spec *spec = &m->spec;

	strbuf_puts(sb, "\"price\":");
	strbuf_json_double(sb, o->price, RECOMMEND_PRICE_DIGITS);
	strbuf_puts(sb, ",\"promotion_level\":");
	strbuf_json_int(sb, spec->levels[o->level].level);
	number(sb, ",\"effective_price\":", o->effective_price);
	number(sb, ",\"predicted_sales\":", o->sales);
	number(sb, ",\"expected_sales\":", o->expected);
	number(sb, ",\"exposure_probability\":", o->exposure);
	if (spec->has_calibration) {
		double lo, hi;
		heads_interval(spec, (double)o->y_sales, o->halfwidth, &lo, &hi);
		number(sb, ",\"predicted_sales_interval\":{\"lower\":", lo);
		number(sb, ",\"upper\":", hi);
		number(sb, ",\"coverage\":", spec->interval);
		strbuf_putc(sb, '}');
	}
	strbuf_puts(sb, ",\"expected_");
	strbuf_puts(sb, spec_objective_name(objective));
	number(sb, "\":", o->value);
	if (!isnan(a->unit_cost))
		number(sb, ",\"margin\":", o->margin);
	strbuf_puts(sb, o->at_bound ? ",\"at_price_bound\":true" : ",\"at_price_bound\":false");
}

/* What a reply needs besides the answers: the objective, alternatives asked, the explainer and its row. */
struct writer {
	const struct model *m;
	enum spec_objective objective;
	bool alternatives;
	struct explain_model *explain; /* NULL: no explanations */
	float *row;                    /* (input_size) */
	struct predlog_writer *log;    /* NULL: no prediction ids */
	struct strbuf *listed;         /* a logged choice's features (listed_features) */
};

/* A real as jansson's compact dump writes it: "%.17g", with ".0" where that reads as an integer. */
static void listed_real(struct strbuf *sb, double v)
{
	char buf[NUMFMT_MAX + 2];
	size_t n = numfmt_g(buf, v, 17);

	if (!strpbrk(buf, ".eEn")) { /* nan and inf are not JSON: a json_t real is never either */
		buf[n++] = '.';
		buf[n++] = '0';
	}
	strbuf_append(sb, buf, n);
}

/*
 * The item's features with the price column at price, as JSON text into sb:
 * what json_dumpb(JSON_COMPACT) writes for a copy of features with the price
 * set (members in their order, the price last when the item had none;
 * numbers in the same digits), without the copy and without stdio.  False
 * for a value that is no scalar, which the encoder refused before anyway.
 */
static bool listed_features(struct strbuf *sb, const json_t *features, const char *price_column, double price)
{
	const char *key;
	json_t *v;
	bool priced = false;

	strbuf_reset(sb);
	strbuf_putc(sb, '{');
	json_object_foreach((json_t *)features, key, v) {
		if (sb->len > 1)
			strbuf_putc(sb, ',');
		strbuf_json_string(sb, key, strlen(key));
		strbuf_putc(sb, ':');
		if (price_column && !strcmp(key, price_column)) {
			listed_real(sb, price);
			priced = true;
			continue;
		}
		switch (json_typeof(v)) {
		case JSON_STRING:
			strbuf_json_string(sb, json_string_value(v), json_string_length(v));
			break;
		case JSON_INTEGER:
			strbuf_json_int(sb, (long long)json_integer_value(v));
			break;
		case JSON_REAL:
			listed_real(sb, json_real_value(v));
			break;
		case JSON_TRUE:
		case JSON_FALSE:
		case JSON_NULL:
			strbuf_puts(sb, json_is_true(v) ? "true" : json_is_false(v) ? "false" : "null");
			break;
		default:
			return false;
		}
	}
	if (price_column && !priced) {
		if (sb->len > 1)
			strbuf_putc(sb, ',');
		strbuf_json_string(sb, price_column, strlen(price_column));
		strbuf_putc(sb, ':');
		listed_real(sb, price);
	}
	strbuf_putc(sb, '}');
	return !strbuf_failed(sb);
}

/*
 * The chosen option o of an item into the prediction log; its id's text into id.
 * The features logged are the item's with the price column at the chosen price:
 * what was listed, which `train --from-outcomes` reads back.
 */
static void log_choice(const struct writer *wr, const json_t *features, const struct recommend_option *o,
		       char *id)
{
	const struct spec *spec = &wr->m->spec;
	struct predlog_record rec = {
		.model = wr->m->name, .version = wr->m->version, .features = "{}", .features_len = 2,
		.level = spec->levels[o->level].level, .price = o->price, .predicted_sales = o->sales,
		.expected_sales = o->expected, .exposure_probability = o->exposure,
		.sales_t = heads_unstandardize(spec, (double)o->y_sales),
		.log_target = spec->transform == SPEC_TRANSFORM_LOG1P, .lower = NAN, .upper = NAN, .coverage = NAN};

	/* out of memory, or no object: the id still, the features as none */
	if (json_is_object(features) && listed_features(wr->listed, features, spec->price_column, o->price)) {
		rec.features = wr->listed->data;
		rec.features_len = wr->listed->len;
	}
	if (spec->has_calibration) {
		heads_interval(spec, (double)o->y_sales, o->halfwidth, &rec.lower, &rec.upper);
		rec.coverage = spec->interval;
	}
	predlog_log(wr->log, &rec, id);
}

static void write_answer(struct strbuf *sb, const struct writer *wr, const json_t *id,
			 const json_t *features, struct recommend_ask *ask, const struct recommend_answer *a)
{
	const struct model *m = wr->m;
	enum spec_objective objective = wr->objective;
	struct error err;
	size_t j;

	strbuf_putc(sb, '{');
	if (wr->log && a->feasible) {
		char text[PREDLOG_ID_TEXT];
		log_choice(wr, features, &a->opt[0], text);
		strbuf_puts(sb, "\"prediction_id\":\"");
		strbuf_append(sb, text, PREDLOG_ID_TEXT - 1);
		strbuf_puts(sb, "\",");
	}
	if (json_is_string(id)) {
		strbuf_puts(sb, "\"id\":");
		strbuf_json_string(sb, json_string_value(id), json_string_length(id));
		strbuf_putc(sb, ',');
	} else if (json_is_integer(id)) {
		strbuf_puts(sb, "\"id\":");
		strbuf_json_int(sb, (long long)json_integer_value(id));
		strbuf_putc(sb, ',');
	}
	if (!a->feasible) {
		strbuf_puts(sb, "\"feasible\":false,\"reason\":");
		strbuf_json_string(sb, a->reason, strlen(a->reason));
	} else {
		strbuf_puts(sb, "\"feasible\":true,");
		write_option(sb, m, objective, a, &a->opt[0]);
		strbuf_puts(sb, a->extrapolated ? ",\"extrapolated\":true" : ",\"extrapolated\":false");
		if (!isnan(a->unit_cost))
			number(sb, ",\"unit_cost\":", a->unit_cost);
		error_init(&err);
		/* the row was encoded before, at this very price: it cannot fail now */
		if (wr->explain &&
		    recommend_option_row(m, ask->values, a->opt[0].price, wr->row, NULL, &err) == ERROR_OK) {
			strbuf_puts(sb, ",\"explanation\":");
			explain_reply_write(sb, wr->explain, wr->row, a->opt[0].level);
		}
	}
	number(sb, ",\"searched\":{\"min\":", a->lo);
	number(sb, ",\"max\":", a->hi);
	strbuf_puts(sb, a->beyond_training ? ",\"beyond_training\":true}" : ",\"beyond_training\":false}");
	if (a->feasible && wr->alternatives) {
		strbuf_puts(sb, ",\"alternatives\":[");
		for (j = 1; j < a->n; j++) {
			if (j > 1)
				strbuf_putc(sb, ',');
			strbuf_putc(sb, '{');
			write_option(sb, m, objective, a, &a->opt[j]);
			strbuf_putc(sb, '}');
		}
		strbuf_putc(sb, ']');
	}
	strbuf_putc(sb, '}');
}

/* What n items take: their asks, their feature values and their answers. */
static bool request_bytes(const struct model *m, size_t n, size_t *bytes)
{
	size_t per = sizeof(struct recommend_ask) + sizeof(struct recommend_answer) + sizeof(json_t *),
	       values;

	return util_mul_size(encoder_n_inputs(m->enc) + 1, sizeof(struct encoder_value), &values) &&
	       util_add_size(per, values, &per) &&
	       /* and the reply: about 400 bytes an option */
	       util_add_size(per, 400 * (1 + RECOMMEND_MAX_ALTERNATIVES), &per) &&
	       util_mul_size(n, per, bytes);
}

enum error_code recommend_api_run(const char *body, size_t len, const struct predict_limits *lim,
				  predict_resolve_fn resolve, void *ctx, struct strbuf *reply,
				  struct predict_outcome *outcome, struct error *err)
{
	return recommend_api_run_logged(body, len, lim, resolve, ctx, NULL, reply, outcome, err);
}

enum error_code recommend_api_run_logged(const char *body, size_t len, const struct predict_limits *lim,
					 predict_resolve_fn resolve, void *ctx, struct predlog_writer *log,
					 struct strbuf *reply, struct predict_outcome *outcome,
					 struct error *err)
{
	struct recommend_params params;
	struct explain_model explainer = {0};
	struct writer wr = {0};
	struct strbuf listed;
	struct recommend_ask *asks = NULL;
	struct recommend_answer *answers = NULL;
	struct encoder_value *values = NULL;
	const json_t **ids = NULL;
	struct request in;
	json_t *root;
	struct model *m = NULL;
	enum error_code rc;
	size_t i, n_in = 0, bytes;

	memset(outcome, 0, sizeof *outcome);
	strbuf_init(&listed);
	rc = predict_limits_parse(body, len, lim, &root, err);
	if (rc)
		return rc;
	rc = read_request(root, lim->max_items, &in, err);
	if (!rc)
		rc = predict_limits_explained(lim, in.explain, in.n, err);
	if (rc)
		goto out;
	m = resolve(ctx, in.model_name, err);
	if (!m) {
		rc = err && err->code ? err->code : ERROR_UNAVAILABLE;
		goto out;
	}
	params = (struct recommend_params){m->spec.objective, (size_t)in.alternatives, in.price_ending};
	/* profit: a unit cost per item will do (profit_without_cost) */
	rc = spec_objective_choose(&m->spec, m->name, in.objective_name, false, &params.objective, err);
	if (rc)
		goto out;
	if (!request_bytes(m, in.n, &bytes) || (lim->max_memory && bytes > lim->max_memory)) {
		rc = error_set(err, ERROR_TOO_LARGE, "items",
			       "items: %zu items of model %s would take more than the limit of %zu bytes",
			       in.n, m->name, lim->max_memory);
		goto out;
	}
	n_in = encoder_n_inputs(m->enc) + 1;
	asks = calloc(in.n, sizeof *asks);
	answers = calloc(in.n, sizeof *answers);
	ids = calloc(in.n, sizeof *ids);
	values = calloc(in.n * n_in, sizeof *values);
	if (!asks || !answers || !ids || !values) {
		rc = error_nomem(err, "the recommendation items");
		goto out;
	}
	for (i = 0; !rc && i < in.n; i++) {
		asks[i].values = values + i * n_in;
		rc = read_item(m, json_array_get(in.items, i), i, &asks[i], &ids[i], err);
	}
	if (!rc)
		rc = profit_without_cost(m, params.objective, asks, in.n, err);
	if (!rc)
		rc = recommend_run(m, asks, in.n, &params, answers, err);
	wr = (struct writer){m, params.objective, in.alternatives > 0, NULL, NULL, log, &listed};
	if (!rc && in.explain) {
		rc = explain_model_init(&explainer, m, err);
		if (!rc)
			wr.explain = &explainer;
		if (!rc && !(wr.row = malloc(m->spec.input_size * sizeof *wr.row)))
			rc = error_nomem(err, "the explained row");
	}
	if (rc)
		goto out;
	strbuf_puts(reply, "{\"model\":{\"name\":");
	strbuf_json_string(reply, m->name, strlen(m->name));
	strbuf_puts(reply, ",\"version\":");
	strbuf_json_int(reply, m->version);
	strbuf_puts(reply, "},\"objective\":\"");
	strbuf_puts(reply, spec_objective_name(params.objective));
	strbuf_puts(reply, "\",\"recommendations\":[");
	for (i = 0; i < in.n; i++) {
		if (i)
			strbuf_putc(reply, ',');
		write_answer(reply, &wr, ids[i], json_object_get(json_array_get(in.items, i), "features"), &asks[i],
			     &answers[i]);
	}
	strbuf_puts(reply, "]}");
	if (strbuf_failed(reply))
		rc = error_nomem(err, "the reply");
	else
		outcome->items = in.n;
out:
	outcome->model = m; /* reported even on failure: the access log names it */
	if (rc)
		strbuf_reset(reply);
	if (wr.explain)
		explain_model_done(&explainer);
	free(wr.row);
	strbuf_done(&listed);
	free(asks);
	free(answers);
	free(ids);
	free(values);
	json_decref(root);
	return rc;
}

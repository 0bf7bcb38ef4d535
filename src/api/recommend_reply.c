/* recommend_reply — see include/shelfcast/recommend_reply.h. */
#include "shelfcast/recommend_reply.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/explain_reply.h"
#include "shelfcast/heads.h"
#include "shelfcast/numfmt.h"
#include "shelfcast/predict.h"
#include "shelfcast/predlog.h"

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
	struct strbuf *listed;         /* a logged choice's features (listed_json, listed_tape) */
};

/*
 * A real as jansson's dump writes it: "%.17g", with ".0" where that reads
 * as an integer, and the exponent without its "+" and leading zeros.
 */
static void listed_real(struct strbuf *sb, double v)
{
	char buf[NUMFMT_MAX + 2], *e;
	size_t n = numfmt_g(buf, v, 17);

	e = strchr(buf, 'e');
	if (e) { /* "%g"'s exponent is never 0: a digit other than 0 follows its sign and zeros */
		char *sign = e + 1, *first = sign + (*sign == '-'), *digits = sign + strspn(sign, "+-0");
		memmove(first, digits, (size_t)(buf + n - digits));
		n -= (size_t)(digits - first);
	} else if (!strpbrk(buf, ".n")) { /* nan and inf are not JSON: a json_t real is never either */
		buf[n++] = '.';
		buf[n++] = '0';
	}
	strbuf_append(sb, buf, n);
}

/* A member's key of the features logged, after a comma unless it is the first. */
static void listed_key(struct strbuf *sb, const char *key, size_t len)
{
	if (sb->len > 1)
		strbuf_putc(sb, ',');
	strbuf_json_string(sb, key, len);
	strbuf_putc(sb, ':');
}

/* The end of the features logged: the price column's member when the item had none (priced false). */
static bool listed_end(struct strbuf *sb, const char *price_column, bool priced, double price)
{
	if (price_column && !priced) {
		listed_key(sb, price_column, strlen(price_column));
		listed_real(sb, price);
	}
	strbuf_putc(sb, '}');
	return !strbuf_failed(sb);
}

/*
 * The item's features with the price column at price, as JSON text into sb:
 * the members in their order, the price last when the item had none; numbers
 * in the digits of jansson's dump, strings escaped as the replies escape
 * them (a control character's \u escape in lower case, where jansson
 * writes upper case).  Both paths log the same text for the same item.
 * False for a value that is no scalar, which the encoder refused before.
 */
static bool listed_json(struct strbuf *sb, const json_t *features, const char *price_column, double price)
{
	const char *key;
	json_t *v;
	bool priced = false;

	strbuf_reset(sb);
	strbuf_putc(sb, '{');
	json_object_foreach((json_t *)features, key, v) {
		listed_key(sb, key, strlen(key));
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
	return listed_end(sb, price_column, priced, price);
}

/* The fast path's features (see listed_json): the tape's keys and values as sent but the price's. */
static bool listed_tape(struct strbuf *sb, const struct reqparse *rp, const struct reqparse_item *it,
			const char *price_column, double price)
{
	size_t f, n_price = price_column ? strlen(price_column) : 0;
	bool priced = false;

	strbuf_reset(sb);
	strbuf_putc(sb, '{');
	for (f = 0; f < it->count; f++) {
		const struct reqparse_feature *ft = &rp->features[it->first + f];
		const struct reqparse_value *v = &ft->value;
		listed_key(sb, ft->key, ft->key_len); /* no escapes: the tape refused them */
		if (price_column && ft->key_len == n_price && !memcmp(ft->key, price_column, n_price)) {
			listed_real(sb, price);
			priced = true;
		} else if (v->kind == REQPARSE_STRING) {
			strbuf_json_string(sb, v->s, v->len);
		} else if (v->kind == REQPARSE_INT) {
			strbuf_json_int(sb, v->i);
		} else if (v->kind == REQPARSE_REAL) {
			listed_real(sb, v->d);
		} else {
			strbuf_puts(sb, "null");
		}
	}
	return listed_end(sb, price_column, priced, price);
}

/*
 * The chosen option o of an item into the prediction log; its id's text into id.
 * The features logged are the item's with the price column at the chosen price:
 * what was listed, which `train --from-outcomes` reads back.
 */
static void log_choice(const struct writer *wr, const struct recommend_item_ref *ref,
		       const struct recommend_option *o, char *id)
{
	const struct spec *spec = &wr->m->spec;
	struct predlog_record rec = {
		.model = wr->m->name, .version = wr->m->version, .features = "{}", .features_len = 2,
		.level = spec->levels[o->level].level, .price = o->price, .predicted_sales = o->sales,
		.expected_sales = o->expected, .exposure_probability = o->exposure,
		.sales_t = heads_unstandardize(spec, (double)o->y_sales),
		.log_target = spec->transform == SPEC_TRANSFORM_LOG1P, .lower = NAN, .upper = NAN, .coverage = NAN};
	bool listed = ref->it ? listed_tape(wr->listed, ref->rp, ref->it, spec->price_column, o->price)
			      : json_is_object(ref->features) &&
					listed_json(wr->listed, ref->features, spec->price_column, o->price);

	if (listed) { /* else out of memory: the id still, the features as none */
		rec.features = wr->listed->data;
		rec.features_len = wr->listed->len;
	}
	if (spec->has_calibration) {
		heads_interval(spec, (double)o->y_sales, o->halfwidth, &rec.lower, &rec.upper);
		rec.coverage = spec->interval;
	}
	predlog_log(wr->log, &rec, id);
}

static void write_answer(struct strbuf *sb, const struct writer *wr, const struct recommend_item_ref *ref,
			 struct recommend_ask *ask, const struct recommend_answer *a)
{
	const struct model *m = wr->m;
	enum spec_objective objective = wr->objective;
	char text[PREDLOG_ID_TEXT];
	struct error err;
	size_t j;

	strbuf_putc(sb, '{');
	if (wr->log && a->feasible)
		log_choice(wr, ref, &a->opt[0], text);
	predict_reply_write_ids(sb, wr->log && a->feasible ? text : NULL, &ref->id);
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

enum error_code recommend_reply_write(struct strbuf *reply, const struct recommend_reply_params *p,
				      const struct recommend_item_ref *refs, struct recommend_ask *asks,
				      const struct recommend_answer *answers, size_t n, struct error *err)
{
	const struct model *m = p->m;
	struct explain_model explainer = {0};
	struct strbuf listed;
	struct writer wr = {m, p->objective, p->alternatives, NULL, NULL, p->log, &listed};
	enum error_code rc = ERROR_OK;
	size_t i;

	strbuf_init(&listed);
	if (p->explain) {
		rc = explain_model_init(&explainer, m, err);
		if (!rc)
			wr.explain = &explainer;
		if (!rc && !(wr.row = malloc(m->spec.input_size * sizeof *wr.row)))
			rc = error_nomem(err, "the explained row");
	}
	if (!rc) {
		strbuf_puts(reply, "{\"model\":{\"name\":");
		strbuf_json_string(reply, m->name, strlen(m->name));
		strbuf_puts(reply, ",\"version\":");
		strbuf_json_int(reply, m->version);
		strbuf_puts(reply, "},\"objective\":\"");
		strbuf_puts(reply, spec_objective_name(p->objective));
		strbuf_puts(reply, "\",\"recommendations\":[");
		for (i = 0; i < n; i++) {
			if (i)
				strbuf_putc(reply, ',');
			write_answer(reply, &wr, &refs[i], &asks[i], &answers[i]);
		}
		strbuf_puts(reply, "]}");
		if (strbuf_failed(reply))
			rc = error_nomem(err, "the reply");
	}
	if (wr.explain)
		explain_model_done(&explainer);
	free(wr.row);
	strbuf_done(&listed);
	return rc;
}

/* predict_reply — see include/shelfcast/predict_reply.h. */
#include "shelfcast/predict_reply.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/explain_reply.h"
#include "shelfcast/heads.h"
#include "shelfcast/item_errors.h"
#include "shelfcast/predlog.h"
#include "shelfcast/util.h"

/* The tile's batch, then its ids. */
static size_t batch_part(const struct model *m)
{
	return m->tile_bytes; /* a multiple of 64 (predict.h) */
}

size_t predict_reply_bytes(const struct model *m)
{
	return batch_part(m) + m->tile_items * sizeof(struct predict_id);
}

enum error_code predict_reply_begin(struct predict_reply *r, const struct model *m,
				    enum spec_objective objective, bool include_levels,
				    struct strbuf *out, void *mem, struct error *err)
{
	memset(r, 0, sizeof *r);
	if (!mem && !(mem = r->own = malloc(predict_reply_bytes(m))))
		return error_nomem(err, "a tile of items");
	r->m = m;
	r->objective = objective;
	r->include_levels = include_levels;
	r->out = out;
	r->tile = m->tile_items;
	predict_batch_layout(&r->batch, m, r->tile, mem);
	r->ids = (struct predict_id *)(void *)((char *)mem + batch_part(m));
	predict_reply_set_interval(r, m->spec.interval);
	strbuf_puts(out, "{\"model\":{\"name\":");
	strbuf_json_string(out, m->name, strlen(m->name));
	strbuf_puts(out, ",\"version\":");
	strbuf_json_int(out, m->version);
	strbuf_puts(out, "},\"objective\":\"");
	strbuf_puts(out, spec_objective_name(objective)); /* the one the recommendations used */
	strbuf_puts(out, "\",\"predictions\":[");
	return ERROR_OK;
}

enum error_code predict_reply_explain(struct predict_reply *r, struct error *err)
{
	enum error_code rc;

	if (!(r->explain = malloc(sizeof *r->explain)))
		return error_nomem(err, "the explainer");
	rc = explain_model_init(r->explain, r->m, err);
	if (rc) {
		free(r->explain);
		r->explain = NULL;
	}
	return rc;
}

void predict_reply_set_interval(struct predict_reply *r, double coverage)
{
	r->interval = coverage;
	r->halfwidth = heads_interval_halfwidth(&r->m->spec, coverage);
}

void predict_reply_done(struct predict_reply *r)
{
	if (r->explain)
		explain_model_done(r->explain);
	free(r->explain);
	free(r->own);
	free(r->unknown_counts);
	memset(r, 0, sizeof *r);
}

/*
 * A level's number, then row r's "predicted_sales", "exposure_probability",
 * "expected_sales" and (a calibrated model) "predicted_sales_interval".
 */
/* Item k's interval half-width: its category's (Mondrian calibration) or the request's one. */
static double item_halfwidth(const struct predict_reply *r, size_t k)
{
	const struct spec *spec = &r->m->spec;

	return spec->has_cal_by ? heads_interval_halfwidth_row(spec, r->interval, r->batch.x + k * r->batch.d)
				: r->halfwidth;
}

static void write_row(struct strbuf *sb, const struct predict_reply *r, size_t level, size_t row)
{
	const struct predict_batch *b = &r->batch;
	const struct spec *spec = &r->m->spec;

	strbuf_json_int(sb, spec->levels[level].level);
	strbuf_puts(sb, ",\"predicted_sales\":");
	strbuf_json_double(sb, predict_batch_sales(b, r->m, row), PREDICT_DIGITS);
	strbuf_puts(sb, ",\"exposure_probability\":");
	strbuf_json_double(sb, predict_batch_exposure(b, row), PREDICT_DIGITS);
	strbuf_puts(sb, ",\"expected_sales\":");
	strbuf_json_double(sb, b->expected[row], PREDICT_DIGITS);
	if (spec->has_calibration) {
		double lo, hi;
		heads_interval(spec, (double)b->y[2 * row], item_halfwidth(r, row / b->K), &lo, &hi);
		strbuf_puts(sb, ",\"predicted_sales_interval\":{\"lower\":");
		strbuf_json_double(sb, lo, PREDICT_DIGITS);
		strbuf_puts(sb, ",\"upper\":");
		strbuf_json_double(sb, hi, PREDICT_DIGITS);
		strbuf_puts(sb, ",\"coverage\":");
		strbuf_json_double(sb, r->interval, PREDICT_DIGITS);
		strbuf_putc(sb, '}');
	}
}

static void write_unknown(struct strbuf *sb, const struct predict_batch *b, const struct spec *spec,
			  size_t k)
{
	size_t u;

	strbuf_puts(sb, ",\"unknown\":[");
	for (u = 0; u < b->n_unknown[k]; u++) {
		const char *name = spec->categorical[b->unknown[k * b->nc + u]].name;
		if (u)
			strbuf_putc(sb, ',');
		strbuf_json_string(sb, name, strlen(name));
	}
	strbuf_putc(sb, ']');
}

/* ,"key":[names of the numeric inputs idx[0..n)] */
static void write_names(struct strbuf *sb, const char *key, const uint32_t *idx, size_t n,
			const struct spec *spec)
{
	size_t u;

	strbuf_puts(sb, key);
	for (u = 0; u < n; u++) {
		const char *name = spec->numeric[idx[u]].name;
		if (u)
			strbuf_putc(sb, ',');
		strbuf_json_string(sb, name, strlen(name));
	}
	strbuf_putc(sb, ']');
}

static void write_levels(struct strbuf *sb, const struct predict_reply *r, size_t k,
			 const char *objective_name)
{
	const struct predict_batch *b = &r->batch;
	size_t l;

	strbuf_puts(sb, ",\"levels\":[");
	for (l = 0; l < b->K; l++) {
		size_t row = k * b->K + l;
		if (l)
			strbuf_putc(sb, ',');
		strbuf_puts(sb, "{\"level\":");
		write_row(sb, r, l, row);
		strbuf_puts(sb, ",\"expected_");
		strbuf_puts(sb, objective_name);
		strbuf_puts(sb, "\":");
		strbuf_json_double(sb, b->value[row], PREDICT_DIGITS);
		strbuf_putc(sb, '}');
	}
	strbuf_putc(sb, ']');
}

/* Item k's prediction (row `row`, level index lv) into the log; its id into text. */
static void log_prediction(struct predict_reply *r, size_t k, size_t row, int lv, char *text)
{
	const struct predict_batch *b = &r->batch;
	const struct spec *spec = &r->m->spec;
	const struct predict_id *id = &r->ids[k];
	struct predlog_record rec = {
		.model = r->m->name, .version = r->m->version, .features = id->features,
		.features_len = id->features_len, .features_json = id->features_json,
		.level = spec->levels[lv].level, .price = spec->price_index >= 0 ? b->price[k] : NAN,
		.predicted_sales = predict_batch_sales(b, r->m, row), .expected_sales = b->expected[row],
		.exposure_probability = predict_batch_exposure(b, row),
		.sales_t = heads_unstandardize(spec, (double)b->y[2 * row]),
		.log_target = spec->transform == SPEC_TRANSFORM_LOG1P, .lower = NAN, .upper = NAN,
		.coverage = NAN};

	if (spec->has_calibration) {
		heads_interval(spec, (double)b->y[2 * row], item_halfwidth(r, k), &rec.lower, &rec.upper);
		rec.coverage = r->interval;
	}
	predlog_log(r->log, &rec, text);
}

void predict_reply_write_ids(struct strbuf *sb, const char *log_id, const struct predict_id *id)
{
	if (log_id) {
		strbuf_puts(sb, "\"prediction_id\":\"");
		strbuf_puts(sb, log_id);
		strbuf_puts(sb, "\",");
	}
	if (id->kind == PREDICT_ID_NONE)
		return;
	strbuf_puts(sb, "\"id\":");
	if (id->kind == PREDICT_ID_STRING)
		strbuf_json_string(sb, id->s, id->len);
	else
		strbuf_json_int(sb, id->i);
	strbuf_putc(sb, ',');
}

/* Item k of the tile. */
static void write_prediction(struct predict_reply *r, size_t k)
{
	const struct predict_batch *b = &r->batch;
	const struct spec *spec = &r->m->spec;
	const struct predict_id *id = &r->ids[k];
	struct strbuf *sb = r->out;
	int lv = predict_reported_level(b, k);
	char text[PREDLOG_ID_TEXT];

	if (r->emitted++)
		strbuf_putc(sb, ',');
	strbuf_putc(sb, '{');
	if (r->log)
		log_prediction(r, k, k * b->K + (size_t)lv, lv, text);
	predict_reply_write_ids(sb, r->log ? text : NULL, id);
	strbuf_puts(sb, "\"promotion_level\":");
	write_row(sb, r, (size_t)lv, k * b->K + (size_t)lv);
	strbuf_puts(sb, ",\"recommended_promotion_level\":");
	strbuf_json_int(sb, spec->levels[b->recommended[k]].level);
	if (b->n_unknown[k])
		write_unknown(sb, b, spec, k);
	if (b->n_defaulted[k])
		write_names(sb, ",\"defaulted\":[", b->defaulted + k * b->nn,
			    b->n_defaulted[k], spec);
	if (b->n_clipped[k])
		write_names(sb, ",\"clipped\":[", b->clipped + k * b->nn,
			    b->n_clipped[k], spec);
	if (r->include_levels)
		write_levels(sb, r, k, spec_objective_name(r->objective));
	if (r->explain) {
		strbuf_puts(sb, ",\"explanation\":");
		explain_reply_write(sb, r->explain, b->x + k * b->d, lv);
	}
	strbuf_putc(sb, '}');
}

static enum error_code count_unknown(struct predict_reply *r, size_t k, struct error *err)
{
	const struct predict_batch *b = &r->batch;
	size_t u;

	if (!b->n_unknown[k])
		return ERROR_OK;
	if (!r->unknown_counts &&
	    !(r->unknown_counts = calloc(r->m->spec.n_categorical + 1, sizeof *r->unknown_counts)))
		return error_nomem(err, "the unknown-category counts");
	for (u = 0; u < b->n_unknown[k]; u++)
		r->unknown_counts[b->unknown[k * b->nc + u]]++;
	return ERROR_OK;
}

/* Item k's outputs are not finite numbers: noted in r->errors and left out, or the reply's error. */
static enum error_code not_finite(struct predict_reply *r, size_t k, struct error *err)
{
	struct error item_err;
	char field[32];

	snprintf(field, sizeof field, "items[%zu]", r->ids[k].index);
	error_init(&item_err);
	error_set(&item_err, ERROR_INVALID, field,
		  "%s: the model's output for this item is not a finite number "
		  "(an input far outside anything it was trained on?)",
		  field);
	if (!r->errors)
		return error_set(err, item_err.code, item_err.field, "%s", item_err.message);
	return item_errors_add(r->errors, r->ids[k].index, &item_err, err);
}

/* Score the tile's items and write them. */
static enum error_code flush(struct predict_reply *r, struct error *err)
{
	enum error_code rc = ERROR_OK;
	size_t k;

	if (!r->fill)
		return ERROR_OK;
	predict_batch_run(&r->batch, r->m, r->fill, r->objective);
	for (k = 0; !rc && k < r->fill; k++) {
		if (!r->batch.finite[k]) {
			rc = not_finite(r, k, err);
			continue;
		}
		write_prediction(r, k);
		rc = count_unknown(r, k, err);
	}
	r->fill = 0;
	if (rc)
		return rc;
	return strbuf_failed(r->out) ? error_nomem(err, "the reply") : ERROR_OK;
}

enum error_code predict_reply_push(struct predict_reply *r, const struct predict_id *id,
				   struct error *err)
{
	r->ids[r->fill] = id ? *id : (struct predict_id){.kind = PREDICT_ID_NONE};
	if (++r->fill < r->tile)
		return ERROR_OK;
	return flush(r, err);
}

enum error_code predict_reply_end(struct predict_reply *r, struct error *err)
{
	enum error_code rc = flush(r, err);

	if (rc)
		return rc;
	strbuf_puts(r->out, "]}");
	return strbuf_failed(r->out) ? error_nomem(err, "the reply") : ERROR_OK;
}

/* recommend — see include/shelfcast/recommend.h. */
#include "shelfcast/recommend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/heads.h"
#include "shelfcast/predict.h"
#include "shelfcast/recommend_search.h"

/* An option's numbers from row `row` of the confirmation batch. */
static void option_numbers(const struct recommend_work *w, const struct recommend_answer *ans,
			   enum spec_objective objective, size_t row, struct recommend_option *o)
{
	const struct predict_batch *b = &w->batch;
	double c = ans->unit_cost;

	o->sales = predict_batch_sales(b, w->m, row);
	o->expected = b->expected[row];
	o->exposure = predict_batch_exposure(b, row);
	o->y_sales = b->y[HEADS_COUNT * row + HEADS_SALES];
	o->halfwidth = heads_interval_halfwidth_row(w->spec, w->spec->interval, b->x + row / b->K * b->d);
	o->effective_price = o->price * (1.0 - w->spec->levels[o->level].discount);
	o->value = heads_value(w->spec, objective, (size_t)o->level, o->expected, o->price,
			       isnan(c) ? 0.0 : c);
	o->margin = recommend_margin(w->spec, (size_t)o->level, c, o->price);
	if (!b->finite[row / b->K])
		o->value = NAN;
}

/*
 * Score option j of every item that has one again through the prediction
 * path, a tile of items at a time in request order, as /v1/predict does.
 */
static enum error_code confirm(struct recommend_work *w, struct recommend_ask *asks, size_t n, size_t j,
			       const struct recommend_params *p, struct recommend_answer *out,
			       struct error *err)
{
	struct predict_batch *b = &w->batch;
	size_t i, fill = 0, at[PREDICT_TILE_ITEMS], f;
	size_t tile = b->n < PREDICT_TILE_ITEMS ? b->n : PREDICT_TILE_ITEMS; /* b->n: the model's tile */
	char prefix[48];
	enum error_code rc;

	for (i = 0; i <= n; i++) {
		if (i < n && out[i].feasible && out[i].n > j) {
			const struct recommend_option *o = &out[i].opt[j];
			recommend_set_price(w, asks[i].values, o->price);
			snprintf(prefix, sizeof prefix, "items[%zu].features", i);
			rc = predict_batch_set(b, w->m, fill, asks[i].values, o->level, prefix, err);
			if (rc)
				return rc;
			at[fill++] = i;
		}
		if (fill && (fill == tile || i == n)) {
			predict_batch_run(b, w->m, fill, p->objective);
			for (f = 0; f < fill; f++) {
				struct recommend_option *o = &out[at[f]].opt[j];
				option_numbers(w, &out[at[f]], p->objective, f * b->K + (size_t)o->level, o);
			}
			fill = 0;
		}
	}
	return ERROR_OK;
}

/*
 * The confirmed options best first: the search ranked them by its own
 * numbers, before their prices were rounded to what the reply prints.  Ties:
 * the lower level, then the lower price (as the search ranks).
 */
static void sort_options(struct recommend_answer *ans)
{
	size_t i, j;

	for (i = 1; i < ans->n; i++) {
		struct recommend_option o = ans->opt[i];
		for (j = i; j > 0; j--) {
			const struct recommend_option *q = &ans->opt[j - 1];
			if (!(o.value > q->value ||
			      (o.value == q->value && (o.level < q->level || (o.level == q->level && o.price < q->price)))))
				break;
			ans->opt[j] = ans->opt[j - 1];
		}
		ans->opt[j] = o;
	}
}

/* Drop option j of ans (its confirmed numbers broke a constraint). */
static void drop_option(struct recommend_answer *ans, size_t j)
{
	memmove(&ans->opt[j], &ans->opt[j + 1], (ans->n - j - 1) * sizeof ans->opt[0]);
	ans->n--;
}

enum recommend_ask_field recommend_ask_check(const struct recommend_ask *a, const char **why)
{
	const struct {
		bool bad;
		enum recommend_ask_field field;
		const char *why;
	} rules[] = {
		{!isnan(a->unit_cost) && a->unit_cost < 0, RECOMMEND_ASK_UNIT_COST, "a unit cost cannot be negative"},
		{!isnan(a->price_min) && !(a->price_min > 0), RECOMMEND_ASK_PRICE_MIN,
		 "a price bound must be greater than 0"},
		{!isnan(a->price_max) && !(a->price_max > 0), RECOMMEND_ASK_PRICE_MAX,
		 "a price bound must be greater than 0"},
		{!isnan(a->price_min) && !isnan(a->price_max) && a->price_min > a->price_max, RECOMMEND_ASK_PRICE_MIN,
		 "the lowest price is above the highest"},
		{!isnan(a->min_margin) && !(a->min_margin >= 0 && a->min_margin < 1), RECOMMEND_ASK_MIN_MARGIN,
		 "outside [0, 1)"},
		{!isnan(a->min_exposure) && !(a->min_exposure >= 0 && a->min_exposure <= 1), RECOMMEND_ASK_MIN_EXPOSURE,
		 "outside [0, 1]"},
	};
	size_t i;

	for (i = 0; i < sizeof rules / sizeof rules[0]; i++)
		if (rules[i].bad) {
			*why = rules[i].why;
			return rules[i].field;
		}
	*why = NULL;
	return RECOMMEND_ASK_OK;
}

enum error_code recommend_run(const struct model *m, struct recommend_ask *asks, size_t n,
			      const struct recommend_params *p, struct recommend_answer *out,
			      struct error *err)
{
	struct recommend_work w;
	enum error_code rc;
	size_t i, j, keep = 1 + p->alternatives;
	bool again;

	rc = recommend_work_init(&w, m, n ? n : 1, err);
	if (rc)
		return rc;
	for (i = 0; !rc && i < n; i++)
		rc = recommend_search_item(&w, &asks[i], i, p, &out[i], err);
	/*
	 * Confirm option by option.  Should a confirmed number break the exposure
	 * minimum (the search's numbers round differently in their last bits) or
	 * the margin (its division rounds), the option is dropped and the next
	 * one confirmed in its place.
	 */
	for (j = 0; !rc && j < keep; j++) {
		do {
			rc = confirm(&w, asks, n, j, p, out, err);
			again = false;
			for (i = 0; !rc && i < n; i++) {
				struct recommend_answer *a = &out[i];
				if (!a->feasible || a->n <= j)
					continue;
				if (!isfinite(a->opt[j].value) ||
				    (!isnan(asks[i].min_exposure) && a->opt[j].exposure < asks[i].min_exposure) ||
				    (!isnan(asks[i].min_margin) && !(a->opt[j].margin >= asks[i].min_margin))) {
					drop_option(a, j);
					again |= a->n > j;
				}
			}
		} while (!rc && again);
	}
	for (i = 0; !rc && i < n; i++) {
		struct recommend_answer *a = &out[i];
		double tlo, thi;
		if (!a->feasible)
			continue;
		if (a->n == 0) {
			a->feasible = false;
			snprintf(a->reason, sizeof a->reason,
				 "no candidate keeps its numbers finite, the minimum exposure and the margin once scored");
			continue;
		}
		if (a->n > keep)
			a->n = keep;
		sort_options(a);
		a->at_price_bound = a->opt[0].at_bound;
		a->extrapolated = recommend_training_range(m, &tlo, &thi) &&
				  (a->opt[0].price < tlo || a->opt[0].price > thi);
	}
	recommend_work_done(&w);
	return rc;
}

enum error_code recommend_option_row(const struct model *m, struct encoder_value *values, double price,
				     float *row, const char *field_prefix, struct error *err)
{
	encoder_set_feature(m->enc, values, m->spec.price_column, price);
	return encoder_encode(m->enc, values, -1, row, NULL, NULL, field_prefix, err);
}

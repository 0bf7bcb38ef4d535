/* recommend_price — the price side of a recommendation: the range, the margin's floor, the printed price (recommend_search.h). */
#include "shelfcast/recommend_search.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "shelfcast/numfmt.h"

bool recommend_training_range(const struct model *m, double *lo, double *hi)
{
	const struct spec_numeric *f = &m->spec.numeric[m->spec.price_index];

	if (!f->has_clip)
		return false;
	*lo = f->clip_lo;
	*hi = f->clip_hi;
	return true;
}

double recommend_margin(const struct spec *spec, size_t k, double c, double p)
{
	double e = p * (1.0 - spec->levels[k].discount);

	return isnan(c) ? NAN : (e - c) / e;
}

/* Does price p of level k leave margin m (NAN: none asked) on unit cost c? */
static bool margin_holds(const struct spec *spec, size_t k, double c, double m, double p)
{
	return isnan(m) || isnan(c) || recommend_margin(spec, k, c, p) >= m;
}

/* p through its text at `digits` significant digits: the number a client reading the reply gets. */
static double reparsed(double p, int digits)
{
	char buf[NUMFMT_MAX];

	numfmt_g(buf, p, digits);
	return strtod(buf, NULL);
}

/*
 * p as the reply prints it: a candidate with a price ending as its decimal
 * (n + ending, RECOMMEND_PRICE_DIGITS), any other at PREDICT_DIGITS
 * significant digits, kept within [lo, hi] and raised a printed unit when
 * the margin there rounds below m (at the floor, the margin's division can
 * lose the last bit; a printed unit adds far more).  p itself when that
 * fails.
 */
double recommend_printed_price(const struct spec *spec, size_t k, double c, double m, double p, double lo,
			    double hi, bool ending)
{
	double r, unit;

	if (ending) {
		r = reparsed(p, RECOMMEND_PRICE_DIGITS);
		return r >= lo && r <= hi && margin_holds(spec, k, c, m, r) ? r : p;
	}
	r = reparsed(p, PREDICT_DIGITS);
	unit = pow(10.0, floor(log10(r)) - (PREDICT_DIGITS - 1));
	if (r < lo)
		r = reparsed(r + unit, PREDICT_DIGITS);
	else if (r > hi)
		r = reparsed(r - unit, PREDICT_DIGITS);
	if (!margin_holds(spec, k, c, m, r))
		r = reparsed(r + unit, PREDICT_DIGITS);
	return r >= lo && r <= hi && margin_holds(spec, k, c, m, r) ? r : p;
}

double recommend_margin_floor(const struct spec *spec, size_t k, double c, double m)
{
	if (isnan(m) || isnan(c) || c <= 0)
		return 0.0;
	return c / ((1.0 - m) * (1.0 - spec->levels[k].discount));
}

/* The price range of item i into ans (lo, hi); an error names items[i].price. */
enum error_code recommend_price_range(const struct model *m, const struct recommend_ask *a, size_t i,
				   struct recommend_answer *ans, struct error *err)
{
	double tlo = NAN, thi = NAN;
	bool trained = recommend_training_range(m, &tlo, &thi);
	char field[48];

	snprintf(field, sizeof field, "items[%zu].price", i);
	if (!trained && (isnan(a->price_min) || isnan(a->price_max)))
		return error_set(err, ERROR_INVALID, field,
				 "%s: model %s has no training range for its price column %s: give both "
				 "min and max",
				 field, m->name, m->spec.price_column);
	ans->lo = isnan(a->price_min) ? tlo : a->price_min;
	ans->hi = isnan(a->price_max) ? thi : a->price_max;
	if (!(ans->lo > 0))
		return error_set(err, ERROR_INVALID, field,
				 "%s: the price column's training range starts at %g: give a positive min",
				 field, ans->lo);
	if (ans->lo > ans->hi)
		return error_set(err, ERROR_INVALID, field,
				 "%s: the range is empty: min %.7g is above max %.7g (the training range "
				 "is [%.7g, %.7g])",
				 field, ans->lo, ans->hi, tlo, thi);
	ans->beyond_training = trained && (ans->lo < tlo || ans->hi > thi);
	return ERROR_OK;
}

/* Item i's unit cost: asked, else the model's unit-cost feature, else NAN. */
double recommend_item_unit_cost(const struct model *m, struct recommend_ask *a)
{
	const struct spec *spec = &m->spec;

	if (!isnan(a->unit_cost)) {
		/* the model reads its unit cost: it sees the one asked when the features leave it out */
		if (spec->unit_cost_index >= 0 &&
		    a->values[spec->unit_cost_index].kind == ENCODER_VALUE_MISSING) {
			a->values[spec->unit_cost_index].kind = ENCODER_VALUE_NUMBER;
			a->values[spec->unit_cost_index].number = a->unit_cost;
		}
		return a->unit_cost;
	}
	if (spec->unit_cost_index >= 0)
		return encoder_numeric_value(m->enc, a->values, (size_t)spec->unit_cost_index);
	return NAN;
}

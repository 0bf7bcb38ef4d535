/* promo — see include/shelfcast/promo.h. */
#include "shelfcast/promo.h"

#include <float.h>
#include <math.h>

double promo_sales_head(const struct spec *spec, float y)
{
	double t = (double)y * spec->target_std + spec->target_mean, units;

	if (spec->transform == SPEC_TRANSFORM_LOG1P) {
		/* exp overflows past ~709; no real sales figure is anywhere near. */
		units = expm1(t > 700.0 ? 700.0 : t);
	} else {
		units = t;
	}
	if (!(units > 0.0)) /* also maps NaN to 0 */
		return 0.0;
	return units < DBL_MAX ? units : DBL_MAX;
}

double promo_exposure_head(float z)
{
	double d = (double)z;
	if (d >= 0)
		return 1.0 / (1.0 + exp(-d));
	else {
		double e = exp(d);
		return e / (1.0 + e);
	}
}

double promo_value(const struct spec *spec, enum spec_objective objective, size_t k, double units,
		   double price, double unit_cost)
{
	const struct spec_level *l = &spec->levels[k];
	switch (objective) {
	case SPEC_OBJECTIVE_UNITS:
		return units;
	case SPEC_OBJECTIVE_PROFIT:
		return units * (price * (1.0 - l->discount) - unit_cost) - l->cost;
	case SPEC_OBJECTIVE_REVENUE:
		break;
	}
	return units * price * (1.0 - l->discount) - l->cost;
}

size_t promo_choose(const struct spec *spec, enum spec_objective objective, const double *units,
		    double price, double unit_cost, double *values)
{
	size_t k, best = 0;
	double best_value = -INFINITY;

	for (k = 0; k < spec->n_levels; k++) {
		double v = promo_value(spec, objective, k, units[k], price, unit_cost);
		if (values)
			values[k] = v;
		/* Strictly greater: a tie keeps the lower level. */
		if (v > best_value) {
			best_value = v;
			best = k;
		}
	}
	return best;
}

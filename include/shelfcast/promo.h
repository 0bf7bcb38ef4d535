/*
 * promo — the promotion optimizer and the output heads.
 *
 * Every item is scored at every level; promo_choose picks the level whose
 * objective value is highest, ties going to the lower level:
 *   revenue = units * price * (1 - discount) - cost
 *   units   = units
 *   profit  = units * (price * (1 - discount) - unit_cost) - cost
 *
 * Thread-safety: pure functions.
 */
#ifndef SHELFCAST_PROMO_H
#define SHELFCAST_PROMO_H

#include <stddef.h>

#include "shelfcast/spec.h"

/* predicted_sales = max(0, inverse_transform(y)); y is the standardized transformed target. */
double promo_sales_head(const struct spec *spec, float y);
/* exposure_probability = sigmoid(z), stable for any finite z (+-1000 included). */
double promo_exposure_head(float z);

/* The objective value of selling `units` at level index k. */
double promo_value(const struct spec *spec, enum spec_objective objective, size_t k, double units,
		   double price, double unit_cost);

/*
 * Choose a level.  units: (K) predicted units per level, K = spec->n_levels.
 * values: (K) out, the objective per level (may be NULL).  Returns the
 * chosen level index.
 */
size_t promo_choose(const struct spec *spec, enum spec_objective objective, const double *units,
		    double price, double unit_cost, double *values);

#endif

/*
 * promo — the promotion choice: every item is scored at every level, and
 * promo_choose picks the level whose objective value (heads_value, see
 * heads.h) is highest, ties going to the lower level.
 *
 * Thread-safety: pure functions.
 */
#ifndef SHELFCAST_PROMO_H
#define SHELFCAST_PROMO_H

#include <stddef.h>

#include "shelfcast/heads.h"
#include "shelfcast/spec.h"

/*
 * Choose a level.  units: (K) predicted units per level, K = spec->n_levels.
 * values: (K) out, the objective per level (may be NULL).  Returns the
 * chosen level index.
 */
size_t promo_choose(const struct spec *spec, enum spec_objective objective, const double *units,
		    double price, double unit_cost, double *values);

#endif

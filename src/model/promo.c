/* promo — see include/shelfcast/promo.h. */
#include "shelfcast/promo.h"

#include <math.h>

size_t promo_choose(const struct spec *spec, enum spec_objective objective, const double *units,
		    double price, double unit_cost, double *values)
{
	size_t k, best = 0;
	double best_value = -INFINITY;

	for (k = 0; k < spec->n_levels; k++) {
		double v = heads_value(spec, objective, k, units[k], price, unit_cost);
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

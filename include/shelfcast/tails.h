/*
 * tails — the winsorizing quantiles of a stream of values, in bounded
 * memory, as fit.c computes them from all values (the interpolation between
 * order statistics floor(q(m-1)) and the next, m the values).
 *
 * A bound at quantile q over at most M values needs only the
 * floor(q(M-1)) + 3 smallest values (or the floor((1-q)(M-1)) + 3 largest
 * for the upper one): kept exactly in a heap while that is at most
 * exact_max values, and then the bound equals fit.c's.  A longer tail comes
 * from a seeded uniform reservoir of TAILS_RESERVOIR values (Algorithm R):
 * exact while the values fit in it, else within 0.0105 of the ranks with
 * probability 1 - 1e-6 (the Dvoretzky-Kiefer-Wolfowitz bound,
 * sqrt(ln(2 / 1e-6) / (2 * 65536))).
 *
 * Thread-safety: one sketch per thread.
 */
#ifndef SHELFCAST_TAILS_H
#define SHELFCAST_TAILS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shelfcast/error.h"
#include "shelfcast/rng.h"

#define TAILS_RESERVOIR 65536

struct tails {
	double q_lo, q_hi;
	size_t k_lo, k_hi; /* the tails kept exactly; 0: that bound comes from the reservoir */
	double *lo, *hi;   /* max-heap of the k_lo smallest, of the negated k_hi largest */
	size_t n_lo, n_hi;
	double *res;       /* the reservoir, when a tail is too long */
	size_t n_res;
	struct rng rng;
	size_t m;          /* values added */
};

/* A sketch for quantiles q_lo < q_hi of at most max_values values. */
enum error_code tails_init(struct tails *t, size_t max_values, double q_lo, double q_hi,
			   size_t exact_max, uint64_t seed, struct error *err);
void tails_add(struct tails *t, double v);
/*
 * After the last value (m > 0): the two bounds, and how each was found
 * ("exact" or "reservoir"; static strings).  Sorts the sketch: add nothing after.
 */
enum error_code tails_bounds(struct tails *t, double *lo, double *hi, const char **how_lo,
			     const char **how_hi, struct error *err);
void tails_done(struct tails *t);

#endif

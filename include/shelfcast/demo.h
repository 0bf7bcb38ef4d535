/*
 * demo — a synthetic catalog with a known ground truth (README, "Demo
 * data"), so the whole pipeline can be checked against the truth: each row
 * is one item listed at a random promotion level with its observed units
 * and whether it was featured.
 *
 *   expected units  lambda(L) = exp(base_c + brand_b - e_c ln(p (1 - d_L) / ref_c)
 *                                  - 0.2 ln(w / refw_c) + r_c (1 - exp(-0.9 L)))
 *   observed units  ~ Poisson(lambda(L) * exp(N(0, 0.2^2)))
 *   featured        ~ Bernoulli(sigmoid(-1.5 + x_b + 0.6 L + 0.3 ln(lambda(L) / 50)))
 *   revenue(L)      = lambda(L) p (1 - d_L) - cost_L
 * with levels 0..3 at discounts 0, 10, 20, 30 % and fixed costs 0, 15, 40, 80.
 *
 * Thread-safety: pure (a seeded generator per call).
 */
#ifndef SHELFCAST_DEMO_H
#define SHELFCAST_DEMO_H

#include <stdint.h>
#include <stdio.h>

#include "shelfcast/error.h"

/*
 * Write `rows` items as CSV to out.  truth (may be NULL) gets, per item, the
 * expected units and revenue at every level and the truly best level.
 */
enum error_code demo_write(FILE *out, FILE *truth, size_t rows, uint64_t seed, struct error *err);

#endif

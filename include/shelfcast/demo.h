/*
 * demo — a synthetic catalog with a known ground truth (docs/training.md,
 * "The synthetic demo catalog"), so the whole pipeline can be checked against
 * the truth: each row is one item listed at a random price around its
 * reference price and a random promotion level, with its observed units,
 * whether it was featured, and its unit cost.
 *
 *   reference price  ref_i = ref_c exp(0.28 u)                 u ~ N(0, 1)
 *   listed price     p     = ref_i exp(0.21 v)                 v ~ N(0, 1), independent of u
 *                    (so p = ref_c exp(N(0, 0.35^2)), as before reference prices existed)
 *   unit cost        c_i   = ref_i U(0.25, 0.65)
 *   expected units  lambda(L) = exp(base_c + brand_b - e_c ln(p (1 - d_L) / ref_c)
 *                                  - 0.2 ln(w / refw_c) + r_c (1 - exp(-0.9 L)))
 *   observed units  ~ Poisson(lambda(L) * exp(N(0, 0.2^2)))
 *   featured        ~ Bernoulli(sigmoid(-1.5 + x_b + 0.6 L + 0.3 ln(lambda(L) / 50)))
 *   revenue(L)      = lambda(L) p (1 - d_L) - cost_L
 * with levels 0..3 at discounts 0, 10, 20, 30 % and fixed costs 0, 15, 40, 80.
 * Prices and costs are written rounded to cents, weights to grams; the truth
 * is computed at the written values.
 *
 * Demand has a constant elasticity, so at any price q
 *
 *   units(q, L)  = scale_L q^(-e_c)        scale_L = lambda(L) at p, times p^(e_c)
 *   profit(q, L) = units(q, L) (q (1 - d_L) - c_i) - cost_L
 *
 * and for e_c > 1 profit is unimodal in q with its maximum at
 * q (1 - d_L) = c_i e_c / (e_c - 1): inside ref_i +-30 % for some items,
 * at a bound for others (electronics, e = 1.2, always at +30 %).
 *
 * CSV columns: item_id, brand, category, price, weight_kg, promo_level,
 * units, featured, unit_cost.  Truth columns: item_id, best_level (by revenue
 * at p), units_0..3 and revenue_0..3 (at p), reference_price, unit_cost,
 * elasticity, scale_0..3.
 *
 * Columns drawn before reference prices and unit costs existed are the same
 * byte for byte for a seed (the new draws come from a second stream).
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
 * expected units and revenue at every level at the listed price, the truly
 * best level there, and the parameters of units and profit at any price.
 */
enum error_code demo_write(FILE *out, FILE *truth, size_t rows, uint64_t seed, struct error *err);

#endif

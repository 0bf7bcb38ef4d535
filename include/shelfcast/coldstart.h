/*
 * coldstart — teaching each categorical feature's unknown slot before
 * serving needs it.  When every training category is frequent, no training
 * row ever lights the unknown slot, its weights keep their random start,
 * and an unseen brand is scored with them (an order of magnitude off, at
 * worst).  coldstart_route moves COLDSTART_SHARE of the training rows'
 * categories, each feature on its own and at random (the config's seed),
 * to the unknown slot, so that the slot learns the average effect.  Only
 * the training part is routed: validation and test rows stay as they are.
 *
 * Thread-safety: no shared state.
 */
#ifndef SHELFCAST_COLDSTART_H
#define SHELFCAST_COLDSTART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shelfcast/encoder.h"
#include "shelfcast/spec.h"

#define COLDSTART_SHARE 0.03

/*
 * X: (rows, d) encoded rows; rows (n) the training part.  counts
 * (n_categorical): how many of those rows train each unknown slot afterwards
 * (routed, or unknown already: a rare category).  routed (may be NULL;
 * indexed by X's row): set for each row this routed.
 */
void coldstart_route(const struct spec *spec, const struct encoder *enc, float *X, size_t d,
		     const size_t *rows, size_t n, uint64_t seed, size_t *counts, bool *routed);

#endif

/*
 * split — which rows of a table train, validate and test.
 *
 *   test: rows whose split column is >= split.test_from, or a seeded random
 *     split.fraction of them (split.seed);
 *   validation: carved from the rest (all_train), its latest
 *     validation_fraction by the split column, or a random share when
 *     validation_random (or when there is no split column);
 *   train: the rest of all_train;
 *   fit_train, fit_all (with model.recent_weight > 1 only): the rows the
 *     network's epochs run over, train and all_train with each one's latest
 *     model.recent_fraction by the split column repeated to recent_weight
 *     times in all (recency weighting);
 *   cal, cal_train (with model.calibration_fraction only): the intervals'
 *     held-out window, the latest (or, with validation_random, a random)
 *     calibration_fraction of all_train, ordered like the validation
 *     slice, and the rest of all_train, which the networks that calibrate
 *     train on (fit_cal: cal_train weighted like fit_train, or NULL).
 * Row numbers are table rows.  The same config on the same table gives the
 * same split.
 *
 * Thread-safety: pure; the table is read-only.
 */
#ifndef SHELFCAST_SPLIT_H
#define SHELFCAST_SPLIT_H

#include <stddef.h>

#include "shelfcast/dataset.h"
#include "shelfcast/error.h"
#include "shelfcast/table.h"

struct split {
	size_t *train, *valid, *test; /* owned: row numbers */
	size_t *all_train;            /* owned: train and valid together, in row order */
	size_t n_train, n_valid, n_test, n_all_train;
	size_t *fit_train, *fit_all;  /* owned, or NULL (recent_weight 1): train, all_train */
	size_t n_fit_train, n_fit_all;
	size_t *cal, *cal_train, *fit_cal; /* owned, or NULL (no calibration_fraction; recent_weight 1) */
	size_t n_cal, n_cal_train, n_fit_cal;
};

/*
 * Split t's rows.  split_col: the table column of cfg->split_column, or -1
 * when the config has none.  A part left empty is an error naming the
 * config field to change.
 */
enum error_code split_make(const struct dataset_config *cfg, const struct table *t, int split_col,
			   struct split *s, struct error *err);
void split_done(struct split *s);

#endif

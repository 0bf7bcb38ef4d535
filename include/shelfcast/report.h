/*
 * report — the two JSON documents a training run stores with its version:
 *
 *   metrics:  {"sales": {...}, "exposure": {...},
 *              "baselines": {"linear": {...}, "logistic": {...}}, "test_rows": N}
 *   training: {"rows": {read, *_dropped, nonfinite_feature_values, used, train,
 *                       validation, test},
 *              "winsorized_values", "winsorize": [lo, hi], "rare_categories_to_unknown",
 *              "vocabulary_sizes", "seed", "epochs_run", "best_epoch",
 *              "duration_seconds", "data_checksum", "shelfcast_version", "dataset",
 *              "model": {hidden, batch_size, learning_rate, patience, weight_decay,
 *                        exposure_weight, validation_fraction, ema, validation,
 *                        log_inputs, refit}}
 *
 * Keys appear in that order.  Thread-safety: pure functions.
 */
#ifndef SHELFCAST_REPORT_H
#define SHELFCAST_REPORT_H

#include <jansson.h>

#include "shelfcast/dataset.h"
#include "shelfcast/evaluate.h"
#include "shelfcast/fit.h"
#include "shelfcast/learn.h"
#include "shelfcast/split.h"
#include "shelfcast/table.h"

/* Held-out metrics of the network and of the baselines on the same rows. */
struct report_scores {
	struct sales_metrics sales, linear;
	struct exposure_metrics exposure, logistic;
	size_t n_test;
	double interval_coverage;       /* share of test rows inside the default interval */
	double interval_mean_width_log; /* its mean width in transformed (log1p) units */
};

/* New, or NULL when out of memory. */
json_t *report_metrics(const struct report_scores *s);

/* What the run did; it shares fit's objects (a reference each). New, or NULL when out of memory. */
json_t *report_training(const struct dataset_config *cfg, const struct table *t,
			const struct split *sp, const struct fit_report *fit,
			const struct learn_outcome *learned, double duration_seconds);

#endif

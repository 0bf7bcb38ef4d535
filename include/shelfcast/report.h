/*
 * report — the two JSON documents a training run stores with its version:
 *
 *   metrics:  {"sales": {...}, "exposure": {...},
 *              "baselines": {"linear": {...}, "logistic": {...}}, "test_rows": N,
 *              "interval_coverage", "interval_mean_width_log"}
 *   training: {"rows": {read, *_dropped, nonfinite_feature_values, used, train,
 *                       validation, test},
 *              "winsorized_values", "winsorize": [lo, hi], "rare_categories_to_unknown",
 *              "vocabulary_sizes", "seed", "epochs_run", "best_epoch",
 *              "duration_seconds", "data_checksum", "shelfcast_version", "dataset",
 *              "model": {hidden, batch_size, learning_rate, patience, weight_decay,
 *                        exposure_weight, validation_fraction, ema, validation,
 *                        log_inputs, refit, members, interval},
 *              "unknown_slot_rows": {feature: rows, ...},
 *              "ensemble": {members, member_hidden, blend_sales, blend_exposure}}
 *
 * "sales", "exposure" and "interval_*" score the served network (the blend,
 * ensemble.h); "baselines" the baselines fitted on the whole training part
 * (train + validation), which the served blend holds only with model.refit.
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
#include "shelfcast/spec.h"
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

/*
 * What the run did.  unknown_slot_rows: (spec->n_categorical) rows that
 * trained each feature's unknown slot (coldstart.h); ensemble: ensemble_learn's
 * info.  It shares fit's objects and ensemble (a reference each).  New, or
 * NULL when out of memory.
 */
json_t *report_training(const struct dataset_config *cfg, const struct table *t,
			const struct split *sp, const struct fit_report *fit,
			const struct learn_outcome *learned, const struct spec *spec,
			const size_t *unknown_slot_rows, json_t *ensemble, double duration_seconds);

#endif

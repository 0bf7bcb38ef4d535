/*
 * train — from a loaded table and a dataset config to a registered-ready
 * model version: spec, weights, metrics, training facts.
 *
 *   split (time column or seeded fraction) -> validation slice carved from
 *   the training part (its latest share by the split column, or a random
 *   share) -> encoder statistics fitted on the training part only
 *   (winsorizing bounds, mean/std, vocabularies with min_count, target
 *   standardization) -> the memory the run needs checked against what the
 *   process may take, before any large allocation (trainmem.h) -> every
 *   row encoded by encoder_encode, the same function that serves -> a share
 *   of the training rows' categories routed to the unknown slots
 *   (coldstart.h) -> linear and logistic baselines on the whole training
 *   part -> model.members two-head MLPs trained with Adam on seeded
 *   minibatches (MSE on the standardized transformed target + weighted
 *   binary cross-entropy on exposure), early stopping on the validation
 *   loss with the best weights restored, optionally refit on the whole
 *   training part (learn.h) -> the members and the baselines blended by
 *   weights stacked on the validation slice and packed into one MLP, the
 *   served network, with the conformal intervals calibrated on the blend's
 *   validation residuals (ensemble.h, calibrate.h) -> metrics of the
 *   served network and of the baselines on the test part -> the
 *   explanations' reference rows (explain.h).
 *
 * The same seed on the same data gives the same weights: shuffles come
 * from a seeded generator and BLAS runs single-threaded.
 *
 * The steps are modules of their own: split.h (the parts), fit.h (the
 * encoder's statistics), trainmem.h, coldstart.h, learn.h (a network's
 * training), ensemble.h and calibrate.h (the served blend), evaluate.h and
 * baseline.h (the held-out scores), report.h (the stored JSON).
 *
 * Thread-safety: one run per thread; the table is read-only.
 */
#ifndef SHELFCAST_TRAIN_H
#define SHELFCAST_TRAIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "shelfcast/dataset.h"
#include "shelfcast/error.h"
#include "shelfcast/model.h"
#include "shelfcast/spec.h"
#include "shelfcast/table.h"

struct train_epoch {
	int epoch, epochs;
	double train_loss, valid_loss;
	double seconds, eta_seconds;
	bool improved;
};

typedef void (*train_progress_fn)(void *ctx, const struct train_epoch *e);

struct train_result {
	struct spec spec;                      /* owned */
	float *weights;                        /* owned: every tensor, back to back */
	struct tensor tensors[2 * MLP_MAX_LAYERS];
	size_t n_tensors;
	char checksum[MODEL_CHECKSUM_SIZE]; /* model_checksum over the spec and tensors */
	json_t *metrics;                       /* owned */
	json_t *training;                      /* owned */
	size_t *test_rows;                     /* owned: table rows of the test part */
	size_t n_test;
	double *test_t;                        /* owned: true transformed target per test row */
};

/*
 * Refuse data with nothing to train on (no rows, no usable target, nothing
 * left after cleaning), naming the cause: s the cleaning counts, kept the
 * rows left.  The streaming export (export.h) says the same.
 */
enum error_code train_check_rows(const struct dataset_config *cfg, const struct table_stats *s,
				 size_t kept, struct error *err);

/* The table columns a config needs, in the order train_run expects (n_out: count). */
struct table_colspec *train_columns(const struct dataset_config *cfg, size_t *n_out);

enum error_code train_run(const struct dataset_config *cfg, const struct table *t,
			  train_progress_fn progress, void *ctx, struct train_result *res,
			  struct error *err);
void train_result_done(struct train_result *res);

/*
 * Score the test part of a finished run with another model (the active
 * version, say) and report its r2 on the run's transformed scale, so two
 * versions are compared on the same rows.
 */
enum error_code train_compare(const struct train_result *res, const struct dataset_config *cfg,
			      const struct table *t, const struct model *other, double *r2_log,
			      struct error *err);

#endif

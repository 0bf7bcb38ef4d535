/*
 * learn — training the two-head network on encoded rows: seeded minibatch
 * Adam over the training rows, the loss of heads_loss (MSE on the
 * standardized target + exposure_weight * cross-entropy on the exposure
 * label), a running average of the weights (Polyak, model.ema) that is what
 * gets evaluated and kept, early stopping on the validation loss with the
 * best weights restored, and optionally a refit on train + validation for
 * the best epoch count (model.refit).  With model.recent_weight the epochs
 * run over split.h's fit_train and fit_all, the latest rows repeated.
 *
 * The forward pass is the serving one (mlp_train.h runs mlp_forward_layers).
 * The same config and data give the same weights: shuffles and initial
 * weights come from the seeded generator, and BLAS runs single-threaded.
 *
 * Thread-safety: one run per thread; the data is read-only.
 */
#ifndef SHELFCAST_LEARN_H
#define SHELFCAST_LEARN_H

#include <stddef.h>
#include <stdint.h>

#include "shelfcast/dataset.h"
#include "shelfcast/error.h"
#include "shelfcast/spec.h"
#include "shelfcast/split.h"
#include "shelfcast/train.h"

/* The encoded rows: row r of each array is table row r. Borrowed. */
struct learn_data {
	const float *X;         /* (N, d): encoder_encode's rows */
	size_t d;
	const double *target;   /* (N): heads_standardize(spec, units) */
	const double *exposure; /* (N): the exposure label, 0 or 1 */
};

struct learn_outcome {
	float *params;          /* new: the kept weights, in mlp.h's block layout */
	size_t n_params;
	int epochs_run;         /* epochs of the early-stopping run */
	int best_epoch;         /* the one with the lowest validation loss */
	float *early;           /* new, with model.refit only: the early-stopping weights (never
				   trained on the validation slice); NULL otherwise */
};

/* Rows forwarded at once when only the loss or the outputs are needed. */
#define LEARN_EVAL_ROWS 4096

/* The rows a training network is sized for: the larger of model.batch_size and LEARN_EVAL_ROWS. */
size_t learn_batch_rows(const struct dataset_config *cfg);

/*
 * Train spec's network (its input size and hidden layers) on the split's
 * rows of data.  progress (may be NULL) hears of each epoch.  A loss that
 * stops being finite is an error naming model.learning_rate.
 */
enum error_code learn_network(const struct dataset_config *cfg, const struct spec *spec,
			      const struct learn_data *data, const struct split *sp,
			      train_progress_fn progress, void *ctx, struct learn_outcome *out,
			      struct error *err);
void learn_outcome_done(struct learn_outcome *out);

/*
 * A network drawn from cfg->seed trained on rows (n_rows, repeats allowed)
 * for exactly `epochs` epochs, no validation: its kept weights (the average
 * with model.ema) into params (spec's network's count).  model.refit's run,
 * and the calibration's (ensemble.h).
 */
enum error_code learn_epochs(const struct dataset_config *cfg, const struct spec *spec,
			     const struct learn_data *data, const size_t *rows, size_t n_rows,
			     int epochs, train_progress_fn progress, void *ctx, float *params,
			     struct error *err);

/*
 * Self-check of backpropagation through the training loss: on a random
 * network of the given widths (`inputs`, hidden..., the two heads) and a
 * random batch, the largest difference between the analytic gradient and
 * central finite differences, relative to the largest gradient, over every
 * parameter.  INFINITY when it cannot allocate.
 */
double learn_gradient_check(size_t inputs, const size_t *hidden, size_t n_hidden, size_t batch,
			    double exposure_weight, uint64_t seed);

#endif

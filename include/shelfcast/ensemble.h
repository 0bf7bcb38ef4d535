/*
 * ensemble — the trained model as served: `members` networks of the
 * config's shape, trained alone from seeds seed, seed+1, ..., averaged, and
 * blended with the linear and logistic baselines, all packed into ONE
 * wider mlp (so serving, export and import see a plain network):
 *
 *   hidden layer 1: [member 0's units | member 1's | ... | lin+ lin- log+ log-]
 *     where lin+/- = ReLU(+-(w_lin . x + b)) and log+/- likewise for the
 *     logistic baseline, so that lin+ - lin- is the linear function itself
 *   later hidden layers: block-diagonal members, the four pass-through
 *     units copied by an identity (they are >= 0, the ReLU keeps them)
 *   output: sales    = a/E * sum_e member_e.sales    + (1 - a) * (lin+ - lin-)
 *           exposure = b/E * sum_e member_e.exposure + (1 - b) * (log+ - log-)
 *
 * The blend weights a, b in [0, 1] are fitted on the validation slice with
 * predictions of weights that never saw it (stacking): a by least squares on
 * the standardized target, b by the validation AUC on a 0.05 grid.  a = 0 or
 * b = 0 is the baseline itself, which is why the blend cannot be much worse
 * than the baselines on held-out rows.
 *
 * The intervals (calibrate.h) come from the blend's residuals on the
 * validation slice, or, with model.calibration_fraction, on the latest
 * calibration_fraction of the training part, predicted by the members
 * retrained (same seeds, each for its best epoch count) on the rows before
 * it and a linear baseline fitted on those rows: a longer held-out window,
 * at the cost of one more training run per member.  The served weights are
 * the same either way.
 *
 * Member e of layer l occupies rows [e * h_l, (e + 1) * h_l) of that
 * layer's weight (and, past the first layer, the same columns block of the
 * previous layer's width); the four baseline units are the last rows.
 *
 * Thread-safety: none needed (training is single-threaded at this level).
 */
#ifndef SHELFCAST_ENSEMBLE_H
#define SHELFCAST_ENSEMBLE_H

#include <jansson.h>
#include <stddef.h>

#include "shelfcast/dataset.h"
#include "shelfcast/error.h"
#include "shelfcast/learn.h"
#include "shelfcast/spec.h"
#include "shelfcast/split.h"
#include "shelfcast/train.h"

/* The pass-through units of the baselines in every packed hidden layer. */
#define ENSEMBLE_BASELINE_UNITS 4

/* The members and baselines, as ensemble_pack lays them out. */
struct ensemble_parts {
	size_t E, n_layers;
	size_t md[SPEC_MAX_HIDDEN + 2], pd[SPEC_MAX_HIDDEN + 2]; /* member, packed widths */
	float **member;                                            /* (E): each in mlp.h's block layout */
	double *w_lin, *w_log;                                     /* (md[0] + 1): weights, then intercept */
	double a, b;                                               /* blend weights */
};

/*
 * The packed network's layer widths for E members of spec's shape: pd[0]
 * the inputs, each hidden layer E times the member's plus the baseline
 * units, then the heads.  Returns the count, as spec_layer_dims does.
 */
size_t ensemble_packed_dims(const struct spec *spec, size_t E, size_t pd[SPEC_MAX_HIDDEN + 2]);

/*
 * Buffers to forward LEARN_EVAL_ROWS rows of one network shape at a time
 * (owned): start zeroed, allocated by the first ensemble_add_outputs, freed
 * by ensemble_work_done.
 */
struct ensemble_work {
	float *X, *Y, *scratch;
};

void ensemble_work_done(struct ensemble_work *w);

/*
 * y[i] += scale * sales output, z[i] += scale * exposure output of the
 * network `params` (of spec's shape, run by mlp_forward) on data row
 * rows[i]; w: used only with networks of spec's shape and data's width.
 */
enum error_code ensemble_add_outputs(const struct spec *spec, const float *params, double scale,
				     const struct learn_data *data, const size_t *rows, size_t n,
				     struct ensemble_work *w, double *y, double *z, struct error *err);

/* Everything into out: zeroed, mlp_params_count(pd, n_layers) floats. */
void ensemble_pack(const struct ensemble_parts *p, float *out);

/* The baselines fitted on sp->all_train (borrowed): (d + 1) weights each, as baseline.h fits them. */
struct ensemble_baselines {
	const double *lin, *log;
};

/*
 * Train cfg->members networks of spec's shape, fit the blend and pack
 * everything into out->params; spec->hidden becomes the packed widths.
 * The blend is fitted with baselines of the training slice; with
 * model.refit the packed ones are `all` (the members saw those rows too).
 * out->epochs_run and best_epoch are member 0's.  *info (new): the
 * members, their hidden widths and the blend weights, for the report.
 */
enum error_code ensemble_learn(const struct dataset_config *cfg, struct spec *spec,
			       const struct learn_data *data, const struct split *sp,
			       const struct ensemble_baselines *all, train_progress_fn progress,
			       void *ctx, struct learn_outcome *out, json_t **info,
			       struct error *err);

#endif

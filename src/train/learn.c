/* learn — see include/shelfcast/learn.h. */
#include "shelfcast/learn.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/adam.h"
#include "shelfcast/heads.h"
#include "shelfcast/mlp_train.h"
#include "shelfcast/rng.h"
#include "shelfcast/util.h"

/* One training run's state: the network, its optimizer, the weight average, batch buffers. */
struct learner {
	struct mlp_train net;
	struct adam adam;
	float *ema, *avg;  /* (n_params): running weight average, its debiased copy */
	double *bt, *be;   /* (max_rows): a batch's targets and labels */
	size_t *rows;      /* (rows trained on): shuffled in place every epoch */
	size_t n_rows;
	struct rng rng;
};

static void learner_done(struct learner *l)
{
	mlp_train_done(&l->net);
	adam_done(&l->adam);
	free(l->ema);
	free(l->avg);
	free(l->bt);
	free(l->be);
	free(l->rows);
	memset(l, 0, sizeof *l);
}

size_t learn_batch_rows(const struct dataset_config *cfg)
{
	return cfg->batch_size > LEARN_EVAL_ROWS ? cfg->batch_size : LEARN_EVAL_ROWS;
}

/* A fresh network drawn from cfg->seed, to be trained on rows (copied). */
static enum error_code learner_init(struct learner *l, const struct dataset_config *cfg,
				    const struct spec *spec, const size_t *rows, size_t n_rows,
				    struct error *err)
{
	size_t dims[SPEC_MAX_HIDDEN + 2], n_dims = spec_layer_dims(spec, dims);
	size_t max_rows = learn_batch_rows(cfg);
	enum error_code rc;

	memset(l, 0, sizeof *l);
	l->rng.s = cfg->seed;
	rc = mlp_train_init(&l->net, dims, n_dims - 1, max_rows, &l->rng, err);
	if (!rc)
		rc = adam_init(&l->adam, l->net.n_params, err);
	if (rc) {
		learner_done(l);
		return rc;
	}
	l->ema = util_alloc_array(l->net.n_params, sizeof *l->ema);
	l->avg = util_alloc_array(l->net.n_params, sizeof *l->avg);
	l->bt = util_alloc_array(max_rows, sizeof *l->bt);
	l->be = util_alloc_array(max_rows, sizeof *l->be);
	l->rows = util_alloc_array(n_rows, sizeof *l->rows);
	if (!l->ema || !l->avg || !l->bt || !l->be || !l->rows) {
		learner_done(l);
		return error_nomem(err, "the network");
	}
	memcpy(l->rows, rows, n_rows * sizeof *rows);
	l->n_rows = n_rows;
	return ERROR_OK;
}

/* The batch rows[0..B) into the network's input and the batch targets. */
static void gather(struct learner *l, const struct learn_data *data, const size_t *rows, size_t B)
{
	float *x = mlp_train_input(&l->net);
	size_t r;
	for (r = 0; r < B; r++) {
		memcpy(x + r * data->d, data->X + rows[r] * data->d, data->d * sizeof *x);
		l->bt[r] = data->target[rows[r]];
		l->be[r] = data->exposure[rows[r]];
	}
}

/* The mean loss over a forwarded batch; with grad, dL/dY into the network too. */
static double batch_loss(struct learner *l, size_t B, double exposure_weight, bool grad)
{
	const float *y = mlp_train_output(&l->net);
	float *dy = mlp_train_output_grad(&l->net);
	double loss = 0, g_sales, g_exposure;
	size_t r;

	for (r = 0; r < B; r++) {
		loss += heads_loss(y[2 * r], l->bt[r], y[2 * r + 1], l->be[r], exposure_weight,
				   grad ? &g_sales : NULL, grad ? &g_exposure : NULL);
		if (grad) { /* of the mean over the batch */
			dy[2 * r] = (float)(g_sales / (double)B);
			dy[2 * r + 1] = (float)(g_exposure / (double)B);
		}
	}
	return loss / (double)B;
}

/*
 * Polyak averaging: an exponential moving average of the weights after every
 * step, zero-initialized and debiased like Adam's moments.  The average is
 * what gets evaluated and kept; it is far less noisy than the last step.
 */
static void ema_update(struct learner *l, double decay)
{
	const float *p = l->net.params;
	size_t i;
	for (i = 0; i < l->net.n_params; i++)
		l->ema[i] = (float)(decay * l->ema[i] + (1 - decay) * p[i]);
}

/* Make the debiased average the live weights. */
static void ema_enter(struct learner *l, double decay)
{
	double c = 1 - pow(decay, (double)l->adam.step);
	size_t i;
	for (i = 0; i < l->net.n_params; i++)
		l->avg[i] = (float)(l->ema[i] / c);
	l->avg = mlp_train_swap_params(&l->net, l->avg);
}

/* Back to the trained weights. */
static void ema_leave(struct learner *l)
{
	l->avg = mlp_train_swap_params(&l->net, l->avg);
}

/* One epoch of minibatch Adam over l->rows (shuffled first); returns the mean batch loss. */
static double run_epoch(struct learner *l, const struct dataset_config *cfg,
			const struct learn_data *data)
{
	double loss = 0;
	size_t i, n_batches = 0;

	rng_shuffle(&l->rng, l->rows, l->n_rows);
	for (i = 0; i < l->n_rows; i += cfg->batch_size) {
		size_t B = l->n_rows - i < cfg->batch_size ? l->n_rows - i : cfg->batch_size;
		gather(l, data, l->rows + i, B);
		mlp_train_forward(&l->net, B);
		loss += batch_loss(l, B, cfg->exposure_weight, true);
		mlp_train_backward(&l->net, B);
		mlp_train_adam_step(&l->net, &l->adam, cfg->learning_rate, cfg->weight_decay);
		if (cfg->ema > 0)
			ema_update(l, cfg->ema);
		n_batches++;
	}
	return n_batches ? loss / (double)n_batches : 0;
}

/* The mean loss over rows[0..n) with the live weights. */
static double eval_loss(struct learner *l, const struct learn_data *data, const size_t *rows,
			size_t n, double exposure_weight)
{
	double total = 0;
	size_t i;
	for (i = 0; i < n; i += l->net.max_rows) {
		size_t B = n - i < l->net.max_rows ? n - i : l->net.max_rows;
		gather(l, data, rows + i, B);
		mlp_train_forward(&l->net, B);
		total += batch_loss(l, B, exposure_weight, false) * (double)B;
	}
	return n ? total / (double)n : 0;
}

static bool averaging(const struct dataset_config *cfg, const struct learner *l)
{
	return cfg->ema > 0 && l->adam.step > 0;
}

/*
 * Train on sp->train (sp->fit_train with model.recent_weight), evaluate on sp->valid after every epoch, stop after
 * model.patience epochs without improvement; out->params gets the weights
 * of the best epoch.
 */
static enum error_code early_stopping(const struct dataset_config *cfg, const struct spec *spec,
				      const struct learn_data *data, const struct split *sp,
				      train_progress_fn progress, void *ctx,
				      struct learn_outcome *out, struct error *err)
{
	struct learner l;
	double best = INFINITY, t0 = util_now_s();
	int epoch, bad = 0;
	enum error_code rc = sp->fit_train
				     ? learner_init(&l, cfg, spec, sp->fit_train, sp->n_fit_train, err)
				     : learner_init(&l, cfg, spec, sp->train, sp->n_train, err);

	if (rc)
		return rc;
	out->n_params = l.net.n_params;
	out->params = util_alloc_array(out->n_params, sizeof *out->params);
	if (!out->params) {
		rc = error_nomem(err, "the network");
		goto out;
	}
	memcpy(out->params, l.net.params, out->n_params * sizeof *out->params);
	for (epoch = 1; epoch <= cfg->epochs; epoch++) {
		struct train_epoch ep = {.epoch = epoch, .epochs = cfg->epochs};
		double te = util_now_s();

		ep.train_loss = run_epoch(&l, cfg, data);
		if (averaging(cfg, &l))
			ema_enter(&l, cfg->ema);
		ep.valid_loss = eval_loss(&l, data, sp->valid, sp->n_valid, cfg->exposure_weight);
		ep.seconds = util_now_s() - te;
		ep.improved = ep.valid_loss < best - 1e-9;
		out->epochs_run = epoch;
		if (!isfinite(ep.valid_loss) || !isfinite(ep.train_loss)) {
			rc = error_set(err, ERROR_INVALID, "model.learning_rate",
				       "training diverged at epoch %d (loss is not finite): lower "
				       "model.learning_rate",
				       epoch);
			goto out;
		}
		if (ep.improved) {
			best = ep.valid_loss;
			out->best_epoch = epoch;
			bad = 0;
			memcpy(out->params, l.net.params, out->n_params * sizeof *out->params);
		} else {
			bad++;
		}
		if (averaging(cfg, &l))
			ema_leave(&l);
		ep.eta_seconds = (util_now_s() - t0) / epoch * (cfg->epochs - epoch);
		if (progress)
			progress(ctx, &ep);
		if (bad >= cfg->patience)
			break;
	}
out:
	learner_done(&l);
	return rc;
}

enum error_code learn_epochs(const struct dataset_config *cfg, const struct spec *spec,
			     const struct learn_data *data, const size_t *rows, size_t n_rows,
			     int epochs, train_progress_fn progress, void *ctx, float *params,
			     struct error *err)
{
	struct learner l;
	int epoch;
	enum error_code rc = learner_init(&l, cfg, spec, rows, n_rows, err);

	if (rc)
		return rc;
	for (epoch = 1; epoch <= epochs; epoch++) {
		struct train_epoch ep = {.epoch = epoch, .epochs = epochs, .valid_loss = NAN};
		double te = util_now_s();
		ep.train_loss = run_epoch(&l, cfg, data);
		ep.seconds = util_now_s() - te;
		if (!isfinite(ep.train_loss)) {
			rc = error_set(err, ERROR_INVALID, "model.learning_rate",
				       "training diverged at epoch %d of a run without validation "
				       "(model.refit, model.calibration_fraction): lower model.learning_rate",
				       epoch);
			goto out;
		}
		if (progress)
			progress(ctx, &ep);
	}
	if (averaging(cfg, &l))
		ema_enter(&l, cfg->ema);
	memcpy(params, l.net.params, l.net.n_params * sizeof *params);
	if (averaging(cfg, &l))
		ema_leave(&l);
out:
	learner_done(&l);
	return rc;
}

/*
 * Early stopping found how many epochs generalize; train again from the same
 * start on the whole training part, validation slice included (recent rows
 * repeated like the first run's), for that many.
 * On a time split this lets the final model see the latest weeks.
 */
static enum error_code refit(const struct dataset_config *cfg, const struct spec *spec,
			     const struct learn_data *data, const struct split *sp,
			     train_progress_fn progress, void *ctx, struct learn_outcome *out,
			     struct error *err)
{
	return sp->fit_all ? learn_epochs(cfg, spec, data, sp->fit_all, sp->n_fit_all, out->best_epoch,
					  progress, ctx, out->params, err)
			   : learn_epochs(cfg, spec, data, sp->all_train, sp->n_all_train,
					  out->best_epoch, progress, ctx, out->params, err);
}

enum error_code learn_network(const struct dataset_config *cfg, const struct spec *spec,
			      const struct learn_data *data, const struct split *sp,
			      train_progress_fn progress, void *ctx, struct learn_outcome *out,
			      struct error *err)
{
	enum error_code rc;

	memset(out, 0, sizeof *out);
	rc = early_stopping(cfg, spec, data, sp, progress, ctx, out, err);
	if (!rc && cfg->refit) {
		out->early = util_alloc_array(out->n_params, sizeof *out->early);
		if (!out->early)
			rc = error_nomem(err, "the network");
		else
			memcpy(out->early, out->params, out->n_params * sizeof *out->early);
	}
	if (!rc && cfg->refit)
		rc = refit(cfg, spec, data, sp, progress, ctx, out, err);
	if (rc)
		learn_outcome_done(out);
	return rc;
}

void learn_outcome_done(struct learn_outcome *out)
{
	if (!out)
		return;
	free(out->params);
	free(out->early);
	memset(out, 0, sizeof *out);
}

double learn_gradient_check(size_t inputs, const size_t *hidden, size_t n_hidden, size_t batch,
			    double exposure_weight, uint64_t seed)
{
	size_t dims[SPEC_MAX_HIDDEN + 2], i;
	struct learner l = {0};
	struct error err;
	double worst = 0, gmax = 0;
	float *grad = NULL, *x;

	if (n_hidden > SPEC_MAX_HIDDEN)
		return INFINITY;
	dims[0] = inputs;
	memcpy(dims + 1, hidden, n_hidden * sizeof *hidden);
	dims[n_hidden + 1] = HEADS_COUNT;
	error_init(&err);
	l.rng.s = seed;
	l.bt = calloc(batch, sizeof *l.bt);
	l.be = calloc(batch, sizeof *l.be);
	if (!l.bt || !l.be || mlp_train_init(&l.net, dims, n_hidden + 1, batch, &l.rng, &err)) {
		learner_done(&l);
		return INFINITY;
	}
	grad = calloc(l.net.n_params, sizeof *grad);
	if (!grad) {
		learner_done(&l);
		return INFINITY;
	}
	x = mlp_train_input(&l.net);
	for (i = 0; i < batch * inputs; i++)
		x[i] = (float)(2 * rng_uniform(&l.rng) - 1);
	for (i = 0; i < batch; i++) {
		l.bt[i] = 2 * rng_uniform(&l.rng) - 1;
		l.be[i] = rng_uniform(&l.rng) < 0.5;
	}
	mlp_train_forward(&l.net, batch);
	batch_loss(&l, batch, exposure_weight, true);
	mlp_train_backward(&l.net, batch);
	memcpy(grad, l.net.grad, l.net.n_params * sizeof *grad);
	for (i = 0; i < l.net.n_params; i++)
		gmax = fmax(gmax, fabs(grad[i]));
	for (i = 0; i < l.net.n_params; i++) {
		const float h = 2e-3f;
		float keep = l.net.params[i];
		double up, down;
		l.net.params[i] = keep + h;
		mlp_train_forward(&l.net, batch);
		up = batch_loss(&l, batch, exposure_weight, false);
		l.net.params[i] = keep - h;
		mlp_train_forward(&l.net, batch);
		down = batch_loss(&l, batch, exposure_weight, false);
		l.net.params[i] = keep;
		worst = fmax(worst, fabs((up - down) / (2.0 * h) - grad[i]));
	}
	free(grad);
	learner_done(&l);
	return gmax > 0 ? worst / gmax : worst;
}

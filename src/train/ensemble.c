/* ensemble — see include/shelfcast/ensemble.h. */
#include "shelfcast/ensemble.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/baseline.h"
#include "shelfcast/calibrate.h"
#include "shelfcast/evaluate.h"
#include "shelfcast/heads.h"
#include "shelfcast/mlp.h"
#include "shelfcast/util.h"

#define BLEND_GRID 20

/* What the blend is fitted on: validation-slice outputs of each part. */
struct stack {
	double *member_y, *member_z; /* (n_valid): the members' mean sales and exposure outputs */
	double *lin, *logit;         /* (n_valid): the baselines fitted on the training slice */
	double *t, *e;               /* (n_valid): the targets */
};

static void stack_done(struct stack *s)
{
	free(s->member_y);
	free(s->member_z);
	free(s->lin);
	free(s->logit);
	free(s->t);
	free(s->e);
}

void ensemble_work_done(struct ensemble_work *w)
{
	free(w->X);
	free(w->Y);
	free(w->scratch);
	memset(w, 0, sizeof *w);
}

enum error_code ensemble_add_outputs(const struct spec *spec, const float *params, double scale,
				     const struct learn_data *data, const size_t *rows, size_t n,
				     struct ensemble_work *w, double *y, double *z, struct error *err)
{
	size_t dims[SPEC_MAX_HIDDEN + 2], n_dims = spec_layer_dims(spec, dims), chunk = LEARN_EVAL_ROWS;
	size_t i, r;
	struct mlp net;

	mlp_bind(&net, dims, n_dims - 1, params);
	if (!w->X) { /* the first call: one set of buffers for every network of this shape */
		w->X = util_alloc_array(chunk * data->d, sizeof *w->X);
		w->Y = util_alloc_array(chunk * HEADS_COUNT, sizeof *w->Y);
		w->scratch = util_alloc_array(mlp_scratch_floats(&net, chunk), sizeof *w->scratch);
		if (!w->X || !w->Y || !w->scratch) {
			ensemble_work_done(w);
			return error_nomem(err, "the ensemble");
		}
	}
	for (i = 0; i < n; i += chunk) {
		size_t B = n - i < chunk ? n - i : chunk;
		for (r = 0; r < B; r++)
			memcpy(w->X + r * data->d, data->X + rows[i + r] * data->d, data->d * sizeof *w->X);
		mlp_forward(&net, w->X, B, w->scratch, w->Y);
		for (r = 0; r < B; r++) {
			y[i + r] += scale * w->Y[HEADS_COUNT * r + HEADS_SALES];
			z[i + r] += scale * w->Y[HEADS_COUNT * r + HEADS_EXPOSURE];
		}
	}
	return ERROR_OK;
}

size_t ensemble_packed_dims(const struct spec *spec, size_t E, size_t pd[SPEC_MAX_HIDDEN + 2])
{
	size_t n = spec_layer_dims(spec, pd), j;

	for (j = 1; j + 1 < n; j++)
		pd[j] = E * pd[j] + ENSEMBLE_BASELINE_UNITS;
	return n;
}

/* The baselines fitted on the training slice (into w_lin, w_log), scored on the validation slice. */
static enum error_code stack_baselines(const struct learn_data *data, const struct split *sp,
				       struct stack *s, double *w_lin, double *w_log,
				       struct error *err)
{
	enum error_code rc;
	size_t i;

	rc = baseline_linear_fit(data->X, data->d, sp->train, sp->n_train, data->target,
				 BASELINE_RIDGE, w_lin, err);
	if (!rc)
		rc = baseline_logistic_fit(data->X, data->d, sp->train, sp->n_train, data->exposure,
					   BASELINE_RIDGE, w_log, err);
	for (i = 0; !rc && i < sp->n_valid; i++) {
		const float *x = data->X + sp->valid[i] * data->d;
		s->lin[i] = baseline_predict(w_lin, x, data->d);
		s->logit[i] = baseline_predict(w_log, x, data->d);
		s->t[i] = data->target[sp->valid[i]];
		s->e[i] = data->exposure[sp->valid[i]];
	}
	return rc;
}

/* The sales weight a in [0, 1] minimizing sum (a m + (1 - a) l - t)^2. */
static double blend_sales(const struct stack *s, size_t n)
{
	double num = 0, den = 0, a;
	size_t i;
	for (i = 0; i < n; i++) {
		double dm = s->member_y[i] - s->lin[i];
		num += (s->t[i] - s->lin[i]) * dm;
		den += dm * dm;
	}
	a = den > 0 ? num / den : 1;
	return a < 0 ? 0 : a > 1 ? 1 : a;
}

/*
 * The intervals and the smearing from the blend's residuals on held-out rows
 * (n: y the members' mean, lin the linear baseline, both from weights that
 * never trained on those rows), in transformed units.
 */
static enum error_code calibrate(const double *y, const double *lin, const size_t *rows, size_t n,
				 double a, const struct dataset_config *cfg, const struct learn_data *data,
				 struct spec *spec, struct error *err)
{
	double *resid = util_alloc_array(n ? n : 1, sizeof *resid);
	size_t *slot = NULL, i, k = 0, off, nv, j;
	enum error_code rc;

	if (!resid)
		return error_nomem(err, "the calibration");
	if (n == 0 && cfg->calibration_fraction > 0) { /* calibrate_fit names the validation slice */
		free(resid);
		return error_set(err, ERROR_INVALID, "model.calibration_fraction",
				 "no held-out rows to calibrate the intervals on in the latest "
				 "model.calibration_fraction of the training part (after the rows the unknown "
				 "slot's routing altered): raise model.calibration_fraction");
	}
	for (i = 0; i < n; i++)
		resid[i] = (data->target[rows[i]] - (a * y[i] + (1 - a) * lin[i])) * spec->target_std;
	if (cfg->interval_by) { /* each held-out row's category of it: the set slot of its one-hot */
		while (strcmp(spec->categorical[k].name, cfg->interval_by))
			k++;
		off = spec_categorical_offset(spec, k);
		nv = spec->categorical[k].n_vocabulary;
		slot = util_alloc_array(n ? n : 1, sizeof *slot);
		if (!slot) {
			free(resid);
			return error_nomem(err, "the calibration");
		}
		for (i = 0; i < n; i++) {
			const float *x = data->X + rows[i] * data->d + off;
			for (j = 0; j < nv && x[j] == 0.0f; j++)
				;
			slot[i] = j;
		}
	}
	rc = calibrate_fit(spec, resid, n, cfg->interval, slot, slot ? (int)k : -1, cfg->interval_by_shrink,
			   err);
	free(slot);
	free(resid);
	return rc;
}

/* The exposure weight b on a grid of [0, 1] with the best validation AUC (ties: the larger b). */
static enum error_code blend_exposure(const struct stack *s, size_t n, double *b,
				      struct error *err)
{
	double *p = util_alloc_array(n ? n : 1, sizeof *p), best = -1, auc;
	enum error_code rc = p ? ERROR_OK : error_nomem(err, "the ensemble");
	int g;
	size_t i;

	*b = 1;
	for (g = BLEND_GRID; !rc && g >= 0; g--) {
		double w = (double)g / BLEND_GRID;
		for (i = 0; i < n; i++) /* the logit itself: AUC only ranks */
			p[i] = w * s->member_z[i] + (1 - w) * s->logit[i];
		rc = evaluate_auc(s->e, p, n, &auc, err);
		if (!rc && auc > best + 1e-12) {
			best = auc;
			*b = w;
		}
	}
	free(p);
	return rc;
}

/* Hidden layer j of every member, block-diagonal, then the baseline units. */
static void pack_hidden(const struct ensemble_parts *p, size_t j, const size_t *moff, float *W, float *B)
{
	size_t I = p->pd[j], mI = p->md[j], mO = p->md[j + 1], base = p->E * mO, e, r, c;

	for (e = 0; e < p->E; e++) {
		const float *m = p->member[e] + moff[j], *mb = m + mO * mI;
		for (r = 0; r < mO; r++) {
			for (c = 0; c < mI; c++)
				W[(e * mO + r) * I + (j == 0 ? c : e * mI + c)] = m[r * mI + c];
			B[e * mO + r] = mb[r];
		}
	}
	if (j > 0) { /* pass the four units on unchanged */
		for (r = 0; r < ENSEMBLE_BASELINE_UNITS; r++)
			W[(base + r) * I + p->E * mI + r] = 1;
		return;
	}
	for (c = 0; c < I; c++) { /* z = w.x + w[d]; the units are ReLU(z), ReLU(-z) */
		W[(base + 0) * I + c] = (float)p->w_lin[c];
		W[(base + 1) * I + c] = (float)-p->w_lin[c];
		W[(base + 2) * I + c] = (float)p->w_log[c];
		W[(base + 3) * I + c] = (float)-p->w_log[c];
	}
	B[base + 0] = (float)p->w_lin[I];
	B[base + 1] = (float)-p->w_lin[I];
	B[base + 2] = (float)p->w_log[I];
	B[base + 3] = (float)-p->w_log[I];
}

/* The output layer: the members' mean and the baselines, blended. */
static void pack_output(const struct ensemble_parts *p, size_t j, const size_t *moff, float *W, float *B)
{
	size_t I = p->pd[j], mI = p->md[j], last = p->E * mI, e, h, c;
	double weight[HEADS_COUNT] = {[HEADS_SALES] = p->a, [HEADS_EXPOSURE] = p->b};
	double bias[HEADS_COUNT] = {0, 0};

	for (e = 0; e < p->E; e++) {
		const float *m = p->member[e] + moff[j], *mb = m + HEADS_COUNT * mI;
		for (h = 0; h < HEADS_COUNT; h++) {
			double s = weight[h] / (double)p->E;
			for (c = 0; c < mI; c++)
				W[h * I + e * mI + c] = (float)(s * m[h * mI + c]);
			bias[h] += s * mb[h];
		}
	}
	for (h = 0; h < HEADS_COUNT; h++)
		B[h] = (float)bias[h];
	W[HEADS_SALES * I + last + 0] = (float)(1 - p->a);
	W[HEADS_SALES * I + last + 1] = (float)-(1 - p->a);
	W[HEADS_EXPOSURE * I + last + 2] = (float)(1 - p->b);
	W[HEADS_EXPOSURE * I + last + 3] = (float)-(1 - p->b);
}

void ensemble_pack(const struct ensemble_parts *p, float *out)
{
	size_t moff[SPEC_MAX_HIDDEN + 2], off = 0, j;

	moff[0] = 0;
	for (j = 0; j < p->n_layers; j++) {
		float *W = out + off, *B = W + p->pd[j + 1] * p->pd[j];
		if (j + 1 < p->n_layers)
			pack_hidden(p, j, moff, W, B);
		else
			pack_output(p, j, moff, W, B);
		off += p->pd[j + 1] * p->pd[j] + p->pd[j + 1];
		moff[j + 1] = moff[j] + p->md[j + 1] * p->md[j] + p->md[j + 1];
	}
}

/*
 * Train the E members; their validation outputs (weights that never saw it)
 * into s, each one's best epoch count into best_epoch (E).
 */
static enum error_code train_members(const struct dataset_config *cfg, const struct spec *spec,
				     const struct learn_data *data, const struct split *sp,
				     train_progress_fn progress, void *ctx, struct ensemble_parts *p,
				     struct stack *s, int *best_epoch, struct learn_outcome *out,
				     struct error *err)
{
	struct dataset_config mcfg = *cfg;
	struct ensemble_work w = {0};
	enum error_code rc = ERROR_OK;
	size_t e;

	for (e = 0; !rc && e < p->E; e++) {
		struct learn_outcome one;
		mcfg.seed = cfg->seed + e;
		rc = learn_network(&mcfg, spec, data, sp, progress, ctx, &one, err);
		if (rc)
			break;
		if (e == 0) {
			out->epochs_run = one.epochs_run;
			out->best_epoch = one.best_epoch;
		}
		best_epoch[e] = one.best_epoch;
		rc = ensemble_add_outputs(spec, one.early ? one.early : one.params, 1.0 / (double)p->E,
					  data, sp->valid, sp->n_valid, &w, s->member_y, s->member_z, err);
		p->member[e] = one.params;
		one.params = NULL;
		learn_outcome_done(&one);
	}
	ensemble_work_done(&w);
	return rc;
}

/*
 * model.calibration_fraction: the blend's residuals on sp->cal, from the
 * members retrained on sp->cal_train alone (same seeds, each for its best
 * epoch count, weighted like the others) and the linear baseline fitted on
 * sp->cal_train; none of them trained on sp->cal.
 */
static enum error_code calibrate_window(const struct dataset_config *cfg, struct spec *spec,
					const struct learn_data *data, const struct split *sp,
					const struct ensemble_parts *p, const int *best_epoch,
					train_progress_fn progress, void *ctx, struct error *err)
{
	struct dataset_config mcfg = *cfg;
	struct ensemble_work w = {0};
	size_t n = sp->n_cal ? sp->n_cal : 1, n_params = mlp_params_count(p->md, p->n_layers), e, i;
	double *y = calloc(n, sizeof *y), *z = calloc(n, sizeof *z), *lin = calloc(n, sizeof *lin);
	double *w_lin = util_alloc_array(data->d + 1, sizeof *w_lin);
	float *params = util_alloc_array(n_params, sizeof *params);
	enum error_code rc = ERROR_OK;

	if (!y || !z || !lin || !w_lin || !params) {
		rc = error_nomem(err, "the calibration");
		goto out;
	}
	for (e = 0; !rc && e < p->E; e++) {
		mcfg.seed = cfg->seed + e;
		rc = sp->fit_cal ? learn_epochs(&mcfg, spec, data, sp->fit_cal, sp->n_fit_cal, best_epoch[e],
						progress, ctx, params, err)
				 : learn_epochs(&mcfg, spec, data, sp->cal_train, sp->n_cal_train,
						best_epoch[e], progress, ctx, params, err);
		if (!rc)
			rc = ensemble_add_outputs(spec, params, 1.0 / (double)p->E, data, sp->cal, sp->n_cal,
						  &w, y, z, err);
	}
	if (!rc)
		rc = baseline_linear_fit(data->X, data->d, sp->cal_train, sp->n_cal_train, data->target,
					 BASELINE_RIDGE, w_lin, err);
	for (i = 0; !rc && i < sp->n_cal; i++)
		lin[i] = baseline_predict(w_lin, data->X + sp->cal[i] * data->d, data->d);
	if (!rc)
		rc = calibrate(y, lin, sp->cal, sp->n_cal, p->a, cfg, data, spec, err);
out:
	ensemble_work_done(&w);
	free(y);
	free(z);
	free(lin);
	free(w_lin);
	free(params);
	return rc;
}

static json_t *ensemble_info(const struct ensemble_parts *p)
{
	json_t *hidden = json_array();
	size_t j;

	for (j = 1; hidden && j < p->n_layers; j++)
		if (json_array_append_new(hidden, json_integer((json_int_t)p->md[j]))) {
			json_decref(hidden);
			return NULL;
		}
	return json_pack("{s:I, s:o*, s:f, s:f}", "members", (json_int_t)p->E, "member_hidden", hidden,
			 "blend_sales", p->a, "blend_exposure", p->b);
}

enum error_code ensemble_learn(const struct dataset_config *cfg, struct spec *spec,
			       const struct learn_data *data, const struct split *sp,
			       const struct ensemble_baselines *all, train_progress_fn progress,
			       void *ctx, struct learn_outcome *out, json_t **info,
			       struct error *err)
{
	struct ensemble_parts p = {.E = cfg->members ? cfg->members : 1};
	struct stack s = {0};
	size_t n = sp->n_valid ? sp->n_valid : 1, j, e;
	int *best_epoch = NULL;
	enum error_code rc = ERROR_OK;

	memset(out, 0, sizeof *out);
	*info = NULL;
	p.n_layers = spec_layer_dims(spec, p.md) - 1;
	ensemble_packed_dims(spec, p.E, p.pd); /* within SPEC_MAX_WIDTH: dataset.c checks model.members */
	p.member = calloc(p.E, sizeof *p.member);
	p.w_lin = util_alloc_array(data->d + 1, sizeof *p.w_lin);
	p.w_log = util_alloc_array(data->d + 1, sizeof *p.w_log);
	s.member_y = calloc(n, sizeof *s.member_y);
	s.member_z = calloc(n, sizeof *s.member_z);
	s.lin = calloc(n, sizeof *s.lin);
	s.logit = calloc(n, sizeof *s.logit);
	s.t = calloc(n, sizeof *s.t);
	s.e = calloc(n, sizeof *s.e);
	best_epoch = calloc(p.E, sizeof *best_epoch);
	if (!best_epoch || !p.member || !p.w_lin || !p.w_log || !s.member_y || !s.member_z || !s.lin ||
	    !s.logit || !s.t || !s.e) {
		rc = error_nomem(err, "the ensemble");
		goto out;
	}
	rc = train_members(cfg, spec, data, sp, progress, ctx, &p, &s, best_epoch, out, err);
	if (!rc)
		rc = stack_baselines(data, sp, &s, p.w_lin, p.w_log, err);
	if (!rc) {
		p.a = blend_sales(&s, sp->n_valid);
		rc = blend_exposure(&s, sp->n_valid, &p.b, err);
	}
	if (!rc && sp->cal)
		rc = calibrate_window(cfg, spec, data, sp, &p, best_epoch, progress, ctx, err);
	else if (!rc)
		rc = calibrate(s.member_y, s.lin, sp->valid, sp->n_valid, p.a, cfg, data, spec, err);
	if (rc)
		goto out;
	if (cfg->refit) { /* the members saw all the training rows: so do the baselines */
		memcpy(p.w_lin, all->lin, (data->d + 1) * sizeof *p.w_lin);
		memcpy(p.w_log, all->log, (data->d + 1) * sizeof *p.w_log);
	}
	out->n_params = mlp_params_count(p.pd, p.n_layers);
	out->params = calloc(out->n_params, sizeof *out->params);
	*info = ensemble_info(&p);
	if (!out->params || !*info) {
		rc = error_nomem(err, "the ensemble");
		goto out;
	}
	ensemble_pack(&p, out->params);
	for (j = 0; j < spec->n_hidden; j++)
		spec->hidden[j] = p.pd[j + 1];
out:
	for (e = 0; p.member && e < p.E; e++)
		free(p.member[e]);
	free(p.member);
	free(p.w_lin);
	free(p.w_log);
	free(best_epoch);
	stack_done(&s);
	if (rc) {
		learn_outcome_done(out);
		json_decref(*info);
		*info = NULL;
	}
	return rc;
}

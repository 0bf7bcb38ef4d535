/*
 * train — see include/shelfcast/train.h.  train_run is the sequence; each
 * step lives in its own module: split.c, fit.c, trainmem.c, coldstart.c,
 * baseline.c, learn.c, ensemble.c (members, stacked blend, packing),
 * calibrate.c (conformal intervals), evaluate.c, report.c.
 */
#include "shelfcast/train.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/baseline.h"
#include "shelfcast/coldstart.h"
#include "shelfcast/encoder.h"
#include "shelfcast/ensemble.h"
#include "shelfcast/explain.h"
#include "shelfcast/evaluate.h"
#include "shelfcast/fit.h"
#include "shelfcast/heads.h"
#include "shelfcast/learn.h"
#include "shelfcast/report.h"
#include "shelfcast/split.h"
#include "shelfcast/trainmem.h"
#include "shelfcast/util.h"

struct table_colspec *train_columns(const struct dataset_config *cfg, size_t *n_out)
{
	size_t n = cfg->n_numeric + cfg->n_log + cfg->n_categorical + 5, k = 0, i;
	struct table_colspec *c = calloc(n, sizeof *c);

	if (!c)
		return NULL;
	for (i = 0; i < cfg->n_numeric; i++)
		c[k++] = (struct table_colspec){cfg->numeric[i], TABLE_NUMBER, false, false,
						dataset_is_required(cfg, cfg->numeric[i])};
	for (i = 0; i < cfg->n_log; i++)
		if (!dataset_listed(cfg->numeric, cfg->n_numeric, cfg->log[i]))
			c[k++] = (struct table_colspec){cfg->log[i], TABLE_NUMBER, false, false,
							dataset_is_required(cfg, cfg->log[i])};
	for (i = 0; i < cfg->n_categorical; i++)
		c[k++] = (struct table_colspec){cfg->categorical[i], TABLE_CATEGORY, false, false,
						dataset_is_required(cfg, cfg->categorical[i])};
	c[k++] = (struct table_colspec){cfg->target_column, TABLE_NUMBER, false, true, false};
	c[k++] = (struct table_colspec){cfg->exposure_column, TABLE_LABEL01, false, false, true};
	c[k++] = (struct table_colspec){cfg->promo_column, TABLE_LEVEL, false, false, true};
	if (cfg->split_by_column)
		c[k++] = (struct table_colspec){cfg->split_column, TABLE_NUMBER, false, false, true};
	if (cfg->id_column)
		c[k++] = (struct table_colspec){cfg->id_column, TABLE_TEXT, false, false, false};
	*n_out = k;
	return c;
}

void train_result_done(struct train_result *res)
{
	if (!res)
		return;
	spec_done(&res->spec);
	free(res->weights);
	json_decref(res->metrics);
	json_decref(res->training);
	free(res->test_rows);
	free(res->test_t);
	memset(res, 0, sizeof *res);
}

enum error_code train_check_rows(const struct dataset_config *cfg, const struct table_stats *s,
				 size_t kept, struct error *err)
{
	if (s->rows_read == 0)
		return error_set(err, ERROR_INVALID, NULL, "the data has a header but no rows");
	if (s->target_missing + s->target_negative + s->target_nonfinite + s->duplicates ==
	    s->rows_read)
		return error_set(err, ERROR_INVALID, cfg->target_column,
				 "target column \"%s\" has no usable rows (%zu missing, %zu negative, "
				 "%zu not finite, %zu duplicates)",
				 cfg->target_column, s->target_missing, s->target_negative,
				 s->target_nonfinite, s->duplicates);
	if (kept == 0)
		return error_set(err, ERROR_INVALID, NULL,
				 "no rows are left after cleaning (%zu read: %zu duplicates, %zu without a "
				 "usable target, %zu missing the exposure, level, split or a required value)",
				 s->rows_read, s->duplicates,
				 s->target_missing + s->target_negative + s->target_nonfinite,
				 s->missing_required);
	return ERROR_OK;
}

/* Every row through the serving encoder, with its training targets. */
struct encoded {
	float *X;               /* (N, d) */
	double *target;         /* (N): heads_standardize of the units */
	double *exposure;       /* (N): the label */
	size_t d;
};

static void encoded_done(struct encoded *e)
{
	free(e->X);
	free(e->target);
	free(e->exposure);
	memset(e, 0, sizeof *e);
}

static enum error_code encode_rows(const struct table *t, const struct spec *spec,
				   const struct encoder *enc, int target_col, int exposure_col,
				   int level_col, struct encoded *e, struct error *err)
{
	size_t N = t->n_rows, n_feat = encoder_n_inputs(enc), i;
	int *colmap = table_encoder_map(t, spec);
	struct encoder_value *vals = calloc(n_feat + 1, sizeof *vals);
	enum error_code rc = ERROR_OK;

	e->d = encoder_width(enc);
	e->X = util_alloc_array(N * e->d, sizeof *e->X);
	e->target = util_alloc_array(N, sizeof *e->target);
	e->exposure = util_alloc_array(N, sizeof *e->exposure);
	if (!colmap || !vals || !e->X || !e->target || !e->exposure) {
		rc = error_nomem(err, "the encoded data");
		goto out;
	}
	for (i = 0; i < N; i++) {
		table_encoder_values(t, colmap, n_feat, i, vals);
		rc = encoder_encode(enc, vals, t->cols[level_col].id[i], e->X + i * e->d, NULL, NULL,
				    NULL, err);
		if (rc) {
			error_prefix(err, "row %zu", i + 1);
			break;
		}
		e->target[i] = heads_standardize(spec, t->cols[target_col].num[i]);
		e->exposure[i] = t->cols[exposure_col].num[i];
	}
out:
	free(colmap);
	free(vals);
	if (rc)
		encoded_done(e);
	return rc;
}

/*
 * The default interval on the test rows, through the serving functions:
 * rows: (n) their encoded rows' indices in e, y: (n) the network's sales
 * outputs, t: (n) the truth in transformed units.
 */
static void score_intervals(const struct spec *spec, const struct encoded *e, const size_t *rows,
			    const double *y, const double *t, size_t n, struct report_scores *scores)
{
	double inside = 0, width = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		double lo, hi, lo_t, hi_t,
			h = heads_interval_halfwidth_row(spec, spec->interval, e->X + rows[i] * e->d);
		heads_interval(spec, y[i], h, &lo, &hi);
		lo_t = heads_transform(spec->transform, lo);
		hi_t = heads_transform(spec->transform, hi);
		inside += t[i] >= lo_t - 1e-9 && t[i] <= hi_t + 1e-9;
		width += hi_t - lo_t;
	}
	scores->interval_coverage = n ? inside / (double)n : 0;
	scores->interval_mean_width_log = n ? width / (double)n : 0;
}

/* The baselines on the whole training part (new, into *w_lin and *w_log: (d + 1) each). */
static enum error_code fit_baselines(const struct encoded *e, const struct split *sp, double **w_lin,
				     double **w_log, struct error *err)
{
	enum error_code rc;

	*w_lin = util_alloc_array(e->d + 1, sizeof **w_lin);
	*w_log = util_alloc_array(e->d + 1, sizeof **w_log);
	if (!*w_lin || !*w_log)
		return error_nomem(err, "the baselines");
	rc = baseline_linear_fit(e->X, e->d, sp->all_train, sp->n_all_train, e->target, BASELINE_RIDGE,
				 *w_lin, err);
	if (!rc)
		rc = baseline_logistic_fit(e->X, e->d, sp->all_train, sp->n_all_train, e->exposure,
					   BASELINE_RIDGE, *w_log, err);
	return rc;
}

/*
 * The held-out scores: the network (its weights `params`, run by
 * mlp_forward as served) and the baselines `all` fitted on all_train, on
 * the test rows.  res->test_rows and res->test_t are filled.
 */
static enum error_code score_test(const struct spec *spec, const float *params,
				  const struct encoded *e, const struct split *sp,
				  const struct ensemble_baselines *all, struct train_result *res,
				  struct report_scores *scores, struct error *err)
{
	const struct learn_data data = {e->X, e->d, e->target, e->exposure};
	size_t n = sp->n_test, i;
	double *label = NULL, *pred_t = NULL, *pred_p = NULL;
	struct ensemble_work w = {0};
	enum error_code rc = ERROR_OK;

	res->n_test = n;
	res->test_rows = util_alloc_array(n, sizeof *res->test_rows);
	res->test_t = util_alloc_array(n, sizeof *res->test_t);
	label = util_alloc_array(n, sizeof *label);
	pred_t = calloc(n ? n : 1, sizeof *pred_t);
	pred_p = calloc(n ? n : 1, sizeof *pred_p);
	if (!res->test_rows || !res->test_t || !label || !pred_t || !pred_p) {
		rc = error_nomem(err, "the evaluation");
		goto out;
	}
	memcpy(res->test_rows, sp->test, n * sizeof *sp->test);
	rc = ensemble_add_outputs(spec, params, 1.0, &data, sp->test, n, &w, pred_t, pred_p, err);
	if (rc)
		goto out;
	for (i = 0; i < n; i++) {
		res->test_t[i] = heads_unstandardize(spec, e->target[sp->test[i]]);
		label[i] = e->exposure[sp->test[i]];
	}
	score_intervals(spec, e, sp->test, pred_t, res->test_t, n, scores);
	for (i = 0; i < n; i++) {
		pred_t[i] = heads_unstandardize(spec, pred_t[i]);
		pred_p[i] = heads_exposure(pred_p[i]);
	}
	scores->n_test = n;
	evaluate_sales(spec->transform, res->test_t, pred_t, n, &scores->sales);
	rc = evaluate_exposure(label, pred_p, n, &scores->exposure, err);
	if (rc)
		goto out;
	for (i = 0; i < n; i++) {
		const float *x = e->X + sp->test[i] * e->d;
		pred_t[i] = heads_unstandardize(spec, baseline_predict(all->lin, x, e->d));
		pred_p[i] = heads_exposure(baseline_predict(all->log, x, e->d));
	}
	evaluate_sales(spec->transform, res->test_t, pred_t, n, &scores->linear);
	rc = evaluate_exposure(label, pred_p, n, &scores->logistic, err);
out:
	free(label);
	free(pred_t);
	free(pred_p);
	ensemble_work_done(&w);
	return rc;
}

/* The weights (taken from learned) as tensors in layer order, and the version's checksum (the spec is final). */
static bool take_weights(struct train_result *res, struct learn_outcome *learned)
{
	size_t dims[SPEC_MAX_HIDDEN + 2], n_dims = spec_layer_dims(&res->spec, dims), i;
	struct mlp net;

	res->weights = learned->params;
	learned->params = NULL;
	mlp_bind(&net, dims, n_dims - 1, res->weights);
	res->n_tensors = 2 * net.n_layers;
	for (i = 0; i < res->n_tensors; i++)
		model_mlp_tensor_at(&net, i, &res->tensors[i]);
	return model_checksum(&res->spec, res->tensors, res->n_tensors, res->checksum);
}

/*
 * The calibration window without the rows coldstart routed (those of it
 * in the training slice): their encoded inputs are no longer the rows'.
 */
static void keep_unrouted(struct split *sp, const bool *routed)
{
	size_t i, m = 0;

	for (i = 0; i < sp->n_cal; i++)
		if (!routed[sp->cal[i]])
			sp->cal[m++] = sp->cal[i];
	sp->n_cal = m;
}

enum error_code train_run(const struct dataset_config *cfg, const struct table *t,
			  train_progress_fn progress, void *ctx, struct train_result *res,
			  struct error *err)
{
	int target = table_column(t, cfg->target_column), exposure = table_column(t, cfg->exposure_column),
	    level = table_column(t, cfg->promo_column),
	    split_col = cfg->split_by_column ? table_column_kind(t, cfg->split_column, TABLE_NUMBER) : -1;
	double t0 = util_now_s();
	struct split sp = {0};
	struct fit_report fit = {0};
	struct encoder *enc = NULL;
	struct encoded e = {0};
	struct learn_outcome learned = {0};
	struct report_scores scores;
	json_t *ensemble = NULL;
	size_t *unknown_rows = NULL;
	bool *routed = NULL; /* (table rows), with model.calibration_fraction: coldstart routed it */
	double *w_lin = NULL, *w_log = NULL; /* the baselines on all_train: refit's and the metrics' */
	enum error_code rc;

	memset(res, 0, sizeof *res);
	rc = train_check_rows(cfg, &t->stats, t->n_rows, err);
	if (!rc)
		rc = split_make(cfg, t, split_col, &sp, err);
	if (!rc)
		rc = fit_spec(cfg, t, target, sp.all_train, sp.n_all_train, &res->spec, &fit, err);
	if (!rc) /* before any large allocation: refuse a run that would not fit, with the reason */
		rc = trainmem_check(&res->spec, cfg, t->n_rows, err);
	if (!rc && !(enc = encoder_new(&res->spec, err)))
		rc = err->code;
	if (!rc) /* what input drift is measured against, on the same rows as the statistics */
		rc = fit_drift_reference(&res->spec, enc, t, sp.all_train, sp.n_all_train, err);
	if (!rc)
		rc = encode_rows(t, &res->spec, enc, target, exposure, level, &e, err);
	if (!rc && !(unknown_rows = calloc(res->spec.n_categorical + 1, sizeof *unknown_rows)))
		rc = error_nomem(err, "the unknown-slot counts");
	if (!rc && sp.cal && !(routed = calloc(t->n_rows ? t->n_rows : 1, sizeof *routed)))
		rc = error_nomem(err, "the calibration rows");
	if (!rc)
		coldstart_route(&res->spec, enc, e.X, e.d, sp.train, sp.n_train, cfg->seed, unknown_rows,
				routed);
	if (!rc && routed)
		keep_unrouted(&sp, routed);
	if (!rc)
		rc = fit_baselines(&e, &sp, &w_lin, &w_log, err);
	if (!rc) {
		struct learn_data data = {e.X, e.d, e.target, e.exposure};
		rc = ensemble_learn(cfg, &res->spec, &data, &sp, &(struct ensemble_baselines){w_lin, w_log},
				    progress, ctx, &learned, &ensemble, err);
	}
	if (!rc)
		rc = score_test(&res->spec, learned.params, &e, &sp,
				&(struct ensemble_baselines){w_lin, w_log}, res, &scores, err);
	if (!rc) /* the reference explanations are measured against (explain.h) */
		rc = explain_sample_reference(&res->spec, e.X, sp.train, sp.n_train, cfg->seed, err);
	if (rc)
		goto out;
	res->metrics = report_metrics(&scores);
	res->training = report_training(cfg, t, &sp, &fit, &learned, &res->spec, unknown_rows, ensemble,
					util_now_s() - t0);
	if (!res->metrics || !res->training) {
		rc = error_nomem(err, "the metrics");
		goto out;
	}
	if (!take_weights(res, &learned))
		rc = error_nomem(err, "the checksum");
out:
	json_decref(ensemble);
	free(unknown_rows);
	free(routed);
	free(w_lin);
	free(w_log);
	fit_report_done(&fit);
	encoder_free(enc);
	encoded_done(&e);
	learn_outcome_done(&learned);
	split_done(&sp);
	if (rc)
		train_result_done(res);
	return rc;
}

enum error_code train_compare(const struct train_result *res, const struct dataset_config *cfg,
			      const struct table *t, const struct model *other, double *r2_log,
			      struct error *err)
{
	size_t n = res->n_test, n_in = encoder_n_inputs(other->enc), chunk = 1024, i, j;
	int level_col = table_column(t, cfg->promo_column);
	struct encoder_value *vals = calloc(n_in + 1, sizeof *vals);
	int *colmap = table_encoder_map(t, &other->spec);
	double *pred = util_alloc_array(n ? n : 1, sizeof *pred);
	float *X = util_alloc_array(chunk * other->spec.input_size, sizeof *X);
	float *Y = util_alloc_array(chunk * 2, sizeof *Y);
	float *scratch = util_alloc_array(mlp_scratch_floats(&other->mlp, chunk), sizeof *scratch);
	struct sales_metrics m;
	enum error_code rc = ERROR_OK;

	if (!vals || !colmap || !pred || !X || !Y || !scratch) {
		rc = error_nomem(err, "the comparison");
		goto out;
	}
	for (i = 0; i < n && !rc; i += chunk) {
		size_t B = n - i < chunk ? n - i : chunk;
		for (j = 0; j < B && !rc; j++) {
			size_t r = res->test_rows[i + j];
			int level = -1;
			/* the level of this row, as the other model numbers it */
			int32_t idx = t->cols[level_col].id[r];
			if (idx >= 0)
				level = spec_level_index(&other->spec, cfg->levels[idx].level);
			table_encoder_values(t, colmap, n_in, r, vals);
			rc = encoder_encode(other->enc, vals, level < 0 ? 0 : level,
					    X + j * other->spec.input_size, NULL, NULL, NULL, err);
		}
		if (rc)
			break;
		mlp_forward(&other->mlp, X, B, scratch, Y);
		for (j = 0; j < B; j++) {
			double units = heads_sales(&other->spec, Y[2 * j + HEADS_SALES]);
			/* onto this run's transformed scale */
			pred[i + j] = heads_transform(cfg->transform, units);
		}
	}
	if (!rc) {
		evaluate_sales(cfg->transform, res->test_t, pred, n, &m);
		*r2_log = m.r2_log;
	}
out:
	free(vals);
	free(colmap);
	free(pred);
	free(X);
	free(Y);
	free(scratch);
	return rc;
}

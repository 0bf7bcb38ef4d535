/*
 * evaluate — held-out metrics for the sales and exposure heads, computed
 * the same way for the MLP and the baselines.
 *
 * Sales (n rows): on the transformed scale (log1p(units) for log1p; units
 * from it by heads_units, as served),
 * r2_log = 1 - SS_res / SS_tot and mae_log; on units, rmse, mape (rows with
 * units > 0) and wmape = sum |err| / sum units.
 * Exposure: auc (Mann-Whitney, ties averaged), log_loss (p clipped to
 * [1e-7, 1 - 1e-7]), accuracy / precision / recall / f1 at p >= 0.5, and
 * ece over 10 equal-width bins.
 *
 * Thread-safety: pure functions.
 */
#ifndef SHELFCAST_EVALUATE_H
#define SHELFCAST_EVALUATE_H

#include <jansson.h>
#include <stddef.h>

#include "shelfcast/error.h"
#include "shelfcast/spec.h"

struct sales_metrics {
	double r2_log, mae_log, rmse, mape, wmape;
};

struct exposure_metrics {
	double auc, log_loss, accuracy, precision, recall, f1, ece;
};

/* t_true/t_pred: (n) on the transformed scale; units come from inverting it. */
void evaluate_sales(enum spec_transform transform, const double *t_true, const double *t_pred,
		    size_t n, struct sales_metrics *out);
/* y: (n) labels 0/1, p: (n) probabilities. Returns ERROR_NOMEM only. */
enum error_code evaluate_exposure(const double *y, const double *p, size_t n,
				  struct exposure_metrics *out, struct error *err);

/* Area under the ROC curve (0.5 when one class is absent). */
enum error_code evaluate_auc(const double *y, const double *p, size_t n, double *auc,
			     struct error *err);

json_t *evaluate_sales_json(const struct sales_metrics *m);
json_t *evaluate_exposure_json(const struct exposure_metrics *m);

#endif

/* evaluate — see include/shelfcast/evaluate.h. */
#include "shelfcast/evaluate.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "shelfcast/heads.h"

void evaluate_sales(enum spec_transform transform, const double *t_true, const double *t_pred,
		    size_t n, struct sales_metrics *out)
{
	double mean = 0, ss_tot = 0, ss_res = 0, abs_t = 0, se = 0, ape = 0, abs_u = 0, sum_u = 0;
	size_t i, n_ape = 0;

	for (i = 0; i < n; i++)
		mean += t_true[i];
	mean = n ? mean / (double)n : 0;
	for (i = 0; i < n; i++) {
		double d = t_pred[i] - t_true[i];
		double u_true = heads_units(transform, t_true[i]);
		double u_pred = heads_units(transform, t_pred[i]);
		ss_tot += (t_true[i] - mean) * (t_true[i] - mean);
		ss_res += d * d;
		abs_t += fabs(d);
		se += (u_pred - u_true) * (u_pred - u_true);
		abs_u += fabs(u_pred - u_true);
		sum_u += u_true;
		if (u_true > 0) {
			ape += fabs(u_pred - u_true) / u_true;
			n_ape++;
		}
	}
	out->r2_log = ss_tot > 0 ? 1.0 - ss_res / ss_tot : 0;
	out->mae_log = n ? abs_t / (double)n : 0;
	out->rmse = n ? sqrt(se / (double)n) : 0;
	out->mape = n_ape ? ape / (double)n_ape : 0;
	out->wmape = sum_u > 0 ? abs_u / sum_u : 0;
}

struct scored {
	double p, y;
};

static int by_p(const void *a, const void *b)
{
	const struct scored *x = a, *y = b;
	return x->p < y->p ? -1 : x->p > y->p;
}

enum error_code evaluate_auc(const double *y, const double *p, size_t n, double *auc,
			     struct error *err)
{
	struct scored *s = malloc((n ? n : 1) * sizeof *s);
	double pos = 0, rank_sum = 0;
	size_t i, j;

	if (!s)
		return error_nomem(err, "the AUC ranks");
	for (i = 0; i < n; i++) {
		s[i].p = p[i];
		s[i].y = y[i];
		pos += y[i] > 0.5;
	}
	qsort(s, n, sizeof *s, by_p);
	/* Sum of positive ranks, ties sharing their average rank. */
	for (i = 0; i < n; i = j) {
		double avg, npos = 0;
		for (j = i; j < n && s[j].p == s[i].p; j++)
			npos += s[j].y > 0.5;
		avg = ((double)i + 1 + (double)j) / 2.0;
		rank_sum += npos * avg;
	}
	free(s);
	if (pos == 0 || pos == (double)n)
		*auc = 0.5;
	else
		*auc = (rank_sum - pos * (pos + 1) / 2) / (pos * ((double)n - pos));
	return ERROR_OK;
}

enum error_code evaluate_exposure(const double *y, const double *p, size_t n,
				  struct exposure_metrics *out, struct error *err)
{
	double ll = 0, tp = 0, fp = 0, tn = 0, fn = 0, bin_p[10] = {0}, bin_y[10] = {0},
	       bin_n[10] = {0}, ece = 0;
	size_t i;
	int b;

	for (i = 0; i < n; i++) {
		double q = p[i] < 1e-7 ? 1e-7 : p[i] > 1 - 1e-7 ? 1 - 1e-7 : p[i];
		bool pred = p[i] >= 0.5, pos = y[i] > 0.5;
		ll -= pos ? log(q) : log(1 - q);
		tp += pred && pos;
		fp += pred && !pos;
		tn += !pred && !pos;
		fn += !pred && pos;
		b = (int)(p[i] * 10);
		b = b < 0 ? 0 : b > 9 ? 9 : b;
		bin_p[b] += p[i];
		bin_y[b] += y[i];
		bin_n[b]++;
	}
	for (b = 0; b < 10; b++)
		if (bin_n[b] > 0)
			ece += bin_n[b] / (double)n * fabs(bin_p[b] / bin_n[b] - bin_y[b] / bin_n[b]);
	out->log_loss = n ? ll / (double)n : 0;
	out->accuracy = n ? (tp + tn) / (double)n : 0;
	out->precision = tp + fp > 0 ? tp / (tp + fp) : 0;
	out->recall = tp + fn > 0 ? tp / (tp + fn) : 0;
	out->f1 = out->precision + out->recall > 0
			  ? 2 * out->precision * out->recall / (out->precision + out->recall)
			  : 0;
	out->ece = ece;
	return evaluate_auc(y, p, n, &out->auc, err);
}

/*
 * Round for storage to 9 significant digits: within 5e-9 relative of the
 * computed figure, so that live accuracy over the same rows (computed in SQL,
 * docs/monitoring.md) can be held to it within 1e-6, with no float noise.
 */
static json_t *num(double v)
{
	char buf[32];
	if (!isfinite(v))
		return json_null();
	snprintf(buf, sizeof buf, "%.9g", v);
	return json_real(strtod(buf, NULL));
}

json_t *evaluate_sales_json(const struct sales_metrics *m)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o}", "r2_log", num(m->r2_log), "mae_log",
			 num(m->mae_log), "rmse", num(m->rmse), "mape", num(m->mape), "wmape",
			 num(m->wmape));
}

json_t *evaluate_exposure_json(const struct exposure_metrics *m)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "auc", num(m->auc), "log_loss",
			 num(m->log_loss), "accuracy", num(m->accuracy), "precision",
			 num(m->precision), "recall", num(m->recall), "f1", num(m->f1), "ece",
			 num(m->ece));
}

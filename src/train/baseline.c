/* baseline — see include/shelfcast/baseline.h. */
#include "shelfcast/baseline.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/util.h"

/* LAPACK (Fortran ABI, from OpenBLAS): solve A x = b for symmetric positive definite A. */
extern void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda,
		   double *b, const int *ldb, int *info, size_t uplo_len);

#define BLOCK 2048

/* Copy rows [i0, i0+m) of the selection into xb: (m, d+1) with a trailing 1, scaled by s (or 1). */
static void load_block(const float *X, size_t d, const size_t *rows, size_t i0, size_t m,
		       const double *scale, double *xb)
{
	size_t i, j;
	for (i = 0; i < m; i++) {
		const float *x = X + rows[i0 + i] * d;
		double s = scale ? scale[i] : 1.0;
		double *o = xb + i * (d + 1);
		for (j = 0; j < d; j++)
			o[j] = s * (double)x[j];
		o[d] = s;
	}
}

/* A: (D, D) += xb^T xb over all selected rows (row weights sqrt(wt) when given). */
static void gram(const float *X, size_t d, const size_t *rows, size_t n, const double *wt,
		 double *xb, double *A)
{
	size_t D = d + 1, i0, i, j;
	double scale[BLOCK];

	memset(A, 0, D * D * sizeof *A);
	for (i0 = 0; i0 < n; i0 += BLOCK) {
		size_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
		for (i = 0; wt && i < m; i++)
			scale[i] = sqrt(wt[i0 + i]);
		load_block(X, d, rows, i0, m, wt ? scale : NULL, xb);
		cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)D, (int)m, 1.0, xb, (int)D, 1.0,
			    A, (int)D);
	}
	for (i = 0; i < D; i++)
		for (j = 0; j < i; j++)
			A[i * D + j] = A[j * D + i];
}

static enum error_code solve(double *A, double *b, size_t D, struct error *err)
{
	int n = (int)D, nrhs = 1, info = 0;
	dposv_("U", &n, &nrhs, A, &n, b, &n, &info, 1);
	if (info != 0)
		return error_set(err, ERROR_INVALID, NULL,
				 "baseline: the normal equations are singular (LAPACK info %d)", info);
	return ERROR_OK;
}

double baseline_predict(const double *w, const float *x, size_t d)
{
	double s = w[d];
	size_t j;
	for (j = 0; j < d; j++)
		s += w[j] * (double)x[j];
	return s;
}

enum error_code baseline_linear_fit(const float *X, size_t d, const size_t *rows, size_t n,
				    const double *t, double ridge, double *w, struct error *err)
{
	size_t D = d + 1, i0, i, j;
	double *A = util_alloc_array(D * D, sizeof *A), *xb = util_alloc_array(BLOCK * D, sizeof *xb);
	enum error_code rc;

	if (!A || !xb) {
		free(A);
		free(xb);
		return error_nomem(err, "the linear baseline");
	}
	gram(X, d, rows, n, NULL, xb, A);
	memset(w, 0, D * sizeof *w);
	for (i0 = 0; i0 < n; i0 += BLOCK) {
		size_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
		load_block(X, d, rows, i0, m, NULL, xb);
		for (i = 0; i < m; i++)
			for (j = 0; j < D; j++)
				w[j] += xb[i * D + j] * t[rows[i0 + i]];
	}
	for (j = 0; j < d; j++)
		A[j * D + j] += ridge;
	A[d * D + d] += 1e-9; /* keep the factorization defined for an empty selection */
	rc = solve(A, w, D, err);
	free(A);
	free(xb);
	return rc;
}

enum error_code baseline_logistic_fit(const float *X, size_t d, const size_t *rows, size_t n,
				      const double *y, double ridge, double *w, struct error *err)
{
	size_t D = d + 1, i, j, i0;
	double *A = util_alloc_array(D * D, sizeof *A), *xb = util_alloc_array(BLOCK * D, sizeof *xb),
	       *g = util_alloc_array(D, sizeof *g), *p = util_alloc_array(n ? n : 1, sizeof *p),
	       *wt = util_alloc_array(n ? n : 1, sizeof *wt);
	enum error_code rc = ERROR_OK;
	int iter;

	if (!A || !xb || !g || !p || !wt) {
		rc = error_nomem(err, "the logistic baseline");
		goto out;
	}
	memset(w, 0, D * sizeof *w);
	for (iter = 0; iter < 30; iter++) {
		double step = 0;
		for (i = 0; i < n; i++) {
			double z = baseline_predict(w, X + rows[i] * d, d);
			p[i] = z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
			wt[i] = p[i] * (1 - p[i]) + 1e-12;
		}
		gram(X, d, rows, n, wt, xb, A);
		/* g = X^T (p - y) + ridge * w (no penalty on the intercept) */
		memset(g, 0, D * sizeof *g);
		for (i0 = 0; i0 < n; i0 += BLOCK) {
			size_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
			load_block(X, d, rows, i0, m, NULL, xb);
			for (i = 0; i < m; i++) {
				double r = p[i0 + i] - y[rows[i0 + i]];
				for (j = 0; j < D; j++)
					g[j] += xb[i * D + j] * r;
			}
		}
		for (j = 0; j < d; j++) {
			A[j * D + j] += ridge;
			g[j] += ridge * w[j];
		}
		A[d * D + d] += 1e-9;
		rc = solve(A, g, D, err);
		if (rc)
			goto out;
		for (j = 0; j < D; j++) {
			w[j] -= g[j];
			step = fabs(g[j]) > step ? fabs(g[j]) : step;
		}
		if (step < 1e-7)
			break;
	}
out:
	free(A);
	free(xb);
	free(g);
	free(p);
	free(wt);
	return rc;
}

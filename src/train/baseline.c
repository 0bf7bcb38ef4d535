/* baseline — see include/shelfcast/baseline.h. */
#include "shelfcast/baseline.h"

#include <cblas.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/util.h"

/* LAPACK (Fortran ABI, from OpenBLAS): solve A x = b for symmetric positive definite A. */
extern void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda,
		   double *b, const int *ldb, int *info, size_t uplo_len);

#define BLOCK 2048
/* Bytes of the double-precision row block the passes over X convert into. */
#define BLOCK_BYTES (16u << 20)
#define CG_MAX_ITER 2000
#define CG_TOL 1e-10        /* relative residual of the normal equations */
#define LBFGS_M 10
#define LBFGS_MAX_ITER 500
#define LBFGS_TOL 1e-7      /* largest gradient component, per row */

/* Rows per block: BLOCK, fewer when wide rows would make the block larger than BLOCK_BYTES. */
static size_t block_rows(size_t D)
{
	size_t m = BLOCK_BYTES / (D * sizeof(double));
	return m < 1 ? 1 : m > BLOCK ? BLOCK : m;
}

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

/*
 * out: (D) = X^T X v + ridge * v (no penalty on the intercept, a 1e-9 one
 * keeps it defined for an empty selection), in blocks of m rows: the (D, D)
 * matrix is never formed.
 */
static void normal_matvec(const float *X, size_t d, const size_t *rows, size_t n, double ridge, const double *v, double *out, double *xb, double *u)
{
	size_t D = d + 1, m0 = block_rows(D), i0, j;

	memset(out, 0, D * sizeof *out);
	for (i0 = 0; i0 < n; i0 += m0) {
		size_t m = n - i0 < m0 ? n - i0 : m0;
		load_block(X, d, rows, i0, m, NULL, xb);
		cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)m, (int)D, 1.0, xb, (int)D, v, 1, 0.0, u, 1);
		cblas_dgemv(CblasRowMajor, CblasTrans, (int)m, (int)D, 1.0, xb, (int)D, u, 1, 1.0, out, 1);
	}
	for (j = 0; j < d; j++)
		out[j] += ridge * v[j];
	out[d] += 1e-9 * v[d];
}

/* Solve (X^T X + ridge I') x = b by conjugate gradients, from x = 0; tmp: (3 D). */
static enum error_code solve_cg(const float *X, size_t d, const size_t *rows, size_t n, double ridge, const double *b, double *x, double *tmp,
				double *xb, double *u, struct error *err)
{
	size_t D = d + 1, it;
	double *r = tmp, *p = tmp + D, *Ap = tmp + 2 * D;
	double rr, bb = cblas_ddot((int)D, b, 1, b, 1);

	memset(x, 0, D * sizeof *x);
	memcpy(r, b, D * sizeof *r);
	memcpy(p, b, D * sizeof *p);
	rr = bb;
	for (it = 0; it < CG_MAX_ITER && rr > CG_TOL * CG_TOL * bb; it++) {
		double alpha, rr_new;
		normal_matvec(X, d, rows, n, ridge, p, Ap, xb, u);
		alpha = rr / cblas_ddot((int)D, p, 1, Ap, 1);
		cblas_daxpy((int)D, alpha, p, 1, x, 1);
		cblas_daxpy((int)D, -alpha, Ap, 1, r, 1);
		rr_new = cblas_ddot((int)D, r, 1, r, 1);
		cblas_dscal((int)D, rr_new / rr, p, 1);
		cblas_daxpy((int)D, 1.0, r, 1, p, 1);
		rr = rr_new;
	}
	if (!isfinite(rr))
		return error_set(err, ERROR_INVALID, NULL,
				 "baseline: conjugate gradients diverged on %zu inputs", d);
	return ERROR_OK;
}

static enum error_code solve_dense(double *A, double *b, size_t D, struct error *err)
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

/* g: (D) = X^T r over the selection, where r_i = f(row i) is given per selected row. */
static void xt_times(const float *X, size_t d, const size_t *rows, size_t n, const double *r,
		     double *g)
{
	size_t i, j;
	memset(g, 0, (d + 1) * sizeof *g);
	for (i = 0; i < n; i++) {
		const float *x = X + rows[i] * d;
		for (j = 0; j < d; j++)
			g[j] += (double)x[j] * r[i];
		g[d] += r[i];
	}
}

enum error_code baseline_linear_fit(const float *X, size_t d, const size_t *rows, size_t n,
				    const double *t, double ridge, double *w, struct error *err)
{
	size_t D = d + 1, i, j;
	bool dense = D <= BASELINE_DENSE_MAX;
	double *A = dense ? util_alloc_array(D * D, sizeof *A) : util_alloc_array(4 * D, sizeof *A);
	double *xb = util_alloc_array(dense ? BLOCK * D : block_rows(D) * D, sizeof *xb);
	double *r = util_alloc_array(n ? n : 1, sizeof *r);
	enum error_code rc;

	if (!A || !xb || !r) {
		rc = error_nomem(err, "the linear baseline");
		goto out;
	}
	for (i = 0; i < n; i++)
		r[i] = t[rows[i]];
	if (dense) {
		xt_times(X, d, rows, n, r, w);
		gram(X, d, rows, n, NULL, xb, A);
		for (j = 0; j < d; j++)
			A[j * D + j] += ridge;
		A[d * D + d] += 1e-9; /* keep the factorization defined for an empty selection */
		rc = solve_dense(A, w, D, err);
	} else {
		double *b = A + 3 * D;
		xt_times(X, d, rows, n, r, b);
		rc = solve_cg(X, d, rows, n, ridge, b, w, A, xb, r, err);
	}
out:
	free(A);
	free(xb);
	free(r);
	return rc;
}

/*
 * Penalized negative log-likelihood at w and its gradient g: (D), in one
 * pass over the rows; p: (n) gets each row's sigmoid(z) - y.
 */
static double logistic_loss(const float *X, size_t d, const size_t *rows, size_t n,
			    const double *y, double ridge, const double *w, double *g, double *p)
{
	double loss = 0;
	size_t i, j;

	memset(g, 0, (d + 1) * sizeof *g);
	for (i = 0; i < n; i++) {
		const float *x = X + rows[i] * d;
		double z = baseline_predict(w, x, d), yi = y[rows[i]];
		/* log(1 + e^z) - y z, computed without overflow */
		loss += (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))) - yi * z;
		p[i] = (z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z))) - yi;
		for (j = 0; j < d; j++) /* g = X^T p */
			g[j] += (double)x[j] * p[i];
		g[d] += p[i];
	}
	for (j = 0; j < d; j++) {
		loss += 0.5 * ridge * w[j] * w[j];
		g[j] += ridge * w[j];
	}
	return loss;
}

/*
 * Newton's method (IRLS) with the dense (D, D) Hessian: small D.
 * p: (n); g: (D).
 */
static enum error_code logistic_newton(const float *X, size_t d, const size_t *rows, size_t n,
				       const double *y, double ridge, double *w, double *p,
				       double *g, struct error *err)
{
	size_t D = d + 1, i, j;
	double *A = util_alloc_array(D * D, sizeof *A), *xb = util_alloc_array(BLOCK * D, sizeof *xb);
	double *wt = util_alloc_array(n ? n : 1, sizeof *wt); /* (n): the Hessian's row weights */
	enum error_code rc = ERROR_OK;
	int iter;

	if (!A || !xb || !wt) {
		rc = error_nomem(err, "the logistic baseline");
		goto out;
	}
	for (iter = 0; iter < 30; iter++) {
		double step = 0;
		logistic_loss(X, d, rows, n, y, ridge, w, g, p);
		for (i = 0; i < n; i++) {
			double q = p[i] + y[rows[i]];
			wt[i] = q * (1 - q) + 1e-12;
		}
		gram(X, d, rows, n, wt, xb, A);
		for (j = 0; j < d; j++)
			A[j * D + j] += ridge;
		A[d * D + d] += 1e-9;
		rc = solve_dense(A, g, D, err);
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
	free(wt);
	return rc;
}

/*
 * L-BFGS (two-loop recursion, backtracking Armijo line search) for large D:
 * O(LBFGS_M D) memory and one pass over the rows per evaluation.
 * p: (n); g: (D).
 */
static enum error_code logistic_lbfgs(const float *X, size_t d, const size_t *rows, size_t n,
				      const double *y, double ridge, double *w, double *p, double *g,
				      struct error *err)
{
	size_t D = d + 1, k, j, used = 0, head = 0;
	double *mem = util_alloc_array((2 * LBFGS_M + 3) * D, sizeof *mem);
	double *S = mem, *Y = mem + LBFGS_M * D, *dir = mem + 2 * LBFGS_M * D, *wn = dir + D,
	       *gn = wn + D, rho[LBFGS_M], alpha[LBFGS_M], f, gmax;
	int iter;

	if (!mem)
		return error_nomem(err, "the logistic baseline");
	f = logistic_loss(X, d, rows, n, y, ridge, w, g, p);
	for (iter = 0; iter < LBFGS_MAX_ITER; iter++) {
		double step = 1, slope, fn = f, scale = 1;
		gmax = fabs(g[cblas_idamax((int)D, g, 1)]);
		if (gmax < LBFGS_TOL * (double)(n ? n : 1))
			break;
		/* dir = -H g, H from the last `used` pairs (s, y), newest at head - 1 */
		memcpy(dir, g, D * sizeof *dir);
		for (k = 0; k < used; k++) {
			size_t s = (head + LBFGS_M - 1 - k) % LBFGS_M;
			alpha[s] = rho[s] * cblas_ddot((int)D, S + s * D, 1, dir, 1);
			cblas_daxpy((int)D, -alpha[s], Y + s * D, 1, dir, 1);
		}
		if (used) {
			size_t s = (head + LBFGS_M - 1) % LBFGS_M;
			scale = 1 / (rho[s] * cblas_ddot((int)D, Y + s * D, 1, Y + s * D, 1));
		} else {
			scale = 1 / gmax; /* a first step of at most 1 in each weight */
		}
		cblas_dscal((int)D, scale, dir, 1);
		for (k = used; k-- > 0;) {
			size_t s = (head + LBFGS_M - 1 - k) % LBFGS_M;
			double beta = rho[s] * cblas_ddot((int)D, Y + s * D, 1, dir, 1);
			cblas_daxpy((int)D, alpha[s] - beta, S + s * D, 1, dir, 1);
		}
		cblas_dscal((int)D, -1.0, dir, 1);
		slope = cblas_ddot((int)D, g, 1, dir, 1);
		if (!(slope < 0))
			break; /* no descent direction left: as good as it gets in double precision */
		for (j = 0; j < 40; j++, step *= 0.5) {
			memcpy(wn, w, D * sizeof *wn);
			cblas_daxpy((int)D, step, dir, 1, wn, 1);
			fn = logistic_loss(X, d, rows, n, y, ridge, wn, gn, p);
			if (fn <= f + 1e-4 * step * slope)
				break;
		}
		if (j == 40)
			break;
		/* s = wn - w, y = gn - g */
		for (k = 0; k < D; k++) {
			S[head * D + k] = wn[k] - w[k];
			Y[head * D + k] = gn[k] - g[k];
		}
		rho[head] = cblas_ddot((int)D, S + head * D, 1, Y + head * D, 1);
		if (rho[head] > 0) {
			rho[head] = 1 / rho[head];
			head = (head + 1) % LBFGS_M;
			used += used < LBFGS_M;
		}
		memcpy(w, wn, D * sizeof *w);
		memcpy(g, gn, D * sizeof *g);
		f = fn;
	}
	free(mem);
	if (!isfinite(f))
		return error_set(err, ERROR_INVALID, NULL,
				 "baseline: the logistic fit diverged on %zu inputs", d);
	return ERROR_OK;
}

enum error_code baseline_logistic_fit(const float *X, size_t d, const size_t *rows, size_t n,
				      const double *y, double ridge, double *w, struct error *err)
{
	size_t D = d + 1;
	double *g = util_alloc_array(D, sizeof *g), *p = util_alloc_array(n ? n : 1, sizeof *p);
	enum error_code rc;

	memset(w, 0, D * sizeof *w);
	if (!g || !p)
		rc = error_nomem(err, "the logistic baseline");
	else if (D <= BASELINE_DENSE_MAX)
		rc = logistic_newton(X, d, rows, n, y, ridge, w, p, g, err);
	else
		rc = logistic_lbfgs(X, d, rows, n, y, ridge, w, p, g, err);
	free(g);
	free(p);
	return rc;
}

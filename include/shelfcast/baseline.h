/*
 * baseline — the reference models every training run is compared with, fit
 * on the same encoded inputs and the same split as the MLP:
 *   linear regression of the standardized transformed target (least squares
 *   with a small ridge, solved by Cholesky through LAPACK's dposv in OpenBLAS)
 *   and logistic regression of the exposure label (Newton's method / IRLS
 *   with the same ridge).  The intercept is not penalized.
 *
 * Weights: (d + 1) doubles, the last one the intercept.
 * Thread-safety: pure functions (BLAS calls only).
 */
#ifndef SHELFCAST_BASELINE_H
#define SHELFCAST_BASELINE_H

#include <stddef.h>

#include "shelfcast/error.h"

/* X: (N, d) encoded rows; rows: (n) indices into X to fit on; t: (N) targets. */
enum error_code baseline_linear_fit(const float *X, size_t d, const size_t *rows, size_t n,
				    const double *t, double ridge, double *w, struct error *err);
/* y: (N) 0/1 labels. */
enum error_code baseline_logistic_fit(const float *X, size_t d, const size_t *rows, size_t n,
				      const double *y, double ridge, double *w, struct error *err);

/* w . x + intercept, for one row x: (d). */
double baseline_predict(const double *w, const float *x, size_t d);

#endif

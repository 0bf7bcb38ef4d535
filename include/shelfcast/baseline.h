/*
 * baseline — the reference models every training run is compared with, fit
 * on the same encoded inputs and the same split as the MLP:
 *   linear regression of the standardized transformed target (least squares
 *   with a small ridge) and logistic regression of the exposure label (with
 *   the same ridge).  The intercept is not penalized.
 *
 * Solvers, by the number of weights D = d + 1:
 *   D <= BASELINE_DENSE_MAX   the (D, D) normal equations, formed and solved
 *                             exactly: Cholesky (LAPACK dposv in OpenBLAS),
 *                             Newton's method / IRLS for the logistic
 *   larger                    never formed (100,000 one-hot categories would
 *                             make it 80 GB): conjugate gradients on the
 *                             normal equations, each product X^T (X v) one
 *                             pass over the rows; L-BFGS for the logistic.
 *                             Memory O(D) plus a 16 MiB row block.
 * Both reach the same optimum (a unit test pads a problem across the
 * threshold and compares).
 *
 * Weights: (d + 1) doubles, the last one the intercept.
 * Thread-safety: pure functions (BLAS calls only).
 */
#ifndef SHELFCAST_BASELINE_H
#define SHELFCAST_BASELINE_H

#include <stddef.h>

/* Largest D = d + 1 solved with the dense (D, D) system (32 MiB of doubles). */
#define BASELINE_DENSE_MAX 2048
/* The ridge penalty the trainer fits (and reports) its baselines with. */
#define BASELINE_RIDGE 1.0

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

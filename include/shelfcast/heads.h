/*
 * heads — the network's two outputs turned into answers, and the value of
 * an answer: the one place training, evaluation and serving take them from.
 *
 *   output 0, sales: y is the standardized transformed target,
 *     t = y * target_std + target_mean          (heads_unstandardize)
 *     predicted_sales = max(0, inverse(t))       (heads_units; inverse of log1p is expm1)
 *     expected_sales = the mean units              (heads_expected_sales)
 *     predicted_sales_interval                    (heads_interval)
 *   output 1, exposure: z is a logit,
 *     exposure_probability = sigmoid(z)          (heads_exposure)
 *   the training loss of one row: (y - t)^2 + w * bce(z, e)   (heads_loss)
 *   the promotion objective at level k (heads_value):
 *     revenue = units * price * (1 - discount) - cost
 *     units   = units
 *     profit  = units * (price * (1 - discount) - unit_cost) - cost
 *
 * The names and kinds the spec states for the outputs ("sales", linear;
 * "exposure", logit) are spelled once, in spec.c, by enum heads_output.
 *
 * Thread-safety: pure functions.
 */
#ifndef SHELFCAST_HEADS_H
#define SHELFCAST_HEADS_H

#include <stddef.h>

#include "shelfcast/spec.h"

/* The output index of each head in the network's last layer. */
enum heads_output {
	HEADS_SALES = 0,
	HEADS_EXPOSURE = 1,
	HEADS_COUNT = 2,
};

/* units onto the transformed scale: log1p(units), or units unchanged. */
double heads_transform(enum spec_transform transform, double units);
/*
 * The inverse, clamped: max(0, expm1(t)) or max(0, t).  NaN gives 0, a
 * t past 700 counts as 700 (no sales figure is near e^700) and the result
 * is at most DBL_MAX.
 */
double heads_units(enum spec_transform transform, double t);

/* The training target of `units`: (transform(units) - target_mean) / target_std. */
double heads_standardize(const struct spec *spec, double units);
/* The transformed value a sales output y stands for: y * target_std + target_mean. */
double heads_unstandardize(const struct spec *spec, double y);
/* predicted_sales = heads_units(transform, heads_unstandardize(spec, y)). */
double heads_sales(const struct spec *spec, double y);

/*
 * expected_sales, the mean of the units (predicted_sales is the centre on
 * the transformed scale, the median of a log1p target): for log1p,
 * max(0, exp(t) * smearing - 1) with the spec's smearing (Duan's estimate
 * from held-out residuals; 1 without calibration); for none, the centre.
 */
double heads_expected_sales(const struct spec *spec, double y);

/*
 * The conformal half-width, in transformed units, of an interval of the
 * given coverage in (0, 1): the spec's residual table at the level rounded
 * up to the next 0.005 (a lookup).  0 without calibration.
 */
double heads_interval_halfwidth(const struct spec *spec, double coverage);
/*
 * The same for an encoded row: its category's table when the spec's
 * calibration is by a categorical input (spec_residual_table), else the
 * spec's.  What every served interval uses.
 */
double heads_interval_halfwidth_row(const struct spec *spec, double coverage, const float *row);
/* A residual table's half-width at coverage, rounded up to the next 0.005 (the lookup of both above). */
double heads_table_halfwidth(const double table[SPEC_RESIDUAL_QUANTILES], double coverage);
/* The interval in units around the sales output y: heads_units(t -+ halfwidth). */
void heads_interval(const struct spec *spec, double y, double halfwidth, double *lower,
		    double *upper);

/* exposure_probability = sigmoid(z), stable for any z (+-1000 included). */
double heads_exposure(double z);

/*
 * One row's training loss: the squared error of the sales output y against
 * the standardized target t, plus exposure_weight times the binary cross-
 * entropy of the logit z against the label e (0 or 1), computed without
 * overflow.  dy, dz (may be NULL): the loss's derivatives in y and z.
 */
double heads_loss(double y, double t, double z, double e, double exposure_weight, double *dy,
		  double *dz);

/*
 * heads_expected_sales and heads_exposure of n rows of outputs (y: HEADS_COUNT
 * floats a row), exp by a polynomial the compiler vectorizes: the exposure
 * to within a few ulp, expected units (log1p target) to within a few ulp of
 * exp(t) = units + 1 (so not relatively near zero units, where expm1 is
 * exact and this is not): for a search whose chosen numbers are computed
 * again by the two.
 */
void heads_rows_fast(const struct spec *spec, const float *y, size_t n, double *expected, double *exposure);

/* The objective value of selling `units` at level index k (see the header comment). */
double heads_value(const struct spec *spec, enum spec_objective objective, size_t k, double units,
		   double price, double unit_cost);

#endif

/* heads — see include/shelfcast/heads.h. */
#include "shelfcast/heads.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* The largest transformed value turned back into units (exp overflows past ~709). */
#define HEADS_T_MAX 700.0

double heads_transform(enum spec_transform transform, double units)
{
	return transform == SPEC_TRANSFORM_LOG1P ? log1p(units) : units;
}

double heads_units(enum spec_transform transform, double t)
{
	double units;

	if (transform == SPEC_TRANSFORM_LOG1P)
		units = expm1(t > HEADS_T_MAX ? HEADS_T_MAX : t); /* exp overflows past ~709 */
	else
		units = t;
	if (!(units > 0.0)) /* also maps NaN to 0 */
		return 0.0;
	return units < DBL_MAX ? units : DBL_MAX;
}

double heads_standardize(const struct spec *spec, double units)
{
	return (heads_transform(spec->transform, units) - spec->target_mean) / spec->target_std;
}

double heads_unstandardize(const struct spec *spec, double y)
{
	return y * spec->target_std + spec->target_mean;
}

double heads_sales(const struct spec *spec, double y)
{
	return heads_units(spec->transform, heads_unstandardize(spec, y));
}

double heads_expected_sales(const struct spec *spec, double y)
{
	double t = heads_unstandardize(spec, y), smearing = spec->has_calibration ? spec->smearing : 1;

	if (spec->transform != SPEC_TRANSFORM_LOG1P)
		return heads_units(spec->transform, t);
	return heads_units(spec->transform, t + log(smearing)); /* exp(t) * s - 1 */
}

double heads_table_halfwidth(const double table[SPEC_RESIDUAL_QUANTILES], double coverage)
{
	double pos = ceil(coverage * (SPEC_RESIDUAL_QUANTILES - 1) - 1e-9);

	if (!(pos >= 0))
		return 0;
	return table[pos > SPEC_RESIDUAL_QUANTILES - 1 ? SPEC_RESIDUAL_QUANTILES - 1 : (size_t)pos];
}

static double halfwidth(const struct spec *spec, const double *table, double coverage)
{
	return spec->has_calibration ? heads_table_halfwidth(table, coverage) : 0;
}

double heads_interval_halfwidth(const struct spec *spec, double coverage)
{
	return halfwidth(spec, spec->residual_q, coverage);
}

double heads_interval_halfwidth_row(const struct spec *spec, double coverage, const float *row)
{
	return halfwidth(spec, spec_residual_table(spec, row), coverage);
}

void heads_interval(const struct spec *spec, double y, double halfwidth, double *lower,
		    double *upper)
{
	double t = heads_unstandardize(spec, y);
	*lower = heads_units(spec->transform, t - halfwidth);
	*upper = heads_units(spec->transform, t + halfwidth);
}

double heads_exposure(double z)
{
	double e;
	if (z >= 0)
		return 1.0 / (1.0 + exp(-z));
	e = exp(z);
	return e / (1.0 + e);
}

double heads_loss(double y, double t, double z, double e, double exposure_weight, double *dy,
		  double *dz)
{
	double d = y - t;
	/* bce = log(1 + exp(z)) - z e, written so that exp never overflows */
	double bce = (z > 0 ? z : 0) - z * e + log1p(exp(-fabs(z)));

	if (dy)
		*dy = 2 * d;
	if (dz) /* d bce / dz = sigmoid(z) - e */
		*dz = exposure_weight * (heads_exposure(z) - e);
	return d * d + exposure_weight * bce;
}

double heads_value(const struct spec *spec, enum spec_objective objective, size_t k, double units,
		   double price, double unit_cost)
{
	const struct spec_level *l = &spec->levels[k];
	switch (objective) {
	case SPEC_OBJECTIVE_UNITS:
		return units;
	case SPEC_OBJECTIVE_PROFIT:
		return units * (price * (1.0 - l->discount) - unit_cost) - l->cost;
	case SPEC_OBJECTIVE_REVENUE:
		break;
	}
	return units * price * (1.0 - l->discount) - l->cost;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ROWS_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ROWS_CLONES
#endif

/*
 * exp(x) for x in [-700, 700], to within about two ulp, in straight-line
 * arithmetic that a loop vectorizes: x = k ln2 + r, |r| <= ln2/2, exp(r)
 * by its Taylor polynomial to r^12 (the rest is below 2e-16 relative),
 * 2^k added into the exponent bits.  NaN stays NaN.
 */
static inline double exp_poly(double x)
{
	const double shift = 0x1.8p52, ln2_hi = 0x1.62e42feep-1, ln2_lo = 0x1.a39ef35793c76p-33;
	double kd = x * 0x1.71547652b82fep0 + shift, r, p;
	int64_t k;
	uint64_t bits;

	memcpy(&k, &kd, sizeof k); /* round(x / ln2) in the low bits */
	kd -= shift;
	r = (x - kd * ln2_hi) - kd * ln2_lo;
	p = 1.0 / 479001600;
	p = p * r + 1.0 / 39916800;
	p = p * r + 1.0 / 3628800;
	p = p * r + 1.0 / 362880;
	p = p * r + 1.0 / 40320;
	p = p * r + 1.0 / 5040;
	p = p * r + 1.0 / 720;
	p = p * r + 1.0 / 120;
	p = p * r + 1.0 / 24;
	p = p * r + 1.0 / 6;
	p = p * r + 0.5;
	p = p * r + 1.0;
	p = p * r + 1.0;
	memcpy(&bits, &p, sizeof bits);
	bits += (uint64_t)k << 52; /* unsigned: defined for any k, NaN's included */
	memcpy(&p, &bits, sizeof p);
	return p;
}

ROWS_CLONES static void rows_log1p(double add, const float *y, size_t n, double mean, double std, double *expected,
				  double *exposure)
{
	size_t r;

	for (r = 0; r < n; r++) {
		double t = (double)y[HEADS_COUNT * r + HEADS_SALES] * std + mean + add;
		double z = (double)y[HEADS_COUNT * r + HEADS_EXPOSURE], e, u;
		t = t > HEADS_T_MAX ? HEADS_T_MAX : t < -HEADS_T_MAX ? -HEADS_T_MAX : t;
		u = exp_poly(t) - 1.0;
		expected[r] = u > 0.0 ? u : 0.0; /* also maps NaN to 0 */
		z = z < 0 ? z : -z;              /* -|z| */
		e = exp_poly(z < -HEADS_T_MAX ? -HEADS_T_MAX : z);
		exposure[r] = (y[HEADS_COUNT * r + HEADS_EXPOSURE] >= 0 ? 1.0 : e) / (1.0 + e);
	}
}

void heads_rows_fast(const struct spec *spec, const float *y, size_t n, double *expected, double *exposure)
{
	size_t r;

	if (spec->transform == SPEC_TRANSFORM_LOG1P) {
		rows_log1p(log(spec->has_calibration ? spec->smearing : 1), y, n, spec->target_mean, spec->target_std,
			   expected, exposure);
		return;
	}
	for (r = 0; r < n; r++) {
		expected[r] = heads_expected_sales(spec, (double)y[HEADS_COUNT * r + HEADS_SALES]);
		exposure[r] = heads_exposure((double)y[HEADS_COUNT * r + HEADS_EXPOSURE]);
	}
}

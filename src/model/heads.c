/* heads — see include/shelfcast/heads.h. */
#include "shelfcast/heads.h"

#include <float.h>
#include <math.h>

double heads_transform(enum spec_transform transform, double units)
{
	return transform == SPEC_TRANSFORM_LOG1P ? log1p(units) : units;
}

double heads_units(enum spec_transform transform, double t)
{
	double units;

	if (transform == SPEC_TRANSFORM_LOG1P)
		units = expm1(t > 700.0 ? 700.0 : t); /* exp overflows past ~709 */
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

/* calibrate — see include/shelfcast/calibrate.h. */
#include "shelfcast/calibrate.h"

#include <math.h>
#include <stdlib.h>

#include "shelfcast/util.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

enum error_code calibrate_fit(struct spec *spec, const double *resid, size_t n, double interval,
			      struct error *err)
{
	double *a, smear = 0;
	size_t i;

	if (n == 0)
		return error_set(err, ERROR_INVALID, "model.validation_fraction",
				 "no held-out rows to calibrate the intervals on: raise "
				 "model.validation_fraction");
	a = util_alloc_array(n, sizeof *a);
	if (!a)
		return error_nomem(err, "the calibration");
	for (i = 0; i < n; i++) {
		a[i] = fabs(resid[i]);
		smear += exp(resid[i] > 700 ? 700 : resid[i]);
	}
	qsort(a, n, sizeof *a, cmp_double);
	for (i = 0; i < SPEC_RESIDUAL_QUANTILES; i++) {
		double p = (double)i / (SPEC_RESIDUAL_QUANTILES - 1);
		double k = ceil((double)(n + 1) * p - 1e-9); /* 1-based rank */
		spec->residual_q[i] = k < 1 ? 0 : a[k > (double)n ? n - 1 : (size_t)k - 1];
	}
	spec->smearing = spec->transform == SPEC_TRANSFORM_LOG1P ? smear / (double)n : 1;
	spec->interval = interval;
	spec->calibration_rows = n;
	spec->has_calibration = true;
	free(a);
	return ERROR_OK;
}

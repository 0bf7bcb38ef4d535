/*
 * calibrate — the spec's calibration (spec.h) from held-out residuals:
 * split conformal prediction intervals and the smearing factor of the mean.
 *
 * resid: (n) t - prediction on rows the predicting weights never trained
 * on, in transformed units.  residual_q[i] is the ceil((n + 1) p)-th
 * smallest |resid| at level p = i / 200 (the largest one past n), so that
 * an interval of half-width residual_q[i] covers a new exchangeable row
 * with probability >= p.  smearing = mean(exp(resid)) for a log1p target
 * (Duan 1983), 1 otherwise.
 *
 * Thread-safety: pure.
 */
#ifndef SHELFCAST_CALIBRATE_H
#define SHELFCAST_CALIBRATE_H

#include <stddef.h>

#include "shelfcast/error.h"
#include "shelfcast/spec.h"

/* A category with at least this many held-out rows gets its own table (Mondrian). */
#define CALIBRATE_GROUP_MIN 100

/*
 * interval: the default coverage in (0, 1).  Fills spec's calibration
 * fields.  With by >= 0 (a categorical input) and slot (n: each row's slot
 * of it, its unknown slot = n_vocabulary), also a table per category with
 * at least CALIBRATE_GROUP_MIN rows, the same way over its rows only
 * (Mondrian conformal: each category's coverage holds on its own).
 *
 * shrink in [0, 1] (model.interval_by_shrink; 0 with no `by`): above 0 the
 * category tables become normalized conformal ones: category g's scale
 * s_g = q_g^(1 - shrink) * q^shrink, with q_g and q its own and the one
 * table's half-width at `interval`; every row's |resid| is divided by its
 * category's scale (by q outside the categories with a table), the
 * (n + 1)-rank table T is taken over all n rows together, and category g's
 * table is s_g * T.  shrink 1 gives every category the one table; towards 0
 * each category's width comes from its own rows, but the coverage level
 * from all of them: a hedge for categories whose held-out rows are not
 * exchangeable with their later ones.  When a scale is 0 (a category's or
 * the one table's half-width at `interval` is 0: its residuals are 0) the
 * shrink is skipped and each category keeps its own table.
 */
enum error_code calibrate_fit(struct spec *spec, const double *resid, size_t n, double interval,
			      const size_t *slot, int by, double shrink, struct error *err);

#endif

/* spec_calibration — the spec's "calibration" member (see include/shelfcast/spec.h). */
#include <math.h>

#include "shelfcast/jsonutil.h"
#include "shelfcast/spec.h"

enum error_code spec_calibration_parse(const json_t *root, struct spec *spec, struct error *err)
{
	static const char *const keys[] = {"interval", "smearing", "rows", "residual_quantiles", NULL};
	char field[JSONUTIL_PATH_MAX];
	json_t *cal = NULL, *q = NULL, *v;
	long long rows = 0;
	enum error_code rc;
	size_t i;

	rc = jsonutil_get_typed(root, "calibration", "", false, JSON_OBJECT, &cal, err);
	if (rc || !cal)
		return rc;
	rc = jsonutil_expect_object(cal, keys, "calibration", err);
	if (!rc)
		rc = jsonutil_get_number(cal, "interval", "calibration", true, &spec->interval, err);
	if (!rc && !(spec->interval > 0 && spec->interval < 1))
		rc = error_set(err, ERROR_INVALID, "calibration.interval",
			       "calibration.interval: must be in (0, 1)");
	if (!rc)
		rc = jsonutil_get_number(cal, "smearing", "calibration", true, &spec->smearing, err);
	if (!rc && !(spec->smearing > 0))
		rc = error_set(err, ERROR_INVALID, "calibration.smearing",
			       "calibration.smearing: must be > 0");
	if (!rc)
		rc = jsonutil_get_int(cal, "rows", "calibration", true, 1, 1LL << 40, &rows, err);
	if (!rc)
		rc = jsonutil_get_typed(cal, "residual_quantiles", "calibration", true, JSON_ARRAY, &q,
					err);
	if (!rc && json_array_size(q) != SPEC_RESIDUAL_QUANTILES)
		rc = error_set(err, ERROR_INVALID, "calibration.residual_quantiles",
			       "calibration.residual_quantiles: expected %d numbers",
			       SPEC_RESIDUAL_QUANTILES);
	json_array_foreach(rc ? NULL : q, i, v) {
		jsonutil_path_index(field, "calibration.residual_quantiles", i);
		rc = jsonutil_number(v, field, &spec->residual_q[i], err);
		if (!rc && !(spec->residual_q[i] >= (i ? spec->residual_q[i - 1] : 0)))
			rc = error_set(err, ERROR_INVALID, field, "%s: must be >= 0 and nondecreasing",
				       field);
		if (rc)
			break;
	}
	spec->calibration_rows = (size_t)rows;
	spec->has_calibration = !rc;
	return rc;
}

void spec_calibration_put(json_t *root, const struct spec *spec, int *fail)
{
	json_t *cal, *q;
	size_t i;

	if (!spec->has_calibration || *fail)
		return;
	q = json_array();
	for (i = 0; q && i < SPEC_RESIDUAL_QUANTILES; i++)
		if (json_array_append_new(q, json_real(spec->residual_q[i]))) {
			json_decref(q);
			q = NULL;
		}
	if (!q) {
		*fail = 1;
		return;
	}
	cal = json_pack("{s:f, s:f, s:I, s:o}", "interval", spec->interval, "smearing",
			spec->smearing, "rows", (json_int_t)spec->calibration_rows,
			"residual_quantiles", q);
	if (!cal || json_object_set_new(root, "calibration", cal))
		*fail = 1;
}

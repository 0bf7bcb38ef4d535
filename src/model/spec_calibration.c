/* spec_calibration — the spec's "calibration" member (see include/shelfcast/spec.h). */
#include <math.h>

#include <stdlib.h>
#include <string.h>

#include "shelfcast/hashmap.h"
#include "shelfcast/jsonutil.h"
#include "shelfcast/spec.h"

/* 201 nondecreasing numbers >= 0 (path names the array) into q. */
static enum error_code read_table(const json_t *arr, const char *path, double *q, struct error *err)
{
	char field[JSONUTIL_PATH_MAX];
	enum error_code rc = ERROR_OK;
	json_t *v;
	size_t i;

	if (json_array_size(arr) != SPEC_RESIDUAL_QUANTILES)
		return error_set(err, ERROR_INVALID, path, "%s: expected %d numbers", path,
				 SPEC_RESIDUAL_QUANTILES);
	json_array_foreach(arr, i, v) {
		jsonutil_path_index(field, path, i);
		rc = jsonutil_number(v, field, &q[i], err);
		if (!rc && !(q[i] >= (i ? q[i - 1] : 0)))
			rc = error_set(err, ERROR_INVALID, field, "%s: must be >= 0 and nondecreasing", field);
		if (rc)
			break;
	}
	return rc;
}

size_t spec_categorical_offset(const struct spec *spec, size_t i)
{
	size_t off = spec->n_numeric, j;

	for (j = 0; j < i; j++)
		off += spec->categorical[j].n_vocabulary + 1;
	return off;
}

enum error_code spec_set_cal_groups(struct spec *spec, size_t by, size_t n, const size_t *slots,
				    const size_t *rows, const double (*q)[SPEC_RESIDUAL_QUANTILES],
				    struct error *err)
{
	size_t nv = spec->categorical[by].n_vocabulary, g;

	free(spec->cal_group);
	free(spec->cal_group_q);
	free(spec->cal_group_rows);
	free(spec->cal_group_slot);
	spec->cal_group = malloc((nv + 1) * sizeof *spec->cal_group);
	spec->cal_group_q = calloc(n + 1, sizeof *spec->cal_group_q);
	spec->cal_group_rows = calloc(n + 1, sizeof *spec->cal_group_rows);
	spec->cal_group_slot = calloc(n + 1, sizeof *spec->cal_group_slot);
	spec->has_cal_by = false;
	spec->n_cal_groups = 0;
	if (!spec->cal_group || !spec->cal_group_q || !spec->cal_group_rows || !spec->cal_group_slot)
		return error_nomem(err, "the calibration groups");
	for (g = 0; g <= nv; g++)
		spec->cal_group[g] = -1;
	for (g = 0; g < n; g++) {
		spec->cal_group[slots[g]] = (int32_t)g;
		memcpy(spec->cal_group_q[g], q[g], sizeof q[g]);
		spec->cal_group_rows[g] = rows[g];
		spec->cal_group_slot[g] = slots[g];
	}
	spec->n_cal_groups = n;
	spec->cal_by = by;
	spec->cal_by_offset = spec_categorical_offset(spec, by);
	spec->has_cal_by = true;
	return ERROR_OK;
}

const double *spec_residual_table(const struct spec *spec, const float *row)
{
	const float *block;
	size_t nv, s;

	if (!spec->has_cal_by)
		return spec->residual_q;
	block = row + spec->cal_by_offset;
	nv = spec->categorical[spec->cal_by].n_vocabulary;
	for (s = 0; s <= nv; s++) /* the one-hot's set slot */
		if (block[s] != 0.0f)
			return spec->cal_group[s] >= 0 ? spec->cal_group_q[spec->cal_group[s]] : spec->residual_q;
	return spec->residual_q;
}

/* "calibration.by": the feature and its groups, each category once. */
static enum error_code parse_by(const json_t *by, struct spec *spec, struct error *err)
{
	static const char *const keys[] = {"feature", "groups", NULL};
	static const char *const group_keys[] = {"category", "rows", "residual_quantiles", NULL};
	char path[JSONUTIL_PATH_MAX], field[JSONUTIL_PATH_MAX];
	const char *feature = NULL;
	json_t *groups = NULL, *g, *q;
	size_t k, n, i, nv, *slots = NULL, *rows = NULL;
	double (*tables)[SPEC_RESIDUAL_QUANTILES] = NULL;
	struct hashmap *vocab = NULL;
	enum error_code rc;

	rc = jsonutil_expect_object(by, keys, "calibration.by", err);
	if (!rc)
		rc = jsonutil_get_string(by, "feature", "calibration.by", true, &feature, err);
	if (!rc)
		rc = jsonutil_get_typed(by, "groups", "calibration.by", true, JSON_ARRAY, &groups, err);
	if (rc)
		return rc;
	for (k = 0; k < spec->n_categorical && strcmp(spec->categorical[k].name, feature); k++)
		;
	if (k == spec->n_categorical)
		return error_set(err, ERROR_INVALID, "calibration.by.feature",
				 "calibration.by.feature: \"%s\" is not a categorical input", feature);
	nv = spec->categorical[k].n_vocabulary;
	n = json_array_size(groups);
	if (n == 0 || n > nv + 1)
		return error_set(err, ERROR_INVALID, "calibration.by.groups",
				 "calibration.by.groups: expected 1 to %zu groups", nv + 1);
	slots = calloc(n, sizeof *slots);
	rows = calloc(n, sizeof *rows);
	tables = calloc(n, sizeof *tables);
	vocab = hashmap_new(nv);
	if (!slots || !rows || !tables || !vocab) {
		rc = error_nomem(err, "the calibration groups");
		goto out;
	}
	for (i = 0; i < nv && hashmap_put(vocab, spec->categorical[k].vocabulary[i],
					  strlen(spec->categorical[k].vocabulary[i]), (int32_t)i) >= 0; i++)
		;
	if (i < nv) {
		rc = error_nomem(err, "the calibration groups");
		goto out;
	}
	json_array_foreach(groups, i, g) {
		const json_t *c;
		long long r = 0;
		int32_t slot;
		size_t j;
		jsonutil_path_index(path, "calibration.by.groups", i);
		rc = json_is_object(g) ? jsonutil_expect_object(g, group_keys, path, err)
				       : error_set(err, ERROR_INVALID, path, "%s: expected an object", path);
		if (rc)
			break;
		jsonutil_path_key(field, path, "category");
		c = json_object_get(g, "category");
		if (json_is_null(c)) {
			slots[i] = nv; /* the unknown slot */
		} else if (json_is_string(c) &&
			   (slot = hashmap_get(vocab, json_string_value(c), json_string_length(c))) >= 0) {
			slots[i] = (size_t)slot;
		} else {
			rc = error_set(err, ERROR_INVALID, field, "%s: expected a category of %s, or null", field,
				       feature);
			break;
		}
		for (j = 0; j < i && slots[j] != slots[i]; j++)
			;
		if (j < i) {
			rc = error_set(err, ERROR_INVALID, field, "%s: a second group for the same category", field);
			break;
		}
		rc = jsonutil_get_int(g, "rows", path, true, 1, 1LL << 40, &r, err);
		rows[i] = (size_t)r;
		jsonutil_path_key(field, path, "residual_quantiles");
		if (!rc)
			rc = jsonutil_get_typed(g, "residual_quantiles", path, true, JSON_ARRAY, &q, err);
		if (!rc)
			rc = read_table(q, field, tables[i], err);
		if (rc)
			break;
	}
	if (!rc)
		rc = spec_set_cal_groups(spec, k, n, slots, rows, (const double(*)[SPEC_RESIDUAL_QUANTILES])tables, err);
out:
	hashmap_free(vocab);
	free(slots);
	free(rows);
	free(tables);
	return rc;
}

/* "by" into cal: the groups' tables, in group order. */
static json_t *by_json(const struct spec *spec)
{
	const struct spec_categorical *f = &spec->categorical[spec->cal_by];
	json_t *groups = json_array(), *by;
	size_t g, i;

	for (g = 0; groups && g < spec->n_cal_groups; g++) {
		json_t *q = json_array(), *o;
		size_t s = spec->cal_group_slot[g];
		for (i = 0; q && i < SPEC_RESIDUAL_QUANTILES; i++)
			if (json_array_append_new(q, json_real(spec->cal_group_q[g][i]))) {
				json_decref(q);
				q = NULL;
			}
		o = q ? json_pack("{s:o, s:I, s:o}", "category",
				  s < f->n_vocabulary ? json_string(f->vocabulary[s]) : json_null(), "rows",
				  (json_int_t)spec->cal_group_rows[g], "residual_quantiles", q)
		      : NULL;
		if (!o || json_array_append_new(groups, o)) {
			json_decref(groups);
			return NULL;
		}
	}
	by = groups ? json_pack("{s:s, s:o}", "feature", f->name, "groups", groups) : NULL;
	return by;
}

enum error_code spec_calibration_parse(const json_t *root, struct spec *spec, struct error *err)
{
	static const char *const keys[] = {"interval", "smearing", "rows", "residual_quantiles", "by", NULL};
	json_t *cal = NULL, *q = NULL, *by = NULL;
	long long rows = 0;
	enum error_code rc;

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
	if (!rc)
		rc = read_table(q, "calibration.residual_quantiles", spec->residual_q, err);
	if (!rc)
		rc = jsonutil_get_typed(cal, "by", "calibration", false, JSON_OBJECT, &by, err);
	if (!rc && by)
		rc = parse_by(by, spec, err);
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
	if (cal && spec->has_cal_by) {
		json_t *by = by_json(spec);
		if (!by || json_object_set_new(cal, "by", by)) {
			json_decref(cal);
			cal = NULL;
		}
	}
	if (!cal || json_object_set_new(root, "calibration", cal))
		*fail = 1;
}

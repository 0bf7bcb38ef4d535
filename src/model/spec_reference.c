/* spec_reference — the spec's optional "reference" rows; see include/shelfcast/spec.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/jsonutil.h"
#include "shelfcast/spec.h"
#include "shelfcast/util.h"

static enum error_code parse_row(const json_t *row, size_t i, const struct spec *spec, float *out,
				 struct error *err)
{
	char field[JSONUTIL_PATH_MAX], cell[JSONUTIL_PATH_MAX];
	const json_t *v;
	size_t j;

	jsonutil_path_index(field, "reference", i);
	if (!json_is_array(row) || json_array_size(row) != spec->input_size)
		return error_set(err, ERROR_INVALID, field,
				 "%s: expected an array of %zu numbers (architecture.input_size)",
				 field, spec->input_size);
	json_array_foreach(row, j, v) {
		double x = json_number_value(v);
		if (!json_is_number(v) || !isfinite(x) || !isfinite((float)x)) {
			jsonutil_path_index(cell, field, j);
			return error_set(err, ERROR_INVALID, cell, "%s: expected a finite number",
					 cell);
		}
		out[j] = (float)x;
	}
	return ERROR_OK;
}

enum error_code spec_parse_reference(const json_t *root, struct spec *spec, struct error *err)
{
	const json_t *rows = json_object_get(root, "reference"), *row;
	enum error_code rc = ERROR_OK;
	size_t i, n = json_array_size(rows);

	if (!rows)
		return ERROR_OK;
	if (!json_is_array(rows) || n < 1 || n > SPEC_MAX_REFERENCE)
		return error_set(err, ERROR_INVALID, "reference",
				 "reference: expected an array of 1 to %d encoded rows",
				 SPEC_MAX_REFERENCE);
	spec->reference = util_alloc_array(n * spec->input_size, sizeof(float));
	if (!spec->reference)
		return error_nomem(err, "reference");
	spec->n_reference = n;
	json_array_foreach(rows, i, row) {
		rc = parse_row(row, i, spec, spec->reference + i * spec->input_size, err);
		if (rc)
			break;
	}
	return rc;
}

int spec_reference_put(json_t *root, const struct spec *spec)
{
	json_t *rows, *row;
	size_t i, j;

	if (!spec->reference)
		return 0;
	rows = json_array();
	if (!rows || json_object_set_new(root, "reference", rows))
		return 1;
	for (i = 0; i < spec->n_reference; i++) {
		row = json_array();
		if (!row || json_array_append_new(rows, row))
			return 1;
		for (j = 0; j < spec->input_size; j++)
			if (json_array_append_new(
				    row, json_real(spec->reference[i * spec->input_size + j])))
				return 1;
	}
	return 0;
}

enum error_code spec_set_reference(struct spec *spec, const float *rows, size_t n,
				   struct error *err)
{
	float *copy;

	if (n < 1 || n > SPEC_MAX_REFERENCE)
		return error_set(err, ERROR_INVALID, "reference",
				 "reference: expected 1 to %d rows, got %zu", SPEC_MAX_REFERENCE, n);
	copy = util_alloc_array(n * spec->input_size, sizeof(float));
	if (!copy)
		return error_nomem(err, "reference");
	memcpy(copy, rows, n * spec->input_size * sizeof(float));
	free(spec->reference);
	spec->reference = copy;
	spec->n_reference = n;
	return ERROR_OK;
}

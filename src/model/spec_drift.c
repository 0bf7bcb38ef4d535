/*
 * spec_drift — the spec's optional "drift_reference" member: per feature,
 * the training part's distribution that input drift is measured against
 * (see include/shelfcast/spec.h for the layout, drift.h for its use).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/jsonutil.h"
#include "shelfcast/spec.h"

/* How far a freq's sum may be from 1: shares written with 17 digits sum to 1 within rounding. */
#define FREQ_SUM_TOLERANCE 1e-6

/* Is numeric input i the first reading its feature? */
static bool first_of_name(const struct spec *spec, size_t i)
{
	size_t j;

	for (j = 0; j < i && strcmp(spec->numeric[j].name, spec->numeric[i].name); j++)
		;
	return j == i;
}

size_t spec_numeric_features(const struct spec *spec)
{
	size_t n = 0, i;

	for (i = 0; i < spec->n_numeric; i++)
		n += first_of_name(spec, i);
	return n;
}

void spec_drift_done(struct spec *spec)
{
	size_t i;

	for (i = 0; spec->drift_categorical && i < spec->n_categorical; i++)
		free(spec->drift_categorical[i].freq);
	free(spec->drift_categorical);
	free(spec->drift_numeric);
	spec->drift_categorical = NULL;
	spec->drift_numeric = NULL;
	spec->n_drift_numeric = 0;
	spec->drift_rows = 0;
	spec->has_drift = false;
}

/* obj.key: an array of exactly n finite numbers into out; path names obj, what says why n. */
static enum error_code get_numbers(const json_t *obj, const char *key, const char *path, size_t n,
				   const char *what, double *out, struct error *err)
{
	char field[JSONUTIL_PATH_MAX], cell[JSONUTIL_PATH_MAX];
	json_t *arr = NULL, *v;
	enum error_code rc = jsonutil_get_typed(obj, key, path, true, JSON_ARRAY, &arr, err);
	size_t i;

	if (rc)
		return rc;
	jsonutil_path_key(field, path, key);
	if (json_array_size(arr) != n)
		return error_set(err, ERROR_INVALID, field, "%s: expected %zu numbers (%s), got %zu", field,
				 n, what, json_array_size(arr));
	json_array_foreach(arr, i, v) {
		jsonutil_path_index(cell, field, i);
		rc = jsonutil_number(v, cell, &out[i], err);
		if (rc)
			return rc;
	}
	return ERROR_OK;
}

/* Shares in [0, 1] summing to 1, or all 0; path names the freq array. */
static enum error_code check_freq(const double *freq, size_t n, const char *path, struct error *err)
{
	char cell[JSONUTIL_PATH_MAX];
	double sum = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!(freq[i] >= 0 && freq[i] <= 1)) {
			jsonutil_path_index(cell, path, i);
			return error_set(err, ERROR_INVALID, cell, "%s: a share must be in [0, 1]", cell);
		}
		sum += freq[i];
	}
	if (sum != 0 && fabs(sum - 1) > FREQ_SUM_TOLERANCE)
		return error_set(err, ERROR_INVALID, path,
				 "%s: the shares sum to %.9g, not 1 (or 0 when every value was missing)",
				 path, sum);
	return ERROR_OK;
}

/* Entry: name (must be `expected`) and missing; path names the entry. */
static enum error_code name_and_missing(const json_t *e, const char *path, const char *expected,
					double *missing, struct error *err)
{
	char field[JSONUTIL_PATH_MAX];
	const char *name = NULL;
	enum error_code rc = jsonutil_get_string(e, "name", path, true, &name, err);

	if (!rc && strcmp(name, expected)) {
		jsonutil_path_key(field, path, "name");
		rc = error_set(err, ERROR_INVALID, field,
			       "%s: is \"%s\", expected \"%s\" (one entry per feature, in input order)",
			       field, name, expected);
	}
	*missing = 0;
	if (!rc)
		rc = jsonutil_get_number(e, "missing", path, true, missing, err);
	if (!rc && !(*missing >= 0 && *missing <= 1)) {
		jsonutil_path_key(field, path, "missing");
		rc = error_set(err, ERROR_INVALID, field, "%s: a share must be in [0, 1]", field);
	}
	return rc;
}

static enum error_code parse_numeric(const json_t *e, const char *path, const struct spec *spec,
				     int input, struct spec_drift_numeric *d, struct error *err)
{
	static const char *const keys[] = {"name", "edges", "freq", "missing", NULL};
	char field[JSONUTIL_PATH_MAX], cell[JSONUTIL_PATH_MAX];
	enum error_code rc;
	size_t k;

	d->input = input;
	rc = jsonutil_expect_object(e, keys, path, err);
	if (!rc)
		rc = name_and_missing(e, path, spec->numeric[input].name, &d->missing, err);
	if (!rc)
		rc = get_numbers(e, "edges", path, SPEC_DRIFT_BINS - 1, "the inner quantile edges",
				 d->edges, err);
	for (k = 1; !rc && k < SPEC_DRIFT_BINS - 1; k++)
		if (d->edges[k] < d->edges[k - 1]) {
			jsonutil_path_key(field, path, "edges");
			jsonutil_path_index(cell, field, k);
			rc = error_set(err, ERROR_INVALID, cell, "%s: edges must be nondecreasing", cell);
		}
	if (!rc)
		rc = get_numbers(e, "freq", path, SPEC_DRIFT_BINS, "one share per bin", d->freq, err);
	if (!rc) {
		jsonutil_path_key(field, path, "freq");
		rc = check_freq(d->freq, SPEC_DRIFT_BINS, field, err);
	}
	return rc;
}

static enum error_code parse_categorical(const json_t *e, const char *path,
					 const struct spec_categorical *c,
					 struct spec_drift_categorical *d, struct error *err)
{
	static const char *const keys[] = {"name", "freq", "missing", NULL};
	char field[JSONUTIL_PATH_MAX];
	size_t n = c->n_vocabulary + 1;
	enum error_code rc;

	rc = jsonutil_expect_object(e, keys, path, err);
	if (!rc)
		rc = name_and_missing(e, path, c->name, &d->missing, err);
	if (rc)
		return rc;
	d->freq = calloc(n, sizeof *d->freq);
	if (!d->freq)
		return error_nomem(err, "the drift reference");
	rc = get_numbers(e, "freq", path, n, "one share per vocabulary entry, then the unknown slot",
			 d->freq, err);
	if (rc)
		return rc;
	jsonutil_path_key(field, path, "freq");
	return check_freq(d->freq, n, field, err);
}

/* An array member of ref holding exactly n entries (path "drift_reference.<key>"). */
static enum error_code entries(const json_t *ref, const char *key, size_t n, const char *what,
			       json_t **out, struct error *err)
{
	char field[JSONUTIL_PATH_MAX];
	enum error_code rc = jsonutil_get_typed(ref, key, "drift_reference", true, JSON_ARRAY, out, err);

	if (rc)
		return rc;
	jsonutil_path_key(field, "drift_reference", key);
	if (json_array_size(*out) != n)
		return error_set(err, ERROR_INVALID, field, "%s: expected %zu entries (one per %s), got %zu",
				 field, n, what, json_array_size(*out));
	return ERROR_OK;
}

enum error_code spec_drift_parse(const json_t *root, struct spec *spec, struct error *err)
{
	static const char *const keys[] = {"rows", "numeric", "categorical", NULL};
	char path[JSONUTIL_PATH_MAX];
	json_t *ref = NULL, *num = NULL, *cat = NULL;
	size_t n_features = spec_numeric_features(spec), i, k;
	long long rows = 0;
	enum error_code rc;

	rc = jsonutil_get_typed(root, "drift_reference", "", false, JSON_OBJECT, &ref, err);
	if (rc || !ref)
		return rc;
	rc = jsonutil_expect_object(ref, keys, "drift_reference", err);
	if (!rc)
		rc = jsonutil_get_int(ref, "rows", "drift_reference", true, 1, 1LL << 40, &rows, err);
	if (!rc)
		rc = entries(ref, "numeric", n_features, "numeric feature", &num, err);
	if (!rc)
		rc = entries(ref, "categorical", spec->n_categorical, "categorical input", &cat, err);
	if (rc)
		return rc;
	spec->drift_numeric = calloc(n_features + 1, sizeof *spec->drift_numeric);
	spec->drift_categorical = calloc(spec->n_categorical + 1, sizeof *spec->drift_categorical);
	if (!spec->drift_numeric || !spec->drift_categorical) {
		spec_drift_done(spec);
		return error_nomem(err, "the drift reference");
	}
	spec->drift_rows = (size_t)rows;
	for (i = 0, k = 0; !rc && i < spec->n_numeric; i++) {
		if (!first_of_name(spec, i))
			continue;
		jsonutil_path_index(path, "drift_reference.numeric", k);
		rc = parse_numeric(json_array_get(num, k), path, spec, (int)i, &spec->drift_numeric[k], err);
		spec->n_drift_numeric = ++k;
	}
	for (i = 0; !rc && i < spec->n_categorical; i++) {
		jsonutil_path_index(path, "drift_reference.categorical", i);
		rc = parse_categorical(json_array_get(cat, i), path, &spec->categorical[i],
				       &spec->drift_categorical[i], err);
	}
	if (rc)
		spec_drift_done(spec);
	else
		spec->has_drift = true;
	return rc;
}

/* n doubles as a JSON array (new), or NULL. */
static json_t *numbers(const double *x, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, json_real(x[i]))) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

static int append(json_t *arr, json_t *v)
{
	return !v || json_array_append_new(arr, v);
}

void spec_drift_put(json_t *root, const struct spec *spec, int *fail)
{
	json_t *num, *cat, *ref;
	size_t i;

	if (!spec->has_drift || *fail)
		return;
	num = json_array();
	cat = json_array();
	/* json_pack takes num and cat, on failure too */
	ref = json_pack("{s:I, s:o, s:o}", "rows", (json_int_t)spec->drift_rows, "numeric", num,
			"categorical", cat);
	if (!ref || json_object_set_new(root, "drift_reference", ref)) {
		*fail = 1;
		return;
	}
	for (i = 0; i < spec->n_drift_numeric && !*fail; i++) {
		const struct spec_drift_numeric *d = &spec->drift_numeric[i];
		*fail |= append(num, json_pack("{s:s, s:o, s:o, s:f}", "name",
					       spec->numeric[d->input].name, "edges",
					       numbers(d->edges, SPEC_DRIFT_BINS - 1), "freq",
					       numbers(d->freq, SPEC_DRIFT_BINS), "missing", d->missing));
	}
	for (i = 0; i < spec->n_categorical && !*fail; i++) {
		const struct spec_drift_categorical *d = &spec->drift_categorical[i];
		*fail |= append(cat, json_pack("{s:s, s:o, s:f}", "name", spec->categorical[i].name,
					       "freq",
					       numbers(d->freq, spec->categorical[i].n_vocabulary + 1),
					       "missing", d->missing));
	}
}

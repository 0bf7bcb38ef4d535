/*
 * spec — see include/shelfcast/spec.h.  The parser checks every field and
 * every cross-field rule before a spec can reach an encoder or a model.
 */
#include "shelfcast/spec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/hashmap.h"
#include "shelfcast/heads.h"
#include "shelfcast/jsonutil.h"

size_t spec_expected_input_size(const struct spec *spec)
{
	size_t n = spec->n_numeric + spec->n_levels, i;
	for (i = 0; i < spec->n_categorical; i++)
		n += spec->categorical[i].n_vocabulary + 1;
	return n;
}

size_t spec_layer_dims(const struct spec *spec, size_t dims[SPEC_MAX_HIDDEN + 2])
{
	size_t i, n = 0;
	dims[n++] = spec->input_size;
	for (i = 0; i < spec->n_hidden; i++)
		dims[n++] = spec->hidden[i];
	dims[n++] = HEADS_COUNT;
	return n;
}

int spec_level_index(const struct spec *spec, long long level)
{
	size_t i;
	for (i = 0; i < spec->n_levels; i++)
		if (spec->levels[i].level == level)
			return (int)i;
	return -1;
}

void spec_done(struct spec *spec)
{
	size_t i, j;

	if (!spec)
		return;
	for (i = 0; i < spec->n_numeric; i++)
		free(spec->numeric[i].name);
	free(spec->numeric);
	for (i = 0; i < spec->n_categorical; i++) {
		free(spec->categorical[i].name);
		for (j = 0; j < spec->categorical[i].n_vocabulary; j++)
			free(spec->categorical[i].vocabulary[j]);
		free(spec->categorical[i].vocabulary);
	}
	free(spec->categorical);
	free(spec->promo_column);
	free(spec->price_column);
	free(spec->unit_cost_column);
	free(spec->target_column);
	free(spec->exposure_column);
	free(spec->id_column);
	free(spec->reference);
	free(spec->cal_group);
	free(spec->cal_group_q);
	free(spec->cal_group_rows);
	free(spec->cal_group_slot);
	spec_drift_done(spec);
	memset(spec, 0, sizeof *spec);
}

enum error_code spec_get_name(const json_t *obj, const char *key, const char *path, bool required,
			      char **out, struct error *err)
{
	const char *s = NULL;
	char field[JSONUTIL_PATH_MAX];
	enum error_code rc = jsonutil_get_string(obj, key, path, required, &s, err);

	if (rc || !s)
		return rc;
	jsonutil_path_key(field, path, key);
	if (!spec_valid_name(s))
		return error_set(err, ERROR_INVALID, field,
				 "%s: must be 1 to %d bytes without control characters", field,
				 SPEC_NAME_MAX);
	*out = strdup(s);
	return *out ? ERROR_OK : error_nomem(err, "a name");
}

static enum error_code parse_numeric(const json_t *v, const char *path, struct spec_numeric *f,
				     struct error *err)
{
	static const char *const keys[] = {"name", "transform", "mean", "std", "default", "required",
					   "clip", NULL};
	char field[JSONUTIL_PATH_MAX];
	json_t *clip = NULL;
	const char *transform = "none";
	bool has_default;
	enum error_code rc;

	rc = jsonutil_expect_object(v, keys, path, err);
	if (!rc)
		rc = spec_get_name(v, "name", path, true, &f->name, err);
	if (!rc)
		rc = jsonutil_get_string(v, "transform", path, false, &transform, err);
	if (!rc) {
		jsonutil_path_key(field, path, "transform");
		if (!strcmp(transform, "log"))
			f->transform = SPEC_INPUT_LOG;
		else if (!strcmp(transform, "none"))
			f->transform = SPEC_INPUT_IDENTITY;
		else
			rc = error_set(err, ERROR_INVALID, field, "%s: \"%s\" is not one of none, log",
				       field, transform);
	}
	if (!rc)
		rc = jsonutil_get_number(v, "mean", path, true, &f->mean, err);
	if (!rc)
		rc = jsonutil_get_number(v, "std", path, true, &f->std, err);
	if (!rc && !(f->std > 0)) {
		jsonutil_path_key(field, path, "std");
		rc = error_set(err, ERROR_INVALID, field, "%s: must be greater than 0", field);
	}
	f->required = false;
	if (!rc)
		rc = jsonutil_get_bool(v, "required", path, false, &f->required, err);
	has_default = json_object_get(v, "default") && !json_is_null(json_object_get(v, "default"));
	if (!rc && has_default)
		rc = jsonutil_get_number(v, "default", path, true, &f->def, err);
	if (!rc && !has_default && !f->required) {
		jsonutil_path_key(field, path, "default");
		rc = error_set(err, ERROR_INVALID, field,
			       "%s: an optional numeric input needs a default (or \"required\": true)",
			       field);
	}
	if (!rc)
		rc = jsonutil_get_typed(v, "clip", path, false, JSON_ARRAY, &clip, err);
	if (!rc && clip) {
		jsonutil_path_key(field, path, "clip");
		if (json_array_size(clip) != 2)
			return error_set(err, ERROR_INVALID, field, "%s: expected [low, high]", field);
		rc = jsonutil_number(json_array_get(clip, 0), field, &f->clip_lo, err);
		if (!rc)
			rc = jsonutil_number(json_array_get(clip, 1), field, &f->clip_hi, err);
		if (!rc && f->clip_lo > f->clip_hi)
			rc = error_set(err, ERROR_INVALID, field, "%s: low is above high", field);
		f->has_clip = true;
	}
	return rc;
}

static enum error_code parse_categorical(const json_t *v, const char *path,
					 struct spec_categorical *f, struct error *err)
{
	static const char *const keys[] = {"name", "vocabulary", "required", NULL};
	char field[JSONUTIL_PATH_MAX], item[JSONUTIL_PATH_MAX];
	json_t *vocab = NULL, *e;
	struct hashmap *seen;
	enum error_code rc;
	size_t i;

	rc = jsonutil_expect_object(v, keys, path, err);
	if (!rc)
		rc = spec_get_name(v, "name", path, true, &f->name, err);
	if (!rc)
		rc = jsonutil_get_typed(v, "vocabulary", path, true, JSON_ARRAY, &vocab, err);
	f->required = false;
	if (!rc)
		rc = jsonutil_get_bool(v, "required", path, false, &f->required, err);
	if (rc)
		return rc;
	jsonutil_path_key(field, path, "vocabulary");
	if (json_array_size(vocab) > SPEC_MAX_VOCABULARY)
		return error_set(err, ERROR_INVALID, field, "%s: more than %d entries", field,
				 SPEC_MAX_VOCABULARY);
	f->vocabulary = calloc(json_array_size(vocab) + 1, sizeof *f->vocabulary);
	seen = hashmap_new(json_array_size(vocab));
	if (!f->vocabulary || !seen) {
		hashmap_free(seen);
		return error_nomem(err, "a vocabulary");
	}
	json_array_foreach(vocab, i, e) {
		jsonutil_path_index(item, field, i);
		if (!json_is_string(e)) {
			rc = error_set(err, ERROR_INVALID, item, "%s: expected a string, got %s", item,
				       jsonutil_type_name(e));
			break;
		}
		if (strlen(json_string_value(e)) != json_string_length(e)) {
			rc = error_set(err, ERROR_INVALID, item, "%s: contains a NUL character", item);
			break;
		}
		if (hashmap_put(seen, json_string_value(e), json_string_length(e), (int32_t)i) !=
		    (int32_t)i) {
			rc = hashmap_get(seen, json_string_value(e), json_string_length(e)) < 0
				     ? error_nomem(err, "a vocabulary")
				     : error_set(err, ERROR_INVALID, item,
						 "%s: \"%s\" appears twice in the vocabulary", item,
						 json_string_value(e));
			break;
		}
		f->vocabulary[i] = strdup(json_string_value(e));
		if (!f->vocabulary[i]) {
			rc = error_nomem(err, "a vocabulary");
			break;
		}
		f->n_vocabulary = i + 1;
	}
	hashmap_free(seen);
	return rc;
}

static enum error_code parse_inputs(const json_t *root, struct spec *spec, struct error *err)
{
	static const char *const keys[] = {"numeric", "categorical", NULL};
	char field[JSONUTIL_PATH_MAX];
	json_t *inputs = NULL, *num = NULL, *cat = NULL, *v;
	enum error_code rc;
	size_t i;

	rc = jsonutil_get_typed(root, "inputs", "", true, JSON_OBJECT, &inputs, err);
	if (!rc)
		rc = jsonutil_expect_object(inputs, keys, "inputs", err);
	if (!rc)
		rc = jsonutil_get_typed(inputs, "numeric", "inputs", false, JSON_ARRAY, &num, err);
	if (!rc)
		rc = jsonutil_get_typed(inputs, "categorical", "inputs", false, JSON_ARRAY, &cat, err);
	if (rc)
		return rc;
	if (json_array_size(num) + json_array_size(cat) > SPEC_MAX_FEATURES)
		return error_set(err, ERROR_INVALID, "inputs", "inputs: more than %d features",
				 SPEC_MAX_FEATURES);
	spec->numeric = calloc(json_array_size(num) + 1, sizeof *spec->numeric);
	spec->categorical = calloc(json_array_size(cat) + 1, sizeof *spec->categorical);
	if (!spec->numeric || !spec->categorical)
		return error_nomem(err, "spec inputs");
	json_array_foreach(num, i, v) {
		jsonutil_path_index(field, "inputs.numeric", i);
		spec->n_numeric = i + 1;
		rc = parse_numeric(v, field, &spec->numeric[i], err);
		if (rc)
			return rc;
	}
	json_array_foreach(cat, i, v) {
		jsonutil_path_index(field, "inputs.categorical", i);
		spec->n_categorical = i + 1;
		rc = parse_categorical(v, field, &spec->categorical[i], err);
		if (rc)
			return rc;
	}
	return ERROR_OK;
}

enum error_code spec_parse_promotion(const json_t *root, struct spec *spec, struct error *err)
{
	static const char *const keys[] = {"column", "price_column", "unit_cost_column",
					   "objective", "levels", NULL};
	static const char *const level_keys[] = {"level", "discount", "cost", NULL};
	char field[JSONUTIL_PATH_MAX], sub[JSONUTIL_PATH_MAX];
	json_t *promo = NULL, *levels = NULL, *v;
	const char *objective = "revenue";
	enum error_code rc;
	size_t i;

	rc = jsonutil_get_typed(root, "promotion", "", true, JSON_OBJECT, &promo, err);
	if (!rc)
		rc = jsonutil_expect_object(promo, keys, "promotion", err);
	if (!rc)
		rc = spec_get_name(promo, "column", "promotion", true, &spec->promo_column, err);
	if (!rc)
		rc = spec_get_name(promo, "price_column", "promotion", true, &spec->price_column, err);
	if (!rc)
		rc = spec_get_name(promo, "unit_cost_column", "promotion", false, &spec->unit_cost_column,
			      err);
	if (!rc)
		rc = jsonutil_get_string(promo, "objective", "promotion", false, &objective, err);
	if (!rc && !spec_objective_parse(objective, &spec->objective))
		rc = error_set(err, ERROR_INVALID, "promotion.objective",
			       "promotion.objective: \"%s\" is not one of revenue, units, profit",
			       objective);
	if (!rc)
		rc = jsonutil_get_typed(promo, "levels", "promotion", true, JSON_ARRAY, &levels, err);
	if (rc)
		return rc;
	if (json_array_size(levels) < 1 || json_array_size(levels) > SPEC_MAX_LEVELS)
		return error_set(err, ERROR_INVALID, "promotion.levels",
				 "promotion.levels: expected 1 to %d levels, got %zu", SPEC_MAX_LEVELS,
				 json_array_size(levels));
	json_array_foreach(levels, i, v) {
		struct spec_level *l = &spec->levels[i];
		jsonutil_path_index(field, "promotion.levels", i);
		rc = jsonutil_expect_object(v, level_keys, field, err);
		if (!rc)
			rc = jsonutil_get_int(v, "level", field, true, -1000000, 1000000, &l->level, err);
		l->discount = 0;
		l->cost = 0;
		if (!rc)
			rc = jsonutil_get_number(v, "discount", field, true, &l->discount, err);
		if (!rc)
			rc = jsonutil_get_number(v, "cost", field, false, &l->cost, err);
		if (rc)
			return rc;
		if (l->discount < 0 || l->discount >= 1) {
			jsonutil_path_key(sub, field, "discount");
			return error_set(err, ERROR_INVALID, sub, "%s: must be in [0, 1)", sub);
		}
		if (i > 0 && l->level <= spec->levels[i - 1].level) {
			jsonutil_path_key(sub, field, "level");
			return error_set(err, ERROR_INVALID, sub,
					 "%s: levels must be listed in strictly increasing order", sub);
		}
		spec->n_levels = i + 1;
	}
	return ERROR_OK;
}

static enum error_code parse_target(const json_t *root, struct spec *spec, struct error *err)
{
	static const char *const keys[] = {"column", "transform", "mean", "std", NULL};
	static const char *const exposure_keys[] = {"column", NULL};
	json_t *target = NULL, *exposure = NULL;
	const char *transform = "log1p";
	enum error_code rc;

	rc = jsonutil_get_typed(root, "target", "", true, JSON_OBJECT, &target, err);
	if (!rc)
		rc = jsonutil_expect_object(target, keys, "target", err);
	if (!rc)
		rc = spec_get_name(target, "column", "target", true, &spec->target_column, err);
	if (!rc)
		rc = jsonutil_get_string(target, "transform", "target", false, &transform, err);
	if (!rc) {
		if (!strcmp(transform, "log1p"))
			spec->transform = SPEC_TRANSFORM_LOG1P;
		else if (!strcmp(transform, "none"))
			spec->transform = SPEC_TRANSFORM_NONE;
		else
			rc = error_set(err, ERROR_INVALID, "target.transform",
				       "target.transform: \"%s\" is not one of log1p, none", transform);
	}
	if (!rc)
		rc = jsonutil_get_number(target, "mean", "target", true, &spec->target_mean, err);
	if (!rc)
		rc = jsonutil_get_number(target, "std", "target", true, &spec->target_std, err);
	if (!rc && !(spec->target_std > 0))
		rc = error_set(err, ERROR_INVALID, "target.std", "target.std: must be greater than 0");
	if (!rc)
		rc = jsonutil_get_typed(root, "exposure", "", true, JSON_OBJECT, &exposure, err);
	if (!rc)
		rc = jsonutil_expect_object(exposure, exposure_keys, "exposure", err);
	if (!rc)
		rc = spec_get_name(exposure, "column", "exposure", true, &spec->exposure_column, err);
	return rc;
}

/* The network's outputs as the spec names them, by enum heads_output (heads.h computes them). */
static const char *const head_name[HEADS_COUNT] = {"sales", "exposure"},
		  *const head_kind[HEADS_COUNT] = {"linear", "logit"};

static enum error_code parse_architecture(const json_t *root, struct spec *spec, struct error *err)
{
	static const char *const keys[] = {"input_size", "hidden", "activation", "heads", NULL};
	static const char *const head_keys[] = {"name", "kind", "output", NULL};
	char field[JSONUTIL_PATH_MAX], sub[JSONUTIL_PATH_MAX];
	json_t *arch = NULL, *hidden = NULL, *heads = NULL, *v;
	const char *activation = "relu";
	long long input_size = 0;
	enum error_code rc;
	size_t i;

	rc = jsonutil_get_typed(root, "architecture", "", true, JSON_OBJECT, &arch, err);
	if (!rc)
		rc = jsonutil_expect_object(arch, keys, "architecture", err);
	if (!rc)
		rc = jsonutil_get_int(arch, "input_size", "architecture", true, 1, SPEC_MAX_WIDTH * 64LL,
				      &input_size, err);
	if (!rc)
		rc = jsonutil_get_typed(arch, "hidden", "architecture", true, JSON_ARRAY, &hidden, err);
	if (!rc)
		rc = jsonutil_get_string(arch, "activation", "architecture", false, &activation, err);
	if (!rc && strcmp(activation, "relu"))
		rc = error_set(err, ERROR_INVALID, "architecture.activation",
			       "architecture.activation: \"%s\" is not supported (relu)", activation);
	if (rc)
		return rc;
	spec->input_size = (size_t)input_size;
	if (json_array_size(hidden) < 1 || json_array_size(hidden) > SPEC_MAX_HIDDEN)
		return error_set(err, ERROR_INVALID, "architecture.hidden",
				 "architecture.hidden: expected 1 to %d layer sizes", SPEC_MAX_HIDDEN);
	json_array_foreach(hidden, i, v) {
		jsonutil_path_index(field, "architecture.hidden", i);
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > SPEC_MAX_WIDTH)
			return error_set(err, ERROR_INVALID, field,
					 "%s: expected a layer size from 1 to %d", field, SPEC_MAX_WIDTH);
		spec->hidden[i] = (size_t)json_integer_value(v);
		spec->n_hidden = i + 1;
	}
	/* The heads are fixed by the design; the spec states them so a reader can check. */
	if (json_object_get(arch, "heads")) {
		rc = jsonutil_get_typed(arch, "heads", "architecture", true, JSON_ARRAY, &heads, err);
		if (rc)
			return rc;
		if (json_array_size(heads) != 2)
			return error_set(err, ERROR_INVALID, "architecture.heads",
					 "architecture.heads: expected the two heads sales and exposure");
		json_array_foreach(heads, i, v) {
			const char *name = NULL, *kind = NULL;
			long long out = -1;
			jsonutil_path_index(field, "architecture.heads", i);
			rc = jsonutil_expect_object(v, head_keys, field, err);
			if (!rc)
				rc = jsonutil_get_string(v, "name", field, true, &name, err);
			if (!rc)
				rc = jsonutil_get_string(v, "kind", field, true, &kind, err);
			if (!rc)
				rc = jsonutil_get_int(v, "output", field, true, 0, 1, &out, err);
			if (rc)
				return rc;
			if (strcmp(name, head_name[out]) || strcmp(kind, head_kind[out])) {
				jsonutil_path_key(sub, field, "name");
				return error_set(err, ERROR_INVALID, sub,
						 "%s: output %lld must be the %s head of kind %s", sub,
						 out, head_name[out], head_kind[out]);
			}
		}
	}
	return spec_parse_reference(root, spec, err);
}

/* The untransformed numeric input called name, or -1. */
static int numeric_index(const struct spec *spec, const char *name)
{
	size_t i;
	for (i = 0; i < spec->n_numeric; i++)
		if (!strcmp(spec->numeric[i].name, name) && spec->numeric[i].transform == SPEC_INPUT_IDENTITY)
			return (int)i;
	return -1;
}

/*
 * Each input once: a numeric feature may feed one input per transform (price
 * and log price); a categorical name may not be used again, numeric names included.
 */
static enum error_code check_unique_inputs(const struct spec *spec, struct error *err)
{
	char field[JSONUTIL_PATH_MAX];
	size_t n = spec->n_numeric + spec->n_categorical, i;
	struct hashmap *by_transform[SPEC_INPUT_LOG + 1] = {hashmap_new(n), hashmap_new(n)};
	struct hashmap *all = hashmap_new(n);
	enum error_code rc =
		by_transform[0] && by_transform[1] && all ? ERROR_OK : error_nomem(err, "a name table");

	for (i = 0; i < n && !rc; i++) {
		bool num = i < spec->n_numeric;
		const char *name = num ? spec->numeric[i].name : spec->categorical[i - spec->n_numeric].name;
		/* the first input with this name (numeric: and this transform) */
		int32_t first = hashmap_put(num ? by_transform[spec->numeric[i].transform] : all, name,
					    strlen(name), (int32_t)i);
		if (first == -1 || hashmap_put(all, name, strlen(name), (int32_t)i) == -1) {
			rc = error_nomem(err, "a name table");
		} else if (first != (int32_t)i) {
			jsonutil_path_index(field, num ? "inputs.numeric" : "inputs.categorical",
					    num ? i : i - spec->n_numeric);
			rc = error_set(err, ERROR_INVALID, field, "%s: the input \"%s\" is listed twice",
				       field, name);
		}
	}
	hashmap_free(by_transform[0]);
	hashmap_free(by_transform[1]);
	hashmap_free(all);
	return rc;
}

static enum error_code check_cross(struct spec *spec, struct error *err)
{
	size_t i, expected;
	enum error_code rc = check_unique_inputs(spec, err);

	if (rc)
		return rc;
	if (spec->n_numeric + spec->n_categorical == 0)
		return error_set(err, ERROR_INVALID, "inputs", "inputs: no features at all");
	spec->price_index = numeric_index(spec, spec->price_column);
	if (spec->price_index < 0)
		return error_set(err, ERROR_INVALID, "promotion.price_column",
				 "promotion.price_column: \"%s\" is not an untransformed numeric input",
				 spec->price_column);
	spec->unit_cost_index = -1;
	if (spec->unit_cost_column) {
		spec->unit_cost_index = numeric_index(spec, spec->unit_cost_column);
		if (spec->unit_cost_index < 0)
			return error_set(err, ERROR_INVALID, "promotion.unit_cost_column",
					 "promotion.unit_cost_column: \"%s\" is not an untransformed numeric "
					 "input",
					 spec->unit_cost_column);
	}
	if (spec->objective == SPEC_OBJECTIVE_PROFIT && spec->unit_cost_index < 0)
		return error_set(err, ERROR_INVALID, "promotion.objective",
				 "promotion.objective: profit needs promotion.unit_cost_column");
	for (i = 0; i < spec->n_numeric + spec->n_categorical; i++) {
		const char *name = i < spec->n_numeric ? spec->numeric[i].name
						       : spec->categorical[i - spec->n_numeric].name;
		if (!strcmp(name, spec->promo_column))
			return error_set(err, ERROR_INVALID, "promotion.column",
					 "promotion.column: \"%s\" is also an input; the level enters "
					 "through the promotion block only",
					 name);
		if (spec->id_column && !strcmp(name, spec->id_column))
			return error_set(err, ERROR_INVALID, "id_column",
					 "id_column: \"%s\" is also an input; the id names an item, it does not "
					 "describe it",
					 name);
	}
	if (spec->id_column && !strcmp(spec->id_column, spec->promo_column))
		return error_set(err, ERROR_INVALID, "id_column", "id_column: \"%s\" is also the promotion column",
				 spec->id_column);
	expected = spec_expected_input_size(spec);
	if (spec->input_size != expected)
		return error_set(err, ERROR_INVALID, "architecture.input_size",
				 "architecture.input_size: is %zu but the inputs encode to %zu values",
				 spec->input_size, expected);
	return ERROR_OK;
}

enum error_code spec_parse(const json_t *json, struct spec *spec, struct error *err)
{
	static const char *const keys[] = {"format", "inputs", "promotion", "target", "exposure",
					   "architecture", "id_column", "name", "reference", "calibration",
					   "drift_reference", NULL};
	const char *format = NULL;
	enum error_code rc;

	memset(spec, 0, sizeof *spec);
	rc = jsonutil_expect_object(json, keys, "", err);
	if (!rc)
		rc = jsonutil_get_string(json, "format", "", true, &format, err);
	if (!rc && strcmp(format, SPEC_FORMAT))
		rc = error_set(err, ERROR_INVALID, "format", "format: \"%s\" is not %s", format,
			       SPEC_FORMAT);
	if (!rc)
		rc = parse_inputs(json, spec, err);
	if (!rc)
		rc = spec_parse_promotion(json, spec, err);
	if (!rc)
		rc = parse_target(json, spec, err);
	if (!rc)
		rc = spec_get_name(json, "id_column", "", false, &spec->id_column, err);
	if (!rc)
		rc = parse_architecture(json, spec, err);
	if (!rc)
		rc = spec_calibration_parse(json, spec, err);
	if (!rc)
		rc = check_cross(spec, err);
	if (!rc)
		rc = spec_drift_parse(json, spec, err);
	if (rc) {
		spec_done(spec);
		error_prefix(err, "invalid model spec");
	}
	return rc;
}

enum error_code spec_parse_string(const char *text, size_t len, struct spec *spec, struct error *err)
{
	json_error_t jerr;
	json_t *json = jsonutil_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	enum error_code rc;

	memset(spec, 0, sizeof *spec);
	if (!json)
		return json_error_code(&jerr) == json_error_out_of_memory || !jerr.text[0]
			       ? error_nomem(err, "the model spec")
			       : error_set(err, ERROR_PARSE, NULL, "invalid model spec: %s at byte %d",
					   jerr.text, jerr.position);
	rc = spec_parse(json, spec, err);
	json_decref(json);
	return rc;
}

/* json_object_set_new that remembers a failure instead of leaking. */
static void put(json_t *obj, const char *key, json_t *v, int *fail)
{
	if (!v || json_object_set_new(obj, key, v) != 0)
		*fail = 1;
}

static void push(json_t *arr, json_t *v, int *fail)
{
	if (!v || json_array_append_new(arr, v) != 0)
		*fail = 1;
}

json_t *spec_to_json(const struct spec *spec)
{
	json_t *root = json_object(), *inputs = json_object(), *num = json_array(),
	       *cat = json_array(), *promo = json_object(), *levels = json_array(),
	       *target = json_object(), *exposure = json_object(), *arch = json_object(),
	       *hidden = json_array(), *heads = json_array();
	int fail = !root || !inputs || !num || !cat || !promo || !levels || !target || !exposure ||
		   !arch || !hidden || !heads;
	size_t i, j;

	for (i = 0; !fail && i < spec->n_numeric; i++) {
		const struct spec_numeric *f = &spec->numeric[i];
		json_t *o = json_object();
		put(o, "name", json_string(f->name), &fail);
		if (f->transform != SPEC_INPUT_IDENTITY)
			put(o, "transform", json_string(spec_input_transform_name(f->transform)), &fail);
		put(o, "mean", json_real(f->mean), &fail);
		put(o, "std", json_real(f->std), &fail);
		if (!f->required)
			put(o, "default", json_real(f->def), &fail);
		put(o, "required", json_boolean(f->required), &fail);
		if (f->has_clip)
			put(o, "clip", json_pack("[ff]", f->clip_lo, f->clip_hi), &fail);
		push(num, o, &fail);
	}
	for (i = 0; !fail && i < spec->n_categorical; i++) {
		const struct spec_categorical *f = &spec->categorical[i];
		json_t *o = json_object(), *vocab = json_array();
		for (j = 0; vocab && j < f->n_vocabulary; j++)
			push(vocab, json_string(f->vocabulary[j]), &fail);
		put(o, "name", json_string(f->name), &fail);
		put(o, "vocabulary", vocab, &fail);
		if (f->required)
			put(o, "required", json_true(), &fail);
		push(cat, o, &fail);
	}
	for (i = 0; !fail && i < spec->n_levels; i++)
		push(levels,
		     json_pack("{sIsfsf}", "level", (json_int_t)spec->levels[i].level, "discount",
			       spec->levels[i].discount, "cost", spec->levels[i].cost),
		     &fail);
	for (i = 0; !fail && i < spec->n_hidden; i++)
		push(hidden, json_integer((json_int_t)spec->hidden[i]), &fail);
	for (i = 0; !fail && i < HEADS_COUNT; i++)
		push(heads, json_pack("{sssssi}", "name", head_name[i], "kind", head_kind[i], "output", (int)i), &fail);

	put(inputs, "numeric", num, &fail);
	put(inputs, "categorical", cat, &fail);
	put(promo, "column", json_string(spec->promo_column), &fail);
	put(promo, "price_column", json_string(spec->price_column), &fail);
	put(promo, "unit_cost_column",
	    spec->unit_cost_column ? json_string(spec->unit_cost_column) : json_null(), &fail);
	put(promo, "objective", json_string(spec_objective_name(spec->objective)), &fail);
	put(promo, "levels", levels, &fail);
	put(target, "column", json_string(spec->target_column), &fail);
	put(target, "transform", json_string(spec_transform_name(spec->transform)), &fail);
	put(target, "mean", json_real(spec->target_mean), &fail);
	put(target, "std", json_real(spec->target_std), &fail);
	put(exposure, "column", json_string(spec->exposure_column), &fail);
	put(arch, "input_size", json_integer((json_int_t)spec->input_size), &fail);
	put(arch, "hidden", hidden, &fail);
	put(arch, "activation", json_string("relu"), &fail);
	put(arch, "heads", heads, &fail);
	put(root, "format", json_string(SPEC_FORMAT), &fail);
	put(root, "inputs", inputs, &fail);
	put(root, "promotion", promo, &fail);
	put(root, "target", target, &fail);
	put(root, "exposure", exposure, &fail);
	if (spec->id_column)
		put(root, "id_column", json_string(spec->id_column), &fail);
	put(root, "architecture", arch, &fail);
	fail |= spec_reference_put(root, spec);
	spec_calibration_put(root, spec, &fail);
	spec_drift_put(root, spec, &fail);
	if (fail) {
		json_decref(root);
		return NULL;
	}
	return root;
}

char *spec_to_string(const struct spec *spec)
{
	json_t *j = spec_to_json(spec);
	char *s;

	if (j) /* as it reads back from jsonb: the version's checksum covers this text */
		jsonutil_unsigned_zeros(j);
	s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	return s;
}

enum error_code spec_objective_choose(const struct spec *spec, const char *model, const char *asked,
				      bool profit_needs_column, enum spec_objective *o, struct error *err)
{
	*o = spec->objective;
	if (asked && !spec_objective_parse(asked, o))
		return error_set(err, ERROR_INVALID, "objective",
				 "objective: \"%s\" is not one of revenue, units, profit", asked);
	if (profit_needs_column && *o == SPEC_OBJECTIVE_PROFIT && spec->unit_cost_index < 0)
		return error_set(err, ERROR_INVALID, "objective",
				 "objective: profit needs a unit-cost feature, and model %s has none", model);
	return ERROR_OK;
}

/* encoder — see include/shelfcast/encoder.h. */
#include "shelfcast/encoder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/hashmap.h"
#include "shelfcast/jsonutil.h"
#include "shelfcast/numfmt.h"

struct encoder {
	const struct spec *spec;
	struct hashmap *names;   /* feature name -> its first input index */
	int *next_same;          /* per input: the next input reading the same feature, or -1 */
	int *first;              /* per input: the first input reading its feature */
	const char **name;       /* per input: its feature's name */
	size_t *name_len;
	struct hashmap **vocab;  /* per categorical: value -> slot */
	size_t *cat_offset;      /* per categorical: first slot in the vector */
	size_t level_offset;
	size_t width;
	size_t n_inputs;
};

void encoder_free(struct encoder *enc)
{
	size_t i;

	if (!enc)
		return;
	hashmap_free(enc->names);
	for (i = 0; enc->vocab && i < enc->spec->n_categorical; i++)
		hashmap_free(enc->vocab[i]);
	free(enc->vocab);
	free(enc->cat_offset);
	free(enc->next_same);
	free(enc->first);
	free(enc->name);
	free(enc->name_len);
	free(enc);
}

struct encoder *encoder_new(const struct spec *spec, struct error *err)
{
	struct encoder *enc = calloc(1, sizeof *enc);
	size_t i, j, off;

	if (!enc)
		goto nomem;
	enc->spec = spec;
	enc->n_inputs = spec->n_numeric + spec->n_categorical;
	enc->names = hashmap_new(enc->n_inputs);
	enc->vocab = calloc(spec->n_categorical + 1, sizeof *enc->vocab);
	enc->cat_offset = calloc(spec->n_categorical + 1, sizeof *enc->cat_offset);
	enc->next_same = calloc(enc->n_inputs + 1, sizeof *enc->next_same);
	enc->first = calloc(enc->n_inputs + 1, sizeof *enc->first);
	enc->name = calloc(enc->n_inputs + 1, sizeof *enc->name);
	enc->name_len = calloc(enc->n_inputs + 1, sizeof *enc->name_len);
	if (!enc->names || !enc->vocab || !enc->cat_offset || !enc->next_same || !enc->first ||
	    !enc->name || !enc->name_len)
		goto nomem;
	for (i = 0; i < enc->n_inputs; i++) {
		enc->next_same[i] = -1;
		enc->name[i] = i < spec->n_numeric ? spec->numeric[i].name
						   : spec->categorical[i - spec->n_numeric].name;
		enc->name_len[i] = strlen(enc->name[i]);
	}
	for (i = 0; i < spec->n_numeric; i++) {
		int32_t first = hashmap_put(enc->names, spec->numeric[i].name,
					    strlen(spec->numeric[i].name), (int32_t)i);
		if (first < 0)
			goto nomem;
		enc->first[i] = first;
		if (first != (int32_t)i) { /* append to the chain of inputs reading this feature */
			int last = first;
			while (enc->next_same[last] >= 0)
				last = enc->next_same[last];
			enc->next_same[last] = (int)i;
		}
	}
	off = spec->n_numeric;
	for (i = 0; i < spec->n_categorical; i++) {
		const struct spec_categorical *c = &spec->categorical[i];
		int32_t first = hashmap_put(enc->names, c->name, strlen(c->name),
					    (int32_t)(spec->n_numeric + i));
		if (first < 0)
			goto nomem;
		enc->first[spec->n_numeric + i] = first;
		enc->vocab[i] = hashmap_new(c->n_vocabulary);
		if (!enc->vocab[i])
			goto nomem;
		for (j = 0; j < c->n_vocabulary; j++)
			if (hashmap_put(enc->vocab[i], c->vocabulary[j], strlen(c->vocabulary[j]),
					(int32_t)j) < 0)
				goto nomem;
		enc->cat_offset[i] = off;
		off += c->n_vocabulary + 1;
	}
	enc->level_offset = off;
	enc->width = off + spec->n_levels;
	if (enc->width != spec->input_size) {
		error_set(err, ERROR_INVALID, "architecture.input_size",
			  "architecture.input_size: is %zu but the inputs encode to %zu values",
			  spec->input_size, enc->width);
		encoder_free(enc);
		return NULL;
	}
	return enc;
nomem:
	error_nomem(err, "an encoder");
	encoder_free(enc);
	return NULL;
}

size_t encoder_n_inputs(const struct encoder *enc)
{
	return enc->n_inputs;
}

size_t encoder_width(const struct encoder *enc)
{
	return enc->width;
}

size_t encoder_level_offset(const struct encoder *enc)
{
	return enc->level_offset;
}

bool encoder_input_is(const struct encoder *enc, int idx, const char *name, size_t len)
{
	return enc->first[idx] == idx && enc->name_len[idx] == len && !memcmp(enc->name[idx], name, len);
}

size_t encoder_categorical_offset(const struct encoder *enc, size_t i)
{
	return enc->cat_offset[i];
}

int encoder_next_same(const struct encoder *enc, int idx)
{
	return enc->next_same[idx];
}

int encoder_input_index(const struct encoder *enc, const char *name, size_t len)
{
	return hashmap_get(enc->names, name, len);
}

static enum error_code field_error(const char *prefix, const char *name, struct error *err,
				   const char *what)
{
	char field[JSONUTIL_PATH_MAX];
	jsonutil_path_key(field, prefix, name);
	return error_set(err, ERROR_INVALID, field, "%s: %s", field, what);
}

double encoder_numeric_value(const struct encoder *enc, const struct encoder_value *values,
			     size_t i)
{
	const struct encoder_value *v = &values[i];
	return v->kind == ENCODER_VALUE_NUMBER ? v->number : enc->spec->numeric[i].def;
}

/* Note feature `first` (a numeric input index) in a report list, once. */
static void note(uint32_t *list, size_t *n, int first)
{
	size_t j;
	for (j = 0; j < *n; j++)
		if (list[j] == (uint32_t)first)
			return;
	list[(*n)++] = (uint32_t)first;
}

enum error_code encoder_encode(const struct encoder *enc, const struct encoder_value *values,
			       int level_index, float *out, uint32_t *unknown, size_t *n_unknown,
			       const char *field_prefix, struct error *err)
{
	return encoder_encode_reported(enc, values, level_index, out, unknown, n_unknown, NULL,
				       field_prefix, err);
}

/* x, in the input's transformed space, clipped and standardized: its value in the vector. */
static float standardize(const struct spec_numeric *f, double x)
{
	if (f->has_clip)
		x = x < f->clip_lo ? f->clip_lo : x > f->clip_hi ? f->clip_hi : x;
	return (float)((x - f->mean) / f->std);
}

float encoder_numeric_z(const struct encoder *enc, size_t i, double x)
{
	const struct spec_numeric *f = &enc->spec->numeric[i];

	if (f->transform == SPEC_INPUT_LOG)
		x = x > 0 ? log(x) : f->def;
	return standardize(f, x);
}

enum error_code encoder_encode_reported(const struct encoder *enc, const struct encoder_value *values,
					int level_index, float *out, uint32_t *unknown,
					size_t *n_unknown, struct encoder_report *rep,
					const char *field_prefix, struct error *err)
{
	const struct spec *spec = enc->spec;
	size_t i, nu = 0;

	if (rep)
		rep->n_defaulted = rep->n_clipped = 0;
	memset(out, 0, enc->width * sizeof *out);
	for (i = 0; i < spec->n_numeric; i++) {
		const struct spec_numeric *f = &spec->numeric[i];
		const struct encoder_value *v = &values[i];
		double x;

		if (v->kind == ENCODER_VALUE_MISSING) {
			if (f->required)
				return field_error(field_prefix, f->name, err,
						   "required numeric feature is missing");
			x = f->def;
			if (rep)
				note(rep->defaulted, &rep->n_defaulted, enc->first[i]);
		} else if (v->kind == ENCODER_VALUE_NUMBER) {
			x = v->number;
			if (!isfinite(x))
				return field_error(field_prefix, f->name, err,
						   "expected a finite number");
			/*
			 * A log input has no value for x <= 0: refused when reporting (serving),
			 * else (training rows) it takes its default, as a missing one.
			 */
			if (f->transform == SPEC_INPUT_LOG && x <= 0 && rep)
				return field_error(field_prefix, f->name, err,
						   "must be greater than 0 (the model reads its logarithm)");
			if (f->transform == SPEC_INPUT_LOG)
				x = x > 0 ? log(x) : f->def;
		} else {
			return field_error(field_prefix, f->name, err, "expected a number, got a string");
		}
		if (f->has_clip && rep && v->kind == ENCODER_VALUE_NUMBER && (x < f->clip_lo || x > f->clip_hi))
			note(rep->clipped, &rep->n_clipped, enc->first[i]);
		out[i] = standardize(f, x);
	}
	for (i = 0; i < spec->n_categorical; i++) {
		const struct encoder_value *v = &values[spec->n_numeric + i];
		int32_t slot;

		if (v->kind == ENCODER_VALUE_MISSING && spec->categorical[i].required)
			return field_error(field_prefix, spec->categorical[i].name, err,
					   "required categorical feature is missing");
		slot = encoder_categorical_slot(enc, i, v);
		if (slot < 0)
			return field_error(field_prefix, spec->categorical[i].name, err,
					   "expected a string or an integer category");
		if ((size_t)slot == spec->categorical[i].n_vocabulary) {
			if (unknown)
				unknown[nu] = (uint32_t)i;
			nu++;
		}
		if (rep && rep->slots)
			rep->slots[i] = (uint32_t)slot;
		out[enc->cat_offset[i] + (size_t)slot] = 1.0f;
	}
	if (n_unknown)
		*n_unknown = nu;
	if (level_index >= (int)spec->n_levels)
		return error_set(err, ERROR_INVALID, field_prefix, "%s: promotion level index %d is out of range",
				 field_prefix ? field_prefix : "row", level_index);
	if (level_index >= 0)
		out[enc->level_offset + (size_t)level_index] = 1.0f;
	return ERROR_OK;
}

int32_t encoder_categorical_slot(const struct encoder *enc, size_t i, const struct encoder_value *v)
{
	int32_t slot = -1;

	if (v->kind == ENCODER_VALUE_STRING) {
		slot = hashmap_get(enc->vocab[i], v->str, v->len);
	} else if (v->kind == ENCODER_VALUE_NUMBER) {
		char buf[NUMFMT_MAX];
		size_t n;
		if (!isfinite(v->number) || v->number != floor(v->number) ||
		    fabs(v->number) > 9007199254740992.0)
			return -1;
		n = numfmt_int(buf, (long long)v->number); /* -0.0 is category "0" */
		slot = hashmap_get(enc->vocab[i], buf, n);
	}
	return slot < 0 ? (int32_t)enc->spec->categorical[i].n_vocabulary : slot;
}

void encoder_set_level(const struct encoder *enc, float *out, int level_index)
{
	memset(out + enc->level_offset, 0, enc->spec->n_levels * sizeof *out);
	if (level_index >= 0 && (size_t)level_index < enc->spec->n_levels)
		out[enc->level_offset + (size_t)level_index] = 1.0f;
}

enum error_code encoder_values_from_json(const struct encoder *enc, const json_t *features,
					 struct encoder_value *values, const char *field_prefix,
					 struct error *err)
{
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(features))
		return error_set(err, ERROR_INVALID, field_prefix, "%s: expected an object, got %s",
				 field_prefix ? field_prefix : "features", jsonutil_type_name(features));
	for (i = 0; i < enc->n_inputs; i++)
		values[i].kind = ENCODER_VALUE_MISSING;
	json_object_foreach((json_t *)features, key, v) {
		int idx = hashmap_get(enc->names, key, strlen(key)), j;
		struct encoder_value *out;

		if (idx < 0)
			return field_error(field_prefix, key, err, "unknown feature");
		out = &values[idx];
		switch (json_typeof(v)) {
		case JSON_NULL:
			out->kind = ENCODER_VALUE_MISSING;
			break;
		case JSON_INTEGER:
			out->kind = ENCODER_VALUE_NUMBER;
			out->number = (double)json_integer_value(v);
			if ((size_t)idx >= enc->spec->n_numeric) {
				/* Keep the exact integer: 2^53+1 must not round into another category. */
				size_t n = numfmt_int(out->buf, (long long)json_integer_value(v));
				out->kind = ENCODER_VALUE_STRING;
				out->str = out->buf;
				out->len = n;
			}
			break;
		case JSON_REAL:
			out->kind = ENCODER_VALUE_NUMBER;
			out->number = json_real_value(v);
			if (!isfinite(out->number))
				return field_error(field_prefix, key, err, "expected a finite number");
			if ((size_t)idx >= enc->spec->n_numeric)
				return field_error(field_prefix, key, err,
						   "expected a string or an integer category, got a "
						   "fractional number");
			break;
		case JSON_STRING:
			if ((size_t)idx < enc->spec->n_numeric)
				return field_error(field_prefix, key, err, "expected a number, got a string");
			out->kind = ENCODER_VALUE_STRING;
			out->str = json_string_value(v);
			out->len = json_string_length(v);
			break;
		default: {
			char what[96];
			snprintf(what, sizeof what, "expected %s, got %s",
				 (size_t)idx < enc->spec->n_numeric ? "a number" : "a string or an integer",
				 jsonutil_type_name(v));
			return field_error(field_prefix, key, err, what);
		}
		}
		/* Other inputs reading the same feature (its log, say) get the same value. */
		for (j = enc->next_same[idx]; j >= 0; j = enc->next_same[j])
			values[j] = *out;
	}
	return ERROR_OK;
}

void encoder_set_feature(const struct encoder *enc, struct encoder_value *values, const char *name, double x)
{
	int j;

	for (j = encoder_input_index(enc, name, strlen(name)); j >= 0; j = encoder_next_same(enc, j)) {
		values[j].kind = ENCODER_VALUE_NUMBER;
		values[j].number = x;
	}
}

/* jsonutil — see include/shelfcast/jsonutil.h. */
#include "shelfcast/jsonutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *jsonutil_type_name(const json_t *v)
{
	if (!v)
		return "nothing";
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "an unknown value";
}

void jsonutil_path_key(char out[JSONUTIL_PATH_MAX], const char *path, const char *key)
{
	if (path && *path)
		snprintf(out, JSONUTIL_PATH_MAX, "%s.%s", path, key);
	else
		snprintf(out, JSONUTIL_PATH_MAX, "%s", key);
}

void jsonutil_path_index(char out[JSONUTIL_PATH_MAX], const char *path, size_t index)
{
	snprintf(out, JSONUTIL_PATH_MAX, "%s[%zu]", path ? path : "", index);
}

enum error_code jsonutil_expect_object(const json_t *v, const char *const allowed[], const char *path,
				       struct error *err)
{
	const char *key;
	json_t *member;

	if (!json_is_object(v))
		return error_set(err, ERROR_INVALID, path, "%s: expected an object, got %s",
				 path && *path ? path : "body", jsonutil_type_name(v));
	json_object_foreach((json_t *)v, key, member) {
		size_t i;
		bool known = false;
		for (i = 0; allowed && allowed[i]; i++)
			if (strcmp(allowed[i], key) == 0) {
				known = true;
				break;
			}
		if (!known) {
			char field[JSONUTIL_PATH_MAX];
			jsonutil_path_key(field, path, key);
			return error_set(err, ERROR_INVALID, field, "%s: unknown field", field);
		}
	}
	return ERROR_OK;
}

static json_t *member(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_null(v) ? NULL : v;
}

static enum error_code missing(const char *path, const char *key, struct error *err)
{
	char field[JSONUTIL_PATH_MAX];
	jsonutil_path_key(field, path, key);
	return error_set(err, ERROR_INVALID, field, "%s: required field is missing", field);
}

enum error_code jsonutil_number(const json_t *v, const char *path, double *out, struct error *err)
{
	double d;

	if (json_is_integer(v))
		d = (double)json_integer_value(v);
	else if (json_is_real(v))
		d = json_real_value(v);
	else
		return error_set(err, ERROR_INVALID, path, "%s: expected a number, got %s", path,
				 jsonutil_type_name(v));
	if (!isfinite(d))
		return error_set(err, ERROR_INVALID, path, "%s: expected a finite number", path);
	*out = d;
	return ERROR_OK;
}

enum error_code jsonutil_get_number(const json_t *obj, const char *key, const char *path,
				    bool required, double *out, struct error *err)
{
	char field[JSONUTIL_PATH_MAX];
	json_t *v = member(obj, key);

	if (!v)
		return required ? missing(path, key, err) : ERROR_OK;
	jsonutil_path_key(field, path, key);
	return jsonutil_number(v, field, out, err);
}

/*
 * Each real x throughout v replaced by f(x) where f gives a value (NULL:
 * kept); v itself, a real, is not replaced: its replacement is returned.
 */
static json_t *map_reals(json_t *v, json_t *(*f)(double))
{
	json_t *w;

	if (json_is_real(v))
		return f(json_real_value(v));
	if (json_is_array(v)) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
			if ((w = map_reals(e, f)))
				json_array_set_new(v, i, w);
	} else if (json_is_object(v)) {
		void *it;
		for (it = json_object_iter(v); it; it = json_object_iter_next(v, it))
			if ((w = map_reals(json_object_iter_value(it), f)))
				json_object_iter_set_new(v, it, w);
	}
	return NULL;
}

/* A whole x under 2^53 in magnitude (exact in both) as an integer. */
static json_t *whole_as_integer(double x)
{
	return x == floor(x) && fabs(x) < 9007199254740992.0 ? json_integer((json_int_t)x) : NULL;
}

/* -0.0 as 0.0. */
static json_t *unsigned_zero(double x)
{
	return x == 0.0 && signbit(x) ? json_real(0.0) : NULL;
}

json_t *jsonutil_loadb(const char *text, size_t len, size_t flags, json_error_t *jerr)
{
	json_error_t first;
	json_t *root = json_loadb(text, len, flags, &first), *w;

	if (root || json_error_code(&first) != json_error_numeric_overflow) {
		if (jerr)
			*jerr = first;
		return root;
	}
	root = json_loadb(text, len, flags | JSON_DECODE_INT_AS_REAL, jerr);
	if (root && (w = map_reals(root, whole_as_integer))) { /* with JSON_DECODE_ANY, a bare number */
		json_decref(root);
		root = w;
	}
	return root;
}

void jsonutil_unsigned_zeros(json_t *v)
{
	json_t *w = map_reals(v, unsigned_zero);

	if (w) { /* v itself a -0.0 */
		json_real_set(v, 0.0);
		json_decref(w);
	}
}

enum error_code jsonutil_get_int(const json_t *obj, const char *key, const char *path, bool required,
				 long long min, long long max, long long *out, struct error *err)
{
	char field[JSONUTIL_PATH_MAX];
	json_t *v = member(obj, key);
	long long x;

	if (!v)
		return required ? missing(path, key, err) : ERROR_OK;
	jsonutil_path_key(field, path, key);
	if (!json_is_integer(v))
		return error_set(err, ERROR_INVALID, field, "%s: expected an integer, got %s", field,
				 jsonutil_type_name(v));
	x = json_integer_value(v);
	if (x < min || x > max)
		return error_set(err, ERROR_INVALID, field, "%s: %lld is out of range [%lld, %lld]",
				 field, x, min, max);
	*out = x;
	return ERROR_OK;
}

enum error_code jsonutil_get_bool(const json_t *obj, const char *key, const char *path, bool required,
				  bool *out, struct error *err)
{
	char field[JSONUTIL_PATH_MAX];
	json_t *v = member(obj, key);

	if (!v)
		return required ? missing(path, key, err) : ERROR_OK;
	if (!json_is_boolean(v)) {
		jsonutil_path_key(field, path, key);
		return error_set(err, ERROR_INVALID, field, "%s: expected a boolean, got %s", field,
				 jsonutil_type_name(v));
	}
	*out = json_is_true(v);
	return ERROR_OK;
}

enum error_code jsonutil_get_string(const json_t *obj, const char *key, const char *path,
				    bool required, const char **out, struct error *err)
{
	char field[JSONUTIL_PATH_MAX];
	json_t *v = member(obj, key);

	if (!v)
		return required ? missing(path, key, err) : ERROR_OK;
	jsonutil_path_key(field, path, key);
	if (!json_is_string(v))
		return error_set(err, ERROR_INVALID, field, "%s: expected a string, got %s", field,
				 jsonutil_type_name(v));
	if (strlen(json_string_value(v)) != json_string_length(v))
		return error_set(err, ERROR_INVALID, field, "%s: contains a NUL character", field);
	*out = json_string_value(v);
	return ERROR_OK;
}

enum error_code jsonutil_get_typed(const json_t *obj, const char *key, const char *path,
				   bool required, json_type type, json_t **out, struct error *err)
{
	char field[JSONUTIL_PATH_MAX];
	json_t *v = member(obj, key);

	if (!v)
		return required ? missing(path, key, err) : ERROR_OK;
	if (json_typeof(v) != type) {
		jsonutil_path_key(field, path, key);
		return error_set(err, ERROR_INVALID, field, "%s: expected %s, got %s", field,
				 type == JSON_OBJECT ? "an object" : "an array", jsonutil_type_name(v));
	}
	*out = v;
	return ERROR_OK;
}

enum error_code jsonutil_syntax_error(const json_error_t *jerr, const char *what, struct error *err)
{
	/* jansson leaves the text empty when its lexer cannot allocate */
	if (json_error_code(jerr) == json_error_out_of_memory || !jerr->text[0])
		return error_nomem(err, what);
	/* Numbers beyond double range are well-formed JSON that breaks the contract. */
	if (json_error_code(jerr) == json_error_numeric_overflow)
		return error_set(err, ERROR_INVALID, NULL,
				 "a number near byte %d is out of range: %s", jerr->position, jerr->text);
	return error_set(err, ERROR_PARSE, NULL, "malformed JSON at byte %d: %s", jerr->position,
			 jerr->text);
}

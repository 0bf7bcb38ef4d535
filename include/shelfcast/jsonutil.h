/*
 * jsonutil — strict, field-naming readers over jansson values, shared by the
 * spec, dataset-config and request parsers.  Every error names the field path
 * ("model.hidden[1]") and what was expected versus what arrived.
 *
 * Values are borrowed from the json_t they come from.
 * Thread-safety: no shared state.
 */
#ifndef SHELFCAST_JSONUTIL_H
#define SHELFCAST_JSONUTIL_H

#include <jansson.h>
#include <stdbool.h>

#include "shelfcast/error.h"

#define JSONUTIL_PATH_MAX 192

/*
 * json_dumps flags for what people read (metrics, catalogs, events): 15
 * significant digits, so a stored 0.929964 comes back as 0.929964 and not as
 * jansson's default 17 digits, 0.92996400000000001.  Not for specs, whose
 * numbers must round-trip exactly.
 */
#define JSONUTIL_DISPLAY JSON_REAL_PRECISION(15)

/* "a string", "an object", ... for messages. */
const char *jsonutil_type_name(const json_t *v);

/*
 * json_loadb(text, len, flags) for JSON that may have passed through a
 * PostgreSQL jsonb column (specs, configs, metrics, catalogs): jsonb writes
 * a number as its plain decimal, 1e20 as 100000000000000000000, which
 * jansson refuses as too big an integer.  Text jansson reads is read as it
 * reads it; only when a number overflows is the text read again with every
 * number a double (JSON_DECODE_INT_AS_REAL), each whole one under 2^53 in
 * magnitude (exact in both) then back as an integer, so integer fields
 * still read as integers.
 */
json_t *jsonutil_loadb(const char *text, size_t len, size_t flags, json_error_t *jerr);

/* Every -0.0 in v as 0.0: jsonb keeps no sign on a zero, and a checksum over the text would differ. */
void jsonutil_unsigned_zeros(json_t *v);

/* out = path + "." + key (or just key when path is empty). */
void jsonutil_path_key(char out[JSONUTIL_PATH_MAX], const char *path, const char *key);
/* out = path + "[" + index + "]". */
void jsonutil_path_index(char out[JSONUTIL_PATH_MAX], const char *path, size_t index);

/* v must be an object whose keys are all in `allowed` (NULL-terminated). */
enum error_code jsonutil_expect_object(const json_t *v, const char *const allowed[], const char *path,
				       struct error *err);

/*
 * Typed member readers.  A missing (or null) member is an error when
 * `required`, otherwise *out keeps the default the caller put there.
 * *present (may be NULL) tells whether the member was there.
 */
enum error_code jsonutil_get_number(const json_t *obj, const char *key, const char *path,
				    bool required, double *out, struct error *err);
enum error_code jsonutil_get_int(const json_t *obj, const char *key, const char *path, bool required,
				 long long min, long long max, long long *out, struct error *err);
enum error_code jsonutil_get_bool(const json_t *obj, const char *key, const char *path, bool required,
				  bool *out, struct error *err);
/* *out is borrowed from obj. */
enum error_code jsonutil_get_string(const json_t *obj, const char *key, const char *path,
				    bool required, const char **out, struct error *err);
/* *out is borrowed; must be of json type `type` (JSON_OBJECT, JSON_ARRAY). */
enum error_code jsonutil_get_typed(const json_t *obj, const char *key, const char *path,
				   bool required, json_type type, json_t **out, struct error *err);

/* A finite number from a JSON integer or real (no strings, no booleans). */
enum error_code jsonutil_number(const json_t *v, const char *path, double *out, struct error *err);

/*
 * The error of a body json_loadb refused: ERROR_PARSE with the byte offset,
 * ERROR_INVALID for a number beyond double range (well-formed JSON that
 * breaks the contract), ERROR_NOMEM (what: the thing being read).
 */
enum error_code jsonutil_syntax_error(const json_error_t *jerr, const char *what, struct error *err);

#endif

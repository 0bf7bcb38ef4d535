/*
 * encoder — the one function that turns a row of features plus a promotion
 * level into the network's input vector.  Training (CSV rows) and serving
 * (JSON objects) both call encoder_encode, so there is no train/serve skew.
 *
 * A row arrives as one struct encoder_value per spec input, in spec order
 * (numeric inputs, then categorical ones).  Three fill that array:
 * encoder_values_from_json (an API item's "features" object), the API's
 * fast path (predict_api.c, through encoder_input_index) and the trainer's
 * CSV/table reader.  A categorical value may be a string or an
 * integer: 2 and "2" are the same category, as they are in a CSV.
 *
 * Numeric:     missing -> the spec default (error when required);
 *              x -> (clip(x) - mean) / std.
 * Categorical: one-hot over the vocabulary; unknown or missing values go to
 *              the feature's unknown slot and are reported to the caller.
 * Level:       one-hot over the spec's levels.
 *
 * Thread-safety: an encoder is immutable after encoder_new; any number of
 * threads may encode with it at once.
 */
#ifndef SHELFCAST_ENCODER_H
#define SHELFCAST_ENCODER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shelfcast/error.h"
#include "shelfcast/spec.h"

enum encoder_value_kind {
	ENCODER_VALUE_MISSING = 0,
	ENCODER_VALUE_NUMBER,
	ENCODER_VALUE_STRING,
};

struct encoder_value {
	enum encoder_value_kind kind;
	double number;   /* ENCODER_VALUE_NUMBER */
	const char *str; /* ENCODER_VALUE_STRING: borrowed, `len` bytes, not NUL-terminated */
	size_t len;
	char buf[24];    /* storage for an integer category spelled as text */
};

struct encoder;

/* New encoder over spec (borrowed: it must outlive the encoder). NULL + err on failure. */
struct encoder *encoder_new(const struct spec *spec, struct error *err);
void encoder_free(struct encoder *enc);

/* Number of inputs a row carries (n_numeric + n_categorical). */
size_t encoder_n_inputs(const struct encoder *enc);
/* Length of an encoded vector (spec input_size). */
size_t encoder_width(const struct encoder *enc);
/* Index of the first promotion-level slot in an encoded vector. */
size_t encoder_level_offset(const struct encoder *enc);
/* Input index of a feature name (its first input), or -1. */
int encoder_input_index(const struct encoder *enc, const char *name, size_t len);
/* Is input idx (< encoder_n_inputs) the first input of the feature called name? */
bool encoder_input_is(const struct encoder *enc, int idx, const char *name, size_t len);
/* The first slot of categorical feature i (< n_categorical) in an encoded vector; its unknown slot is that + n_vocabulary. */
size_t encoder_categorical_offset(const struct encoder *enc, size_t i);
/* The next input reading the same feature as input idx (a log input, say), or -1. */
int encoder_next_same(const struct encoder *enc, int idx);
/* Every input reading the feature called name (raw and through log, say) set to the number x in values. */
void encoder_set_feature(const struct encoder *enc, struct encoder_value *values, const char *name, double x);

/*
 * Encode one row.  values: (n_inputs) in spec order.  level_index: index
 * into spec levels, or -1 to leave the level slots zero (set them with
 * encoder_set_level).  out: (width) floats, fully written.
 * unknown: (n_categorical) out-array of categorical indices that fell into
 * their unknown slot, *n_unknown their count; both may be NULL.
 * field_prefix names the row for errors ("items[3].features"); may be NULL.
 * Errors: a required numeric input missing, a non-finite number, a number
 * for a categorical that is not an integer, a level index out of range.
 */
enum error_code encoder_encode(const struct encoder *enc, const struct encoder_value *values,
			       int level_index, float *out, uint32_t *unknown, size_t *n_unknown,
			       const char *field_prefix, struct error *err);

/*
 * What encoding did to a row's numeric features, for the caller: each list
 * holds input indices, one per feature (the feature's first input: its name
 * is spec numeric[index].name), in input order.  defaulted: missing (absent
 * or null), so the training default was used; clipped: a given value outside
 * the winsorizing range (in the input's transformed space), so it was
 * clipped.  The caller provides both lists with room for n_numeric entries.
 * slots (may be NULL): (n_categorical) out-array of the slot each
 * categorical value went to (n_vocabulary: the unknown slot), for drift.h.
 */
struct encoder_report {
	uint32_t *defaulted;
	size_t n_defaulted;
	uint32_t *clipped;
	size_t n_clipped;
	uint32_t *slots;
};

/*
 * encoder_encode, and with rep set: fill rep, and refuse (an error naming
 * the field) a value <= 0 for a feature read through `log` instead of
 * taking the default, as serving does.  rep NULL: encoder_encode (training
 * rows, where such a value takes the default).
 */
enum error_code encoder_encode_reported(const struct encoder *enc, const struct encoder_value *values,
					int level_index, float *out, uint32_t *unknown,
					size_t *n_unknown, struct encoder_report *rep,
					const char *field_prefix, struct error *err);

/*
 * The slot categorical i (< n_categorical) encodes v to: its vocabulary
 * index, or n_vocabulary (the unknown slot) for a value outside the
 * vocabulary or missing; -1 for a number that is not an integer category
 * (an error to encoder_encode).
 */
int32_t encoder_categorical_slot(const struct encoder *enc, size_t i, const struct encoder_value *v);

/* Set the level one-hot of an encoded vector (clearing the other level slots). */
void encoder_set_level(const struct encoder *enc, float *out, int level_index);

/*
 * The vector's value of numeric input i for the feature value x (finite):
 * the input's transform (log; x <= 0 takes the default), its clip and its
 * standardization, exactly as encoding a row does.  For callers that vary
 * one feature over many values (recommend.h).
 */
float encoder_numeric_z(const struct encoder *enc, size_t i, double x);

/* The value a numeric input takes for this row (its default when missing), unclipped. */
double encoder_numeric_value(const struct encoder *enc, const struct encoder_value *values,
			     size_t numeric_index);

/*
 * Fill values from a JSON object of features.  Unknown feature names,
 * wrong types (booleans, arrays, objects, strings for numbers) and
 * non-finite numbers are errors naming "<field_prefix>.<name>"; null is a
 * missing value.  values: (n_inputs), fully written.
 */
enum error_code encoder_values_from_json(const struct encoder *enc, const json_t *features,
					 struct encoder_value *values, const char *field_prefix,
					 struct error *err);

#endif

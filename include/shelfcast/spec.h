/*
 * spec — the model spec: everything needed to turn a row of features into
 * the network's input and its outputs into answers.  Stored as JSON with
 * every model version (model_versions.spec, safetensors __metadata__.spec).
 *
 *   {"format": "shelfcast.spec.v1",
 *    "inputs": {
 *      "numeric": [{"name": "regular_price", "mean": 0.04, "std": 0.01,
 *                   "default": 0.04, "required": false, "clip": [0.01, 0.09]},
 *                  {"name": "regular_price", "transform": "log", "mean": -3.3, ...}],
 *      "categorical": [{"name": "brand", "vocabulary": ["A", "B"], "required": false}]},
 *    "promotion": {"column": "promo_level", "price_column": "regular_price",
 *                  "unit_cost_column": null, "objective": "revenue",
 *                  "levels": [{"level": 0, "discount": 0.0, "cost": 0.0}, ...]},
 *    "target": {"column": "units", "transform": "log1p", "mean": 3.1, "std": 1.2},
 *    "exposure": {"column": "featured"},
 *    "id_column": "sku",                        (optional)
 *    "architecture": {"input_size": 113, "hidden": [64, 32], "activation": "relu",
 *                     "heads": [{"name": "sales", "kind": "linear", "output": 0},
 *                               {"name": "exposure", "kind": "logit", "output": 1}]},
 *    "reference": [[0.1, -0.3, ...], ...]}      (optional)
 *
 * A numeric input reads the feature `name` and may transform it first:
 * "log" takes log(x) (x <= 0 counts as missing for that input).  One
 * feature may feed several inputs (raw and log); mean, std, clip and
 * default are in the input's transformed space.
 *
 * Input vector layout (the encoder's contract):
 *   [numeric z-scores in spec order]
 *   [per categorical: one slot per vocabulary entry, then its unknown slot]
 *   [promotion level one-hot, in spec level order]
 * so input_size = n_numeric + sum(|vocabulary| + 1) + n_levels.
 *
 * "reference" holds encoded rows (input_size values each, level slots
 * included, every value finite; 1 to SPEC_MAX_REFERENCE rows): the
 * reference distribution explanations are measured against (explain.h).
 * The trainer stores rows sampled from the training part.
 *
 * Levels are listed in strictly increasing level number; "lower level" in
 * tie-breaking means earlier in this list.
 *
 * Thread-safety: a parsed spec is immutable and may be shared.
 */
#ifndef SHELFCAST_SPEC_H
#define SHELFCAST_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shelfcast/error.h"

#define SPEC_FORMAT "shelfcast.spec.v1"
#define SPEC_MAX_HIDDEN 8
#define SPEC_MAX_LEVELS 64
#define SPEC_MAX_FEATURES 4096
#define SPEC_MAX_VOCABULARY 1000000
#define SPEC_MAX_WIDTH 65536
#define SPEC_NAME_MAX 128
#define SPEC_MAX_REFERENCE 256
/* Points of the conformal residual table: levels 0, 0.005, ..., 1. */
#define SPEC_RESIDUAL_QUANTILES 201

enum spec_transform { SPEC_TRANSFORM_NONE, SPEC_TRANSFORM_LOG1P };
enum spec_objective { SPEC_OBJECTIVE_REVENUE, SPEC_OBJECTIVE_UNITS, SPEC_OBJECTIVE_PROFIT };
enum spec_input_transform { SPEC_INPUT_IDENTITY, SPEC_INPUT_LOG };

struct spec_numeric {
	char *name;
	enum spec_input_transform transform;
	double mean, std;   /* z = (clip(x) - mean) / std */
	double def;         /* used when the value is missing and !required */
	bool required;
	bool has_clip;
	double clip_lo, clip_hi;
};

struct spec_categorical {
	char *name;
	bool required;      /* a missing value is an error when serving, not the unknown slot */
	char **vocabulary; /* n_vocabulary strings */
	size_t n_vocabulary;
};

struct spec_level {
	long long level;
	double discount; /* fraction of the price, in [0, 1) */
	double cost;     /* fixed cost of running the level */
};

struct spec {
	struct spec_numeric *numeric;
	size_t n_numeric;
	struct spec_categorical *categorical;
	size_t n_categorical;

	char *promo_column;
	char *price_column;     /* a numeric input (untransformed) */
	char *unit_cost_column; /* a numeric input (untransformed), or NULL */
	int price_index;        /* index into numeric of its untransformed input */
	int unit_cost_index;    /* index into numeric, or -1 */
	enum spec_objective objective;
	struct spec_level levels[SPEC_MAX_LEVELS];
	size_t n_levels;

	char *target_column;
	enum spec_transform transform;
	double target_mean, target_std;
	char *exposure_column;
	char *id_column; /* or NULL */

	size_t input_size;
	size_t hidden[SPEC_MAX_HIDDEN];
	size_t n_hidden;

	float *reference;   /* (n_reference, input_size) encoded rows, or NULL */
	size_t n_reference;
	/*
	 * "calibration": {"interval": 0.9, "smearing": 1.08, "rows": 8509,
	 *                 "residual_quantiles": [0, ..., 2.9]}  (optional: specs
	 * trained before it have none and serve no interval).  residual_quantiles[i]
	 * is the split-conformal quantile at level i / 200 of |t - prediction| on
	 * held-out rows, in transformed units (nondecreasing); smearing is the mean
	 * of exp(t - prediction) there (Duan's smearing, for a log1p target).
	 */
	bool has_calibration;
	double interval;  /* the default coverage */
	double smearing;
	size_t calibration_rows;
	double residual_q[SPEC_RESIDUAL_QUANTILES];
	/*
	 * Mondrian calibration (optional, "calibration.by"): a residual table
	 * per category of one categorical input, for the categories with enough
	 * held-out rows; any other category (and the unknown slot without one)
	 * uses residual_q.
	 *   "by": {"feature": "brand",
	 *          "groups": [{"category": "A", "rows": 812, "residual_quantiles": [...]}, ...]}
	 * (the unknown slot's group, when it has one, has "category": null).
	 */
	bool has_cal_by;
	size_t cal_by;              /* its categorical index */
	size_t cal_by_offset;       /* its first slot in an encoded row */
	size_t n_cal_groups;
	int32_t *cal_group;         /* (n_vocabulary + 1): slot -> group, or -1 */
	double (*cal_group_q)[SPEC_RESIDUAL_QUANTILES]; /* (n_cal_groups) */
	size_t *cal_group_rows;     /* (n_cal_groups) */
	size_t *cal_group_slot;     /* (n_cal_groups): the group's slot */
};

/* Parse and validate; errors name the offending field ("inputs.numeric[2].std"). */
enum error_code spec_parse(const json_t *json, struct spec *spec, struct error *err);
enum error_code spec_parse_string(const char *text, size_t len, struct spec *spec,
				  struct error *err);
/* Free what spec_parse allocated; accepts a zeroed spec. */
void spec_done(struct spec *spec);

/* Serialize (new reference). NULL on allocation failure. */
json_t *spec_to_json(const struct spec *spec);
/* Serialize to a compact string (new, free it). */
char *spec_to_string(const struct spec *spec);

/*
 * The optional "reference" member of root into spec->reference (after
 * input_size is known): an array of 1..SPEC_MAX_REFERENCE rows of
 * input_size finite numbers; errors name "reference[i]" or
 * "reference[i][j]".  spec_reference_put adds it to a serialized spec when
 * there is one; nonzero on allocation failure.
 */
enum error_code spec_parse_reference(const json_t *root, struct spec *spec, struct error *err);
int spec_reference_put(json_t *root, const struct spec *spec);
/* Copy n rows of input_size floats in as the reference (replacing any). */
enum error_code spec_set_reference(struct spec *spec, const float *rows, size_t n,
				   struct error *err);

/* The input size the layout implies. */
size_t spec_expected_input_size(const struct spec *spec);
/* Layer widths: dims[0] = input, then hidden..., then the 2 heads (heads.h). Returns the count. */
size_t spec_layer_dims(const struct spec *spec, size_t dims[SPEC_MAX_HIDDEN + 2]);

/* The optional "calibration" member of root into spec (spec_calibration.c); errors name the field. */
enum error_code spec_calibration_parse(const json_t *root, struct spec *spec, struct error *err);
/*
 * The residual table an encoded row's interval uses: its category's group
 * (Mondrian calibration) when it has one, else residual_q.
 */
const double *spec_residual_table(const struct spec *spec, const float *row);
/* The first slot of categorical input i in an encoded row. */
size_t spec_categorical_offset(const struct spec *spec, size_t i);
/*
 * Calibration groups for categorical input `by`: n groups (slots[g], rows[g]
 * and their residual tables q[g]), replacing any; ERROR_NOMEM.
 */
enum error_code spec_set_cal_groups(struct spec *spec, size_t by, size_t n, const size_t *slots,
				    const size_t *rows, const double (*q)[SPEC_RESIDUAL_QUANTILES],
				    struct error *err);
/* Put spec's calibration (if any) into root as "calibration"; *fail set on allocation failure. */
void spec_calibration_put(json_t *root, const struct spec *spec, int *fail);

/* Level number -> index, or -1. */
int spec_level_index(const struct spec *spec, long long level);

const char *spec_objective_name(enum spec_objective o);
bool spec_objective_parse(const char *s, enum spec_objective *o);
/*
 * The objective a request asked for (asked NULL: the spec's), as the
 * routes check it: an unknown name is ERROR_INVALID naming "objective";
 * with profit_needs_column, so is profit for a spec with no unit-cost
 * feature (model names the model in the message).
 */
enum error_code spec_objective_choose(const struct spec *spec, const char *model, const char *asked,
				      bool profit_needs_column, enum spec_objective *o, struct error *err);
const char *spec_transform_name(enum spec_transform t);
const char *spec_input_transform_name(enum spec_input_transform t);

/* A name usable for a feature or column: 1..128 bytes, no control characters. */
bool spec_valid_name(const char *s);
/*
 * The "promotion" member of root (column, price_column, unit_cost_column,
 * objective, levels) into those fields of spec, each checked and named in
 * errors; the spec and the dataset config share this block.  The strings are
 * spec's to free (spec_done) even on error.
 */
enum error_code spec_parse_promotion(const json_t *root, struct spec *spec, struct error *err);
/*
 * The string member obj[key] (path names obj in errors) checked with
 * spec_valid_name() and duplicated into *out (caller frees).  Absent and not
 * required: ERROR_OK with *out untouched.  Shared by the spec and the dataset
 * config parsers.
 */
enum error_code spec_get_name(const json_t *obj, const char *key, const char *path, bool required,
			      char **out, struct error *err);

#endif

/*
 * dataset — the dataset config users write for `shelfcast train`:
 *
 *   {"name": "oj",
 *    "id_column": "sku",                                              (optional)
 *    "features": {"numeric": ["regular_price"], "categorical": ["brand", "store"],
 *                 "log": ["regular_price"]},     (optional: also feed log(x) as an input)
 *    "target": {"column": "units", "transform": "log1p"},
 *    "exposure": {"column": "featured"},
 *    "promotion": {"column": "promo_level", "price_column": "regular_price",
 *                  "unit_cost_column": "unit_cost",                     (optional)
 *                  "objective": "revenue",
 *                  "levels": [{"level": 0, "discount": 0.0, "cost": 0.0}, ...]},
 *    "split": {"column": "week", "test_from": 137}  or  {"fraction": 0.2, "seed": 7},
 *    "model": {"hidden": [64, 32], "epochs": 40, "batch_size": 256, "learning_rate": 0.001,
 *              "patience": 4, "seed": 7, "weight_decay": 0, "exposure_weight": 1,
 *              "validation_fraction": 0.1, "validation": "latest" | "random",
 *              "ema": 0.999, "refit": false, "members": 1,
 *              "recent_fraction": 0.3, "recent_weight": 2,                 (column split only)
 *              "calibration_fraction": 0.3,                                  (optional)
 *              "interval": 0.9, "interval_by": "brand",         (interval_by optional)
 *              "interval_by_shrink": 0.1},                     (with interval_by)
 *    "cleaning": {"winsorize": [0.001, 0.999], "min_count": 5, "max_categories": 100000}}
 *
 * Every key is checked; unknown keys and a column named twice are errors.
 * Thread-safety: no shared state.
 */
#ifndef SHELFCAST_DATASET_H
#define SHELFCAST_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shelfcast/error.h"
#include "shelfcast/spec.h"

struct dataset_config {
	char *name;
	char *id_column;          /* or NULL */
	char **numeric;
	size_t n_numeric;
	char **categorical;
	size_t n_categorical;
	char **log;               /* numeric columns that also enter as log(x) */
	size_t n_log;
	char *target_column;
	enum spec_transform transform;
	char *exposure_column;
	char *promo_column;
	char *price_column;
	char *unit_cost_column;   /* or NULL */
	enum spec_objective objective;
	struct spec_level levels[SPEC_MAX_LEVELS];
	size_t n_levels;

	bool split_by_column;
	char *split_column;       /* when split_by_column */
	double test_from;         /* rows with split value >= test_from are the test part */
	double test_fraction;     /* otherwise */
	uint64_t split_seed;

	size_t hidden[SPEC_MAX_HIDDEN];
	size_t n_hidden;
	int epochs;
	size_t batch_size;
	double learning_rate;
	int patience;
	uint64_t seed;
	double weight_decay;
	double exposure_weight;
	double validation_fraction;
	bool validation_random;   /* a random validation slice instead of the latest */
	double ema;               /* decay of the weight average evaluated and kept; 0: off */
	bool refit;               /* after early stopping, retrain on train + validation for best_epoch epochs */
	double recent_fraction;   /* the latest share (by the split column) of the rows the network trains on, */
	int recent_weight;        /* counted this many times in its epochs; 1: off */
	double calibration_fraction; /* the intervals' held-out window, a share of the training part; 0: the validation slice */

	double winsor_lo, winsor_hi; /* quantiles */
	size_t min_count;
	size_t max_categories;
	double interval;          /* default coverage of the served prediction intervals */
	char *interval_by;        /* a categorical feature the intervals are calibrated per category of, or NULL */
	double interval_by_shrink; /* calibrate.h: the categories' scales shrunk toward the one table's, [0, 1] */
	size_t members;           /* networks in the served ensemble (ensemble.h), 1..16 */
	char **required;          /* features.required: numeric features every row and item must have */
	size_t n_required;
};

enum error_code dataset_config_parse(const char *text, size_t len, struct dataset_config *cfg,
				     struct error *err);
/* The file at path read (at most DATASET_CONFIG_MAX bytes) and parsed; *text (may be NULL) keeps its text (free it). */
#define DATASET_CONFIG_MAX (16u << 20)
enum error_code dataset_config_load(const char *path, struct dataset_config *cfg, char **text,
				    struct error *err);
void dataset_config_done(struct dataset_config *cfg);

/* Is `name` one of list[0..n)? */
bool dataset_listed(char *const *list, size_t n, const char *name);

/* Is feature `name` listed in features.required? */
bool dataset_is_required(const struct dataset_config *cfg, const char *name);

#endif

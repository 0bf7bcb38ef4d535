/* dataset — see include/shelfcast/dataset.h. */
#include "shelfcast/dataset.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/ensemble.h"
#include "shelfcast/jsonutil.h"
#include "shelfcast/util.h"

void dataset_config_done(struct dataset_config *cfg)
{
	size_t i;
	if (!cfg)
		return;
	free(cfg->name);
	free(cfg->id_column);
	free(cfg->interval_by);
	for (i = 0; i < cfg->n_numeric; i++)
		free(cfg->numeric[i]);
	free(cfg->numeric);
	for (i = 0; i < cfg->n_categorical; i++)
		free(cfg->categorical[i]);
	free(cfg->categorical);
	for (i = 0; i < cfg->n_required; i++)
		free(cfg->required[i]);
	free(cfg->required);
	for (i = 0; i < cfg->n_log; i++)
		free(cfg->log[i]);
	free(cfg->log);
	free(cfg->target_column);
	free(cfg->exposure_column);
	free(cfg->promo_column);
	free(cfg->price_column);
	free(cfg->unit_cost_column);
	free(cfg->split_column);
	memset(cfg, 0, sizeof *cfg);
}

static enum error_code name_list(const json_t *obj, const char *key, const char *path, char ***out,
				 size_t *n, struct error *err)
{
	char field[JSONUTIL_PATH_MAX], item[JSONUTIL_PATH_MAX];
	json_t *arr = NULL, *v;
	enum error_code rc = jsonutil_get_typed(obj, key, path, false, JSON_ARRAY, &arr, err);
	size_t i;

	if (rc || !arr)
		return rc;
	jsonutil_path_key(field, path, key);
	if (json_array_size(arr) > SPEC_MAX_FEATURES)
		return error_set(err, ERROR_INVALID, field, "%s: more than %d columns", field,
				 SPEC_MAX_FEATURES);
	*out = calloc(json_array_size(arr) + 1, sizeof **out);
	if (!*out)
		return error_nomem(err, "a column list");
	json_array_foreach(arr, i, v) {
		jsonutil_path_index(item, field, i);
		if (!json_is_string(v) || !spec_valid_name(json_string_value(v)))
			return error_set(err, ERROR_INVALID, item, "%s: expected a column name, got %s",
					 item, jsonutil_type_name(v));
		(*out)[i] = strdup(json_string_value(v));
		if (!(*out)[i])
			return error_nomem(err, "a column name");
		*n = i + 1;
	}
	return ERROR_OK;
}

static enum error_code parse_promotion(const json_t *root, struct dataset_config *cfg,
				       struct error *err)
{
	struct spec promo;
	enum error_code rc;

	memset(&promo, 0, sizeof promo);
	rc = spec_parse_promotion(root, &promo, err);
	/* The strings move to cfg, error or not: dataset_config_done frees them. */
	cfg->promo_column = promo.promo_column;
	cfg->price_column = promo.price_column;
	cfg->unit_cost_column = promo.unit_cost_column;
	cfg->objective = promo.objective;
	memcpy(cfg->levels, promo.levels, sizeof cfg->levels);
	cfg->n_levels = promo.n_levels;
	if (rc)
		return rc;
	if (cfg->objective == SPEC_OBJECTIVE_PROFIT && !cfg->unit_cost_column)
		return error_set(err, ERROR_INVALID, "promotion.objective",
				 "promotion.objective: profit needs promotion.unit_cost_column");
	return ERROR_OK;
}

static enum error_code parse_split(const json_t *root, struct dataset_config *cfg, struct error *err)
{
	static const char *const keys[] = {"column", "test_from", "fraction", "seed", NULL};
	json_t *split = NULL;
	long long seed = 7;
	enum error_code rc;

	rc = jsonutil_get_typed(root, "split", "", true, JSON_OBJECT, &split, err);
	if (!rc)
		rc = jsonutil_expect_object(split, keys, "split", err);
	if (rc)
		return rc;
	if (json_object_get(split, "column")) {
		if (json_object_get(split, "fraction"))
			return error_set(err, ERROR_INVALID, "split",
					 "split: give either column + test_from or fraction, not both");
		cfg->split_by_column = true;
		rc = spec_get_name(split, "column", "split", true, &cfg->split_column, err);
		if (!rc)
			rc = jsonutil_get_number(split, "test_from", "split", true, &cfg->test_from, err);
		return rc;
	}
	if (json_object_get(split, "test_from"))
		return error_set(err, ERROR_INVALID, "split.column",
				 "split.column: required with split.test_from");
	rc = jsonutil_get_number(split, "fraction", "split", true, &cfg->test_fraction, err);
	if (!rc && !(cfg->test_fraction > 0 && cfg->test_fraction < 1))
		rc = error_set(err, ERROR_INVALID, "split.fraction", "split.fraction: must be in (0, 1)");
	if (!rc)
		rc = jsonutil_get_int(split, "seed", "split", false, 0, 0x7fffffffffffffffLL, &seed, err);
	cfg->split_seed = (uint64_t)seed;
	return rc;
}

/* model's values against their ranges and each other (parse_model has read them). */
static enum error_code check_model(const struct dataset_config *cfg, struct error *err)
{
	size_t i;

	if (!(cfg->interval > 0 && cfg->interval < 1))
		return error_set(err, ERROR_INVALID, "model.interval", "model.interval: must be in (0, 1)");
	if (!(cfg->ema >= 0 && cfg->ema < 1))
		return error_set(err, ERROR_INVALID, "model.ema", "model.ema: must be in [0, 1)");
	if (!(cfg->learning_rate > 0 && cfg->learning_rate < 10))
		return error_set(err, ERROR_INVALID, "model.learning_rate",
				 "model.learning_rate: must be in (0, 10)");
	if (!(cfg->weight_decay >= 0))
		return error_set(err, ERROR_INVALID, "model.weight_decay", "model.weight_decay: must be >= 0");
	if (!(cfg->exposure_weight >= 0))
		return error_set(err, ERROR_INVALID, "model.exposure_weight",
				 "model.exposure_weight: must be >= 0");
	if (!(cfg->validation_fraction > 0 && cfg->validation_fraction < 0.5))
		return error_set(err, ERROR_INVALID, "model.validation_fraction",
				 "model.validation_fraction: must be in (0, 0.5)");
	if (!(cfg->recent_fraction >= 0 && cfg->recent_fraction < 1))
		return error_set(err, ERROR_INVALID, "model.recent_fraction",
				 "model.recent_fraction: must be in [0, 1)");
	if (cfg->recent_fraction > 0 && cfg->recent_weight <= 1)
		return error_set(err, ERROR_INVALID, "model.recent_fraction",
				 "model.recent_fraction: needs model.recent_weight > 1 (the times the latest "
				 "rows count)");
	if (cfg->recent_weight > 1 && !(cfg->recent_fraction > 0))
		return error_set(err, ERROR_INVALID, "model.recent_fraction",
				 "model.recent_fraction: model.recent_weight needs a share in (0, 1)");
	if (cfg->recent_weight > 1 && !cfg->split_by_column)
		return error_set(err, ERROR_INVALID, "model.recent_weight",
				 "model.recent_weight: needs a split by column (the latest rows by it)");
	if (!(cfg->calibration_fraction == 0 ||
	      (cfg->calibration_fraction > cfg->validation_fraction && cfg->calibration_fraction < 0.5)))
		return error_set(err, ERROR_INVALID, "model.calibration_fraction",
				 "model.calibration_fraction: must be 0 or between model.validation_fraction "
				 "(%g) and 0.5",
				 cfg->validation_fraction);
	if (!(cfg->interval_by_shrink >= 0 && cfg->interval_by_shrink <= 1))
		return error_set(err, ERROR_INVALID, "model.interval_by_shrink",
				 "model.interval_by_shrink: must be in [0, 1]");
	if (cfg->interval_by_shrink > 0 && !cfg->interval_by)
		return error_set(err, ERROR_INVALID, "model.interval_by_shrink",
				 "model.interval_by_shrink: needs model.interval_by");
	for (i = 0; i < cfg->n_hidden; i++) /* the packed hidden layers (ensemble.h) */
		if (cfg->members * cfg->hidden[i] + ENSEMBLE_BASELINE_UNITS > SPEC_MAX_WIDTH)
			return error_set(err, ERROR_INVALID, "model.members",
					 "model.members: %zu members of model.hidden[%zu]'s %zu units and %d "
					 "baseline units are wider than %d",
					 cfg->members, i, cfg->hidden[i], ENSEMBLE_BASELINE_UNITS,
					 SPEC_MAX_WIDTH);
	return ERROR_OK;
}

static enum error_code parse_model(const json_t *root, struct dataset_config *cfg, struct error *err)
{
	static const char *const keys[] = {"hidden", "epochs", "batch_size", "learning_rate",
					   "patience", "seed", "weight_decay", "exposure_weight",
					   "validation_fraction", "validation", "ema", "refit", "members",
					   "interval", "interval_by", "recent_fraction", "recent_weight",
					   "calibration_fraction", "interval_by_shrink",
					   NULL};
	char field[JSONUTIL_PATH_MAX];
	json_t *model = NULL, *hidden = NULL, *v;
	long long epochs = 40, batch = 256, patience = 4, seed = 7, members = 1, recent_weight = 1;
	enum error_code rc;
	size_t i;

	cfg->hidden[0] = 64;
	cfg->hidden[1] = 32;
	cfg->n_hidden = 2;
	cfg->learning_rate = 0.001;
	cfg->weight_decay = 0;
	cfg->exposure_weight = 1;
	cfg->validation_fraction = 0.1;
	cfg->validation_random = !cfg->split_by_column;
	cfg->ema = 0;
	cfg->interval = 0.9;
	cfg->recent_fraction = 0;
	cfg->calibration_fraction = 0;
	cfg->interval_by_shrink = 0;
	rc = jsonutil_get_typed(root, "model", "", false, JSON_OBJECT, &model, err);
	if (!rc && model)
		rc = jsonutil_expect_object(model, keys, "model", err);
	if (!rc && model)
		rc = jsonutil_get_typed(model, "hidden", "model", false, JSON_ARRAY, &hidden, err);
	if (rc)
		return rc;
	if (hidden) {
		if (json_array_size(hidden) < 1 || json_array_size(hidden) > SPEC_MAX_HIDDEN)
			return error_set(err, ERROR_INVALID, "model.hidden",
					 "model.hidden: expected 1 to %d layer sizes", SPEC_MAX_HIDDEN);
		json_array_foreach(hidden, i, v) {
			jsonutil_path_index(field, "model.hidden", i);
			if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 4096)
				return error_set(err, ERROR_INVALID, field,
						 "%s: expected a layer size from 1 to 4096", field);
			cfg->hidden[i] = (size_t)json_integer_value(v);
			cfg->n_hidden = i + 1;
		}
	}
	if (model) {
		rc = jsonutil_get_int(model, "epochs", "model", false, 1, 100000, &epochs, err);
		if (!rc)
			rc = jsonutil_get_int(model, "batch_size", "model", false, 1, 1 << 20, &batch, err);
		if (!rc)
			rc = jsonutil_get_number(model, "learning_rate", "model", false, &cfg->learning_rate, err);
		if (!rc)
			rc = jsonutil_get_int(model, "patience", "model", false, 1, 100000, &patience, err);
		if (!rc)
			rc = jsonutil_get_int(model, "seed", "model", false, 0, 0x7fffffffffffffffLL, &seed, err);
		if (!rc)
			rc = jsonutil_get_number(model, "weight_decay", "model", false, &cfg->weight_decay, err);
		if (!rc)
			rc = jsonutil_get_number(model, "exposure_weight", "model", false,
						 &cfg->exposure_weight, err);
		if (!rc)
			rc = jsonutil_get_number(model, "validation_fraction", "model", false,
						 &cfg->validation_fraction, err);
		if (!rc)
			rc = jsonutil_get_number(model, "ema", "model", false, &cfg->ema, err);
		if (!rc)
			rc = jsonutil_get_bool(model, "refit", "model", false, &cfg->refit, err);
		if (!rc)
			rc = jsonutil_get_int(model, "members", "model", false, 1, 16, &members, err);
		if (!rc)
			rc = jsonutil_get_number(model, "interval", "model", false, &cfg->interval, err);
		if (!rc)
			rc = spec_get_name(model, "interval_by", "model", false, &cfg->interval_by, err);
		if (!rc)
			rc = jsonutil_get_number(model, "recent_fraction", "model", false,
						 &cfg->recent_fraction, err);
		if (!rc)
			rc = jsonutil_get_int(model, "recent_weight", "model", false, 1, 16, &recent_weight, err);
		if (!rc)
			rc = jsonutil_get_number(model, "calibration_fraction", "model", false,
						 &cfg->calibration_fraction, err);
		if (!rc)
			rc = jsonutil_get_number(model, "interval_by_shrink", "model", false,
						 &cfg->interval_by_shrink, err);
		if (!rc) {
			const char *how = NULL;
			rc = jsonutil_get_string(model, "validation", "model", false, &how, err);
			if (!rc && how && strcmp(how, "latest") && strcmp(how, "random"))
				rc = error_set(err, ERROR_INVALID, "model.validation",
					       "model.validation: \"%s\" is not one of latest, random", how);
			if (!rc && how && !strcmp(how, "latest") && !cfg->split_by_column)
				rc = error_set(err, ERROR_INVALID, "model.validation",
					       "model.validation: latest needs a split by column");
			if (!rc && how)
				cfg->validation_random = !strcmp(how, "random");
		}
		if (rc)
			return rc;
	}
	cfg->recent_weight = (int)recent_weight;
	cfg->epochs = (int)epochs;
	cfg->batch_size = (size_t)batch;
	cfg->patience = (int)patience;
	cfg->seed = (uint64_t)seed;
	cfg->members = (size_t)members;
	return check_model(cfg, err);
}

static enum error_code parse_cleaning(const json_t *root, struct dataset_config *cfg,
				      struct error *err)
{
	static const char *const keys[] = {"winsorize", "min_count", "max_categories", NULL};
	json_t *c = NULL, *w = NULL;
	long long min_count = 5, max_cat = 100000;
	enum error_code rc;

	cfg->winsor_lo = 0.001;
	cfg->winsor_hi = 0.999;
	rc = jsonutil_get_typed(root, "cleaning", "", false, JSON_OBJECT, &c, err);
	if (rc || !c)
		goto out;
	rc = jsonutil_expect_object(c, keys, "cleaning", err);
	if (!rc)
		rc = jsonutil_get_typed(c, "winsorize", "cleaning", false, JSON_ARRAY, &w, err);
	if (!rc && w) {
		if (json_array_size(w) != 2)
			return error_set(err, ERROR_INVALID, "cleaning.winsorize",
					 "cleaning.winsorize: expected [low quantile, high quantile]");
		rc = jsonutil_number(json_array_get(w, 0), "cleaning.winsorize[0]", &cfg->winsor_lo, err);
		if (!rc)
			rc = jsonutil_number(json_array_get(w, 1), "cleaning.winsorize[1]", &cfg->winsor_hi, err);
		if (!rc && !(cfg->winsor_lo >= 0 && cfg->winsor_lo < cfg->winsor_hi && cfg->winsor_hi <= 1))
			rc = error_set(err, ERROR_INVALID, "cleaning.winsorize",
				       "cleaning.winsorize: need 0 <= low < high <= 1");
	}
	if (!rc)
		rc = jsonutil_get_int(c, "min_count", "cleaning", false, 1, 1000000000, &min_count, err);
	if (!rc)
		rc = jsonutil_get_int(c, "max_categories", "cleaning", false, 1, SPEC_MAX_VOCABULARY,
				      &max_cat, err);
out:
	cfg->min_count = (size_t)min_count;
	cfg->max_categories = (size_t)max_cat;
	return rc;
}

/* Every column may play one role only. */
static enum error_code check_columns(const struct dataset_config *cfg, struct error *err)
{
	size_t cap = cfg->n_numeric + cfg->n_categorical + cfg->n_log + 8, n = 0, i, j;
	const char **names = calloc(cap, sizeof *names), **roles = calloc(cap, sizeof *roles);
	enum error_code rc = ERROR_OK;

	if (!names || !roles) {
		free(names);
		free(roles);
		return error_nomem(err, "a column list");
	}
#define ADD(col, role)                                                                             \
	do {                                                                                       \
		if (col) {                                                                         \
			names[n] = (col);                                                          \
			roles[n++] = (role);                                                       \
		}                                                                                  \
	} while (0)
	for (i = 0; i < cfg->n_numeric; i++)
		ADD(cfg->numeric[i], "features.numeric");
	for (i = 0; i < cfg->n_categorical; i++)
		ADD(cfg->categorical[i], "features.categorical");
	ADD(cfg->target_column, "target.column");
	ADD(cfg->exposure_column, "exposure.column");
	ADD(cfg->promo_column, "promotion.column");
	ADD(cfg->id_column, "id_column");
	/* The split column may also be a feature (a time index, say): it plays no other role. */
#undef ADD
	for (i = 0; i < cfg->n_log && !rc; i++) {
		/* a log column is either one of the numeric features or a column of its own */
		if (!dataset_listed(cfg->numeric, cfg->n_numeric, cfg->log[i]) && n < cap) {
			names[n] = cfg->log[i];
			roles[n++] = "features.log";
		}
		if (dataset_listed(cfg->log, i, cfg->log[i]))
			rc = error_set(err, ERROR_INVALID, "features.log",
				       "features.log: \"%s\" is listed twice", cfg->log[i]);
	}
	for (i = 0; i < n && !rc; i++)
		for (j = i + 1; j < n && !rc; j++)
			if (!strcmp(names[i], names[j]))
				rc = error_set(err, ERROR_INVALID, roles[j],
					       "column \"%s\" is named twice (%s and %s)", names[i],
					       roles[i], roles[j]);
	free(names);
	free(roles);
	if (rc)
		return rc;
	if (cfg->n_numeric + cfg->n_categorical + cfg->n_log == 0)
		return error_set(err, ERROR_INVALID, "features", "features: name at least one column");
	if (!dataset_listed(cfg->numeric, cfg->n_numeric, cfg->price_column))
		return error_set(err, ERROR_INVALID, "promotion.price_column",
				 "promotion.price_column: \"%s\" must also be a numeric feature",
				 cfg->price_column);
	if (cfg->unit_cost_column && !dataset_listed(cfg->numeric, cfg->n_numeric, cfg->unit_cost_column))
		return error_set(err, ERROR_INVALID, "promotion.unit_cost_column",
				 "promotion.unit_cost_column: \"%s\" must also be a numeric feature",
				 cfg->unit_cost_column);
	return ERROR_OK;
}

bool dataset_listed(char *const *list, size_t n, const char *name)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (!strcmp(list[i], name))
			return true;
	return false;
}

bool dataset_is_required(const struct dataset_config *cfg, const char *name)
{
	return dataset_listed(cfg->required, cfg->n_required, name);
}

/* features.required names features (numeric, log or categorical), each once. */
static enum error_code check_required(const struct dataset_config *cfg, struct error *err)
{
	size_t i;

	for (i = 0; i < cfg->n_required; i++) {
		const char *name = cfg->required[i];
		if (dataset_listed(cfg->required, i, name))
			return error_set(err, ERROR_INVALID, "features.required",
					 "features.required: \"%s\" is listed twice", name);
		if (!dataset_listed(cfg->numeric, cfg->n_numeric, name) && !dataset_listed(cfg->log, cfg->n_log, name) &&
		    !dataset_listed(cfg->categorical, cfg->n_categorical, name))
			return error_set(err, ERROR_INVALID, "features.required",
					 "features.required: \"%s\" is not one of features.numeric, features.log "
					 "or features.categorical",
					 name);
	}
	return ERROR_OK;
}

enum error_code dataset_config_parse(const char *text, size_t len, struct dataset_config *cfg,
				     struct error *err)
{
	static const char *const keys[] = {"name", "id_column", "features", "target", "exposure",
					   "promotion", "split", "model", "cleaning", NULL};
	static const char *const feature_keys[] = {"numeric", "categorical", "log", "required", NULL};
	static const char *const target_keys[] = {"column", "transform", NULL};
	static const char *const exposure_keys[] = {"column", NULL};
	json_error_t jerr;
	json_t *root, *features = NULL, *target = NULL, *exposure = NULL;
	const char *transform = "log1p";
	enum error_code rc;

	memset(cfg, 0, sizeof *cfg);
	root = jsonutil_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return json_error_code(&jerr) == json_error_out_of_memory || !jerr.text[0]
			       ? error_nomem(err, "the dataset config")
			       : error_set(err, ERROR_PARSE, NULL, "dataset config: %s at line %d, column %d",
					   jerr.text, jerr.line, jerr.column);
	rc = jsonutil_expect_object(root, keys, "", err);
	if (!rc)
		rc = spec_get_name(root, "name", "", true, &cfg->name, err);
	if (!rc)
		rc = spec_get_name(root, "id_column", "", false, &cfg->id_column, err);
	if (!rc)
		rc = jsonutil_get_typed(root, "features", "", true, JSON_OBJECT, &features, err);
	if (!rc)
		rc = jsonutil_expect_object(features, feature_keys, "features", err);
	if (!rc)
		rc = name_list(features, "numeric", "features", &cfg->numeric, &cfg->n_numeric, err);
	if (!rc)
		rc = name_list(features, "categorical", "features", &cfg->categorical,
			       &cfg->n_categorical, err);
	if (!rc)
		rc = name_list(features, "log", "features", &cfg->log, &cfg->n_log, err);
	if (!rc)
		rc = name_list(features, "required", "features", &cfg->required, &cfg->n_required, err);
	if (!rc)
		rc = jsonutil_get_typed(root, "target", "", true, JSON_OBJECT, &target, err);
	if (!rc)
		rc = jsonutil_expect_object(target, target_keys, "target", err);
	if (!rc)
		rc = spec_get_name(target, "column", "target", true, &cfg->target_column, err);
	if (!rc)
		rc = jsonutil_get_string(target, "transform", "target", false, &transform, err);
	if (!rc) {
		if (!strcmp(transform, "log1p"))
			cfg->transform = SPEC_TRANSFORM_LOG1P;
		else if (!strcmp(transform, "none"))
			cfg->transform = SPEC_TRANSFORM_NONE;
		else
			rc = error_set(err, ERROR_INVALID, "target.transform",
				       "target.transform: \"%s\" is not one of log1p, none", transform);
	}
	if (!rc)
		rc = jsonutil_get_typed(root, "exposure", "", true, JSON_OBJECT, &exposure, err);
	if (!rc)
		rc = jsonutil_expect_object(exposure, exposure_keys, "exposure", err);
	if (!rc)
		rc = spec_get_name(exposure, "column", "exposure", true, &cfg->exposure_column, err);
	if (!rc)
		rc = parse_promotion(root, cfg, err);
	if (!rc)
		rc = parse_split(root, cfg, err);
	if (!rc)
		rc = parse_model(root, cfg, err);
	if (!rc)
		rc = parse_cleaning(root, cfg, err);
	if (!rc)
		rc = check_columns(cfg, err);
	if (!rc)
		rc = check_required(cfg, err);
	if (!rc && cfg->interval_by && !dataset_listed(cfg->categorical, cfg->n_categorical, cfg->interval_by))
		rc = error_set(err, ERROR_INVALID, "model.interval_by",
			       "model.interval_by: \"%s\" is not one of features.categorical", cfg->interval_by);
	json_decref(root);
	if (rc) {
		dataset_config_done(cfg);
		error_prefix(err, "dataset config");
	}
	return rc;
}

enum error_code dataset_config_load(const char *path, struct dataset_config *cfg, char **keep,
				    struct error *err)
{
	char *text;
	size_t len;
	enum error_code rc = util_read_file(path, DATASET_CONFIG_MAX, &text, &len, err);

	memset(cfg, 0, sizeof *cfg);
	if (rc)
		return rc;
	rc = dataset_config_parse(text, len, cfg, err);
	if (keep && !rc)
		*keep = text;
	else
		free(text);
	return rc;
}

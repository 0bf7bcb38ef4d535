/* models_view — see include/shelfcast/models_view.h. */
#include "shelfcast/models_view.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/jsonutil.h"
#include "shelfcast/util.h"

static json_t *headline_metrics(const json_t *metrics)
{
	json_t *sales = json_object_get(metrics, "sales"), *expo = json_object_get(metrics, "exposure"),
	       *base = json_object_get(metrics, "baselines"), *out = json_object();
	json_t *v;

	if (!out)
		return NULL;
#define COPY(key, obj, field)                                                                    \
	do {                                                                                     \
		v = json_object_get((obj), (field));                                             \
		json_object_set_new(out, (key), json_is_number(v) ? json_real(json_number_value(v)) \
								  : json_null());                \
	} while (0)
	COPY("sales_r2_log", sales, "r2_log");
	COPY("sales_wmape", sales, "wmape");
	COPY("exposure_auc", expo, "auc");
	COPY("exposure_log_loss", expo, "log_loss");
	COPY("baseline_linear_r2_log", json_object_get(base, "linear"), "r2_log");
	COPY("baseline_logistic_auc", json_object_get(base, "logistic"), "auc");
#undef COPY
	return out;
}

/* Is numeric input i the first of its name (a numeric feature may feed several inputs)? */
static bool first_of_name(const struct spec *spec, size_t i)
{
	size_t j;

	for (j = 0; j < i && strcmp(spec->numeric[j].name, spec->numeric[i].name); j++)
		;
	return j == i;
}

/* What a caller sends: each feature once. */
static json_t *model_inputs(const struct model *m)
{
	json_t *arr = json_array();
	size_t i;
	for (i = 0; arr && i < m->spec.n_numeric; i++)
		if (first_of_name(&m->spec, i))
			json_array_append_new(arr, json_pack("{s:s, s:s, s:b}", "name", m->spec.numeric[i].name,
							     "type", "numeric", "required",
							     m->spec.numeric[i].required));
	for (i = 0; arr && i < m->spec.n_categorical; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:b}", "name", m->spec.categorical[i].name,
						     "type", "categorical", "required",
						     m->spec.categorical[i].required));
	return arr;
}

static json_t *model_levels(const struct model *m)
{
	json_t *arr = json_array();
	size_t k;
	for (k = 0; arr && k < m->spec.n_levels; k++)
		json_array_append_new(arr, json_pack("{s:I, s:f, s:f}", "level",
						     (json_int_t)m->spec.levels[k].level, "discount",
						     m->spec.levels[k].discount, "cost",
						     m->spec.levels[k].cost));
	return arr;
}

static const json_t *find_catalog_version(const json_t *entry, int version)
{
	const json_t *v;
	size_t i;
	json_array_foreach(json_object_get(entry, "versions"), i, v)
		if (json_integer_value(json_object_get(v, "version")) == version)
			return v;
	return NULL;
}

/* One /v1/models entry from what the catalog says (may be NULL) and what this process serves (may be NULL). */
static json_t *model_entry(const json_t *cat, const struct model *m, const char *name, bool detail)
{
	json_t *o = json_object(), *active = json_object_get(cat, "active_version");
	const json_t *version_row = NULL;
	json_t *metrics = NULL;
	char ts[40];
	const char *status;

	if (!o)
		return NULL;
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "description",
			    json_string(json_string_value(json_object_get(cat, "description"))
					? json_string_value(json_object_get(cat, "description"))
					: ""));
	json_object_set_new(o, "active_version", json_is_integer(active) ? json_copy(active) : json_null());
	json_object_set_new(o, "serving_version", m ? json_integer(m->version) : json_null());
	if (m) {
		util_format_time(ts, sizeof ts, m->loaded_at);
		json_object_set_new(o, "loaded_at", json_string(ts));
	} else {
		json_object_set_new(o, "loaded_at", json_null());
	}
	if (!m)
		status = "not_loaded";
	else if (!cat || (json_is_integer(active) && json_integer_value(active) == m->version))
		status = "serving";
	else
		status = "stale";
	json_object_set_new(o, "status", json_string(status));
	if (m && m->metrics_json)
		metrics = jsonutil_loadb(m->metrics_json, strlen(m->metrics_json), 0, NULL);
	else if (cat && json_is_integer(active) &&
		 (version_row = find_catalog_version(cat, (int)json_integer_value(active))))
		metrics = json_incref(json_object_get(version_row, "metrics"));
	json_object_set_new(o, "metrics", headline_metrics(metrics));
	json_decref(metrics);
	if (m) {
		json_object_set_new(o, "objective", json_string(spec_objective_name(m->spec.objective)));
		json_object_set_new(o, "promotion_levels", model_levels(m));
		/* one model asked for: every input with what a caller needs to know */
		json_object_set_new(o, "inputs", detail ? models_view_inputs(m) : model_inputs(m));
	} else {
		json_object_set_new(o, "objective", json_null());
		json_object_set_new(o, "promotion_levels", json_array());
		json_object_set_new(o, "inputs", json_array());
	}
	if (detail) {
		json_t *versions = json_array();
		const json_t *v;
		size_t i;
		json_array_foreach(json_object_get(cat, "versions"), i, v)
			json_array_append_new(versions, json_deep_copy(v));
		json_object_set_new(o, "versions", versions);
	}
	return o;
}

/* The served model called name, or NULL. */
static const struct model *served(struct model *const *models, size_t n, const char *name)
{
	size_t j;
	for (j = 0; j < n; j++)
		if (!strcmp(models[j]->name, name))
			return models[j];
	return NULL;
}

/* Does the catalog list a model called name? */
static bool listed(const json_t *cat_models, const char *name)
{
	const json_t *e;
	size_t i;
	json_array_foreach(cat_models, i, e) {
		const char *n = json_string_value(json_object_get(e, "name"));
		if (n && !strcmp(n, name))
			return true;
	}
	return false;
}

json_t *models_view(const char *catalog_text, struct model *const *models, size_t n,
		    const char *only, bool *found)
{
	json_t *catalog = catalog_text ? jsonutil_loadb(catalog_text, strlen(catalog_text), 0, NULL) : NULL;
	json_t *list = json_array(), *cat_models = json_object_get(catalog, "models"), *e, *out;
	size_t i, j;

	*found = false;
	/* Every model the registry knows, then any served model it does not list (no catalog yet). */
	json_array_foreach(cat_models, i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		if (!name || (only && strcmp(only, name)))
			continue;
		json_array_append_new(list, model_entry(e, served(models, n, name), name, only != NULL));
		*found = true;
	}
	for (j = 0; j < n; j++) {
		if (listed(cat_models, models[j]->name) || (only && strcmp(only, models[j]->name)))
			continue;
		json_array_append_new(list, model_entry(NULL, models[j], models[j]->name, only != NULL));
		*found = true;
	}
	json_decref(catalog);
	if (!only)
		return json_pack("{s:o}", "models", list);
	out = *found ? json_incref(json_array_get(list, 0)) : NULL;
	json_decref(list);
	return out;
}

void models_view_mark_default(json_t *view, const char *default_name)
{
	json_t *list = json_object_get(view, "models"), *e;
	size_t i;

	if (!json_is_array(list)) { /* one model's entry */
		const char *name = json_string_value(json_object_get(view, "name"));
		if (name)
			json_object_set_new(view, "default", json_boolean(default_name &&
									   !strcmp(name, default_name)));
		return;
	}
	json_array_foreach(list, i, e)
		models_view_mark_default(e, default_name);
}

void models_view_add_live(json_t *view, const char *live_text)
{
	json_t *live = live_text ? jsonutil_loadb(live_text, strlen(live_text), 0, NULL) : NULL, *v;
	json_t *mine = json_object_get(json_object_get(live, "models"),
				       json_string_value(json_object_get(view, "name")));
	size_t i;

	json_array_foreach(json_object_get(view, "versions"), i, v) {
		char key[16];
		json_t *figures;
		snprintf(key, sizeof key, "%lld", (long long)json_integer_value(json_object_get(v, "version")));
		if ((figures = json_object_get(mine, key)))
			json_object_set(v, "live", figures);
	}
	json_decref(live);
}

/* x to 7 significant digits (the spec's float32 precision): no float noise such as exp(1.5)'s 17 digits. */
static json_t *published(double x)
{
	char text[32];
	snprintf(text, sizeof text, "%.7g", x);
	return json_real(strtod(text, NULL));
}

/* A numeric feature's published facts, in the caller's (untransformed) units. */
static json_t *numeric_input(const struct model *m, const char *name)
{
	const struct spec_numeric *raw = NULL, *lg = NULL;
	json_t *o, *transforms = json_array();
	size_t i;

	for (i = 0; i < m->spec.n_numeric; i++) {
		const struct spec_numeric *f = &m->spec.numeric[i];
		if (strcmp(f->name, name))
			continue;
		if (f->transform == SPEC_INPUT_LOG && !lg)
			lg = f;
		else if (f->transform != SPEC_INPUT_LOG && !raw)
			raw = f;
		json_array_append_new(transforms, json_string(spec_input_transform_name(f->transform)));
	}
	if (!raw && !lg) {
		json_decref(transforms);
		return NULL;
	}
	o = json_pack("{s:s, s:s, s:b, s:o}", "name", name, "type", "numeric", "required",
		      (raw ? raw : lg)->required, "transforms", transforms);
	if (!o)
		return NULL;
	/* the identity input's figures; a log-only feature's, back in the caller's units */
	json_object_set_new(o, "default", (raw ? raw : lg)->required ? json_null()
					  : published(raw ? raw->def : exp(lg->def)));
	if (raw ? raw->has_clip : lg->has_clip)
		json_object_set_new(o, "range", json_pack("[o, o]", published(raw ? raw->clip_lo : exp(lg->clip_lo)),
							  published(raw ? raw->clip_hi : exp(lg->clip_hi))));
	else
		json_object_set_new(o, "range", json_null());
	return o;
}

/* A categorical feature's published facts: its vocabulary when full or small, else its size and where to read it. */
static json_t *categorical_input(const struct model *m, const struct spec_categorical *f, bool full)
{
	json_t *o = json_pack("{s:s, s:s, s:b, s:I}", "name", f->name, "type", "categorical", "required",
			      f->required, "vocabulary_size", (json_int_t)f->n_vocabulary);
	size_t k;

	if (!o)
		return NULL;
	if (full || f->n_vocabulary <= MODELS_VIEW_VOCABULARY_INLINE) {
		json_t *v = json_array();
		for (k = 0; v && k < f->n_vocabulary; k++)
			json_array_append_new(v, json_string(f->vocabulary[k]));
		json_object_set_new(o, "vocabulary", v);
	} else {
		char url[64 + 2 * MODEL_NAME_MAX + 256];
		snprintf(url, sizeof url, "/v1/models/%s/inputs/%s", m->name, f->name);
		json_object_set_new(o, "vocabulary_url", json_string(url));
	}
	return o;
}

json_t *models_view_input(const struct model *m, const char *name, bool full)
{
	size_t i;

	for (i = 0; i < m->spec.n_categorical; i++)
		if (!strcmp(m->spec.categorical[i].name, name))
			return categorical_input(m, &m->spec.categorical[i], full);
	return numeric_input(m, name);
}

json_t *models_view_inputs(const struct model *m)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < m->spec.n_numeric; i++)
		if (first_of_name(&m->spec, i))
			json_array_append_new(arr, numeric_input(m, m->spec.numeric[i].name));
	for (i = 0; arr && i < m->spec.n_categorical; i++)
		json_array_append_new(arr, categorical_input(m, &m->spec.categorical[i], false));
	return arr;
}

/* A figure, or null when there is none yet (NAN). */
static json_t *figure(double x)
{
	return isnan(x) ? json_null() : json_real(x);
}

/* A tracked model's drift features and *items: the window's figures (w NULL: none made yet). */
static json_t *drift_features_json(const struct model *m, struct drift_window *w, size_t *items)
{
	size_t F = drift_features(&m->spec), f;
	struct drift_stat *st = calloc(F + 1, sizeof *st);
	json_t *arr = json_array();

	*items = 0;
	if (!st || !arr) {
		free(st);
		json_decref(arr);
		return NULL;
	}
	for (f = 0; f < F; f++)
		st[f] = (struct drift_stat){NAN, NAN, NAN, NAN, 0};
	if (w)
		drift_window_stats(w, st, items);
	for (f = 0; f < F; f++) {
		bool cat = drift_feature_is_categorical(&m->spec, f);
		double ref_missing = cat ? m->spec.drift_categorical[f - m->spec.n_drift_numeric].missing
					 : m->spec.drift_numeric[f].missing;
		json_array_append_new(
			arr, json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:I, s:f}", "name",
				       drift_feature_name(&m->spec, f), "type", cat ? "categorical" : "numeric",
				       "psi", figure(st[f].psi), "missing_rate", figure(st[f].missing_rate),
				       "out_of_range_rate", figure(st[f].out_of_range_rate), "unknown_rate",
				       figure(st[f].unknown_rate), "values", (json_int_t)st[f].values,
				       "reference_missing_rate", ref_missing));
	}
	free(st);
	return arr;
}

void models_view_add_drift(json_t *entry, struct model *const *models, size_t n, size_t window)
{
	const char *name = json_string_value(json_object_get(entry, "name")), *status;
	const struct model *m = name ? served(models, n, name) : NULL;
	size_t items = 0;
	json_t *features;

	if (!m)
		status = "not_loaded";
	else if (!m->spec.has_drift)
		status = "no_reference";
	else if (!window)
		status = "off";
	else
		status = "tracking";
	features = m && m->spec.has_drift && window
			   ? drift_features_json(m, model_drift_peek(m), &items)
			   : json_array();
	json_object_set_new(
		entry, "drift",
		json_pack("{s:s, s:o, s:I, s:I, s:I, s:f, s:o, s:o}", "status", status, "version",
			  m ? json_integer(m->version) : json_null(), "window", (json_int_t)window,
			  "items", (json_int_t)items, "min_values",
			  (json_int_t)(window < DRIFT_MIN_VALUES ? window : DRIFT_MIN_VALUES), "epsilon",
			  DRIFT_EPSILON, "reference_rows",
			  m && m->spec.has_drift ? json_integer((json_int_t)m->spec.drift_rows) : json_null(),
			  "features", features));
}

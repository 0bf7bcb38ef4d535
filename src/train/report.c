/* report — see include/shelfcast/report.h. */
#include "shelfcast/report.h"

#include <stdbool.h>

#include "build_config.h"

json_t *report_metrics(const struct report_scores *s)
{
	return json_pack("{s:o, s:o, s:{s:o, s:o}, s:I, s:f, s:f}", "sales",
			 evaluate_sales_json(&s->sales), "exposure", evaluate_exposure_json(&s->exposure),
			 "baselines", "linear", evaluate_sales_json(&s->linear), "logistic",
			 evaluate_exposure_json(&s->logistic), "test_rows", (json_int_t)s->n_test,
			 "interval_coverage", s->interval_coverage, "interval_mean_width_log",
			 s->interval_mean_width_log);
}

/* Adds key: value to o (the value taken); false once anything failed. */
static bool put(json_t *o, const char *key, json_t *value)
{
	return value && json_object_set_new(o, key, value) == 0;
}

static bool put_count(json_t *o, const char *key, size_t n)
{
	return put(o, key, json_integer((json_int_t)n));
}

/* How many rows were read, dropped in cleaning, and used in each part. */
static json_t *rows_json(const struct table *t, const struct split *sp)
{
	const struct table_stats *s = &t->stats;
	json_t *o = json_object();

	if (o && put_count(o, "read", s->rows_read) &&
	    put_count(o, "duplicates_dropped", s->duplicates) &&
	    put_count(o, "target_missing_dropped", s->target_missing) &&
	    put_count(o, "target_negative_dropped", s->target_negative) &&
	    put_count(o, "target_nonfinite_dropped", s->target_nonfinite) &&
	    put_count(o, "label_level_or_split_missing_dropped", s->missing_required) &&
	    put_count(o, "nonfinite_feature_values", s->nonfinite_values) &&
	    put_count(o, "used", t->n_rows) && put_count(o, "train", sp->n_train) &&
	    put_count(o, "validation", sp->n_valid) && put_count(o, "test", sp->n_test))
		return o;
	json_decref(o);
	return NULL;
}

/* The model settings the run used. */
static json_t *model_json(const struct dataset_config *cfg)
{
	json_t *o = json_object(), *hidden = json_array();
	size_t j;

	if (!o || !put(o, "hidden", hidden)) {
		json_decref(o);
		return NULL;
	}
	for (j = 0; j < cfg->n_hidden; j++)
		if (json_array_append_new(hidden, json_integer((json_int_t)cfg->hidden[j]))) {
			json_decref(o);
			return NULL;
		}
	if (put_count(o, "batch_size", cfg->batch_size) &&
	    put(o, "learning_rate", json_real(cfg->learning_rate)) &&
	    put(o, "patience", json_integer(cfg->patience)) &&
	    put(o, "weight_decay", json_real(cfg->weight_decay)) &&
	    put(o, "exposure_weight", json_real(cfg->exposure_weight)) &&
	    put(o, "validation_fraction", json_real(cfg->validation_fraction)) &&
	    put(o, "ema", json_real(cfg->ema)) &&
	    put(o, "validation", json_string(cfg->validation_random ? "random" : "latest")) &&
	    put_count(o, "log_inputs", cfg->n_log) && put(o, "refit", json_boolean(cfg->refit)) &&
	    put_count(o, "members", cfg->members) && put(o, "interval", json_real(cfg->interval)) &&
	    put(o, "recent_fraction", json_real(cfg->recent_fraction)) &&
	    put(o, "recent_weight", json_integer(cfg->recent_weight)) &&
	    put(o, "calibration_fraction", json_real(cfg->calibration_fraction)) &&
	    put(o, "interval_by_shrink", json_real(cfg->interval_by_shrink)))
		return o;
	json_decref(o);
	return NULL;
}

/* {"feature": rows of the training part that trained its unknown slot, ...} */
static json_t *unknown_slot_rows_json(const struct spec *spec, const size_t *counts)
{
	json_t *o = json_object();
	size_t j;

	for (j = 0; o && j < spec->n_categorical; j++)
		if (!put_count(o, spec->categorical[j].name, counts[j])) {
			json_decref(o);
			return NULL;
		}
	return o;
}

json_t *report_training(const struct dataset_config *cfg, const struct table *t,
			const struct split *sp, const struct fit_report *fit,
			const struct learn_outcome *learned, const struct spec *spec,
			const size_t *unknown_slot_rows, json_t *ensemble, double duration_seconds)
{
	json_t *o = json_object();

	if (o && put(o, "rows", rows_json(t, sp)) &&
	    put_count(o, "winsorized_values", fit->winsorized) &&
	    put(o, "winsorize", json_pack("[f, f]", cfg->winsor_lo, cfg->winsor_hi)) &&
	    put(o, "rare_categories_to_unknown", json_incref(fit->rare)) &&
	    put(o, "vocabulary_sizes", json_incref(fit->vocab)) &&
	    put(o, "seed", json_integer((json_int_t)cfg->seed)) &&
	    put(o, "epochs_run", json_integer(learned->epochs_run)) &&
	    put(o, "best_epoch", json_integer(learned->best_epoch)) &&
	    put(o, "duration_seconds", json_real(duration_seconds)) &&
	    put(o, "data_checksum", json_string(t->checksum)) &&
	    put(o, "shelfcast_version", json_string(SHELFCAST_VERSION)) &&
	    put(o, "dataset", json_string(cfg->name)) && put(o, "model", model_json(cfg)) &&
	    put(o, "unknown_slot_rows", unknown_slot_rows_json(spec, unknown_slot_rows)) &&
	    put(o, "ensemble", json_incref(ensemble)))
		return o;
	json_decref(o);
	return NULL;
}

/*
 * fit — the encoder's statistics fitted on the training rows only, as a
 * spec ready for encoder_new:
 *   numeric inputs (every numeric column as it is, then the log ones):
 *     winsorizing bounds at the configured quantiles, mean and std of the
 *     clipped values (std 1 when constant), missing values encode as the
 *     mean;
 *   categorical inputs: the values seen at least min_count times, most
 *     frequent first (ties by value), the rest mapped to "unknown";
 *   the target: transformed (heads_transform), then its mean and std;
 *   the rest (columns, levels, objective, architecture) from the config.
 *
 * Thread-safety: pure; the table is read-only.
 */
#ifndef SHELFCAST_FIT_H
#define SHELFCAST_FIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "shelfcast/dataset.h"
#include "shelfcast/encoder.h"
#include "shelfcast/error.h"
#include "shelfcast/spec.h"
#include "shelfcast/table.h"

/* What fitting did to the data, for the training report. */
struct fit_report {
	size_t winsorized; /* numeric values clipped to their bounds */
	json_t *rare;      /* owned: feature -> count of values mapped to unknown */
	json_t *vocab;     /* owned: feature -> vocabulary size */
};

/*
 * Fit spec (new: spec_done it) on rows[0..n) of t; target_col: the table
 * column of cfg->target_column.  rep is filled (fit_report_done it, on
 * failure too).
 */
enum error_code fit_spec(const struct dataset_config *cfg, const struct table *t, int target_col,
			 const size_t *rows, size_t n, struct spec *spec, struct fit_report *rep,
			 struct error *err);
void fit_report_done(struct fit_report *rep);

/*
 * The spec's drift_reference (spec.h) from rows[0..n) of t, the training
 * part: per numeric feature (its raw values, once for a feature read raw
 * and through log) the SPEC_DRIFT_BINS - 1 inner quantile edges of its
 * non-missing values and each bin's share (drift_bin); per categorical
 * input each slot's share as enc (over spec) encodes the values, rare ones
 * in the unknown slot; the missing shares.  Replaces any reference.
 */
enum error_code fit_drift_reference(struct spec *spec, const struct encoder *enc,
				    const struct table *t, const size_t *rows, size_t n,
				    struct error *err);

/*
 * What a spec takes from the config as it is (columns, levels, objective,
 * hidden layers) into spec, whose statistics are fitted elsewhere (the
 * streaming export, export.h).  False when out of memory.
 */
bool fit_copy_config(struct spec *spec, const struct dataset_config *cfg);

/*
 * The vocabulary rule, on counts taken elsewhere: of the n values
 * strings[i] seen counts[i] times, those seen at least min_count times,
 * most frequent first (ties by value), into f->vocabulary (new); *rare: the
 * values seen but left out.
 */
enum error_code fit_vocabulary(struct spec_categorical *f, char *const *strings, const size_t *counts,
			       size_t n, size_t min_count, size_t *rare, struct error *err);

#endif

/*
 * drift — input drift: how far the values a served model version is asked
 * about have moved from its training part's (the spec's drift_reference).
 *
 * Per feature, not per input (a feature read raw and through log is one
 * histogram, over its raw values; the Prometheus label is `feature`):
 *   numeric:     SPEC_DRIFT_BINS bins between the reference's inner quantile
 *                edges (drift_bin), and the out-of-range share: values that
 *                an input of the feature clipped to its winsorizing bounds
 *                (the encoder's report);
 *   categorical: one bin per vocabulary entry and one for the unknown slot,
 *                and the unknown share: values given but not in the
 *                vocabulary.
 * A missing value (absent or null) counts in the missing share only, never
 * in a bin, on both sides: the reference's shares are of the training
 * part's non-missing values too.  The rates are of every item in the window.
 *
 *   PSI = sum over bins of (a - e) ln(a / e)
 * with a the window's share of the feature's non-missing values in the bin,
 * e the reference's, each floored at DRIFT_EPSILON: a bin that is empty on
 * one side (a reference bin emptied by tied edges, a category never seen)
 * adds a bounded amount instead of infinity.  PSI is NAN (null, no gauge)
 * until the window holds min(DRIFT_MIN_VALUES, window) non-missing values of
 * the feature: fewer make it noise.
 *
 * The window is a model version's last `window` scored items: a ring of one
 * record per item, one cell per feature, beside one counter per (feature,
 * slot).  A cell says which of its feature's counters the value counts in —
 * a numeric feature has 2 * SPEC_DRIFT_BINS + 1 (the bins in range, the
 * bins out of range, missing: one byte), a categorical one |vocabulary| + 2
 * (the slots with the unknown one, missing: a 4-byte counter index) — so an
 * item entering the full window adds one to its cells' counters and
 * subtracts one from those of the item it replaces, with no branch.  A
 * record is small (24 bytes for the OJ model's 17 features) so the window
 * stays in cache.  On the request path a worker's tally writes a request's
 * cells with no shared write, and drift_window_commit moves them into the
 * window under its mutex once the request has succeeded: one lock per
 * request, not per item.
 *
 * Thread-safety: a tally belongs to one thread at a time; the window
 * functions are safe from any thread.  A window borrows its spec, which
 * must outlive it (a model frees its window before its spec).
 */
#ifndef SHELFCAST_DRIFT_H
#define SHELFCAST_DRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shelfcast/encoder.h"
#include "shelfcast/spec.h"

#define DRIFT_EPSILON 1e-4
#define DRIFT_MIN_VALUES 1000
/* The default window (serve --drift-window) and the largest one. */
#define DRIFT_DEFAULT_WINDOW 10000
#define DRIFT_MAX_WINDOW 1000000


/* The bin of x: how many edges are <= x (bin k holds edges[k-1] <= x < edges[k]). */
static inline uint32_t drift_bin(const double edges[SPEC_DRIFT_BINS - 1], double x)
{
	uint32_t k = 0;
	size_t j;

	for (j = 0; j < SPEC_DRIFT_BINS - 1; j++) /* no branch: 9 compares beat a search */
		k += x >= edges[j];
	return k;
}

/*
 * PSI of live counts against reference shares: ref: (n_bins) shares,
 * counts: (n_bins).  NAN when the counts are all 0.
 */
double drift_psi(const double *ref, const uint32_t *counts, size_t n_bins);

/* The features drift is kept for: numeric ones (spec drift_numeric order), then categorical. */
size_t drift_features(const struct spec *spec);
const char *drift_feature_name(const struct spec *spec, size_t f);
bool drift_feature_is_categorical(const struct spec *spec, size_t f);

/* One request's items' cells (caller-owned; init, then begin/add per request). */
struct drift_tally {
	const struct spec *spec; /* the request's model's; NULL: not tallying */
	uint8_t *cells;          /* (keep, record): the request's last `keep` items, a ring */
	size_t record;           /* bytes of an item's cells: numeric ones, padded to 4, then categorical */
	size_t keep;             /* items kept: min(items in the request, window) */
	size_t room;             /* bytes cells has room for */
	size_t n;                /* items added */
	size_t at;               /* the byte of cells the next item's record goes to */
	uint32_t *slots;         /* (n_categorical): the encoder's slots of the item being added */
	uint32_t *offset;        /* (F + 1): each feature's first counter, then the counter count */
	uint32_t *input;         /* (n_drift_numeric): each numeric feature's first input */
	void *edges;             /* (n_drift_numeric): the edges padded for drift.c's vector compare */
	size_t room_features;    /* features the arrays above have room for */
};

void drift_tally_init(struct drift_tally *t);
void drift_tally_done(struct drift_tally *t);
/*
 * Start tallying a request of n_items items for spec, keeping at most
 * window of them.  False (and not tallying) when spec has no reference,
 * window is 0 or memory is short: drift is an observation, never a reason
 * to fail a request.
 */
bool drift_tally_begin(struct drift_tally *t, const struct spec *spec, size_t window, size_t n_items);
/* Stop tallying (what was added stays until the next begin). */
void drift_tally_stop(struct drift_tally *t);
/* Give back more than keep_bytes of memory (only while not tallying: the cells may still be read). */
void drift_tally_trim(struct drift_tally *t, size_t keep_bytes);
/*
 * The item the encoder just accepted: values (spec input order), the
 * numeric inputs it clipped (the encoder report's first-input indices), and
 * t->slots filled by the encoder (encoder_report.slots).
 */
void drift_tally_add(struct drift_tally *t, const struct encoder_value *values,
		     const uint32_t *clipped, size_t n_clipped);

struct drift_window;

/* New window over spec's reference keeping `window` items; NULL when spec has none, window is 0, or out of memory. */
struct drift_window *drift_window_new(const struct spec *spec, size_t window);
void drift_window_free(struct drift_window *w);
/* Move a tally's items (made for w's spec) into the window, oldest first. */
void drift_window_commit(struct drift_window *w, const struct drift_tally *t);

struct drift_stat {
	double psi;               /* NAN until min(DRIFT_MIN_VALUES, window) non-missing values */
	double missing_rate;      /* of the items in the window; NAN when it is empty */
	double out_of_range_rate; /* numeric; NAN for a categorical or an empty window */
	double unknown_rate;      /* categorical; NAN for a numeric or an empty window */
	uint32_t values;          /* non-missing values in the window */
};

/* The figures of every feature (out: drift_features(spec) entries), and the items held. */
void drift_window_stats(struct drift_window *w, struct drift_stat *out, size_t *items);

#endif

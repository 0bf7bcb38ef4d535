/* drift — see include/shelfcast/drift.h. */
#include "shelfcast/drift.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/util.h"

double drift_psi(const double *ref, const uint64_t *counts, size_t n_bins)
{
	uint64_t total = 0;
	double psi = 0;
	size_t i;

	for (i = 0; i < n_bins; i++)
		total += counts[i];
	if (!total)
		return NAN;
	for (i = 0; i < n_bins; i++) {
		double a = (double)counts[i] / (double)total, e = ref[i];
		a = a < DRIFT_EPSILON ? DRIFT_EPSILON : a;
		e = e < DRIFT_EPSILON ? DRIFT_EPSILON : e;
		psi += (a - e) * log(a / e);
	}
	return psi;
}

size_t drift_features(const struct spec *spec)
{
	return spec->has_drift ? spec->n_drift_numeric + spec->n_categorical : 0;
}

const char *drift_feature_name(const struct spec *spec, size_t f)
{
	return f < spec->n_drift_numeric ? spec->numeric[spec->drift_numeric[f].input].name
					 : spec->categorical[f - spec->n_drift_numeric].name;
}

bool drift_feature_is_categorical(const struct spec *spec, size_t f)
{
	return f >= spec->n_drift_numeric;
}

/* Bins of feature f: SPEC_DRIFT_BINS, or the vocabulary and the unknown slot. */
static size_t feature_bins(const struct spec *spec, size_t f)
{
	return f < spec->n_drift_numeric ? SPEC_DRIFT_BINS
					 : spec->categorical[f - spec->n_drift_numeric].n_vocabulary + 1;
}

void drift_tally_init(struct drift_tally *t)
{
	memset(t, 0, sizeof *t);
}

void drift_tally_done(struct drift_tally *t)
{
	if (!t)
		return;
	free(t->cells);
	free(t->slots);
	memset(t, 0, sizeof *t);
}

bool drift_tally_begin(struct drift_tally *t, const struct spec *spec, size_t window, size_t n_items)
{
	size_t F = drift_features(spec), keep = n_items < window ? n_items : window;

	t->spec = NULL;
	t->n = 0;
	if (!F || !keep)
		return false;
	if (keep * F > t->room) { /* keep <= DRIFT_MAX_WINDOW, F <= SPEC_MAX_FEATURES: no overflow */
		uint32_t *cells = util_alloc_array(keep * F, sizeof *cells);
		if (!cells)
			return false;
		free(t->cells);
		t->cells = cells;
		t->room = keep * F;
	}
	if (spec->n_categorical + 1 > t->slots_room) {
		uint32_t *slots = calloc(spec->n_categorical + 1, sizeof *slots);
		if (!slots)
			return false;
		free(t->slots);
		t->slots = slots;
		t->slots_room = spec->n_categorical + 1;
	}
	t->spec = spec;
	t->keep = keep;
	return true;
}

void drift_tally_stop(struct drift_tally *t)
{
	t->spec = NULL;
}

void drift_tally_trim(struct drift_tally *t, size_t keep_bytes)
{
	if (!t->spec && t->room * sizeof *t->cells > keep_bytes) {
		free(t->cells);
		t->cells = NULL;
		t->room = 0;
	}
}

void drift_tally_add(struct drift_tally *t, const struct encoder_value *values,
		     const uint32_t *clipped, size_t n_clipped)
{
	const struct spec *spec = t->spec;
	size_t F = drift_features(spec), k, j;
	uint32_t *cell = t->cells + (t->n % t->keep) * F;

	for (k = 0; k < spec->n_drift_numeric; k++) {
		const struct spec_drift_numeric *d = &spec->drift_numeric[k];
		const struct encoder_value *v = &values[d->input];
		cell[k] = v->kind == ENCODER_VALUE_NUMBER ? drift_bin(d->edges, v->number)
							  : DRIFT_CELL_MISSING;
	}
	/* rare: a clipped value's feature, found by its first input */
	for (j = 0; j < n_clipped; j++)
		for (k = 0; k < spec->n_drift_numeric; k++)
			if ((uint32_t)spec->drift_numeric[k].input == clipped[j])
				cell[k] |= DRIFT_CELL_OUT_OF_RANGE;
	cell += spec->n_drift_numeric;
	for (k = 0; k < spec->n_categorical; k++)
		cell[k] = values[spec->n_numeric + k].kind == ENCODER_VALUE_MISSING ? DRIFT_CELL_MISSING
										     : t->slots[k];
	t->n++;
}

struct drift_window {
	pthread_mutex_t lock;
	const struct spec *spec;
	size_t F, window;
	size_t n, head;          /* items held; the ring slot the next item goes to */
	uint32_t *ring;          /* (window, F) cells */
	uint64_t *counts;        /* per feature its bins, from offset[f] */
	size_t *offset;          /* (F + 1) */
	uint64_t *missing, *out_of_range; /* (F) */
};

struct drift_window *drift_window_new(const struct spec *spec, size_t window)
{
	size_t F = drift_features(spec), f;
	struct drift_window *w;

	if (!F || !window || window > DRIFT_MAX_WINDOW)
		return NULL;
	w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	pthread_mutex_init(&w->lock, NULL);
	w->spec = spec;
	w->F = F;
	w->window = window;
	w->ring = util_alloc_array(window * F, sizeof *w->ring);
	w->offset = calloc(F + 1, sizeof *w->offset);
	w->missing = calloc(F, sizeof *w->missing);
	w->out_of_range = calloc(F, sizeof *w->out_of_range);
	if (w->offset)
		for (f = 0; f < F; f++)
			w->offset[f + 1] = w->offset[f] + feature_bins(spec, f);
	w->counts = w->offset ? calloc(w->offset[F] + 1, sizeof *w->counts) : NULL;
	if (!w->ring || !w->offset || !w->missing || !w->out_of_range || !w->counts) {
		drift_window_free(w);
		return NULL;
	}
	return w;
}

void drift_window_free(struct drift_window *w)
{
	if (!w)
		return;
	pthread_mutex_destroy(&w->lock);
	free(w->ring);
	free(w->counts);
	free(w->offset);
	free(w->missing);
	free(w->out_of_range);
	free(w);
}

/* Add (by = 1) or remove (by = -1) one cell of feature f. */
static inline void count(struct drift_window *w, size_t f, uint32_t cell, int64_t by)
{
	if (cell & DRIFT_CELL_MISSING) {
		w->missing[f] += (uint64_t)by;
		return;
	}
	if (cell & DRIFT_CELL_OUT_OF_RANGE)
		w->out_of_range[f] += (uint64_t)by;
	w->counts[w->offset[f] + (cell & DRIFT_CELL_BIN)] += (uint64_t)by;
}

void drift_window_commit(struct drift_window *w, const struct drift_tally *t)
{
	size_t kept = t->n < t->keep ? t->n : t->keep, first = t->n - kept, i, f;

	if (!w || !kept || t->spec != w->spec)
		return;
	pthread_mutex_lock(&w->lock);
	for (i = 0; i < kept; i++) {
		const uint32_t *in = t->cells + ((first + i) % t->keep) * w->F;
		uint32_t *slot = w->ring + w->head * w->F;
		if (w->n == w->window) /* the oldest item leaves */
			for (f = 0; f < w->F; f++)
				count(w, f, slot[f], -1);
		else
			w->n++;
		for (f = 0; f < w->F; f++)
			count(w, f, in[f], 1);
		memcpy(slot, in, w->F * sizeof *slot);
		w->head = w->head + 1 == w->window ? 0 : w->head + 1;
	}
	pthread_mutex_unlock(&w->lock);
}

void drift_window_stats(struct drift_window *w, struct drift_stat *out, size_t *items)
{
	size_t need = w->window < DRIFT_MIN_VALUES ? w->window : DRIFT_MIN_VALUES, f;
	const struct spec *spec = w->spec;

	pthread_mutex_lock(&w->lock);
	*items = w->n;
	for (f = 0; f < w->F; f++) {
		const uint64_t *c = w->counts + w->offset[f];
		bool cat = drift_feature_is_categorical(spec, f);
		const double *ref = cat ? spec->drift_categorical[f - spec->n_drift_numeric].freq
					: spec->drift_numeric[f].freq;
		size_t bins = w->offset[f + 1] - w->offset[f];
		double n = (double)w->n;
		struct drift_stat *s = &out[f];

		s->values = w->n - w->missing[f];
		s->psi = s->values >= need ? drift_psi(ref, c, bins) : NAN;
		s->missing_rate = w->n ? (double)w->missing[f] / n : NAN;
		s->out_of_range_rate = !cat && w->n ? (double)w->out_of_range[f] / n : NAN;
		s->unknown_rate = cat && w->n ? (double)c[bins - 1] / n : NAN;
	}
	pthread_mutex_unlock(&w->lock);
}

size_t drift_window_size(const struct drift_window *w)
{
	return w->window;
}

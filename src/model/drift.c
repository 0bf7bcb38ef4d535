/* drift — see include/shelfcast/drift.h. */
#include "shelfcast/drift.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/util.h"

double drift_psi(const double *ref, const uint32_t *counts, size_t n_bins)
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

/*
 * A feature's counters (see drift.h), from its first: numeric, the bins in
 * range, the bins out of range, missing; categorical, the slots (the unknown
 * one last), missing.
 */
#define NUMERIC_OUT_OF_RANGE SPEC_DRIFT_BINS
#define NUMERIC_MISSING (2 * SPEC_DRIFT_BINS)

static size_t feature_counters(const struct spec *spec, size_t f)
{
	return f < spec->n_drift_numeric ? 2 * SPEC_DRIFT_BINS + 1
					 : spec->categorical[f - spec->n_drift_numeric].n_vocabulary + 2;
}

/* Bytes of an item's record: a byte per numeric feature, padded to 4, then 4 per categorical one. */
static size_t record_bytes(const struct spec *spec)
{
	return ((spec->n_drift_numeric + 3) & ~(size_t)3) + spec->n_categorical * sizeof(uint32_t);
}

/* An item's categorical cells in its record. */
static inline uint32_t *categorical_cells(uint8_t *record, size_t nn)
{
	return (uint32_t *)(void *)(record + ((nn + 3) & ~(size_t)3));
}

/* offset: (F + 1) each feature's first counter, then the count; false past 2^32 counters. */
static bool layout(const struct spec *spec, uint32_t *offset)
{
	size_t F = drift_features(spec), f, n = 0;

	for (f = 0; f < F; f++) {
		offset[f] = (uint32_t)n;
		n += feature_counters(spec, f);
		if (n > UINT32_MAX)
			return false;
	}
	offset[F] = (uint32_t)n;
	return true;
}

/*
 * The request path's drift_bin: the 9 edges padded with +inf to 10 and
 * compared two at a time (GCC/clang vector extensions: SSE2 on x86-64, NEON
 * on arm64); a compare yields -1 per lane where x >= edge, so minus the sum
 * is drift_bin's count, exactly (test_drift holds the two together).
 */
#define PADDED ((SPEC_DRIFT_BINS - 1 + 1) / 2 * 2) /* the edges, rounded up to even */
typedef double v2d __attribute__((vector_size(16)));
typedef int64_t v2i __attribute__((vector_size(16)));
struct padded {
	v2d e[PADDED / 2];
};

static inline uint32_t padded_bin(const struct padded *p, double x)
{
	v2d xv = {x, x};
	v2i acc = {0, 0};
	size_t j;

	for (j = 0; j < PADDED / 2; j++)
		acc += (v2i)(xv >= p->e[j]);
	return (uint32_t)-(acc[0] + acc[1]);
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
	free(t->offset);
	free(t->input);
	free(t->edges);
	memset(t, 0, sizeof *t);
}

/* Room for the per-feature arrays of n features; false when out of memory. */
static bool tally_room(struct drift_tally *t, size_t n)
{
	uint32_t *slots, *offset, *input;
	struct padded *edges;

	if (n <= t->room_features)
		return true;
	slots = calloc(n, sizeof *slots);
	offset = calloc(n, sizeof *offset);
	input = calloc(n, sizeof *input);
	edges = calloc(n, sizeof *edges);
	if (!slots || !offset || !input || !edges) {
		free(slots);
		free(offset);
		free(input);
		free(edges);
		return false;
	}
	free(t->slots);
	free(t->offset);
	free(t->input);
	free(t->edges);
	t->slots = slots;
	t->offset = offset;
	t->input = input;
	t->edges = edges;
	t->room_features = n;
	return true;
}

bool drift_tally_begin(struct drift_tally *t, const struct spec *spec, size_t window, size_t n_items)
{
	size_t F = drift_features(spec), keep = n_items < window ? n_items : window, k, j, R;
	struct padded *edges;

	t->spec = NULL;
	t->n = 0;
	t->at = 0;
	if (!F || !keep)
		return false;
	R = record_bytes(spec);
	if (keep * R > t->room) { /* keep <= DRIFT_MAX_WINDOW, F <= SPEC_MAX_FEATURES: no overflow */
		uint8_t *cells = util_alloc_array(keep, R);
		if (!cells)
			return false;
		free(t->cells);
		t->cells = cells;
		t->room = keep * R;
	}
	if (!tally_room(t, F + spec->n_categorical + 1) || !layout(spec, t->offset))
		return false;
	edges = t->edges;
	for (k = 0; k < spec->n_drift_numeric; k++) {
		t->input[k] = (uint32_t)spec->drift_numeric[k].input;
		for (j = 0; j < PADDED; j++)
			edges[k].e[j / 2][j % 2] = j < SPEC_DRIFT_BINS - 1 ? spec->drift_numeric[k].edges[j]
									 : INFINITY;
	}
	t->spec = spec;
	t->keep = keep;
	t->record = R;
	return true;
}

void drift_tally_stop(struct drift_tally *t)
{
	t->spec = NULL;
}

void drift_tally_trim(struct drift_tally *t, size_t keep_bytes)
{
	if (!t->spec && t->room > keep_bytes) {
		free(t->cells);
		t->cells = NULL;
		t->room = 0;
	}
}

void drift_tally_add(struct drift_tally *t, const struct encoder_value *values,
		     const uint32_t *clipped, size_t n_clipped)
{
	const struct spec *spec = t->spec;
	const struct padded *edges = t->edges;
	const uint32_t *off = t->offset, *input = t->input;
	size_t nn = spec->n_drift_numeric, nc = spec->n_categorical, k, j;
	uint8_t *cell = t->cells + t->at;
	uint32_t *cat = categorical_cells(cell, nn);

	for (k = 0; k < nn; k++) {
		const struct encoder_value *v = &values[input[k]];
		cell[k] = (uint8_t)(v->kind == ENCODER_VALUE_NUMBER ? padded_bin(&edges[k], v->number)
								    : NUMERIC_MISSING);
	}
	/* rare: a clipped value's feature, found by its first input */
	for (j = 0; j < n_clipped; j++)
		for (k = 0; k < nn; k++)
			if (input[k] == clipped[j])
				cell[k] += NUMERIC_OUT_OF_RANGE;
	for (k = 0; k < nc; k++)
		cat[k] = off[nn + k] + (values[spec->n_numeric + k].kind == ENCODER_VALUE_MISSING
						? (uint32_t)spec->categorical[k].n_vocabulary + 1
						: t->slots[k]);
	t->n++;
	t->at += t->record;
	if (t->at == t->keep * t->record) /* a ring of the request's last `keep` items */
		t->at = 0;
}

struct drift_window {
	pthread_mutex_t lock;
	const struct spec *spec;
	size_t F, window, record;
	size_t n, head;          /* items held; the ring slot the next item goes to */
	uint8_t *ring;           /* (window, record): the items' records, as a tally's */
	uint32_t *counts;        /* (offset[F]) */
	uint32_t *offset;        /* (F + 1): each feature's first counter */
};

struct drift_window *drift_window_new(const struct spec *spec, size_t window)
{
	size_t F = drift_features(spec);
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
	w->record = record_bytes(spec);
	w->ring = util_alloc_array(window, w->record);
	w->offset = calloc(F + 1, sizeof *w->offset);
	if (w->offset && layout(spec, w->offset))
		w->counts = calloc((size_t)w->offset[F] + 1, sizeof *w->counts);
	if (!w->ring || !w->counts) {
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
	free(w);
}

void drift_window_commit(struct drift_window *w, const struct drift_tally *t)
{
	size_t kept = t->n < t->keep ? t->n : t->keep, first = t->n - kept, nn, nc, R, i, k;
	uint32_t *counts;
	const uint32_t *off;

	if (!w || !kept || t->spec != w->spec)
		return;
	nn = w->spec->n_drift_numeric;
	nc = w->spec->n_categorical;
	R = w->record;
	counts = w->counts;
	off = w->offset;
	pthread_mutex_lock(&w->lock);
	for (i = 0; i < kept; i++) {
		uint8_t *in = t->cells + ((first + i) % t->keep) * R, *slot = w->ring + w->head * R;
		const uint32_t *in_cat = categorical_cells(in, nn);
		uint32_t *slot_cat = categorical_cells(slot, nn);
		if (w->n == w->window) { /* the oldest item leaves */
			for (k = 0; k < nn; k++)
				counts[off[k] + slot[k]]--;
			for (k = 0; k < nc; k++)
				counts[slot_cat[k]]--;
		} else {
			w->n++;
		}
		for (k = 0; k < nn; k++)
			counts[off[k] + in[k]]++;
		for (k = 0; k < nc; k++)
			counts[in_cat[k]]++;
		memcpy(slot, in, R);
		w->head = w->head + 1 == w->window ? 0 : w->head + 1;
	}
	pthread_mutex_unlock(&w->lock);
}

/* Feature f's figures from its counters c (w's lock held). */
static void feature_stat(const struct drift_window *w, size_t f, const uint32_t *c,
			 struct drift_stat *s)
{
	size_t need = w->window < DRIFT_MIN_VALUES ? w->window : DRIFT_MIN_VALUES, k;
	const struct spec *spec = w->spec;
	double n = (double)w->n;

	*s = (struct drift_stat){NAN, NAN, NAN, NAN, 0};
	if (!drift_feature_is_categorical(spec, f)) {
		uint32_t bins[SPEC_DRIFT_BINS], out = 0;
		for (k = 0; k < SPEC_DRIFT_BINS; k++) {
			bins[k] = c[k] + c[NUMERIC_OUT_OF_RANGE + k];
			out += c[NUMERIC_OUT_OF_RANGE + k];
		}
		s->values = (uint32_t)w->n - c[NUMERIC_MISSING];
		s->psi = s->values >= need ? drift_psi(spec->drift_numeric[f].freq, bins, SPEC_DRIFT_BINS)
					   : NAN;
		if (w->n) {
			s->missing_rate = (double)c[NUMERIC_MISSING] / n;
			s->out_of_range_rate = (double)out / n;
		}
	} else {
		size_t i = f - spec->n_drift_numeric, V = spec->categorical[i].n_vocabulary;
		s->values = (uint32_t)w->n - c[V + 1];
		s->psi = s->values >= need ? drift_psi(spec->drift_categorical[i].freq, c, V + 1) : NAN;
		if (w->n) {
			s->missing_rate = (double)c[V + 1] / n;
			s->unknown_rate = (double)c[V] / n;
		}
	}
}

void drift_window_stats(struct drift_window *w, struct drift_stat *out, size_t *items)
{
	size_t f;

	pthread_mutex_lock(&w->lock);
	*items = w->n;
	for (f = 0; f < w->F; f++)
		feature_stat(w, f, w->counts + w->offset[f], &out[f]);
	pthread_mutex_unlock(&w->lock);
}

/* splitstream — see include/shelfcast/splitstream.h. */
#include "shelfcast/splitstream.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/rng.h"
#include "shelfcast/util.h"

/* The splitmix64 increment of rng.c: draw k of a generator started at s is rng_next from s + k * GOLDEN. */
#define GOLDEN 0x9e3779b97f4a7c15ULL

const char *splitstream_part_name(enum splitstream_part p)
{
	static const char *const names[SPLITSTREAM_PARTS] = {"train", "validation", "test"};
	return p < SPLITSTREAM_PARTS ? names[p] : "?";
}

static uint64_t draw(uint64_t s0, uint64_t k)
{
	struct rng r = {s0 + k * GOLDEN};
	return rng_next(&r);
}

static bool bit_get(const uint64_t *bits, size_t i)
{
	return (bits[i / 64] >> (i % 64)) & 1;
}

/* A double's bits, made to sort as the number does (-0 as +0). */
static uint64_t order_bits(double v)
{
	uint64_t u;
	if (v == 0)
		v = 0;
	memcpy(&u, &v, sizeof u);
	return u >> 63 ? ~u : u | (1ULL << 63);
}

enum splitstream_part splitstream_part_of(const struct dataset_config *cfg, const struct splitstream *p,
					  struct splitstream_cursor *c, size_t row, double split_value)
{
	bool test = cfg->split_by_column ? split_value >= cfg->test_from : bit_get(p->test, row);
	uint64_t key;

	if (test)
		return SPLITSTREAM_TEST;
	key = cfg->validation_random ? draw(p->s0, p->key_base + c->m) >> 11 : order_bits(split_value);
	c->m++;
	if (key != p->cut.key)
		return key > p->cut.key ? SPLITSTREAM_VALIDATION : SPLITSTREAM_TRAIN;
	return c->ties++ >= p->cut.tie ? SPLITSTREAM_VALIDATION : SPLITSTREAM_TRAIN;
}

/* Positions -> tracked rows: linear probing, deletion by backward shift (Knuth's algorithm R). */
struct track {
	uint64_t *pos; /* UINT64_MAX: empty */
	uint32_t *row;
	size_t mask;
};

static size_t track_slot(const struct track *t, uint64_t pos)
{
	size_t i = (size_t)((pos * GOLDEN) >> 20) & t->mask;
	while (t->pos[i] != UINT64_MAX && t->pos[i] != pos)
		i = (i + 1) & t->mask;
	return i;
}

static void track_put(struct track *t, uint64_t pos, uint32_t row)
{
	size_t i = track_slot(t, pos);
	t->pos[i] = pos;
	t->row[i] = row;
}

/* Remove pos; its row into *row, false when untracked. */
static bool track_take(struct track *t, uint64_t pos, uint32_t *row)
{
	size_t i = track_slot(t, pos), j, k;

	if (t->pos[i] == UINT64_MAX)
		return false;
	*row = t->row[i];
	t->pos[i] = UINT64_MAX;
	for (j = (i + 1) & t->mask; t->pos[j] != UINT64_MAX; j = (j + 1) & t->mask) {
		k = (size_t)((t->pos[j] * GOLDEN) >> 20) & t->mask;
		/* move j back to the hole i unless its home k lies cyclically in (i, j] */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		t->pos[i] = t->pos[j];
		t->row[i] = t->row[j];
		t->pos[j] = UINT64_MAX;
		i = j;
	}
	return true;
}

/*
 * split.c's test rows for a fraction split: rng_shuffle's Fisher-Yates
 * (for i = n..2: swap a[i-1], a[draw % i]) puts the test rows in positions
 * [0, n_test); every step with i > n_test fixes position i-1 for good.  One
 * replay of those steps per block of SPLITSTREAM_TRACK_ROWS rows follows where
 * each row of the block is; those still in front at the end are the test
 * rows.  O(n / block * n) generator draws, memory for one block.
 */
static enum error_code plan_test_rows(struct splitstream *p, size_t block, struct error *err)
{
	size_t words = p->n / 64 + 1, cap = 1, a, i;
	struct track t = {0};
	enum error_code rc = ERROR_OK;

	p->test = calloc(words, sizeof *p->test);
	while (cap < 2 * block)
		cap *= 2;
	t.pos = util_alloc_array(cap, sizeof *t.pos);
	t.row = util_alloc_array(cap, sizeof *t.row);
	t.mask = cap - 1;
	if (!p->test || !t.pos || !t.row) {
		rc = error_nomem(err, "the split");
		goto out;
	}
	for (a = 0; a < p->n; a += block) {
		size_t b = p->n - a < block ? p->n : a + block;
		uint32_t r;
		memset(t.pos, 0xff, cap * sizeof *t.pos);
		for (i = a; i < b; i++)
			track_put(&t, i, (uint32_t)(i - a));
		for (i = p->n; i > p->n_test && i > 1; i--) {
			uint64_t j = draw(p->s0, p->n - i) % i, last = i - 1;
			bool moved;
			if (j == last) { /* a[i-1] stays: fixed outside the test part */
				track_take(&t, last, &r);
				continue;
			}
			moved = track_take(&t, last, &r);
			track_take(&t, j, &(uint32_t){0}); /* a[j] goes to i-1: fixed, not test */
			if (moved)
				track_put(&t, j, r);
		}
		for (i = 0; i < cap; i++)
			if (t.pos[i] != UINT64_MAX) {
				size_t row = a + t.row[i];
				p->test[row / 64] |= 1ULL << (row % 64);
			}
	}
out:
	free(t.pos);
	free(t.row);
	return rc;
}

/*
 * The validation cut for a random slice: the sorted position first =
 * n_all - n_valid of the keys draw(key_base + m) >> 11, m < n_all, found
 * by a radix select (16, 16, 16 and 5 bits of the 53), regenerating the
 * keys on every pass instead of storing them.
 */
static enum error_code plan_random_cut(struct splitstream *p, struct error *err)
{
	static const int widths[] = {16, 16, 16, 5};
	size_t *counts = calloc((size_t)1 << 16, sizeof *counts), rank = p->n_all - p->n_valid, m, b;
	uint64_t prefix = 0;
	int shift = 53, w;
	unsigned k;

	if (!counts)
		return error_nomem(err, "the split");
	for (k = 0; k < sizeof widths / sizeof *widths; k++) {
		int above = shift;
		w = widths[k];
		shift -= w;
		memset(counts, 0, ((size_t)1 << w) * sizeof *counts);
		for (m = 0; m < p->n_all; m++) {
			uint64_t key = draw(p->s0, p->key_base + m) >> 11;
			if (above == 53 || key >> above == prefix)
				counts[(key >> shift) & (((uint64_t)1 << w) - 1)]++;
		}
		for (b = 0; rank >= counts[b]; b++)
			rank -= counts[b];
		prefix = (prefix << w) | b;
	}
	p->cut.key = prefix;
	p->cut.tie = rank;
	free(counts);
	return ERROR_OK;
}

int splitstream_values_add(struct splitstream_values *v, double value)
{
	uint64_t key = order_bits(value);
	size_t i;

	if ((v->n + 1) * 2 > v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 1024;
		struct splitstream_values w = {calloc(cap, sizeof *w.key), calloc(cap, sizeof *w.count), cap, 0};
		if (v->n >= SPLITSTREAM_MAX_VALUES)
			return 1;
		if (!w.key || !w.count) {
			free(w.key);
			free(w.count);
			return -1;
		}
		for (i = 0; i < v->cap; i++)
			if (v->key[i]) {
				size_t j = (size_t)((v->key[i] * GOLDEN) >> 17) & (cap - 1);
				while (w.key[j])
					j = (j + 1) & (cap - 1);
				w.key[j] = v->key[i];
				w.count[j] = v->count[i];
			}
		w.n = v->n;
		free(v->key);
		free(v->count);
		*v = w;
	}
	i = (size_t)((key * GOLDEN) >> 17) & (v->cap - 1);
	while (v->key[i] && v->key[i] != key)
		i = (i + 1) & (v->cap - 1);
	if (!v->key[i]) {
		v->key[i] = key;
		v->n++;
	}
	v->count[i]++;
	return 0;
}

struct key_count {
	uint64_t key;
	size_t count;
};

static int by_key_bits(const void *a, const void *b)
{
	const struct key_count *x = a, *y = b;
	return x->key < y->key ? -1 : x->key > y->key;
}

static enum error_code plan_latest_cut(struct splitstream *p, const struct splitstream_values *v,
				       struct error *err)
{
	struct key_count *kc = calloc(v->n + 1, sizeof *kc);
	size_t rank = p->n_all - p->n_valid, i, k = 0;

	if (!kc)
		return error_nomem(err, "the split");
	for (i = 0; i < v->cap; i++)
		if (v->key[i])
			kc[k++] = (struct key_count){v->key[i], v->count[i]};
	qsort(kc, k, sizeof *kc, by_key_bits);
	for (i = 0; i < k && rank >= kc[i].count; i++)
		rank -= kc[i].count;
	p->cut.key = i < k ? kc[i].key : UINT64_MAX;
	p->cut.tie = rank;
	free(kc);
	return ERROR_OK;
}

enum error_code splitstream_plan(const struct dataset_config *cfg, size_t n, size_t n_test,
				 const struct splitstream_values *values, size_t track_rows,
				 struct splitstream *p, struct error *err)
{
	enum error_code rc;

	memset(p, 0, sizeof *p);
	p->n = n;
	p->n_test = cfg->split_by_column ? n_test : 0;
	p->s0 = cfg->split_seed ^ 0x5eed5eedULL; /* split.c's generator */
	if (!cfg->split_by_column) {
		p->n_test = (size_t)ceil(cfg->test_fraction * (double)p->n);
		if (p->n_test > p->n)
			p->n_test = p->n;
		p->key_base = p->n > 1 ? p->n - 1 : 0; /* the shuffle's draws come first */
	}
	p->n_all = p->n - p->n_test;
	if (p->n_test == 0) {
		if (cfg->split_by_column)
			return error_set(err, ERROR_INVALID, "split.test_from",
					 "split: no row has %s >= %g, so the test part is empty",
					 cfg->split_column, cfg->test_from);
		return error_set(err, ERROR_INVALID, "split.fraction", "split: the test part is empty");
	}
	if (p->n_all < 2)
		return error_set(err, ERROR_INVALID, "split",
				 "split: the training part has %zu rows; it needs at least 2", p->n_all);
	p->n_valid = (size_t)ceil(cfg->validation_fraction * (double)p->n_all);
	if (p->n_valid >= p->n_all)
		p->n_valid = p->n_all - 1;
	if (!cfg->split_by_column &&
	    (rc = plan_test_rows(p, track_rows ? track_rows : SPLITSTREAM_TRACK_ROWS, err)) != ERROR_OK)
		return rc;
	if (!cfg->validation_random && !values)
		return error_set(err, ERROR_INTERNAL, NULL, "splitstream: the latest slice needs the split values");
	return cfg->validation_random ? plan_random_cut(p, err) : plan_latest_cut(p, values, err);
}

void splitstream_done(struct splitstream *p)
{
	if (!p)
		return;
	free(p->test);
	memset(p, 0, sizeof *p);
}

void splitstream_values_done(struct splitstream_values *v)
{
	if (!v)
		return;
	free(v->key);
	free(v->count);
	memset(v, 0, sizeof *v);
}

size_t splitstream_rows(const struct splitstream *p, enum splitstream_part part)
{
	return part == SPLITSTREAM_TEST	      ? p->n_test
	       : part == SPLITSTREAM_VALIDATION ? p->n_valid
						: p->n_all - p->n_valid;
}

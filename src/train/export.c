/* export — see include/shelfcast/export.h. */
#include "shelfcast/export.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "build_config.h"
#include "shelfcast/coldstart.h"
#include "shelfcast/encoder.h"
#include "shelfcast/fit.h"
#include "shelfcast/heads.h"
#include "shelfcast/jsonutil.h"
#include "shelfcast/rng.h"
#include "shelfcast/sha256.h"
#include "shelfcast/table.h"
#include "shelfcast/train.h"
#include "shelfcast/util.h"

/* The splitmix64 increment of rng.c: draw k of a generator started at s is rng_next from s + k * GOLDEN. */
#define GOLDEN 0x9e3779b97f4a7c15ULL
/* Rows buffered per tensor before a shard write. */
#define WRITE_ROWS 2048

const char *export_part_name(enum export_part p)
{
	static const char *const names[EXPORT_PARTS] = {"train", "validation", "test"};
	return p < EXPORT_PARTS ? names[p] : "?";
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

/* ---- the split, streamed ---------------------------------------------------------------- */

/*
 * The validation cut over the training part in its sort order (split.c
 * sorts by (key, row) and takes the last n_valid): a row is validation when
 * its key is above `key`, or equal to it and at least `tie` equal keys came
 * before it in row order.
 */
struct cut {
	uint64_t key; /* a generator key (53 bits) or a split value's order-preserving bits */
	size_t tie;
};

struct plan {
	size_t n, n_test, n_all, n_valid;
	uint64_t *test;     /* fraction split: bit r, kept row r is a test row (n bits) */
	uint64_t s0;        /* the split generator's start */
	uint64_t key_base;  /* draw number of the first validation key */
	struct cut cut;
};

/* A double's bits, made to sort as the number does (-0 as +0). */
static uint64_t order_bits(double v)
{
	uint64_t u;
	if (v == 0)
		v = 0;
	memcpy(&u, &v, sizeof u);
	return u >> 63 ? ~u : u | (1ULL << 63);
}

/* Per pass: where a row goes, in row order. */
struct cursor {
	size_t m;    /* training-part rows seen */
	size_t ties; /* of them, keys equal to the cut's */
};

static enum export_part part_of(const struct dataset_config *cfg, const struct plan *p,
				struct cursor *c, size_t row, double split_value)
{
	bool test = cfg->split_by_column ? split_value >= cfg->test_from : bit_get(p->test, row);
	uint64_t key;

	if (test)
		return EXPORT_TEST;
	key = cfg->validation_random ? draw(p->s0, p->key_base + c->m) >> 11 : order_bits(split_value);
	c->m++;
	if (key != p->cut.key)
		return key > p->cut.key ? EXPORT_VALIDATION : EXPORT_TRAIN;
	return c->ties++ >= p->cut.tie ? EXPORT_VALIDATION : EXPORT_TRAIN;
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
 * replay of those steps per block of EXPORT_TRACK_ROWS rows follows where
 * each row of the block is; those still in front at the end are the test
 * rows.  O(n / block * n) generator draws, memory for one block.
 */
static enum error_code plan_test_rows(struct plan *p, size_t block, struct error *err)
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
static enum error_code plan_random_cut(struct plan *p, struct error *err)
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

/* The training part's split values and their counts (the latest validation slice). */
struct value_counts {
	uint64_t *key; /* order_bits; 0: empty (order_bits is never 0 for a finite number) */
	size_t *count;
	size_t cap, n;
};

static int value_counts_add(struct value_counts *v, double value)
{
	uint64_t key = order_bits(value);
	size_t i;

	if ((v->n + 1) * 2 > v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 1024;
		struct value_counts w = {calloc(cap, sizeof *w.key), calloc(cap, sizeof *w.count), cap, 0};
		if (v->n >= EXPORT_MAX_SPLIT_VALUES)
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

static enum error_code plan_latest_cut(struct plan *p, const struct value_counts *v,
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

/* ---- the exporter ------------------------------------------------------------------------ */

/* One numeric input's statistics over the training part. */
struct num_stat {
	int col;           /* table column */
	bool is_log;
	size_t k_lo, k_hi; /* the tail sizes kept; 0: that bound comes from the reservoir */
	double *lo, *hi;   /* max-heap of the k_lo smallest, min-heap of the k_hi largest values */
	size_t n_lo, n_hi;
	double *res;       /* reservoir (when a tail is too long) */
	size_t n_res;
	struct rng rr;
	size_t m;          /* usable values */
	/* pass 3 */
	size_t m2, winsorized;
	double mean, M2;
};

struct shard_file {
	int fd;
	char name[64];
	size_t rows, filled, buffered, index;
	uint64_t data_start;
};

struct exporter {
	const struct dataset_config *cfg;
	const struct export_options *opt;
	FILE *f;
	struct table_colspec *cols;
	size_t n_cols;
	struct table_options topt;
	struct table_dups dups;
	int target, exposure, level, split;
	size_t n_numeric_features; /* the first table columns: the numeric features as read */
	struct plan plan;
	struct value_counts values;
	struct cursor cur;
	int pass;
	/* statistics */
	struct num_stat *num;
	size_t n_num;
	size_t **vocab_counts, *vocab_cap; /* per categorical: count by interned id */
	size_t t_n;
	double t_mean, t_M2;
	struct spec spec;
	bool have_spec;
	struct encoder *enc;
	int *colmap;
	struct encoder_value *vals;
	/* writing */
	struct shard_file shard[EXPORT_PARTS];
	size_t written[EXPORT_PARTS], n_shards[EXPORT_PARTS];
	size_t width[9];                    /* per tensor: values per row */
	uint8_t *part_buf[EXPORT_PARTS][9]; /* per part and tensor: WRITE_ROWS rows */
	json_t *shards;  /* the manifest's list */
};

static const struct {
	const char *name, *dtype;
	size_t esize;
} tensor_kinds[] = {
	{"x", "F32", 4},     {"sales", "F64", 8},   {"units", "F64", 8},
	{"exposure", "F32", 4}, {"row", "I64", 8}, {"line", "I64", 8},
	{"numeric", "F64", 8}, {"categorical", "I32", 4}, {"level", "I32", 4},
};
enum { T_X, T_SALES, T_UNITS, T_EXPOSURE, T_ROW, T_LINE, T_NUMERIC, T_CATEGORICAL, T_LEVEL, T_COUNT };

static enum error_code rewind_data(struct exporter *x, struct error *err)
{
	if (fseek(x->f, 0, SEEK_SET) != 0)
		return error_set(err, ERROR_IO, NULL, "%s: cannot read the data again (%s): export needs a "
				 "file it can seek", x->opt->source, strerror(errno));
	clearerr(x->f);
	return ERROR_OK;
}

/* Run one pass of on_chunk over the data. */
static enum error_code stream(struct exporter *x, table_chunk_fn on_chunk, struct table *t,
			      struct error *err)
{
	enum error_code rc = rewind_data(x, err);

	memset(&x->cur, 0, sizeof x->cur);
	if (!rc)
		rc = table_stream(x->f, x->opt->source, x->cols, x->n_cols, &x->topt, EXPORT_CHUNK_ROWS,
				  &x->dups, on_chunk, x, t, err);
	return rc;
}

static double split_value(const struct exporter *x, const struct table *t, size_t r)
{
	return x->split >= 0 ? t->cols[x->split].num[r] : 0;
}

/* Pass 1 (split by column): the test rows; the training part's split values for the latest slice. */
static enum error_code count_chunk(void *ctx, const struct table *t, size_t first, struct error *err)
{
	struct exporter *x = ctx;
	size_t r;
	(void)first;

	if (!x->cfg->split_by_column)
		return ERROR_OK;
	for (r = 0; r < t->n_rows; r++) {
		double v = t->cols[x->split].num[r];
		int rc;
		if (v >= x->cfg->test_from) {
			x->plan.n_test++;
			continue;
		}
		if (x->cfg->validation_random)
			continue;
		rc = value_counts_add(&x->values, v);
		if (rc < 0)
			return error_nomem(err, "the split values");
		if (rc > 0)
			return error_set(err, ERROR_INVALID, "model.validation",
					 "split.column \"%s\" has more than %u distinct values in the training "
					 "part: the export picks the latest validation slice from their counts; "
					 "use model.validation \"random\" or a coarser column",
					 x->cfg->split_column, EXPORT_MAX_SPLIT_VALUES);
	}
	return ERROR_OK;
}

static enum error_code check_rows(const struct dataset_config *cfg, const struct table_stats *s,
				  size_t kept, struct error *err)
{
	if (s->rows_read == 0)
		return error_set(err, ERROR_INVALID, NULL, "the data has a header but no rows");
	if (s->target_missing + s->target_negative + s->target_nonfinite + s->duplicates == s->rows_read)
		return error_set(err, ERROR_INVALID, cfg->target_column,
				 "target column \"%s\" has no usable rows (%zu missing, %zu negative, "
				 "%zu not finite, %zu duplicates)",
				 cfg->target_column, s->target_missing, s->target_negative,
				 s->target_nonfinite, s->duplicates);
	if (kept == 0)
		return error_set(err, ERROR_INVALID, NULL,
				 "no rows are left after cleaning (%zu read: %zu duplicates, %zu without a "
				 "usable target, %zu missing the exposure, level, split or a required value)",
				 s->rows_read, s->duplicates,
				 s->target_missing + s->target_negative + s->target_nonfinite,
				 s->missing_required);
	return ERROR_OK;
}

/* The split's sizes, exactly as split_make computes them, and its streaming plan. */
static enum error_code make_plan(struct exporter *x, const struct table_stats *s, struct error *err)
{
	const struct dataset_config *cfg = x->cfg;
	struct plan *p = &x->plan;
	enum error_code rc;

	p->n = s->rows_kept;
	p->s0 = cfg->split_seed ^ 0x5eed5eedULL;
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
	    (rc = plan_test_rows(p, x->opt->track_rows ? x->opt->track_rows : EXPORT_TRACK_ROWS, err)) != ERROR_OK)
		return rc;
	return cfg->validation_random ? plan_random_cut(p, err) : plan_latest_cut(p, &x->values, err);
}

/* ---- statistics -------------------------------------------------------------------------- */

static void heap_push_max(double *h, size_t *n, size_t k, double v)
{
	size_t i;
	if (*n == k) { /* replace the largest if v is smaller */
		if (!(v < h[0]))
			return;
		i = 0;
		for (;;) {
			size_t c = 2 * i + 1;
			if (c >= k)
				break;
			if (c + 1 < k && h[c + 1] > h[c])
				c++;
			if (!(h[c] > v))
				break;
			h[i] = h[c];
			i = c;
		}
		h[i] = v;
		return;
	}
	for (i = (*n)++; i > 0 && h[(i - 1) / 2] < v; i = (i - 1) / 2)
		h[i] = h[(i - 1) / 2];
	h[i] = v;
}

/* A min-heap of the largest, as a max-heap of the negated values. */
static void heap_push_min(double *h, size_t *n, size_t k, double v)
{
	heap_push_max(h, n, k, -v);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static enum error_code stats_init(struct exporter *x, struct error *err)
{
	const struct dataset_config *cfg = x->cfg;
	size_t M = x->plan.n_all, j, exact = x->opt->exact_tail ? x->opt->exact_tail : EXPORT_EXACT_QUANTILE_MAX;

	x->n_num = cfg->n_numeric + cfg->n_log;
	x->num = calloc(x->n_num + 1, sizeof *x->num);
	x->vocab_counts = calloc(cfg->n_categorical + 1, sizeof *x->vocab_counts);
	x->vocab_cap = calloc(cfg->n_categorical + 1, sizeof *x->vocab_cap);
	if (!x->num || !x->vocab_counts || !x->vocab_cap)
		return error_nomem(err, "the statistics");
	for (j = 0; j < x->n_num; j++) {
		struct num_stat *s = &x->num[j];
		double klo = floor(cfg->winsor_lo * (double)(M - 1)) + 3,
		       khi = floor((1 - cfg->winsor_hi) * (double)(M - 1)) + 3;
		const char *name = j < cfg->n_numeric ? cfg->numeric[j] : cfg->log[j - cfg->n_numeric];
		s->is_log = j >= cfg->n_numeric;
		s->col = -1;
		for (size_t c = 0; c < x->n_cols; c++)
			if (!strcmp(x->cols[c].name, name))
				s->col = (int)c;
		s->k_lo = klo <= (double)exact ? (size_t)klo : 0;
		s->k_hi = khi <= (double)exact ? (size_t)khi : 0;
		s->lo = util_alloc_array(s->k_lo + 1, sizeof *s->lo);
		s->hi = util_alloc_array(s->k_hi + 1, sizeof *s->hi);
		if (!s->k_lo || !s->k_hi)
			s->res = util_alloc_array(EXPORT_RESERVOIR, sizeof *s->res);
		s->rr.s = cfg->seed ^ 0x5a3e7c4b1d9f2e6bULL ^ (uint64_t)j;
		if (!s->lo || !s->hi || ((!s->k_lo || !s->k_hi) && !s->res))
			return error_nomem(err, "the quantile sketches");
	}
	return ERROR_OK;
}

/* The value numeric input s reads from row r, false when it has none (fit.c's rule). */
static bool num_value(const struct num_stat *s, const struct table *t, size_t r, double *v)
{
	double x = t->cols[s->col].num[r];
	if (isnan(x) || (s->is_log && !(x > 0)))
		return false;
	*v = s->is_log ? log(x) : x;
	return true;
}

static void sketch_add(struct num_stat *s, double v)
{
	if (s->k_lo)
		heap_push_max(s->lo, &s->n_lo, s->k_lo, v);
	if (s->k_hi)
		heap_push_min(s->hi, &s->n_hi, s->k_hi, v);
	if (s->res) { /* Algorithm R */
		if (s->n_res < EXPORT_RESERVOIR) {
			s->res[s->n_res++] = v;
		} else {
			uint64_t j = rng_next(&s->rr) % (uint64_t)(s->m + 1);
			if (j < EXPORT_RESERVOIR)
				s->res[j] = v;
		}
	}
	s->m++;
}

static enum error_code count_category(struct exporter *x, size_t j, const struct table_column *c,
				      int32_t id, struct error *err)
{
	if (id < 0)
		return ERROR_OK;
	if ((size_t)id >= x->vocab_cap[j]) {
		size_t cap = x->vocab_cap[j] ? x->vocab_cap[j] : 256, old = x->vocab_cap[j];
		size_t *p;
		while (cap <= (size_t)id || cap < c->n_strings)
			cap *= 2;
		p = realloc(x->vocab_counts[j], cap * sizeof *p);
		if (!p)
			return error_nomem(err, "the vocabulary counts");
		memset(p + old, 0, (cap - old) * sizeof *p);
		x->vocab_counts[j] = p;
		x->vocab_cap[j] = cap;
	}
	x->vocab_counts[j][id]++;
	return ERROR_OK;
}

/* Pass 2: quantile sketches, target moments, category counts over the training part. */
static enum error_code stats_chunk(void *ctx, const struct table *t, size_t first, struct error *err)
{
	struct exporter *x = ctx;
	size_t r, j;

	for (r = 0; r < t->n_rows; r++) {
		double v, d;
		if (part_of(x->cfg, &x->plan, &x->cur, first + r, split_value(x, t, r)) == EXPORT_TEST)
			continue;
		for (j = 0; j < x->n_num; j++)
			if (num_value(&x->num[j], t, r, &v))
				sketch_add(&x->num[j], v);
		for (j = 0; j < x->cfg->n_categorical; j++) {
			const struct table_column *c = &t->cols[x->n_numeric_features + j];
			enum error_code rc = count_category(x, j, c, c->id[r], err);
			if (rc)
				return rc;
		}
		v = heads_transform(x->cfg->transform, t->cols[x->target].num[r]);
		x->t_n++;
		d = v - x->t_mean;
		x->t_mean += d / (double)x->t_n;
		x->t_M2 += d * (v - x->t_mean);
	}
	return ERROR_OK;
}

/* fit.c's quantile: interpolated between order statistics floor(q(m-1)) and the next. */
static double quantile_at(const double *lo_sorted, size_t n_lo, const double *hi_sorted, size_t n_hi,
			  size_t m, double q, bool *ok)
{
	double pos = q * (double)(m - 1), frac, a, b;
	size_t lo = (size_t)pos;

#define AT(i) ((i) < n_lo ? lo_sorted[i] : (i) >= m - n_hi ? hi_sorted[(i) - (m - n_hi)] : (*ok = false, 0.0))
	if (lo + 1 >= m)
		return AT(m - 1);
	frac = pos - (double)lo;
	a = AT(lo);
	b = AT(lo + 1);
#undef AT
	return a + frac * (b - a);
}

/* One bound: from the exact tails when kept, else from the reservoir; method says which. */
static double bound(struct num_stat *s, double q, bool low, const char **method, struct error *err,
		    enum error_code *rc)
{
	bool ok = true;
	double v;

	if (low ? s->k_lo : s->k_hi) {
		v = low ? quantile_at(s->lo, s->n_lo, NULL, 0, s->m, q, &ok)
			: quantile_at(NULL, 0, s->hi, s->n_hi, s->m, q, &ok);
		*method = "exact";
	} else {
		size_t n = s->n_res;
		v = quantile_at(s->res, n, NULL, 0, n, q, &ok);
		*method = s->m <= EXPORT_RESERVOIR ? "exact" : "reservoir";
	}
	if (!ok)
		*rc = error_set(err, ERROR_INTERNAL, NULL, "export: a quantile fell outside the kept tail");
	return v;
}

struct vocab_entry {
	const char *s;
	size_t count;
};

static int by_count_then_value(const void *a, const void *b)
{
	const struct vocab_entry *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->s, y->s);
}

/* The spec from the statistics of pass 2 (bounds, vocabularies, target) before pass 3. */
static enum error_code spec_begin(struct exporter *x, const struct table *t, json_t *quantiles,
				  json_t *vocab, struct error *err)
{
	const struct dataset_config *cfg = x->cfg;
	struct spec *spec = &x->spec;
	enum error_code rc = ERROR_OK;
	size_t j, k;

	memset(spec, 0, sizeof *spec);
	x->have_spec = true;
	spec->numeric = calloc(x->n_num + 1, sizeof *spec->numeric);
	spec->categorical = calloc(cfg->n_categorical + 1, sizeof *spec->categorical);
	if (!spec->numeric || !spec->categorical)
		return error_nomem(err, "the model spec");
	for (j = 0; j < x->n_num; j++) {
		struct num_stat *s = &x->num[j];
		struct spec_numeric *f = &spec->numeric[j];
		const char *name = j < cfg->n_numeric ? cfg->numeric[j] : cfg->log[j - cfg->n_numeric];
		const char *m_lo = "none", *m_hi = "none";

		f->name = strdup(name);
		f->transform = s->is_log ? SPEC_INPUT_LOG : SPEC_INPUT_IDENTITY;
		f->required = dataset_is_required(cfg, name);
		f->mean = 0;
		f->std = 1;
		spec->n_numeric = j + 1;
		if (!f->name)
			return error_nomem(err, "the model spec");
		if (s->m) {
			qsort(s->lo, s->n_lo, sizeof *s->lo, cmp_double);
			for (k = 0; k < s->n_hi; k++)
				s->hi[k] = -s->hi[k];
			qsort(s->hi, s->n_hi, sizeof *s->hi, cmp_double);
			if (s->res)
				qsort(s->res, s->n_res, sizeof *s->res, cmp_double);
			f->has_clip = true;
			f->clip_lo = bound(s, cfg->winsor_lo, true, &m_lo, err, &rc);
			f->clip_hi = bound(s, cfg->winsor_hi, false, &m_hi, err, &rc);
			if (rc)
				return rc;
		}
		if (json_array_append_new(quantiles, json_pack("{s:s, s:s, s:s, s:I}", "input", name,
							       "low", m_lo, "high", m_hi, "values",
							       (json_int_t)s->m)))
			return error_nomem(err, "the manifest");
	}
	for (j = 0; j < cfg->n_categorical; j++) {
		struct spec_categorical *f = &spec->categorical[j];
		const struct table_column *c = &t->cols[x->n_numeric_features + j];
		struct vocab_entry *e = calloc(c->n_strings + 1, sizeof *e);
		size_t kept = 0, rare = 0;

		f->name = strdup(cfg->categorical[j]);
		f->vocabulary = calloc(c->n_strings + 1, sizeof *f->vocabulary);
		spec->n_categorical = j + 1;
		if (!e || !f->name || !f->vocabulary) {
			free(e);
			return error_nomem(err, "the model spec");
		}
		for (k = 0; k < c->n_strings; k++)
			e[k] = (struct vocab_entry){c->strings[k], k < x->vocab_cap[j] ? x->vocab_counts[j][k] : 0};
		qsort(e, c->n_strings, sizeof *e, by_count_then_value);
		for (k = 0; k < c->n_strings; k++) {
			if (e[k].count >= cfg->min_count) {
				f->vocabulary[kept] = strdup(e[k].s);
				if (!f->vocabulary[kept]) {
					free(e);
					return error_nomem(err, "the model spec");
				}
				f->n_vocabulary = ++kept;
			} else if (e[k].count > 0) {
				rare++;
			}
		}
		free(e);
		if (json_object_set_new(vocab, f->name, json_pack("{s:I, s:I}", "vocabulary",
								  (json_int_t)kept, "rare_to_unknown",
								  (json_int_t)rare)))
			return error_nomem(err, "the manifest");
	}
	spec->target_mean = x->t_n ? x->t_mean : 0;
	spec->target_std = x->t_n ? sqrt(x->t_M2 / (double)x->t_n) : 1;
	if (!(spec->target_std > 1e-12))
		spec->target_std = 1;
	spec->transform = cfg->transform;
	if (!fit_copy_config(spec, cfg))
		return error_nomem(err, "the model spec");
	spec->input_size = spec_expected_input_size(spec);
	return ERROR_OK;
}

/* Pass 3: the clipped numeric inputs' mean and variance. */
static enum error_code moments_chunk(void *ctx, const struct table *t, size_t first,
				     struct error *err)
{
	struct exporter *x = ctx;
	size_t r, j;
	(void)err;

	for (r = 0; r < t->n_rows; r++) {
		if (part_of(x->cfg, &x->plan, &x->cur, first + r, split_value(x, t, r)) == EXPORT_TEST)
			continue;
		for (j = 0; j < x->n_num; j++) {
			struct num_stat *s = &x->num[j];
			const struct spec_numeric *f = &x->spec.numeric[j];
			double v, c, d;
			if (!num_value(s, t, r, &v))
				continue;
			c = v < f->clip_lo ? f->clip_lo : v > f->clip_hi ? f->clip_hi : v;
			s->winsorized += c != v;
			s->m2++;
			d = c - s->mean;
			s->mean += d / (double)s->m2;
			s->M2 += d * (c - s->mean);
		}
	}
	return ERROR_OK;
}

static void spec_finish(struct exporter *x)
{
	size_t j;
	for (j = 0; j < x->n_num; j++) {
		struct num_stat *s = &x->num[j];
		struct spec_numeric *f = &x->spec.numeric[j];
		if (!s->m2)
			continue;
		f->mean = s->mean;
		f->std = sqrt(s->M2 / (double)s->m2);
		if (!(f->std > 1e-12))
			f->std = 1;
		f->def = f->mean; /* a missing value encodes as the average, z = 0 */
	}
}

/* ---- shards ------------------------------------------------------------------------------ */

static size_t part_rows(const struct exporter *x, enum export_part p)
{
	return p == EXPORT_TEST ? x->plan.n_test
	       : p == EXPORT_VALIDATION ? x->plan.n_valid
					: x->plan.n_all - x->plan.n_valid;
}

/* Open part p's next shard: the header written, the file sized. */
static enum error_code shard_open(struct exporter *x, enum export_part p, struct error *err)
{
	struct shard_file *s = &x->shard[p];
	size_t left = part_rows(x, p) - x->written[p], k, off = 0, pad;
	char path[4096], *text = NULL;
	json_t *h = json_object(), *meta;
	enum error_code rc = ERROR_OK;
	uint64_t n8;
	uint8_t len8[8];

	s->rows = left < x->opt->shard_rows ? left : x->opt->shard_rows;
	s->filled = s->buffered = 0;
	s->index = x->n_shards[p]++;
	snprintf(s->name, sizeof s->name, "%s-%05zu.safetensors", export_part_name(p), s->index);
	meta = json_pack("{s:s, s:s, s:s}", "format", EXPORT_FORMAT, "part", export_part_name(p),
			 "shard", "");
	if (!h || !meta) {
		json_decref(h);
		json_decref(meta);
		return error_nomem(err, "a shard header");
	}
	{
		char num[32];
		snprintf(num, sizeof num, "%zu", s->index);
		json_object_set_new(meta, "shard", json_string(num));
	}
	json_object_set_new(h, "__metadata__", meta);
	for (k = 0; k < T_COUNT; k++) {
		size_t bytes = s->rows * x->width[k] * tensor_kinds[k].esize;
		json_t *shape = k == T_X || k == T_NUMERIC || k == T_CATEGORICAL
					? json_pack("[I, I]", (json_int_t)s->rows, (json_int_t)x->width[k])
					: json_pack("[I]", (json_int_t)s->rows);
		if (json_object_set_new(h, tensor_kinds[k].name,
					json_pack("{s:s, s:o, s:[I, I]}", "dtype", tensor_kinds[k].dtype,
						  "shape", shape, "data_offsets", (json_int_t)off,
						  (json_int_t)(off + bytes)))) {
			json_decref(h);
			return error_nomem(err, "a shard header");
		}
		off += bytes;
	}
	text = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(h);
	if (!text)
		return error_nomem(err, "a shard header");
	k = strlen(text);
	pad = (8 - k % 8) % 8;
	n8 = k + pad;
	for (int i = 0; i < 8; i++)
		len8[i] = (uint8_t)(n8 >> (8 * i));
	snprintf(path, sizeof path, "%s/%s", x->opt->dir, s->name);
	s->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	s->data_start = 8 + n8;
	if (s->fd < 0) {
		rc = error_set(err, ERROR_IO, NULL, "cannot create %s: %s", path, strerror(errno));
	} else if (write(s->fd, len8, 8) != 8 || write(s->fd, text, k) != (ssize_t)k ||
		   write(s->fd, "        ", pad) != (ssize_t)pad ||
		   ftruncate(s->fd, (off_t)(s->data_start + off)) != 0) {
		rc = error_set(err, ERROR_IO, NULL, "cannot write %s: %s", path, strerror(errno));
	}
	free(text);
	return rc;
}

static enum error_code shard_flush(struct exporter *x, enum export_part p, struct error *err)
{
	struct shard_file *s = &x->shard[p];
	uint64_t off = s->data_start;
	size_t k;

	for (k = 0; k < T_COUNT; k++) {
		size_t row_bytes = x->width[k] * tensor_kinds[k].esize, n = s->buffered * row_bytes;
		if (n && pwrite(s->fd, x->part_buf[p][k], n, (off_t)(off + s->filled * row_bytes)) != (ssize_t)n)
			return error_set(err, ERROR_IO, NULL, "cannot write %s/%s: %s", x->opt->dir, s->name,
					 strerror(errno));
		off += s->rows * row_bytes;
	}
	s->filled += s->buffered;
	s->buffered = 0;
	return ERROR_OK;
}

/* Close a full shard and record it (with its SHA-256, read back) in the manifest list. */
static enum error_code shard_close(struct exporter *x, enum export_part p, struct error *err)
{
	struct shard_file *s = &x->shard[p];
	struct sha256 h;
	char hex[SHA256_HEX_SIZE], path[4096];
	uint8_t *buf = malloc(1 << 16);
	ssize_t got;
	off_t at = 0;
	enum error_code rc = ERROR_OK;

	if (!buf)
		return error_nomem(err, "a checksum");
	snprintf(path, sizeof path, "%s/%s", x->opt->dir, s->name);
	sha256_init(&h);
	if (close(s->fd) != 0)
		rc = error_set(err, ERROR_IO, NULL, "cannot write %s: %s", path, strerror(errno));
	s->fd = -1;
	if (!rc) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			rc = error_set(err, ERROR_IO, NULL, "cannot read %s back: %s", path, strerror(errno));
		while (!rc && (got = pread(fd, buf, 1 << 16, at)) > 0) {
			sha256_update(&h, buf, (size_t)got);
			at += got;
		}
		if (fd >= 0)
			close(fd);
	}
	free(buf);
	if (rc)
		return rc;
	sha256_final_hex(&h, hex);
	if (json_array_append_new(x->shards, json_pack("{s:s, s:s, s:I, s:I, s:s}", "file", s->name,
						       "part", export_part_name(p), "rows",
						       (json_int_t)s->rows, "bytes", (json_int_t)at,
						       "sha256", hex)))
		return error_nomem(err, "the manifest");
	return ERROR_OK;
}

/* Pass 4: encode every row into its part's shard. */
static enum error_code write_chunk(void *ctx, const struct table *t, size_t first, struct error *err)
{
	struct exporter *x = ctx;
	size_t n_in = encoder_n_inputs(x->enc), r, j;
	enum error_code rc = ERROR_OK;

	for (r = 0; r < t->n_rows && !rc; r++) {
		enum export_part p = part_of(x->cfg, &x->plan, &x->cur, first + r, split_value(x, t, r));
		struct shard_file *s = &x->shard[p];
		size_t b;
		uint8_t *const *buf = x->part_buf[p];
		double units = t->cols[x->target].num[r], sales;
		float e;
		int64_t i64;
		int32_t i32;

		if (s->fd < 0 && (rc = shard_open(x, p, err)) != ERROR_OK)
			break;
		b = s->buffered;
		table_encoder_values(t, x->colmap, n_in, r, x->vals);
		rc = encoder_encode(x->enc, x->vals, t->cols[x->level].id[r],
				    (float *)(void *)buf[T_X] + b * x->width[T_X], NULL, NULL, NULL, err);
		if (rc) {
			error_prefix(err, "%s line %zu", x->opt->source, t->line[r]);
			break;
		}
		sales = heads_standardize(&x->spec, units);
		memcpy(buf[T_SALES] + b * 8, &sales, 8);
		memcpy(buf[T_UNITS] + b * 8, &units, 8);
		e = (float)t->cols[x->exposure].num[r];
		memcpy(buf[T_EXPOSURE] + b * 4, &e, 4);
		i64 = (int64_t)(first + r);
		memcpy(buf[T_ROW] + b * 8, &i64, 8);
		i64 = (int64_t)t->line[r];
		memcpy(buf[T_LINE] + b * 8, &i64, 8);
		for (j = 0; j < x->n_numeric_features; j++)
			memcpy(buf[T_NUMERIC] + (b * x->n_numeric_features + j) * 8, &t->cols[j].num[r], 8);
		for (j = 0; j < x->cfg->n_categorical; j++) {
			i32 = t->cols[x->n_numeric_features + j].id[r];
			memcpy(buf[T_CATEGORICAL] + (b * x->cfg->n_categorical + j) * 4, &i32, 4);
		}
		i32 = t->cols[x->level].id[r];
		memcpy(buf[T_LEVEL] + b * 4, &i32, 4);
		x->written[p]++;
		if (++s->buffered == WRITE_ROWS || s->filled + s->buffered == s->rows)
			rc = shard_flush(x, p, err);
		if (!rc && s->filled == s->rows)
			rc = shard_close(x, p, err);
	}
	return rc;
}

/* ---- the files around the shards --------------------------------------------------------- */

static enum error_code prepare_dir(const char *dir, struct error *err)
{
	DIR *d;
	struct dirent *e;

	if (mkdir(dir, 0755) == 0)
		return ERROR_OK;
	if (errno != EEXIST)
		return error_set(err, ERROR_IO, NULL, "cannot create %s: %s", dir, strerror(errno));
	d = opendir(dir);
	if (!d)
		return error_set(err, ERROR_IO, NULL, "cannot open %s: %s", dir, strerror(errno));
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			closedir(d);
			return error_set(err, ERROR_INVALID, NULL,
					 "%s is not empty: export into a new or empty directory", dir);
		}
	closedir(d);
	return ERROR_OK;
}

/* text to dir/name through a temporary file and a rename. */
static enum error_code write_file(const char *dir, const char *name, const char *text,
				  struct error *err)
{
	char path[4096], tmp[4200];
	FILE *f;
	bool ok;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	f = fopen(tmp, "wx");
	if (!f)
		return error_set(err, ERROR_IO, NULL, "cannot create %s: %s", tmp, strerror(errno));
	ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return error_set(err, ERROR_IO, NULL, "cannot write %s: %s", path, strerror(errno));
	}
	return ERROR_OK;
}

static json_t *training_json(const struct dataset_config *cfg)
{
	json_t *hidden = json_array();
	size_t i;
	for (i = 0; hidden && i < cfg->n_hidden; i++)
		json_array_append_new(hidden, json_integer((json_int_t)cfg->hidden[i]));
	return json_pack("{s:o?, s:i, s:I, s:f, s:i, s:I, s:f, s:f, s:f, s:b, s:f}", "hidden", hidden,
			 "epochs", cfg->epochs, "batch_size", (json_int_t)cfg->batch_size,
			 "learning_rate", cfg->learning_rate, "patience", cfg->patience, "seed",
			 (json_int_t)cfg->seed, "weight_decay", cfg->weight_decay, "exposure_weight",
			 cfg->exposure_weight, "ema", cfg->ema, "refit", cfg->refit,
			 "coldstart_share", COLDSTART_SHARE);
}

static json_t *manifest_json(struct exporter *x, const struct table *t, json_t *quantiles,
			     json_t *vocab)
{
	const struct dataset_config *cfg = x->cfg;
	json_t *m = json_object(), *numeric = json_array(), *cats = json_array(),
	       *layout = json_array(), *levels = json_array();
	const struct table_stats *s = &t->stats;
	size_t j, k;
	bool ok = m && numeric && cats && layout && levels;

	for (j = 0; ok && j < x->n_numeric_features; j++)
		ok = !json_array_append_new(numeric, json_string(x->cols[j].name));
	for (j = 0; ok && j < cfg->n_categorical; j++) {
		const struct table_column *c = &t->cols[x->n_numeric_features + j];
		json_t *values = json_array();
		for (k = 0; values && k < c->n_strings; k++)
			if (json_array_append_new(values, json_string(c->strings[k]))) {
				json_decref(values);
				values = NULL;
			}
		ok = values && !json_array_append_new(cats, json_pack("{s:s, s:o}", "name", c->spec.name,
									"values", values));
		ok = ok && !json_array_append_new(layout, json_pack("{s:s, s:I, s:I}", "name", c->spec.name,
								      "offset",
								      (json_int_t)encoder_categorical_offset(x->enc, j),
								      "width",
								      (json_int_t)x->spec.categorical[j].n_vocabulary + 1));
	}
	for (j = 0; ok && j < cfg->n_levels; j++)
		ok = !json_array_append_new(levels, json_integer(cfg->levels[j].level));
	if (ok)
		ok = !json_object_set_new(m, "format", json_string(EXPORT_FORMAT)) &&
		     !json_object_set_new(m, "name", json_string(cfg->name)) &&
		     !json_object_set_new(m, "source", json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
								 "name", x->opt->source, "sha256", t->checksum,
								 "rows_read", (json_int_t)s->rows_read,
								 "rows_kept", (json_int_t)s->rows_kept,
								 "duplicates", (json_int_t)s->duplicates,
								 "target_dropped",
								 (json_int_t)(s->target_missing + s->target_negative +
									      s->target_nonfinite),
								 "missing_required", (json_int_t)s->missing_required,
								 "nonfinite_values", (json_int_t)s->nonfinite_values)) &&
		     !json_object_set_new(m, "shelfcast_version", json_string(SHELFCAST_VERSION)) &&
		     !json_object_set_new(m, "input_size", json_integer((json_int_t)x->spec.input_size)) &&
		     !json_object_set_new(m, "shard_rows", json_integer((json_int_t)x->opt->shard_rows)) &&
		     !json_object_set_new(m, "parts", json_pack("{s:I, s:I, s:I}", "train",
								(json_int_t)part_rows(x, EXPORT_TRAIN), "validation",
								(json_int_t)x->plan.n_valid, "test",
								(json_int_t)x->plan.n_test)) &&
		     !json_object_set_new(m, "transform",
					  json_string(spec_transform_name(cfg->transform))) &&
		     !json_object_set_new(m, "layout", json_pack("{s:I, s:o, s:I, s:I}", "numeric",
								  (json_int_t)x->spec.n_numeric, "categorical",
								  json_incref(layout), "level_offset",
								  (json_int_t)encoder_level_offset(x->enc),
								  "levels", (json_int_t)cfg->n_levels)) &&
		     !json_object_set_new(m, "training", training_json(cfg)) &&
		     !json_object_set_new(m, "features", json_pack("{s:O, s:O}", "numeric", numeric,
								   "categorical", cats)) &&
		     !json_object_set_new(m, "levels", json_incref(levels)) &&
		     !json_object_set_new(m, "quantiles", json_incref(quantiles)) &&
		     !json_object_set_new(m, "vocabularies", json_incref(vocab)) &&
		     !json_object_set_new(m, "shards", json_incref(x->shards));
	json_decref(numeric);
	json_decref(cats);
	json_decref(layout);
	json_decref(levels);
	if (!ok) {
		json_decref(m);
		return NULL;
	}
	return m;
}

static void exporter_done(struct exporter *x)
{
	size_t j, k;
	for (j = 0; x->num && j < x->n_num; j++) {
		free(x->num[j].lo);
		free(x->num[j].hi);
		free(x->num[j].res);
	}
	free(x->num);
	for (j = 0; x->vocab_counts && j < x->cfg->n_categorical; j++)
		free(x->vocab_counts[j]);
	free(x->vocab_counts);
	free(x->vocab_cap);
	free(x->cols);
	free(x->dups.bits);
	free(x->plan.test);
	free(x->values.key);
	free(x->values.count);
	encoder_free(x->enc);
	free(x->colmap);
	free(x->vals);
	if (x->have_spec)
		spec_done(&x->spec);
	for (j = 0; j < EXPORT_PARTS; j++) {
		if (x->shard[j].fd >= 0)
			close(x->shard[j].fd);
		for (k = 0; k < T_COUNT; k++)
			free(x->part_buf[j][k]);
	}
	json_decref(x->shards);
}

enum error_code export_dataset(const struct dataset_config *cfg, FILE *f,
			       const struct export_options *opt, struct export_summary *sum,
			       struct error *err)
{
	struct exporter x = {.cfg = cfg, .opt = opt, .f = f};
	struct table t = {0};
	json_t *quantiles = json_array(), *vocab = json_object(), *manifest = NULL;
	char *text = NULL;
	double t0 = util_now_s();
	size_t j, k;
	enum error_code rc = ERROR_OK;

	memset(sum, 0, sizeof *sum);
	for (j = 0; j < EXPORT_PARTS; j++)
		x.shard[j].fd = -1;
	x.shards = json_array();
	x.cols = train_columns(cfg, &x.n_cols);
	if (!x.cols || !quantiles || !vocab || !x.shards) {
		rc = error_nomem(err, "the export");
		goto out;
	}
	for (j = 0; j < x.n_cols; j++) /* the ids: checked in the header, not needed in the shards */
		if (x.cols[j].kind == TABLE_TEXT)
			x.cols[j].kind = TABLE_IGNORE;
	x.n_numeric_features = cfg->n_numeric;
	for (j = 0; j < cfg->n_log; j++)
		x.n_numeric_features += !dataset_listed(cfg->numeric, cfg->n_numeric, cfg->log[j]);
	x.topt = (struct table_options){cfg->levels, cfg->n_levels, true, cfg->max_categories};
	x.target = (int)(x.n_numeric_features + cfg->n_categorical);
	x.exposure = x.target + 1;
	x.level = x.target + 2;
	x.split = cfg->split_by_column ? x.target + 3 : -1;
	rc = prepare_dir(opt->dir, err);
	if (!rc)
		rc = rewind_data(&x, err);
	if (!rc)
		rc = table_find_duplicates(f, opt->source, EXPORT_DEDUPE_ROWS, &x.dups, err);

	/* 1: count */
	if (!rc)
		rc = stream(&x, count_chunk, &t, err);
	if (!rc)
		rc = check_rows(cfg, &t.stats, t.stats.rows_kept, err);
	if (!rc)
		rc = make_plan(&x, &t.stats, err);
	table_done(&t);

	/* 2: quantiles, target, vocabularies */
	if (!rc)
		rc = stats_init(&x, err);
	if (!rc)
		rc = stream(&x, stats_chunk, &t, err);
	if (!rc)
		rc = spec_begin(&x, &t, quantiles, vocab, err);
	table_done(&t);

	/* 3: moments of the clipped inputs */
	if (!rc)
		rc = stream(&x, moments_chunk, &t, err);
	table_done(&t);
	if (rc)
		goto out;
	spec_finish(&x);

	/* 4: encode and write */
	x.enc = encoder_new(&x.spec, err);
	if (!x.enc) {
		rc = err->code;
		goto out;
	}
	x.width[T_X] = encoder_width(x.enc);
	x.width[T_NUMERIC] = x.n_numeric_features;
	x.width[T_CATEGORICAL] = cfg->n_categorical;
	for (k = 0; k < T_COUNT; k++)
		if (k != T_X && k != T_NUMERIC && k != T_CATEGORICAL)
			x.width[k] = 1;
	for (j = 0; j < EXPORT_PARTS; j++)
		for (k = 0; k < T_COUNT; k++)
			if (!(x.part_buf[j][k] = malloc(WRITE_ROWS * x.width[k] * tensor_kinds[k].esize + 8))) {
				rc = error_nomem(err, "the shard buffers");
				goto out;
			}
	x.vals = calloc(encoder_n_inputs(x.enc) + 1, sizeof *x.vals);
	if (!x.vals) {
		rc = error_nomem(err, "the export");
		goto out;
	}
	/* the column map needs the table's columns: the first chunk's table has them all */
	{
		struct table cols_only = {0};
		cols_only.cols = calloc(x.n_cols + 1, sizeof *cols_only.cols);
		if (!cols_only.cols) {
			rc = error_nomem(err, "the export");
			goto out;
		}
		cols_only.n_cols = x.n_cols;
		for (j = 0; j < x.n_cols; j++)
			cols_only.cols[j].spec = x.cols[j];
		x.colmap = table_encoder_map(&cols_only, &x.spec);
		free(cols_only.cols);
		if (!x.colmap) {
			rc = error_nomem(err, "the export");
			goto out;
		}
	}
	rc = stream(&x, write_chunk, &t, err);
	for (j = 0; !rc && j < EXPORT_PARTS; j++)
		if (x.written[j] != part_rows(&x, (enum export_part)j))
			rc = error_set(err, ERROR_INTERNAL, NULL,
				       "export: the %s part has %zu rows on the last pass, %zu on the first "
				       "(did %s change while it was read?)",
				       export_part_name((enum export_part)j), x.written[j],
				       part_rows(&x, (enum export_part)j), opt->source);
	if (!rc) {
		text = spec_to_string(&x.spec);
		rc = text ? write_file(opt->dir, "spec.json", text, err) : error_nomem(err, "the spec");
		free(text);
		text = NULL;
	}
	if (!rc) {
		manifest = manifest_json(&x, &t, quantiles, vocab);
		text = manifest ? json_dumps(manifest, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSONUTIL_DISPLAY)
				: NULL;
		rc = text ? write_file(opt->dir, "manifest.json", text, err) : error_nomem(err, "the manifest");
	}
	if (!rc) {
		for (j = 0; j < EXPORT_PARTS; j++) {
			sum->rows[j] = x.written[j];
			sum->shards += x.n_shards[j];
		}
		sum->input_size = x.spec.input_size;
		sum->seconds = util_now_s() - t0;
	}
out:
	free(text);
	json_decref(manifest);
	json_decref(quantiles);
	json_decref(vocab);
	table_done(&t);
	exporter_done(&x);
	return rc;
}

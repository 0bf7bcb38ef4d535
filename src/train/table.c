/* table — see include/shelfcast/table.h. */
#include "shelfcast/table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/csvread.h"
#include "shelfcast/util.h"

struct loader {
	struct table *t;
	const struct table_options *opt;
	const char *name;
	/* duplicate detection: open addressing over 128-bit row hashes */
	uint64_t (*seen)[2];
	size_t seen_cap, seen_n;
	const struct csvread_row *header_row;
	char **header; /* copies of the header names, for messages */
	size_t header_n;
	/* table_stream */
	size_t chunk_rows, first;
	struct table_dups *dups;
	table_chunk_fn on_chunk;
	void *ctx;
};

void table_done(struct table *t)
{
	size_t i, j;
	if (!t)
		return;
	for (i = 0; i < t->n_cols; i++) {
		struct table_column *c = &t->cols[i];
		free(c->num);
		free(c->id);
		hashmap_free(c->intern);
		for (j = 0; j < c->n_strings; j++)
			free(c->strings[j]);
		free(c->strings);
	}
	free(t->cols);
	free(t->line);
	memset(t, 0, sizeof *t);
}

int table_column(const struct table *t, const char *name)
{
	size_t i;
	for (i = 0; i < t->n_cols; i++)
		if (!strcmp(t->cols[i].spec.name, name))
			return (int)i;
	return -1;
}

int table_column_kind(const struct table *t, const char *name, enum table_kind kind)
{
	size_t i;
	for (i = 0; i < t->n_cols; i++)
		if (t->cols[i].spec.kind == kind && !strcmp(t->cols[i].spec.name, name))
			return (int)i;
	return -1;
}

static enum error_code on_header(void *ctx, const struct csvread_row *row, struct error *err)
{
	struct loader *L = ctx;
	struct table *t = L->t;
	size_t i;

	L->header = calloc(row->n + 1, sizeof *L->header);
	if (!L->header)
		return error_nomem(err, "the CSV header");
	L->header_n = row->n;
	for (i = 0; i < row->n; i++) { /* csvread refused a name twice */
		L->header[i] = strdup(row->fields[i]);
		if (!L->header[i])
			return error_nomem(err, "the CSV header");
	}
	for (i = 0; i < t->n_cols; i++) {
		struct table_column *c = &t->cols[i];
		c->csv_index = csvread_find(row, c->spec.name);
		if (c->csv_index < 0 && !c->spec.optional)
			return error_set(err, ERROR_INVALID, c->spec.name,
					 "%s has no column \"%s\" (its header has %zu columns, e.g. \"%s\")",
					 L->name, c->spec.name, row->n, row->n ? row->fields[0] : "");
	}
	return ERROR_OK;
}

static bool grow_rows(struct table *t)
{
	size_t cap = t->cap_rows ? t->cap_rows * 2 : 4096, i;
	for (i = 0; i < t->n_cols; i++) {
		struct table_column *c = &t->cols[i];
		if (c->spec.kind == TABLE_IGNORE)
			continue;
		if (c->spec.kind == TABLE_NUMBER || c->spec.kind == TABLE_LABEL01) {
			double *p = realloc(c->num, cap * sizeof *p);
			if (!p)
				return false;
			c->num = p;
		} else {
			int32_t *p = realloc(c->id, cap * sizeof *p);
			if (!p)
				return false;
			c->id = p;
		}
	}
	if (t->line) {
		size_t *p = realloc(t->line, cap * sizeof *p);
		if (!p)
			return false;
		t->line = p;
	}
	t->cap_rows = cap;
	return true;
}

/* Whether read row i is a duplicate by the known bits, or record what seen_before found. */
static bool dups_get(const struct table_dups *d, size_t i)
{
	return i < d->n_rows && (d->bits[i / 64] >> (i % 64)) & 1;
}

static bool dups_put(struct table_dups *d, bool dup)
{
	size_t i = d->n_rows;
	if (i / 64 >= d->cap_words) {
		uint64_t *p = util_reserve(d->bits, &d->cap_words, i / 64, sizeof *p, 1024);
		if (!p)
			return false;
		d->bits = p;
		memset(d->bits + i / 64, 0, (d->cap_words - i / 64) * sizeof *p);
	}
	if (dup)
		d->bits[i / 64] |= 1ULL << (i % 64);
	d->n_rows++;
	return true;
}

/* The 128-bit hash of a row's fields (never all zero). */
static void row_hash(const struct csvread_row *row, uint64_t *h1_out, uint64_t *h2_out)
{
	uint64_t h1 = 0x9e3779b97f4a7c15ULL, h2 = 0x6a09e667f3bcc909ULL;
	size_t i;

	for (i = 0; i < row->n; i++) {
		/* Field length first, so "a,bc" and "ab,c" differ. */
		h1 = hashmap_hash(&row->lens[i], sizeof row->lens[i], h1);
		h1 = hashmap_hash(row->fields[i], row->lens[i], h1);
		h2 = hashmap_hash(row->fields[i], row->lens[i], h2 ^ (uint64_t)row->lens[i]);
	}
	if (!(h1 | h2))
		h1 = 1;
	*h1_out = h1;
	*h2_out = h2;
}

/* 1 when the hash was seen before; records it otherwise; -1 when out of memory. */
static int seen_hash(struct loader *L, uint64_t h1, uint64_t h2)
{
	size_t i, mask;

	if ((L->seen_n + 1) * 2 > L->seen_cap) {
		size_t cap = L->seen_cap ? L->seen_cap * 2 : 1 << 16;
		uint64_t (*n)[2] = calloc(cap, sizeof *n);
		if (!n)
			return -1;
		for (i = 0; i < L->seen_cap; i++)
			if (L->seen[i][0] | L->seen[i][1]) {
				size_t j = (size_t)L->seen[i][0] & (cap - 1);
				while (n[j][0] | n[j][1])
					j = (j + 1) & (cap - 1);
				n[j][0] = L->seen[i][0];
				n[j][1] = L->seen[i][1];
			}
		free(L->seen);
		L->seen = n;
		L->seen_cap = cap;
	}
	mask = L->seen_cap - 1;
	for (i = (size_t)h1 & mask; L->seen[i][0] | L->seen[i][1]; i = (i + 1) & mask)
		if (L->seen[i][0] == h1 && L->seen[i][1] == h2)
			return 1;
	L->seen[i][0] = h1;
	L->seen[i][1] = h2;
	L->seen_n++;
	return 0;
}

/* true when the row was seen before; records it otherwise. */
static int seen_before(struct loader *L, const struct csvread_row *row)
{
	uint64_t h1, h2;
	row_hash(row, &h1, &h2);
	return seen_hash(L, h1, h2);
}

static enum error_code cell_error(struct loader *L, const struct csvread_row *row, int col,
				  const char *what, struct error *err)
{
	return error_set(err, ERROR_INVALID, L->header[col], "%s line %zu, column %d (%s): %s, got \"%.40s\"",
			 L->name, row->line, col + 1, L->header[col], what, row->fields[col]);
}

static int32_t intern(struct table_column *c, const char *s, size_t len)
{
	int32_t id = hashmap_get(c->intern, s, len);
	char **p;

	if (id >= 0)
		return id;
	p = util_reserve(c->strings, &c->cap_strings, c->n_strings, sizeof *p, 64);
	if (!p)
		return -1;
	c->strings = p;
	c->strings[c->n_strings] = strdup(s);
	if (!c->strings[c->n_strings])
		return -1;
	id = hashmap_put(c->intern, s, len, (int32_t)c->n_strings);
	if (id < 0) {
		free(c->strings[c->n_strings]);
		return -1;
	}
	c->n_strings++;
	return id;
}

/* Hand the rows kept so far to the chunk callback and start over. */
static enum error_code flush(struct loader *L, struct error *err)
{
	struct table *t = L->t;
	enum error_code rc;

	if (!t->n_rows)
		return ERROR_OK;
	t->stats.rows_kept += t->n_rows;
	rc = L->on_chunk(L->ctx, t, L->first, err);
	L->first += t->n_rows;
	t->n_rows = 0;
	return rc;
}

static enum error_code on_row(void *ctx, const struct csvread_row *row, struct error *err)
{
	struct loader *L = ctx;
	struct table *t = L->t;
	size_t r = t->n_rows, i;

	t->stats.rows_read++;
	if (L->opt->dedupe) {
		int dup;
		if (L->dups && L->dups->known) {
			dup = dups_get(L->dups, t->stats.rows_read - 1);
		} else {
			dup = seen_before(L, row);
			if (dup >= 0 && L->dups && !dups_put(L->dups, dup))
				dup = -1;
		}
		if (dup < 0)
			return error_nomem(err, "the duplicate index");
		if (dup) {
			t->stats.duplicates++;
			return ERROR_OK;
		}
	}
	if (r == t->cap_rows && !grow_rows(t))
		return error_nomem(err, "the table");
	for (i = 0; i < t->n_cols; i++) {
		struct table_column *c = &t->cols[i];
		int col = c->csv_index;
		const char *s = col >= 0 ? row->fields[col] : "";
		size_t len = col >= 0 ? row->lens[col] : 0;
		bool missing = len == 0;
		double v = NAN;

		switch (c->spec.kind) {
		case TABLE_IGNORE:
			continue;
		case TABLE_NUMBER:
		case TABLE_LABEL01:
			if (!missing && !util_parse_double(s, len, &v))
				return cell_error(L, row, col, "expected a number", err);
			if (!missing && !isfinite(v)) {
				if (c->spec.target) {
					t->stats.target_nonfinite++;
					return ERROR_OK;
				}
				t->stats.nonfinite_values++;
				v = NAN;
				missing = true;
			}
			if (missing && c->spec.target) {
				t->stats.target_missing++;
				return ERROR_OK;
			}
			if (c->spec.target && v < 0) {
				t->stats.target_negative++;
				return ERROR_OK;
			}
			if (!missing && c->spec.kind == TABLE_LABEL01 && v != 0.0 && v != 1.0)
				return cell_error(L, row, col, "the exposure label must be 0 or 1", err);
			c->num[r] = v;
			break;
		case TABLE_LEVEL: {
			long long level;
			size_t k;
			c->id[r] = -1;
			if (missing)
				break;
			if (!util_parse_double(s, len, &v) || v != floor(v) || fabs(v) > 1e9)
				return cell_error(L, row, col, "expected an integer promotion level", err);
			level = (long long)v;
			for (k = 0; k < L->opt->n_levels; k++)
				if (L->opt->levels[k].level == level)
					c->id[r] = (int32_t)k;
			if (c->id[r] < 0)
				return cell_error(L, row, col,
						  "not one of the configured promotion levels", err);
			break;
		}
		case TABLE_CATEGORY:
		case TABLE_TEXT:
			c->id[r] = -1;
			if (missing)
				break;
			if (c->spec.kind == TABLE_CATEGORY && L->opt->max_categories &&
			    c->n_strings >= L->opt->max_categories &&
			    hashmap_get(c->intern, s, len) < 0)
				return error_set(err, ERROR_INVALID, c->spec.name,
						 "%s line %zu: column \"%s\" has more than %zu distinct values "
						 "(cleaning.max_categories)",
						 L->name, row->line, c->spec.name, L->opt->max_categories);
			c->id[r] = intern(c, s, len);
			if (c->id[r] < 0)
				return error_nomem(err, "a category");
			break;
		}
		if (missing && c->spec.drop_missing) {
			t->stats.missing_required++;
			return ERROR_OK;
		}
	}
	if (t->line)
		t->line[r] = row->line;
	t->n_rows++;
	if (L->chunk_rows && t->n_rows == L->chunk_rows)
		return flush(L, err);
	return ERROR_OK;
}

static enum error_code load(FILE *f, struct loader *L, const struct table_colspec *specs,
			   size_t n_specs, struct error *err)
{
	struct table *t = L->t;
	enum error_code rc;
	size_t i;

	t->cols = calloc(n_specs + 1, sizeof *t->cols);
	if (!t->cols)
		return error_nomem(err, "a table");
	t->n_cols = n_specs;
	for (i = 0; i < n_specs; i++) {
		t->cols[i].spec = specs[i];
		t->cols[i].csv_index = -1;
		if (specs[i].kind == TABLE_CATEGORY || specs[i].kind == TABLE_TEXT) {
			t->cols[i].intern = hashmap_new(1024);
			if (!t->cols[i].intern)
				return error_nomem(err, "a table");
		}
	}
	rc = csvread_stream(f, L->name, on_header, on_row, L, t->checksum, err);
	if (!rc && L->chunk_rows)
		rc = flush(L, err);
	free(L->seen);
	for (i = 0; i < L->header_n; i++)
		free(L->header[i]);
	free(L->header);
	return rc;
}

enum error_code table_load(FILE *f, const char *name, const struct table_colspec *specs,
			   size_t n_specs, const struct table_options *opt, struct table *t,
			   struct error *err)
{
	struct loader L = {.t = t, .opt = opt, .name = name};
	enum error_code rc;

	memset(t, 0, sizeof *t);
	rc = load(f, &L, specs, n_specs, err);
	if (rc) {
		table_done(t);
		return rc;
	}
	t->stats.rows_kept = t->n_rows;
	return ERROR_OK;
}

struct hasher {
	FILE *out;
	size_t rows;
};

static enum error_code hash_header(void *ctx, const struct csvread_row *row, struct error *err)
{
	(void)ctx;
	(void)row;
	(void)err;
	return ERROR_OK;
}

static enum error_code hash_row(void *ctx, const struct csvread_row *row, struct error *err)
{
	struct hasher *h = ctx;
	uint64_t v[2];

	row_hash(row, &v[0], &v[1]);
	h->rows++;
	if (fwrite(v, sizeof v, 1, h->out) != 1)
		return error_set(err, ERROR_IO, NULL, "cannot write the row hashes to a temporary file");
	return ERROR_OK;
}

enum error_code table_find_duplicates(FILE *f, const char *name, size_t max_rows,
				      struct table_dups *d, struct error *err)
{
	struct hasher h = {tmpfile(), 0};
	struct loader L = {0};
	size_t parts, k, i;
	enum error_code rc;

	memset(d, 0, sizeof *d);
	if (!h.out)
		return error_set(err, ERROR_IO, NULL, "cannot create a temporary file for the row hashes");
	rc = csvread_stream(f, name, hash_header, hash_row, &h, NULL, err);
	if (!rc && fflush(h.out) != 0)
		rc = error_set(err, ERROR_IO, NULL, "cannot write the row hashes to a temporary file");
	for (i = 0; !rc && i < h.rows; i++)
		if (!dups_put(d, false))
			rc = error_nomem(err, "the duplicate record");
	parts = max_rows ? h.rows / max_rows + 1 : 1;
	for (k = 0; !rc && k < parts; k++) {
		uint64_t v[2];
		rewind(h.out);
		for (i = 0; i < h.rows; i++) {
			int dup;
			if (fread(v, sizeof v, 1, h.out) != 1) {
				rc = error_set(err, ERROR_IO, NULL, "cannot read the row hashes back");
				break;
			}
			if ((v[0] >> 32) % parts != k)
				continue;
			dup = seen_hash(&L, v[0], v[1]);
			if (dup < 0) {
				rc = error_nomem(err, "the duplicate index");
				break;
			}
			if (dup)
				d->bits[i / 64] |= 1ULL << (i % 64);
		}
		free(L.seen);
		L.seen = NULL;
		L.seen_cap = L.seen_n = 0;
	}
	fclose(h.out);
	if (!rc)
		d->known = true;
	return rc;
}

enum error_code table_stream(FILE *f, const char *name, const struct table_colspec *specs,
			     size_t n_specs, const struct table_options *opt, size_t chunk_rows,
			     struct table_dups *dups, table_chunk_fn on_chunk, void *ctx,
			     struct table *t, struct error *err)
{
	struct loader L = {.t = t, .opt = opt, .name = name, .chunk_rows = chunk_rows ? chunk_rows : 1,
			   .dups = dups, .on_chunk = on_chunk, .ctx = ctx};
	enum error_code rc;

	memset(t, 0, sizeof *t);
	if (opt->dedupe && !dups)
		return error_set(err, ERROR_INTERNAL, NULL, "table_stream: dedupe needs a duplicate record");
	t->line = malloc(sizeof *t->line);
	if (!t->line)
		return error_nomem(err, "a table");
	rc = load(f, &L, specs, n_specs, err);
	if (!rc && dups)
		dups->known = true;
	return rc;
}

int *table_encoder_map(const struct table *t, const struct spec *spec)
{
	size_t n = spec->n_numeric + spec->n_categorical, i;
	int *map = calloc(n + 1, sizeof *map);
	for (i = 0; map && i < n; i++)
		map[i] = table_column(t, i < spec->n_numeric ? spec->numeric[i].name
							     : spec->categorical[i - spec->n_numeric].name);
	return map;
}

void table_encoder_values(const struct table *t, const int *map, size_t n_inputs, size_t row,
			  struct encoder_value *v)
{
	size_t i;
	for (i = 0; i < n_inputs; i++) {
		const struct table_column *c = map[i] >= 0 ? &t->cols[map[i]] : NULL;
		v[i].kind = ENCODER_VALUE_MISSING;
		if (!c)
			continue;
		if (c->num) {
			if (!isnan(c->num[row])) {
				v[i].kind = ENCODER_VALUE_NUMBER;
				v[i].number = c->num[row];
			}
		} else if (c->id && c->id[row] >= 0 && c->strings) {
			v[i].kind = ENCODER_VALUE_STRING;
			v[i].str = c->strings[c->id[row]];
			v[i].len = strlen(v[i].str);
		}
	}
}

/*
 * table — a CSV loaded column by column for training and offline scoring.
 *
 * The caller names the columns it needs and their kinds; the loader checks
 * the header, parses every cell strictly (a non-number in a numeric column
 * is an error naming the line and column, never silently NaN), and drops
 * rows the way training needs, counting each reason:
 *   - exact duplicate rows (every field equal; a 128-bit hash of the row)
 *   - a target that is missing, negative or not finite
 *   - a missing value in a column marked drop_missing (exposure, level, split)
 * Categorical and text columns are interned: each distinct string gets an id.
 *
 * Thread-safety: a table belongs to one thread while loading; read-only after.
 */
#ifndef SHELFCAST_TABLE_H
#define SHELFCAST_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shelfcast/encoder.h"
#include "shelfcast/error.h"
#include "shelfcast/hashmap.h"
#include "shelfcast/spec.h"

enum table_kind {
	TABLE_NUMBER,   /* double; NaN when missing */
	TABLE_CATEGORY, /* interned id; -1 when missing */
	TABLE_LABEL01,  /* 0 or 1 as double; anything else is an error */
	TABLE_LEVEL,    /* a promotion level: stored as the level's index; -1 when missing */
	TABLE_TEXT,     /* interned id (ids, kept verbatim) */
	TABLE_IGNORE,   /* the header must name it; its values are not read */
};

struct table_colspec {
	const char *name;
	enum table_kind kind;
	bool optional;     /* the CSV may lack the column: every value is then missing */
	bool target;       /* missing, negative or non-finite drops the row */
	bool drop_missing; /* missing drops the row */
};

struct table_column {
	struct table_colspec spec;
	int csv_index;            /* -1 when the CSV lacks an optional column */
	double *num;              /* NUMBER, LABEL01 */
	int32_t *id;              /* CATEGORY, TEXT, LEVEL */
	struct hashmap *intern;   /* CATEGORY, TEXT */
	char **strings;           /* id -> string */
	size_t n_strings, cap_strings;
};

struct table_stats {
	size_t rows_read;
	size_t rows_kept;
	size_t duplicates;
	size_t target_missing;
	size_t target_negative;
	size_t target_nonfinite;
	size_t missing_required;   /* drop_missing columns */
	size_t nonfinite_values;   /* NaN/Inf in feature columns, treated as missing */
};

struct table_options {
	const struct spec_level *levels; /* for TABLE_LEVEL */
	size_t n_levels;
	bool dedupe;
	size_t max_categories;           /* per CATEGORY column; 0: no cap */
};

struct table {
	struct table_column *cols;
	size_t n_cols;
	size_t n_rows, cap_rows;
	struct table_stats stats;
	char checksum[65];               /* SHA-256 of the file */
	size_t *line;                    /* table_stream only: the CSV line of each row */
};

/* Load `f` (named `name` in messages) keeping the requested columns. */
enum error_code table_load(FILE *f, const char *name, const struct table_colspec *specs,
			   size_t n_specs, const struct table_options *opt, struct table *t,
			   struct error *err);
void table_done(struct table *t);

/*
 * Which data rows of a file are exact duplicates of an earlier row: bit i
 * for the i-th data row read (0-based).  The first table_stream over a file
 * with `known` false finds them with the duplicate index and sets `known`;
 * later streams over the same file read the bits instead, so they drop the
 * same rows without building the index again.  One bit per row read.
 */
struct table_dups {
	uint64_t *bits; /* owned: free() it */
	size_t n_rows, cap_words;
	bool known;
};

/*
 * Find the duplicate rows of f (named `name`) before streaming it, in
 * bounded memory: one pass hashes every row (the 128-bit hash the duplicate
 * index uses) into a temporary file, 16 bytes a row; then each of
 * ceil(rows / max_rows) scans of that file keeps the rows of one hash
 * partition in an index (identical rows share a partition).  Sets d->known.
 * f is read to its end.
 */
enum error_code table_find_duplicates(FILE *f, const char *name, size_t max_rows,
				      struct table_dups *d, struct error *err);

/* Called with the rows kept so far (at most chunk_rows); first: the table row number of t's row 0. */
typedef enum error_code (*table_chunk_fn)(void *ctx, const struct table *t, size_t first,
					  struct error *err);

/*
 * table_load's parsing and cleaning, streamed: t holds at most chunk_rows
 * kept rows at a time, handed to on_chunk and then dropped; interned
 * strings and their ids persist from chunk to chunk, so an id means the
 * same value for the whole file.  t->line gives each row's CSV line.
 * With opt->dedupe, dups (required) says which rows are duplicates (see
 * struct table_dups).  At the end t's stats cover the whole file and
 * t->n_rows is 0; table_done(t) afterwards, on failure too.
 */
enum error_code table_stream(FILE *f, const char *name, const struct table_colspec *specs,
			     size_t n_specs, const struct table_options *opt, size_t chunk_rows,
			     struct table_dups *dups, table_chunk_fn on_chunk, void *ctx,
			     struct table *t, struct error *err);

/* Column index by name, or -1. */
int table_column(const struct table *t, const char *name);
/* The first column of that name read as kind (a CSV column may be read twice: a categorical week and the split's), or -1. */
int table_column_kind(const struct table *t, const char *name, enum table_kind kind);

/*
 * Feed table rows to the encoder: the map gives, per spec input (numeric
 * then categorical), the table column of the same name or -1 (new array,
 * free it; NULL on allocation failure).  table_encoder_values fills the
 * encoder values of one row (values: (n_inputs)).
 */
int *table_encoder_map(const struct table *t, const struct spec *spec);
void table_encoder_values(const struct table *t, const int *map, size_t n_inputs, size_t row,
			  struct encoder_value *values);

#endif

/*
 * splitstream — split.c's parts of a table, row for row, without the
 * table: which part each kept row of a streamed file goes to, from counts
 * taken on a first pass, in memory that grows by one bit per kept row.
 *
 *   test: a time split by the split column's value; a seeded fraction by
 *     replaying rng_shuffle's Fisher-Yates steps (for i = n..2: swap a[i-1],
 *     a[draw % i]), which puts the test rows in positions [0, n_test): every
 *     step with i > n_test fixes position i-1 for good, so one replay per
 *     block of track_rows rows follows where each row of the block goes,
 *     and those still in front at the end are test rows (one bit each);
 *   validation: split.c sorts the training part by (key, row) and takes
 *     the last n_valid, the key a split-column value or a draw of the split
 *     generator after the shuffle's; the cut is found exactly, from the
 *     value counts of the first pass or by a radix select over the keys
 *     (regenerated, never stored: draw k of splitmix64 is one mix of
 *     s0 + (k + 1) * increment).
 *
 * Thread-safety: a plan is read-only after splitstream_plan; a cursor
 * belongs to one pass.
 */
#ifndef SHELFCAST_SPLITSTREAM_H
#define SHELFCAST_SPLITSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "shelfcast/dataset.h"
#include "shelfcast/error.h"

#define SPLITSTREAM_TRACK_ROWS (1u << 21)
#define SPLITSTREAM_MAX_VALUES (1u << 22)

enum splitstream_part { SPLITSTREAM_TRAIN, SPLITSTREAM_VALIDATION, SPLITSTREAM_TEST, SPLITSTREAM_PARTS };

/* "train", "validation", "test". */
const char *splitstream_part_name(enum splitstream_part p);

/* The training part's split values and their counts (for the latest validation slice). */
struct splitstream_values {
	uint64_t *key; /* order-preserving bits of the value; 0: empty slot */
	size_t *count;
	size_t cap, n;
};

/* Count one value: 0, or -1 out of memory, or 1 past SPLITSTREAM_MAX_VALUES distinct values. */
int splitstream_values_add(struct splitstream_values *v, double value);
void splitstream_values_done(struct splitstream_values *v);

/* Validation: a key above `key`, or equal to it with at least `tie` equal keys before it. */
struct splitstream_cut {
	uint64_t key;
	size_t tie;
};

struct splitstream {
	size_t n, n_test, n_all, n_valid;
	uint64_t *test;          /* a fraction split: bit r, kept row r is a test row */
	uint64_t s0;             /* the split generator's start */
	uint64_t key_base;       /* draw number of the first validation key */
	struct splitstream_cut cut;
};

/* Where a pass is: training-part rows seen, and of them, keys equal to the cut's. */
struct splitstream_cursor {
	size_t m, ties;
};

/*
 * The plan for n kept rows, n_test of them test rows by the split column
 * (a time split; ignored otherwise), values their training part's split
 * values (the latest validation slice; may be NULL otherwise), track_rows
 * rows per shuffle replay (0: SPLITSTREAM_TRACK_ROWS).  An empty part is
 * the error split_make gives.  splitstream_done it, on failure too.
 */
enum error_code splitstream_plan(const struct dataset_config *cfg, size_t n, size_t n_test,
				 const struct splitstream_values *values, size_t track_rows,
				 struct splitstream *p, struct error *err);
void splitstream_done(struct splitstream *p);

/* The part of kept row `row`, the rows given in order, split_value its split column's (or 0). */
enum splitstream_part splitstream_part_of(const struct dataset_config *cfg, const struct splitstream *p,
					  struct splitstream_cursor *c, size_t row, double split_value);

/* Rows of a part. */
size_t splitstream_rows(const struct splitstream *p, enum splitstream_part part);

#endif

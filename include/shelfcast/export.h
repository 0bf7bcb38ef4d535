/*
 * export — what `shelfcast train` would train on, written for another
 * trainer (PyTorch DDP, examples/pytorch/train_ddp.py) in memory bounded by
 * a few table chunks and the encoder's state, whatever the input size
 * (plus one bit per row read and per kept row).
 *
 * The data is read five times, never held (the file must be seekable):
 *   0. duplicates: table_find_duplicates, EXPORT_DEDUPE_ROWS rows at a time;
 *   1. count: train's cleaning (table_stream), the kept rows, for a time
 *      split the test rows and the training part's split values; then the
 *      split, row for row as split.c makes it (splitstream.h);
 *   2. statistics of the training part (train + validation, as fit.h): the
 *      winsorizing bounds (tails.h: equal to fit.c's while a tail has at
 *      most EXPORT_EXACT_QUANTILE_MAX values, then from a reservoir within a
 *      documented rank error), the target's mean and variance (Welford), the
 *      category counts (the vocabulary rule of fit.h);
 *   3. the mean and variance of the clipped numeric inputs (Welford);
 *   4. every row encoded by encoder_encode into its part's shard
 *      (shardwrite.h).
 * Means and standard deviations are Welford's, in row order: equal to
 * train's (plain sums over sorted values) to the rounding of a double sum,
 * 1e-15 relative on thousands of rows, about 1e-12 on millions.
 *
 * Output, in dir (created; it must not exist or be empty):
 *   spec.json      the fitted spec (encoder, architecture from model.hidden,
 *                  promotion block), as `models import --spec` reads it
 *   manifest.json  written last: format, parts, shards with rows and
 *                  SHA-256, the input layout, the training settings, the
 *                  raw feature names and every category value (shards.h
 *                  reads it)
 *   {train,validation,test}-NNNNN.safetensors, at most shard_rows rows each,
 *   rows in table order within a part:
 *     x           F32 (rows, input_size)  encoder_encode's vector
 *     sales       F64 (rows)   heads_standardize(spec, units): the sales head's target
 *     units       F64 (rows)   the target as read
 *     exposure    F32 (rows)   the exposure label
 *     row         I64 (rows)   the kept-row number (train's table row)
 *     line        I64 (rows)   the CSV line the row starts on
 *     numeric     F64 (rows, n_numeric_features)  the raw numeric features, NaN when missing
 *     categorical I32 (rows, n_categorical)       index into the manifest's values, -1 missing
 *     level       I32 (rows)   index into the promotion levels
 * The raw columns let `models evaluate` score any version through its own
 * encoder.  Training rows are not routed to the unknown slots
 * (coldstart.h): the manifest gives coldstart_share for the trainer to do it.
 *
 * Thread-safety: one export per thread.
 */
#ifndef SHELFCAST_EXPORT_H
#define SHELFCAST_EXPORT_H

#include <stddef.h>
#include <stdio.h>

#include "shelfcast/dataset.h"
#include "shelfcast/error.h"

#define EXPORT_FORMAT "shelfcast.dataset.v1"
#define EXPORT_DEFAULT_SHARD_ROWS 1000000
#define EXPORT_MAX_SHARD_ROWS 100000000
#define EXPORT_CHUNK_ROWS 8192
#define EXPORT_EXACT_QUANTILE_MAX (1u << 18)
#define EXPORT_DEDUPE_ROWS (1u << 20)

enum export_part { EXPORT_TRAIN, EXPORT_VALIDATION, EXPORT_TEST, EXPORT_PARTS };

struct export_options {
	const char *dir;     /* the output directory */
	size_t shard_rows;   /* 1..EXPORT_MAX_SHARD_ROWS */
	const char *source;  /* the data's name, for messages and the manifest */
	size_t track_rows;   /* rows one replay of the shuffle follows; 0: SPLITSTREAM_TRACK_ROWS */
	size_t exact_tail;   /* longest quantile tail kept exactly; 0: EXPORT_EXACT_QUANTILE_MAX */
};

struct export_summary {
	size_t rows[EXPORT_PARTS];
	size_t shards;
	size_t input_size;
	double seconds;
};

/* The part's name in file names and the manifest ("train", "validation", "test"). */
const char *export_part_name(enum export_part p);

/*
 * Export f (a CSV with a header, seekable: it is read five times) under
 * cfg into opt->dir.  Errors name the config field, the CSV line and
 * column, or the file at fault, as train's do.
 */
enum error_code export_dataset(const struct dataset_config *cfg, FILE *f,
			       const struct export_options *opt, struct export_summary *sum,
			       struct error *err);

#endif

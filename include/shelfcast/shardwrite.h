/*
 * shardwrite — the export's safetensors shards (export.h), written as rows
 * arrive in any order of parts, in memory for SHARDWRITE_BUFFER_ROWS rows
 * per part.
 *
 * A part's row count is known before its first row, so each shard's header
 * (tensors back to back, in the order of enum shardwrite_tensor) is written
 * when the shard opens and the file is sized then; a part's buffered rows
 * go to their places in each tensor with pwrite.  A full shard is closed,
 * read back for its SHA-256 and listed (file, part, rows, bytes, sha256)
 * for the manifest.  Shards are "<part>-NNNNN.safetensors", created with
 * O_EXCL in the directory.
 *
 * Thread-safety: one writer per thread.
 */
#ifndef SHELFCAST_SHARDWRITE_H
#define SHELFCAST_SHARDWRITE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "shelfcast/error.h"
#include "shelfcast/splitstream.h"

#define SHARDWRITE_BUFFER_ROWS 2048

/* The tensors of a shard, in file order; the dtypes are in shardwrite.c's table. */
enum shardwrite_tensor {
	SHARDWRITE_X,           /* F32 (rows, input_size) */
	SHARDWRITE_SALES,       /* F64 (rows) */
	SHARDWRITE_UNITS,       /* F64 (rows) */
	SHARDWRITE_EXPOSURE,    /* F32 (rows) */
	SHARDWRITE_ROW,         /* I64 (rows) */
	SHARDWRITE_LINE,        /* I64 (rows) */
	SHARDWRITE_NUMERIC,     /* F64 (rows, n_numeric) */
	SHARDWRITE_CATEGORICAL, /* I32 (rows, n_categorical) */
	SHARDWRITE_LEVEL,       /* I32 (rows) */
	SHARDWRITE_TENSORS
};

struct shardwrite_part {
	int fd;                 /* the open shard, or -1 */
	char name[64];
	size_t rows, filled, buffered, index;
	uint64_t data_start;
	size_t total, written, n_shards;
	uint8_t *buf[SHARDWRITE_TENSORS];
};

struct shardwrite {
	const char *dir;        /* borrowed */
	size_t shard_rows;
	size_t width[SHARDWRITE_TENSORS];
	struct shardwrite_part part[SPLITSTREAM_PARTS];
	json_t *list;           /* owned: the shards written, for the manifest */
};

/* A writer of total[p] rows per part into dir (which must outlive it). */
enum error_code shardwrite_init(struct shardwrite *w, const char *dir, size_t shard_rows,
				const size_t total[SPLITSTREAM_PARTS], size_t input_size,
				size_t n_numeric, size_t n_categorical, struct error *err);
/*
 * Where part p's next row goes: slot[k] points at its place in tensor k's
 * buffer (width[k] values of the tensor's dtype), valid until the commit.
 */
enum error_code shardwrite_next(struct shardwrite *w, enum splitstream_part p,
				uint8_t *slot[SHARDWRITE_TENSORS], struct error *err);
/* The row is filled in: written out when the buffer or the shard is full. */
enum error_code shardwrite_commit(struct shardwrite *w, enum splitstream_part p, struct error *err);
void shardwrite_done(struct shardwrite *w);

#endif

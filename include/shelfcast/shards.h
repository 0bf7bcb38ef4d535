/*
 * shards — reading what `shelfcast dataset export` wrote (export.h), to
 * score a registered version on the exported test rows through its own
 * encoder and network: the one measure of quality whoever trained it.
 *
 * manifest.json is trusted no more than a request body: every field used
 * is checked (format, names, counts, shard file names without a directory,
 * SHA-256 spelled as 64 hex digits, rows within EXPORT_MAX_SHARD_ROWS, the
 * test shards' rows adding up to parts.test), and errors name the field
 * ("manifest.json: shards[2].file: ...").  A shard is read whole (at most
 * one at a time), its SHA-256 checked against the manifest, then parsed by
 * safetensors_parse and each tensor used checked for dtype and shape (the
 * manifest's row count and widths) and its values for range: category
 * indices within the manifest's values or -1, level indices within the
 * levels, labels 0 or 1, targets finite and >= 0.
 *
 * Thread-safety: no shared state.
 */
#ifndef SHELFCAST_SHARDS_H
#define SHELFCAST_SHARDS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "shelfcast/error.h"
#include "shelfcast/model.h"
#include "shelfcast/spec.h"

#define SHARDS_MAX_MANIFEST (256u << 20)
#define SHARDS_MAX_SHARDS 100000

struct shards_categorical {
	char *name;
	char **values; /* n_values, in index order */
	size_t n_values;
};

struct shards_file {
	char *file;         /* a plain file name in the export directory */
	int part;           /* enum export_part */
	size_t rows;
	char sha256[65];
};

struct shards_manifest {
	size_t input_size;
	enum spec_transform transform;
	char **numeric;     /* raw numeric feature names, the columns of `numeric` */
	size_t n_numeric;
	struct shards_categorical *categorical;
	size_t n_categorical;
	long long *levels;
	size_t n_levels;
	struct shards_file *shards;
	size_t n_shards;
	size_t test_rows;
	char source_sha256[65];
};

/* Parse manifest.json's text (len bytes) into m (shards_manifest_done it, on failure too). */
enum error_code shards_manifest_parse(const char *text, size_t len, struct shards_manifest *m,
				      struct error *err);
/* dir/manifest.json, read and parsed. */
enum error_code shards_manifest_load(const char *dir, struct shards_manifest *m, struct error *err);
void shards_manifest_done(struct shards_manifest *m);

/*
 * Score model m on the manifest's test shards in dir: every row encoded
 * from its raw features by m's encoder at its own level, forwarded by m's
 * network, scored on the export's transformed scale as train scores its
 * test part (evaluate.h).  *metrics (new): {"sales": {...}, "exposure":
 * {...}, "test_rows": n}.  An input m needs that the export lacks, or a
 * level m does not know, is an error naming it.
 */
enum error_code shards_evaluate(const struct model *m, const struct shards_manifest *mf,
				const char *dir, json_t **metrics, struct error *err);

/*
 * shards_evaluate on the bytes of the manifest's first test shard, its
 * checksum not checked (the other test shards are not read, so their rows
 * count as missing): what the shard reader does with any file, for the fuzz
 * target.
 */
enum error_code shards_evaluate_bytes(const struct model *m, const struct shards_manifest *mf,
				      const uint8_t *bytes, size_t len, json_t **metrics, struct error *err);

#endif

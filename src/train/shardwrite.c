/* shardwrite — see include/shelfcast/shardwrite.h. */
#include "shelfcast/shardwrite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shelfcast/export.h"
#include "shelfcast/sha256.h"

static const struct {
	const char *name, *dtype;
	size_t esize;
	int matrix;
} kinds[SHARDWRITE_TENSORS] = {
	[SHARDWRITE_X] = {"x", "F32", 4, 1},
	[SHARDWRITE_SALES] = {"sales", "F64", 8, 0},
	[SHARDWRITE_UNITS] = {"units", "F64", 8, 0},
	[SHARDWRITE_EXPOSURE] = {"exposure", "F32", 4, 0},
	[SHARDWRITE_ROW] = {"row", "I64", 8, 0},
	[SHARDWRITE_LINE] = {"line", "I64", 8, 0},
	[SHARDWRITE_NUMERIC] = {"numeric", "F64", 8, 1},
	[SHARDWRITE_CATEGORICAL] = {"categorical", "I32", 4, 1},
	[SHARDWRITE_LEVEL] = {"level", "I32", 4, 0},
};

enum error_code shardwrite_init(struct shardwrite *w, const char *dir, size_t shard_rows,
				const size_t total[SPLITSTREAM_PARTS], size_t input_size,
				size_t n_numeric, size_t n_categorical, struct error *err)
{
	size_t p, k;

	memset(w, 0, sizeof *w);
	w->dir = dir;
	w->shard_rows = shard_rows;
	for (k = 0; k < SHARDWRITE_TENSORS; k++)
		w->width[k] = 1;
	w->width[SHARDWRITE_X] = input_size;
	w->width[SHARDWRITE_NUMERIC] = n_numeric;
	w->width[SHARDWRITE_CATEGORICAL] = n_categorical;
	w->list = json_array();
	for (p = 0; p < SPLITSTREAM_PARTS; p++) {
		w->part[p].fd = -1;
		w->part[p].total = total[p];
		for (k = 0; k < SHARDWRITE_TENSORS; k++)
			w->part[p].buf[k] = malloc(SHARDWRITE_BUFFER_ROWS * w->width[k] * kinds[k].esize + 8);
	}
	for (p = 0; p < SPLITSTREAM_PARTS; p++)
		for (k = 0; k < SHARDWRITE_TENSORS; k++)
			if (!w->part[p].buf[k] || !w->list) {
				shardwrite_done(w);
				return error_nomem(err, "the shard buffers");
			}
	return ERROR_OK;
}

void shardwrite_done(struct shardwrite *w)
{
	size_t p, k;
	if (!w)
		return;
	for (p = 0; p < SPLITSTREAM_PARTS; p++) {
		if (w->part[p].fd >= 0)
			close(w->part[p].fd);
		for (k = 0; k < SHARDWRITE_TENSORS; k++)
			free(w->part[p].buf[k]);
	}
	json_decref(w->list);
	memset(w, 0, sizeof *w);
	for (p = 0; p < SPLITSTREAM_PARTS; p++)
		w->part[p].fd = -1;
}

/* The header of a shard of `rows` rows (new), padded to a multiple of 8 bytes; *data: the tensors' bytes. */
static char *header(const struct shardwrite *w, enum splitstream_part p, size_t index, size_t rows,
		    size_t *len, size_t *data)
{
	char num[32];
	json_t *h = json_object();
	size_t k, off = 0;
	char *text = NULL;

	snprintf(num, sizeof num, "%zu", index);
	if (!h || json_object_set_new(h, "__metadata__",
				      json_pack("{s:s, s:s, s:s}", "format", EXPORT_FORMAT, "part",
						splitstream_part_name(p), "shard", num)))
		goto out;
	for (k = 0; k < SHARDWRITE_TENSORS; k++) {
		size_t bytes = rows * w->width[k] * kinds[k].esize;
		json_t *shape = kinds[k].matrix ? json_pack("[I, I]", (json_int_t)rows, (json_int_t)w->width[k])
						: json_pack("[I]", (json_int_t)rows);
		if (json_object_set_new(h, kinds[k].name,
					json_pack("{s:s, s:o, s:[I, I]}", "dtype", kinds[k].dtype, "shape", shape,
						  "data_offsets", (json_int_t)off, (json_int_t)(off + bytes))))
			goto out;
		off += bytes;
	}
	text = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text) {
		size_t n = strlen(text), padded = (n + 7) / 8 * 8;
		char *p2 = realloc(text, padded + 1);
		if (!p2) {
			free(text);
			text = NULL;
			goto out;
		}
		text = p2;
		memset(text + n, ' ', padded - n);
		text[padded] = '\0';
		*len = padded;
		*data = off;
	}
out:
	json_decref(h);
	return text;
}

/* Open part p's next shard: the header written, the file sized. */
static enum error_code shard_open(struct shardwrite *w, enum splitstream_part p, struct error *err)
{
	struct shardwrite_part *s = &w->part[p];
	size_t left = s->total - s->written, len = 0, data = 0;
	char path[4096], *text;
	uint8_t len8[8];
	int i;

	s->rows = left < w->shard_rows ? left : w->shard_rows;
	s->filled = s->buffered = 0;
	s->index = s->n_shards++;
	snprintf(s->name, sizeof s->name, "%s-%05zu.safetensors", splitstream_part_name(p), s->index);
	text = header(w, p, s->index, s->rows, &len, &data);
	if (!text)
		return error_nomem(err, "a shard header");
	for (i = 0; i < 8; i++)
		len8[i] = (uint8_t)((uint64_t)len >> (8 * i));
	snprintf(path, sizeof path, "%s/%s", w->dir, s->name);
	s->data_start = 8 + len;
	s->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (s->fd < 0 || write(s->fd, len8, 8) != 8 || write(s->fd, text, len) != (ssize_t)len ||
	    ftruncate(s->fd, (off_t)(s->data_start + data)) != 0) {
		free(text);
		return error_set(err, ERROR_IO, NULL, "cannot %s %s: %s", s->fd < 0 ? "create" : "write",
				 path, strerror(errno));
	}
	free(text);
	return ERROR_OK;
}

static enum error_code shard_flush(struct shardwrite *w, enum splitstream_part p, struct error *err)
{
	struct shardwrite_part *s = &w->part[p];
	uint64_t off = s->data_start;
	size_t k;

	for (k = 0; k < SHARDWRITE_TENSORS; k++) {
		size_t row_bytes = w->width[k] * kinds[k].esize, n = s->buffered * row_bytes;
		if (n && pwrite(s->fd, s->buf[k], n, (off_t)(off + s->filled * row_bytes)) != (ssize_t)n)
			return error_set(err, ERROR_IO, NULL, "cannot write %s/%s: %s", w->dir, s->name,
					 strerror(errno));
		off += s->rows * row_bytes;
	}
	s->filled += s->buffered;
	s->buffered = 0;
	return ERROR_OK;
}

/* Close a full shard and list it with its SHA-256, read back from the file. */
static enum error_code shard_close(struct shardwrite *w, enum splitstream_part p, struct error *err)
{
	struct shardwrite_part *s = &w->part[p];
	struct sha256 h;
	char hex[SHA256_HEX_SIZE], path[4096];
	uint8_t *buf = malloc(1 << 16);
	ssize_t got = 0;
	off_t at = 0;
	int fd = -1;
	enum error_code rc = ERROR_OK;

	snprintf(path, sizeof path, "%s/%s", w->dir, s->name);
	if (close(s->fd) != 0)
		rc = error_set(err, ERROR_IO, NULL, "cannot write %s: %s", path, strerror(errno));
	s->fd = -1;
	if (!rc && !buf)
		rc = error_nomem(err, "a checksum");
	if (!rc && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		rc = error_set(err, ERROR_IO, NULL, "cannot read %s back: %s", path, strerror(errno));
	sha256_init(&h);
	while (!rc && (got = pread(fd, buf, 1 << 16, at)) > 0) {
		sha256_update(&h, buf, (size_t)got);
		at += got;
	}
	if (!rc && got < 0)
		rc = error_set(err, ERROR_IO, NULL, "cannot read %s back: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(buf);
	if (rc)
		return rc;
	sha256_final_hex(&h, hex);
	if (json_array_append_new(w->list, json_pack("{s:s, s:s, s:I, s:I, s:s}", "file", s->name, "part",
						     splitstream_part_name(p), "rows", (json_int_t)s->rows,
						     "bytes", (json_int_t)at, "sha256", hex)))
		return error_nomem(err, "the manifest");
	return ERROR_OK;
}

enum error_code shardwrite_next(struct shardwrite *w, enum splitstream_part p,
				uint8_t *slot[SHARDWRITE_TENSORS], struct error *err)
{
	struct shardwrite_part *s = &w->part[p];
	enum error_code rc;
	size_t k;

	if (s->written >= s->total)
		return error_set(err, ERROR_INTERNAL, NULL, "shardwrite: more %s rows than planned",
				 splitstream_part_name(p));
	if (s->fd < 0 && (rc = shard_open(w, p, err)) != ERROR_OK)
		return rc;
	for (k = 0; k < SHARDWRITE_TENSORS; k++)
		slot[k] = s->buf[k] + s->buffered * w->width[k] * kinds[k].esize;
	return ERROR_OK;
}

enum error_code shardwrite_commit(struct shardwrite *w, enum splitstream_part p, struct error *err)
{
	struct shardwrite_part *s = &w->part[p];
	enum error_code rc = ERROR_OK;

	s->written++;
	if (++s->buffered == SHARDWRITE_BUFFER_ROWS || s->filled + s->buffered == s->rows)
		rc = shard_flush(w, p, err);
	if (!rc && s->filled == s->rows)
		rc = shard_close(w, p, err);
	return rc;
}

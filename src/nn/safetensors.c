/* safetensors — see include/shelfcast/safetensors.h. */
#include "shelfcast/safetensors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/util.h"

static size_t dtype_size(const char *dtype)
{
	static const struct {
		const char *name;
		size_t size;
	} table[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
		     {"I16", 2}, {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"U16", 2}, {"U32", 4},
		     {"U64", 8}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
	size_t i;
	for (i = 0; i < sizeof table / sizeof table[0]; i++)
		if (!strcmp(table[i].name, dtype))
			return table[i].size;
	return 0;
}

void safetensors_done(struct safetensors *st)
{
	if (!st)
		return;
	free(st->tensors);
	free(st->spec_json);
	free(st->metrics_json);
	memset(st, 0, sizeof *st);
}

static int by_begin(const void *a, const void *b)
{
	const size_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

static enum error_code parse_metadata(json_t *meta, struct safetensors *st, struct error *err)
{
	const char *key;
	json_t *v;

	if (!json_is_object(meta))
		return error_set(err, ERROR_INVALID, "__metadata__",
				 "safetensors: __metadata__ must be an object of strings");
	json_object_foreach(meta, key, v) {
		if (!json_is_string(v))
			return error_set(err, ERROR_INVALID, "__metadata__",
					 "safetensors: __metadata__.%s must be a string", key);
		if (!strcmp(key, "spec") || !strcmp(key, "metrics")) {
			char **dst = key[0] == 's' ? &st->spec_json : &st->metrics_json;
			free(*dst);
			*dst = strdup(json_string_value(v));
			if (!*dst)
				return error_nomem(err, "safetensors metadata");
		}
	}
	return ERROR_OK;
}

static enum error_code parse_entry(const char *name, json_t *v, size_t data_len, struct tensor *t,
				   size_t range[2], struct error *err)
{
	json_t *dtype = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
	       *offs = json_object_get(v, "data_offsets"), *dim;
	size_t count = 1, bytes, esize, i;
	json_int_t b, e;

	if (!json_is_object(v) || json_object_size(v) != 3 || !json_is_string(dtype) ||
	    !json_is_array(shape) || !json_is_array(offs))
		return error_set(err, ERROR_INVALID, name,
				 "safetensors: tensor %s must be {dtype, shape, data_offsets}", name);
	if (strlen(name) >= sizeof t->name)
		return error_set(err, ERROR_INVALID, name, "safetensors: tensor name %.40s... is too long",
				 name);
	snprintf(t->name, sizeof t->name, "%s", name);
	esize = dtype_size(json_string_value(dtype));
	if (!esize)
		return error_set(err, ERROR_INVALID, name, "safetensors: tensor %s has unknown dtype %.16s",
				 name, json_string_value(dtype));
	snprintf(t->dtype, sizeof t->dtype, "%s", json_string_value(dtype));
	if (json_array_size(shape) > TENSOR_MAX_DIMS)
		return error_set(err, ERROR_INVALID, name,
				 "safetensors: tensor %s has %zu dimensions (at most %d)", name,
				 json_array_size(shape), TENSOR_MAX_DIMS);
	t->ndim = json_array_size(shape);
	json_array_foreach(shape, i, dim) {
		if (!json_is_integer(dim) || json_integer_value(dim) < 0)
			return error_set(err, ERROR_INVALID, name,
					 "safetensors: tensor %s: shape[%zu] is not a non-negative integer",
					 name, i);
		t->shape[i] = (size_t)json_integer_value(dim);
		if (!util_mul_size(count, t->shape[i], &count))
			return error_set(err, ERROR_INVALID, name, "safetensors: tensor %s: size overflows",
					 name);
	}
	if (!util_mul_size(count, esize, &bytes))
		return error_set(err, ERROR_INVALID, name, "safetensors: tensor %s: size overflows", name);
	if (json_array_size(offs) != 2 || !json_is_integer(json_array_get(offs, 0)) ||
	    !json_is_integer(json_array_get(offs, 1)))
		return error_set(err, ERROR_INVALID, name,
				 "safetensors: tensor %s: data_offsets must be [begin, end]", name);
	b = json_integer_value(json_array_get(offs, 0));
	e = json_integer_value(json_array_get(offs, 1));
	if (b < 0 || e < b || (uint64_t)e > data_len)
		return error_set(err, ERROR_INVALID, name,
				 "safetensors: tensor %s: data_offsets [%lld, %lld] outside the %zu-byte "
				 "data buffer",
				 name, (long long)b, (long long)e, data_len);
	if ((uint64_t)(e - b) != bytes)
		return error_set(err, ERROR_INVALID, name,
				 "safetensors: tensor %s: %lld bytes of data for a shape needing %zu",
				 name, (long long)(e - b), bytes);
	range[0] = (size_t)b;
	range[1] = (size_t)e;
	t->nbytes = bytes;
	return ERROR_OK;
}

enum error_code safetensors_parse(const uint8_t *bytes, size_t len, struct safetensors *st,
				  struct error *err)
{
	json_error_t jerr;
	json_t *header = NULL, *v;
	const char *key;
	size_t (*ranges)[2] = NULL, data_len, i, n = 0;
	uint64_t hlen = 0;
	enum error_code rc = ERROR_OK;
	const uint8_t *data;

	memset(st, 0, sizeof *st);
	if (len < 8)
		return error_set(err, ERROR_INVALID, NULL,
				 "safetensors: %zu bytes is too short for the 8-byte header length", len);
	for (i = 0; i < 8; i++)
		hlen |= (uint64_t)bytes[i] << (8 * i);
	if (hlen > SAFETENSORS_MAX_HEADER || hlen > len - 8)
		return error_set(err, ERROR_INVALID, NULL,
				 "safetensors: header length %llu does not fit in the %zu-byte file",
				 (unsigned long long)hlen, len);
	if (hlen < 2)
		return error_set(err, ERROR_INVALID, NULL, "safetensors: header is empty");
	header = json_loadb((const char *)bytes + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
	if (!header)
		return json_error_code(&jerr) == json_error_out_of_memory || !jerr.text[0]
			       ? error_nomem(err, "the safetensors header")
			       : error_set(err, ERROR_INVALID, NULL,
					   "safetensors: header is not valid JSON: %s", jerr.text);
	if (!json_is_object(header)) {
		rc = error_set(err, ERROR_INVALID, NULL, "safetensors: header must be a JSON object");
		goto out;
	}
	data = bytes + 8 + hlen;
	data_len = len - 8 - (size_t)hlen;
	if (json_object_size(header) > SAFETENSORS_MAX_TENSORS + 1) {
		rc = error_set(err, ERROR_INVALID, NULL, "safetensors: more than %d tensors",
			       SAFETENSORS_MAX_TENSORS);
		goto out;
	}
	st->tensors = calloc(json_object_size(header) + 1, sizeof *st->tensors);
	ranges = calloc(json_object_size(header) + 1, sizeof *ranges);
	if (!st->tensors || !ranges) {
		rc = error_nomem(err, "safetensors tensors");
		goto out;
	}
	json_object_foreach(header, key, v) {
		if (!strcmp(key, "__metadata__")) {
			rc = parse_metadata(v, st, err);
		} else {
			rc = parse_entry(key, v, data_len, &st->tensors[n], ranges[n], err);
			if (!rc) {
				st->tensors[n].data = data + ranges[n][0];
				n++;
			}
		}
		if (rc)
			goto out;
	}
	st->n_tensors = n;
	/* The tensors must tile the data buffer: sorted by begin, each starts where the last ended. */
	qsort(ranges, n, sizeof *ranges, by_begin);
	{
		size_t at = 0;
		for (i = 0; i < n; i++) {
			if (ranges[i][0] != at) {
				rc = error_set(err, ERROR_INVALID, NULL,
					       ranges[i][0] < at
						       ? "safetensors: tensors overlap at data offset %zu"
						       : "safetensors: gap in the data buffer at offset %zu",
					       ranges[i][0] < at ? ranges[i][0] : at);
				goto out;
			}
			at = ranges[i][1];
		}
		if (at != data_len)
			rc = error_set(err, ERROR_INVALID, NULL,
				       "safetensors: %zu trailing bytes after the last tensor",
				       data_len - at);
	}
out:
	free(ranges);
	json_decref(header);
	if (rc)
		safetensors_done(st);
	return rc;
}

enum error_code safetensors_write(const struct tensor *tensors, size_t n, const char *spec_json,
				  struct strbuf *out, struct error *err)
{
	json_t *header = json_object(), *meta = json_object();
	char *text = NULL;
	size_t hlen, pad, offset = 0, i;
	uint8_t le[8];
	int fail = !header || !meta;

	for (i = 0; !fail && i < n; i++) {
		json_t *shape = json_array(), *entry;
		size_t d;
		for (d = 0; shape && d < tensors[i].ndim; d++)
			if (json_array_append_new(shape, json_integer((json_int_t)tensors[i].shape[d])))
				fail = 1;
		entry = json_pack("{s:s, s:o, s:[I, I]}", "dtype", tensors[i].dtype, "shape", shape,
				  "data_offsets", (json_int_t)offset,
				  (json_int_t)(offset + tensors[i].nbytes));
		if (!entry || json_object_set_new(header, tensors[i].name, entry))
			fail = 1;
		offset += tensors[i].nbytes;
	}
	if (!fail && spec_json && json_object_set_new(meta, "spec", json_string(spec_json)))
		fail = 1;
	if (!fail && json_object_set_new(meta, "format", json_string("pt")))
		fail = 1;
	if (!fail) {
		fail = json_object_set_new(header, "__metadata__", meta) != 0;
		meta = NULL;
	}
	if (!fail)
		text = json_dumps(header, JSON_COMPACT);
	json_decref(meta);
	json_decref(header);
	if (fail || !text) {
		free(text);
		return error_nomem(err, "a safetensors header");
	}
	hlen = strlen(text);
	pad = (8 - (8 + hlen) % 8) % 8;
	for (i = 0; i < 8; i++)
		le[i] = (uint8_t)((uint64_t)(hlen + pad) >> (8 * i));
	strbuf_append(out, le, 8);
	strbuf_append(out, text, hlen);
	for (i = 0; i < pad; i++)
		strbuf_putc(out, ' ');
	free(text);
	for (i = 0; i < n; i++)
		strbuf_append(out, tensors[i].data, tensors[i].nbytes);
	if (strbuf_failed(out))
		return error_nomem(err, "a safetensors file");
	return ERROR_OK;
}

/* predict_limits — see include/shelfcast/predict_limits.h. */
#include "shelfcast/predict_limits.h"

#include "shelfcast/jsonutil.h"

#include <string.h>

/* What a reply costs at most per item (besides its id) and per listed level, for the memory limit. */
#define REPLY_ITEM_BYTES 256
#define REPLY_LEVEL_BYTES 128
/* and, with explain, per explanation and per contribution */
#define REPLY_EXPLAIN_BYTES 192
#define REPLY_CONTRIBUTION_BYTES 192
#define MIB (1024.0 * 1024.0)

/*
 * Whether the body's top-level "items" array holds more than limit
 * elements, found by scanning its structure only (strings and nesting) and
 * stopping at element limit + 1: a body far over the item limit is refused
 * before it is parsed.  A body the scan cannot follow (not JSON, the key
 * written with escapes) gives false, and the parser decides.
 */
bool predict_limits_items_over(const char *body, size_t len, size_t limit)
{
	const char *p = body, *end = body + len, *s;
	bool items_key = false, in_items = false;
	char last = 0; /* the last structural byte seen at depth 1 */
	size_t count = 0;
	int depth = 0;

	for (; p < end; p++) {
		char c = *p;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (in_items && depth == 2 && count == 0 && c != ']')
			count = 1; /* the first element begins */
		switch (c) {
		case '"':
			for (s = ++p; p < end && *p != '"'; p++)
				if (*p == '\\')
					p++;
			if (p >= end)
				return false;
			if (depth == 1 && (last == '{' || last == ','))
				items_key = p - s == 5 && !memcmp(s, "items", 5);
			break;
		case '{':
		case '[':
			if (++depth == 1)
				last = c;
			else if (depth == 2 && c == '[' && last == ':' && items_key)
				in_items = true;
			break;
		case '}':
		case ']':
			if (depth == 2)
				in_items = false;
			if (--depth == 1)
				last = c;
			break;
		case ',':
		case ':':
			if (depth == 1)
				last = c;
			else if (c == ',' && depth == 2 && in_items && ++count > limit)
				return true;
			break;
		default:
			break;
		}
	}
	return false;
}

enum error_code predict_limits_too_many_items(size_t max_items, struct error *err)
{
	return error_set(err, ERROR_TOO_LARGE, "items",
			 "items: more than the limit of %zu items per request", max_items);
}

bool predict_limits_too_many_explained(const struct predict_limits *lim, bool explain, size_t n)
{
	return explain && lim->max_explain_items && n > lim->max_explain_items;
}

enum error_code predict_limits_explained(const struct predict_limits *lim, bool explain, size_t n,
					 struct error *err)
{
	if (!predict_limits_too_many_explained(lim, explain, n))
		return ERROR_OK;
	return error_set(err, ERROR_TOO_LARGE, "explain",
			 "explain: more than the limit of %zu explained items per request", lim->max_explain_items);
}

enum error_code predict_limits_parse(const char *body, size_t len, const struct predict_limits *lim,
				     json_t **root, struct error *err)
{
	json_error_t jerr;

	*root = NULL;
	if (predict_limits_items_over(body, len, lim->max_items))
		return predict_limits_too_many_items(lim->max_items, err);
	*root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	return *root ? ERROR_OK : jsonutil_syntax_error(&jerr, "the request", err);
}

/*
 * What n items of model m would cost beyond the body: the reply (a fixed
 * part, every categorical feature's name when all are unknown, the levels
 * when listed, explanations when asked) and the encoding work (n rows of the
 * model's width, zeroed and scanned, a tile at a time).  Refused before any
 * work when over
 * the limit.
 */
enum error_code predict_limits_check_memory(const struct model *m, size_t n, bool include_levels, bool explain,
					    size_t max_memory, struct error *err)
{
	double features = (double)(m->spec.n_numeric + m->spec.n_categorical + 1); /* at most */
	double per_item = REPLY_ITEM_BYTES + (double)m->spec.input_size * sizeof(float) +
			  (include_levels ? (double)m->spec.n_levels * REPLY_LEVEL_BYTES : 0.0) +
			  (explain ? REPLY_EXPLAIN_BYTES + features * REPLY_CONTRIBUTION_BYTES : 0.0);
	double bytes;

	/* every categorical name, quoted, in the item's unknown list */
	per_item += (double)m->categorical_names_len + 3.0 * (double)m->spec.n_categorical;
	bytes = (double)n * per_item;
	if (max_memory && bytes > (double)max_memory)
		return error_set(err, ERROR_TOO_LARGE, "items",
				 "items: %zu items of model %s would take about %.1f MiB to encode and "
				 "answer, more than the limit of %.1f MiB per request",
				 n, m->name, bytes / MIB, (double)max_memory / MIB);
	return ERROR_OK;
}

enum error_code predict_limits_items(json_t *root, size_t max_items, json_t **items, size_t *n,
				     struct error *err)
{
	enum error_code rc = jsonutil_get_typed(root, "items", "", true, JSON_ARRAY, items, err);

	if (rc)
		return rc;
	*n = json_array_size(*items);
	if (*n == 0)
		return error_set(err, ERROR_INVALID, "items", "items: must hold at least one item");
	if (*n > max_items)
		return predict_limits_too_many_items(max_items, err);
	return ERROR_OK;
}

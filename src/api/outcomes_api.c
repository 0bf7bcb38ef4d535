/* outcomes_api — see include/shelfcast/outcomes_api.h. */
#include "shelfcast/outcomes_api.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "shelfcast/jsonutil.h"

static enum error_code one(const json_t *item, size_t i, struct outcomes *o, struct error *err)
{
	char field[JSONUTIL_PATH_MAX], name[JSONUTIL_PATH_MAX + 32];
	const json_t *id = NULL, *units = NULL, *v;
	enum outcome_exposed exposed = OUTCOME_EXPOSED_UNKNOWN;
	const char *key;

	jsonutil_path_index(field, "outcomes", i);
	if (!json_is_object(item))
		return error_set(err, ERROR_INVALID, field, "%s: expected an object, got %s", field,
				 jsonutil_type_name(item));
	json_object_foreach((json_t *)item, key, v) {
		if (!strcmp(key, "prediction_id")) {
			id = v;
		} else if (!strcmp(key, "units")) {
			units = v;
		} else if (!strcmp(key, "exposed")) {
			if (json_is_boolean(v)) {
				exposed = json_is_true(v) ? OUTCOME_EXPOSED_YES : OUTCOME_EXPOSED_NO;
			} else if (!json_is_null(v)) {
				snprintf(name, sizeof name, "%s.exposed", field);
				return error_set(err, ERROR_INVALID, name, "%s: expected true, false or null, got %s",
						 name, jsonutil_type_name(v));
			}
		} else {
			snprintf(name, sizeof name, "%s.%.64s", field, key);
			return error_set(err, ERROR_INVALID, name,
					 "%s: unknown field (expected prediction_id, units, exposed)", name);
		}
	}
	if (id && !json_is_string(id)) {
		snprintf(name, sizeof name, "%s.prediction_id", field);
		return error_set(err, ERROR_INVALID, name, "%s: expected a string, got %s", name,
				 jsonutil_type_name(id));
	}
	if (!units || !json_is_number(units)) {
		snprintf(name, sizeof name, "%s.units", field);
		if (!units)
			return error_set(err, ERROR_INVALID, name, "%s: required field is missing", name);
		return error_set(err, ERROR_INVALID, name, "%s: expected a number of units, got %s", name,
				 jsonutil_type_name(units));
	}
	return outcomes_add(o, field, id ? json_string_value(id) : NULL, id ? json_string_length(id) : 0,
			    json_number_value(units), exposed, err);
}

enum error_code outcomes_api_parse(const char *body, size_t len, struct outcomes *o, struct error *err)
{
	static const char *const top_keys[] = {"outcomes", NULL};
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr), *items = NULL;
	enum error_code rc;
	size_t i, n;

	if (!root)
		return jsonutil_syntax_error(&jerr, "the request", err);
	rc = jsonutil_expect_object(root, top_keys, "", err);
	if (!rc)
		rc = jsonutil_get_typed(root, "outcomes", "", true, JSON_ARRAY, &items, err);
	if (rc)
		goto out;
	n = json_array_size(items);
	if (n == 0) {
		rc = error_set(err, ERROR_INVALID, "outcomes", "outcomes: must hold at least one outcome");
		goto out;
	}
	if (n > OUTCOMES_MAX) {
		rc = error_set(err, ERROR_TOO_LARGE, "outcomes", "outcomes: more than the limit of %d per request",
			       OUTCOMES_MAX);
		goto out;
	}
	for (i = 0; !rc && i < n; i++)
		rc = one(json_array_get(items, i), i, o, err);
out:
	json_decref(root);
	return rc;
}

void outcomes_api_reply(struct strbuf *out, const struct outcomes_counts *counts)
{
	strbuf_printf(out, "{\"accepted\":%lld,\"unknown_prediction\":%lld,\"duplicate\":%lld}",
		      counts->accepted, counts->unknown_prediction, counts->duplicate);
}

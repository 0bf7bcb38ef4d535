/* shelfcast models evaluate, and the metrics models import takes from a safetensors file. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "shelfcast/jsonutil.h"
#include "shelfcast/registry.h"
#include "shelfcast/shards.h"

#define MAX_METRICS_TEXT (64u << 10)

/* A metrics block: an object of numbers (or null). */
static enum error_code check_block(const char *file, const json_t *root, const char *key, struct error *err)
{
	const json_t *block = json_object_get(root, key), *v;
	const char *k;

	if (!block)
		return ERROR_OK;
	if (!json_is_object(block))
		return error_set(err, ERROR_INVALID, "__metadata__.metrics",
				 "%s: __metadata__.metrics.%s: expected an object, got %s", file, key,
				 jsonutil_type_name(block));
	json_object_foreach((json_t *)block, k, v)
		if (!json_is_number(v) && !json_is_null(v))
			return error_set(err, ERROR_INVALID, "__metadata__.metrics",
					 "%s: __metadata__.metrics.%s.%s: expected a number, got %s", file,
					 key, k, jsonutil_type_name(v));
	return ERROR_OK;
}

enum error_code cli_import_metrics(const char *file, const char *text, char **out, struct error *err)
{
	json_error_t jerr;
	json_t *root;
	enum error_code rc = ERROR_OK;

	*out = NULL;
	if (strlen(text) > MAX_METRICS_TEXT)
		return error_set(err, ERROR_TOO_LARGE, "__metadata__.metrics",
				 "%s: __metadata__.metrics is larger than %u bytes", file, MAX_METRICS_TEXT);
	root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return error_set(err, ERROR_INVALID, "__metadata__.metrics",
				 "%s: __metadata__.metrics is not JSON: %s", file, jerr.text);
	if (!json_is_object(root))
		rc = error_set(err, ERROR_INVALID, "__metadata__.metrics",
			       "%s: __metadata__.metrics: expected an object, got %s", file,
			       jsonutil_type_name(root));
	if (!rc)
		rc = check_block(file, root, "sales", err);
	if (!rc)
		rc = check_block(file, root, "exposure", err);
	if (!rc && !(*out = json_dumps(root, JSON_COMPACT | JSONUTIL_DISPLAY)))
		rc = error_nomem(err, "the metrics");
	json_decref(root);
	return rc;
}

int cli_models_evaluate(PGconn *c, const char *name, int version, const char *dir, struct error *err)
{
	struct shards_manifest mf;
	struct model *m = NULL;
	json_t *metrics = NULL, *detail = NULL;
	char *text = NULL, *detail_text = NULL;
	enum error_code rc;

	rc = shards_manifest_load(dir, &mf, err);
	if (!rc)
		rc = registry_load_version(c, name, version, &m, err);
	if (!rc)
		rc = shards_evaluate(m, &mf, dir, &metrics, err);
	if (!rc) {
		json_object_set_new(metrics, "evaluated_on",
				    json_pack("{s:s, s:s, s:I}", "data", dir, "source_sha256", mf.source_sha256,
					      "test_rows", (json_int_t)mf.test_rows));
		detail = json_pack("{s:s, s:s}", "data", dir, "source_sha256", mf.source_sha256);
		text = json_dumps(metrics, JSON_COMPACT | JSONUTIL_DISPLAY);
		detail_text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
		rc = text && detail_text ? registry_set_metrics(c, name, version, text, cli_actor(), detail_text, err)
					 : error_nomem(err, "the metrics");
	}
	if (!rc) {
		char *shown = json_dumps(metrics, JSON_COMPACT | JSON_SORT_KEYS | JSONUTIL_DISPLAY);
		printf("%s\n", shown ? shown : "{}");
		free(shown);
	}
	free(text);
	free(detail_text);
	json_decref(detail);
	json_decref(metrics);
	model_unref(m);
	shards_manifest_done(&mf);
	return rc ? cli_fail("models evaluate", err) : 0;
}

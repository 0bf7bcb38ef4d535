/* shelfcast models — the registry from the command line. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "shelfcast/jsonutil.h"
#include "shelfcast/registry.h"
#include "shelfcast/safetensors.h"
#include "shelfcast/strbuf.h"
#include "shelfcast/util.h"

#define MAX_WEIGHTS_FILE (1ULL << 30)

static const char *usage_text =
	"shelfcast models list [--json]\n"
	"       shelfcast models show NAME [--json]\n"
	"       shelfcast models activate NAME VERSION\n"
	"       shelfcast models rollback NAME\n"
	"       shelfcast models default NAME\n"
	"       shelfcast models archive NAME VERSION\n"
	"       shelfcast models export NAME VERSION --out FILE.safetensors\n"
	"       shelfcast models import NAME --weights FILE.safetensors [--spec FILE.json] [--activate]\n"
	"       shelfcast models evaluate NAME VERSION --data DIR";

static double metric(const json_t *metrics, const char *block, const char *key)
{
	json_t *v = json_object_get(json_object_get(metrics, block), key);
	return json_is_number(v) ? json_number_value(v) : -1;
}

static void print_list(const json_t *catalog)
{
	const json_t *m;
	size_t i;

	printf("%-24s %-7s %-9s %-8s %-8s %s\n", "NAME", "ACTIVE", "VERSIONS", "R2_LOG", "AUC",
	       "DESCRIPTION");
	json_array_foreach(json_object_get(catalog, "models"), i, m) {
		json_t *active = json_object_get(m, "active_version"), *v, *metrics = NULL;
		size_t j;
		char r2[16] = "-", auc[16] = "-", act[16] = "-";
		json_array_foreach(json_object_get(m, "versions"), j, v)
			if (json_equal(json_object_get(v, "version"), active))
				metrics = json_object_get(v, "metrics");
		if (json_is_integer(active))
			snprintf(act, sizeof act, "%lld", (long long)json_integer_value(active));
		if (metrics && metric(metrics, "sales", "r2_log") > -1)
			snprintf(r2, sizeof r2, "%.4f", metric(metrics, "sales", "r2_log"));
		if (metrics && metric(metrics, "exposure", "auc") > -1)
			snprintf(auc, sizeof auc, "%.4f", metric(metrics, "exposure", "auc"));
		printf("%-24s %-7s %-9zu %-8s %-8s %s\n", json_string_value(json_object_get(m, "name")),
		       act, json_array_size(json_object_get(m, "versions")), r2, auc,
		       json_string_value(json_object_get(m, "description")));
	}
}

static void print_show(const json_t *model, const json_t *events)
{
	const json_t *v, *e;
	size_t i;

	printf("model %s%s%s\n", json_string_value(json_object_get(model, "name")),
	       *json_string_value(json_object_get(model, "description")) ? ": " : "",
	       json_string_value(json_object_get(model, "description")));
	printf("%-8s %-9s %-24s %-24s %-8s %-8s %s\n", "VERSION", "STATUS", "CREATED", "ACTIVATED",
	       "R2_LOG", "AUC", "CHECKSUM");
	json_array_foreach(json_object_get(model, "versions"), i, v) {
		json_t *metrics = json_object_get(v, "metrics");
		char r2[16] = "-", auc[16] = "-";
		if (metric(metrics, "sales", "r2_log") > -1)
			snprintf(r2, sizeof r2, "%.4f", metric(metrics, "sales", "r2_log"));
		if (metric(metrics, "exposure", "auc") > -1)
			snprintf(auc, sizeof auc, "%.4f", metric(metrics, "exposure", "auc"));
		printf("%-8lld %-9s %-24s %-24s %-8s %-8s %.12s\n",
		       (long long)json_integer_value(json_object_get(v, "version")),
		       json_string_value(json_object_get(v, "status")),
		       json_string_value(json_object_get(v, "created_at")),
		       json_string_value(json_object_get(v, "activated_at"))
			       ? json_string_value(json_object_get(v, "activated_at"))
			       : "-",
		       r2, auc, json_string_value(json_object_get(v, "checksum")));
	}
	printf("\nrecent events:\n");
	json_array_foreach(events, i, e) {
		char *detail = json_dumps(json_object_get(e, "detail"), JSON_COMPACT | JSONUTIL_DISPLAY);
		printf("  %s  %-12s v%-4lld %-28s %s\n", json_string_value(json_object_get(e, "at")),
		       json_string_value(json_object_get(e, "event")),
		       (long long)json_integer_value(json_object_get(e, "version")),
		       json_string_value(json_object_get(e, "actor")), detail ? detail : "");
		free(detail);
	}
}

static bool parse_version(const char *s, int *v)
{
	long long x;
	if (!util_parse_long(s, 1, 2147483647, &x)) {
		fprintf(stderr, "shelfcast models: \"%s\" is not a version number\n", s);
		return false;
	}
	*v = (int)x;
	return true;
}

/* data to path through a new temporary file in its directory, renamed into place. */
static enum error_code write_whole(const char *path, const char *data, size_t len, struct error *err)
{
	struct cli_out o;
	enum error_code rc = cli_out_open(&o, path, err);

	if (rc)
		return rc;
	if (fwrite(data, 1, len, o.f) != len) {
		cli_out_abort(&o);
		return error_set(err, ERROR_IO, NULL, "cannot write %s", path);
	}
	return cli_out_commit(&o, err);
}

static int do_export(PGconn *c, const char *name, int version, const char *out, struct error *err)
{
	struct tensor tensors[2 * MLP_MAX_LAYERS];
	struct model *m = NULL;
	struct strbuf sb;
	char *spec = NULL;
	size_t i;
	enum error_code rc;

	if (registry_load_version(c, name, version, &m, err) != ERROR_OK)
		return cli_fail("models export", err);
	for (i = 0; i < model_tensor_count(m); i++)
		model_tensor_at(m, i, &tensors[i]);
	spec = spec_to_string(&m->spec);
	strbuf_init(&sb);
	rc = spec ? safetensors_write(tensors, model_tensor_count(m), spec, &sb, err)
		  : error_nomem(err, "the spec");
	if (!rc)
		rc = write_whole(out, sb.data, sb.len, err);
	strbuf_done(&sb);
	free(spec);
	model_unref(m);
	if (rc)
		return cli_fail("models export", err);
	printf("wrote %s version %d to %s\n", name, version, out);
	return 0;
}

static int do_import(PGconn *c, const char *name, const char *weights, const char *spec_path,
		     const char *description, bool activate, struct error *err)
{
	struct safetensors st = {0};
	struct spec spec;
	struct model *m = NULL;
	char *bytes = NULL, *spec_text = NULL, *training = NULL, *metrics = NULL;
	struct tensor canon[2 * MLP_MAX_LAYERS];
	size_t len, spec_len, i;
	int version = 0;
	enum error_code rc;

	rc = util_read_file(weights, MAX_WEIGHTS_FILE, &bytes, &len, err);
	if (!rc)
		rc = safetensors_parse((const uint8_t *)bytes, len, &st, err);
	if (!rc && spec_path)
		rc = util_read_file(spec_path, 64 << 20, &spec_text, &spec_len, err);
	if (!rc && !spec_path) {
		if (!st.spec_json)
			rc = error_set(err, ERROR_INVALID, "spec",
				       "%s carries no spec in __metadata__: give --spec FILE.json", weights);
		else
			spec_text = strdup(st.spec_json), spec_len = strlen(st.spec_json);
	}
	if (!rc && !spec_text)
		rc = error_nomem(err, "the spec");
	if (!rc && st.metrics_json) /* the trainer's own test metrics (examples/pytorch/train_ddp.py) */
		rc = cli_import_metrics(weights, st.metrics_json, &metrics, err);
	if (!rc)
		rc = spec_parse_string(spec_text, spec_len, &spec, err);
	/* Validated exactly as a load is: names, shapes, dtypes, finiteness. */
	if (!rc)
		rc = model_new(name, 1, &spec, st.tensors, st.n_tensors, NULL, &m, err);
	if (!rc) {
		for (i = 0; i < model_tensor_count(m); i++)
			model_tensor_at(m, i, &canon[i]);
		training = NULL;
		{
			json_t *j = json_pack("{s:s, s:s}", "imported_from", weights, "actor", cli_actor());
			training = j ? json_dumps(j, JSON_COMPACT | JSONUTIL_DISPLAY) : NULL;
			json_decref(j);
		}
		struct registry_version_in in = {name, description, &m->spec, canon, model_tensor_count(m),
						 m->checksum, metrics ? metrics : "{}", training, cli_actor(), "imported", NULL};
		rc = registry_register(c, &in, activate, &version, err);
	}
	free(training);
	free(metrics);
	model_unref(m);
	safetensors_done(&st);
	free(bytes);
	free(spec_text);
	if (rc)
		return cli_fail("models import", err);
	printf("imported %s as version %d (%s)\n", name, version, activate ? "active" : "staged");
	return 0;
}

/* models list (name NULL) and models show NAME, as text or JSON; the exit code. */
static int do_show(PGconn *c, const char *name, bool json, struct error *err)
{
	char *text = NULL, *events = NULL, *s;
	json_t *catalog, *ev, *one;

	if (registry_catalog(c, name, &text, err) != ERROR_OK ||
	    (name && registry_events(c, name, 20, &events, err) != ERROR_OK)) {
		free(text);
		return cli_fail("models", err);
	}
	catalog = jsonutil_loadb(text, strlen(text), 0, NULL);
	ev = events ? jsonutil_loadb(events, strlen(events), 0, NULL) : NULL;
	if (!catalog || (events && !ev)) {
		json_decref(catalog);
		json_decref(ev);
		free(text);
		free(events);
		error_set(err, ERROR_INVALID, NULL, "the registry's catalog could not be read as JSON");
		return cli_fail("models", err);
	}
	if (json && name) {
		one = json_deep_copy(json_array_get(json_object_get(catalog, "models"), 0));
		json_object_set_new(one, "events", ev ? json_incref(ev) : json_array());
		s = json_dumps(one, JSON_INDENT(2) | JSON_SORT_KEYS | JSONUTIL_DISPLAY);
		printf("%s\n", s ? s : "{}");
		free(s);
		json_decref(one);
	} else if (json) {
		s = json_dumps(catalog, JSON_INDENT(2) | JSON_SORT_KEYS | JSONUTIL_DISPLAY);
		printf("%s\n", s ? s : "{}");
		free(s);
	} else if (name) {
		print_show(json_array_get(json_object_get(catalog, "models"), 0), ev);
	} else {
		print_list(catalog);
	}
	json_decref(catalog);
	json_decref(ev);
	free(text);
	free(events);
	return 0;
}

int cmd_models(int argc, char **argv)
{
	const char *db_url = NULL, *data_dir = NULL, *out = NULL, *weights = NULL, *spec = NULL,
		   *description = NULL, *data = NULL;
	bool json = false, activate = false;
	const struct cli_option options[] = {
		{"--json", NULL, CLI_FLAG, NULL, &json, NULL, "list, show: print JSON"},
		{"--out", NULL, CLI_STRING, &out, NULL, "FILE", "export: the safetensors file to write"},
		{"--weights", NULL, CLI_STRING, &weights, NULL, "FILE", "import: the safetensors file"},
		{"--spec", NULL, CLI_STRING, &spec, NULL, "FILE.json",
		 "import: the model spec (default: the file's __metadata__.spec)"},
		{"--description", NULL, CLI_STRING, &description, NULL, "TEXT", "import: a new model's description"},
		{"--activate", NULL, CLI_FLAG, NULL, &activate, NULL, "import: activate the new version"},
		{"--data", NULL, CLI_STRING, &data, NULL, "DIR",
		 "evaluate: a `shelfcast dataset export` directory whose test shards score the version"},
		CLI_DB_OPTIONS(db_url, data_dir)};
	const struct cli_command cmd = {
		"models",
		"The model registry: every state change is one transaction with an audit event, and\n"
		"serving replicas pick it up through LISTEN/NOTIFY within a second.",
		usage_text, options, sizeof options / sizeof options[0], 1, 3};
	struct cli_db db = {0};
	struct error err;
	PGconn *c = NULL;
	char **args = NULL;
	const char *action;
	size_t n;
	int code, version = 0, prev = 0, from = 0, to = 0;

	if (!cli_parse(&cmd, argc, argv, &args, &n, &code))
		return code;
	action = args[0];
#define NEED(k)                                                                                    \
	do {                                                                                       \
		if (n != (k)) {                                                                    \
			fprintf(stderr, "shelfcast models %s: expected %d argument%s\nusage: %s\n", \
				action, (k) - 1, (k) == 2 ? "" : "s", usage_text);                 \
			free(args);                                                                \
			return EXIT_USAGE;                                                         \
		}                                                                                  \
	} while (0)
	if (!strcmp(action, "list"))
		NEED(1);
	else if (!strcmp(action, "show") || !strcmp(action, "rollback") || !strcmp(action, "default"))
		NEED(2);
	else if (!strcmp(action, "activate") || !strcmp(action, "archive") || !strcmp(action, "export") ||
		 !strcmp(action, "evaluate"))
		NEED(3);
	else if (!strcmp(action, "import"))
		NEED(2);
	else {
		fprintf(stderr, "shelfcast models: unknown action \"%s\"\nusage: %s\n", action, usage_text);
		free(args);
		return EXIT_USAGE;
	}
#undef NEED
	if ((n == 3 && !parse_version(args[2], &version)) || (!strcmp(action, "export") && !out) ||
	    (!strcmp(action, "import") && !weights) || (!strcmp(action, "evaluate") && !data)) {
		if (version || n != 3)
			fprintf(stderr, "shelfcast models %s: %s is required\n", action,
				!strcmp(action, "export")   ? "--out"
				: !strcmp(action, "import") ? "--weights"
							    : "--data");
		free(args);
		return EXIT_USAGE;
	}
	error_init(&err);
	if (cli_db_open(&db, db_url, data_dir, true, &err) != ERROR_OK ||
	    cli_db_connect(&db, &c, &err) != ERROR_OK) {
		code = cli_fail("models", &err);
		goto out;
	}
	cli_cleanup_on_signal(&db);
	code = 0;
	if (!strcmp(action, "list") || !strcmp(action, "show")) {
		code = do_show(c, n > 1 ? args[1] : NULL, json, &err);
	} else if (!strcmp(action, "activate")) {
		if (registry_activate(c, args[1], version, cli_actor(), &prev, &err) != ERROR_OK)
			code = cli_fail("models activate", &err);
		else if (prev == version)
			printf("model %s: version %d was already active\n", args[1], version);
		else
			printf("model %s: version %d is active (was %s%d)\n", args[1], version,
			       prev ? "" : "none, ", prev);
	} else if (!strcmp(action, "rollback")) {
		if (registry_rollback(c, args[1], cli_actor(), &from, &to, &err) != ERROR_OK)
			code = cli_fail("models rollback", &err);
		else
			printf("model %s: rolled back from version %d to version %d\n", args[1], from, to);
	} else if (!strcmp(action, "default")) {
		char was[MODEL_NAME_MAX + 1];
		if (registry_set_default(c, args[1], cli_actor(), was, sizeof was, &err) != ERROR_OK)
			code = cli_fail("models default", &err);
		else
			printf("model %s is the default (was %s)\n", args[1], *was ? was : "none");
	} else if (!strcmp(action, "archive")) {
		if (registry_archive(c, args[1], version, cli_actor(), &err) != ERROR_OK)
			code = cli_fail("models archive", &err);
		else
			printf("model %s: version %d archived\n", args[1], version);
	} else if (!strcmp(action, "export")) {
		code = do_export(c, args[1], version, out, &err);
	} else if (!strcmp(action, "evaluate")) {
		code = cli_models_evaluate(c, args[1], version, data, &err);
	} else {
		code = do_import(c, args[1], weights, spec, description, activate, &err);
	}
out:
	free(args);
	PQfinish(c);
	cli_db_close(&db);
	return code;
}

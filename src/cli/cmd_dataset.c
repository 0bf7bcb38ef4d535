/* shelfcast dataset export — what train would train on, as shards for another trainer (export.h). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "shelfcast/export.h"

static const char *usage_text =
	"shelfcast dataset export (--data FILE.csv | --sql QUERY) --config FILE.json --out DIR "
	"[--shard-rows N]";

int cmd_dataset(int argc, char **argv)
{
	const char *db_url = NULL, *data_dir = NULL, *data = NULL, *sql = NULL, *sql_db = NULL,
		   *config = NULL, *out = NULL, *shard_rows = NULL;
	const struct cli_option options[] = {
		{"--data", NULL, CLI_STRING, &data, NULL, "FILE.csv", "the data (RFC 4180 CSV with a header)"},
		{"--sql", NULL, CLI_STRING, &sql, NULL, "QUERY",
		 "read the rows from one SELECT instead (copied once to a temporary file)"},
		{"--sql-db", NULL, CLI_STRING, &sql_db, NULL, "URL",
		 "database for --sql (default: the registry's)"},
		{"--config", NULL, CLI_STRING, &config, NULL, "FILE.json", "the dataset config, as for train"},
		{"--out", NULL, CLI_STRING, &out, NULL, "DIR", "a new or empty directory for the shards"},
		{"--shard-rows", NULL, CLI_STRING, &shard_rows, NULL, "N",
		 "rows per shard at most (default 1000000)"},
		CLI_DB_OPTIONS(db_url, data_dir)};
	const struct cli_command cmd = {
		"dataset",
		"export: clean, split and encode the data exactly as `shelfcast train` does (same\n"
		"rules, same seeds, the serving encoder) and write it as safetensors shards of the\n"
		"train, validation and test parts, with spec.json (the fitted encoder and the\n"
		"architecture) and manifest.json, for examples/pytorch/train_ddp.py. The data is\n"
		"streamed five times; memory does not grow with it (docs/training.md).",
		usage_text, options, sizeof options / sizeof options[0], 1, 1};
	struct dataset_config cfg = {0};
	struct export_options opt = {0};
	struct export_summary sum;
	struct cli_db db = {0};
	struct error err;
	unsigned long long rows = EXPORT_DEFAULT_SHARD_ROWS;
	char **args = NULL;
	size_t n;
	FILE *f = NULL;
	int code;

	if (!cli_parse(&cmd, argc, argv, &args, &n, &code))
		return code;
	if (strcmp(args[0], "export")) {
		fprintf(stderr, "shelfcast dataset: unknown action \"%s\"\nusage: %s\n", args[0], usage_text);
		free(args);
		return EXIT_USAGE;
	}
	free(args);
	if (!config || !out || (!data == !sql)) {
		fprintf(stderr, "shelfcast dataset export: %s\nusage: %s\n",
			!config ? "--config is required"
			: !out	? "--out is required"
				: "give exactly one of --data and --sql",
			usage_text);
		return EXIT_USAGE;
	}
	if (shard_rows && !cli_uint("--shard-rows", shard_rows, 1, EXPORT_MAX_SHARD_ROWS, &rows))
		return EXIT_USAGE;
	error_init(&err);
	if (dataset_config_load(config, &cfg, NULL, &err) != ERROR_OK)
		return cli_fail("dataset export", &err);
	/* --sql reads the registry's database unless --sql-db names another; nothing is written */
	if (sql && !sql_db) {
		if (cli_db_open(&db, db_url, data_dir, false, &err) != ERROR_OK) {
			code = cli_fail("dataset export", &err);
			goto out;
		}
		cli_cleanup_on_signal(&db);
	}
	f = data ? cli_open_csv(data, &err) : copy_query(sql_db ? sql_db : db.conninfo, sql, &err);
	if (!f) {
		code = cli_fail("dataset export", &err);
		goto out;
	}
	opt = (struct export_options){out, (size_t)rows, data ? data : "--sql", 0, 0};
	if (export_dataset(&cfg, f, &opt, &sum, &err) != ERROR_OK) {
		code = cli_fail("dataset export", &err);
		goto out;
	}
	{
		json_t *j = json_pack("{s:s, s:{s:I, s:I, s:I}, s:I, s:I, s:f}", "out", out, "rows", "train",
				      (json_int_t)sum.rows[EXPORT_TRAIN], "validation",
				      (json_int_t)sum.rows[EXPORT_VALIDATION], "test",
				      (json_int_t)sum.rows[EXPORT_TEST], "shards", (json_int_t)sum.shards,
				      "input_size", (json_int_t)sum.input_size, "seconds", sum.seconds);
		char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		printf("%s\n", text ? text : "{}");
		free(text);
		json_decref(j);
	}
	code = 0;
out:
	if (f)
		fclose(f);
	dataset_config_done(&cfg);
	cli_db_close(&db);
	return code;
}

/* shelfcast outcomes import — record what happened to logged predictions, from a CSV. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "shelfcast/outcomes.h"

static const char usage_text[] = "shelfcast outcomes import --data FILE.csv [--db URL]";

int cmd_outcomes(int argc, char **argv)
{
	const char *db_url = NULL, *data_dir = NULL, *data = NULL;
	const struct cli_option options[] = {
		{"--data", NULL, CLI_STRING, &data, NULL, "FILE.csv",
		 "outcomes: a header with prediction_id, units and optionally exposed (true/false, empty: not "
		 "known); other columns are ignored"},
		CLI_DB_OPTIONS(db_url, data_dir)};
	const struct cli_command cmd = {
		"outcomes",
		"Record what happened to logged predictions (as POST /v1/outcomes does): every row is\n"
		"checked first, then they are recorded 10,000 at a time. An outcome for a prediction\n"
		"that has one replaces it; a prediction not in the log is counted, not recorded.",
		usage_text, options, sizeof options / sizeof options[0], 1, 1};
	struct outcomes_counts counts = {0};
	struct outcomes o;
	struct cli_db db = {0};
	struct error err;
	PGconn *c = NULL;
	char **args = NULL;
	size_t n, i;
	FILE *f = NULL;
	int code;

	if (!cli_parse(&cmd, argc, argv, &args, &n, &code))
		return code;
	if (strcmp(args[0], "import") || !data) {
		fprintf(stderr, "shelfcast outcomes: %s\nusage: %s\n",
			strcmp(args[0], "import") ? "the only action is import" : "--data is required", usage_text);
		free(args);
		return EXIT_USAGE;
	}
	free(args);
	error_init(&err);
	outcomes_init(&o);
	if (!(f = fopen(data, "rb"))) {
		error_set(&err, ERROR_IO, "data", "%s: cannot open", data);
		code = cli_fail("outcomes import", &err);
		goto out;
	}
	if (outcomes_read_csv(f, data, &o, &err) != ERROR_OK ||
	    cli_db_open(&db, db_url, data_dir, true, &err) != ERROR_OK || cli_db_connect(&db, &c, &err) != ERROR_OK) {
		code = cli_fail("outcomes import", &err);
		goto out;
	}
	cli_cleanup_on_signal(&db);
	for (i = 0; i < o.n; i += OUTCOMES_MAX) {
		if (outcomes_record(c, &o, i, o.n - i < OUTCOMES_MAX ? o.n - i : OUTCOMES_MAX, &counts, &err) !=
		    ERROR_OK) {
			fprintf(stderr, "shelfcast outcomes import: %zu of %zu rows recorded before the error\n", i, o.n);
			code = cli_fail("outcomes import", &err);
			goto out;
		}
	}
	printf("%zu outcomes: %lld accepted, %lld unknown_prediction, %lld duplicate\n", o.n, counts.accepted,
	       counts.unknown_prediction, counts.duplicate);
	code = 0;
out:
	if (f)
		fclose(f);
	PQfinish(c);
	cli_db_close(&db);
	outcomes_done(&o);
	return code;
}

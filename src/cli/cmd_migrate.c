/* shelfcast migrate — bring the registry schema up to date. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "shelfcast/db.h"
#include "shelfcast/migrate.h"

int cmd_migrate(int argc, char **argv)
{
	const char *db_url = NULL, *data_dir = NULL;
	const struct cli_option options[] = {CLI_DB_OPTIONS(db_url, data_dir)};
	const struct cli_command cmd = {
		"migrate",
		"Apply migrations/NNNN_*.sql in order, each in a transaction, under an advisory lock.\n"
		"Running it again changes nothing; a schema newer than this binary is refused.",
		"shelfcast migrate [--db URL | --data-dir DIR]", options,
		sizeof options / sizeof options[0], 0, 0};
	struct cli_db db;
	struct error err;
	PGconn *c = NULL;
	char **args = NULL;
	size_t n;
	int code, applied = 0, version = 0;

	if (!cli_parse(&cmd, argc, argv, &args, &n, &code))
		return code;
	free(args);
	error_init(&err);
	if (cli_db_open(&db, db_url, data_dir, false, &err) != ERROR_OK) {
		cli_db_close(&db);
		return cli_fail("migrate", &err);
	}
	cli_cleanup_on_signal(&db);
	if (db_connect(db.conninfo, &c, &err) == ERROR_OK && migrate_apply(c, &applied, &err) == ERROR_OK &&
	    migrate_current(c, &version, &err) == ERROR_OK) {
		printf("schema at version %d (%d migration%s applied now)\n", version, applied,
		       applied == 1 ? "" : "s");
		code = 0;
	} else {
		code = cli_fail("migrate", &err);
	}
	PQfinish(c);
	cli_db_close(&db);
	return code;
}

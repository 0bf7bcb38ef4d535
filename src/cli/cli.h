/*
 * cli — what the subcommands share: option parsing (every setting has a
 * flag and, where it makes sense, an environment variable), the database
 * choice (--db, DATABASE_URL, else the embedded PostgreSQL), signals, and
 * the error-to-exit-code rule (0 ok, 1 failure, 2 usage).
 *
 * Internal to the shelfcast binary.
 */
#ifndef SHELFCAST_CLI_H
#define SHELFCAST_CLI_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "shelfcast/error.h"
#include "shelfcast/model.h"
#include "shelfcast/pgembed.h"

#define EXIT_USAGE 2

enum cli_option_kind { CLI_STRING, CLI_FLAG };

struct cli_option {
	const char *name;     /* "--listen" */
	const char *env;      /* "SHELFCAST_LISTEN", or NULL */
	enum cli_option_kind kind;
	const char **value;   /* CLI_STRING: set to the argument (borrowed from argv or environ) */
	bool *flag;           /* CLI_FLAG */
	const char *metavar;  /* "ADDR" */
	const char *help;
};

struct cli_command {
	const char *name;
	const char *summary;
	const char *usage;    /* "shelfcast serve [options]" */
	const struct cli_option *options;
	size_t n_options;
	size_t min_args, max_args; /* positional arguments */
};

/*
 * Parse argv (argv[0] is the subcommand) into the options' variables.  True:
 * go on, with *args (new, free it) holding the *n_args positional arguments.
 * False: stop and exit with *exit_code, 0 after printing --help, EXIT_USAGE
 * after printing a usage error, 1 when out of memory.
 */
bool cli_parse(const struct cli_command *cmd, int argc, char **argv, char ***args, size_t *n_args,
	       int *exit_code);

/* The --db and --data-dir options every command that needs a database has. */
#define CLI_DB_OPTIONS(db, data_dir)                                                               \
	{"--db", "DATABASE_URL", CLI_STRING, &(db), NULL, "URL",                                   \
	 "PostgreSQL URL or conninfo (default: the embedded PostgreSQL)"},                         \
	{"--data-dir", "SHELFCAST_DATA_DIR", CLI_STRING, &(data_dir), NULL, "DIR",                 \
	 "where the embedded PostgreSQL lives (default ./.shelfcast)"}

struct cli_db {
	char *conninfo;     /* new */
	bool embedded;
	struct pgembed pg;
};

/*
 * Choose the database: db (a URL), else the embedded cluster under
 * data_dir (default ./.shelfcast), started on demand and, with `migrate`,
 * migrated.  An external database is only recorded here: cli_db_connect
 * connects and refuses an old schema ("run shelfcast migrate").
 */
enum error_code cli_db_open(struct cli_db *db, const char *url, const char *data_dir, bool migrate,
			    struct error *err);
/* Connect (checking the schema on external databases). */
enum error_code cli_db_connect(struct cli_db *db, PGconn **conn, struct error *err);
void cli_db_close(struct cli_db *db);

/*
 * For commands other than serve: on SIGINT/SIGTERM/SIGHUP give the embedded
 * cluster up (stopping it if this process is its last user) and exit.
 */
void cli_cleanup_on_signal(struct cli_db *db);

/*
 * Catch SIGINT, SIGTERM and SIGHUP with a handler that writes the signal
 * number to a pipe, and ignore SIGPIPE.  A handler, not a blocked mask:
 * libraries start threads before main (OpenBLAS's pool does), and a signal
 * delivered to one of those must not kill the process.
 */
void cli_catch_signals(void);
/* Wait for the next caught signal and return its number. */
int cli_wait_signal(void);

/* "cli:USER@HOST". */
const char *cli_actor(void);

/* Print "shelfcast: error: ..." (with the field when useful) and return 1. */
int cli_fail(const char *command, const struct error *err);

/*
 * One RFC 4180 field: quoted (an inner '"' doubled) when it holds a comma,
 * a quote or a line break, or when it is empty and quote_empty is set (so
 * that it reads as an empty string, not as COPY's NULL).
 */
void cli_csv_field(FILE *out, const char *s, bool quote_empty);

/* Parse a positive integer option; prints a usage error and returns false when bad. */
bool cli_uint(const char *name, const char *value, unsigned long long min, unsigned long long max,
	      unsigned long long *out);
/* A number in [min, max] (finite), or a message naming the flag and false. */
bool cli_real(const char *name, const char *value, double min, double max, double *out);

/*
 * An output file written whole or not at all, never through a link: the
 * bytes go to a new temporary file beside the destination (mkstemp:
 * O_CREAT | O_EXCL, so nothing planted at a guessable name is followed or
 * truncated), which then replaces the destination by rename (a link at the
 * destination is replaced, not followed).
 */
struct cli_out {
	FILE *f;              /* write here between open and commit */
	char tmp[4096];       /* the temporary file */
	const char *path;     /* borrowed: the destination */
};
/* Create the temporary file (mode 0666 less the umask, as a plain create would give). */
enum error_code cli_out_open(struct cli_out *o, const char *path, struct error *err);
/* Flush, fsync, close and rename it over the destination; on failure it is removed. */
enum error_code cli_out_commit(struct cli_out *o, struct error *err);
/* Close and remove the temporary file, if any (after a failure; idempotent). */
void cli_out_abort(struct cli_out *o);

/*
 * The admin token from --admin-token or --admin-token-file (give at most
 * one), checked: at least 32 visible ASCII bytes, at least 8 different
 * characters, not made of placeholder words ("change-me", "secret", ...).
 * *out is new (free it with cli_admin_token_free); NULL when neither is
 * given, which leaves activation over the API off.
 */
enum error_code cli_admin_token(const char *token, const char *file, char **out, struct error *err);
/* Wipe and free a token from cli_admin_token (NULL is fine). */
void cli_admin_token_free(char *token);

/* Commands. */
int cmd_serve(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_dataset(int argc, char **argv);

/*
 * models evaluate NAME VERSION --data DIR: score the version on DIR's test
 * shards through its own encoder and network, print the metrics and merge
 * them into the stored ones (cmd_models_evaluate.c).  The exit code.
 */
int cli_models_evaluate(PGconn *c, const char *name, int version, const char *dir, struct error *err);
/*
 * models import: a safetensors file's __metadata__.metrics (text), checked
 * to be a JSON object whose "sales" and "exposure", when present, are
 * objects of numbers, as compact JSON into *out (new).  Errors name the file.
 */
enum error_code cli_import_metrics(const char *file, const char *text, char **out, struct error *err);

/*
 * --sql's rows as CSV in a new temporary file (rewound; fclose it), from
 * one SELECT run as a cursor in a read-only transaction (cmd_train.c).
 * NULL with err set on failure.
 */
FILE *copy_query(const char *conninfo, const char *sql, struct error *err);
/* The CSV at path, open for reading; NULL with err saying why. */
FILE *cli_open_csv(const char *path, struct error *err);
struct table;
struct table_colspec;
/*
 * The CSV at path read into t for scoring with m (predict, recommend): the
 * model's features, each a required numeric one required in the CSV too
 * except the column of the one at index free_numeric (-1: none); the
 * model's id column, when it has one; then extra[0..n_extra), one named
 * like a feature or the id column being that column instead: every name
 * is one column of t.
 */
enum error_code cli_load_rows(const struct model *m, const char *path, int free_numeric,
			      const struct table_colspec *extra, size_t n_extra, struct table *t,
			      struct error *err);
int cmd_predict(int argc, char **argv);
int cmd_recommend(int argc, char **argv);

/* v as the API writes it (PREDICT_DIGITS significant digits, null when not finite), digit for digit. */
void cli_number(FILE *out, double v);
void cli_number_digits(FILE *out, double v, int digits);
/* A registered version opened for an offline command (predict, recommend). */
struct cli_model {
	struct cli_db db;
	PGconn *c;
	struct model *m;
	char name[MODEL_NAME_MAX + 1];
	int version;          /* the one named in NAME@VERSION, else the active one */
};
/*
 * --model NAME[@VERSION] of `command`: the database opened (signals clean
 * it up), the version loaded, BLAS single-threaded.  0, or the exit code
 * after saying why on stderr (EXIT_USAGE for a malformed model_ref).  Close
 * with cli_model_close in any case.
 */
int cli_model_open(struct cli_model *cm, const char *command, const char *model_ref, const char *db_url,
		   const char *data_dir);
void cli_model_close(struct cli_model *cm);
/* The rows are written: stdout flushed, or the --out file committed.  0, or 1 after saying why. */
int cli_out_finish(const char *command, struct cli_out *o, const char *out_path, struct error *err);

/* The version to score with: *version, else the active one (set into *version); *m new. */
enum error_code cli_load_model(PGconn *c, const char *name, int *version, struct model **m,
			       struct error *err);
int cmd_demo_data(int argc, char **argv);
int cmd_healthcheck(int argc, char **argv);
int cmd_outcomes(int argc, char **argv);

#endif

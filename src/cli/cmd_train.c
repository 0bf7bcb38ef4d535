/* shelfcast train — train the served blend from a CSV or SQL, evaluate it against the baselines, register. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "cli.h"
#include "shelfcast/db.h"
#include "shelfcast/jsonutil.h"
#include "shelfcast/registry.h"
#include "shelfcast/strbuf.h"
#include "shelfcast/train.h"
#include "train_outcomes.h"

struct progress {
	bool tty;
};

static void on_epoch(void *ctx, const struct train_epoch *e)
{
	struct progress *p = ctx;
	if (p->tty) {
		char bar[31];
		int filled = e->epochs ? (int)(30.0 * e->epoch / e->epochs) : 30, i;
		for (i = 0; i < 30; i++)
			bar[i] = i < filled ? '#' : '.';
		bar[30] = '\0';
		fprintf(stderr, "\repoch %3d/%-3d [%s] train %.4f  valid %.4f%s  %.1fs/epoch  eta %.0fs ",
			e->epoch, e->epochs, bar, e->train_loss, e->valid_loss, e->improved ? "*" : " ",
			e->seconds, e->eta_seconds);
		fflush(stderr);
	} else {
		fprintf(stderr,
			"epoch %d/%d train_loss %.5f valid_loss %.5f%s seconds %.3f eta_seconds %.0f\n",
			e->epoch, e->epochs, e->train_loss, e->valid_loss, e->improved ? " best" : "",
			e->seconds, e->eta_seconds);
	}
}

/*
 * Write one FETCH's rows (and, first, the header) as CSV, each field as
 * COPY ... (FORMAT csv) writes it: NULL empty, an empty string quoted;
 * false when the file cannot be written.
 */
static bool put_csv_rows(FILE *f, const PGresult *r, bool header)
{
	int nf = PQnfields(r), i, j;

	for (j = 0; header && j < nf; j++) {
		if (j)
			fputc(',', f);
		cli_csv_field(f, PQfname(r, j), true);
	}
	if (header)
		fputc('\n', f);
	for (i = 0; i < PQntuples(r); i++) {
		for (j = 0; j < nf; j++) {
			if (j)
				fputc(',', f);
			if (!PQgetisnull(r, i, j))
				cli_csv_field(f, PQgetvalue(r, i, j), true);
		}
		fputc('\n', f);
	}
	return !ferror(f);
}

/*
 * The rows of the operator's query as CSV in a temporary file.  The query
 * runs as exactly one statement, DECLARE ... CURSOR FOR <query>, sent with
 * PQexecParams (the extended protocol refuses several statements in one
 * string), inside a READ ONLY transaction that is rolled back at the end:
 * it can read, and nothing else.
 */
FILE *copy_query(const char *conninfo, const char *sql, struct error *err)
{
	PGconn *c = NULL;
	PGresult *r = NULL;
	FILE *f = NULL;
	struct strbuf q;
	bool first = true;

	if (db_connect(conninfo, &c, err) != ERROR_OK)
		return NULL;
	strbuf_init(&q);
	strbuf_printf(&q, "DECLARE shelfcast_sql NO SCROLL CURSOR FOR %s", sql);
	if (strbuf_failed(&q)) {
		error_nomem(err, "--sql");
		goto fail;
	}
	if (db_exec(c, "BEGIN TRANSACTION READ ONLY", err) != ERROR_OK)
		goto fail;
	r = PQexecParams(c, q.data, 0, NULL, NULL, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		db_result_error(c, r, "--sql must be one SELECT (it runs as a read-only cursor)", err);
		goto fail;
	}
	PQclear(r);
	r = NULL;
	f = tmpfile();
	if (!f) {
		error_set(err, ERROR_IO, NULL, "cannot create a temporary file for --sql: %s",
			  strerror(errno));
		goto fail;
	}
	for (;;) {
		r = PQexecParams(c, "FETCH FORWARD 10000 FROM shelfcast_sql", 0, NULL, NULL, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			db_result_error(c, r, "--sql", err);
			goto fail;
		}
		if (!put_csv_rows(f, r, first)) {
			error_set(err, ERROR_IO, NULL, "cannot write the --sql result to a temporary file");
			goto fail;
		}
		first = false;
		if (PQntuples(r) == 0)
			break;
		PQclear(r);
	}
	PQclear(r);
	r = NULL;
	if (fflush(f) != 0) {
		error_set(err, ERROR_IO, NULL, "cannot write the --sql result to a temporary file");
		goto fail;
	}
	/* Read-only: there is nothing to commit. */
	db_exec(c, "ROLLBACK", err);
	PQfinish(c);
	strbuf_done(&q);
	rewind(f);
	return f;
fail:
	PQclear(r);
	PQfinish(c);
	strbuf_done(&q);
	if (f)
		fclose(f);
	return NULL;
}

/* Active version of `name`, or 0. */
static int active_version_of(PGconn *c, const char *name, struct error *err)
{
	struct registry_active *a = NULL;
	size_t n = 0, i;
	int v = 0;
	if (registry_active_versions(c, &a, &n, err) != ERROR_OK)
		return -1;
	for (i = 0; i < n; i++)
		if (!strcmp(a[i].model, name))
			v = a[i].version;
	free(a);
	return v;
}

/*
 * Whether the new version becomes active: --activate says so; with
 * --activate-if-better, when its sales.r2_log beats the active version's on
 * this run's test split (or nothing is active).  The comparison goes into
 * the metrics as compared_with.
 */
static enum error_code decide_activation(PGconn *c, const struct dataset_config *cfg, const struct table *t,
					 struct train_result *res, bool activate, bool if_better,
					 bool *do_activate, struct error *err)
{
	double r2 = json_real_value(json_object_get(json_object_get(res->metrics, "sales"), "r2_log"));
	double other_r2 = NAN;
	struct model *m = NULL;
	int active;

	*do_activate = activate;
	if (!if_better)
		return ERROR_OK;
	active = active_version_of(c, cfg->name, err);
	if (active < 0)
		return err->code;
	if (active == 0) {
		*do_activate = true;
		fprintf(stderr, "shelfcast train: %s has no active version: activating this one\n", cfg->name);
	} else {
		if (registry_load_version(c, cfg->name, active, &m, err) != ERROR_OK ||
		    train_compare(res, cfg, t, m, &other_r2, err) != ERROR_OK) {
			model_unref(m);
			return err->code;
		}
		model_unref(m);
		*do_activate = r2 > other_r2;
		fprintf(stderr, "shelfcast train: sales.r2_log %.4f %s version %d's %.4f on this test split: %s\n",
			r2, *do_activate ? "beats" : "does not beat", active, other_r2,
			*do_activate ? "activating" : "staged, not activated");
	}
	json_object_set_new(res->metrics, "compared_with",
			    json_pack("{s:o, s:o, s:b}", "version", active ? json_integer(active) : json_null(),
				      "r2_log", isnan(other_r2) ? json_null() : json_real(other_r2), "activated",
				      *do_activate));
	return ERROR_OK;
}

/* The report on stdout (version 0: a dry run, nothing registered), the outcome on stderr. */
static void print_report(const struct dataset_config *cfg, struct train_result *res, int version,
			 bool activated)
{
	char *text;

	json_object_set_new(res->metrics, "model", json_string(cfg->name));
	json_object_set_new(res->metrics, "version", version ? json_integer(version) : json_null());
	json_object_set_new(res->metrics, "activated", json_boolean(activated));
	json_object_set_new(res->metrics, "dry_run", json_boolean(version == 0));
	json_object_set_new(res->metrics, "training", json_incref(res->training));
	text = json_dumps(res->metrics, JSON_COMPACT | JSON_SORT_KEYS | JSONUTIL_DISPLAY);
	if (text)
		printf("%s\n", text);
	free(text);
	if (version)
		fprintf(stderr, "shelfcast train: registered %s version %d%s\n", cfg->name, version,
			activated ? " (active)" : " (staged)");
	else
		fprintf(stderr, "shelfcast train: dry run, %s not registered\n", cfg->name);
}

/*
 * The trained version into the registry (active or staged); *version its
 * number.  trained_on (may be NULL): what `train --from-outcomes` trained it
 * on, for the registration event too.
 */
static enum error_code register_version(PGconn *c, const struct dataset_config *cfg, const char *description,
					struct train_result *res, const json_t *trained_on, bool activate,
					int *version, struct error *err)
{
	char *metrics, *training, *on;
	struct registry_version_in in;
	enum error_code rc;

	metrics = json_dumps(res->metrics, JSON_COMPACT | JSONUTIL_DISPLAY);
	training = json_dumps(res->training, JSON_COMPACT | JSONUTIL_DISPLAY);
	on = trained_on ? json_dumps(trained_on, JSON_COMPACT) : NULL;
	in = (struct registry_version_in){cfg->name, description, &res->spec, res->tensors, res->n_tensors,
					  res->checksum, metrics, training, cli_actor(), "registered", on};
	rc = metrics && training && (on || !trained_on) ? registry_register(c, &in, activate, version, err)
							: error_nomem(err, "the metrics");
	free(metrics);
	free(training);
	free(on);
	return rc;
}

/* The registry's database opened (migrated) and connected, unless *c already is. */
static enum error_code open_registry(struct cli_db *db, const char *url, const char *dir, PGconn **c,
				     struct error *err)
{
	if (*c)
		return ERROR_OK;
	if (cli_db_open(db, url, dir, true, err) != ERROR_OK)
		return err->code;
	cli_cleanup_on_signal(db);
	return cli_db_connect(db, c, err);
}

/* The dataset config: the stored text when there is one, else the file's; *json its JSON. */
static enum error_code read_config(const char *stored, const char *path, struct dataset_config *cfg,
				   json_t **json, struct error *err)
{
	char *text = NULL;
	enum error_code rc = stored ? dataset_config_parse(stored, strlen(stored), cfg, err)
				    : dataset_config_load(path, cfg, &text, err);

	/* the text parsed is what the version stores as its dataset config */
	if (!rc && !(*json = jsonutil_loadb(stored ? stored : text, strlen(stored ? stored : text), 0, NULL)))
		rc = error_nomem(err, "the dataset config");
	free(text);
	return rc;
}

/* What is wrong with the combination of flags given, or NULL. */
static const char *flags_problem(const char *config, const char *data, const char *sql, const char *from_outcomes,
				 bool outcome_flags, bool activate, bool if_better, bool dry_run)
{
	if (!!data + !!sql + !!from_outcomes != 1)
		return "give exactly one of --data, --sql and --from-outcomes";
	if (!config && !from_outcomes)
		return "--config is required";
	if (outcome_flags && !from_outcomes)
		return "--since and --also-data go with --from-outcomes";
	if (dry_run && (activate || if_better))
		return "--dry-run registers nothing: it excludes --activate and --activate-if-better";
	if (activate && if_better)
		return "--activate and --activate-if-better exclude each other";
	return NULL;
}

/*
 * The name the version registers under: name (--name) instead of the
 * config's, or the config's; either checked before any training.  0, or
 * the exit code after saying why.
 */
static int model_name(struct dataset_config *cfg, const char *name)
{
	char *copy;

	if (!model_name_valid(name ? name : cfg->name)) {
		fprintf(stderr, "shelfcast train: %s \"%s\" is not a model name (%s)\n", name ? "--name" : "the config's name",
			name ? name : cfg->name, MODEL_NAME_RULE);
		return EXIT_USAGE;
	}
	if (!name)
		return 0;
	if (!(copy = strdup(name)))
		return cli_fail("train", &(struct error){ERROR_NOMEM, "", "out of memory"});
	free(cfg->name);
	cfg->name = copy;
	return 0;
}

/* The rows of f (named `what` in errors) into t, and the training run on them. */
static enum error_code load_and_train(const struct dataset_config *cfg, FILE *f, const char *what, struct table *t,
				      struct progress *prog, struct train_result *res, struct error *err)
{
	size_t n_cols;
	struct table_colspec *cols = train_columns(cfg, &n_cols);
	struct table_options topt = {cfg->levels, cfg->n_levels, true, cfg->max_categories};
	enum error_code rc;

	if (!cols)
		return error_nomem(err, "columns");
	rc = table_load(f, what, cols, n_cols, &topt, t, err);
	if (!rc)
		rc = train_run(cfg, t, on_epoch, prog, res, err);
	free(cols);
	return rc;
}

int cmd_train(int argc, char **argv)
{
	const char *db_url = NULL, *data_dir = NULL, *data = NULL, *config = NULL, *name = NULL,
		   *sql = NULL, *sql_db = NULL, *description = NULL, *from_outcomes = NULL, *since = NULL,
		   *also_data = NULL;
	bool activate = false, if_better = false, dry_run = false;
	const struct cli_option options[] = {
		{"--data", NULL, CLI_STRING, &data, NULL, "FILE.csv", "training data (RFC 4180 CSV with a header)"},
		{"--sql", NULL, CLI_STRING, &sql, NULL, "QUERY",
		 "read the columns from one SELECT instead (run as a cursor in a read-only transaction)"},
		{"--sql-db", NULL, CLI_STRING, &sql_db, NULL, "URL",
		 "database for --sql (default: the registry's)"},
		{"--from-outcomes", NULL, CLI_STRING, &from_outcomes, NULL, "NAME",
		 "train from model NAME's logged predictions joined to their outcomes, with its stored "
		 "dataset config (docs/monitoring.md)"},
		{"--since", NULL, CLI_STRING, &since, NULL, "DATE",
		 "--from-outcomes: only predictions made at or after DATE (e.g. 2026-11-01)"},
		{"--also-data", NULL, CLI_STRING, &also_data, NULL, "FILE.csv",
		 "--from-outcomes: add this CSV's rows (its columns by name)"},
		{"--config", NULL, CLI_STRING, &config, NULL, "FILE.json",
		 "the dataset config (with --from-outcomes: instead of the stored one)"},
		{"--name", NULL, CLI_STRING, &name, NULL, "NAME", "model name (default: the config's name)"},
		{"--description", NULL, CLI_STRING, &description, NULL, "TEXT",
		 "description of a new model"},
		{"--activate", NULL, CLI_FLAG, NULL, &activate, NULL, "make the new version active"},
		{"--activate-if-better", NULL, CLI_FLAG, NULL, &if_better, NULL,
		 "activate only if sales.r2_log beats the active version's on this test split"},
		{"--dry-run", NULL, CLI_FLAG, NULL, &dry_run, NULL,
		 "train and print the report without registering (no database with --data)"},
		CLI_DB_OPTIONS(db_url, data_dir)};
	const struct cli_command cmd = {
		"train",
		"Train model.members two-head MLPs (sales, exposure) with Adam and early stopping,\n"
		"blend them with linear and logistic baselines (weights fitted on the validation\n"
		"slice) into the one network that is served, with calibrated intervals; score it and\n"
		"the baselines on the test split, and register it as a new staged version. Metrics\n"
		"go to stdout as one JSON object; progress to stderr.",
		"shelfcast train (--data FILE.csv | --sql QUERY) --config FILE.json [options]\n"
		"       shelfcast train --from-outcomes NAME [--since DATE] [--also-data FILE.csv] [options]", options,
		sizeof options / sizeof options[0], 0, 0};
	struct dataset_config cfg = {0};
	struct train_result res = {0};
	json_t *config_json = NULL, *trained_on = NULL;
	char *stored = NULL;
	struct table t = {0};
	struct progress prog = {isatty(STDERR_FILENO) != 0};
	const char *problem;
	enum error_code rc;
	struct cli_db db = {0};
	struct error err;
	PGconn *c = NULL;
	FILE *f = NULL;
	char **args = NULL;
	size_t n;
	int code, version = 0;
	bool do_activate = false;

	if (!cli_parse(&cmd, argc, argv, &args, &n, &code))
		return code;
	free(args);
	if ((problem = flags_problem(config, data, sql, from_outcomes, since || also_data, activate, if_better,
				     dry_run))) {
		fprintf(stderr, "shelfcast train: %s\n", problem);
		return EXIT_USAGE;
	}
	openblas_set_num_threads(1); /* same seed, same data -> same weights */
	error_init(&err);
	if ((from_outcomes && (open_registry(&db, db_url, data_dir, &c, &err) ||
			       (!config && !(stored = train_outcomes_config(c, from_outcomes, &err))))) ||
	    read_config(stored, config, &cfg, &config_json, &err)) {
		code = cli_fail("train", &err);
		goto out;
	}
	if (from_outcomes && !name)
		name = from_outcomes;
	if ((code = model_name(&cfg, name)))
		goto out;
	if ((!(dry_run && data) && open_registry(&db, db_url, data_dir, &c, &err)) ||
	    !(f = data ? cli_open_csv(data, &err)
		: from_outcomes ? train_outcomes_rows(c, from_outcomes, &cfg, since, also_data, &trained_on, &err)
				: copy_query(sql_db ? sql_db : db.conninfo, sql, &err))) {
		code = cli_fail("train", &err);
		goto out;
	}
	rc = load_and_train(&cfg, f, data ? data : from_outcomes ? "--from-outcomes" : "--sql", &t, &prog, &res, &err);
	if (prog.tty)
		fprintf(stderr, "\n");
	if (rc) {
		code = cli_fail("train", &err);
		goto out;
	}
	/* the dataset config, which `train --from-outcomes` trains the next version with, and what the rows were */
	if (config_json)
		json_object_set(res.training, "dataset_config", config_json);
	if (trained_on)
		json_object_set(res.training, "trained_on", trained_on);

	if (!dry_run &&
	    (decide_activation(c, &cfg, &t, &res, activate, if_better, &do_activate, &err) != ERROR_OK ||
	     register_version(c, &cfg, description, &res, trained_on, do_activate, &version, &err) != ERROR_OK)) {
		code = cli_fail("train", &err);
		goto out;
	}
	print_report(&cfg, &res, version, do_activate);
	code = 0;
out:
	if (f)
		fclose(f);
	PQfinish(c);
	table_done(&t);
	train_result_done(&res);
	dataset_config_done(&cfg);
	json_decref(config_json);
	json_decref(trained_on);
	free(stored);
	cli_db_close(&db);
	return code;
}

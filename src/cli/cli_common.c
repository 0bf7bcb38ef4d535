/* cli — see src/cli/cli.h. */
#include "cli.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shelfcast/db.h"
#include "shelfcast/migrate.h"
#include "shelfcast/predict.h"
#include "shelfcast/registry.h"
#include "shelfcast/strbuf.h"
#include "shelfcast/table.h"
#include "shelfcast/util.h"
#include "shelfcast/versions.h"

static void print_help(FILE *f, const struct cli_command *cmd)
{
	size_t i;
	fprintf(f, "usage: %s\n\n%s\n", cmd->usage, cmd->summary);
	if (cmd->n_options)
		fprintf(f, "\noptions:\n");
	for (i = 0; i < cmd->n_options; i++) {
		const struct cli_option *o = &cmd->options[i];
		char left[64];
		snprintf(left, sizeof left, "%s%s%s", o->name, o->kind == CLI_STRING ? " " : "",
			 o->kind == CLI_STRING ? o->metavar : "");
		fprintf(f, "  %-26s %s%s%s%s\n", left, o->help, o->env ? " [env " : "",
			o->env ? o->env : "", o->env ? "]" : "");
	}
	fprintf(f, "  %-26s %s\n", "--help", "show this help");
}

static int usage_error(const struct cli_command *cmd, const char *what, const char *arg)
{
	fprintf(stderr, "shelfcast %s: %s%s%s\n", cmd->name, what, arg ? " " : "", arg ? arg : "");
	print_help(stderr, cmd);
	return EXIT_USAGE;
}

bool cli_parse(const struct cli_command *cmd, int argc, char **argv, char ***args, size_t *n_args,
	       int *exit_code)
{
	bool *seen = calloc(cmd->n_options + 1, sizeof *seen);
	char **pos = calloc((size_t)argc + 1, sizeof *pos);
	bool options_done = false;
	size_t np = 0, i;
	int a;

	*exit_code = 0;
	if (!seen || !pos) {
		free(seen);
		free(pos);
		*exit_code = 1;
		return false;
	}
	for (a = 1; a < argc; a++) {
		const char *arg = argv[a];
		const char *eq;
		size_t name_len;
		bool matched = false;

		if (options_done || arg[0] != '-' || !strcmp(arg, "-")) {
			pos[np++] = argv[a];
			continue;
		}
		if (!strcmp(arg, "--")) {
			options_done = true;
			continue;
		}
		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			print_help(stdout, cmd);
			goto stop;
		}
		eq = strchr(arg, '=');
		name_len = eq ? (size_t)(eq - arg) : strlen(arg);
		for (i = 0; i < cmd->n_options; i++) {
			const struct cli_option *o = &cmd->options[i];
			if (strlen(o->name) != name_len || strncmp(o->name, arg, name_len))
				continue;
			matched = true;
			seen[i] = true;
			if (o->kind == CLI_FLAG) {
				if (eq) {
					*exit_code = usage_error(cmd, "this option takes no value:", o->name);
					goto stop;
				}
				*o->flag = true;
			} else if (eq) {
				*o->value = eq + 1;
			} else if (a + 1 < argc) {
				*o->value = argv[++a];
			} else {
				*exit_code = usage_error(cmd, "this option needs a value:", o->name);
				goto stop;
			}
			break;
		}
		if (!matched) {
			char name[64];
			snprintf(name, sizeof name, "%.*s", (int)(name_len < 60 ? name_len : 60), arg);
			*exit_code = usage_error(cmd, "unknown option", name);
			goto stop;
		}
	}
	/* Environment variables fill what the command line did not set. */
	for (i = 0; i < cmd->n_options; i++) {
		const struct cli_option *o = &cmd->options[i];
		const char *env = o->env ? getenv(o->env) : NULL;
		if (seen[i] || !env || !*env)
			continue;
		if (o->kind == CLI_STRING)
			*o->value = env;
		else
			*o->flag = strcmp(env, "0") && strcmp(env, "false") && strcmp(env, "no");
	}
	if (np < cmd->min_args || np > cmd->max_args) {
		*exit_code = usage_error(cmd, np < cmd->min_args ? "missing arguments" : "too many arguments", NULL);
		goto stop;
	}
	free(seen);
	*args = pos;
	*n_args = np;
	return true;
stop:
	free(seen);
	free(pos);
	return false;
}

bool cli_uint(const char *name, const char *value, unsigned long long min, unsigned long long max,
	      unsigned long long *out)
{
	long long v;
	if (!util_parse_long(value, 0, 0x7fffffffffffffffLL, &v) || (unsigned long long)v < min ||
	    (unsigned long long)v > max) {
		fprintf(stderr, "shelfcast: %s \"%s\": expected a whole number from %llu to %llu\n", name,
			value, min, max);
		return false;
	}
	*out = (unsigned long long)v;
	return true;
}

bool cli_real(const char *name, const char *value, double min, double max, double *out)
{
	double v;
	if (!util_parse_double(value, strlen(value), &v) || !(v >= min && v <= max)) {
		fprintf(stderr, "shelfcast: %s \"%s\": expected a number from %g to %g\n", name, value, min, max);
		return false;
	}
	*out = v;
	return true;
}

enum error_code cli_db_open(struct cli_db *db, const char *url, const char *data_dir, bool migrate,
			    struct error *err)
{
	enum error_code rc;

	memset(db, 0, sizeof *db);
	pgembed_init(&db->pg);
	if (url && *url) {
		db->conninfo = strdup(url);
		return db->conninfo ? ERROR_OK : error_nomem(err, "a connection string");
	}
	db->embedded = true;
	rc = pgembed_open(&db->pg, data_dir && *data_dir ? data_dir : ".shelfcast", err);
	if (rc)
		return rc;
	db->conninfo = strdup(db->pg.conninfo);
	if (!db->conninfo)
		return error_nomem(err, "a connection string");
	if (migrate) {
		PGconn *c;
		rc = db_connect(db->conninfo, &c, err);
		if (!rc)
			rc = migrate_apply(c, NULL, err);
		PQfinish(c);
	}
	return rc;
}

enum error_code cli_db_connect(struct cli_db *db, PGconn **conn, struct error *err)
{
	enum error_code rc = db_connect(db->conninfo, conn, err);
	if (!rc && !db->embedded)
		rc = migrate_check(*conn, err);
	if (rc && *conn) {
		PQfinish(*conn);
		*conn = NULL;
	}
	return rc;
}

void cli_db_close(struct cli_db *db)
{
	if (!db)
		return;
	if (db->embedded)
		pgembed_close(&db->pg);
	free(db->conninfo);
	db->conninfo = NULL;
}

static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	if (write(signal_pipe[1], &b, 1) < 0) {
		/* the pipe is full of signals already: nothing more to say */
	}
	errno = saved;
}

void cli_catch_signals(void)
{
	struct sigaction sa;
	if (pipe2(signal_pipe, O_CLOEXEC) != 0) {
		perror("shelfcast: pipe");
		exit(1);
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int cli_wait_signal(void)
{
	unsigned char b;
	for (;;) {
		ssize_t n = read(signal_pipe[0], &b, 1);
		if (n == 1)
			return b;
		if (n < 0 && errno != EINTR)
			return SIGTERM;
	}
}

static void *cleanup_thread(void *arg)
{
	struct cli_db *db = arg;
	int sig = cli_wait_signal();

	fprintf(stderr, "shelfcast: interrupted by signal %d, cleaning up\n", sig);
	if (db->embedded)
		pgembed_close(&db->pg);
	_exit(128 + sig);
	return NULL;
}

void cli_cleanup_on_signal(struct cli_db *db)
{
	pthread_t t;
	if (pthread_create(&t, NULL, cleanup_thread, db) == 0)
		pthread_detach(t);
}

const char *cli_actor(void)
{
	static char actor[160];
	struct passwd *pw = getpwuid(geteuid());
	char host[64] = "localhost";

	if (!actor[0]) {
		gethostname(host, sizeof host - 1);
		snprintf(actor, sizeof actor, "cli:%s@%s", pw ? pw->pw_name : "unknown", host);
	}
	return actor;
}

int cli_fail(const char *command, const struct error *err)
{
	fprintf(stderr, "shelfcast %s: error: %s\n", command, err->message);
	return 1;
}

/* Whether path's directory (its first dir_len bytes, else ".") is /dev or /proc, or below either. */
static bool in_system_dir(const char *path, int dir_len)
{
	char dir[PATH_MAX], real[PATH_MAX];

	if (snprintf(dir, sizeof dir, "%.*s", dir_len ? dir_len : 1, dir_len ? path : ".") >= (int)sizeof dir ||
	    !realpath(dir, real))
		return false; /* mkostemp beside it will say why */
	return !strcmp(real, "/dev") || !strncmp(real, "/dev/", 5) || !strcmp(real, "/proc") ||
	       !strncmp(real, "/proc/", 6);
}

enum error_code cli_out_open(struct cli_out *o, const char *path, struct error *err)
{
	const char *slash = strrchr(path, '/');
	int dir_len = slash ? (int)(slash - path + 1) : 0, fd;
	struct stat st, to;
	mode_t mask;

	memset(o, 0, sizeof *o);
	o->path = path;
	if (!*path || (slash && !slash[1]))
		return error_set(err, ERROR_IO, NULL, "%s: not a file name", path);
	/*
	 * A regular file, or a link (replaced, never followed), gives way to the
	 * new file; a device, FIFO, socket or directory, or a link to one
	 * (/dev/stdout), is not ours to replace.
	 */
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) &&
	    (!S_ISLNK(st.st_mode) || (stat(path, &to) == 0 && !S_ISREG(to.st_mode))))
		return error_set(err, ERROR_IO, NULL,
				 "%s is not a regular file (a device, FIFO, socket or directory, or a link to "
				 "one): it is not replaced",
				 path);
	if (in_system_dir(path, dir_len)) /* /dev/stdout links to a file when stdout is one */
		return error_set(err, ERROR_IO, NULL,
				 "%s is in /dev or /proc: no place for an output file (leave out --out to write "
				 "to standard output)",
				 path);
	if (snprintf(o->tmp, sizeof o->tmp, "%.*s.%s.XXXXXX", dir_len, path, slash ? slash + 1 : path) >=
	    (int)sizeof o->tmp)
		return error_set(err, ERROR_IO, NULL, "path too long: %s", path);
	fd = mkostemp(o->tmp, O_CLOEXEC);
	if (fd < 0) {
		error_set(err, ERROR_IO, NULL, "cannot create a file beside %s: %s", path, strerror(errno));
		o->tmp[0] = '\0';
		return ERROR_IO;
	}
	mask = umask(0);
	umask(mask);
	o->f = fdopen(fd, "w");
	if (fchmod(fd, 0666 & ~mask) != 0 || !o->f) {
		error_set(err, ERROR_IO, NULL, "cannot create a file beside %s: %s", path, strerror(errno));
		if (!o->f)
			close(fd);
		cli_out_abort(o);
		return ERROR_IO;
	}
	return ERROR_OK;
}

enum error_code cli_out_commit(struct cli_out *o, struct error *err)
{
	bool ok = fflush(o->f) == 0 && !ferror(o->f) && fsync(fileno(o->f)) == 0;

	ok = fclose(o->f) == 0 && ok;
	o->f = NULL;
	if (!ok || rename(o->tmp, o->path) != 0) {
		error_set(err, ERROR_IO, NULL, "cannot write %s: %s", o->path, strerror(errno));
		cli_out_abort(o);
		return ERROR_IO;
	}
	o->tmp[0] = '\0';
	return ERROR_OK;
}

void cli_out_abort(struct cli_out *o)
{
	if (o->f)
		fclose(o->f);
	o->f = NULL;
	if (o->tmp[0])
		unlink(o->tmp);
	o->tmp[0] = '\0';
}

void cli_csv_field(FILE *out, const char *s, bool quote_empty)
{
	if (!strpbrk(s, ",\"\r\n") && (*s || !quote_empty)) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

void cli_number(FILE *out, double v)
{
	cli_number_digits(out, v, PREDICT_DIGITS);
}

void cli_number_digits(FILE *out, double v, int digits)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_json_double(&sb, v, digits);
	fputs(sb.data ? sb.data : "", out);
	strbuf_done(&sb);
}

enum error_code cli_load_model(PGconn *c, const char *name, int *version, struct model **m,
			       struct error *err)
{
	if (!*version) {
		if (registry_active_version(c, name, version, err) != ERROR_OK)
			return err->code;
		if (!*version)
			return error_set(err, ERROR_NOT_FOUND, NULL,
					 "model \"%s\" has no active version: name one as %s@VERSION", name, name);
	}
	return registry_load_version(c, name, *version, m, err);
}

int cli_model_open(struct cli_model *cm, const char *command, const char *model_ref, const char *db_url,
		   const char *data_dir)
{
	struct error err;

	memset(cm, 0, sizeof *cm);
	error_init(&err);
	if (!versions_parse_pin(model_ref, cm->name, &cm->version, &err) || !*cm->name ||
	    strcspn(model_ref, "@") > MODEL_NAME_MAX) {
		fprintf(stderr, "shelfcast %s: --model \"%s\": expected NAME or NAME@VERSION\n", command, model_ref);
		return EXIT_USAGE;
	}
	openblas_set_num_threads(1);
	if (cli_db_open(&cm->db, db_url, data_dir, true, &err) != ERROR_OK ||
	    cli_db_connect(&cm->db, &cm->c, &err) != ERROR_OK)
		return cli_fail(command, &err);
	cli_cleanup_on_signal(&cm->db);
	if (cli_load_model(cm->c, cm->name, &cm->version, &cm->m, &err) != ERROR_OK)
		return cli_fail(command, &err);
	return 0;
}

void cli_model_close(struct cli_model *cm)
{
	model_unref(cm->m);
	PQfinish(cm->c);
	cli_db_close(&cm->db);
	memset(cm, 0, sizeof *cm);
}

int cli_out_finish(const char *command, struct cli_out *o, const char *out_path, struct error *err)
{
	if (!out_path && (fflush(stdout) != 0 || ferror(stdout)))
		error_set(err, ERROR_IO, NULL, "cannot write stdout");
	else if (out_path)
		cli_out_commit(o, err);
	return err->code ? cli_fail(command, err) : 0;
}

FILE *cli_open_csv(const char *path, struct error *err)
{
	FILE *f = fopen(path, "re");

	if (!f)
		error_set(err, ERROR_IO, NULL, "cannot open %s: %s", path, strerror(errno));
	return f;
}

static bool listed(const struct table_colspec *cols, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(cols[i].name, name))
			return true;
	return false;
}

enum error_code cli_load_rows(const struct model *m, const char *path, int free_numeric,
			      const struct table_colspec *extra, size_t n_extra, struct table *t,
			      struct error *err)
{
	const struct spec *spec = &m->spec;
	struct table_options topt = {spec->levels, spec->n_levels, false, 0};
	struct table_colspec *cols = calloc(spec->n_numeric + spec->n_categorical + n_extra + 1, sizeof *cols);
	size_t n_cols = 0, i;
	enum error_code rc;
	FILE *in;

	if (!cols)
		return error_nomem(err, "the columns");
	for (i = 0; i < spec->n_numeric; i++) /* the free one's log copy too: one column */
		cols[n_cols++] = (struct table_colspec){
			spec->numeric[i].name, TABLE_NUMBER,
			!spec->numeric[i].required ||
				(free_numeric >= 0 && !strcmp(spec->numeric[i].name, spec->numeric[free_numeric].name)),
			false, false};
	for (i = 0; i < spec->n_categorical; i++)
		cols[n_cols++] = (struct table_colspec){spec->categorical[i].name, TABLE_CATEGORY, true, false, false};
	if (spec->id_column) /* no input's name (spec.c) */
		cols[n_cols++] = (struct table_colspec){spec->id_column, TABLE_TEXT, true, false, false};
	for (i = 0; i < n_extra; i++)
		if (!listed(cols, n_cols, extra[i].name))
			cols[n_cols++] = extra[i];
	in = cli_open_csv(path, err);
	rc = in ? table_load(in, path, cols, n_cols, &topt, t, err) : err->code;
	if (in)
		fclose(in);
	free(cols);
	return rc;
}

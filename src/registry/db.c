/* db — see include/shelfcast/db.h. */
#include "shelfcast/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void trim_message(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '.'))
		s[--n] = '\0';
	/* libpq joins multi-line messages with newlines; keep them on one line. */
	for (; *s; s++)
		if (*s == '\n')
			*s = ' ';
}

static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* db_connect's settings: the connect timeout, TCP keepalives, an application name. */
static PGconn *connect_params(const char *conninfo, const char *application, bool blocking)
{
	/* client_encoding: everything shelfcast sends is UTF-8 (the prediction log's features as
	 * the client sent them, names, specs), whatever the database's encoding */
	static const char *const keys[] = {"dbname", "connect_timeout", "keepalives",
					   "keepalives_idle", "keepalives_interval",
					   "keepalives_count", "fallback_application_name",
					   "client_encoding", NULL};
	char timeout[16];
	const char *vals[] = {conninfo, timeout, "1", "10", "5", "3", application, "UTF8", NULL};
	PGconn *c;

	snprintf(timeout, sizeof timeout, "%d", DB_CONNECT_TIMEOUT_S);
	c = blocking ? PQconnectdbParams(keys, vals, 1) : PQconnectStartParams(keys, vals, 1);
	/* Keep log noise (NOTICEs such as "relation already exists, skipping") off stderr. */
	if (c)
		PQsetNoticeProcessor(c, quiet_notices, NULL);
	return c;
}

PGconn *db_connect_start(const char *conninfo, const char *application)
{
	return connect_params(conninfo, application, false);
}

void db_connect_message(PGconn *c, char *out, size_t size)
{
	snprintf(out, size, "%s", c && *PQerrorMessage(c) ? PQerrorMessage(c) : "timeout expired");
	trim_message(out);
}

enum error_code db_connect(const char *conninfo, PGconn **out, struct error *err)
{
	PGconn *c = connect_params(conninfo, "shelfcast", true);
	char msg[ERROR_MESSAGE_MAX];

	*out = NULL;
	if (!c)
		return error_nomem(err, "a database connection");
	if (PQstatus(c) != CONNECTION_OK) {
		db_connect_message(c, msg, sizeof msg);
		PQfinish(c);
		return error_set(err, ERROR_DB, NULL, "cannot connect to the database: %s", msg);
	}
	*out = c;
	return ERROR_OK;
}

enum error_code db_result_error(PGconn *c, const PGresult *r, const char *context,
				struct error *err)
{
	char msg[ERROR_MESSAGE_MAX];
	const char *m = r ? PQresultErrorMessage(r) : "";
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	if (!m || !*m)
		m = c ? PQerrorMessage(c) : "unknown error";
	snprintf(msg, sizeof msg, "%s", m);
	trim_message(msg);
	if (strncmp(msg, "ERROR:  ", 8) == 0)
		memmove(msg, msg + 8, strlen(msg + 8) + 1);
	return error_set(err, state && !strcmp(state, "42501") ? ERROR_PERMISSION : ERROR_DB, NULL,
			 "%s: %s", context, msg);
}

enum error_code db_exec(PGconn *c, const char *sql, struct error *err)
{
	PGresult *r = PQexec(c, sql);
	enum error_code rc = ERROR_OK;
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		rc = db_result_error(c, r, "database error", err);
	PQclear(r);
	return rc;
}

enum error_code db_query(PGconn *c, const char *sql, int nparams, const char *const *params,
			 PGresult **out, struct error *err)
{
	PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);

	*out = NULL;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		enum error_code rc = db_result_error(c, r, "database error", err);
		PQclear(r);
		return rc;
	}
	*out = r;
	return ERROR_OK;
}

bool db_ok(PGconn *c)
{
	return c && PQstatus(c) == CONNECTION_OK;
}

char *db_describe(const char *conninfo)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	PQconninfoOption *o;
	const char *host = NULL, *port = NULL, *db = NULL, *user = NULL;
	char buf[512];

	if (!opts)
		return strdup("(unparsable connection string)");
	for (o = opts; o->keyword; o++) {
		if (!o->val)
			continue;
		if (!strcmp(o->keyword, "host"))
			host = o->val;
		else if (!strcmp(o->keyword, "port"))
			port = o->val;
		else if (!strcmp(o->keyword, "dbname"))
			db = o->val;
		else if (!strcmp(o->keyword, "user"))
			user = o->val;
	}
	snprintf(buf, sizeof buf, "host=%s port=%s dbname=%s user=%s", host ? host : "(default)",
		 port ? port : "(default)", db ? db : "(default)", user ? user : "(default)");
	PQconninfoFree(opts);
	return strdup(buf);
}

enum error_code db_end(PGconn *c, enum error_code rc, struct error *err)
{
	struct error ignored;

	if (!rc)
		rc = db_exec(c, "COMMIT", err);
	if (rc) {
		error_init(&ignored);
		db_exec(c, "ROLLBACK", &ignored);
	}
	return rc;
}

/*
 * db — libpq helpers shared by the registry, the migrator and the watcher.
 *
 * Values reach SQL only as parameters (db_query, PQexecParams), never
 * spliced into the text; db_exec runs fixed statements (BEGIN, COMMIT,
 * LISTEN, NOTIFY on a channel name of the process's own).  Every PGresult
 * is cleared on every path by the callers.
 * Thread-safety: a PGconn belongs to one thread at a time.
 */
#ifndef SHELFCAST_DB_H
#define SHELFCAST_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "shelfcast/error.h"

#define DB_CONNECT_TIMEOUT_S 8

/*
 * Connect to `conninfo` (a URL or key=value string) with an 8 s connect
 * timeout and TCP keepalives.  On failure the message names the server and
 * the cause, as libpq reports them.  *out is new (PQfinish it).
 */
enum error_code db_connect(const char *conninfo, PGconn **out, struct error *err);

/*
 * db_connect's connection, started without blocking (PQconnectStartParams:
 * drive it with PQconnectPoll), fallback_application_name `application`.
 * New (PQfinish it, also when it failed); NULL only when out of memory.
 */
PGconn *db_connect_start(const char *conninfo, const char *application);

/* Why a connection failed, on one line, into out ("timeout expired" when libpq says nothing). */
void db_connect_message(PGconn *c, char *out, size_t size);

/* Run a statement that returns no rows; the error carries PostgreSQL's message. */
enum error_code db_exec(PGconn *c, const char *sql, struct error *err);

/* Run a parameterized statement (text parameters). *out is new (PQclear it), NULL on error. */
enum error_code db_query(PGconn *c, const char *sql, int nparams, const char *const *params,
			 PGresult **out, struct error *err);

/* Render a result's error into err, with a context prefix: ERROR_PERMISSION when the role lacks a privilege, else ERROR_DB. */
enum error_code db_result_error(PGconn *c, const PGresult *r, const char *context,
				struct error *err);

/*
 * End a transaction: COMMIT when rc is ERROR_OK (a failing COMMIT is the
 * error then), else ROLLBACK, whose own error is ignored (rc says why).
 * Returns the outcome.
 */
enum error_code db_end(PGconn *c, enum error_code rc, struct error *err);

/* Is the connection usable (status OK)? */
bool db_ok(PGconn *c);

/* The conninfo with any password removed, for messages and logs (new, free it). */
char *db_describe(const char *conninfo);

#endif

/* migrate — see include/shelfcast/migrate.h. */
#include "shelfcast/migrate.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "shelfcast/db.h"

/* "shelfcas" in ASCII: the transaction-scoped advisory lock every migration step takes. */
#define MIGRATE_LOCK_KEY "8316008228188283251"

int migrate_latest(void)
{
	return (int)migrate_migrations_count;
}

enum error_code migrate_current(PGconn *c, int *version, struct error *err)
{
	PGresult *r;
	enum error_code rc;

	*version = 0;
	rc = db_query(c, "SELECT to_regclass('shelfcast.schema_migrations') IS NOT NULL", 0, NULL, &r,
		      err);
	if (rc)
		return rc;
	if (PQgetvalue(r, 0, 0)[0] != 't') {
		PQclear(r);
		return ERROR_OK;
	}
	PQclear(r);
	rc = db_query(c, "SELECT coalesce(max(version), 0) FROM shelfcast.schema_migrations", 0, NULL,
		      &r, err);
	if (rc)
		return rc;
	*version = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return ERROR_OK;
}

/* The first migration past `current`, or NULL. */
static const struct migration *next_migration(int current)
{
	size_t i;
	for (i = 0; i < migrate_migrations_count; i++)
		if (migrate_migrations[i].version > current)
			return &migrate_migrations[i];
	return NULL;
}

/* m's SQL and its row in schema_migrations, inside the caller's transaction. */
static enum error_code apply_one(PGconn *c, const struct migration *m, struct error *err)
{
	char version[16];
	const char *params[2] = {version, m->name};
	PGresult *r;
	enum error_code rc;

	snprintf(version, sizeof version, "%d", m->version);
	rc = db_exec(c, m->sql, err);
	if (rc == ERROR_OK) {
		rc = db_query(c, "INSERT INTO shelfcast.schema_migrations (version, name) VALUES ($1, $2)",
			      2, params, &r, err);
		PQclear(r);
	}
	if (rc)
		error_prefix(err, "migration %04d_%s failed", m->version, m->name);
	return rc;
}

/*
 * One step, in its own transaction under the transaction-scoped advisory lock
 * (no session state, so it works through a transaction-pooling PgBouncer):
 * read the schema version and apply the next migration, if any.  *done is
 * set when there was nothing left to apply.
 */
static enum error_code migrate_step(PGconn *c, bool *done, struct error *err)
{
	const struct migration *m = NULL;
	enum error_code rc;
	int current = 0;

	*done = false;
	rc = db_exec(c,
		     "BEGIN;"
		     "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ");"
		     "CREATE SCHEMA IF NOT EXISTS shelfcast;"
		     "CREATE TABLE IF NOT EXISTS shelfcast.schema_migrations ("
		     " version integer PRIMARY KEY, name text NOT NULL,"
		     " applied_at timestamptz NOT NULL DEFAULT now())",
		     err);
	if (rc == ERROR_OK)
		rc = migrate_current(c, &current, err);
	if (rc == ERROR_OK && current > migrate_latest())
		rc = error_set(err, ERROR_CONFLICT, NULL,
			       "the database schema is at version %d, newer than this shelfcast knows "
			       "(%d): upgrade shelfcast",
			       current, migrate_latest());
	if (rc == ERROR_OK) {
		m = next_migration(current);
		if (m)
			rc = apply_one(c, m, err);
	}
	rc = db_end(c, rc, err);
	if (rc)
		return rc;
	*done = m == NULL;
	return ERROR_OK;
}

enum error_code migrate_apply(PGconn *c, int *applied, struct error *err)
{
	enum error_code rc;
	bool done = false;

	if (applied)
		*applied = 0;
	while (!done) {
		rc = migrate_step(c, &done, err);
		if (rc)
			return rc;
		if (!done && applied)
			(*applied)++;
	}
	return ERROR_OK;
}

enum error_code migrate_check(PGconn *c, struct error *err)
{
	int current;
	enum error_code rc = migrate_current(c, &current, err);

	if (rc)
		return rc;
	if (current < migrate_latest())
		return error_set(err, ERROR_CONFLICT, NULL,
				 "the database schema is at version %d and this shelfcast needs %d: "
				 "run shelfcast migrate",
				 current, migrate_latest());
	if (current > migrate_latest())
		return error_set(err, ERROR_CONFLICT, NULL,
				 "the database schema is at version %d, newer than this shelfcast "
				 "knows (%d): upgrade shelfcast",
				 current, migrate_latest());
	return ERROR_OK;
}

/*
 * migrate — the schema migrator.  migrations/NNNN_name.sql are compiled
 * into the binary (scripts/embed_migrations.py), so a binary knows exactly
 * which schema versions it speaks.
 *
 * migrate_apply applies each missing migration in its own transaction,
 * under a transaction-scoped advisory lock taken again in each one (two
 * replicas starting at once cannot race, and no session state is assumed,
 * so it works through a transaction-pooling PgBouncer), and records it in
 * shelfcast.schema_migrations.  A database whose schema is
 * newer than the binary is refused.
 *
 * Thread-safety: uses only the connection it is given.
 */
#ifndef SHELFCAST_MIGRATE_H
#define SHELFCAST_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "shelfcast/error.h"

struct migration {
	int version;
	const char *name;
	const char *sql;
};

/* Generated table, in version order 1..count. */
extern const struct migration migrate_migrations[];
extern const size_t migrate_migrations_count;

/* The newest schema version this binary knows. */
int migrate_latest(void);

/* The database's schema version (0 for an empty database). */
enum error_code migrate_current(PGconn *c, int *version, struct error *err);

/* Bring the schema up to date; *applied (may be NULL) counts migrations applied now. */
enum error_code migrate_apply(PGconn *c, int *applied, struct error *err);

/*
 * Refuse to work on a schema older or newer than the binary's
 * (ERROR_CONFLICT, with "run shelfcast migrate" for an old one).
 */
enum error_code migrate_check(PGconn *c, struct error *err);

#endif

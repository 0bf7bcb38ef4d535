/* defaults — the registry's default-model flag; see include/shelfcast/registry.h. */
#include "shelfcast/registry.h"

#include <stdio.h>
#include <string.h>

#include "shelfcast/db.h"

enum error_code registry_default(PGconn *c, char *out, size_t size, struct error *err)
{
	PGresult *r;
	enum error_code rc;

	*out = '\0';
	rc = db_query(c, "SELECT name FROM shelfcast.models WHERE is_default", 0, NULL, &r, err);
	if (!rc && PQntuples(r) == 1)
		snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return rc;
}

/*
 * One transaction: the flag moves (under an advisory lock, so that two
 * concurrent changes queue instead of colliding on the one-default index)
 * and the audit log says from which model to which.
 */
enum error_code registry_set_default(PGconn *c, const char *model, const char *actor,
				     char *previous, size_t size, struct error *err)
{
	const char *params[3] = {model, actor, NULL};
	char before[MODEL_NAME_MAX + 1];
	PGresult *r = NULL;
	enum error_code rc;

	*previous = '\0';
	rc = db_exec(c, "BEGIN", err);
	if (!rc)
		rc = db_exec(c, "SELECT pg_advisory_xact_lock(hashtext('shelfcast.models.is_default'))",
			     err);
	if (!rc)
		rc = db_query(c, "SELECT 1 FROM shelfcast.models WHERE name = $1 FOR UPDATE", 1, params,
			      &r, err);
	if (!rc && PQntuples(r) == 0)
		rc = error_set(err, ERROR_NOT_FOUND, "model", "model \"%s\" does not exist", model);
	PQclear(r);
	r = NULL;
	if (!rc)
		rc = registry_default(c, before, sizeof before, err);
	params[2] = before;
	if (!rc && strcmp(before, model))
		rc = db_query(c,
			      "WITH off AS (UPDATE shelfcast.models SET is_default = false "
			      "             WHERE is_default AND name <> $1) "
			      "INSERT INTO shelfcast.model_events (model, event, actor, detail) "
			      "VALUES ($1, 'default_set', $2, json_build_object('from', nullif($3, ''))::jsonb)",
			      3, params, &r, err);
	PQclear(r);
	r = NULL;
	if (!rc && strcmp(before, model))
		rc = db_query(c, "UPDATE shelfcast.models SET is_default = true WHERE name = $1", 1,
			      params, &r, err);
	PQclear(r);
	rc = db_end(c, rc, err);
	if (rc)
		return rc;
	snprintf(previous, size, "%s", before);
	return ERROR_OK;
}

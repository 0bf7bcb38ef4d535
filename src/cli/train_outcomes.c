/*
 * train --from-outcomes: a model's logged predictions joined to their
 * outcomes, as training rows in the model's own dataset config's columns
 * (docs/monitoring.md, "Retraining from outcomes").
 *
 *   a numeric or categorical input    the logged features' member of that name (->>)
 *   the promotion column              the level the prediction was for
 *   the target column                 the outcome's units
 *   the exposure column               the outcome's exposed (1, 0; empty: the row is dropped)
 *   the id column                     the prediction id
 *   a split column                    the prediction's time (unix seconds), the test part
 *                                     its latest 20 % (the column itself was never logged)
 *
 * The rows go to a temporary CSV (then --also-data's rows, its columns put in
 * the same order), which `train` reads as it reads --data.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "shelfcast/csvread.h"
#include "shelfcast/db.h"
#include "shelfcast/strbuf.h"
#include "train_outcomes.h"

char *train_outcomes_config(PGconn *c, const char *name, struct error *err)
{
	const char *params[1] = {name};
	PGresult *r = NULL;
	char *text = NULL;

	if (db_query(c,
		     "SELECT training->'dataset_config' FROM shelfcast.model_versions WHERE model = $1 "
		     "AND training ? 'dataset_config' ORDER BY status = 'active' DESC, version DESC LIMIT 1",
		     1, params, &r, err) != ERROR_OK)
		return NULL;
	if (PQntuples(r) == 0)
		error_set(err, ERROR_NOT_FOUND, "from-outcomes",
			  "model \"%s\" has no version that stored its dataset config (trained before this "
			  "release, or imported): give it with --config",
			  name);
	else if (!(text = strdup(PQgetvalue(r, 0, 0))))
		error_nomem(err, "the dataset config");
	PQclear(r);
	return text;
}

/*
 * The outcome rows' SELECT, built a column at a time: each column's name is
 * the config's, kept here for the CSV's header (an alias would be cut to
 * PostgreSQL's 63 bytes), the SELECT's own alias being its position.
 */
struct rows_select {
	struct strbuf *q;
	const char **names; /* (cap) borrowed from the config */
	size_t n, cap;
};

/* expr AS cN into the SELECT, name the column's. */
static bool column(struct rows_select *s, const char *expr, const char *name)
{
	if (s->n == s->cap)
		return false;
	strbuf_printf(s->q, "%s%s AS c%zu", s->n ? ", " : "", expr, s->n);
	s->names[s->n++] = name;
	return true;
}

/* The logged feature `name` as text: (pf.f ->> 'name'), pf.f the row's features parsed once. */
static bool feature(struct rows_select *s, PGconn *c, const char *name)
{
	char *lit = PQescapeLiteral(c, name, strlen(name));
	struct strbuf e;
	bool ok;

	if (!lit)
		return false;
	strbuf_init(&e);
	strbuf_printf(&e, "(pf.f ->> %s)", lit);
	PQfreemem(lit);
	ok = !strbuf_failed(&e) && column(s, e.data, name);
	strbuf_done(&e);
	return ok;
}

/* The FROM and WHERE both queries share; name and since are parameters $1 and $2. */
static const char from_where[] =
	" FROM shelfcast.outcomes o JOIN shelfcast.predictions p"
	" ON p.prediction_id = o.prediction_id AND p.at = o.predicted_at"
	" CROSS JOIN LATERAL (SELECT p.features::jsonb AS f) pf"
	" WHERE p.model = $1 AND ($2::timestamptz IS NULL OR o.predicted_at >= $2::timestamptz)";

/* The SELECT of the rows, in cfg's columns (the first the id); s->names[0, s->n) their names. */
static bool rows_query(struct rows_select *s, PGconn *c, const struct dataset_config *cfg)
{
	size_t i;
	bool ok = true;

	strbuf_puts(s->q, "SELECT ");
	ok = column(s, "p.prediction_id::text", cfg->id_column ? cfg->id_column : "prediction_id");
	for (i = 0; ok && i < cfg->n_numeric; i++)
		ok = feature(s, c, cfg->numeric[i]);
	for (i = 0; ok && i < cfg->n_log; i++)
		if (!dataset_listed(cfg->numeric, cfg->n_numeric, cfg->log[i]))
			ok = feature(s, c, cfg->log[i]);
	for (i = 0; ok && i < cfg->n_categorical; i++)
		ok = feature(s, c, cfg->categorical[i]);
	if (ok && cfg->unit_cost_column && !dataset_listed(cfg->numeric, cfg->n_numeric, cfg->unit_cost_column))
		ok = feature(s, c, cfg->unit_cost_column);
	ok = ok && column(s, "p.promotion_level", cfg->promo_column) && column(s, "o.units", cfg->target_column) &&
	     column(s, "CASE WHEN o.exposed THEN 1 WHEN NOT o.exposed THEN 0 END", cfg->exposure_column);
	if (ok && cfg->split_by_column)
		ok = column(s, "extract(epoch FROM p.at)", cfg->split_column);
	strbuf_puts(s->q, from_where);
	strbuf_puts(s->q, " ORDER BY p.at, p.prediction_id");
	return ok && !strbuf_failed(s->q);
}

/* One row of a query result (or a header) as CSV. */
static void put_row(FILE *f, const char *const *v, size_t n)
{
	size_t j;

	for (j = 0; j < n; j++) {
		if (j)
			fputc(',', f);
		if (v[j])
			cli_csv_field(f, v[j], true);
	}
	fputc('\n', f);
}

/* --also-data's rows, its columns in the order of the outcome rows' header. */
struct also_ctx {
	FILE *out;
	const char *path;
	const char *const *names;
	size_t n;
	int *col; /* (n) the file's column of each; -1: the id's, which the file may lack */
	const char **v;
	size_t rows;
};

static enum error_code also_header(void *ctx, const struct csvread_row *row, struct error *err)
{
	struct also_ctx *a = ctx;
	size_t j;

	for (j = 0; j < a->n; j++) {
		a->col[j] = csvread_find(row, a->names[j]);
		if (a->col[j] < 0 && j > 0) /* as train --data: every column of the config, the id aside */
			return error_set(err, ERROR_INVALID, "also-data", "--also-data %s has no column \"%s\"",
					 a->path, a->names[j]);
	}
	return ERROR_OK;
}

static enum error_code also_row(void *ctx, const struct csvread_row *row, struct error *err)
{
	struct also_ctx *a = ctx;
	size_t j;

	for (j = 0; j < a->n; j++)
		a->v[j] = a->col[j] >= 0 && row->lens[a->col[j]] ? row->fields[a->col[j]] : NULL;
	put_row(a->out, a->v, a->n);
	a->rows++;
	return ferror(a->out) ? error_set(err, ERROR_IO, NULL, "cannot write --also-data's rows") : ERROR_OK;
}

static enum error_code append_also(FILE *out, const struct rows_select *s, const char *path, json_t *trained_on,
				   struct error *err)
{
	struct also_ctx a = {out, path, s->names, s->n, NULL, NULL, 0};
	char checksum[65] = "";
	enum error_code rc;
	FILE *f = fopen(path, "re");

	if (!f)
		return error_set(err, ERROR_IO, "also-data", "cannot open %s: %s", path, strerror(errno));
	a.col = calloc(a.n, sizeof *a.col);
	a.v = calloc(a.n, sizeof *a.v);
	if (!a.col || !a.v) {
		rc = error_nomem(err, "--also-data");
		goto out;
	}
	rc = csvread_stream(f, path, also_header, also_row, &a, checksum, err);
	if (!rc)
		json_object_set_new(trained_on, "also_data",
				    json_pack("{s:s, s:I, s:s}", "file", path, "rows", (json_int_t)a.rows, "sha256",
					      checksum));
out:
	fclose(f);
	free(a.col);
	free(a.v);
	return rc;
}

/* What the rows are: count, the predictions' time span, the latest outcome; into trained_on. */
static enum error_code describe(PGconn *c, const char *const *params, json_t *trained_on, double *q80,
				struct error *err)
{
	struct strbuf q;
	PGresult *r = NULL;
	enum error_code rc;
	int i;

	strbuf_init(&q);
	strbuf_puts(&q, "SELECT count(*), to_char(min(o.predicted_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
			"to_char(max(o.predicted_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
			"to_char(max(o.recorded_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
			"percentile_disc(0.8) WITHIN GROUP (ORDER BY extract(epoch FROM p.at))");
	strbuf_puts(&q, from_where);
	rc = strbuf_failed(&q) ? error_nomem(err, "a query") : db_query(c, q.data, 2, params, &r, err);
	strbuf_done(&q);
	if (rc)
		return rc;
	json_object_set_new(trained_on, "outcomes", json_integer(strtoll(PQgetvalue(r, 0, 0), NULL, 10)));
	for (i = 1; i <= 3; i++)
		json_object_set_new(trained_on, i == 1 ? "predicted_from" : i == 2 ? "predicted_until" : "recorded_until",
				    PQgetisnull(r, 0, i) ? json_null() : json_string(PQgetvalue(r, 0, i)));
	*q80 = PQgetisnull(r, 0, 4) ? NAN : strtod(PQgetvalue(r, 0, 4), NULL);
	PQclear(r);
	return ERROR_OK;
}

/* The config's column that split.column also names (a feature, say), or NULL: outcomes split by time need their own. */
static const char *split_clash(const struct dataset_config *cfg)
{
	const char *other[] = {cfg->promo_column, cfg->target_column, cfg->exposure_column,
			       cfg->id_column ? cfg->id_column : "prediction_id",
			       cfg->unit_cost_column};
	size_t i;

	if (dataset_listed(cfg->numeric, cfg->n_numeric, cfg->split_column) ||
	    dataset_listed(cfg->log, cfg->n_log, cfg->split_column) ||
	    dataset_listed(cfg->categorical, cfg->n_categorical, cfg->split_column))
		return "a feature";
	for (i = 0; i < sizeof other / sizeof other[0]; i++)
		if (other[i] && !strcmp(other[i], cfg->split_column))
			return "another column of the config";
	return NULL;
}

FILE *train_outcomes_rows(PGconn *c, const char *name, struct dataset_config *cfg, const char *since,
			  const char *also_data, json_t **trained_on, struct error *err)
{
	const char *params[2] = {name, since};
	struct strbuf q;
	/* the id, every feature, unit cost, level, units, exposure, split */
	size_t cap = cfg->n_numeric + cfg->n_log + cfg->n_categorical + 7;
	const char **names = calloc(cap, sizeof *names);
	struct rows_select sel = {&q, names, 0, cap};
	const char *clash = cfg->split_by_column ? split_clash(cfg) : NULL;
	PGresult *r = NULL;
	FILE *f = NULL;
	double q80 = NAN;
	int i, j, nf;

	*trained_on = json_pack("{s:s, s:o}", "model", name, "since", since ? json_string(since) : json_null());
	strbuf_init(&q);
	if (clash) {
		error_set(err, ERROR_INVALID, "split.column",
			  "split.column: \"%s\" is also %s; --from-outcomes splits by the time each prediction was "
			  "made, which needs a column name of its own",
			  cfg->split_column, clash);
		goto fail;
	}
	if (!*trained_on || !names || !rows_query(&sel, c, cfg)) {
		error_nomem(err, "the outcome rows' query");
		goto fail;
	}
	if (describe(c, params, *trained_on, &q80, err) != ERROR_OK)
		goto fail;
	if (cfg->split_by_column) {
		if (isnan(q80)) {
			error_set(err, ERROR_INVALID, "from-outcomes", "model \"%s\" has no logged prediction with an "
				  "outcome%s", name, since ? " since --since" : "");
			goto fail;
		}
		/* the split column was never logged: the latest 20 % of the predictions are the test part */
		cfg->test_from = q80;
		json_object_set_new(*trained_on, "split", json_pack("{s:s, s:f}", "test_from_prediction_time", "latest 20 %",
								  "unix_seconds", cfg->test_from));
	}
	if (db_query(c, q.data, 2, params, &r, err) != ERROR_OK)
		goto fail;
	f = tmpfile();
	if (!f) {
		error_set(err, ERROR_IO, NULL, "cannot create a temporary file: %s", strerror(errno));
		goto fail;
	}
	nf = PQnfields(r);
	{
		const char **v = calloc((size_t)nf, sizeof *v);
		if (!v) {
			error_nomem(err, "a row");
			goto fail;
		}
		put_row(f, names, sel.n);
		for (i = 0; i < PQntuples(r); i++) {
			for (j = 0; j < nf; j++)
				v[j] = PQgetisnull(r, i, j) ? NULL : PQgetvalue(r, i, j);
			put_row(f, v, (size_t)nf);
		}
		free(v);
	}
	if (also_data && append_also(f, &sel, also_data, *trained_on, err) != ERROR_OK)
		goto fail;
	if (fflush(f) != 0 || ferror(f)) {
		error_set(err, ERROR_IO, NULL, "cannot write the outcome rows to a temporary file");
		goto fail;
	}
	PQclear(r);
	strbuf_done(&q);
	free(names);
	rewind(f);
	return f;
fail:
	PQclear(r);
	strbuf_done(&q);
	free(names);
	if (f)
		fclose(f);
	json_decref(*trained_on);
	*trained_on = NULL;
	return NULL;
}

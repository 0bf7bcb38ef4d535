/* outcomes — see include/shelfcast/outcomes.h. */
#include "shelfcast/outcomes.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shelfcast/numfmt.h"
#include "shelfcast/csvread.h"
#include "shelfcast/db.h"
#include "shelfcast/strbuf.h"
#include "shelfcast/util.h"

void outcomes_init(struct outcomes *o)
{
	memset(o, 0, sizeof *o);
}

void outcomes_done(struct outcomes *o)
{
	free(o->items);
	memset(o, 0, sizeof *o);
}

/* A value for a message: up to 40 bytes, printable ASCII, else "?". */
static void shown(char *out, size_t size, const char *s, size_t len)
{
	size_t i, n = len < 40 ? len : 40;

	for (i = 0; i < n && i + 1 < size; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
	out[i] = '\0';
}

enum error_code outcomes_add(struct outcomes *o, const char *field, const char *id, size_t id_len,
			     double units, enum outcome_exposed exposed, struct error *err)
{
	char name[96], text[48];
	struct outcome *p;
	size_t i;

	if (!id) {
		snprintf(name, sizeof name, "%s.prediction_id", field);
		return error_set(err, ERROR_INVALID, name, "%s: required field is missing", name);
	}
	if (!predlog_id_valid(id, id_len)) {
		snprintf(name, sizeof name, "%s.prediction_id", field);
		shown(text, sizeof text, id, id_len);
		return error_set(err, ERROR_INVALID, name,
				 "%s: expected a prediction id as predictions carry it "
				 "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), got \"%s%s\"",
				 name, text, id_len > 40 ? "..." : "");
	}
	if (!isfinite(units) || units < 0) {
		snprintf(name, sizeof name, "%s.units", field);
		return error_set(err, ERROR_INVALID, name, "%s: expected a finite number of units >= 0, got %g",
				 name, units);
	}
	p = util_reserve(o->items, &o->cap, o->n, sizeof *o->items, 64);
	if (!p)
		return error_nomem(err, "the outcomes");
	o->items = p;
	p = &o->items[o->n++];
	for (i = 0; i < id_len; i++)
		p->id[i] = (char)tolower((unsigned char)id[i]);
	p->id[id_len] = '\0';
	p->units = units;
	p->exposed = exposed;
	return ERROR_OK;
}

/* ---- CSV ---- */

struct csv_ctx {
	struct outcomes *o;
	int id_col, units_col, exposed_col;
};

static enum error_code on_header(void *ctx, const struct csvread_row *row, struct error *err)
{
	struct csv_ctx *c = ctx;

	c->id_col = csvread_find(row, "prediction_id");
	c->units_col = csvread_find(row, "units");
	c->exposed_col = csvread_find(row, "exposed");
	if (c->id_col < 0 || c->units_col < 0)
		return error_set(err, ERROR_INVALID, c->id_col < 0 ? "prediction_id" : "units",
				 "line 1: the header has no column \"%s\" (expected prediction_id, units[, exposed])",
				 c->id_col < 0 ? "prediction_id" : "units");
	return ERROR_OK;
}

static bool parse_exposed(const char *s, size_t len, enum outcome_exposed *out)
{
	static const char *const yes[] = {"true", "t", "1", "yes"}, *const no[] = {"false", "f", "0", "no"};
	size_t i;

	if (len == 0) {
		*out = OUTCOME_EXPOSED_UNKNOWN;
		return true;
	}
	for (i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = OUTCOME_EXPOSED_YES;
			return true;
		}
		if (!strcasecmp(s, no[i])) {
			*out = OUTCOME_EXPOSED_NO;
			return true;
		}
	}
	return false;
}

static enum error_code on_row(void *ctx, const struct csvread_row *row, struct error *err)
{
	struct csv_ctx *c = ctx;
	enum outcome_exposed exposed = OUTCOME_EXPOSED_UNKNOWN;
	char field[48], text[48];
	const char *units = row->fields[c->units_col];
	size_t units_len = row->lens[c->units_col];
	double v;

	snprintf(field, sizeof field, "line %zu", row->line);
	if (!util_parse_double(units, units_len, &v)) {
		shown(text, sizeof text, units, units_len);
		return error_set(err, ERROR_INVALID, "units", "%s.units: expected a number of units, got \"%s\"",
				 field, text);
	}
	if (c->exposed_col >= 0 &&
	    !parse_exposed(row->fields[c->exposed_col], row->lens[c->exposed_col], &exposed)) {
		shown(text, sizeof text, row->fields[c->exposed_col], row->lens[c->exposed_col]);
		return error_set(err, ERROR_INVALID, "exposed",
				 "%s.exposed: expected true or false (or empty: not known), got \"%s\"", field, text);
	}
	return outcomes_add(c->o, field, row->lens[c->id_col] ? row->fields[c->id_col] : NULL,
			    row->lens[c->id_col], v, exposed, err);
}

enum error_code outcomes_read_csv(FILE *f, const char *name, struct outcomes *o, struct error *err)
{
	struct csv_ctx c = {o, -1, -1, -1};

	return csvread_stream(f, name, on_header, on_row, &c, NULL, err);
}

/* ---- recording ---- */

enum error_code outcomes_record(PGconn *c, const struct outcomes *o, size_t from, size_t n,
				struct outcomes_counts *counts, struct error *err)
{
	struct strbuf ids, units, exposed;
	const char *params[3];
	PGresult *r = NULL;
	enum error_code rc;
	size_t i;

	strbuf_init(&ids);
	strbuf_init(&units);
	strbuf_init(&exposed);
	strbuf_putc(&ids, '{');
	strbuf_putc(&units, '{');
	strbuf_putc(&exposed, '{');
	for (i = from; i < from + n && i < o->n; i++) {
		const struct outcome *p = &o->items[i];
		if (i > from) {
			strbuf_putc(&ids, ',');
			strbuf_putc(&units, ',');
			strbuf_putc(&exposed, ',');
		}
		strbuf_puts(&ids, p->id); /* validated: hex and dashes only */
		{
			char num[NUMFMT_MAX]; /* numfmt: printf takes glibc's slow path in this process */
			strbuf_append(&units, num, numfmt_g(num, p->units, 17));
		}
		strbuf_puts(&exposed, p->exposed == OUTCOME_EXPOSED_UNKNOWN ? "NULL"
				      : p->exposed == OUTCOME_EXPOSED_YES   ? "t"
									    : "f");
	}
	strbuf_putc(&ids, '}');
	strbuf_putc(&units, '}');
	strbuf_putc(&exposed, '}');
	if (strbuf_failed(&ids) || strbuf_failed(&units) || strbuf_failed(&exposed)) {
		rc = error_nomem(err, "the outcomes");
		goto out;
	}
	params[0] = ids.data;
	params[1] = units.data;
	params[2] = exposed.data;
	rc = db_query(c,
		      "SELECT accepted, unknown_prediction, duplicate FROM "
		      "shelfcast.record_outcomes($1::uuid[], $2::double precision[], $3::boolean[])",
		      3, params, &r, err);
	if (rc)
		goto out;
	counts->accepted += strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	counts->unknown_prediction += strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	counts->duplicate += strtoll(PQgetvalue(r, 0, 2), NULL, 10);
	PQclear(r);
out:
	strbuf_done(&ids);
	strbuf_done(&units);
	strbuf_done(&exposed);
	return rc;
}

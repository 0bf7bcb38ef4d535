/* reply — see include/shelfcast/reply.h. */
#include "shelfcast/reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/jsonutil.h"

static const struct {
	enum error_code code;
	unsigned status;
	const char *name;
} error_table[] = {
	{ERROR_PARSE, 400, "malformed_json"},
	{ERROR_INVALID, 422, "invalid_request"},
	{ERROR_NOT_FOUND, 404, "not_found"},
	{ERROR_TOO_LARGE, 413, "too_large"},
	{ERROR_UNAVAILABLE, 503, "unavailable"},
	{ERROR_CONFLICT, 409, "conflict"},
	{ERROR_PERMISSION, 409, "conflict"},
	{ERROR_NOMEM, 503, "overloaded"},
	{ERROR_DB, 503, "database_unavailable"},
	{ERROR_IO, 500, "internal"},
	{ERROR_INTERNAL, 500, "internal"},
};

static const char out_of_memory[] = "{\"error\":{\"code\":\"overloaded\",\"message\":\"out of memory\"}}";

void reply_init(struct reply *r)
{
	memset(r, 0, sizeof *r);
}

void reply_done(struct reply *r)
{
	if (r->owned)
		free(r->body);
	reply_init(r);
}

void reply_status_of(enum error_code code, unsigned *status, const char **name)
{
	size_t i;

	*status = 500;
	*name = "internal";
	for (i = 0; i < sizeof error_table / sizeof error_table[0]; i++)
		if (error_table[i].code == code) {
			*status = error_table[i].status;
			*name = error_table[i].name;
			return;
		}
}

static void set(struct reply *r, unsigned status, const char *content_type, char *body, size_t len,
		bool owned)
{
	reply_done(r);
	r->status = status;
	r->content_type = content_type;
	r->body = body;
	r->len = len;
	r->owned = owned;
}

void reply_static(struct reply *r, unsigned status, const char *content_type, const char *body,
		  size_t len)
{
	set(r, status, content_type, (char *)body, len, false);
}

static void overloaded(struct reply *r)
{
	reply_static(r, 503, "application/json", out_of_memory, sizeof out_of_memory - 1);
	r->error_code = "overloaded";
}

void reply_text(struct reply *r, unsigned status, const char *content_type, struct strbuf *sb)
{
	size_t len = sb->len;
	char *body = strbuf_failed(sb) ? NULL : strbuf_steal(sb);

	strbuf_done(sb);
	if (!body) {
		overloaded(r);
		return;
	}
	set(r, status, content_type, body, len, true);
}

void reply_json(struct reply *r, unsigned status, struct strbuf *sb)
{
	reply_text(r, status, "application/json", sb);
}

void reply_jansson(struct reply *r, unsigned status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT | JSONUTIL_DISPLAY) : NULL;

	json_decref(j);
	if (!text) {
		overloaded(r);
		return;
	}
	set(r, status, "application/json", text, strlen(text), true);
}

static void error_reply(struct reply *r, unsigned status, const char *code, const char *message,
			const char *field, const char *details_json)
{
	struct strbuf sb;
	bool built;

	strbuf_init(&sb);
	strbuf_puts(&sb, "{\"error\":{\"code\":");
	strbuf_json_string(&sb, code, strlen(code));
	strbuf_puts(&sb, ",\"message\":");
	strbuf_json_string(&sb, message, strlen(message));
	if (field && *field) {
		strbuf_puts(&sb, ",\"field\":");
		strbuf_json_string(&sb, field, strlen(field));
	}
	if (details_json) {
		strbuf_puts(&sb, ",\"details\":");
		strbuf_puts(&sb, details_json);
	}
	strbuf_puts(&sb, "}}");
	built = !strbuf_failed(&sb);
	reply_json(r, status, &sb);
	if (!built) /* reply_json answered overloaded, which the log names (a 503 of ours too) */
		return;
	r->error_code = code;
	snprintf(r->error_field, sizeof r->error_field, "%s", field ? field : "");
}

void reply_error(struct reply *r, unsigned status, const char *code, const char *message,
		 const char *field)
{
	error_reply(r, status, code, message, field, NULL);
}

void reply_from_error(struct reply *r, const struct error *err)
{
	reply_from_error_details(r, err, NULL);
}

void reply_from_error_details(struct reply *r, const struct error *err, const char *details_json)
{
	unsigned status;
	const char *name;

	reply_status_of(err->code, &status, &name);
	error_reply(r, status, name, err->message, err->field, details_json);
}

/* item_errors — see include/shelfcast/item_errors.h. */
#include "shelfcast/item_errors.h"

#include <stdlib.h>
#include <string.h>

#include "shelfcast/jsonutil.h"
#include "shelfcast/reply.h"

enum error_code item_errors_mode(const json_t *root, bool *skip, struct error *err)
{
	const char *mode = "fail";
	enum error_code rc = jsonutil_get_string(root, "on_error", "", false, &mode, err);

	*skip = false;
	if (rc)
		return rc;
	if (strcmp(mode, "fail") && strcmp(mode, "skip"))
		return error_set(err, ERROR_INVALID, "on_error",
				 "on_error: \"%.40s\" is not one of fail, skip", mode);
	*skip = !strcmp(mode, "skip");
	return ERROR_OK;
}

void item_errors_init(struct item_errors *e, size_t limit)
{
	memset(e, 0, sizeof *e);
	strbuf_init(&e->list);
	e->limit = limit;
	error_init(&e->first);
}

void item_errors_done(struct item_errors *e)
{
	strbuf_done(&e->list);
	memset(e, 0, sizeof *e);
}

enum error_code item_errors_add(struct item_errors *e, size_t index, const struct error *item_err,
				struct error *err)
{
	unsigned status;
	const char *code;

	if (!e->n++ || index < e->first_index) { /* tiles note non-finite outputs after later items */
		e->first = *item_err;
		e->first_index = index;
	}
	if (e->limit && e->listed == e->limit)
		return ERROR_OK;
	reply_status_of(item_err->code, &status, &code);
	strbuf_putc(&e->list, e->listed++ ? ',' : '[');
	strbuf_printf(&e->list, "{\"index\":%zu", index);
	if (item_err->field[0]) {
		strbuf_puts(&e->list, ",\"field\":");
		strbuf_json_string(&e->list, item_err->field, strlen(item_err->field));
	}
	strbuf_puts(&e->list, ",\"code\":");
	strbuf_json_string(&e->list, code, strlen(code));
	strbuf_puts(&e->list, ",\"message\":");
	strbuf_json_string(&e->list, item_err->message, strlen(item_err->message));
	strbuf_putc(&e->list, '}');
	return strbuf_failed(&e->list) ? error_nomem(err, "the item errors") : ERROR_OK;
}

char *item_errors_json(struct item_errors *e)
{
	if (!e->listed)
		strbuf_putc(&e->list, '[');
	strbuf_putc(&e->list, ']');
	return strbuf_failed(&e->list) ? NULL : strbuf_steal(&e->list);
}

enum error_code item_errors_append(struct item_errors *e, struct strbuf *reply, struct error *err)
{
	if (!reply->len || reply->data[reply->len - 1] != '}')
		return error_set(err, ERROR_INTERNAL, NULL, "the reply is not a finished object");
	if (strbuf_failed(&e->list))
		return error_nomem(err, "the item errors");
	reply->len--; /* the closing brace, put back below */
	strbuf_puts(reply, ",\"errors\":");
	if (e->listed)
		strbuf_append(reply, e->list.data, e->list.len);
	else
		strbuf_putc(reply, '[');
	strbuf_puts(reply, "]}");
	return strbuf_failed(reply) ? error_nomem(err, "the reply") : ERROR_OK;
}

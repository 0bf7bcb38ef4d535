/* error — see include/shelfcast/error.h.  Thread-safe: no shared state. */
#include "shelfcast/error.h"

#include <stdio.h>
#include <string.h>

void error_init(struct error *err)
{
	if (!err)
		return;
	err->code = ERROR_OK;
	err->field[0] = '\0';
	err->message[0] = '\0';
}

enum error_code error_setv(struct error *err, enum error_code code, const char *field,
			   const char *fmt, va_list ap)
{
	if (!err || err->code != ERROR_OK)
		return code;
	err->code = code;
	snprintf(err->field, sizeof err->field, "%s", field ? field : "");
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	return code;
}

enum error_code error_set(struct error *err, enum error_code code, const char *field,
			  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_setv(err, code, field, fmt, ap);
	va_end(ap);
	return code;
}

enum error_code error_nomem(struct error *err, const char *what)
{
	return error_set(err, ERROR_NOMEM, NULL, "out of memory allocating %s", what);
}

void error_prefix(struct error *err, const char *fmt, ...)
{
	char prefix[256], old[ERROR_MESSAGE_MAX];
	va_list ap;

	if (!err || err->code == ERROR_OK)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, err->message, sizeof old);
	snprintf(err->message, sizeof err->message, "%s: %s", prefix, old);
}

const char *error_code_name(enum error_code code)
{
	switch (code) {
	case ERROR_OK: return "ok";
	case ERROR_INVALID: return "invalid";
	case ERROR_PARSE: return "malformed";
	case ERROR_NOT_FOUND: return "not_found";
	case ERROR_TOO_LARGE: return "too_large";
	case ERROR_UNAVAILABLE: return "unavailable";
	case ERROR_CONFLICT: return "conflict";
	case ERROR_NOMEM: return "out_of_memory";
	case ERROR_IO: return "io";
	case ERROR_DB: return "database";
	case ERROR_PERMISSION: return "permission";
	case ERROR_INTERNAL: return "internal";
	}
	return "internal";
}

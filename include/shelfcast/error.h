/*
 * error — the one error type every fallible shelfcast function fills.
 *
 * A fallible function returns an enum error_code (ERROR_OK is 0) and, on
 * failure, describes the problem in a caller-owned struct error.  The first
 * error wins: once set, later error_set calls leave it alone, so the deepest
 * and most precise description survives the unwinding (jansson json_error_t).
 *
 * Messages follow PostgreSQL's style: lower case, no final period, say what
 * and why.  `field` names the offending input as a path when there is one,
 * e.g. "items[3].features.price".
 *
 * Thread-safety: a struct error belongs to one thread at a time.
 */
#ifndef SHELFCAST_ERROR_H
#define SHELFCAST_ERROR_H

#include <stdarg.h>
#include <stddef.h>

enum error_code {
	ERROR_OK = 0,
	ERROR_INVALID,     /* input breaks a contract (HTTP 422, exit 1) */
	ERROR_PARSE,       /* input is not well-formed (HTTP 400) */
	ERROR_NOT_FOUND,   /* a named thing does not exist (HTTP 404) */
	ERROR_TOO_LARGE,   /* input over a configured limit (HTTP 413) */
	ERROR_UNAVAILABLE, /* nothing to answer with yet (HTTP 503) */
	ERROR_CONFLICT,    /* state does not allow the change (HTTP 409) */
	ERROR_NOMEM,       /* an allocation failed */
	ERROR_IO,          /* a file or system call failed */
	ERROR_DB,          /* the database failed or is unreachable */
	ERROR_PERMISSION,  /* the database role lacks a privilege (SQLSTATE 42501) */
	ERROR_INTERNAL,    /* a bug: an invariant did not hold */
};

#define ERROR_FIELD_MAX 192
#define ERROR_MESSAGE_MAX 512

struct error {
	enum error_code code;
	char field[ERROR_FIELD_MAX];     /* "" when no single field is at fault */
	char message[ERROR_MESSAGE_MAX]; /* "" only when code is ERROR_OK */
};

/* Reset err to "no error". */
void error_init(struct error *err);

/*
 * Record an error unless one is recorded already; field may be NULL.
 * Returns code, so callers can write `return error_set(err, ...)`.
 * err may be NULL (the error is then only returned).
 */
enum error_code error_set(struct error *err, enum error_code code, const char *field,
			  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
enum error_code error_setv(struct error *err, enum error_code code, const char *field,
			   const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

/* Record ERROR_NOMEM with a message naming what was being allocated. */
enum error_code error_nomem(struct error *err, const char *what);

/* Prefix the recorded message with "<prefix>: " (context added on the way up). */
void error_prefix(struct error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A short stable name for the code ("invalid", "not_found", ...). */
const char *error_code_name(enum error_code code);

#endif

/*
 * The admin token of `serve`: from --admin-token / SHELFCAST_ADMIN_TOKEN or
 * --admin-token-file / SHELFCAST_ADMIN_TOKEN_FILE (a file keeps it out of
 * argv and the environment, which /proc shows), checked before the server
 * starts.  A token that is short, not printable, made of few characters or
 * of placeholder words ("change-me", "secret", ...) is refused: it would
 * open activation to whoever guesses it.  Messages never quote the token.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "shelfcast/util.h"

#define TOKEN_MIN_BYTES 32
#define TOKEN_MIN_DISTINCT 8
#define TOKEN_FILE_MAX 4096

/* Words placeholder tokens are made of (compared without case, punctuation or digits). */
static const char *const placeholder_words[] = {
	"change", "changeme", "me", "replace", "replaceme", "set", "secret", "password", "passwd",
	"pass", "admin", "administrator", "token", "test", "testing", "example", "default",
	"shelfcast", "your", "my", "here", "this", "with", "random", "value", "key", "api", "bearer",
	"letmein", "qwerty", "dummy", "sample", "placeholder", "insecure", "dev", "todo", "fixme",
	"for", "the", "of", "and", "to", "use", "only", "please", "new", "prod", "production",
	"staging", "local", "localhost", "super", "very", "long", "strong", "string"};

/* Can s[0..n) be cut entirely into placeholder words and digits? */
static bool is_placeholder(const char *s, size_t n)
{
	bool *ok = calloc(n + 1, sizeof *ok);
	bool r;
	size_t i, w;

	if (!ok)
		return false;
	ok[0] = true;
	for (i = 0; i < n; i++) {
		if (!ok[i])
			continue;
		if (isdigit((unsigned char)s[i]))
			ok[i + 1] = true;
		for (w = 0; w < sizeof placeholder_words / sizeof *placeholder_words; w++) {
			size_t len = strlen(placeholder_words[w]);
			if (len <= n - i && !memcmp(s + i, placeholder_words[w], len))
				ok[i + len] = true;
		}
	}
	r = ok[n];
	free(ok);
	return r;
}

static enum error_code check_token(const char *t, const char *source, struct error *err)
{
	size_t n = strlen(t), i, distinct = 0, k = 0;
	bool seen[256] = {false};
	char *letters;
	bool placeholder;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)t[i];
		if (ch <= 0x20 || ch >= 0x7f)
			return error_set(err, ERROR_INVALID, "admin_token",
					 "%s: byte %zu is not a visible ASCII character (0x%02x): an "
					 "admin token is sent in an HTTP header and holds no spaces or "
					 "control characters",
					 source, i + 1, ch);
		distinct += !seen[ch];
		seen[ch] = true;
	}
	if (n < TOKEN_MIN_BYTES)
		return error_set(err, ERROR_INVALID, "admin_token",
				 "%s: the admin token is %zu bytes long, at least %d are needed "
				 "(make one with `openssl rand -hex 32`)",
				 source, n, TOKEN_MIN_BYTES);
	if (distinct < TOKEN_MIN_DISTINCT)
		return error_set(err, ERROR_INVALID, "admin_token",
				 "%s: the admin token has only %zu different characters: not a random "
				 "secret (make one with `openssl rand -hex 32`)",
				 source, distinct);
	letters = malloc(n + 1);
	if (!letters)
		return error_nomem(err, "the admin token");
	for (i = 0; i < n; i++)
		if (isalnum((unsigned char)t[i]))
			letters[k++] = (char)tolower((unsigned char)t[i]);
	placeholder = is_placeholder(letters, k);
	explicit_bzero(letters, n + 1);
	free(letters);
	if (placeholder)
		return error_set(err, ERROR_INVALID, "admin_token",
				 "%s: the admin token is a placeholder (words such as \"change-me\", "
				 "\"secret\", \"token\" and digits), not a secret (make one with "
				 "`openssl rand -hex 32`)",
				 source);
	return ERROR_OK;
}

enum error_code cli_admin_token(const char *token, const char *file, char **out, struct error *err)
{
	char *t = NULL;
	size_t len = 0;
	enum error_code rc;

	*out = NULL;
	if (token && *token && file && *file)
		return error_set(err, ERROR_INVALID, "admin_token",
				 "give --admin-token (SHELFCAST_ADMIN_TOKEN) or --admin-token-file "
				 "(SHELFCAST_ADMIN_TOKEN_FILE), not both");
	if (file && *file) {
		rc = util_read_file(file, TOKEN_FILE_MAX, &t, &len, err);
		if (rc) {
			error_prefix(err, "--admin-token-file");
			return rc;
		}
		/* Files end in a newline; the token is what comes before it. */
		while (len > 0 && strchr(" \t\r\n", t[len - 1]))
			t[--len] = '\0';
		if (len == 0 || strlen(t) != len) {
			cli_admin_token_free(t);
			return error_set(err, ERROR_INVALID, "admin_token",
					 "--admin-token-file %s: %s", file,
					 len == 0 ? "the file is empty" : "the file holds a NUL byte");
		}
		rc = check_token(t, "--admin-token-file", err);
	} else if (token && *token) {
		t = strdup(token);
		rc = t ? check_token(t, "--admin-token", err) : error_nomem(err, "the admin token");
	} else {
		return ERROR_OK; /* activation over the API stays off */
	}
	if (rc) {
		cli_admin_token_free(t);
		return rc;
	}
	*out = t;
	return ERROR_OK;
}

void cli_admin_token_free(char *token)
{
	if (!token)
		return;
	explicit_bzero(token, strlen(token));
	free(token);
}

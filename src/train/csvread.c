/* csvread — see include/shelfcast/csvread.h. */
#include "shelfcast/csvread.h"

#include <csv.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/sha256.h"

struct state {
	const char *name;
	csvread_row_fn on_header, on_row;
	void *ctx;
	struct error *err;
	enum error_code rc;
	size_t line;       /* physical line being fed */
	size_t row_line;   /* line the current row started on */
	size_t header_n;
	bool have_header;
	char **names;      /* (header_n) the header's, for messages; NULL when out of memory */
	/* the current row */
	char **fields;
	size_t *lens;
	size_t *caps;
	size_t n;
};

static void on_field(void *data, size_t len, void *p)
{
	struct state *s = p;

	if (s->rc)
		return;
	if (s->n >= CSVREAD_MAX_COLUMNS) {
		s->rc = error_set(s->err, ERROR_INVALID, NULL, "%s line %zu: more than %d columns",
				  s->name, s->row_line, CSVREAD_MAX_COLUMNS);
		return;
	}
	if (len > CSVREAD_MAX_FIELD) {
		s->rc = error_set(s->err, ERROR_INVALID, NULL,
				  "%s line %zu, column %zu: field longer than %u bytes", s->name,
				  s->row_line, s->n + 1, CSVREAD_MAX_FIELD);
		return;
	}
	/* Every field is used as a C string: a NUL would cut it short, silently ("1.5\0junk" as 1.5). */
	if (len && memchr(data, '\0', len)) {
		bool named = s->names && s->n < s->header_n;
		s->rc = error_set(s->err, ERROR_INVALID, NULL, "%s line %zu, column %zu%s%s%s: a NUL byte in the field",
				  s->name, s->row_line, s->n + 1, named ? " (" : "", named ? s->names[s->n] : "",
				  named ? ")" : "");
		return;
	}
	if (s->caps[s->n] < len + 1) {
		size_t cap = len + 1 < 32 ? 32 : len + 1;
		char *f = realloc(s->fields[s->n], cap);
		if (!f) {
			s->rc = error_nomem(s->err, "a CSV field");
			return;
		}
		s->fields[s->n] = f;
		s->caps[s->n] = cap;
	}
	if (len)
		memcpy(s->fields[s->n], data, len);
	s->fields[s->n][len] = '\0';
	s->lens[s->n] = len;
	s->n++;
}

static void on_record(int term, void *p)
{
	struct state *s = p;
	struct csvread_row row;

	(void)term;
	if (s->rc)
		return;
	if (s->row_line == 0)
		s->row_line = s->line;
	row.fields = (const char *const *)s->fields;
	row.lens = s->lens;
	row.n = s->n;
	row.line = s->row_line;
	if (!s->have_header) {
		size_t i;
		s->have_header = true;
		s->header_n = s->n;
		if ((s->names = calloc(s->n + 1, sizeof *s->names)))
			for (i = 0; i < s->n; i++)
				if (!(s->names[i] = strdup(s->fields[i])))
					s->rc = error_nomem(s->err, "the CSV header");
		/* a name twice: which column a reader takes would be its own choice */
		for (i = 0; !s->rc && i < s->n; i++) {
			size_t j;
			for (j = 0; j < i && !s->rc; j++)
				if (!strcmp(s->fields[j], s->fields[i]))
					s->rc = error_set(s->err, ERROR_INVALID, NULL,
							  "%s: the header names column \"%s\" twice (columns %zu and %zu)",
							  s->name, s->fields[i], j + 1, i + 1);
		}
		s->rc = s->rc ? s->rc : s->on_header(s->ctx, &row, s->err);
	} else if (s->n == 1 && s->lens[0] == 0) {
		/* a blank line */
	} else if (s->n != s->header_n) {
		s->rc = error_set(s->err, ERROR_INVALID, NULL,
				  "%s line %zu: %zu fields, but the header has %zu", s->name,
				  s->row_line, s->n, s->header_n);
	} else {
		s->rc = s->on_row(s->ctx, &row, s->err);
	}
	s->n = 0;
	s->row_line = 0;
}

enum error_code csvread_stream(FILE *f, const char *name, csvread_row_fn on_header,
			       csvread_row_fn on_row, void *ctx, char checksum[65],
			       struct error *err)
{
	struct csv_parser p;
	struct state s;
	struct sha256 sha;
	char *line = NULL;
	size_t cap = 0, i;
	ssize_t len;

	memset(&s, 0, sizeof s);
	s.name = name;
	s.on_header = on_header;
	s.on_row = on_row;
	s.ctx = ctx;
	s.err = err;
	s.fields = calloc(CSVREAD_MAX_COLUMNS, sizeof *s.fields);
	s.lens = calloc(CSVREAD_MAX_COLUMNS, sizeof *s.lens);
	s.caps = calloc(CSVREAD_MAX_COLUMNS, sizeof *s.caps);
	if (!s.fields || !s.lens || !s.caps || csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
		free(s.fields);
		free(s.lens);
		free(s.caps);
		return error_nomem(err, "a CSV parser");
	}
	sha256_init(&sha);
	while (!s.rc && (len = getline(&line, &cap, f)) > 0) {
		size_t skip = 0;
		s.line++;
		sha256_update(&sha, line, (size_t)len);
		/* a UTF-8 byte order mark (spreadsheets write one) is not part of the first column's name */
		if (s.line == 1 && len >= 3 && !memcmp(line, "\xef\xbb\xbf", 3))
			skip = 3;
		/* pstate 0 is libcsv's ROW_NOT_BEGUN: a row starts on this line. */
		if (s.n == 0 && p.pstate == 0)
			s.row_line = s.line;
		if (csv_parse(&p, line + skip, (size_t)len - skip, on_field, on_record, &s) != (size_t)len - skip &&
		    !s.rc)
			s.rc = error_set(err, ERROR_INVALID, NULL,
					 "%s line %zu: malformed CSV (%s), near field %zu", name, s.line,
					 csv_strerror(csv_error(&p)), s.n + 1);
	}
	if (!s.rc && ferror(f))
		s.rc = error_set(err, ERROR_IO, NULL, "cannot read %s", name);
	if (!s.rc && csv_fini(&p, on_field, on_record, &s) != 0 && !s.rc)
		s.rc = error_set(err, ERROR_INVALID, NULL,
				 "%s line %zu: malformed CSV at the end of the file (%s)", name,
				 s.row_line ? s.row_line : s.line, csv_strerror(csv_error(&p)));
	if (!s.rc && !s.have_header)
		s.rc = error_set(err, ERROR_INVALID, NULL, "%s is empty: no header row", name);
	if (checksum)
		sha256_final_hex(&sha, checksum);
	csv_free(&p);
	free(line);
	for (i = 0; i < CSVREAD_MAX_COLUMNS; i++)
		free(s.fields[i]);
	for (i = 0; s.names && i < s.header_n; i++)
		free(s.names[i]);
	free(s.names);
	free(s.fields);
	free(s.lens);
	free(s.caps);
	return s.rc;
}

int csvread_find(const struct csvread_row *header, const char *name)
{
	size_t i;
	for (i = 0; i < header->n; i++)
		if (!strcmp(header->fields[i], name))
			return (int)i;
	return -1;
}

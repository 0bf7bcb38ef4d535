/*
 * outcomes — what happened to logged predictions (docs/monitoring.md): a
 * batch of (prediction_id, units, exposed), validated field by field,
 * read from a CSV (`shelfcast outcomes import`) or built by the API's body
 * parser (outcomes_api.h), and recorded through
 * shelfcast.record_outcomes (migration 0005), which finds each prediction
 * in its day partition from the id's time.
 *
 *   CSV: a header naming prediction_id and units, and optionally exposed
 *        (true/false, t/f, 1/0, yes/no, or empty for not known); other
 *        columns are ignored.
 *
 * Thread-safety: a batch belongs to one thread.
 */
#ifndef SHELFCAST_OUTCOMES_H
#define SHELFCAST_OUTCOMES_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "shelfcast/error.h"
#include "shelfcast/predlog.h"

/* Outcomes per POST /v1/outcomes, and per call of record_outcomes. */
#define OUTCOMES_MAX 10000

enum outcome_exposed { OUTCOME_EXPOSED_UNKNOWN = -1, OUTCOME_EXPOSED_NO = 0, OUTCOME_EXPOSED_YES = 1 };

struct outcome {
	char id[PREDLOG_ID_TEXT]; /* lower case */
	double units;             /* finite, >= 0 */
	enum outcome_exposed exposed;
};

struct outcomes {
	struct outcome *items;
	size_t n, cap;
};

void outcomes_init(struct outcomes *o);
void outcomes_done(struct outcomes *o);

/*
 * Check one outcome and append it.  id: the text given (NULL: missing);
 * field: how errors name the outcome ("outcomes[3]", "line 5"), used as
 * FIELD.prediction_id, FIELD.units.  ERROR_INVALID naming the field, or
 * ERROR_NOMEM.
 */
enum error_code outcomes_add(struct outcomes *o, const char *field, const char *id, size_t id_len,
			     double units, enum outcome_exposed exposed, struct error *err);

/* Read a CSV of outcomes (see above) into o; errors name the line and column. */
enum error_code outcomes_read_csv(FILE *f, const char *name, struct outcomes *o, struct error *err);

struct outcomes_counts {
	long long accepted, unknown_prediction, duplicate;
};

/*
 * Record o's items [from, from + n) (n <= OUTCOMES_MAX) in one statement;
 * counts added to *counts.  ERROR_PERMISSION when the role may not,
 * ERROR_DB otherwise.
 */
enum error_code outcomes_record(PGconn *c, const struct outcomes *o, size_t from, size_t n,
				struct outcomes_counts *counts, struct error *err);

#endif

/* train_outcomes — `train --from-outcomes`'s rows (see train_outcomes.c). */
#ifndef SHELFCAST_CLI_TRAIN_OUTCOMES_H
#define SHELFCAST_CLI_TRAIN_OUTCOMES_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>

#include "shelfcast/dataset.h"
#include "shelfcast/error.h"

/* The dataset config stored with model name's active (else newest) version that has one: JSON text, new. */
char *train_outcomes_config(PGconn *c, const char *name, struct error *err);

/*
 * Model name's logged predictions joined to their outcomes (predicted at
 * or after since, when not NULL), then also_data's rows (may be NULL), as a
 * CSV in cfg's columns in a temporary file (new: fclose it); a column split
 * becomes a split on the prediction time (cfg->test_from set).
 * *trained_on: what the rows are (new JSON object): the outcomes' count and
 * time span, --since, --also-data's file, rows and checksum.
 */
FILE *train_outcomes_rows(PGconn *c, const char *name, struct dataset_config *cfg, const char *since,
			  const char *also_data, json_t **trained_on, struct error *err);

#endif

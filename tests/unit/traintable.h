/*
 * traintable — for the trainer's unit tests: a dataset config and the
 * table it reads, from a CSV text, as `shelfcast train` loads them.
 */
#ifndef SHELFCAST_TEST_TRAINTABLE_H
#define SHELFCAST_TEST_TRAINTABLE_H

#include "testutil.h"

#include "shelfcast/dataset.h"
#include "shelfcast/table.h"
#include "shelfcast/train.h"

/* Parse config_json, then load csv (len bytes) with the columns it names; fails the test on error. */
static inline void traintable_load(const char *config_json, const char *csv, size_t len,
				   struct dataset_config *cfg, struct table *t)
{
	struct table_colspec *cols;
	struct table_options opt;
	struct error err;
	size_t n;
	FILE *f;

	error_init(&err);
	if (dataset_config_parse(config_json, strlen(config_json), cfg, &err) != ERROR_OK)
		fail_msg("config: %s", err.message);
	cols = train_columns(cfg, &n);
	assert_non_null(cols);
	opt = (struct table_options){cfg->levels, cfg->n_levels, true, cfg->max_categories};
	f = fmemopen((void *)csv, len, "r");
	if (table_load(f, "test", cols, n, &opt, t, &err) != ERROR_OK)
		fail_msg("table: %s", err.message);
	fclose(f);
	free(cols);
}

#endif

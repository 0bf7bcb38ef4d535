/* shelfcast predict — offline scoring of a CSV with a registered model version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "cli.h"
#include "shelfcast/explain.h"
#include "shelfcast/predict.h"
#include "shelfcast/registry.h"
#include "shelfcast/strbuf.h"
#include "shelfcast/table.h"
#include "shelfcast/util.h"

#define CHUNK 4096

/* The CSV's columns the model reads (a required numeric one must be there), its level and id columns. */
static enum error_code load_rows(const struct model *m, const char *data, struct table *t,
				 struct error *err)
{
	const struct table_colspec level = {m->spec.promo_column, TABLE_LEVEL, true, false, false};

	return cli_load_rows(m, data, -1, &level, 1, t, err);
}

/* --explain's header: both baselines, then sales_<feature> and exposure_<feature> per feature. */
static void explain_header(FILE *out, const struct explain_model *x)
{
	size_t j;
	char col[SPEC_NAME_MAX + 16];

	fputs(",sales_baseline,exposure_baseline", out);
	for (j = 0; j < 2 * x->M; j++) {
		snprintf(col, sizeof col, "%s_%s", j % 2 ? "exposure" : "sales", x->name[j / 2]);
		fputc(',', out);
		cli_csv_field(out, col, false);
	}
}

/* --explain's columns of item k of batch b, at level index lv. */
static void explain_columns(FILE *out, struct explain_model *x, const struct predict_batch *b,
			    size_t k, int lv)
{
	double sales[EXPLAIN_MAX_FEATURES], exposure[EXPLAIN_MAX_FEATURES];
	size_t j;

	explain_model_item(x, b->x + k * b->d, lv, sales, exposure);
	fputc(',', out);
	cli_number(out, x->sales_baseline);
	fputc(',', out);
	cli_number(out, x->exposure_baseline);
	for (j = 0; j < x->M; j++) {
		fputc(',', out);
		cli_number(out, sales[j]);
		fputc(',', out);
		cli_number(out, exposure[j]);
	}
}

/*
 * One output row per table row, CHUNK rows at a time through the API's batch
 * scoring; with x, the explanation columns too.
 */
static enum error_code score_rows(const struct model *m, const struct table *t, enum spec_objective objective,
				  struct explain_model *x, FILE *out, struct error *err)
{
	int level_col = table_column(t, m->spec.promo_column),
	    id_col = m->spec.id_column ? table_column(t, m->spec.id_column) : -1;
	int *map = table_encoder_map(t, &m->spec);
	struct encoder_value *vals = calloc(encoder_n_inputs(m->enc) + 1, sizeof *vals);
	struct predict_batch batch = {0};
	enum error_code rc = ERROR_OK;
	size_t i, k;

	if (id_col >= 0 && t->cols[id_col].csv_index < 0)
		id_col = -1;
	if (!map || !vals)
		rc = error_nomem(err, "the rows");
	else if (t->n_rows) /* one batch, reused by every chunk */
		rc = predict_batch_init(&batch, m, t->n_rows < CHUNK ? t->n_rows : CHUNK, err);
	cli_csv_field(out, id_col >= 0 ? m->spec.id_column : "row", false);
	fprintf(out, ",promotion_level,predicted_sales,exposure_probability,recommended_promotion_level");
	if (x)
		explain_header(out, x);
	fputc('\n', out);
	for (i = 0; !rc && i < t->n_rows; i += CHUNK) {
		size_t B = t->n_rows - i < CHUNK ? t->n_rows - i : CHUNK;
		for (k = 0; !rc && k < B; k++) {
			char prefix[64];
			snprintf(prefix, sizeof prefix, "row %zu", i + k + 1);
			table_encoder_values(t, map, encoder_n_inputs(m->enc), i + k, vals);
			rc = predict_batch_set(&batch, m, k, vals, t->cols[level_col].id[i + k], prefix, err);
		}
		if (!rc)
			predict_batch_run(&batch, m, B, objective);
		for (k = 0; !rc && k < B; k++) {
			int lv = predict_reported_level(&batch, k);
			if (!batch.finite[k]) {
				rc = error_set(err, ERROR_INVALID, NULL,
					       "row %zu: the model's output for this row is not a finite number "
					       "(an input far outside anything it was trained on?)",
					       i + k + 1);
				break;
			}
			size_t r = k * batch.K + (size_t)lv;
			int32_t id = id_col >= 0 ? t->cols[id_col].id[i + k] : -1;
			if (id_col >= 0)
				cli_csv_field(out, id >= 0 ? t->cols[id_col].strings[id] : "", false);
			else
				fprintf(out, "%zu", i + k + 1);
			fprintf(out, ",%lld,", m->spec.levels[lv].level);
			cli_number(out, predict_batch_sales(&batch, m, r));
			fputc(',', out);
			cli_number(out, predict_batch_exposure(&batch, r));
			fprintf(out, ",%lld", m->spec.levels[batch.recommended[k]].level);
			if (x)
				explain_columns(out, x, &batch, k, lv);
			fputc('\n', out);
		}
	}
	predict_batch_done(&batch);
	free(map);
	free(vals);
	return rc;
}

int cmd_predict(int argc, char **argv)
{
	const char *db_url = NULL, *data_dir = NULL, *model_ref = NULL, *data = NULL, *out_path = NULL,
		   *objective_name = NULL;
	bool explain = false;
	const struct cli_option options[] = {
		{"--model", NULL, CLI_STRING, &model_ref, NULL, "NAME[@VERSION]",
		 "the model (default version: the active one)"},
		{"--data", NULL, CLI_STRING, &data, NULL, "FILE.csv", "rows to score"},
		{"--out", NULL, CLI_STRING, &out_path, NULL, "FILE.csv", "write here (default stdout)"},
		{"--objective", NULL, CLI_STRING, &objective_name, NULL, "NAME",
		 "revenue, units or profit (default: the model's)"},
		{"--explain", NULL, CLI_FLAG, NULL, &explain, NULL,
		 "add sales_baseline, exposure_baseline and each feature's contributions "
		 "(sales_<feature>, exposure_<feature>), as \"explain\" does in the API"},
		CLI_DB_OPTIONS(db_url, data_dir)};
	const struct cli_command cmd = {
		"predict",
		"Score every row of a CSV at every promotion level with a registered model, exactly as\n"
		"POST /v1/predict does. Writes the id column (or the row number), the level the numbers\n"
		"are for (the row's promotion level when it has one, else the recommended one),\n"
		"predicted_sales, exposure_probability and recommended_promotion_level.",
		"shelfcast predict --model NAME[@VERSION] --data FILE.csv [--out FILE.csv] [--explain]",
		options,
		sizeof options / sizeof options[0], 0, 0};
	char **args = NULL;
	struct cli_model cm = {0};
	struct error err;
	struct explain_model x = {0};
	struct table t = {0};
	enum spec_objective objective;
	struct cli_out out_file = {0};
	int code;
	size_t n;

	if (!cli_parse(&cmd, argc, argv, &args, &n, &code))
		return code;
	free(args);
	if (!model_ref || !data) {
		fprintf(stderr, "shelfcast predict: --model and --data are required\n");
		return EXIT_USAGE;
	}
	error_init(&err);
	if (objective_name && !spec_objective_parse(objective_name, &(enum spec_objective){0})) {
		fprintf(stderr, "shelfcast predict: --objective: \"%s\" is not one of revenue, units, profit\n",
			objective_name);
		return EXIT_USAGE;
	}
	code = cli_model_open(&cm, "predict", model_ref, db_url, data_dir);
	if (code)
		goto out;
	if (spec_objective_choose(&cm.m->spec, cm.name, objective_name, true, &objective, &err) == ERROR_OK &&
	    explain)
		explain_model_init(&x, cm.m, &err);
	if (err.code || load_rows(cm.m, data, &t, &err) != ERROR_OK ||
	    (out_path && cli_out_open(&out_file, out_path, &err) != ERROR_OK) ||
	    score_rows(cm.m, &t, objective, explain ? &x : NULL, out_path ? out_file.f : stdout, &err) !=
		    ERROR_OK) {
		code = cli_fail("predict", &err);
		goto out;
	}
	code = cli_out_finish("predict", &out_file, out_path, &err);
	if (!code)
		fprintf(stderr, "shelfcast predict: scored %zu rows with %s version %d\n", t.n_rows, cm.name,
			cm.version);
out:
	cli_out_abort(&out_file);
	explain_model_done(&x);
	table_done(&t);
	cli_model_close(&cm);
	return code;
}

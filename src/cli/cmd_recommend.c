/* shelfcast recommend — offline launch recommendations for a CSV, as POST /v1/recommend gives them. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "shelfcast/recommend.h"
#include "shelfcast/table.h"
#include "shelfcast/util.h"

/* Items per recommend_run: as one /v1/recommend request of that many items (more than --max-items' default). */
#define CHUNK 16384

/* The per-item options, as columns (a cell overrides the flag; an empty cell keeps it). */
enum opt_col { COL_UNIT_COST, COL_PRICE_MIN, COL_PRICE_MAX, COL_MIN_MARGIN, COL_MIN_EXPOSURE, N_NUM_COLS };
static const char *const num_col_names[N_NUM_COLS] = {"unit_cost", "price_min", "price_max", "min_margin",
						      "min_exposure_probability"};
#define LEVELS_COLUMN "levels"

struct item_defaults {
	double num[N_NUM_COLS]; /* NAN: none */
	uint64_t levels;        /* 0: every level */
};

/* "0|2", "0 2", "0;2" or "0,2": the model's levels, into a mask; false with err naming where. */
static bool parse_levels(const struct model *m, const char *s, const char *where, uint64_t *mask,
			 struct error *err)
{
	char *end;
	long long v;
	int k;

	*mask = 0;
	while (*s) {
		if (strchr(" |;,", *s)) {
			s++;
			continue;
		}
		errno = 0;
		v = strtoll(s, &end, 10);
		if (end == s || errno) {
			error_set(err, ERROR_INVALID, NULL, "%s: \"%s\" is not a list of promotion levels", where, s);
			return false;
		}
		k = spec_level_index(&m->spec, v);
		if (k < 0) {
			error_set(err, ERROR_INVALID, NULL, "%s: %lld is not a promotion level of model %s", where, v,
				  m->name);
			return false;
		}
		*mask |= (uint64_t)1 << k;
		s = end;
	}
	if (!*mask) {
		error_set(err, ERROR_INVALID, NULL, "%s: names no promotion level", where);
		return false;
	}
	return true;
}

/* The option columns' (or flags') values into an ask. */
static void ask_options(const double num[N_NUM_COLS], struct recommend_ask *a)
{
	a->unit_cost = num[COL_UNIT_COST];
	a->price_min = num[COL_PRICE_MIN];
	a->price_max = num[COL_PRICE_MAX];
	a->min_margin = num[COL_MIN_MARGIN];
	a->min_exposure = num[COL_MIN_EXPOSURE];
}

/* The options recommend_ask_check refuses, naming the column or flag; where names the row or "the flags". */
static bool check_options(const double num[N_NUM_COLS], const char *where, struct error *err)
{
	static const char *const names[] = {[RECOMMEND_ASK_UNIT_COST] = "unit_cost",
					    [RECOMMEND_ASK_PRICE_MIN] = "price_min",
					    [RECOMMEND_ASK_PRICE_MAX] = "price_max",
					    [RECOMMEND_ASK_MIN_MARGIN] = "min_margin",
					    [RECOMMEND_ASK_MIN_EXPOSURE] = "min_exposure_probability"};
	struct recommend_ask a = {0};
	const char *why;
	enum recommend_ask_field f;

	ask_options(num, &a);
	f = recommend_ask_check(&a, &why);

	if (f != RECOMMEND_ASK_OK)
		error_set(err, ERROR_INVALID, NULL, "%s: %s: %s", where, names[f], why);
	return f == RECOMMEND_ASK_OK;
}

/*
 * The model's features (the price optional: the search varies it), the
 * option columns (the model may read unit_cost itself), levels and the id.
 */
static enum error_code load_rows(const struct model *m, const char *data, struct table *t,
				 struct error *err)
{
	struct table_colspec extra[N_NUM_COLS + 1];
	size_t i;

	for (i = 0; i < N_NUM_COLS; i++)
		extra[i] = (struct table_colspec){num_col_names[i], TABLE_NUMBER, true, false, false};
	extra[N_NUM_COLS] = (struct table_colspec){LEVELS_COLUMN, TABLE_TEXT, true, false, false};
	return cli_load_rows(m, data, m->spec.price_index, extra, N_NUM_COLS + 1, t, err);
}

/* Row r's ask: its features, then its option cells over the flags' defaults. */
static enum error_code row_ask(const struct model *m, const struct table *t, const int *map,
			       const int *num_col, int levels_col, const struct item_defaults *d, size_t r,
			       struct recommend_ask *a, struct error *err)
{
	double num[N_NUM_COLS];
	char where[48];
	size_t j;

	table_encoder_values(t, map, encoder_n_inputs(m->enc), r, a->values);
	snprintf(where, sizeof where, "row %zu", r + 1);
	for (j = 0; j < N_NUM_COLS; j++) {
		double v = num_col[j] >= 0 ? t->cols[num_col[j]].num[r] : NAN;
		num[j] = isnan(v) ? d->num[j] : v;
	}
	if (!check_options(num, where, err))
		return err->code;
	ask_options(num, a);
	a->levels = d->levels;
	if (levels_col >= 0 && t->cols[levels_col].id[r] >= 0) {
		const char *s = t->cols[levels_col].strings[t->cols[levels_col].id[r]];
		if (*s && !parse_levels(m, s, where, &a->levels, err))
			return err->code;
	}
	return ERROR_OK;
}

static void header(FILE *out, const char *id_name, enum spec_objective objective)
{
	cli_csv_field(out, id_name, false);
	fprintf(out, ",rank,feasible,price,promotion_level,effective_price,predicted_sales,expected_sales,"
		     "exposure_probability,expected_%s,margin,at_price_bound,extrapolated,reason\n",
		spec_objective_name(objective));
}

static void write_answer(FILE *out, const struct model *m, const char *id, size_t row,
			 const struct recommend_answer *a)
{
	size_t j;

	if (!a->feasible) {
		if (id)
			cli_csv_field(out, id, false);
		else
			fprintf(out, "%zu", row + 1);
		fputs(",0,false,,,,,,,,,,,", out);
		cli_csv_field(out, a->reason, false);
		fputc('\n', out);
		return;
	}
	for (j = 0; j < a->n; j++) {
		const struct recommend_option *o = &a->opt[j];
		if (id)
			cli_csv_field(out, id, false);
		else
			fprintf(out, "%zu", row + 1);
		fprintf(out, ",%zu,true,", j);
		cli_number_digits(out, o->price, RECOMMEND_PRICE_DIGITS);
		fprintf(out, ",%lld,", m->spec.levels[o->level].level);
		cli_number(out, o->effective_price);
		fputc(',', out);
		cli_number(out, o->sales);
		fputc(',', out);
		cli_number(out, o->expected);
		fputc(',', out);
		cli_number(out, o->exposure);
		fputc(',', out);
		cli_number(out, o->value);
		fputc(',', out);
		if (!isnan(o->margin))
			cli_number(out, o->margin);
		fprintf(out, ",%s,%s,\n", o->at_bound ? "true" : "false",
			j == 0 ? (a->extrapolated ? "true" : "false") : "");
	}
}

/*
 * The CSV's column of an option (-1: none): only one read as that option's
 * kind, and not the id column.  A feature of the model may bear the name
 * (the model reads unit_cost itself, say); a categorical feature named
 * unit_cost, any feature named levels, or the id column, is the model's alone.
 */
static int option_column(const struct table *t, const char *name, enum table_kind kind, int id_col)
{
	int c = table_column_kind(t, name, kind);

	return c >= 0 && c != id_col && t->cols[c].csv_index >= 0 ? c : -1;
}

static enum error_code recommend_rows(const struct model *m, const struct table *t,
				      const struct recommend_params *p, const struct item_defaults *d,
				      FILE *out, struct error *err)
{
	size_t n_in = encoder_n_inputs(m->enc) + 1, chunk = t->n_rows < CHUNK ? t->n_rows : CHUNK, i, k, j;
	int id_col = m->spec.id_column ? table_column(t, m->spec.id_column) : -1,
	    levels_col = option_column(t, LEVELS_COLUMN, TABLE_TEXT, id_col), num_col[N_NUM_COLS];
	int *map = table_encoder_map(t, &m->spec);
	struct recommend_ask *asks = calloc(chunk + 1, sizeof *asks);
	struct recommend_answer *answers = calloc(chunk + 1, sizeof *answers);
	struct encoder_value *values = calloc((chunk + 1) * n_in, sizeof *values);
	enum error_code rc = ERROR_OK;

	if (id_col >= 0 && t->cols[id_col].csv_index < 0)
		id_col = -1;
	for (j = 0; j < N_NUM_COLS; j++)
		num_col[j] = option_column(t, num_col_names[j], TABLE_NUMBER, id_col);
	if (!map || !asks || !answers || !values)
		rc = error_nomem(err, "the rows");
	header(out, id_col >= 0 ? m->spec.id_column : "row", p->objective);
	for (i = 0; !rc && i < t->n_rows; i += chunk) {
		size_t B = t->n_rows - i < chunk ? t->n_rows - i : chunk;
		for (k = 0; !rc && k < B; k++) {
			asks[k].values = values + k * n_in;
			rc = row_ask(m, t, map, num_col, levels_col, d, i + k, &asks[k], err);
		}
		if (!rc)
			rc = recommend_run(m, asks, B, p, answers, err);
		for (k = 0; !rc && k < B; k++) {
			int32_t id = id_col >= 0 ? t->cols[id_col].id[i + k] : -1;
			write_answer(out, m, id_col < 0 ? NULL : id >= 0 ? t->cols[id_col].strings[id] : "", i + k,
				     &answers[k]);
		}
	}
	free(map);
	free(asks);
	free(answers);
	free(values);
	return rc;
}

int cmd_recommend(int argc, char **argv)
{
	const char *db_url = NULL, *data_dir = NULL, *model_ref = NULL, *data = NULL, *out_path = NULL,
		   *objective_name = NULL, *alternatives = NULL, *ending = NULL, *levels = NULL,
		   *flag_num[N_NUM_COLS] = {NULL};
	const struct cli_option options[] = {
		{"--model", NULL, CLI_STRING, &model_ref, NULL, "NAME[@VERSION]",
		 "the model (default version: the active one)"},
		{"--data", NULL, CLI_STRING, &data, NULL, "FILE.csv",
		 "items: the model's features, and optionally the columns unit_cost, price_min, price_max, "
		 "levels (\"0|1|2\"), min_margin, min_exposure_probability"},
		{"--out", NULL, CLI_STRING, &out_path, NULL, "FILE.csv", "write here (default stdout)"},
		{"--objective", NULL, CLI_STRING, &objective_name, NULL, "NAME",
		 "revenue, units or profit (default: the model's)"},
		{"--alternatives", NULL, CLI_STRING, &alternatives, NULL, "N",
		 "next-best options per item, 0 to 10 (rows of rank 1..N; default 0)"},
		{"--price-ending", NULL, CLI_STRING, &ending, NULL, "CENTS", "candidate prices end in these cents, e.g. 0.99"},
		{"--unit-cost", NULL, CLI_STRING, &flag_num[COL_UNIT_COST], NULL, "X", "every item's unit cost (a column overrides)"},
		{"--price-min", NULL, CLI_STRING, &flag_num[COL_PRICE_MIN], NULL, "X", "every item's lowest price"},
		{"--price-max", NULL, CLI_STRING, &flag_num[COL_PRICE_MAX], NULL, "X", "every item's highest price"},
		{"--levels", NULL, CLI_STRING, &levels, NULL, "L|L|...", "the allowed promotion levels"},
		{"--min-margin", NULL, CLI_STRING, &flag_num[COL_MIN_MARGIN], NULL, "X", "in [0, 1)"},
		{"--min-exposure-probability", NULL, CLI_STRING, &flag_num[COL_MIN_EXPOSURE], NULL, "X",
		 "in [0, 1]"},
		CLI_DB_OPTIONS(db_url, data_dir)};
	const struct cli_command cmd = {
		"recommend",
		"Recommend a launch price and promotion level for every row of a CSV, exactly as\n"
		"POST /v1/recommend does (docs/api.md, \"Recommendation\"). Writes one row per option:\n"
		"the id column (or the row number), rank (0: the chosen one), feasible, price,\n"
		"promotion_level, effective_price, predicted_sales, expected_sales,\n"
		"exposure_probability, expected_<objective>, margin, at_price_bound, extrapolated\n"
		"and, for an infeasible item, the reason.",
		"shelfcast recommend --model NAME[@VERSION] --data FILE.csv [--out FILE.csv] [options]",
		options,
		sizeof options / sizeof options[0], 0, 0};
	char **args = NULL, *end;
	struct cli_model cm = {0};
	struct error err;
	struct table t = {0};
	struct recommend_params p = {SPEC_OBJECTIVE_REVENUE, 0, NAN};
	struct item_defaults d = {{NAN, NAN, NAN, NAN, NAN}, 0};
	unsigned long long alt = 0;
	struct cli_out out_file = {0};
	int code;
	size_t n, j;

	if (!cli_parse(&cmd, argc, argv, &args, &n, &code))
		return code;
	free(args);
	if (!model_ref || !data) {
		fprintf(stderr, "shelfcast recommend: --model and --data are required\n");
		return EXIT_USAGE;
	}
	error_init(&err);
	if (alternatives && !cli_uint("--alternatives", alternatives, 0, RECOMMEND_MAX_ALTERNATIVES, &alt))
		return EXIT_USAGE;
	p.alternatives = (size_t)alt;
	if (ending) {
		p.price_ending = strtod(ending, &end);
		if (end == ending || *end || !(p.price_ending >= 0 && p.price_ending < 1)) {
			fprintf(stderr, "shelfcast recommend: --price-ending \"%s\": expected cents in [0, 1), e.g. 0.99\n",
				ending);
			return EXIT_USAGE;
		}
	}
	for (j = 0; j < N_NUM_COLS; j++) {
		if (!flag_num[j])
			continue;
		d.num[j] = strtod(flag_num[j], &end);
		if (end == flag_num[j] || *end || !isfinite(d.num[j])) {
			fprintf(stderr, "shelfcast recommend: --%s \"%s\": expected a number\n", num_col_names[j],
				flag_num[j]);
			return EXIT_USAGE;
		}
	}
	if (!check_options(d.num, "the flags", &err)) {
		fprintf(stderr, "shelfcast recommend: %s\n", err.message);
		return EXIT_USAGE;
	}
	if (objective_name && !spec_objective_parse(objective_name, &(enum spec_objective){0})) {
		fprintf(stderr, "shelfcast recommend: --objective: \"%s\" is not one of revenue, units, profit\n",
			objective_name);
		return EXIT_USAGE;
	}
	code = cli_model_open(&cm, "recommend", model_ref, db_url, data_dir);
	if (code)
		goto out;
	if (spec_objective_choose(&cm.m->spec, cm.name, objective_name, false, &p.objective, &err) ||
	    (levels && !parse_levels(cm.m, levels, "--levels", &d.levels, &err)) ||
	    load_rows(cm.m, data, &t, &err) != ERROR_OK ||
	    (out_path && cli_out_open(&out_file, out_path, &err) != ERROR_OK) ||
	    recommend_rows(cm.m, &t, &p, &d, out_path ? out_file.f : stdout, &err) != ERROR_OK) {
		code = cli_fail("recommend", &err);
		goto out;
	}
	code = cli_out_finish("recommend", &out_file, out_path, &err);
	if (!code)
		fprintf(stderr, "shelfcast recommend: %zu items with %s version %d\n", t.n_rows, cm.name,
			cm.version);
out:
	cli_out_abort(&out_file);
	table_done(&t);
	cli_model_close(&cm);
	return code;
}

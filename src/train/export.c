/* export — see include/shelfcast/export.h. */
#include "shelfcast/export.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build_config.h"
#include "shelfcast/coldstart.h"
#include "shelfcast/encoder.h"
#include "shelfcast/fit.h"
#include "shelfcast/heads.h"
#include "shelfcast/jsonutil.h"
#include "shelfcast/shardwrite.h"
#include "shelfcast/splitstream.h"
#include "shelfcast/table.h"
#include "shelfcast/tails.h"
#include "shelfcast/train.h"
#include "shelfcast/util.h"

_Static_assert((int)EXPORT_TRAIN == (int)SPLITSTREAM_TRAIN && (int)EXPORT_VALIDATION == (int)SPLITSTREAM_VALIDATION &&
		       (int)EXPORT_TEST == (int)SPLITSTREAM_TEST && (int)EXPORT_PARTS == (int)SPLITSTREAM_PARTS,
	       "export's parts are splitstream's");

const char *export_part_name(enum export_part p)
{
	return splitstream_part_name((enum splitstream_part)p);
}

/* One numeric input's statistics over the training part. */
struct num_stat {
	int col;            /* table column */
	bool is_log;
	struct tails tails; /* pass 2: the winsorizing bounds */
	size_t m, winsorized; /* pass 3: Welford over the clipped values */
	double mean, M2;
};

struct exporter {
	const struct dataset_config *cfg;
	const struct export_options *opt;
	FILE *f;
	struct table_colspec *cols;
	size_t n_cols;
	struct table_options topt;
	struct table_dups dups;
	int target, exposure, level, split; /* table columns */
	size_t n_numeric_features;          /* the first table columns: the numeric features as read */
	size_t n_test_by_column;
	struct splitstream_values values;
	struct splitstream plan;
	struct splitstream_cursor cur;
	/* statistics */
	struct num_stat *num;
	size_t n_num;
	size_t **vocab_counts, *vocab_cap; /* per categorical: training rows by interned id */
	size_t t_n;
	double t_mean, t_M2;
	json_t *quantiles, *vocab;         /* for the manifest */
	struct spec spec;
	bool have_spec;
	/* encoding and writing */
	struct encoder *enc;
	int *colmap;
	struct encoder_value *vals;
	struct shardwrite out;
	char source_sha256[65];            /* the file's, from the first stream pass */
};

static enum error_code rewind_data(struct exporter *x, struct error *err)
{
	if (fseek(x->f, 0, SEEK_SET) != 0)
		return error_set(err, ERROR_IO, NULL, "%s: cannot read the data again (%s): export needs a "
				 "file it can seek", x->opt->source, strerror(errno));
	clearerr(x->f);
	return ERROR_OK;
}

/* One pass of on_chunk over the data; t is left for the caller to read and table_done. */
static enum error_code stream(struct exporter *x, table_chunk_fn on_chunk, struct table *t,
			      struct error *err)
{
	enum error_code rc = rewind_data(x, err);

	memset(&x->cur, 0, sizeof x->cur);
	if (!rc)
		rc = table_stream(x->f, x->opt->source, x->cols, x->n_cols, &x->topt, EXPORT_CHUNK_ROWS,
				  &x->dups, on_chunk, x, t, err);
	/* every pass must read the bytes the first one did: the spec is fitted on them */
	if (!rc && !x->source_sha256[0])
		memcpy(x->source_sha256, t->checksum, sizeof x->source_sha256);
	else if (!rc && memcmp(x->source_sha256, t->checksum, sizeof x->source_sha256))
		rc = error_set(err, ERROR_IO, NULL, "%s changed while it was read (its SHA-256 differs between passes)",
			       x->opt->source);
	return rc;
}

static enum splitstream_part part_of(struct exporter *x, const struct table *t, size_t first, size_t r)
{
	return splitstream_part_of(x->cfg, &x->plan, &x->cur, first + r,
				   x->split >= 0 ? t->cols[x->split].num[r] : 0);
}

/* Pass 1 (split by column): the test rows; the training part's split values for the latest slice. */
static enum error_code count_chunk(void *ctx, const struct table *t, size_t first, struct error *err)
{
	struct exporter *x = ctx;
	size_t r;
	(void)first;

	if (!x->cfg->split_by_column)
		return ERROR_OK;
	for (r = 0; r < t->n_rows; r++) {
		double v = t->cols[x->split].num[r];
		int rc;
		if (v >= x->cfg->test_from) {
			x->n_test_by_column++;
			continue;
		}
		if (x->cfg->validation_random)
			continue;
		rc = splitstream_values_add(&x->values, v);
		if (rc < 0)
			return error_nomem(err, "the split values");
		if (rc > 0)
			return error_set(err, ERROR_INVALID, "model.validation",
					 "split.column \"%s\" has more than %u distinct values in the training "
					 "part: the export picks the latest validation slice from their counts; "
					 "use model.validation \"random\" or a coarser column",
					 x->cfg->split_column, SPLITSTREAM_MAX_VALUES);
	}
	return ERROR_OK;
}

/* ---- statistics -------------------------------------------------------------------------- */

static enum error_code stats_init(struct exporter *x, struct error *err)
{
	const struct dataset_config *cfg = x->cfg;
	size_t j, c, exact = x->opt->exact_tail ? x->opt->exact_tail : EXPORT_EXACT_QUANTILE_MAX;
	enum error_code rc;

	x->n_num = cfg->n_numeric + cfg->n_log;
	x->num = calloc(x->n_num + 1, sizeof *x->num);
	x->vocab_counts = calloc(cfg->n_categorical + 1, sizeof *x->vocab_counts);
	x->vocab_cap = calloc(cfg->n_categorical + 1, sizeof *x->vocab_cap);
	if (!x->num || !x->vocab_counts || !x->vocab_cap)
		return error_nomem(err, "the statistics");
	for (j = 0; j < x->n_num; j++) {
		struct num_stat *s = &x->num[j];
		const char *name = j < cfg->n_numeric ? cfg->numeric[j] : cfg->log[j - cfg->n_numeric];
		s->is_log = j >= cfg->n_numeric;
		for (c = 0; c < x->n_cols; c++)
			if (!strcmp(x->cols[c].name, name) && x->cols[c].kind == TABLE_NUMBER) {
				s->col = (int)c;
				break;
			}
		rc = tails_init(&s->tails, x->plan.n_all, cfg->winsor_lo, cfg->winsor_hi, exact,
				cfg->seed ^ 0x5a3e7c4b1d9f2e6bULL ^ (uint64_t)j, err);
		if (rc)
			return rc;
	}
	return ERROR_OK;
}

/* The value numeric input s reads from row r, false when it has none (fit.c's rule). */
static bool num_value(const struct num_stat *s, const struct table *t, size_t r, double *v)
{
	double x = t->cols[s->col].num[r];
	if (isnan(x) || (s->is_log && !(x > 0)))
		return false;
	*v = s->is_log ? log(x) : x;
	return true;
}

/* Room in categorical input j's counts for ids below n (zeroed). */
static enum error_code reserve_counts(struct exporter *x, size_t j, size_t n, struct error *err)
{
	size_t cap = x->vocab_cap[j] ? x->vocab_cap[j] : 256, old = x->vocab_cap[j], *p;

	if (n <= old)
		return ERROR_OK;
	while (cap < n)
		cap *= 2;
	p = realloc(x->vocab_counts[j], cap * sizeof *p);
	if (!p)
		return error_nomem(err, "the vocabulary counts");
	memset(p + old, 0, (cap - old) * sizeof *p);
	x->vocab_counts[j] = p;
	x->vocab_cap[j] = cap;
	return ERROR_OK;
}

/* Pass 2: quantile sketches, target moments, category counts over the training part. */
static enum error_code stats_chunk(void *ctx, const struct table *t, size_t first, struct error *err)
{
	struct exporter *x = ctx;
	size_t r, j;

	for (r = 0; r < t->n_rows; r++) {
		double v, d;
		if (part_of(x, t, first, r) == SPLITSTREAM_TEST)
			continue;
		for (j = 0; j < x->n_num; j++)
			if (num_value(&x->num[j], t, r, &v))
				tails_add(&x->num[j].tails, v);
		for (j = 0; j < x->cfg->n_categorical; j++) {
			const struct table_column *c = &t->cols[x->n_numeric_features + j];
			enum error_code rc = reserve_counts(x, j, c->n_strings, err);
			if (rc)
				return rc;
			if (c->id[r] >= 0)
				x->vocab_counts[j][c->id[r]]++;
		}
		v = heads_transform(x->cfg->transform, t->cols[x->target].num[r]);
		x->t_n++;
		d = v - x->t_mean;
		x->t_mean += d / (double)x->t_n;
		x->t_M2 += d * (v - x->t_mean);
	}
	return ERROR_OK;
}

/* The spec from pass 2's statistics (bounds, vocabularies, target), before pass 3. */
static enum error_code spec_begin(struct exporter *x, const struct table *t, struct error *err)
{
	const struct dataset_config *cfg = x->cfg;
	struct spec *spec = &x->spec;
	enum error_code rc;
	size_t j, rare;

	memset(spec, 0, sizeof *spec);
	x->have_spec = true;
	spec->numeric = calloc(x->n_num + 1, sizeof *spec->numeric);
	spec->categorical = calloc(cfg->n_categorical + 1, sizeof *spec->categorical);
	if (!spec->numeric || !spec->categorical)
		return error_nomem(err, "the model spec");
	for (j = 0; j < x->n_num; j++) {
		struct num_stat *s = &x->num[j];
		struct spec_numeric *f = &spec->numeric[j];
		const char *how_lo = "none", *how_hi = "none";

		f->name = strdup(j < cfg->n_numeric ? cfg->numeric[j] : cfg->log[j - cfg->n_numeric]);
		f->transform = s->is_log ? SPEC_INPUT_LOG : SPEC_INPUT_IDENTITY;
		f->mean = 0;
		f->std = 1;
		spec->n_numeric = j + 1;
		if (!f->name)
			return error_nomem(err, "the model spec");
		f->required = dataset_is_required(cfg, f->name);
		if (s->tails.m) {
			f->has_clip = true;
			rc = tails_bounds(&s->tails, &f->clip_lo, &f->clip_hi, &how_lo, &how_hi, err);
			if (rc)
				return rc;
		}
		if (json_array_append_new(x->quantiles, json_pack("{s:s, s:s, s:s, s:I}", "input", f->name,
								  "low", how_lo, "high", how_hi, "values",
								  (json_int_t)s->tails.m)))
			return error_nomem(err, "the manifest");
	}
	for (j = 0; j < cfg->n_categorical; j++) {
		struct spec_categorical *f = &spec->categorical[j];
		f->name = strdup(cfg->categorical[j]);
		spec->n_categorical = j + 1;
		if (!f->name)
			return error_nomem(err, "the model spec");
		f->required = dataset_is_required(cfg, f->name);
		rc = reserve_counts(x, j, t->cols[x->n_numeric_features + j].n_strings, err);
		if (!rc)
			rc = fit_vocabulary(f, t->cols[x->n_numeric_features + j].strings, x->vocab_counts[j],
					    t->cols[x->n_numeric_features + j].n_strings, cfg->min_count, &rare, err);
		if (rc)
			return rc;
		if (json_object_set_new(x->vocab, f->name, json_pack("{s:I, s:I}", "vocabulary",
								     (json_int_t)f->n_vocabulary, "rare_to_unknown",
								     (json_int_t)rare)))
			return error_nomem(err, "the manifest");
	}
	spec->target_mean = x->t_n ? x->t_mean : 0;
	spec->target_std = x->t_n ? sqrt(x->t_M2 / (double)x->t_n) : 1;
	if (!(spec->target_std > 1e-12))
		spec->target_std = 1;
	spec->transform = cfg->transform;
	if (!fit_copy_config(spec, cfg))
		return error_nomem(err, "the model spec");
	spec->input_size = spec_expected_input_size(spec);
	return ERROR_OK;
}

/* Pass 3: the clipped numeric inputs' mean and variance. */
static enum error_code moments_chunk(void *ctx, const struct table *t, size_t first,
				     struct error *err)
{
	struct exporter *x = ctx;
	size_t r, j;
	(void)err;

	for (r = 0; r < t->n_rows; r++) {
		if (part_of(x, t, first, r) == SPLITSTREAM_TEST)
			continue;
		for (j = 0; j < x->n_num; j++) {
			struct num_stat *s = &x->num[j];
			const struct spec_numeric *f = &x->spec.numeric[j];
			double v, c, d;
			if (!num_value(s, t, r, &v))
				continue;
			c = v < f->clip_lo ? f->clip_lo : v > f->clip_hi ? f->clip_hi : v;
			s->winsorized += c != v;
			s->m++;
			d = c - s->mean;
			s->mean += d / (double)s->m;
			s->M2 += d * (c - s->mean);
		}
	}
	return ERROR_OK;
}

static void spec_finish(struct exporter *x)
{
	size_t j;
	for (j = 0; j < x->n_num; j++) {
		struct num_stat *s = &x->num[j];
		struct spec_numeric *f = &x->spec.numeric[j];
		if (!s->m)
			continue;
		f->mean = s->mean;
		f->std = sqrt(s->M2 / (double)s->m);
		if (!(f->std > 1e-12))
			f->std = 1;
		f->def = f->mean; /* a missing value encodes as the average, z = 0 */
	}
}

/* ---- encoding and writing ---------------------------------------------------------------- */

/* The encoder, its column map (table columns by spec input) and the shard writer. */
static enum error_code write_begin(struct exporter *x, struct error *err)
{
	struct table cols_only = {0};
	size_t total[SPLITSTREAM_PARTS], j;

	x->enc = encoder_new(&x->spec, err);
	if (!x->enc)
		return err->code;
	x->vals = calloc(encoder_n_inputs(x->enc) + 1, sizeof *x->vals);
	cols_only.cols = calloc(x->n_cols + 1, sizeof *cols_only.cols);
	if (!x->vals || !cols_only.cols) {
		free(cols_only.cols);
		return error_nomem(err, "the export");
	}
	cols_only.n_cols = x->n_cols;
	for (j = 0; j < x->n_cols; j++)
		cols_only.cols[j].spec = x->cols[j];
	x->colmap = table_encoder_map(&cols_only, &x->spec);
	free(cols_only.cols);
	if (!x->colmap)
		return error_nomem(err, "the export");
	for (j = 0; j < SPLITSTREAM_PARTS; j++)
		total[j] = splitstream_rows(&x->plan, (enum splitstream_part)j);
	return shardwrite_init(&x->out, x->opt->dir, x->opt->shard_rows, total, encoder_width(x->enc),
			       x->n_numeric_features, x->cfg->n_categorical, err);
}

/* Pass 4: encode every row into its part's shard. */
static enum error_code write_chunk(void *ctx, const struct table *t, size_t first, struct error *err)
{
	struct exporter *x = ctx;
	size_t n_in = encoder_n_inputs(x->enc), r, j;
	enum error_code rc = ERROR_OK;

	for (r = 0; r < t->n_rows && !rc; r++) {
		enum splitstream_part p = part_of(x, t, first, r);
		uint8_t *slot[SHARDWRITE_TENSORS];
		double units = t->cols[x->target].num[r], sales;
		float e = (float)t->cols[x->exposure].num[r];
		int64_t row = (int64_t)(first + r), line = (int64_t)t->line[r];
		int32_t level = t->cols[x->level].id[r], id;

		if ((rc = shardwrite_next(&x->out, p, slot, err)) != ERROR_OK)
			break;
		table_encoder_values(t, x->colmap, n_in, r, x->vals);
		rc = encoder_encode(x->enc, x->vals, level, (float *)(void *)slot[SHARDWRITE_X], NULL, NULL, NULL, err);
		if (rc) {
			error_prefix(err, "%s line %zu", x->opt->source, t->line[r]);
			break;
		}
		sales = heads_standardize(&x->spec, units);
		memcpy(slot[SHARDWRITE_SALES], &sales, 8);
		memcpy(slot[SHARDWRITE_UNITS], &units, 8);
		memcpy(slot[SHARDWRITE_EXPOSURE], &e, 4);
		memcpy(slot[SHARDWRITE_ROW], &row, 8);
		memcpy(slot[SHARDWRITE_LINE], &line, 8);
		for (j = 0; j < x->n_numeric_features; j++)
			memcpy(slot[SHARDWRITE_NUMERIC] + 8 * j, &t->cols[j].num[r], 8);
		for (j = 0; j < x->cfg->n_categorical; j++) {
			id = t->cols[x->n_numeric_features + j].id[r];
			memcpy(slot[SHARDWRITE_CATEGORICAL] + 4 * j, &id, 4);
		}
		memcpy(slot[SHARDWRITE_LEVEL], &level, 4);
		rc = shardwrite_commit(&x->out, p, err);
	}
	return rc;
}

/* ---- the files around the shards --------------------------------------------------------- */

static enum error_code prepare_dir(const char *dir, struct error *err)
{
	DIR *d;
	struct dirent *e;

	if (mkdir(dir, 0755) == 0)
		return ERROR_OK;
	if (errno != EEXIST)
		return error_set(err, ERROR_IO, NULL, "cannot create %s: %s", dir, strerror(errno));
	d = opendir(dir);
	if (!d)
		return error_set(err, ERROR_IO, NULL, "cannot open %s: %s", dir, strerror(errno));
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			closedir(d);
			return error_set(err, ERROR_INVALID, NULL,
					 "%s is not empty: export into a new or empty directory", dir);
		}
	closedir(d);
	return ERROR_OK;
}

/* text to dir/name through a temporary file and a rename. */
static enum error_code write_file(const char *dir, const char *name, const char *text,
				  struct error *err)
{
	char path[4096], tmp[4200];
	FILE *f;
	bool ok;

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return error_set(err, ERROR_INVALID, NULL, "%s: the path is too long", dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	f = fopen(tmp, "wx");
	if (!f)
		return error_set(err, ERROR_IO, NULL, "cannot create %s: %s", tmp, strerror(errno));
	ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF && fflush(f) == 0 && fsync(fileno(f)) == 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return error_set(err, ERROR_IO, NULL, "cannot write %s: %s", path, strerror(errno));
	}
	return ERROR_OK;
}

static json_t *training_json(const struct dataset_config *cfg)
{
	json_t *hidden = json_array();
	size_t i;
	for (i = 0; hidden && i < cfg->n_hidden; i++)
		json_array_append_new(hidden, json_integer((json_int_t)cfg->hidden[i]));
	return json_pack("{s:o?, s:i, s:I, s:f, s:i, s:I, s:f, s:f, s:f, s:b, s:f}", "hidden", hidden,
			 "epochs", cfg->epochs, "batch_size", (json_int_t)cfg->batch_size,
			 "learning_rate", cfg->learning_rate, "patience", cfg->patience, "seed",
			 (json_int_t)cfg->seed, "weight_decay", cfg->weight_decay, "exposure_weight",
			 cfg->exposure_weight, "ema", cfg->ema, "refit", cfg->refit,
			 "coldstart_share", COLDSTART_SHARE);
}

/* manifest.json (new; NULL when out of memory). */
static json_t *manifest_json(struct exporter *x, const struct table *t)
{
	const struct dataset_config *cfg = x->cfg;
	json_t *m = json_object(), *numeric = json_array(), *cats = json_array(),
	       *layout = json_array(), *levels = json_array();
	const struct table_stats *s = &t->stats;
	size_t j, k;
	bool ok = m && numeric && cats && layout && levels;

	for (j = 0; ok && j < x->n_numeric_features; j++)
		ok = !json_array_append_new(numeric, json_string(x->cols[j].name));
	for (j = 0; ok && j < cfg->n_categorical; j++) {
		const struct table_column *c = &t->cols[x->n_numeric_features + j];
		json_t *values = json_array();
		for (k = 0; values && k < c->n_strings; k++)
			if (json_array_append_new(values, json_string(c->strings[k]))) {
				json_decref(values);
				values = NULL;
			}
		ok = values && !json_array_append_new(cats, json_pack("{s:s, s:o}", "name", c->spec.name,
									"values", values));
		ok = ok && !json_array_append_new(layout, json_pack("{s:s, s:I, s:I}", "name", c->spec.name,
								      "offset",
								      (json_int_t)encoder_categorical_offset(x->enc, j),
								      "width",
								      (json_int_t)x->spec.categorical[j].n_vocabulary + 1));
	}
	for (j = 0; ok && j < cfg->n_levels; j++)
		ok = !json_array_append_new(levels, json_integer(cfg->levels[j].level));
	if (ok)
		ok = !json_object_set_new(m, "format", json_string(EXPORT_FORMAT)) &&
		     !json_object_set_new(m, "name", json_string(cfg->name)) &&
		     !json_object_set_new(m, "source", json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
								 "name", x->opt->source, "sha256", t->checksum,
								 "rows_read", (json_int_t)s->rows_read,
								 "rows_kept", (json_int_t)s->rows_kept,
								 "duplicates", (json_int_t)s->duplicates,
								 "target_dropped",
								 (json_int_t)(s->target_missing + s->target_negative +
									      s->target_nonfinite),
								 "missing_required", (json_int_t)s->missing_required,
								 "nonfinite_values", (json_int_t)s->nonfinite_values)) &&
		     !json_object_set_new(m, "shelfcast_version", json_string(SHELFCAST_VERSION)) &&
		     !json_object_set_new(m, "input_size", json_integer((json_int_t)x->spec.input_size)) &&
		     !json_object_set_new(m, "shard_rows", json_integer((json_int_t)x->opt->shard_rows)) &&
		     !json_object_set_new(m, "parts", json_pack("{s:I, s:I, s:I}", "train",
								(json_int_t)splitstream_rows(&x->plan, SPLITSTREAM_TRAIN), "validation",
								(json_int_t)x->plan.n_valid, "test",
								(json_int_t)x->plan.n_test)) &&
		     !json_object_set_new(m, "transform",
					  json_string(spec_transform_name(cfg->transform))) &&
		     !json_object_set_new(m, "layout", json_pack("{s:I, s:o, s:I, s:I}", "numeric",
								  (json_int_t)x->spec.n_numeric, "categorical",
								  json_incref(layout), "level_offset",
								  (json_int_t)encoder_level_offset(x->enc),
								  "levels", (json_int_t)cfg->n_levels)) &&
		     !json_object_set_new(m, "training", training_json(cfg)) &&
		     !json_object_set_new(m, "features", json_pack("{s:O, s:O}", "numeric", numeric,
								   "categorical", cats)) &&
		     !json_object_set_new(m, "levels", json_incref(levels)) &&
		     !json_object_set_new(m, "quantiles", json_incref(x->quantiles)) &&
		     !json_object_set_new(m, "vocabularies", json_incref(x->vocab)) &&
		     !json_object_set_new(m, "shards", json_incref(x->out.list));
	json_decref(numeric);
	json_decref(cats);
	json_decref(layout);
	json_decref(levels);
	if (!ok) {
		json_decref(m);
		return NULL;
	}
	return m;
}

static void exporter_done(struct exporter *x)
{
	size_t j;
	for (j = 0; x->num && j < x->n_num; j++)
		tails_done(&x->num[j].tails);
	free(x->num);
	for (j = 0; x->vocab_counts && j < x->cfg->n_categorical; j++)
		free(x->vocab_counts[j]);
	free(x->vocab_counts);
	free(x->vocab_cap);
	free(x->cols);
	free(x->dups.bits);
	splitstream_done(&x->plan);
	splitstream_values_done(&x->values);
	encoder_free(x->enc);
	free(x->colmap);
	free(x->vals);
	if (x->have_spec)
		spec_done(&x->spec);
	shardwrite_done(&x->out);
	json_decref(x->quantiles);
	json_decref(x->vocab);
}

/* The columns train reads, the ids only checked in the header; where each role is. */
static enum error_code exporter_init(struct exporter *x, const struct dataset_config *cfg, FILE *f,
				     const struct export_options *opt, struct error *err)
{
	size_t j;

	memset(x, 0, sizeof *x);
	x->cfg = cfg;
	x->opt = opt;
	x->f = f;
	x->out.part[0].fd = x->out.part[1].fd = x->out.part[2].fd = -1;
	x->quantiles = json_array();
	x->vocab = json_object();
	x->cols = train_columns(cfg, &x->n_cols);
	if (!x->cols || !x->quantiles || !x->vocab)
		return error_nomem(err, "the export");
	for (j = 0; j < x->n_cols; j++) /* the ids: checked in the header, not needed in the shards */
		if (x->cols[j].kind == TABLE_TEXT)
			x->cols[j].kind = TABLE_IGNORE;
	/* train_columns: numeric, log-only, categorical, target, exposure, level[, split][, id] */
	x->n_numeric_features = cfg->n_numeric;
	for (j = 0; j < cfg->n_log; j++)
		x->n_numeric_features += !dataset_listed(cfg->numeric, cfg->n_numeric, cfg->log[j]);
	x->topt = (struct table_options){cfg->levels, cfg->n_levels, true, cfg->max_categories};
	x->target = (int)(x->n_numeric_features + cfg->n_categorical);
	x->exposure = x->target + 1;
	x->level = x->target + 2;
	x->split = cfg->split_by_column ? x->target + 3 : -1;
	return ERROR_OK;
}

/* Passes 0 to 3: duplicates, counts and the split plan, statistics, moments: the spec. */
static enum error_code fit_passes(struct exporter *x, struct error *err)
{
	struct table t = {0};
	enum error_code rc;

	rc = rewind_data(x, err);
	if (!rc)
		rc = table_find_duplicates(x->f, x->opt->source, EXPORT_DEDUPE_ROWS, &x->dups, err);
	if (!rc)
		rc = stream(x, count_chunk, &t, err);
	if (!rc)
		rc = train_check_rows(x->cfg, &t.stats, t.stats.rows_kept, err);
	if (!rc)
		rc = splitstream_plan(x->cfg, t.stats.rows_kept, x->n_test_by_column, &x->values,
				      x->opt->track_rows, &x->plan, err);
	table_done(&t);
	if (!rc)
		rc = stats_init(x, err);
	if (!rc)
		rc = stream(x, stats_chunk, &t, err);
	if (!rc)
		rc = spec_begin(x, &t, err);
	table_done(&t);
	if (!rc)
		rc = stream(x, moments_chunk, &t, err);
	table_done(&t);
	if (!rc)
		spec_finish(x);
	return rc;
}

enum error_code export_dataset(const struct dataset_config *cfg, FILE *f,
			       const struct export_options *opt, struct export_summary *sum,
			       struct error *err)
{
	struct exporter x;
	struct table t = {0};
	json_t *manifest = NULL;
	char *text = NULL;
	double t0 = util_now_s();
	size_t j;
	enum error_code rc;

	memset(sum, 0, sizeof *sum);
	rc = exporter_init(&x, cfg, f, opt, err);
	if (!rc)
		rc = prepare_dir(opt->dir, err);
	if (!rc)
		rc = fit_passes(&x, err);
	if (!rc)
		rc = write_begin(&x, err);
	if (!rc)
		rc = stream(&x, write_chunk, &t, err);
	for (j = 0; !rc && j < SPLITSTREAM_PARTS; j++)
		if (x.out.part[j].written != x.out.part[j].total)
			rc = error_set(err, ERROR_INTERNAL, NULL,
				       "export: the %s part has %zu rows on the last pass, %zu on the first "
				       "(did %s change while it was read?)",
				       export_part_name((enum export_part)j), x.out.part[j].written,
				       x.out.part[j].total, opt->source);
	if (!rc) {
		text = spec_to_string(&x.spec);
		rc = text ? write_file(opt->dir, "spec.json", text, err) : error_nomem(err, "the spec");
		free(text);
		text = NULL;
	}
	if (!rc) { /* last: a directory with a manifest is a finished export */
		manifest = manifest_json(&x, &t);
		text = manifest ? json_dumps(manifest, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSONUTIL_DISPLAY)
				: NULL;
		rc = text ? write_file(opt->dir, "manifest.json", text, err) : error_nomem(err, "the manifest");
	}
	if (!rc) {
		for (j = 0; j < SPLITSTREAM_PARTS; j++) {
			sum->rows[j] = x.out.part[j].written;
			sum->shards += x.out.part[j].n_shards;
		}
		sum->input_size = x.spec.input_size;
		sum->seconds = util_now_s() - t0;
	}
	free(text);
	json_decref(manifest);
	table_done(&t);
	exporter_done(&x);
	return rc;
}

/* shards — see include/shelfcast/shards.h. */
#include "shelfcast/shards.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/evaluate.h"
#include "shelfcast/export.h"
#include "shelfcast/heads.h"
#include "shelfcast/jsonutil.h"
#include "shelfcast/safetensors.h"
#include "shelfcast/sha256.h"
#include "shelfcast/util.h"

#define M "manifest.json: "

void shards_manifest_done(struct shards_manifest *m)
{
	size_t i, j;
	if (!m)
		return;
	for (i = 0; i < m->n_numeric; i++)
		free(m->numeric[i]);
	free(m->numeric);
	for (i = 0; i < m->n_categorical; i++) {
		free(m->categorical[i].name);
		for (j = 0; j < m->categorical[i].n_values; j++)
			free(m->categorical[i].values[j]);
		free(m->categorical[i].values);
	}
	free(m->categorical);
	free(m->levels);
	for (i = 0; i < m->n_shards; i++)
		free(m->shards[i].file);
	free(m->shards);
	memset(m, 0, sizeof *m);
}

static bool is_hex64(const char *s)
{
	size_t i;
	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[64] == '\0';
}

/* A shard file name: letters, digits, '-', '_', '.', not starting with '.', no directory. */
static bool plain_file_name(const char *s)
{
	size_t i, n = strlen(s);
	if (n == 0 || n > 200 || s[0] == '.')
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

static enum error_code string_copy(const json_t *v, const char *path, char **out, struct error *err)
{
	if (!json_is_string(v))
		return error_set(err, ERROR_INVALID, path, M "%s: expected a string, got %s", path,
				 jsonutil_type_name(v));
	*out = strdup(json_string_value(v));
	return *out ? ERROR_OK : error_nomem(err, "the manifest");
}

static enum error_code parse_features(const json_t *root, struct shards_manifest *m, struct error *err)
{
	char path[JSONUTIL_PATH_MAX], vpath[JSONUTIL_PATH_MAX];
	json_t *features = NULL, *numeric = NULL, *cats = NULL, *v, *c, *values;
	enum error_code rc;
	size_t i, j;

	rc = jsonutil_get_typed(root, "features", "", true, JSON_OBJECT, &features, err);
	if (!rc)
		rc = jsonutil_get_typed(features, "numeric", "features", true, JSON_ARRAY, &numeric, err);
	if (!rc)
		rc = jsonutil_get_typed(features, "categorical", "features", true, JSON_ARRAY, &cats, err);
	if (rc)
		return rc;
	if (json_array_size(numeric) > SPEC_MAX_FEATURES || json_array_size(cats) > SPEC_MAX_FEATURES)
		return error_set(err, ERROR_INVALID, "features", M "features: more than %d features",
				 SPEC_MAX_FEATURES);
	m->numeric = calloc(json_array_size(numeric) + 1, sizeof *m->numeric);
	m->categorical = calloc(json_array_size(cats) + 1, sizeof *m->categorical);
	if (!m->numeric || !m->categorical)
		return error_nomem(err, "the manifest");
	json_array_foreach(numeric, i, v) {
		jsonutil_path_index(path, "features.numeric", i);
		if ((rc = string_copy(v, path, &m->numeric[i], err)) != ERROR_OK)
			return rc;
		m->n_numeric = i + 1;
	}
	json_array_foreach(cats, i, c) {
		struct shards_categorical *sc = &m->categorical[i];
		jsonutil_path_index(path, "features.categorical", i);
		if (!json_is_object(c))
			return error_set(err, ERROR_INVALID, path, M "%s: expected an object, got %s", path,
					 jsonutil_type_name(c));
		m->n_categorical = i + 1;
		jsonutil_path_key(vpath, path, "name");
		if ((rc = string_copy(json_object_get(c, "name"), vpath, &sc->name, err)) != ERROR_OK)
			return rc;
		rc = jsonutil_get_typed(c, "values", path, true, JSON_ARRAY, &values, err);
		if (rc)
			return rc;
		if (json_array_size(values) > 0x7fffffff)
			return error_set(err, ERROR_INVALID, path, M "%s.values: too many values", path);
		sc->values = calloc(json_array_size(values) + 1, sizeof *sc->values);
		if (!sc->values)
			return error_nomem(err, "the manifest");
		json_array_foreach(values, j, v) {
			char ipath[JSONUTIL_PATH_MAX];
			jsonutil_path_key(vpath, path, "values");
			jsonutil_path_index(ipath, vpath, j);
			if ((rc = string_copy(v, ipath, &sc->values[j], err)) != ERROR_OK)
				return rc;
			sc->n_values = j + 1;
		}
	}
	return ERROR_OK;
}

static enum error_code parse_shards(const json_t *root, struct shards_manifest *m, struct error *err)
{
	char path[JSONUTIL_PATH_MAX], field[JSONUTIL_PATH_MAX];
	json_t *shards = NULL, *s;
	enum error_code rc;
	size_t i, test = 0;

	rc = jsonutil_get_typed(root, "shards", "", true, JSON_ARRAY, &shards, err);
	if (rc)
		return rc;
	if (json_array_size(shards) > SHARDS_MAX_SHARDS)
		return error_set(err, ERROR_INVALID, "shards", M "shards: more than %d", SHARDS_MAX_SHARDS);
	m->shards = calloc(json_array_size(shards) + 1, sizeof *m->shards);
	if (!m->shards)
		return error_nomem(err, "the manifest");
	json_array_foreach(shards, i, s) {
		struct shards_file *f = &m->shards[i];
		const char *part = NULL, *sha = NULL;
		long long rows = 0;

		jsonutil_path_index(path, "shards", i);
		if (!json_is_object(s))
			return error_set(err, ERROR_INVALID, path, M "%s: expected an object, got %s", path,
					 jsonutil_type_name(s));
		m->n_shards = i + 1;
		jsonutil_path_key(field, path, "file");
		if ((rc = string_copy(json_object_get(s, "file"), field, &f->file, err)) != ERROR_OK)
			return rc;
		if (!plain_file_name(f->file))
			return error_set(err, ERROR_INVALID, field,
					 M "%s: \"%.80s\" is not a file name in the export directory", field,
					 f->file);
		rc = jsonutil_get_string(s, "part", path, true, &part, err);
		if (!rc)
			rc = jsonutil_get_int(s, "rows", path, true, 0, EXPORT_MAX_SHARD_ROWS, &rows, err);
		if (!rc)
			rc = jsonutil_get_string(s, "sha256", path, true, &sha, err);
		if (rc)
			return rc;
		f->rows = (size_t)rows;
		for (f->part = 0; f->part < EXPORT_PARTS; f->part++)
			if (!strcmp(part, export_part_name((enum export_part)f->part)))
				break;
		if (f->part == EXPORT_PARTS) {
			jsonutil_path_key(field, path, "part");
			return error_set(err, ERROR_INVALID, field,
					 M "%s: \"%.40s\" is not one of train, validation, test", field, part);
		}
		if (strlen(sha) != 64 || !is_hex64(sha)) {
			jsonutil_path_key(field, path, "sha256");
			return error_set(err, ERROR_INVALID, field, M "%s: expected 64 lowercase hex digits",
					 field);
		}
		memcpy(f->sha256, sha, 65);
		if (f->part == EXPORT_TEST)
			test += f->rows;
	}
	if (test != m->test_rows)
		return error_set(err, ERROR_INVALID, "shards",
				 M "shards: the test shards hold %zu rows, parts.test says %zu", test,
				 m->test_rows);
	return ERROR_OK;
}

enum error_code shards_manifest_parse(const char *text, size_t len, struct shards_manifest *m,
				      struct error *err)
{
	json_error_t jerr;
	json_t *root, *parts = NULL, *levels = NULL, *source = NULL, *v;
	const char *format = NULL, *transform = NULL, *sha = NULL;
	long long input_size = 0, test = 0;
	enum error_code rc;
	size_t i;

	memset(m, 0, sizeof *m);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return jsonutil_syntax_error(&jerr, "manifest.json", err);
	if (!json_is_object(root)) {
		rc = error_set(err, ERROR_INVALID, NULL, M "expected an object, got %s", jsonutil_type_name(root));
		goto out;
	}
	rc = jsonutil_get_string(root, "format", "", true, &format, err);
	if (!rc && strcmp(format, EXPORT_FORMAT))
		rc = error_set(err, ERROR_INVALID, "format", M "format: \"%.40s\" is not %s", format,
			       EXPORT_FORMAT);
	if (!rc)
		rc = jsonutil_get_int(root, "input_size", "", true, 1, SPEC_MAX_WIDTH, &input_size, err);
	if (!rc)
		rc = jsonutil_get_string(root, "transform", "", true, &transform, err);
	if (!rc) {
		if (!strcmp(transform, "log1p"))
			m->transform = SPEC_TRANSFORM_LOG1P;
		else if (!strcmp(transform, "none"))
			m->transform = SPEC_TRANSFORM_NONE;
		else
			rc = error_set(err, ERROR_INVALID, "transform",
				       M "transform: \"%.40s\" is not one of log1p, none", transform);
	}
	if (!rc)
		rc = jsonutil_get_typed(root, "parts", "", true, JSON_OBJECT, &parts, err);
	if (!rc)
		rc = jsonutil_get_int(parts, "test", "parts", true, 1, 0x7fffffffffffLL, &test, err);
	if (!rc)
		rc = jsonutil_get_typed(root, "source", "", true, JSON_OBJECT, &source, err);
	if (!rc)
		rc = jsonutil_get_string(source, "sha256", "source", true, &sha, err);
	if (!rc && (strlen(sha) != 64 || !is_hex64(sha)))
		rc = error_set(err, ERROR_INVALID, "source.sha256",
			       M "source.sha256: expected 64 lowercase hex digits");
	if (!rc)
		rc = jsonutil_get_typed(root, "levels", "", true, JSON_ARRAY, &levels, err);
	if (!rc && (json_array_size(levels) < 1 || json_array_size(levels) > SPEC_MAX_LEVELS))
		rc = error_set(err, ERROR_INVALID, "levels", M "levels: expected 1 to %d levels",
			       SPEC_MAX_LEVELS);
	if (rc)
		goto out;
	m->input_size = (size_t)input_size;
	m->test_rows = (size_t)test;
	memcpy(m->source_sha256, sha, 65);
	m->levels = calloc(json_array_size(levels), sizeof *m->levels);
	if (!m->levels) {
		rc = error_nomem(err, "the manifest");
		goto out;
	}
	json_array_foreach(levels, i, v) {
		if (!json_is_integer(v)) {
			char path[JSONUTIL_PATH_MAX];
			jsonutil_path_index(path, "levels", i);
			rc = error_set(err, ERROR_INVALID, path, M "%s: expected an integer level, got %s", path,
				       jsonutil_type_name(v));
			goto out;
		}
		m->levels[i] = json_integer_value(v);
		m->n_levels = i + 1;
	}
	rc = parse_features(root, m, err);
	if (!rc)
		rc = parse_shards(root, m, err);
out:
	json_decref(root);
	if (rc)
		shards_manifest_done(m);
	return rc;
}

enum error_code shards_manifest_load(const char *dir, struct shards_manifest *m, struct error *err)
{
	char path[4096], *text = NULL;
	size_t len;
	enum error_code rc;

	memset(m, 0, sizeof *m);
	snprintf(path, sizeof path, "%s/manifest.json", dir);
	rc = util_read_file(path, SHARDS_MAX_MANIFEST, &text, &len, err);
	if (!rc)
		rc = shards_manifest_parse(text, len, m, err);
	if (rc && !strstr(err->message, path)) /* the parser says "manifest.json: ..." or less */
		error_prefix(err, "%s", rc == ERROR_PARSE || !strstr(err->message, "manifest.json") ? path : dir);
	free(text);
	return rc;
}

/* ---- scoring ----------------------------------------------------------------------------- */

/* The tensor `name` of st with dtype and shape (rows[, width]); NULL with err naming what is wrong. */
static const struct tensor *get_tensor(const struct safetensors *st, const char *file, const char *name,
				       const char *dtype, size_t rows, size_t width, bool matrix,
				       struct error *err)
{
	size_t i;
	for (i = 0; i < st->n_tensors; i++) {
		const struct tensor *t = &st->tensors[i];
		if (strcmp(t->name, name))
			continue;
		if (strcmp(t->dtype, dtype) || t->ndim != (matrix ? 2u : 1u) || t->shape[0] != rows ||
		    (matrix && t->shape[1] != width)) {
			char shape[64];
			if (matrix)
				snprintf(shape, sizeof shape, "[%zu, %zu]", rows, width);
			else
				snprintf(shape, sizeof shape, "[%zu]", rows);
			error_set(err, ERROR_INVALID, name, "%s: tensor %s must be %s of shape %s, as the manifest says",
				  file, name, dtype, shape);
			return NULL;
		}
		return t;
	}
	error_set(err, ERROR_INVALID, name, "%s: no tensor %s", file, name);
	return NULL;
}

/* Read dir/file whole and check its SHA-256; *bytes new. */
static enum error_code read_shard(const char *dir, const struct shards_file *f, char **bytes,
				  size_t *len, struct error *err)
{
	char path[4096], hex[SHA256_HEX_SIZE];
	struct sha256 h;
	enum error_code rc;

	snprintf(path, sizeof path, "%s/%s", dir, f->file);
	rc = util_read_file(path, (size_t)1 << 40, bytes, len, err);
	if (rc)
		return rc;
	sha256_init(&h);
	sha256_update(&h, *bytes, *len);
	sha256_final_hex(&h, hex);
	if (strcmp(hex, f->sha256)) {
		free(*bytes);
		*bytes = NULL;
		return error_set(err, ERROR_INVALID, f->file,
				 "%s: SHA-256 %s, the manifest says %s (a changed or partial file)", path,
				 hex, f->sha256);
	}
	return ERROR_OK;
}

struct scorer {
	const struct model *m;
	const struct shards_manifest *mf;
	int *source;      /* per model input: the manifest feature (numeric or categorical index) */
	int *level_map;   /* manifest level index -> model level index */
	struct encoder_value *vals;
	float *X, *Y, *scratch;
	size_t chunk;
	double *t_true, *t_pred, *label, *p;
	size_t n;
};

static void scorer_done(struct scorer *s)
{
	free(s->source);
	free(s->level_map);
	free(s->vals);
	free(s->X);
	free(s->Y);
	free(s->scratch);
	free(s->t_true);
	free(s->t_pred);
	free(s->label);
	free(s->p);
}

static enum error_code scorer_init(struct scorer *s, const struct model *m,
				   const struct shards_manifest *mf, struct error *err)
{
	size_t n_in = encoder_n_inputs(m->enc), i, j, n = mf->test_rows ? mf->test_rows : 1;

	memset(s, 0, sizeof *s);
	s->m = m;
	s->mf = mf;
	s->chunk = 1024;
	s->source = calloc(n_in + 1, sizeof *s->source);
	s->level_map = calloc(mf->n_levels, sizeof *s->level_map);
	s->vals = calloc(n_in + 1, sizeof *s->vals);
	s->X = util_alloc_array(s->chunk * m->spec.input_size, sizeof *s->X);
	s->Y = util_alloc_array(s->chunk * 2, sizeof *s->Y);
	s->scratch = util_alloc_array(mlp_scratch_floats(&m->mlp, s->chunk), sizeof *s->scratch);
	s->t_true = util_alloc_array(n, sizeof *s->t_true);
	s->t_pred = util_alloc_array(n, sizeof *s->t_pred);
	s->label = util_alloc_array(n, sizeof *s->label);
	s->p = util_alloc_array(n, sizeof *s->p);
	if (!s->source || !s->level_map || !s->vals || !s->X || !s->Y || !s->scratch || !s->t_true ||
	    !s->t_pred || !s->label || !s->p)
		return error_nomem(err, "the evaluation");
	for (i = 0; i < n_in; i++) {
		bool numeric = i < m->spec.n_numeric;
		const char *name = numeric ? m->spec.numeric[i].name : m->spec.categorical[i - m->spec.n_numeric].name;
		s->source[i] = -1;
		if (numeric) {
			for (j = 0; j < mf->n_numeric; j++)
				if (!strcmp(mf->numeric[j], name))
					s->source[i] = (int)j;
		} else {
			for (j = 0; j < mf->n_categorical; j++)
				if (!strcmp(mf->categorical[j].name, name))
					s->source[i] = (int)j;
		}
		if (s->source[i] < 0)
			return error_set(err, ERROR_INVALID, name,
					 "model %s version %d reads %s feature \"%s\", which the export does "
					 "not have",
					 m->name, m->version, numeric ? "numeric" : "categorical", name);
	}
	for (i = 0; i < mf->n_levels; i++) {
		s->level_map[i] = spec_level_index(&m->spec, mf->levels[i]);
		if (s->level_map[i] < 0)
			return error_set(err, ERROR_INVALID, "levels",
					 "promotion level %lld of the export is not a level of model %s "
					 "version %d",
					 mf->levels[i], m->name, m->version);
	}
	return ERROR_OK;
}

static void forward(struct scorer *s, size_t B)
{
	const struct spec *spec = &s->m->spec;
	size_t j;

	mlp_forward(&s->m->mlp, s->X, B, s->scratch, s->Y);
	for (j = 0; j < B; j++) {
		double y = s->Y[2 * j + HEADS_SALES], z = s->Y[2 * j + HEADS_EXPOSURE];
		size_t r = s->n - B + j;
		s->t_pred[r] = spec->transform == s->mf->transform
				       ? heads_unstandardize(spec, y)
				       : heads_transform(s->mf->transform, heads_sales(spec, y));
		s->p[r] = heads_exposure(z);
	}
}

/* Score one shard's rows. */
static enum error_code score_shard(struct scorer *s, const struct shards_file *f,
				   const struct safetensors *st, struct error *err)
{
	const struct shards_manifest *mf = s->mf;
	size_t rows = f->rows, n_in = encoder_n_inputs(s->m->enc), r, i, B = 0;
	const struct tensor *units, *exposure, *numeric, *categorical, *level;
	enum error_code rc = ERROR_OK;

	units = get_tensor(st, f->file, "units", "F64", rows, 1, false, err);
	exposure = units ? get_tensor(st, f->file, "exposure", "F32", rows, 1, false, err) : NULL;
	numeric = exposure ? get_tensor(st, f->file, "numeric", "F64", rows, mf->n_numeric, true, err) : NULL;
	categorical = numeric ? get_tensor(st, f->file, "categorical", "I32", rows, mf->n_categorical, true, err)
			      : NULL;
	level = categorical ? get_tensor(st, f->file, "level", "I32", rows, 1, false, err) : NULL;
	if (!level)
		return err->code;
	if (s->n + rows > mf->test_rows)
		return error_set(err, ERROR_INVALID, f->file, "%s: more test rows than parts.test", f->file);
	for (r = 0; r < rows && !rc; r++) {
		double u, num;
		float e;
		int32_t lv, id;

		memcpy(&u, (const char *)units->data + 8 * r, 8);
		memcpy(&e, (const char *)exposure->data + 4 * r, 4);
		memcpy(&lv, (const char *)level->data + 4 * r, 4);
		if (!(isfinite(u) && u >= 0) || (e != 0 && e != 1) || lv < 0 || (size_t)lv >= mf->n_levels) {
			rc = error_set(err, ERROR_INVALID, f->file,
				       "%s: row %zu: %s out of range", f->file, r,
				       !(isfinite(u) && u >= 0) ? "units" : (e != 0 && e != 1) ? "exposure" : "level");
			break;
		}
		for (i = 0; i < n_in; i++) {
			struct encoder_value *v = &s->vals[i];
			v->kind = ENCODER_VALUE_MISSING;
			if (i < s->m->spec.n_numeric) {
				memcpy(&num, (const char *)numeric->data + 8 * (r * mf->n_numeric + (size_t)s->source[i]), 8);
				if (!isnan(num)) {
					v->kind = ENCODER_VALUE_NUMBER;
					v->number = num;
				}
			} else {
				const struct shards_categorical *c = &mf->categorical[s->source[i]];
				memcpy(&id, (const char *)categorical->data + 4 * (r * mf->n_categorical + (size_t)s->source[i]), 4);
				if (id < -1 || (id >= 0 && (size_t)id >= c->n_values)) {
					rc = error_set(err, ERROR_INVALID, f->file,
						       "%s: row %zu: %s index %d is not one of the manifest's %zu values",
						       f->file, r, c->name, id, c->n_values);
					break;
				}
				if (id >= 0) {
					v->kind = ENCODER_VALUE_STRING;
					v->str = c->values[id];
					v->len = strlen(c->values[id]);
				}
			}
		}
		if (rc)
			break;
		rc = encoder_encode(s->m->enc, s->vals, s->level_map[lv], s->X + B * s->m->spec.input_size, NULL,
				    NULL, NULL, err);
		if (rc) {
			error_prefix(err, "%s row %zu", f->file, r);
			break;
		}
		s->t_true[s->n] = heads_transform(mf->transform, u);
		s->label[s->n] = e;
		s->n++;
		if (++B == s->chunk) {
			forward(s, B);
			B = 0;
		}
	}
	if (!rc && B)
		forward(s, B);
	return rc;
}

/* One test shard's bytes (from f) parsed and scored. */
static enum error_code score_bytes(struct scorer *s, const struct shards_file *f, const uint8_t *bytes,
				   size_t len, struct error *err)
{
	struct safetensors st = {0};
	enum error_code rc = safetensors_parse(bytes, len, &st, err);

	if (rc)
		error_prefix(err, "%s", f->file);
	else
		rc = score_shard(s, f, &st, err);
	safetensors_done(&st);
	return rc;
}

/* The metrics of every row scored, once all test rows are. */
static enum error_code finish(struct scorer *s, enum error_code rc, json_t **metrics, struct error *err)
{
	struct sales_metrics sales;
	struct exposure_metrics expo;

	if (!rc && s->n != s->mf->test_rows)
		rc = error_set(err, ERROR_INVALID, "shards", "the test shards hold %zu rows, parts.test says %zu",
			       s->n, s->mf->test_rows);
	if (!rc) {
		evaluate_sales(s->mf->transform, s->t_true, s->t_pred, s->n, &sales);
		rc = evaluate_exposure(s->label, s->p, s->n, &expo, err);
	}
	if (!rc) {
		*metrics = json_pack("{s:o, s:o, s:I}", "sales", evaluate_sales_json(&sales), "exposure",
				     evaluate_exposure_json(&expo), "test_rows", (json_int_t)s->n);
		if (!*metrics)
			rc = error_nomem(err, "the metrics");
	}
	scorer_done(s);
	return rc;
}

enum error_code shards_evaluate(const struct model *m, const struct shards_manifest *mf,
				const char *dir, json_t **metrics, struct error *err)
{
	struct scorer s;
	enum error_code rc = scorer_init(&s, m, mf, err);
	size_t i;

	*metrics = NULL;
	for (i = 0; !rc && i < mf->n_shards; i++) {
		const struct shards_file *f = &mf->shards[i];
		char *bytes = NULL;
		size_t len;
		if (f->part != EXPORT_TEST)
			continue;
		rc = read_shard(dir, f, &bytes, &len, err);
		if (!rc)
			rc = score_bytes(&s, f, (const uint8_t *)bytes, len, err);
		free(bytes);
	}
	return finish(&s, rc, metrics, err);
}

enum error_code shards_evaluate_bytes(const struct model *m, const struct shards_manifest *mf,
				      const uint8_t *bytes, size_t len, json_t **metrics, struct error *err)
{
	struct scorer s;
	enum error_code rc = scorer_init(&s, m, mf, err);
	size_t i;

	*metrics = NULL;
	for (i = 0; !rc && i < mf->n_shards && mf->shards[i].part != EXPORT_TEST; i++)
		;
	if (!rc && i == mf->n_shards)
		rc = error_set(err, ERROR_INVALID, "shards", "the manifest lists no test shard");
	if (!rc)
		rc = score_bytes(&s, &mf->shards[i], bytes, len, err);
	return finish(&s, rc, metrics, err);
}

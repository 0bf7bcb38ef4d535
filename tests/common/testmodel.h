/*
 * testmodel — the fixture the unit tests and the fuzz targets share, without
 * cmocka: a small model spec, a seeded random generator, and a model with
 * seeded random weights.
 */
#ifndef SHELFCAST_TESTMODEL_H
#define SHELFCAST_TESTMODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/mlp.h"
#include "shelfcast/model.h"
#include "shelfcast/spec.h"

/* inputs: price (clip 1..100), weight (required), log(price); brand {a,b,c}; store {1,2};
 * levels 0,1,2 at 0/10/20 % discount, costs 0/5/10; hidden 8, 4 -> width 3 + 4 + 3 + 3 = 13 */
static const char TEST_SPEC[] =
	"{\"format\": \"shelfcast.spec.v1\","
	" \"inputs\": {\"numeric\": ["
	"   {\"name\": \"price\", \"mean\": 10, \"std\": 2, \"default\": 10, \"clip\": [1, 100]},"
	"   {\"name\": \"weight\", \"mean\": 1, \"std\": 0.5, \"required\": true},"
	"   {\"name\": \"price\", \"transform\": \"log\", \"mean\": 2.3, \"std\": 0.2, \"default\": 2.3}],"
	"  \"categorical\": [{\"name\": \"brand\", \"vocabulary\": [\"a\", \"b\", \"c\"]},"
	"                  {\"name\": \"store\", \"vocabulary\": [\"1\", \"2\"]}]},"
	" \"promotion\": {\"column\": \"level\", \"price_column\": \"price\", \"objective\": \"revenue\","
	"   \"levels\": [{\"level\": 0, \"discount\": 0, \"cost\": 0}, {\"level\": 1, \"discount\": 0.1, \"cost\": 5},"
	"              {\"level\": 2, \"discount\": 0.2, \"cost\": 10}]},"
	" \"target\": {\"column\": \"units\", \"transform\": \"log1p\", \"mean\": 2, \"std\": 1},"
	" \"exposure\": {\"column\": \"featured\"},"
	" \"architecture\": {\"input_size\": 13, \"hidden\": [8, 4], \"activation\": \"relu\"}}";

/*
 * TEST_SPEC with a calibration into buf: default coverage 0.8, the given
 * smearing, residual quantile i / 200 equal to i / 100.  False when buf is too small.
 */
static inline bool test_calibrated_spec(double smearing, char *buf, size_t size)
{
	size_t n = sizeof TEST_SPEC - 2, i; /* without the closing brace */
	int w;

	if (n >= size)
		return false;
	memcpy(buf, TEST_SPEC, n);
	w = snprintf(buf + n, size - n,
		     ", \"calibration\": {\"interval\": 0.8, \"smearing\": %g, \"rows\": 100,"
		     " \"residual_quantiles\": [0",
		     smearing);
	for (i = 1; w > 0 && (size_t)w < size - n && i < SPEC_RESIDUAL_QUANTILES; i++) {
		n += (size_t)w;
		w = snprintf(buf + n, size - n, ", %g", (double)i / 100);
	}
	if (w <= 0 || (size_t)w >= size - n)
		return false;
	n += (size_t)w;
	w = snprintf(buf + n, size - n, "]}}");
	return w > 0 && (size_t)w < size - n;
}

static inline uint64_t test_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline float test_uniform(uint64_t *s, float lo, float hi)
{
	return lo + (hi - lo) * (float)((double)(test_rand(s) >> 11) / 9007199254740992.0);
}

/*
 * A model from a spec and its weights w, layer by layer (each weight (O, I)
 * then its bias (O)), set before the model is built: a model is never
 * written to once it exists.  Aborts the test binary when the spec or model
 * is refused: a fixture that cannot be built is a bug.
 */
static inline __attribute__((returns_nonnull)) struct model *
test_model_from(const char *name, int version, const char *spec_text, const float *w)
{
	struct spec spec;
	struct error err;
	struct tensor t[2 * MLP_MAX_LAYERS];
	size_t dims[SPEC_MAX_HIDDEN + 2], n, l, off = 0;
	struct model *m = NULL;

	error_init(&err);
	if (spec_parse_string(spec_text, strlen(spec_text), &spec, &err) != ERROR_OK) {
		fprintf(stderr, "test spec: %s\n", err.message);
		abort();
	}
	n = spec_layer_dims(&spec, dims);
	memset(t, 0, sizeof t);
	for (l = 0; l + 1 < n; l++) {
		snprintf(t[2 * l].name, sizeof t[2 * l].name, "dense.%zu.weight", l);
		snprintf(t[2 * l + 1].name, sizeof t[2 * l + 1].name, "dense.%zu.bias", l);
		strcpy(t[2 * l].dtype, "F32");
		strcpy(t[2 * l + 1].dtype, "F32");
		t[2 * l].ndim = 2;
		t[2 * l].shape[0] = dims[l + 1];
		t[2 * l].shape[1] = dims[l];
		t[2 * l].data = w + off;
		t[2 * l].nbytes = dims[l + 1] * dims[l] * sizeof(float);
		off += dims[l + 1] * dims[l];
		t[2 * l + 1].ndim = 1;
		t[2 * l + 1].shape[0] = dims[l + 1];
		t[2 * l + 1].data = w + off;
		t[2 * l + 1].nbytes = dims[l + 1] * sizeof(float);
		off += dims[l + 1];
	}
	if (model_new(name, version, &spec, t, 2 * (n - 1), NULL, &m, &err) != ERROR_OK) {
		fprintf(stderr, "test model: %s\n", err.message);
		abort();
	}
	return m;
}

/* Floats of weights and biases a spec's network has. */
static inline size_t test_weight_count(const char *spec_text)
{
	struct spec spec;
	struct error err;
	size_t dims[SPEC_MAX_HIDDEN + 2], n, l, total = 0;

	error_init(&err);
	if (spec_parse_string(spec_text, strlen(spec_text), &spec, &err) != ERROR_OK) {
		fprintf(stderr, "test spec: %s\n", err.message);
		abort();
	}
	n = spec_layer_dims(&spec, dims);
	for (l = 0; l + 1 < n; l++)
		total += dims[l + 1] * dims[l] + dims[l + 1];
	spec_done(&spec);
	return total;
}

/* A model with weights drawn uniformly from [-scale, scale] by seed; *weights (if asked) is a copy, caller frees. */
static inline __attribute__((returns_nonnull)) struct model *
test_model_named(const char *name, const char *spec_text, uint64_t seed, float scale, float **weights)
{
	size_t total = test_weight_count(spec_text), i;
	float *w = calloc(total, sizeof *w);
	struct model *m;

	for (i = 0; i < total; i++)
		w[i] = test_uniform(&seed, -scale, scale);
	m = test_model_from(name, 1, spec_text, w);
	if (weights)
		*weights = w;
	else
		free(w);
	return m;
}

/*
 * spec_text (ending in its closing brace) with a "reference" member of n
 * rows of `width` values drawn from [-1, 1] by seed: a model that can
 * explain.  New string, caller frees.
 */
static inline char *test_spec_with_reference(const char *spec_text, size_t width, size_t n,
					     uint64_t seed)
{
	size_t len = strlen(spec_text), cap = len + 32 + n * width * 16, at, i, j;
	char *s = malloc(cap);

	if (!s)
		abort();
	memcpy(s, spec_text, len - 1);
	at = len - 1 + (size_t)snprintf(s + len - 1, cap - len + 1, ", \"reference\": [");
	for (i = 0; i < n; i++)
		for (j = 0; j < width; j++)
			at += (size_t)snprintf(s + at, cap - at, "%s%.6f", j ? ", " : (i ? "], [" : "["),
					       (double)test_uniform(&seed, -1, 1));
	snprintf(s + at, cap - at, "]]}");
	return s;
}

static inline __attribute__((returns_nonnull)) struct model *
test_model(const char *spec_text, uint64_t seed, float scale, float **weights)
{
	return test_model_named("test", spec_text, seed, scale, weights);
}

#endif

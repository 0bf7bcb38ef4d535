/*
 * Fuzz the /v1/predict body through validation, encoding and scoring, both
 * ways: the fast path (with its fallback) and the jansson path must give the
 * same answer, byte for byte, for every input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "shelfcast/predict.h"
#include "shelfcast/strbuf.h"

static struct model *model;

static struct model *resolve(void *ctx, const char *name, struct error *err)
{
	(void)ctx;
	if (name && strcmp(name, "fuzz")) {
		error_set(err, ERROR_NOT_FOUND, "model", "model \"%s\" is not served here", name);
		return NULL;
	}
	return model_ref(model);
}

static void setup(void)
{
	struct spec spec;
	struct error err;
	struct tensor t[6];
	static float w[13 * 8 + 8 + 8 * 4 + 4 + 4 * 2 + 2];
	size_t dims[4] = {13, 8, 4, 2}, off = 0, l, i;

	for (i = 0; i < sizeof w / sizeof w[0]; i++)
		w[i] = (float)((int)(i * 7919 % 200) - 100) / 100.0f;
	memset(t, 0, sizeof t);
	for (l = 0; l < 3; l++) {
		snprintf(t[2 * l].name, sizeof t[2 * l].name, "dense.%zu.weight", l);
		snprintf(t[2 * l + 1].name, sizeof t[2 * l + 1].name, "dense.%zu.bias", l);
		strcpy(t[2 * l].dtype, "F32");
		strcpy(t[2 * l + 1].dtype, "F32");
		t[2 * l].ndim = 2;
		t[2 * l].shape[0] = dims[l + 1];
		t[2 * l].shape[1] = dims[l];
		t[2 * l].data = w + off;
		t[2 * l].nbytes = dims[l + 1] * dims[l] * 4;
		off += dims[l + 1] * dims[l];
		t[2 * l + 1].ndim = 1;
		t[2 * l + 1].shape[0] = dims[l + 1];
		t[2 * l + 1].data = w + off;
		t[2 * l + 1].nbytes = dims[l + 1] * 4;
		off += dims[l + 1];
	}
	error_init(&err);
	if (spec_parse_string(FUZZ_SPEC, strlen(FUZZ_SPEC), &spec, &err) ||
	    model_new("fuzz", 1, &spec, t, 6, NULL, &model, &err)) {
		fprintf(stderr, "fuzz_predict: %s\n", err.message);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf r1, r2;
	struct predict_outcome o1, o2;
	struct error e1, e2;
	enum error_code c1, c2;

	if (!model)
		setup();
	strbuf_init(&r1);
	strbuf_init(&r2);
	error_init(&e1);
	error_init(&e2);
	c1 = predict_run((const char *)data, size, 64, resolve, NULL, &r1, &o1, &e1);
	c2 = predict_run_jansson((const char *)data, size, 64, resolve, NULL, &r2, &o2, &e2);
	if (c1 != c2 || (c1 == ERROR_OK && (r1.len != r2.len || memcmp(r1.data, r2.data, r1.len))) ||
	    strcmp(e1.message, e2.message) || strcmp(e1.field, e2.field)) {
		fprintf(stderr, "fast path and jansson path differ: %d %s / %d %s\n", c1, e1.message, c2,
			e2.message);
		abort();
	}
	if (c1 == ERROR_INTERNAL || c1 == ERROR_IO)
		abort(); /* input never causes a 500 */
	predict_outcome_done(&o1);
	predict_outcome_done(&o2);
	strbuf_done(&r1);
	strbuf_done(&r2);
	return 0;
}

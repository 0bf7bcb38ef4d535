/*
 * Fuzz the /v1/predict body through validation, encoding and scoring, both
 * ways: the fast path (with its fallback) and the jansson path must give the
 * same answer, byte for byte, for every input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "shelfcast/predict_api.h"
#include "shelfcast/strbuf.h"

static const struct predict_limits limits = {64, 64u << 20, 16};
static struct model *model;
static struct predict_api_scratch *scratch;

static struct model *resolve(void *ctx, const char *name, struct error *err)
{
	(void)ctx;
	if (name && strcmp(name, "fuzz")) {
		error_set(err, ERROR_NOT_FOUND, "model", "model \"%s\" is not served here", name);
		return NULL;
	}
	return model; /* borrowed: the target holds it */
}

static void setup(void)
{
	static char calibrated[8192]; /* calibrated: the replies carry intervals; with reference rows: it can explain */
	char *spec;
	if (!test_calibrated_spec(1.25, calibrated, sizeof calibrated))
		return;
	spec = test_spec_with_reference(calibrated, 13, 4, 3);
	model = test_model_named("fuzz", spec, 7, 1.0f, NULL);
	free(spec);
	scratch = predict_api_scratch_new();
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
	c1 = predict_api_run(scratch, (const char *)data, size, &limits, resolve, NULL, &r1, &o1, &e1);
	c2 = predict_api_run_jansson((const char *)data, size, &limits, resolve, NULL, &r2, &o2, &e2);
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

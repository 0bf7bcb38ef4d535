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

/* TEST_SPEC's drift reference (tests/data/spec/ok_drift): the fast path's requests are tallied too. */
static const char DRIFT_REFERENCE[] =
	"{\"rows\": 500, \"numeric\": ["
	" {\"name\": \"price\", \"edges\": [2, 3, 4, 5, 6, 7, 8, 9, 10], \"freq\": [0.1, 0.1, 0.1, 0.1, 0.1,"
	"  0.1, 0.1, 0.1, 0.1, 0.1], \"missing\": 0},"
	" {\"name\": \"weight\", \"edges\": [0.1, 0.1, 0.1, 0.5, 0.6, 0.7, 0.8, 0.9, 1], \"freq\": [0.2, 0, 0,"
	"  0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2], \"missing\": 0.25}],"
	" \"categorical\": [{\"name\": \"brand\", \"freq\": [0.5, 0.25, 0.125, 0.125], \"missing\": 0},"
	"  {\"name\": \"store\", \"freq\": [0.5, 0.5, 0], \"missing\": 0.1}]}";

/* spec_text with DRIFT_REFERENCE added (new), or NULL. */
static char *with_drift_reference(const char *spec_text)
{
	json_t *spec = json_loads(spec_text, 0, NULL), *ref = json_loads(DRIFT_REFERENCE, 0, NULL);
	char *out = NULL;

	if (spec && ref && !json_object_set_new(spec, "drift_reference", ref))
		out = json_dumps(spec, JSON_COMPACT);
	else
		json_decref(ref);
	json_decref(spec);
	return out;
}

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
	char *spec, *drifting;
	if (!test_calibrated_spec(1.25, calibrated, sizeof calibrated))
		return;
	spec = test_spec_with_reference(calibrated, 13, 4, 3);
	drifting = spec ? with_drift_reference(spec) : NULL;
	if (!drifting)
		abort();
	model = test_model_named("fuzz", drifting, 7, 1.0f, NULL);
	free(spec);
	free(drifting);
	scratch = predict_api_scratch_new();
	predict_api_scratch_track_drift(scratch, 16); /* a small window: it turns over often */
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
	if (predict_api_scratch_tally(scratch)) { /* what the server does with a request's tally */
		struct drift_stat st[4];
		size_t items;
		drift_window_commit(model_drift(model, 16), predict_api_scratch_tally(scratch));
		drift_window_stats(model_drift(model, 16), st, &items);
		if (c1 != ERROR_OK || items > 16)
			abort(); /* only a request that succeeded is tallied; the window holds at most its size */
	}
	predict_outcome_done(&o1);
	predict_outcome_done(&o2);
	strbuf_done(&r1);
	strbuf_done(&r2);
	return 0;
}

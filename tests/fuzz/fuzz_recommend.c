/*
 * Fuzz the /v1/recommend body through validation, the price search and the
 * confirmation, both ways: the fast path (with its fallback) and the
 * jansson path must give the same answer, byte for byte, for every input;
 * any input gets a reply or an error naming its cause, never a crash or a
 * 500 (a reply's every recommendation meets the request's constraints:
 * checked by the unit tests; here, the search's own invariants under ASan
 * and UBSan).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "shelfcast/recommend_api.h"
#include "shelfcast/strbuf.h"

static const struct predict_limits limits = {16, 64u << 20, 16};
static struct model *model;
static struct predict_api_scratch *scratch; /* the fast path's, kept between inputs as a worker keeps it */

static struct model *resolve(void *ctx, const char *name, struct error *err)
{
	(void)ctx;
	if (name && strcmp(name, "fuzz")) {
		error_set(err, ERROR_NOT_FOUND, "model", "model \"%s\" is not served here", name);
		return NULL;
	}
	return model; /* borrowed: the target holds it */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char calibrated[8192];
	struct strbuf r1, r2;
	struct predict_outcome o1, o2;
	struct error e1, e2;
	enum error_code c1, c2;

	if (!model) {
		if (!test_calibrated_spec(1.25, calibrated, sizeof calibrated))
			abort();
		model = test_model_named("fuzz", calibrated, 7, 1.0f, NULL);
		scratch = predict_api_scratch_new();
	}
	strbuf_init(&r1);
	strbuf_init(&r2);
	error_init(&e1);
	error_init(&e2);
	c1 = recommend_api_run_logged(scratch, (const char *)data, size, &limits, resolve, NULL, NULL, &r1, &o1,
				      &e1);
	c2 = recommend_api_run((const char *)data, size, &limits, resolve, NULL, &r2, &o2, &e2);
	if (c1 != c2 || r1.len != r2.len || (r1.len && memcmp(r1.data, r2.data, r1.len)) ||
	    strcmp(e1.message, e2.message) || strcmp(e1.field, e2.field)) {
		fprintf(stderr, "fast path and jansson path differ: %d %s / %d %s\n", c1, e1.message, c2,
			e2.message);
		abort();
	}
	if (c1 == ERROR_INTERNAL || c1 == ERROR_IO)
		abort(); /* input never causes a 500 */
	if (c1 == ERROR_OK && (!r1.data || r1.data[0] != '{'))
		abort();
	predict_outcome_done(&o1);
	predict_outcome_done(&o2);
	strbuf_done(&r1);
	strbuf_done(&r2);
	return 0;
}

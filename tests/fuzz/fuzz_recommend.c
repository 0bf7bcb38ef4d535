/*
 * Fuzz the /v1/recommend body through validation, the price search and the
 * confirmation: any input gets a reply or an error naming its cause, never
 * a crash or a 500, and a reply's every recommendation meets the request's
 * constraints (checked by the unit tests; here: the search's own invariants
 * under ASan and UBSan).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "shelfcast/recommend_api.h"
#include "shelfcast/strbuf.h"

static const struct predict_limits limits = {16, 64u << 20, 16};
static struct model *model;

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
	struct strbuf reply;
	struct predict_outcome o;
	struct error e;
	enum error_code c;

	if (!model) {
		if (!test_calibrated_spec(1.25, calibrated, sizeof calibrated))
			abort();
		model = test_model_named("fuzz", calibrated, 7, 1.0f, NULL);
	}
	strbuf_init(&reply);
	error_init(&e);
	c = recommend_api_run((const char *)data, size, &limits, resolve, NULL, &reply, &o, &e);
	if (c == ERROR_INTERNAL || c == ERROR_IO)
		abort(); /* input never causes a 500 */
	if (c == ERROR_OK && (!reply.data || reply.data[0] != '{'))
		abort();
	predict_outcome_done(&o);
	strbuf_done(&reply);
	return 0;
}

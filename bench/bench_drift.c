/*
 * bench_drift — what input drift adds to a 1,000-item /v1/predict request,
 * one core: microseconds to tally 1,000 items (drift_tally_add, on the
 * encoder's path) and to commit them into a full 10,000-item window
 * (drift_window_commit, once per request), on the OJ model's features
 * (15 numeric, brand with 11 categories, store with 83).
 *
 * usage: bench_drift [SECONDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shelfcast/drift.h"
#include "shelfcast/strbuf.h"
#include "shelfcast/util.h"

#define ITEMS 1000
#define NUMERIC 15

/* An OJ-shaped spec with a drift reference: z-scored numeric inputs, deciles of N(0, 1). */
static char *oj_spec(void)
{
	static const double deciles[9] = {-1.2816, -0.8416, -0.5244, -0.2533, 0, 0.2533, 0.5244, 0.8416, 1.2816};
	struct strbuf sb;
	int i, j;

	strbuf_init(&sb);
	strbuf_puts(&sb, "{\"format\": \"shelfcast.spec.v1\", \"inputs\": {\"numeric\": [");
	for (i = 0; i < NUMERIC; i++)
		strbuf_printf(&sb, "%s{\"name\": \"x%d\", \"mean\": 0, \"std\": 1, \"default\": 0, \"clip\": [-3, 3]}",
			      i ? ", " : "", i);
	strbuf_puts(&sb, ", {\"name\": \"x0\", \"transform\": \"log\", \"mean\": 0, \"std\": 1, \"default\": 0}],"
			 " \"categorical\": [{\"name\": \"brand\", \"vocabulary\": [");
	for (i = 0; i < 11; i++)
		strbuf_printf(&sb, "%s\"b%d\"", i ? ", " : "", i);
	strbuf_puts(&sb, "]}, {\"name\": \"store\", \"vocabulary\": [");
	for (i = 0; i < 83; i++)
		strbuf_printf(&sb, "%s\"%d\"", i ? ", " : "", i);
	strbuf_printf(&sb, "]}]}, \"promotion\": {\"column\": \"level\", \"price_column\": \"x0\", \"levels\": "
			   "[{\"level\": 0, \"discount\": 0}]}, \"target\": {\"column\": \"u\", \"mean\": 0, "
			   "\"std\": 1}, \"exposure\": {\"column\": \"f\"}, \"architecture\": {\"input_size\": %d, "
			   "\"hidden\": [4]}, \"drift_reference\": {\"rows\": 1000, \"numeric\": [",
		      NUMERIC + 1 + 12 + 84 + 1);
	for (i = 0; i < NUMERIC; i++) {
		strbuf_printf(&sb, "%s{\"name\": \"x%d\", \"missing\": 0, \"freq\": [0.1, 0.1, 0.1, 0.1, 0.1, "
				   "0.1, 0.1, 0.1, 0.1, 0.1], \"edges\": [", i ? ", " : "", i);
		for (j = 0; j < 9; j++)
			strbuf_printf(&sb, "%s%g", j ? ", " : "", deciles[j]);
		strbuf_puts(&sb, "]}");
	}
	strbuf_puts(&sb, "], \"categorical\": [{\"name\": \"brand\", \"missing\": 0, \"freq\": [");
	for (i = 0; i < 12; i++)
		strbuf_printf(&sb, "%s%.17g", i ? ", " : "", 1.0 / 12);
	strbuf_puts(&sb, "]}, {\"name\": \"store\", \"missing\": 0, \"freq\": [");
	for (i = 0; i < 84; i++)
		strbuf_printf(&sb, "%s%.17g", i ? ", " : "", 1.0 / 84);
	strbuf_puts(&sb, "]}]}}");
	return sb.data;
}

int main(int argc, char **argv)
{
	double budget = argc > 1 ? atof(argv[1]) : 1.0, t0, t_tally = 0, t_commit = 0;
	static double raw[ITEMS][NUMERIC];
	struct encoder_value v[NUMERIC + 3];
	struct drift_tally t;
	struct drift_window *w;
	struct spec spec;
	struct error err;
	char *text = oj_spec();
	uint64_t s = 7;
	size_t i, k, rounds = 0;

	error_init(&err);
	if (!text || spec_parse_string(text, strlen(text), &spec, &err) != ERROR_OK) {
		fprintf(stderr, "bench_drift: %s\n", err.message);
		return 1;
	}
	for (i = 0; i < ITEMS; i++)
		for (k = 0; k < NUMERIC; k++) {
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			raw[i][k] = (double)(s >> 11) / 9007199254740992.0 * 6 - 3;
		}
	memset(v, 0, sizeof v);
	for (k = 0; k < NUMERIC + 1; k++)
		v[k].kind = ENCODER_VALUE_NUMBER;
	v[NUMERIC + 1].kind = v[NUMERIC + 2].kind = ENCODER_VALUE_STRING;
	drift_tally_init(&t);
	w = drift_window_new(&spec, DRIFT_DEFAULT_WINDOW);
	if (!w)
		return 1;
	do {
		t0 = util_now_s();
		drift_tally_begin(&t, &spec, DRIFT_DEFAULT_WINDOW, ITEMS);
		for (i = 0; i < ITEMS; i++) {
			for (k = 0; k < NUMERIC; k++) /* what the parser does for each item anyway */
				v[k].number = raw[i][k];
			t.slots[0] = (uint32_t)(i % 12);
			t.slots[1] = (uint32_t)(i % 84);
			drift_tally_add(&t, v, NULL, 0);
		}
		t_tally += util_now_s() - t0;
		t0 = util_now_s();
		drift_window_commit(w, &t);
		t_commit += util_now_s() - t0;
		rounds++;
	} while (t_tally + t_commit < budget || rounds < 20);
	printf("drift per %d-item request (%zu features, window %d, %zu rounds): tally %.1f us, commit %.1f us\n",
	       ITEMS, drift_features(&spec), DRIFT_DEFAULT_WINDOW, rounds, t_tally / (double)rounds * 1e6,
	       t_commit / (double)rounds * 1e6);
	drift_tally_done(&t);
	drift_window_free(w);
	spec_done(&spec);
	free(text);
	return 0;
}

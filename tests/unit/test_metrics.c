/* Unit tests: metrics — shards added up, and the Prometheus text format. */
#include "testutil.h"

#include <math.h>

#include "shelfcast/drift.h"
#include "shelfcast/metrics.h"

/* The value of the sample line that starts with `series ` in text, or -1. */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while ((p = strstr(p, series))) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return atof(p + n + 1);
		p += n;
	}
	return -1;
}

static void test_metrics_add_up_every_shard(void **state)
{
	struct metrics_shard *a = metrics_shard_new(), *b = metrics_shard_new();
	struct strbuf sb;
	(void)state;
	assert_true(a && b);
	metrics_init();
	metrics_observe_request(a, ROUTE_PREDICT, 200, 0.0003);
	metrics_observe_request(b, ROUTE_PREDICT, 200, 0.002);
	metrics_observe_request(b, ROUTE_PREDICT, 422, 0.0001);
	metrics_observe_request(a, ROUTE_COUNT, 999, 0.0001); /* out of range: other, 500 */
	metrics_observe_items(a, "demo", 3, 10);
	metrics_observe_items(b, "demo", 3, 5);
	metrics_observe_items(b, "demo", 4, 1);
	metrics_observe_unknown(a, "demo", "brand", 2);
	metrics_observe_unknown(b, "demo", "brand", 3);
	metrics_observe_request(NULL, ROUTE_PREDICT, 200, 0.1); /* no shard (out of memory): counts nothing */
	strbuf_init(&sb);
	metrics_render(&sb, NULL, NULL);
	assert_false(strbuf_failed(&sb));
	assert_true(sample(sb.data, "shelfcast_http_requests_total{route=\"/v1/predict\",status=\"200\"}") == 2);
	assert_true(sample(sb.data, "shelfcast_http_requests_total{route=\"/v1/predict\",status=\"422\"}") == 1);
	assert_true(sample(sb.data, "shelfcast_http_requests_total{route=\"other\",status=\"500\"}") == 1);
	/* histogram buckets are cumulative: 0.0001 and 0.0003 are under 0.0005, 0.002 is not */
	assert_true(sample(sb.data, "shelfcast_http_request_duration_seconds_bucket{route=\"/v1/predict\",le=\"0.0005\"}") == 2);
	assert_true(sample(sb.data, "shelfcast_http_request_duration_seconds_bucket{route=\"/v1/predict\",le=\"+Inf\"}") == 3);
	assert_true(sample(sb.data, "shelfcast_http_request_duration_seconds_count{route=\"/v1/predict\"}") == 3);
	assert_true(sample(sb.data, "shelfcast_predicted_items_total{model=\"demo\",version=\"3\"}") == 15);
	assert_true(sample(sb.data, "shelfcast_predicted_items_total{model=\"demo\",version=\"4\"}") == 1);
	assert_true(sample(sb.data, "shelfcast_unknown_categories_total{model=\"demo\",feature=\"brand\"}") == 5);
	assert_true(sample(sb.data, "shelfcast_db_up") == 0); /* no watcher */
	assert_non_null(strstr(sb.data, "# TYPE shelfcast_http_requests_total counter\n"));
	strbuf_done(&sb);
}

static void test_metrics_escape_label_values(void **state)
{
	struct metrics_shard *a = metrics_shard_new();
	struct strbuf sb;
	(void)state;
	metrics_observe_unknown(a, "m\"x", "a\\b\nc", 1);
	strbuf_init(&sb);
	metrics_render(&sb, NULL, NULL);
	assert_non_null(strstr(sb.data, "{model=\"m\\\"x\",feature=\"a\\\\b\\nc\"} 1\n"));
	strbuf_done(&sb);
}

static void test_metrics_drift_gauges_follow_the_window(void **state)
{
	char *text = test_data("spec/ok_drift/input.json", NULL);
	float *w;
	struct store *st = store_new();
	struct model *m;
	struct drift_tally t;
	struct encoder_value v[5];
	struct error err;
	struct strbuf sb;
	size_t i;
	(void)state;
	assert_non_null(text);
	w = calloc(test_weight_count(text), sizeof *w);
	m = test_model_from("gamma", 3, text, w);
	error_init(&err);
	assert_int_equal(store_put(st, model_ref(m), &err), ERROR_OK);
	/* no window yet: headers only */
	strbuf_init(&sb);
	metrics_render(&sb, st, NULL);
	assert_non_null(strstr(sb.data, "# TYPE shelfcast_feature_psi gauge\n"));
	assert_null(strstr(sb.data, "shelfcast_feature_psi{"));
	strbuf_done(&sb);
	/* 4 items, price 3 (bin 2 of 10 at 0.1 each; one clipped), weight missing once, brand b, store unknown */
	drift_tally_init(&t);
	assert_true(drift_tally_begin(&t, &m->spec, 4, 4));
	memset(v, 0, sizeof v);
	for (i = 0; i < 4; i++) {
		uint32_t clipped = 0;
		v[0] = v[2] = (struct encoder_value){.kind = ENCODER_VALUE_NUMBER, .number = 3};
		v[1] = (struct encoder_value){.kind = i ? ENCODER_VALUE_NUMBER : ENCODER_VALUE_MISSING, .number = 0.5};
		v[3].kind = v[4].kind = ENCODER_VALUE_STRING;
		t.slots[0] = 1;
		t.slots[1] = 2;
		drift_tally_add(&t, v, &clipped, i == 0);
	}
	drift_window_commit(model_drift(m, 4), &t);
	strbuf_init(&sb);
	metrics_render(&sb, st, NULL);
	assert_true(sample(sb.data, "shelfcast_drift_window_items{model=\"gamma\",version=\"3\"}") == 4);
	/* min(1000, window 4) = 4 values: price has a PSI; weight (3 values) is NaN */
	assert_true(fabs(sample(sb.data, "shelfcast_feature_psi{model=\"gamma\",feature=\"price\"}") -
			 (0.9 * log(10) + 9 * (DRIFT_EPSILON - 0.1) * log(DRIFT_EPSILON / 0.1))) < 1e-6);
	assert_non_null(strstr(sb.data, "shelfcast_feature_psi{model=\"gamma\",feature=\"weight\"} NaN\n"));
	assert_true(sample(sb.data, "shelfcast_feature_missing_ratio{model=\"gamma\",feature=\"weight\"}") == 0.25);
	assert_true(sample(sb.data, "shelfcast_feature_out_of_range_ratio{model=\"gamma\",feature=\"price\"}") == 0.25);
	assert_true(sample(sb.data, "shelfcast_feature_unknown_ratio{model=\"gamma\",feature=\"store\"}") == 1);
	assert_null(strstr(sb.data, "shelfcast_feature_unknown_ratio{model=\"gamma\",feature=\"price\"}"));
	assert_null(strstr(sb.data, "shelfcast_feature_out_of_range_ratio{model=\"gamma\",feature=\"brand\"}"));
	strbuf_done(&sb);
	drift_tally_done(&t);
	model_unref(m);
	store_free(st);
	free(w);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_add_up_every_shard),
		cmocka_unit_test(test_metrics_escape_label_values),
		cmocka_unit_test(test_metrics_drift_gauges_follow_the_window),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

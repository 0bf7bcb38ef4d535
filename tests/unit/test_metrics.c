/* Unit tests: metrics — shards added up, and the Prometheus text format. */
#include "testutil.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_add_up_every_shard),
		cmocka_unit_test(test_metrics_escape_label_values),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

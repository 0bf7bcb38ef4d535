/* Unit tests: prediction ids and the prediction log's queue, with no database. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "shelfcast/predlog.h"

/* A logger whose database never answers: records wait in the rings, then are dropped at stop. */
static struct predlog *offline(size_t queue_bytes, double rate)
{
	struct predlog_config cfg = {.conninfo = "host=/nonexistent/socket connect_timeout=1", .rate = rate,
				     .queue_bytes = queue_bytes, .retention_days = 30};
	struct error err;
	struct predlog *l;

	error_init(&err);
	l = predlog_start(&cfg, &err);
	assert_non_null(l);
	return l;
}

#define FEATURES "{\"brand\":\"Acme\",\"price\":2.49}"
static const struct predlog_record one = {
	.model = "demo", .version = 3, .features = FEATURES, .features_len = sizeof FEATURES - 1,
	.level = 1, .price = 2.49, .predicted_sales = 10, .expected_sales = 11, .exposure_probability = 0.5,
	.sales_t = 2.39, .log_target = true, .lower = NAN, .upper = NAN, .coverage = NAN};

static void test_predlog_ids_are_uuid7_carrying_the_request_time_and_distinct(void **state)
{
	struct predlog_writer w;
	struct error err;
	char a[PREDLOG_ID_TEXT], b[PREDLOG_ID_TEXT];
	unsigned long long ms = 0;
	int i;

	(void)state;
	error_init(&err);
	assert_int_equal(predlog_writer_init(&w, NULL, &err), ERROR_OK);
	predlog_begin(&w, 1764495196.123);
	predlog_log(&w, &one, a);
	predlog_log(&w, &one, b);
	assert_int_equal(strlen(a), 36);
	assert_true(predlog_id_valid(a, 36));
	assert_string_not_equal(a, b);
	assert_true(a[14] == '7' && strchr("89ab", a[19]));
	for (i = 0; i < 13; i++)
		if (a[i] != '-')
			ms = ms * 16 + (unsigned long long)(a[i] <= '9' ? a[i] - '0' : a[i] - 'a' + 10);
	assert_true(ms == 1764495196123ULL);
	assert_false(predlog_id_valid("01a22bd7-2558-71b9-a31d-a493b876950", 35));
	assert_false(predlog_id_valid("01a22bd7-2558-71b9-a31d+a493b8769501", 36));
	assert_false(predlog_id_valid("01a22bd7-2558-71b9-a31d-a493b876950g", 36));
	assert_true(predlog_id_valid("01A22BD7-2558-71B9-A31D-A493B8769501", 36));
	predlog_writer_done(&w);
}

static void test_predlog_commit_publishes_and_rollback_forgets(void **state)
{
	struct predlog *l = offline(1 << 16, 1.0);
	struct predlog_writer w;
	struct predlog_stats st;
	struct error err;
	char id[PREDLOG_ID_TEXT];
	int i;

	(void)state;
	error_init(&err);
	assert_int_equal(predlog_writer_init(&w, l, &err), ERROR_OK);
	predlog_begin(&w, 1.0e9);
	for (i = 0; i < 5; i++)
		predlog_log(&w, &one, id);
	predlog_rollback(&w); /* a reply that was not sent */
	predlog_stats(l, &st);
	assert_int_equal(st.queued, 0);
	predlog_begin(&w, 1.0e9);
	for (i = 0; i < 3; i++)
		predlog_log(&w, &one, id);
	predlog_stats(l, &st);
	assert_int_equal(st.queued, 0); /* not before the commit */
	predlog_commit(&w);
	predlog_stats(l, &st);
	assert_int_equal(st.queued, 3);
	assert_int_equal(st.written + st.dropped, 0);
	predlog_writer_done(&w);
	predlog_stop(l, 0, &st);
	assert_int_equal(st.written, 0);
	assert_int_equal(st.dropped, 3); /* left at stop, counted */
}

static void test_predlog_a_full_queue_drops_and_counts_every_record(void **state)
{
	struct predlog *l = offline(65536, 1.0);
	struct predlog_writer w;
	struct predlog_stats st;
	struct error err;
	char id[PREDLOG_ID_TEXT];
	int i, n = 5000;

	(void)state;
	error_init(&err);
	assert_int_equal(predlog_writer_init(&w, l, &err), ERROR_OK);
	for (i = 0; i < n; i++) {
		predlog_begin(&w, 1.0e9 + i);
		predlog_log(&w, &one, id);
		predlog_commit(&w);
	}
	predlog_stats(l, &st);
	assert_true(st.queued > 100 && st.queued < (uint64_t)n);
	assert_int_equal(st.queued + st.dropped, n);
	predlog_writer_done(&w);
	predlog_stop(l, 0, &st);
	assert_int_equal(st.written + st.dropped, n);
}

static void test_predlog_samples_about_the_rate_and_off_logs_nothing(void **state)
{
	struct predlog *l = offline(1 << 22, 0.25), *off = offline(1 << 16, 0);
	struct predlog_writer w, w0;
	struct predlog_stats st;
	struct error err;
	char id[PREDLOG_ID_TEXT];
	int i;

	(void)state;
	error_init(&err);
	assert_int_equal(predlog_writer_init(&w, l, &err), ERROR_OK);
	assert_int_equal(predlog_writer_init(&w0, off, &err), ERROR_OK);
	assert_null(w0.ring);
	predlog_begin(&w, 1.0e9);
	predlog_begin(&w0, 1.0e9);
	for (i = 0; i < 4000; i++) {
		predlog_log(&w, &one, id);
		predlog_log(&w0, &one, id);
		assert_true(predlog_id_valid(id, 36));
	}
	predlog_commit(&w);
	predlog_commit(&w0);
	predlog_stats(l, &st);
	assert_in_range(st.queued, 850, 1150); /* 1000 expected; 5 standard deviations */
	predlog_stats(off, &st);
	assert_int_equal(st.queued + st.dropped, 0);
	predlog_writer_done(&w);
	predlog_writer_done(&w0);
	predlog_stop(l, 0, NULL);
	predlog_stop(off, 0, NULL);
	predlog_stop(NULL, 0, NULL);
}

static void test_predlog_features_from_jansson_are_queued_compact(void **state)
{
	struct predlog *l = offline(1 << 16, 1.0);
	struct predlog_writer w;
	struct predlog_record rec = one;
	struct predlog_stats st;
	struct error err;
	char id[PREDLOG_ID_TEXT];
	json_t *features = json_pack("{s:s, s:f}", "brand", "A\tcme\n\\", "price", 2.5);

	(void)state;
	error_init(&err);
	rec.features = NULL;
	rec.features_json = features;
	assert_int_equal(predlog_writer_init(&w, l, &err), ERROR_OK);
	predlog_begin(&w, 1.0e9);
	predlog_log(&w, &rec, id);
	predlog_commit(&w);
	predlog_stats(l, &st);
	assert_int_equal(st.queued, 1);
	predlog_writer_done(&w);
	predlog_stop(l, 0, &st);
	assert_int_equal(st.dropped, 1);
	json_decref(features);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_predlog_ids_are_uuid7_carrying_the_request_time_and_distinct),
		cmocka_unit_test(test_predlog_commit_publishes_and_rollback_forgets),
		cmocka_unit_test(test_predlog_a_full_queue_drops_and_counts_every_record),
		cmocka_unit_test(test_predlog_samples_about_the_rate_and_off_logs_nothing),
		cmocka_unit_test(test_predlog_features_from_jansson_are_queued_compact),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

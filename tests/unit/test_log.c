/*
 * Unit tests: log — JSON lines on stderr.  Each test points stderr at a
 * temporary file for the lines it writes and reads them back.
 */
#include "testutil.h"

#include <jansson.h>
#include <pthread.h>
#include <unistd.h>

#include "shelfcast/log.h"
#include "shelfcast/strbuf.h"

static FILE *captured;
static int saved_stderr = -1;

/* From here to capture_end, stderr goes to a temporary file. */
static void capture_begin(void)
{
	captured = tmpfile();
	assert_non_null(captured);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_int_equal(dup2(fileno(captured), STDERR_FILENO), STDERR_FILENO);
}

/* stderr back where it was; what was written to it (new, caller frees; NUL-terminated). */
static char *capture_end(size_t *len)
{
	char *text;
	long n;
	assert_int_equal(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
	close(saved_stderr);
	assert_int_equal(fseek(captured, 0, SEEK_END), 0);
	n = ftell(captured);
	rewind(captured);
	text = malloc((size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, captured), (size_t)n);
	text[n] = '\0';
	fclose(captured);
	if (len)
		*len = (size_t)n;
	return text;
}

static void test_log_msg_writes_one_json_line_with_ts_level_event_and_msg(void **state)
{
	json_t *line, *ts;
	json_error_t jerr;
	char *text, before[32], after[32];
	size_t len;
	(void)state;
	util_format_time(before, sizeof before, util_unix_time());
	capture_begin();
	log_msg(LOG_WARN, "disk \"full\"", "only %d%% left\non /%s", 3, "var");
	text = capture_end(&len);
	util_format_time(after, sizeof after, util_unix_time());
	assert_true(len > 0 && text[len - 1] == '\n');
	assert_null(memchr(text, '\n', len - 1)); /* one line: the newline in msg is escaped */
	line = json_loads(text, 0, &jerr);
	if (!line)
		fail_msg("not JSON: %s (%s)", text, jerr.text);
	assert_int_equal(json_object_size(line), 4);
	ts = json_object_get(line, "ts");
	assert_true(json_is_string(ts) && json_string_length(ts) == 24);
	/* stamped now: RFC 3339 times of one length sort as text */
	assert_true(strcmp(before, json_string_value(ts)) <= 0 && strcmp(json_string_value(ts), after) <= 0);
	assert_string_equal(json_string_value(json_object_get(line, "level")), "warn");
	assert_string_equal(json_string_value(json_object_get(line, "event")), "disk \"full\"");
	assert_string_equal(json_string_value(json_object_get(line, "msg")), "only 3% left\non /var");
	/* the keys in the documented order */
	assert_true(strstr(text, "\"ts\"") < strstr(text, "\"level\"") &&
		    strstr(text, "\"level\"") < strstr(text, "\"event\"") &&
		    strstr(text, "\"event\"") < strstr(text, "\"msg\""));
	json_decref(line);
	free(text);
}

static void test_log_level_drops_the_lines_below_it(void **state)
{
	char *text;
	(void)state;
	capture_begin();
	log_set_level(LOG_WARN);
	log_msg(LOG_DEBUG, "a", "dropped");
	log_msg(LOG_INFO, "b", "dropped");
	log_msg(LOG_WARN, "c", "kept");
	log_msg(LOG_ERROR, "d", "kept");
	log_set_level(LOG_DEBUG);
	log_msg(LOG_DEBUG, "e", "kept");
	log_set_level(LOG_INFO); /* the default, for the tests after this one */
	log_msg(LOG_DEBUG, "f", "dropped");
	text = capture_end(NULL);
	assert_null(strstr(text, "dropped"));
	assert_non_null(strstr(text, "\"level\":\"warn\",\"event\":\"c\""));
	assert_non_null(strstr(text, "\"level\":\"error\",\"event\":\"d\""));
	assert_non_null(strstr(text, "\"level\":\"debug\",\"event\":\"e\""));
	free(text);
}

/*
 * A line begun at a monotonic time carries the wall time the writer's clock
 * maps it to; the caller's pairs go between begin and end.
 */
static void test_log_begin_at_stamps_the_given_time(void **state)
{
	struct util_clock clock;
	struct strbuf sb;
	char *text;
	(void)state;
	util_clock_init(&clock);
	clock.base_mono = util_now_ns(); /* read just now: no refresh for a second */
	clock.base_unix = 1796106679.0;
	strbuf_init(&sb);
	log_begin_at(&sb, LOG_ERROR, "e", &clock, clock.base_mono + 250000000ULL);
	strbuf_puts(&sb, ",\"status\":500");
	capture_begin();
	log_end(&sb);
	text = capture_end(NULL);
	assert_string_equal(text,
			    "{\"ts\":\"2026-12-01T06:31:19.250Z\",\"level\":\"error\",\"event\":\"e\",\"status\":500}\n");
	free(text);
	strbuf_done(&sb);
}

/* With no flusher running (or no buffer), a buffered line is written before log_end_buffered returns. */
static void test_log_buffered_line_without_a_flusher_is_written_at_once(void **state)
{
	struct log_buffer *b = log_buffer_new();
	struct strbuf sb;
	char *text;
	(void)state;
	assert_non_null(b);
	strbuf_init(&sb);
	strbuf_puts(&sb, "{\"a\":1");
	capture_begin();
	log_end_buffered(b, &sb);
	strbuf_reset(&sb);
	strbuf_puts(&sb, "{\"b\":2");
	log_end_buffered(NULL, &sb);
	text = capture_end(NULL);
	assert_string_equal(text, "{\"a\":1}\n{\"b\":2}\n");
	free(text);
	strbuf_done(&sb);
	log_buffer_free(b);
}

/*
 * Buffered log lines from several threads, with the flusher writing every
 * millisecond meanwhile: once the flusher is stopped, every line has
 * arrived exactly once, whole, and each thread's lines in the order it wrote
 * them.  Lengths vary, and each thread writes a few lines longer than any
 * sensible buffer (20,000 bytes), so whatever buffering sits underneath is
 * crossed at every offset.  This is a test of what the access log promises,
 * not of how it buffers.
 */
#define LOG_THREADS 4
#define LOG_LINES 6000

static int pad_of(int thread, int i)
{
	return i % 1000 == 999 ? 20000 : (i * 37 + thread * 11) % 300;
}

static void *log_lines(void *arg)
{
	int t = (int)(intptr_t)arg, i;
	struct log_buffer *b = log_buffer_new(); /* each writer its own, as each server worker */
	struct strbuf sb;

	assert_non_null(b);
	strbuf_init(&sb);
	for (i = 0; i < LOG_LINES; i++) {
		int pad = pad_of(t, i), k;
		strbuf_reset(&sb);
		strbuf_printf(&sb, "{\"t\":%d,\"i\":%d,\"p\":\"", t, i);
		for (k = 0; k < pad; k++)
			strbuf_putc(&sb, (char)('a' + (i + k) % 26));
		strbuf_putc(&sb, '"');
		log_end_buffered(b, &sb);
		if (i % 500 == 0)
			usleep(300); /* let the flusher in between lines */
	}
	strbuf_done(&sb);
	log_buffer_free(b);
	return NULL;
}

static void test_log_buffered_lines_arrive_once_whole_and_in_order(void **state)
{
	int t, next[LOG_THREADS] = {0};
	pthread_t th[LOG_THREADS];
	char *text, *line, *end;
	long lines = 0;

	(void)state;
	capture_begin();
	log_start_flusher(1);
	for (t = 0; t < LOG_THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, log_lines, (void *)(intptr_t)t), 0);
	for (t = 0; t < LOG_THREADS; t++)
		pthread_join(th[t], NULL);
	log_stop_flusher();
	text = capture_end(NULL);

	for (line = text; *line; line = end + 1) {
		int tt, i, used = 0, pad, k;
		long n;
		end = strchr(line, '\n');
		if (!end)
			fail_msg("line %ld has no newline: %.60s", lines + 1, line);
		n = end - line + 1;
		if (sscanf(line, "{\"t\":%d,\"i\":%d,\"p\":\"%n", &tt, &i, &used) != 2 || !used ||
		    tt < 0 || tt >= LOG_THREADS)
			fail_msg("line %ld is not a whole line: %.60s", lines + 1, line);
		if (i != next[tt])
			fail_msg("thread %d: line %d where %d was due (lost, repeated or out of order)", tt,
				 i, next[tt]);
		next[tt]++;
		pad = pad_of(tt, i);
		if (n != used + pad + 3 || strncmp(line + used + pad, "\"}\n", 3) != 0)
			fail_msg("thread %d line %d: %ld bytes, %d expected", tt, i, n, used + pad + 3);
		for (k = 0; k < pad; k++)
			if (line[used + k] != (char)('a' + (i + k) % 26))
				fail_msg("thread %d line %d: byte %d changed", tt, i, k);
		lines++;
	}
	free(text);
	assert_int_equal(lines, LOG_THREADS * LOG_LINES);
	for (t = 0; t < LOG_THREADS; t++)
		assert_int_equal(next[t], LOG_LINES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_msg_writes_one_json_line_with_ts_level_event_and_msg),
		cmocka_unit_test(test_log_level_drops_the_lines_below_it),
		cmocka_unit_test(test_log_begin_at_stamps_the_given_time),
		cmocka_unit_test(test_log_buffered_line_without_a_flusher_is_written_at_once),
		cmocka_unit_test(test_log_buffered_lines_arrive_once_whole_and_in_order),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

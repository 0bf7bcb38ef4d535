/* log — see include/shelfcast/log.h. */
#include "shelfcast/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shelfcast/util.h"

static enum log_level min_level = LOG_INFO;

void log_set_level(enum log_level level)
{
	min_level = level;
}

static const char *level_name(enum log_level level)
{
	switch (level) {
	case LOG_DEBUG: return "debug";
	case LOG_INFO: return "info";
	case LOG_WARN: return "warn";
	case LOG_ERROR: return "error";
	}
	return "info";
}

bool log_enabled(enum log_level level)
{
	return level >= min_level;
}

static void begin(struct strbuf *sb, enum log_level level, const char *event, const char *ts)
{
	strbuf_puts(sb, "{\"ts\":\"");
	strbuf_puts(sb, ts);
	strbuf_puts(sb, "\",\"level\":\"");
	strbuf_puts(sb, level_name(level));
	strbuf_puts(sb, "\",\"event\":");
	strbuf_json_string(sb, event, strlen(event));
}

void log_begin(struct strbuf *sb, enum log_level level, const char *event)
{
	char ts[UTIL_TIME_SIZE];
	util_format_time(ts, sizeof ts, util_unix_time());
	begin(sb, level, event, ts);
}

void log_begin_at(struct strbuf *sb, enum log_level level, const char *event,
		  struct util_clock *clock, uint64_t mono_ns)
{
	char ts[UTIL_TIME_SIZE];
	util_clock_format(clock, ts, sizeof ts, util_clock_unix_at(clock, mono_ns));
	begin(sb, level, event, ts);
}

static void write_all(const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, p, len);
		if (n <= 0)
			break;
		p += n;
		len -= (size_t)n;
	}
}

void log_end(struct strbuf *sb)
{
	strbuf_puts(sb, "}\n");
	if (!strbuf_failed(sb))
		write_all(sb->data, sb->len);
}

/* ---- buffered lines ---- */

#define BUFFER_BYTES 16384
#define MAX_BUFFERS 256

/*
 * A writer's buffer of whole lines.  Its writer appends under the lock; the
 * flusher writes it out under the same lock, so a line is written once,
 * whole, and in the order its writer appended it.
 */
struct log_buffer {
	pthread_mutex_t lock;
	size_t len;
	char data[BUFFER_BYTES];
};

/* Every buffer that exists, for the flusher. */
static struct log_buffer *buffers[MAX_BUFFERS];
static size_t n_buffers;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool flusher_on;
static pthread_t flusher;
static unsigned flush_ms;

/* Called with b->lock held. */
static void flush_buffer(struct log_buffer *b)
{
	if (b->len) {
		write_all(b->data, b->len);
		b->len = 0;
	}
}

struct log_buffer *log_buffer_new(void)
{
	struct log_buffer *b = NULL;

	pthread_mutex_lock(&registry_lock);
	if (n_buffers < MAX_BUFFERS && (b = malloc(sizeof *b))) {
		pthread_mutex_init(&b->lock, NULL);
		b->len = 0;
		buffers[n_buffers++] = b;
	}
	pthread_mutex_unlock(&registry_lock);
	return b;
}

void log_buffer_free(struct log_buffer *b)
{
	size_t i;

	if (!b)
		return;
	pthread_mutex_lock(&registry_lock);
	for (i = 0; i < n_buffers && buffers[i] != b; i++)
		;
	if (i < n_buffers)
		buffers[i] = buffers[--n_buffers];
	pthread_mutex_unlock(&registry_lock);
	pthread_mutex_lock(&b->lock);
	flush_buffer(b);
	pthread_mutex_unlock(&b->lock);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

void log_end_buffered(struct log_buffer *b, struct strbuf *sb)
{
	strbuf_puts(sb, "}\n");
	if (strbuf_failed(sb))
		return;
	if (!b || !atomic_load(&flusher_on)) {
		write_all(sb->data, sb->len);
		return;
	}
	pthread_mutex_lock(&b->lock);
	if (b->len + sb->len > BUFFER_BYTES)
		flush_buffer(b);
	if (sb->len > BUFFER_BYTES) {
		write_all(sb->data, sb->len); /* after the lines buffered before it */
	} else {
		memcpy(b->data + b->len, sb->data, sb->len);
		b->len += sb->len;
	}
	pthread_mutex_unlock(&b->lock);
}

static void flush_all(void)
{
	size_t i;

	pthread_mutex_lock(&registry_lock);
	for (i = 0; i < n_buffers; i++) {
		pthread_mutex_lock(&buffers[i]->lock);
		flush_buffer(buffers[i]);
		pthread_mutex_unlock(&buffers[i]->lock);
	}
	pthread_mutex_unlock(&registry_lock);
}

static void *flush_loop(void *arg)
{
	(void)arg;
	while (atomic_load(&flusher_on)) {
		struct timespec ts = {flush_ms / 1000, (long)(flush_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		flush_all();
	}
	return NULL;
}

void log_start_flusher(unsigned interval_ms)
{
	flush_ms = interval_ms ? interval_ms : 100;
	atomic_store(&flusher_on, true);
	if (pthread_create(&flusher, NULL, flush_loop, NULL) != 0)
		atomic_store(&flusher_on, false);
}

void log_stop_flusher(void)
{
	if (atomic_exchange(&flusher_on, false))
		pthread_join(flusher, NULL);
	flush_all();
}

void log_msg(enum log_level level, const char *event, const char *fmt, ...)
{
	char msg[2048];
	struct strbuf sb;
	va_list ap;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	strbuf_init(&sb);
	log_begin(&sb, level, event);
	strbuf_puts(&sb, ",\"msg\":");
	strbuf_json_string(&sb, msg, strlen(msg));
	log_end(&sb);
	strbuf_done(&sb);
}

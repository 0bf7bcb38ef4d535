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

void log_begin(struct strbuf *sb, enum log_level level, const char *event)
{
	log_begin_at(sb, level, event, util_unix_time());
}

void log_begin_at(struct strbuf *sb, enum log_level level, const char *event, double unix_seconds)
{
	char ts[40];
	util_format_time(ts, sizeof ts, unix_seconds);
	strbuf_puts(sb, "{\"ts\":\"");
	strbuf_puts(sb, ts);
	strbuf_puts(sb, "\",\"level\":\"");
	strbuf_puts(sb, level_name(level));
	strbuf_puts(sb, "\",\"event\":");
	strbuf_json_string(sb, event, strlen(event));
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
 * A thread's buffer.  Only its thread appends, with no lock: the line is
 * copied past len, then len is published (a release store).  Writing out
 * takes the lock: the flusher writes what was published since the last time
 * (from flushed to len, bytes no one changes any more); the owner, when a
 * line no longer fits, writes the rest and starts the buffer over.  So the
 * lock is taken once per buffer-full, not once per line: a locked
 * instruction per request waits for all the request's stores to drain.
 */
struct line_buffer {
	pthread_mutex_t lock;
	atomic_size_t len;  /* bytes appended; stored by the owning thread only */
	size_t flushed;     /* bytes of data[0, len) written out, under lock */
	char data[BUFFER_BYTES];
};

static struct line_buffer *buffers[MAX_BUFFERS];
static atomic_size_t n_buffers;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread struct line_buffer *mine;
static atomic_bool flusher_on;
static pthread_t flusher;
static unsigned flush_ms;

/* With b->lock held: whole lines only, one write. */
static void write_published(struct line_buffer *b)
{
	size_t len = atomic_load_explicit(&b->len, memory_order_acquire);
	if (len > b->flushed) {
		write_all(b->data + b->flushed, len - b->flushed);
		b->flushed = len;
	}
}

static struct line_buffer *my_buffer(void)
{
	if (mine)
		return mine;
	pthread_mutex_lock(&registry_lock);
	if (atomic_load(&n_buffers) < MAX_BUFFERS) {
		struct line_buffer *b = calloc(1, sizeof *b);
		if (b) {
			pthread_mutex_init(&b->lock, NULL);
			buffers[atomic_load(&n_buffers)] = b;
			atomic_fetch_add(&n_buffers, 1);
			mine = b;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	return mine;
}

void log_end_buffered(struct strbuf *sb)
{
	struct line_buffer *b;
	size_t len;

	strbuf_puts(sb, "}\n");
	if (strbuf_failed(sb))
		return;
	if (!atomic_load(&flusher_on) || !(b = my_buffer())) {
		write_all(sb->data, sb->len);
		return;
	}
	len = atomic_load_explicit(&b->len, memory_order_relaxed); /* this thread's own store */
	if (len + sb->len > BUFFER_BYTES) {
		/* what is buffered goes first; a line longer than the buffer goes straight after it */
		bool fits = sb->len <= BUFFER_BYTES;
		pthread_mutex_lock(&b->lock);
		write_published(b);
		b->flushed = 0;
		atomic_store_explicit(&b->len, 0, memory_order_relaxed);
		if (!fits)
			write_all(sb->data, sb->len);
		pthread_mutex_unlock(&b->lock);
		if (!fits)
			return;
		len = 0;
	}
	memcpy(b->data + len, sb->data, sb->len);
	atomic_store_explicit(&b->len, len + sb->len, memory_order_release);
}

static void flush_all(void)
{
	size_t i, n = atomic_load(&n_buffers);
	for (i = 0; i < n; i++) {
		pthread_mutex_lock(&buffers[i]->lock);
		write_published(buffers[i]);
		pthread_mutex_unlock(&buffers[i]->lock);
	}
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

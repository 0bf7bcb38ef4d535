/*
 * log — JSON lines on stderr, one write(2) per line so lines from different
 * threads never interleave.  Only main.c, the CLI commands, the HTTP
 * and API layers and the registry's watcher (a thread of its own) log;
 * library modules report through struct error instead.
 *
 *   {"ts":"2026-11-28T06:31:19.123Z","level":"info","event":"listening","msg":"..."}
 *
 * Thread-safety: safe from any thread.
 */
#ifndef SHELFCAST_LOG_H
#define SHELFCAST_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "shelfcast/strbuf.h"
#include "shelfcast/util.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Lines below this level are dropped (default LOG_INFO; SHELFCAST_LOG_LEVEL). */
void log_set_level(enum log_level level);

/* {"ts", "level", "event", "msg"} with msg formatted printf-style. */
void log_msg(enum log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Whether lines of this level are written (build a costly line only then). */
bool log_enabled(enum log_level level);

/*
 * Start a line with ts, level and event; the caller appends ",\"key\":value"
 * pairs and finishes with log_end (written at once) or log_end_buffered.
 */
void log_begin(struct strbuf *sb, enum log_level level, const char *event);
/* The same, stamped with a monotonic time (util_now_ns) through a writer's clock cache. */
void log_begin_at(struct strbuf *sb, enum log_level level, const char *event,
		  struct util_clock *clock, uint64_t mono_ns);
void log_end(struct strbuf *sb);

/*
 * Buffered lines, for the access log: a writer (a server worker) owns a
 * buffer and appends its lines to it; the buffer is written when it fills
 * (16 KiB), by a flusher thread every `interval_ms`, and when it is freed,
 * so a busy server makes one write(2) per buffer instead of one per
 * request.  Lines of one buffer come out whole, once, and in order.
 *
 * log_buffer_new: new, registered with the flusher; NULL when out of memory
 * or when 256 buffers exist (then pass NULL: lines are written at once).
 * log_buffer_free writes what is left and accepts NULL.  One writer per
 * buffer; the flusher may run concurrently.
 */
struct log_buffer;
struct log_buffer *log_buffer_new(void);
void log_buffer_free(struct log_buffer *b);
/* Finish the line in sb and append it to b; without b or without a flusher running, write it at once. */
void log_end_buffered(struct log_buffer *b, struct strbuf *sb);
/* log_start_flusher/log_stop_flusher bracket a server's life; log_stop_flusher writes everything left. */
void log_start_flusher(unsigned interval_ms);
void log_stop_flusher(void);

#endif

/*
 * log — JSON lines on stderr, one write(2) per line so lines from different
 * threads never interleave.  Only main.c, the CLI commands and the HTTP
 * layer log; library modules report through struct error instead.
 *
 *   {"ts":"2026-11-28T06:31:19.123Z","level":"info","event":"listening","msg":"..."}
 *
 * Thread-safety: safe from any thread.
 */
#ifndef SHELFCAST_LOG_H
#define SHELFCAST_LOG_H

#include "shelfcast/strbuf.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Lines below this level are dropped (default LOG_INFO; SHELFCAST_LOG_LEVEL). */
void log_set_level(enum log_level level);

/* {"ts", "level", "event", "msg"} with msg formatted printf-style. */
void log_msg(enum log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Start a line with ts, level and event; the caller appends ",\"key\":value"
 * pairs and finishes with log_end (written at once) or log_end_buffered.
 */
void log_begin(struct strbuf *sb, enum log_level level, const char *event);
/* The same, stamped with the given time (unix seconds) instead of now. */
void log_begin_at(struct strbuf *sb, enum log_level level, const char *event, double unix_seconds);
void log_end(struct strbuf *sb);

/*
 * Buffered lines, for the access log: appended to the calling thread's
 * buffer, written when it fills (16 KiB) and by a flusher thread every
 * `interval_ms`, so a busy server makes one write(2) per buffer instead of
 * one per request.  log_start_flusher/log_stop_flusher bracket a server's
 * life; log_stop_flusher writes everything left.  Without a flusher running,
 * log_end_buffered writes at once.
 */
void log_end_buffered(struct strbuf *sb);
void log_start_flusher(unsigned interval_ms);
void log_stop_flusher(void);

#endif

/* log — see include/shelfcast/log.h. */
#include "shelfcast/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
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
	char ts[40];
	util_format_time(ts, sizeof ts, util_unix_time());
	strbuf_puts(sb, "{\"ts\":\"");
	strbuf_puts(sb, ts);
	strbuf_puts(sb, "\",\"level\":\"");
	strbuf_puts(sb, level_name(level));
	strbuf_puts(sb, "\",\"event\":");
	strbuf_json_string(sb, event, strlen(event));
}

void log_end(struct strbuf *sb)
{
	size_t off = 0;
	strbuf_puts(sb, "}\n");
	if (strbuf_failed(sb))
		return;
	while (off < sb->len) {
		ssize_t n = write(STDERR_FILENO, sb->data + off, sb->len - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
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

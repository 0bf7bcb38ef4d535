/* worker — see include/shelfcast/worker.h. */
#include "shelfcast/worker.h"

#include <stdlib.h>
#include <string.h>

struct worker *worker_new(const void *owner, struct store *store, struct predlog *log)
{
	struct worker *w = calloc(1, sizeof *w);
	struct error err;

	error_init(&err);
	if (!w || api_worker_init(&w->api, store, log, &err) != ERROR_OK) {
		free(w);
		return NULL;
	}
	w->owner = owner;
	w->log = log_buffer_new();
	strbuf_init(&w->line);
	util_clock_init(&w->clock);
	util_random_bytes(&w->rng.s, sizeof w->rng.s);
	return w;
}

void worker_free(struct worker *w)
{
	if (!w)
		return;
	while (w->n_spare) {
		struct request *rq = w->spare[--w->n_spare];
		strbuf_done(&rq->body);
		free(rq);
	}
	api_worker_done(&w->api);
	log_buffer_free(w->log);
	strbuf_done(&w->line);
	free(w);
}

struct request *worker_request(struct worker *w)
{
	struct request *rq;

	if (w->n_spare) {
		rq = w->spare[--w->n_spare]; /* its body was emptied when it was put back */
		memset(&rq->st, 0, sizeof rq->st);
		return rq;
	}
	rq = calloc(1, sizeof *rq);
	if (rq) {
		strbuf_init(&rq->body);
		rq->w = w;
	}
	return rq;
}

void worker_release(struct worker *w, struct request *rq)
{
	if (rq->body.cap > KEEP_BODY_BYTES || strbuf_failed(&rq->body))
		strbuf_done(&rq->body);
	else
		strbuf_reset(&rq->body);
	if (w->n_spare < SPARE_REQUESTS) {
		w->spare[w->n_spare++] = rq;
		return;
	}
	strbuf_done(&rq->body);
	free(rq);
}

void worker_request_id(struct worker *w, struct request *rq, const char *given)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[16];
	uint64_t a, b;
	size_t i, n;

	if (given && (n = strlen(given)) > 0 && n <= REQUEST_ID_MAX) {
		for (i = 0; i < n; i++) {
			char c = given[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			      c == '-' || c == '_' || c == '.' || c == ':'))
				break;
		}
		if (i == n) {
			memcpy(rq->st.id, given, n + 1);
			rq->st.id_len = n;
			return;
		}
	}
	a = rng_next(&w->rng);
	b = rng_next(&w->rng);
	memcpy(raw, &a, 8);
	memcpy(raw + 8, &b, 8);
	for (i = 0; i < sizeof raw; i++) {
		rq->st.id[2 * i] = hex[raw[i] >> 4];
		rq->st.id[2 * i + 1] = hex[raw[i] & 15];
	}
	rq->st.id[32] = '\0';
	rq->st.id_len = 32;
}

/* Through the worker's line buffer: no allocation per request. */
void worker_access_log(struct worker *w, const struct request *rq, uint64_t end_ns, double seconds)
{
	enum log_level level = rq->st.status >= 500 ? LOG_ERROR : LOG_INFO;
	struct strbuf *sb = &w->line;
	long long us = (long long)(seconds * 1e6);
	char frac[5] = {'.', (char)('0' + us % 1000 / 100), (char)('0' + us % 100 / 10),
			(char)('0' + us % 10), 0};

	if (!log_enabled(level))
		return;
	strbuf_reset(sb);
	log_begin_at(sb, level, "request", &w->clock, end_ns);
	/* the id is the client's only when it is of [A-Za-z0-9._:-]: nothing to escape */
	strbuf_puts(sb, ",\"id\":\"");
	strbuf_append(sb, rq->st.id, rq->st.id_len);
	strbuf_puts(sb, "\",\"method\":");
	strbuf_json_string(sb, rq->st.method, rq->st.method_len);
	strbuf_puts(sb, ",\"path\":");
	strbuf_json_string(sb, rq->st.path, rq->st.path_len);
	strbuf_puts(sb, ",\"status\":");
	strbuf_json_int(sb, rq->st.status);
	strbuf_puts(sb, ",\"worker\":");
	strbuf_json_int(sb, w->index);
	strbuf_puts(sb, ",\"duration_ms\":");
	strbuf_json_int(sb, us / 1000);
	strbuf_puts(sb, frac);
	strbuf_puts(sb, ",\"items\":");
	strbuf_json_int(sb, (long long)rq->st.result.items);
	if (rq->st.result.model[0]) {
		strbuf_puts(sb, ",\"model\":");
		strbuf_json_string(sb, rq->st.result.model, strlen(rq->st.result.model));
		strbuf_puts(sb, ",\"version\":");
		strbuf_json_int(sb, rq->st.result.version);
	} else {
		strbuf_puts(sb, ",\"model\":null,\"version\":null");
	}
	if (rq->st.error_code) {
		strbuf_puts(sb, ",\"error\":");
		strbuf_json_string(sb, rq->st.error_code, strlen(rq->st.error_code));
		if (rq->st.error_field[0]) {
			strbuf_puts(sb, ",\"field\":");
			strbuf_json_string(sb, rq->st.error_field, strlen(rq->st.error_field));
		}
	}
	if (rq->st.terminated)
		strbuf_printf(sb, ",\"terminated\":%d", rq->st.terminated);
	log_end_buffered(w->log, sb);
	if (strbuf_failed(sb))
		strbuf_done(sb);
}


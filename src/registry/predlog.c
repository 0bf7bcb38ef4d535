/* predlog — see include/shelfcast/predlog.h. */
#include "shelfcast/predlog.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shelfcast/uuid7.h"
#include "shelfcast/db.h"
#include "shelfcast/log.h"
#include "shelfcast/strbuf.h"
#include "shelfcast/util.h"

/* A record's fixed part; the model name and the features follow. */
struct predlog_slot {
	uint32_t size;         /* bytes of the whole record, a multiple of 8; SLOT_WRAP: skip to the start */
	uint16_t name_len;
	uint8_t flags;         /* SLOT_* */
	uint8_t pad;
	uint32_t features_len;
	int32_t version, level;
	uint8_t id[16];
	uint64_t ms;
	double price, predicted, expected, exposure, sales_t, lower, upper, coverage;
};

#define SLOT_WRAP 1u
#define SLOT_LOG_TARGET 2u
#define SLOT_PRICE 4u
#define SLOT_INTERVAL 8u

/* A ring: one producer (its worker), one consumer (the logger); head and tail only grow. */
struct predlog_ring {
	_Alignas(64) atomic_uint_fast64_t head;  /* written by the producer */
	atomic_uint_fast64_t put;                /* records put, by the producer */
	atomic_uint_fast64_t full;               /* records dropped: no room, by the producer */
	_Alignas(64) atomic_uint_fast64_t tail;  /* written by the consumer */
	uint64_t taken;                          /* records taken, the consumer's */
	size_t cap, mask;
	unsigned char *mem;
	struct predlog_ring *next;
};

/* Rows per COPY at most, and the bytes of COPY data past which a batch is sent. */
#define BATCH_ROWS 50000
#define BATCH_BYTES (8u << 20)
/* An idle logger looks at the rings this often. */
#define IDLE_NS (20 * 1000 * 1000)
/* Seconds between partition upkeeps; backoff bounds while the database is away. */
#define PARTITIONS_EVERY_S 3600.0
#define BACKOFF_MIN_S 0.25
#define BACKOFF_MAX_S 5.0

struct predlog {
	struct predlog_config cfg;
	char *conninfo;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	atomic_bool kicked;
	double flush_until;         /* set by stop: keep writing until then (unix monotonic seconds) */
	pthread_mutex_t lock;       /* guards rings (the list) and live */
	struct predlog_ring *rings;
	char *live;
	atomic_uint_fast64_t written, lost; /* rows committed; rows of failed COPYs or left at stop */
	atomic_bool db_up;
	PGconn *conn;               /* the thread's */
	struct strbuf batch;        /* the thread's: COPY binary data */
	size_t batch_rows;
	double next_partitions, next_live, backoff, retry_at;
};

/* ---- ids ---- */

void predlog_begin(struct predlog_writer *w, double unix_seconds)
{
	w->ms = unix_seconds > 0 ? (uint64_t)(unix_seconds * 1000.0) : 0;
	predlog_rollback(w);
}

void predlog_rollback(struct predlog_writer *w)
{
	if (w->ring)
		w->head = atomic_load_explicit(&w->ring->head, memory_order_relaxed);
	w->n_put = w->n_full = 0;
}

void predlog_commit(struct predlog_writer *w)
{
	struct predlog_ring *r = w->ring;

	if (!r || (!w->n_put && !w->n_full))
		return;
	/* the producer alone writes these: a plain load and a store, no locked instruction */
	atomic_store_explicit(&r->full, atomic_load_explicit(&r->full, memory_order_relaxed) + w->n_full,
			      memory_order_relaxed);
	atomic_store_explicit(&r->head, w->head, memory_order_release);
	atomic_store_explicit(&r->put, atomic_load_explicit(&r->put, memory_order_relaxed) + w->n_put,
			      memory_order_release);
	w->n_put = w->n_full = 0;
}

bool predlog_id_valid(const char *text, size_t len)
{
	return len == PREDLOG_ID_TEXT - 1 && uuid7_valid_text(text, len);
}

/* ---- the producer's side ---- */

static size_t round8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* Copy rec into r under id; false when there is no room (the caller counts it). */
static bool ring_put(struct predlog_ring *r, uint64_t *head, const uint8_t id[16], uint64_t ms,
		     const struct predlog_record *rec)
{
	size_t name_len = strlen(rec->model), features_len = rec->features_len, need, off, room;
	uint64_t h = *head;
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
	struct predlog_slot s;
	unsigned char *p;

	if (!rec->features)
		features_len = json_dumpb(rec->features_json, NULL, 0, JSON_COMPACT);
	if (name_len > UINT16_MAX || features_len > r->cap / 4)
		return false;
	need = round8(sizeof s + name_len + features_len);
	off = (size_t)(h & r->mask);
	room = r->cap - (size_t)(h - t);
	if (r->cap - off < need) { /* it does not fit before the end: a wrap mark, then from the start */
		if (room < (r->cap - off) + need)
			return false;
		memset(&s, 0, sizeof s);
		s.size = (uint32_t)(r->cap - off);
		s.flags = SLOT_WRAP;
		memcpy(r->mem + off, &s, sizeof s.size + 4); /* size and flags: all a reader looks at */
		h += r->cap - off;
		off = 0;
	} else if (room < need) {
		return false;
	}
	memset(&s, 0, sizeof s);
	s.size = (uint32_t)need;
	s.name_len = (uint16_t)name_len;
	s.features_len = (uint32_t)features_len;
	s.version = rec->version;
	s.level = rec->level;
	memcpy(s.id, id, 16);
	s.ms = ms;
	s.flags = (uint8_t)((rec->log_target ? SLOT_LOG_TARGET : 0) | (isfinite(rec->price) ? SLOT_PRICE : 0) |
			    (isfinite(rec->lower) && isfinite(rec->upper) ? SLOT_INTERVAL : 0));
	s.price = rec->price;
	s.predicted = rec->predicted_sales;
	s.expected = rec->expected_sales;
	s.exposure = rec->exposure_probability;
	s.sales_t = rec->sales_t;
	s.lower = rec->lower;
	s.upper = rec->upper;
	s.coverage = rec->coverage;
	p = r->mem + off;
	memcpy(p, &s, sizeof s);
	memcpy(p + sizeof s, rec->model, name_len);
	if (rec->features)
		memcpy(p + sizeof s + name_len, rec->features, features_len);
	else
		json_dumpb(rec->features_json, (char *)p + sizeof s + name_len, features_len, JSON_COMPACT);
	*head = h + need; /* published by predlog_commit */
	return true;
}

void predlog_log(struct predlog_writer *w, const struct predlog_record *rec, char id[PREDLOG_ID_TEXT])
{
	uint8_t raw[16];

	uuid7_make(w->ms, &w->rng, raw);
	uuid7_text(raw, id);
	if (!w->ring || (w->threshold != UINT64_MAX && rng_next(&w->rng) >= w->threshold))
		return;
	if (ring_put(w->ring, &w->head, raw, w->ms, rec))
		w->n_put++;
	else
		w->n_full++;
}

enum error_code predlog_writer_init(struct predlog_writer *w, struct predlog *l, struct error *err)
{
	struct predlog_ring *r;
	size_t cap = 4096;

	memset(w, 0, sizeof *w);
	util_random_bytes(&w->rng.s, sizeof w->rng.s);
	w->threshold = UINT64_MAX;
	if (!l || !(l->cfg.rate > 0))
		return ERROR_OK;
	if (l->cfg.rate < 1)
		w->threshold = (uint64_t)(l->cfg.rate * 18446744073709551616.0);
	while (cap < l->cfg.queue_bytes)
		cap <<= 1;
	r = calloc(1, sizeof *r);
	if (!r || !(r->mem = malloc(cap))) {
		free(r);
		return error_nomem(err, "a prediction log queue");
	}
	r->cap = cap;
	r->mask = cap - 1;
	pthread_mutex_lock(&l->lock);
	r->next = l->rings;
	l->rings = r;
	pthread_mutex_unlock(&l->lock);
	w->ring = r;
	w->head = 0;
	return ERROR_OK;
}

void predlog_writer_done(struct predlog_writer *w)
{
	memset(w, 0, sizeof *w); /* the ring is the logger's, drained and freed at predlog_stop */
}

/* ---- the logger's side ---- */

/*
 * The batch is COPY's binary format (PostgreSQL's "COPY ... FROM STDIN (FORMAT
 * binary)"): a signature and two zero words, then per row a 16-bit field count
 * and each field as a 32-bit length (-1: NULL) and its bytes, big-endian; a
 * 16-bit -1 ends the data.  No number is formatted and no text escaped here,
 * and the server parses none: about a third of the backend's time a row, and
 * most of the logger's, went to text (docs/performance.md).
 */
static const char copy_signature[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', '\0'};
#define COPY_FIELDS 15 /* copy_sql's columns, in its order: copy_row writes each */
/* Microseconds from the unix epoch to PostgreSQL's (2000-01-01 UTC). */
#define PG_EPOCH_US INT64_C(946684800000000)

static void put_be(struct strbuf *sb, uint64_t v, int bytes)
{
	unsigned char b[8];
	int i;

	for (i = 0; i < bytes; i++)
		b[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
	strbuf_append(sb, (const char *)b, (size_t)bytes);
}

static void field_null(struct strbuf *sb)
{
	put_be(sb, UINT32_MAX, 4);
}

static void field_bytes(struct strbuf *sb, const void *p, size_t n)
{
	put_be(sb, n, 4);
	strbuf_append(sb, p, n);
}

static void field_int4(struct strbuf *sb, int32_t v)
{
	put_be(sb, 4, 4);
	put_be(sb, (uint32_t)v, 4);
}

static void field_float8(struct strbuf *sb, double v)
{
	uint64_t bits;

	memcpy(&bits, &v, sizeof bits);
	put_be(sb, 8, 4);
	put_be(sb, bits, 8);
}

/* A record's COPY row (binary), in copy_sql's column order. */
static void copy_row(struct strbuf *sb, const struct predlog_slot *s, const unsigned char *rest)
{
	unsigned char yes = 1, no = 0;

	put_be(sb, COPY_FIELDS, 2);
	field_bytes(sb, s->id, sizeof s->id);                       /* uuid: its 16 bytes */
	put_be(sb, 8, 4);                                          /* timestamptz: microseconds since 2000 */
	put_be(sb, (uint64_t)((int64_t)s->ms * 1000 - PG_EPOCH_US), 8);
	field_bytes(sb, rest, s->name_len);                        /* text */
	field_int4(sb, s->version);
	field_bytes(sb, rest + s->name_len, s->features_len);      /* text: the features as sent */
	field_int4(sb, s->level);
	if (s->flags & SLOT_PRICE)
		field_float8(sb, s->price);
	else
		field_null(sb);
	field_float8(sb, s->predicted);
	field_float8(sb, s->expected);
	field_float8(sb, s->exposure);
	field_float8(sb, s->sales_t);
	field_bytes(sb, s->flags & SLOT_LOG_TARGET ? &yes : &no, 1); /* bool */
	if (s->flags & SLOT_INTERVAL) {
		field_float8(sb, s->lower);
		field_float8(sb, s->upper);
		field_float8(sb, s->coverage);
	} else {
		field_null(sb);
		field_null(sb);
		field_null(sb);
	}
}

/* Move records of r into the batch until it is full; their ring space is given back. */
static void drain_ring(struct predlog *l, struct predlog_ring *r)
{
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);

	while (t < h && l->batch_rows < BATCH_ROWS && l->batch.len < BATCH_BYTES) {
		const unsigned char *p = r->mem + (t & r->mask);
		struct predlog_slot s;

		memcpy(&s, p, sizeof s.size + 4);
		if (s.flags & SLOT_WRAP) {
			t += s.size;
			continue;
		}
		memcpy(&s, p, sizeof s);
		if (!l->batch_rows && !l->batch.len) {
			strbuf_append(&l->batch, copy_signature, sizeof copy_signature);
			put_be(&l->batch, 0, 4); /* flags */
			put_be(&l->batch, 0, 4); /* header extension: none */
		}
		copy_row(&l->batch, &s, p + sizeof s);
		t += s.size;
		r->taken++;
		l->batch_rows++;
	}
	atomic_store_explicit(&r->tail, t, memory_order_release);
}

static void drain(struct predlog *l)
{
	struct predlog_ring *r;

	pthread_mutex_lock(&l->lock);
	r = l->rings;
	pthread_mutex_unlock(&l->lock);
	for (; r; r = r->next) /* the list only grows at its head: the rest is stable */
		drain_ring(l, r);
}

static const char copy_sql[] =
	"COPY shelfcast.predictions (prediction_id, at, model, version, features, promotion_level, price, "
	"predicted_sales, expected_sales, exposure_probability, sales_t, log_target, interval_lower, "
	"interval_upper, interval_coverage) FROM STDIN (FORMAT binary)";

static void disconnect(struct predlog *l, const char *why)
{
	if (l->conn && atomic_load(&l->db_up))
		log_msg(LOG_WARN, "prediction_log_down", "prediction log: %s; reconnecting", why);
	PQfinish(l->conn);
	l->conn = NULL;
	atomic_store(&l->db_up, false);
}

/* Send the batch as one COPY; its rows are written or lost.  false: the connection failed. */
static bool send_batch(struct predlog *l)
{
	PGresult *res;
	bool ok;
	char why[256] = "";

	if (!l->batch_rows)
		return true;
	put_be(&l->batch, UINT16_MAX, 2); /* the end of the data */
	if (strbuf_failed(&l->batch)) {
		atomic_fetch_add(&l->lost, l->batch_rows);
		ok = true;
		goto out;
	}
	res = PQexec(l->conn, copy_sql);
	ok = PQresultStatus(res) == PGRES_COPY_IN;
	if (!ok)
		snprintf(why, sizeof why, "%s", PQerrorMessage(l->conn));
	PQclear(res);
	if (ok && PQputCopyData(l->conn, l->batch.data, (int)l->batch.len) != 1) {
		ok = false;
		snprintf(why, sizeof why, "%s", PQerrorMessage(l->conn));
		PQputCopyEnd(l->conn, "the batch could not be sent"); /* end the COPY: it fails, rolled back */
	} else if (ok && PQputCopyEnd(l->conn, NULL) != 1) {
		ok = false;
		snprintf(why, sizeof why, "%s", PQerrorMessage(l->conn));
	}
	while ((res = PQgetResult(l->conn))) {
		ExecStatusType st = PQresultStatus(res);
		if (st != PGRES_COMMAND_OK && ok) {
			ok = false;
			snprintf(why, sizeof why, "%s", PQresultErrorMessage(res));
		}
		PQclear(res);
		if (st == PGRES_COPY_IN) { /* the COPY could not be ended: the connection is given up below */
			ok = false;
			break;
		}
	}
	if (ok) {
		atomic_fetch_add(&l->written, l->batch_rows);
		l->backoff = BACKOFF_MIN_S;
	} else {
		/*
		 * Lost, and the connection given up with a backoff that only a COPY that
		 * succeeds resets: a database that refuses every batch (a role without
		 * INSERT, a missing table) costs one warning per backoff, not one per batch.
		 */
		atomic_fetch_add(&l->lost, l->batch_rows);
		why[strcspn(why, "\n")] = '\0';
		log_msg(LOG_WARN, "prediction_log_copy", "prediction log: %zu rows lost: %s", l->batch_rows, why);
		disconnect(l, "a COPY failed");
		l->retry_at = util_now_s() + l->backoff;
		l->backoff = l->backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : l->backoff * 2;
	}
out:
	strbuf_reset(&l->batch);
	if (strbuf_failed(&l->batch))
		strbuf_done(&l->batch);
	l->batch_rows = 0;
	return db_ok(l->conn);
}

static void partitions(struct predlog *l)
{
	char days[16];
	const char *params[1] = {days};
	struct error err;
	PGresult *r = NULL;

	error_init(&err);
	snprintf(days, sizeof days, "%d", l->cfg.retention_days);
	if (db_query(l->conn, "SELECT created, dropped FROM shelfcast.prediction_partitions($1::integer)", 1,
		     params, &r, &err) != ERROR_OK) {
		log_msg(LOG_WARN, "prediction_partitions", "prediction log: %s", err.message);
		return;
	}
	if (atoi(PQgetvalue(r, 0, 0)) || atoi(PQgetvalue(r, 0, 1)))
		log_msg(LOG_INFO, "prediction_partitions", "prediction log: %s day partitions created, %s dropped",
			PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
	PQclear(r);
}

/* A double column as JSON: null when NULL. */
static json_t *column_number(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return json_null();
	return json_real(strtod(PQgetvalue(r, row, col), NULL));
}

static void read_live(struct predlog *l)
{
	char window[32];
	const char *params[1] = {window};
	struct error err;
	PGresult *r = NULL;
	json_t *doc, *models;
	char *text;
	int i;

	error_init(&err);
	snprintf(window, sizeof window, "%.17g", l->cfg.live_window_days);
	if (db_query(l->conn,
		     "SELECT model, version, outcomes, to_char(since AT TIME ZONE 'UTC', "
		     "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), sales_r2_log, sales_mae_log, sales_wmape, "
		     "exposure_auc, interval_coverage FROM shelfcast.live_metrics($1::double precision)",
		     1, params, &r, &err) != ERROR_OK) {
		log_msg(LOG_WARN, "live_metrics", "live accuracy: %s", err.message);
		return;
	}
	doc = json_pack("{s:f, s:{}}", "window_days", l->cfg.live_window_days, "models");
	models = json_object_get(doc, "models");
	for (i = 0; doc && i < PQntuples(r); i++) {
		const char *name = PQgetvalue(r, i, 0), *version = PQgetvalue(r, i, 1);
		json_t *m = json_object_get(models, name);
		if (!m) {
			m = json_object();
			json_object_set_new(models, name, m);
		}
		json_object_set_new(m, version,
				    json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:o}", "outcomes",
					      (json_int_t)strtoll(PQgetvalue(r, i, 2), NULL, 10), "since",
					      PQgetvalue(r, i, 3), "sales_r2_log", column_number(r, i, 4),
					      "sales_mae_log", column_number(r, i, 5), "sales_wmape",
					      column_number(r, i, 6), "exposure_auc", column_number(r, i, 7),
					      "interval_coverage", column_number(r, i, 8)));
	}
	PQclear(r);
	text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
	json_decref(doc);
	if (!text)
		return;
	pthread_mutex_lock(&l->lock);
	free(l->live);
	l->live = text;
	pthread_mutex_unlock(&l->lock);
}

static bool connect_db(struct predlog *l, double now)
{
	struct error err;

	if (l->conn)
		return true;
	if (now < l->retry_at)
		return false;
	error_init(&err);
	if (db_connect(l->conninfo, &l->conn, &err) != ERROR_OK) {
		PQfinish(l->conn);
		l->conn = NULL;
		l->retry_at = now + l->backoff;
		l->backoff = l->backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : l->backoff * 2;
		return false;
	}
	log_msg(LOG_INFO, "prediction_log_up", "prediction log: connected");
	atomic_store(&l->db_up, true);
	l->next_partitions = 0;
	l->next_live = 0;
	return true;
}

static uint64_t queued(struct predlog *l)
{
	struct predlog_ring *r;
	uint64_t n = 0;

	pthread_mutex_lock(&l->lock);
	for (r = l->rings; r; r = r->next)
		n += atomic_load_explicit(&r->put, memory_order_acquire) - r->taken;
	pthread_mutex_unlock(&l->lock);
	return n;
}

static void *run(void *arg)
{
	struct predlog *l = arg;
	struct timespec idle = {0, IDLE_NS};

	for (;;) {
		double now = util_now_s();
		bool stopping = atomic_load(&l->stop);

		if (stopping && (now >= l->flush_until || queued(l) == 0))
			break;
		if (!connect_db(l, now)) {
			nanosleep(&idle, NULL);
			continue;
		}
		if (now >= l->next_partitions) {
			partitions(l);
			l->next_partitions = now + PARTITIONS_EVERY_S;
		}
		drain(l);
		if (l->batch_rows) {
			size_t rows = l->batch_rows;
			if (!send_batch(l))
				continue;
			if (rows >= BATCH_ROWS / 2)
				continue; /* more are waiting */
		}
		if (!l->conn)
			continue;
		if (!stopping && (atomic_exchange(&l->kicked, false) || now >= l->next_live)) {
			read_live(l);
			l->next_live = now + l->cfg.live_interval;
			if (!db_ok(l->conn))
				disconnect(l, "the connection failed");
		}
		nanosleep(&idle, NULL);
	}
	return NULL;
}

struct predlog *predlog_start(const struct predlog_config *cfg, struct error *err)
{
	struct predlog *l = calloc(1, sizeof *l);

	if (!l || !(l->conninfo = strdup(cfg->conninfo ? cfg->conninfo : ""))) {
		free(l);
		return error_nomem(err, "the prediction log"), NULL;
	}
	l->cfg = *cfg;
	if (!l->cfg.queue_bytes)
		l->cfg.queue_bytes = PREDLOG_QUEUE_DEFAULT;
	if (l->cfg.retention_days < 1)
		l->cfg.retention_days = PREDLOG_RETENTION_DEFAULT;
	if (!(l->cfg.live_window_days > 0))
		l->cfg.live_window_days = PREDLOG_LIVE_WINDOW_DEFAULT;
	if (!(l->cfg.live_interval > 0))
		l->cfg.live_interval = PREDLOG_LIVE_INTERVAL_DEFAULT;
	l->cfg.conninfo = l->conninfo;
	l->backoff = BACKOFF_MIN_S;
	pthread_mutex_init(&l->lock, NULL);
	strbuf_init(&l->batch);
	if (pthread_create(&l->thread, NULL, run, l) != 0) {
		predlog_stop(l, 0, NULL);
		return error_set(err, ERROR_IO, NULL, "cannot start the prediction logger thread"), NULL;
	}
	l->started = true;
	return l;
}

void predlog_stop(struct predlog *l, double flush_seconds, struct predlog_stats *final)
{
	struct predlog_ring *r, *next;

	if (final)
		memset(final, 0, sizeof *final);
	if (!l)
		return;
	l->flush_until = util_now_s() + flush_seconds;
	atomic_store(&l->stop, true);
	if (l->started)
		pthread_join(l->thread, NULL);
	if (l->batch_rows) /* a batch the last COPY could not send */
		atomic_fetch_add(&l->lost, l->batch_rows);
	for (r = l->rings; r; r = next) {
		next = r->next;
		atomic_fetch_add(&l->lost, atomic_load(&r->put) - r->taken);
		if (final)
			final->dropped += atomic_load(&r->full);
		free(r->mem);
		free(r);
	}
	if (final) {
		final->written = atomic_load(&l->written);
		final->dropped += atomic_load(&l->lost);
	}
	if (l->conn)
		PQfinish(l->conn);
	strbuf_done(&l->batch);
	pthread_mutex_destroy(&l->lock);
	free(l->live);
	free(l->conninfo);
	free(l);
}

void predlog_stats(struct predlog *l, struct predlog_stats *out)
{
	struct predlog_ring *r;

	memset(out, 0, sizeof *out);
	if (!l)
		return;
	out->written = atomic_load(&l->written);
	out->dropped = atomic_load(&l->lost);
	out->db_up = atomic_load(&l->db_up);
	pthread_mutex_lock(&l->lock);
	for (r = l->rings; r; r = r->next) {
		/* taken is the logger's: read here it may lag, which only shifts rows between queued and written */
		out->dropped += atomic_load_explicit(&r->full, memory_order_relaxed);
		out->queued += atomic_load_explicit(&r->put, memory_order_acquire);
	}
	pthread_mutex_unlock(&l->lock);
	out->queued -= out->written + atomic_load(&l->lost) > out->queued ? out->queued
									     : out->written + atomic_load(&l->lost);
}

char *predlog_live(struct predlog *l)
{
	char *copy = NULL;

	if (!l)
		return NULL;
	pthread_mutex_lock(&l->lock);
	if (l->live)
		copy = strdup(l->live);
	pthread_mutex_unlock(&l->lock);
	return copy;
}

void predlog_kick(struct predlog *l)
{
	if (l)
		atomic_store(&l->kicked, true);
}

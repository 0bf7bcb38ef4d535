/*
 * predlog — prediction ids and the prediction log, written off the request
 * path (docs/monitoring.md).
 *
 * Every prediction gets an id, a UUIDv7: 48 bits of unix milliseconds (the
 * request's time, read once per request), the version nibble, then 74 bits
 * of the worker's own generator (splitmix64, seeded from getrandom), so ids
 * are unique across threads, replicas and restarts with no lock and no
 * system call per item.  The id's time is the logged row's `at`, so the
 * database finds a prediction's day partition from the id alone.
 *
 * Logging: each writer (one per server worker) owns a fixed ring of bytes,
 * single producer (its worker) and single consumer (the logger thread):
 *
 *   ring:  [record][record]...[wrap][record]...      positions grow forever; index = pos & mask
 *   record: struct predlog_slot (size, lengths, id, time, numbers), then the
 *           model name, then the features' JSON text, padded to 8 bytes
 *
 * A put copies the record in and publishes it with one release store; a
 * full ring drops the record and counts it (never waits).  The logger thread
 * has its own connection: it drains every ring into one COPY ... FROM STDIN
 * (binary format) per batch, creates the day partitions ahead and drops those
 * past the retention (shelfcast.prediction_partitions), and reads the live
 * accuracy of every version (shelfcast.live_metrics) every live_interval
 * seconds or when kicked.  While the database is away records wait in the
 * rings (and are dropped, counted, once a ring is full); a COPY that fails
 * counts its records dropped.  So, at any time,
 *   answered and sampled = written + dropped + queued
 * exactly, and queued is 0 once the logger has stopped.
 *
 * Thread-safety: predlog_start/stop from one thread; predlog_stats,
 * predlog_live and predlog_kick from any; a struct predlog_writer belongs to
 * one thread (its worker).
 */
#ifndef SHELFCAST_PREDLOG_H
#define SHELFCAST_PREDLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shelfcast/error.h"
#include "shelfcast/rng.h"

struct json_t;

#define PREDLOG_ID_TEXT 37 /* "xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx" and its NUL */

#define PREDLOG_QUEUE_DEFAULT (16u << 20)   /* bytes per writer's ring */
#define PREDLOG_RETENTION_DEFAULT 30        /* days */
#define PREDLOG_LIVE_WINDOW_DEFAULT 30.0    /* days */
#define PREDLOG_LIVE_INTERVAL_DEFAULT 15.0  /* seconds */

struct predlog_config {
	const char *conninfo;     /* the registry database */
	double rate;              /* share of predictions logged, in [0, 1]; 0: none (ids still given) */
	size_t queue_bytes;       /* each writer's ring, rounded up to a power of two (0: the default) */
	int retention_days;       /* day partitions kept (at least 1) */
	double live_window_days;  /* live accuracy over predictions this recent */
	double live_interval;     /* seconds between reads of the live accuracy (<= 0: the default) */
};

struct predlog;

/* Start the logger thread (it connects in the background).  NULL + err when out of memory. */
struct predlog *predlog_start(const struct predlog_config *cfg, struct error *err);

/*
 * Stop: write what the rings hold (for up to flush_seconds while the
 * database answers; the rest is counted dropped), stop the thread, free
 * everything (writers' rings included).  After every writer's last put.
 * final (may be NULL): the counts at the end (queued 0).  Accepts NULL.
 */
struct predlog_stats;
void predlog_stop(struct predlog *l, double flush_seconds, struct predlog_stats *final);

struct predlog_stats {
	uint64_t written;   /* rows the database committed */
	uint64_t dropped;   /* records lost: ring full, a failed COPY, or left at stop */
	uint64_t queued;    /* records in the rings now */
	bool db_up;
};
/* Counts so far (zero for NULL). */
void predlog_stats(struct predlog *l, struct predlog_stats *out);

/*
 * The last live accuracy read, as JSON text (new, free it), or NULL before
 * the first read:
 *   {"window_days": W, "models": {"NAME": {"VERSION": {"outcomes", "since",
 *     "sales_r2_log", "sales_mae_log", "sales_wmape", "exposure_auc",
 *     "interval_coverage"}}}}
 */
char *predlog_live(struct predlog *l);
/* Read the live accuracy again soon (after outcomes were recorded). */
void predlog_kick(struct predlog *l);

/* What a prediction answered, for the log.  Borrowed during predlog_log only. */
struct predlog_record {
	const char *model;
	int version;
	const char *features;               /* the item's features as JSON text, or NULL: */
	size_t features_len;
	const struct json_t *features_json; /* ...dumped compact when features is NULL */
	int level;                          /* the promotion level the numbers are for */
	double price;                       /* the price they are for (NAN: none) */
	double predicted_sales, expected_sales, exposure_probability;
	double sales_t;                     /* the sales head in the target's scale */
	bool log_target;                    /* that scale is log1p(units) */
	double lower, upper, coverage;      /* the interval (NAN: none) */
};

/* One worker's id generator and ring.  Caller-owned: init/done. */
struct predlog_writer {
	struct rng rng;
	struct predlog_ring *ring; /* NULL: ids only, nothing logged */
	uint64_t threshold;        /* log a prediction when rng_next < threshold; UINT64_MAX: all */
	uint64_t ms;               /* the current request's time (predlog_begin) */
	uint64_t head;             /* the ring's head with this request's records, not yet published */
	uint64_t n_put, n_full;    /* this request's records put, and dropped for want of room */
};

/*
 * l NULL or its rate 0: ids only.  Else a ring of the logger's, which the
 * logger owns and frees at predlog_stop.  ERROR_NOMEM when out of memory.
 */
enum error_code predlog_writer_init(struct predlog_writer *w, struct predlog *l, struct error *err);
void predlog_writer_done(struct predlog_writer *w);

/*
 * A request begins: its time, unix seconds (read once per request), is the
 * ids' and the rows'.  Its records are published together by
 * predlog_commit (a reply that was sent) or forgotten by predlog_rollback
 * (a reply that was not: an error, or the fast parser giving the request up
 * to jansson after some tiles were written).
 */
void predlog_begin(struct predlog_writer *w, double unix_seconds);
void predlog_commit(struct predlog_writer *w);
void predlog_rollback(struct predlog_writer *w);

/*
 * A new prediction: its id's text into id (PREDLOG_ID_TEXT bytes), and rec
 * logged under it when sampled (dropped and counted when its ring is full).
 * No lock, no system call, no allocation.
 */
void predlog_log(struct predlog_writer *w, const struct predlog_record *rec, char id[PREDLOG_ID_TEXT]);

/* Is text (len bytes) a prediction id as predlog_log writes them (any UUID, lower or upper case)? */
bool predlog_id_valid(const char *text, size_t len);

#endif

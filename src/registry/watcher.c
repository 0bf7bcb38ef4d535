/* watcher — see include/shelfcast/watcher.h. */
#include "shelfcast/watcher.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "shelfcast/db.h"
#include "shelfcast/log.h"
#include "shelfcast/migrate.h"
#include "shelfcast/registry.h"
#include "shelfcast/util.h"

#define BACKOFF_MIN 0.25
#define BACKOFF_MAX 30.0
#define MAX_FAILED 256
#define PROBE_WAIT_S 1.0
#define LAG_RETRY_S 0.05

struct failed_version {
	char model[MODEL_NAME_MAX + 1];
	int version;
};

struct watcher {
	struct watcher_config cfg;
	char *conninfo, *actor;
	char *listen_conninfo; /* NULL: LISTEN on conn; "": nowhere; else on lconn */
	char *read_conninfo;   /* NULL: read from conn; else from rconn */
	pthread_t thread;
	int wake_fd;
	atomic_bool stop;
	atomic_bool db_up;
	atomic_bool synced;
	atomic_uint_fast64_t loads_ok, loads_failed;
	PGconn *conn;
	PGconn *lconn; /* the LISTEN connection: conn itself, a second one, or NULL */
	PGconn *rconn; /* where versions and the catalog are read: conn itself or a replica */
	bool lagging;  /* the replica lacked an active version: sync again soon */
	atomic_bool listening;
	pthread_mutex_t lock; /* guards catalog */
	char *catalog;
	struct failed_version failed[MAX_FAILED];
	size_t n_failed;
};

static void wake(struct watcher *w)
{
	uint64_t one = 1;
	if (write(w->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_msg(LOG_WARN, "watcher", "cannot wake the watcher: %s", strerror(errno));
}

void watcher_kick(struct watcher *w)
{
	if (w)
		wake(w);
}

char *watcher_catalog(struct watcher *w)
{
	char *copy = NULL;
	if (!w)
		return NULL;
	pthread_mutex_lock(&w->lock);
	if (w->catalog)
		copy = strdup(w->catalog);
	pthread_mutex_unlock(&w->lock);
	return copy;
}

bool watcher_db_up(struct watcher *w)
{
	return w && atomic_load(&w->db_up);
}

const char *watcher_notify_mode(struct watcher *w)
{
	return w && atomic_load(&w->listening) ? "listen" : "poll";
}

bool watcher_synced(struct watcher *w)
{
	return w && atomic_load(&w->synced);
}

bool watcher_wait_synced(struct watcher *w, double seconds)
{
	double deadline = util_now_s() + seconds;
	struct timespec step = {0, 5 * 1000000L};

	while (w && !atomic_load(&w->synced) && util_now_s() < deadline)
		nanosleep(&step, NULL);
	return watcher_synced(w);
}

void watcher_loads(struct watcher *w, uint64_t *ok, uint64_t *failed)
{
	*ok = w ? atomic_load(&w->loads_ok) : 0;
	*failed = w ? atomic_load(&w->loads_failed) : 0;
}

static void set_up(struct watcher *w, bool up)
{
	atomic_store(&w->db_up, up);
}

static void close_listen(struct watcher *w)
{
	if (w->lconn && w->lconn != w->conn)
		PQfinish(w->lconn);
	w->lconn = NULL;
	atomic_store(&w->listening, false);
}

static void drop_connection(struct watcher *w, const char *why)
{
	close_listen(w);
	if (w->rconn && w->rconn != w->conn)
		PQfinish(w->rconn);
	w->rconn = NULL;
	if (w->conn) {
		if (why)
			log_msg(LOG_WARN, "database_down", "lost the registry database: %s", why);
		PQfinish(w->conn);
		w->conn = NULL;
	}
	set_up(w, false);
}

/* Wait up to `seconds` or until woken; returns true when woken (drains the fd). */
static bool wait_wake(struct watcher *w, int extra_fd, double seconds, bool *extra_ready)
{
	struct pollfd p[2] = {{.fd = w->wake_fd, .events = POLLIN}, {.fd = extra_fd, .events = POLLIN}};
	int timeout = seconds <= 0 ? 0 : seconds > 3600 ? 3600000 : (int)(seconds * 1000.0) + 1;
	int n = poll(p, extra_fd >= 0 ? 2 : 1, timeout);
	bool woken = false;

	if (extra_ready)
		*extra_ready = n > 0 && extra_fd >= 0 && (p[1].revents & (POLLIN | POLLERR | POLLHUP));
	if (n > 0 && (p[0].revents & POLLIN)) {
		uint64_t v;
		if (read(w->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
			log_msg(LOG_WARN, "watcher", "cannot read the wake-up counter: %s", strerror(errno));
		woken = true;
	}
	return woken;
}

/* Non-blocking connect that the stop signal can interrupt; 10 s deadline. */
static PGconn *connect_interruptible(struct watcher *w, const char *conninfo, char *why,
				      size_t why_size)
{
	double deadline = util_now_s() + DB_CONNECT_TIMEOUT_S;
	PGconn *c = db_connect_start(conninfo, "shelfcast-watcher");
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	if (!c || PQstatus(c) == CONNECTION_BAD)
		goto fail;
	while (st != PGRES_POLLING_OK) {
		struct pollfd p[2] = {{.fd = PQsocket(c)}, {.fd = w->wake_fd, .events = POLLIN}};
		double left = deadline - util_now_s();
		if (st == PGRES_POLLING_FAILED || left <= 0 || atomic_load(&w->stop))
			goto fail;
		p[0].events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
		if (poll(p, 2, (int)(left * 1000) + 1) < 0 && errno != EINTR)
			goto fail;
		if (p[1].revents & POLLIN)
			wait_wake(w, -1, 0, NULL); /* drained; the loop re-checks stop */
		if (atomic_load(&w->stop))
			goto fail;
		if (p[0].revents || util_now_s() >= deadline)
			st = PQconnectPoll(c);
	}
	return c;
fail:
	if (atomic_load(&w->stop))
		snprintf(why, why_size, "stopping");
	else
		db_connect_message(c, why, why_size);
	PQfinish(c);
	return NULL;
}

static bool is_failed(struct watcher *w, const char *model, int version)
{
	size_t i;
	for (i = 0; i < w->n_failed; i++)
		if (w->failed[i].version == version && !strcmp(w->failed[i].model, model))
			return true;
	return false;
}

static void remember_failed(struct watcher *w, const char *model, int version)
{
	struct failed_version *f = &w->failed[w->n_failed % MAX_FAILED];
	snprintf(f->model, sizeof f->model, "%s", model);
	f->version = version;
	if (w->n_failed < MAX_FAILED)
		w->n_failed++;
}

/*
 * Load one version; false (*failure says why) when the connection failed or
 * the statement failed on the database's side (the caller reconnects).
 */
static bool load_one(struct watcher *w, const struct registry_active *a, struct error *failure)
{
	struct model *m = NULL;
	struct error err;
	int served = store_version(w->cfg.store, a->model);
	double t0 = util_now_s();

	error_init(&err);
	if (registry_load_version(w->rconn, a->model, a->version, &m, &err) == ERROR_OK) {
		if (store_put(w->cfg.store, m, &err) == ERROR_OK) {
			atomic_fetch_add(&w->loads_ok, 1);
			log_msg(LOG_INFO, "model_loaded",
				"serving model %s version %d (was %d), loaded in %.1f ms", a->model,
				a->version, served, (util_now_s() - t0) * 1000.0);
			return true;
		}
		/* a sound version this process has no room for: not the version's fault, not marked */
		atomic_fetch_add(&w->loads_failed, 1);
		remember_failed(w, a->model, a->version);
		log_msg(LOG_ERROR, "model_load_failed", "model %s version %d will not serve: %s", a->model,
			a->version, err.message);
		return true;
	}
	if (err.code == ERROR_DB || !db_ok(w->conn) || !db_ok(w->rconn)) {
		*failure = err;
		return false;
	}
	if (err.code == ERROR_PERMISSION) {
		/* the role's fault, not the version's: not marked, tried again on the next sync */
		atomic_fetch_add(&w->loads_failed, 1);
		log_msg(LOG_ERROR, "model_load_failed",
			"model %s version %d cannot be read (still serving version %d): %s", a->model,
			a->version, served, err.message);
		return true;
	}
	if (err.code == ERROR_NOT_FOUND && w->rconn != w->conn) {
		/* active on the primary, not yet on the replica: keep serving, try again soon */
		if (!w->lagging)
			log_msg(LOG_INFO, "replica_behind",
				"model %s version %d is active on the primary but not yet on the "
				"--read-db replica; still serving version %d",
				a->model, a->version, served);
		w->lagging = true;
		return true;
	}
	atomic_fetch_add(&w->loads_failed, 1);
	remember_failed(w, a->model, a->version);
	log_msg(LOG_ERROR, "model_load_failed",
		"model %s version %d failed to load and will not serve (still serving version %d): %s",
		a->model, a->version, served, err.message);
	{
		struct error mark;
		error_init(&mark);
		if (registry_mark_failed(w->conn, a->model, a->version, err.message, w->actor, served,
					 &mark) != ERROR_OK)
			log_msg(LOG_WARN, "model_load_failed",
				"could not mark model %s version %d failed (a read-only role?): %s",
				a->model, a->version, mark.message);
	}
	return true;
}

static bool sync_models(struct watcher *w)
{
	struct registry_active *active = NULL;
	struct error err;
	char *catalog = NULL, flagged[MODEL_NAME_MAX + 1];
	size_t n = 0, i;

	error_init(&err);
	w->lagging = false;
	/* the default is read with the active versions, on the primary: a replica may lag */
	if (registry_served(w->conn, &active, &n, flagged, sizeof flagged, &err) != ERROR_OK) {
		drop_connection(w, err.message);
		return false;
	}
	for (i = 0; i < n && !atomic_load(&w->stop); i++) {
		if (store_version(w->cfg.store, active[i].model) == active[i].version ||
		    is_failed(w, active[i].model, active[i].version))
			continue;
		if (!load_one(w, &active[i], &err)) {
			free(active);
			drop_connection(w, err.message);
			return false;
		}
	}
	free(active);
	if (store_settle_default(w->cfg.store, *flagged ? flagged : NULL) &&
	    store_default_name(w->cfg.store, flagged, sizeof flagged))
		log_msg(LOG_INFO, "default_model", "requests that name no model get model %s", flagged);
	if (registry_catalog(w->rconn, NULL, &catalog, &err) != ERROR_OK) {
		drop_connection(w, err.message);
		return false;
	}
	pthread_mutex_lock(&w->lock);
	free(w->catalog);
	w->catalog = catalog;
	pthread_mutex_unlock(&w->lock);
	atomic_store(&w->synced, true);
	return true;
}

/*
 * Does a notification sent from another session reach the LISTEN connection?
 * Sent from a fresh connection to the --db URL on a channel of this process's
 * own; waited for up to PROBE_WAIT_S from when the NOTIFY has been sent (a
 * slow connect, TLS or password hashing, must not eat the wait and turn
 * notifications off until the next reconnect).  Through a transaction-pooling
 * PgBouncer the LISTEN stays behind on a server connection that is not ours,
 * and on a hot standby pg_notify fails: both mean the poll alone.
 */
static bool probe_listen(struct watcher *w, const char *channel)
{
	char why[ERROR_MESSAGE_MAX], sql[128];
	double deadline;
	PGconn *sender = connect_interruptible(w, w->conninfo, why, sizeof why);
	struct error err;
	bool got = false;

	error_init(&err);
	snprintf(sql, sizeof sql, "NOTIFY %s", channel);
	if (!sender || db_exec(sender, sql, &err) != ERROR_OK) {
		PQfinish(sender);
		return false;
	}
	PQfinish(sender);
	deadline = util_now_s() + PROBE_WAIT_S;
	while (!got && !atomic_load(&w->stop) && util_now_s() < deadline) {
		PGnotify *n;
		bool readable = false;
		wait_wake(w, PQsocket(w->lconn), deadline - util_now_s(), &readable);
		if (readable && !PQconsumeInput(w->lconn))
			return false;
		while ((n = PQnotifies(w->lconn))) {
			got = got || !strcmp(n->relname, channel);
			PQfreemem(n);
		}
	}
	return got;
}

/* LISTEN where the configuration says; false (why set) when that connection fails. */
static bool start_listen(struct watcher *w, char *why, size_t why_size)
{
	struct error err;
	char sql[128], channel[64];

	if (w->listen_conninfo && !*w->listen_conninfo)
		return true; /* the poll alone */
	w->lconn = w->listen_conninfo ? connect_interruptible(w, w->listen_conninfo, why, why_size)
				      : w->conn;
	if (!w->lconn)
		return false;
	error_init(&err);
	snprintf(channel, sizeof channel, "shelfcast_probe_%ld", (long)getpid());
	snprintf(sql, sizeof sql, "LISTEN shelfcast_models; LISTEN %s", channel);
	if (db_exec(w->lconn, sql, &err)) {
		snprintf(why, why_size, "%s", err.message);
		close_listen(w);
		return false;
	}
	if (!probe_listen(w, channel)) {
		log_msg(LOG_WARN, "listen_unusable",
			"notifications do not reach the LISTEN connection (a transaction-pooling "
			"PgBouncer, or a read replica?): polling every %.0f s; give --listen-db a "
			"direct URL to the primary",
			w->cfg.poll_interval);
		close_listen(w);
		return true;
	}
	atomic_store(&w->listening, true);
	return true;
}

static bool connect_and_listen(struct watcher *w, char *why, size_t why_size)
{
	struct error err;

	w->conn = connect_interruptible(w, w->conninfo, why, why_size);
	if (!w->conn)
		return false;
	error_init(&err);
	if (migrate_check(w->conn, &err) != ERROR_OK) {
		snprintf(why, why_size, "%s", err.message);
		PQfinish(w->conn);
		w->conn = NULL;
		return false;
	}
	w->rconn = w->read_conninfo ? connect_interruptible(w, w->read_conninfo, why, why_size) : w->conn;
	if (!w->rconn || !start_listen(w, why, why_size)) {
		drop_connection(w, NULL);
		return false;
	}
	return true;
}

/* Wait `backoff` seconds (the stop signal cuts it short); the next wait, doubled up to BACKOFF_MAX. */
static double back_off(struct watcher *w, double backoff)
{
	wait_wake(w, -1, backoff, NULL);
	return backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
}

static void *run(void *arg)
{
	struct watcher *w = arg;
	double backoff = BACKOFF_MIN, next_poll = 0, next_health = 0;
	bool need_sync = true, reported_down = false;

	while (!atomic_load(&w->stop)) {
		double now = util_now_s(), wait_for;
		bool readable = false;

		if (!w->conn) {
			char why[ERROR_MESSAGE_MAX];
			if (!connect_and_listen(w, why, sizeof why)) {
				if (atomic_load(&w->stop))
					break;
				set_up(w, false);
				atomic_store(&w->synced, true); /* nothing more to wait for */
				if (!reported_down)
					log_msg(LOG_WARN, "database_unreachable",
						"registry database unreachable, retrying with backoff: %s",
						why);
				reported_down = true;
				backoff = back_off(w, backoff);
				continue;
			}
			if (atomic_load(&w->listening))
				log_msg(LOG_INFO, "database_connected", "listening on shelfcast_models%s",
					w->lconn == w->conn ? "" : " (on the --listen-db connection)");
			else
				log_msg(LOG_INFO, "database_connected",
					"not listening: the poll every %.0f s brings new versions",
					w->cfg.poll_interval);
			set_up(w, true);
			reported_down = false;
			need_sync = true;
		}
		if (need_sync) {
			need_sync = false;
			if (!sync_models(w)) {
				/* a query that keeps failing (a revoked grant, a statement timeout) must
				 * not turn into a reconnect loop: wait as after a failed connect */
				backoff = back_off(w, backoff);
				continue;
			}
			backoff = BACKOFF_MIN;
			now = util_now_s();
			next_poll = now + (w->lagging ? LAG_RETRY_S : w->cfg.poll_interval);
			next_health = now + w->cfg.health_interval;
		}
		wait_for = (next_poll < next_health ? next_poll : next_health) - now;
		if (wait_wake(w, w->lconn ? PQsocket(w->lconn) : -1, wait_for, &readable))
			need_sync = true;
		if (atomic_load(&w->stop))
			break;
		if (readable) {
			PGnotify *n;
			if (!PQconsumeInput(w->lconn)) {
				drop_connection(w, PQerrorMessage(w->lconn));
				continue;
			}
			while ((n = PQnotifies(w->lconn))) {
				need_sync = true;
				PQfreemem(n);
			}
		}
		now = util_now_s();
		if (now >= next_poll)
			need_sync = true;
		if (now >= next_health && !need_sync) {
			struct error err;
			error_init(&err);
			if (db_exec(w->conn, "SELECT 1", &err) != ERROR_OK ||
			    (w->lconn && w->lconn != w->conn && db_exec(w->lconn, "SELECT 1", &err)) ||
			    (w->rconn != w->conn && db_exec(w->rconn, "SELECT 1", &err))) {
				drop_connection(w, err.message);
				continue;
			}
			next_health = now + w->cfg.health_interval;
		}
	}
	drop_connection(w, NULL);
	return NULL;
}

struct watcher *watcher_start(const struct watcher_config *cfg, struct error *err)
{
	struct watcher *w = calloc(1, sizeof *w);

	if (!w) {
		error_nomem(err, "the watcher");
		return NULL;
	}
	w->cfg = *cfg;
	w->conninfo = strdup(cfg->conninfo);
	w->actor = strdup(cfg->actor ? cfg->actor : "server");
	w->listen_conninfo = cfg->listen_conninfo ? strdup(cfg->listen_conninfo) : NULL;
	w->read_conninfo = cfg->read_conninfo ? strdup(cfg->read_conninfo) : NULL;
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&w->lock, NULL);
	if (!w->conninfo || !w->actor || w->wake_fd < 0 ||
	    (cfg->listen_conninfo && !w->listen_conninfo) || (cfg->read_conninfo && !w->read_conninfo)) {
		error_set(err, ERROR_IO, NULL, "cannot set up the watcher: %s", strerror(errno));
		goto fail;
	}
	if (w->cfg.poll_interval <= 0)
		w->cfg.poll_interval = 30;
	if (w->cfg.health_interval <= 0)
		w->cfg.health_interval = 5;
	set_up(w, false);
	if (pthread_create(&w->thread, NULL, run, w) != 0) {
		error_set(err, ERROR_IO, NULL, "cannot start the watcher thread");
		goto fail;
	}
	return w;
fail:
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	free(w->conninfo);
	free(w->actor);
	free(w->listen_conninfo);
	free(w->read_conninfo);
	free(w);
	return NULL;
}

void watcher_stop(struct watcher *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, true);
	wake(w);
	pthread_join(w->thread, NULL);
	close(w->wake_fd);
	pthread_mutex_destroy(&w->lock);
	free(w->catalog);
	free(w->conninfo);
	free(w->actor);
	free(w->listen_conninfo);
	free(w->read_conninfo);
	free(w);
}

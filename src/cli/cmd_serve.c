/* shelfcast serve — the HTTP API.  shelfcast healthcheck — probe it. */
#include <arpa/inet.h>
#include <cblas.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "build_commit.h"
#include "build_config.h"
#include "cli.h"
#include "shelfcast/db.h"
#include "shelfcast/drift.h"
#include "shelfcast/listen.h"
#include "shelfcast/log.h"
#include "shelfcast/metrics.h"
#include "shelfcast/migrate.h"
#include "shelfcast/predlog.h"
#include "shelfcast/server.h"
#include "shelfcast/tls.h"
#include "shelfcast/versions.h"
#include "shelfcast/util.h"
#include "shelfcast/watcher.h"

/* Seconds serve waits for the first registry sync before it listens. */
#define FIRST_SYNC_WAIT_S 3
/* The default --max-body per --max-items item: a JSON item of about fifteen named features. */
#define SERVE_BODY_PER_ITEM 512ULL
/* A number macro as a string literal, for defaults given as text. */
#define SERVE_STR_(x) #x
#define SERVE_STR(x) SERVE_STR_(x)

/* Room for the connection limit: as many descriptors as the hard limit allows. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* An external database that is reachable must have the right schema; an unreachable one is retried. */
static enum error_code check_external(const char *conninfo, struct error *err)
{
	PGconn *c = NULL;
	struct error conn_err;
	enum error_code rc = ERROR_OK;

	error_init(&conn_err);
	if (db_connect(conninfo, &c, &conn_err) != ERROR_OK) {
		log_msg(LOG_WARN, "database_unreachable",
			"%s; starting anyway, models load when it answers", conn_err.message);
		return ERROR_OK;
	}
	rc = migrate_check(c, err);
	PQfinish(c);
	return rc;
}

/* serve's settings as given (strings until checked). */
struct serve_opts {
	const char *db_url, *data_dir, *listen, *threads, *model, *max_body, *max_items, *max_memory,
		*body_budget, *per_ip, *request_timeout, *conn_limit, *timeout, *admin_token,
		*admin_token_file, *poll, *tls_cert, *tls_key, *drain, *max_explain, *max_versions,
		*log_rate, *log_queue, *retention, *live_window, *live_interval, *drift_window;
	bool tls_readable_key;
	const char *listen_db; /* NULL: LISTEN on the --db connection */
	const char *read_db;   /* NULL: read from the --db connection */
};

/* Parse argv into o; false with *code the exit code (after --help, or a usage error). */
static bool serve_parse(int argc, char **argv, struct serve_opts *o, int *code)
{
	const struct cli_option options[] = {
		{"--listen", "SHELFCAST_LISTEN", CLI_STRING, &o->listen, NULL, "ADDR",
		 "address to listen on, HOST:PORT (default 127.0.0.1:8080)"},
		{"--threads", "SHELFCAST_THREADS", CLI_STRING, &o->threads, NULL, "N",
		 "HTTP worker threads (default: one per core)"},
		{"--model", "SHELFCAST_MODEL", CLI_STRING, &o->model, NULL, "NAME",
		 "default model for requests that name none (default: the only model at start, else "
		 "`shelfcast models default NAME`)"},
		{"--max-body", "SHELFCAST_MAX_BODY", CLI_STRING, &o->max_body, NULL, "BYTES",
		 "largest request body (default: 512 per --max-items item, at least 1048576)"},
		{"--max-items", "SHELFCAST_MAX_ITEMS", CLI_STRING, &o->max_items, NULL, "N",
		 "most items per /v1/predict (default 10000)"},
		{"--max-explain-items", "SHELFCAST_MAX_EXPLAIN_ITEMS", CLI_STRING, &o->max_explain, NULL,
		 "N", "most items per request with \"explain\": true; 413 past it (default 1000)"},
		{"--max-loaded-versions", "SHELFCAST_MAX_LOADED_VERSIONS", CLI_STRING, &o->max_versions, NULL,
		 "N", "pinned versions (\"model\": \"NAME@VERSION\") kept loaded, least recently used out (default "
		 SERVE_STR(VERSIONS_DEFAULT_MAX) ")"},
		{"--max-request-memory", "SHELFCAST_MAX_REQUEST_MEMORY", CLI_STRING, &o->max_memory, NULL,
		 "BYTES", "most a request's reply and encoding may take, refused before the work (default 67108864)"},
		{"--body-budget", "SHELFCAST_BODY_BUDGET", CLI_STRING, &o->body_budget, NULL, "BYTES",
		 "request bodies held at once over all connections; 503 past it (default 134217728)"},
		{"--max-connections-per-ip", "SHELFCAST_MAX_CONNECTIONS_PER_IP", CLI_STRING, &o->per_ip, NULL,
		 "N", "open connections per client address, 0 for no limit (default 1024)"},
		{"--request-timeout", "SHELFCAST_REQUEST_TIMEOUT", CLI_STRING, &o->request_timeout, NULL,
		 "SECONDS", "a request must arrive whole within this, however it trickles (default 30)"},
		{"--connection-limit", "SHELFCAST_CONNECTION_LIMIT", CLI_STRING, &o->conn_limit, NULL, "N",
		 "most open connections (default 16384)"},
		{"--timeout", "SHELFCAST_TIMEOUT", CLI_STRING, &o->timeout, NULL, "SECONDS",
		 "close idle or slow connections after this long (default 10)"},
		{"--admin-token", "SHELFCAST_ADMIN_TOKEN", CLI_STRING, &o->admin_token, NULL, "TOKEN",
		 "bearer token for POST .../activate, at least 32 random bytes (default: that "
		 "endpoint is off)"},
		{"--admin-token-file", "SHELFCAST_ADMIN_TOKEN_FILE", CLI_STRING, &o->admin_token_file, NULL,
		 "FILE", "read the admin token from FILE instead (kept out of argv and the environment)"},
		{"--poll-interval", "SHELFCAST_POLL_INTERVAL", CLI_STRING, &o->poll, NULL, "SECONDS",
		 "registry poll, the fallback beside LISTEN/NOTIFY (default 30)"},
		{"--listen-db", "SHELFCAST_LISTEN_DB", CLI_STRING, &o->listen_db, NULL, "URL",
		 "direct PostgreSQL URL to LISTEN on, past a transaction-pooling PgBouncer; none: poll "
		 "only (default: the --db URL)"},
		{"--read-db", "SHELFCAST_READ_DB", CLI_STRING, &o->read_db, NULL, "URL",
		 "streaming replica to read model versions and the catalog from; the active versions "
		 "are confirmed on --db (default: the --db URL)"},
		{"--log-predictions", "SHELFCAST_LOG_PREDICTIONS", CLI_STRING, &o->log_rate, NULL, "RATE",
		 "share of predictions written to the prediction log, 0 to 1; 0: off (default 1)"},
		{"--prediction-log-queue", "SHELFCAST_PREDICTION_LOG_QUEUE", CLI_STRING, &o->log_queue, NULL,
		 "BYTES", "each worker's prediction log queue; a full queue drops (and counts) predictions "
		 "(default 16777216)"},
		{"--prediction-retention-days", "SHELFCAST_PREDICTION_RETENTION_DAYS", CLI_STRING, &o->retention,
		 NULL, "DAYS", "day partitions of the prediction log kept (default 30)"},
		{"--live-window-days", "SHELFCAST_LIVE_WINDOW_DAYS", CLI_STRING, &o->live_window, NULL, "DAYS",
		 "live accuracy over predictions this recent (default 30)"},
		{"--live-interval", "SHELFCAST_LIVE_INTERVAL", CLI_STRING, &o->live_interval, NULL, "SECONDS",
		 "how often live accuracy is read from the database (default 15)"},
		{"--drift-window", "SHELFCAST_DRIFT_WINDOW", CLI_STRING, &o->drift_window, NULL, "N",
		 "input drift: each model's last N scored items against its training reference, 0 "
		 "for off (default " SERVE_STR(DRIFT_DEFAULT_WINDOW) ", at most " SERVE_STR(DRIFT_MAX_WINDOW) ")"},
		{"--drain", "SHELFCAST_DRAIN", CLI_STRING, &o->drain, NULL, "SECONDS",
		 "on SIGTERM, how long in-flight requests may take to finish (default 30)"},
		{"--tls-cert", "SHELFCAST_TLS_CERT", CLI_STRING, &o->tls_cert, NULL, "FILE",
		 "PEM certificate: serve HTTPS"},
		{"--tls-key", "SHELFCAST_TLS_KEY", CLI_STRING, &o->tls_key, NULL, "FILE",
		 "PEM private key for --tls-cert; refused when group or others may read it"},
		{"--tls-allow-readable-key", "SHELFCAST_TLS_ALLOW_READABLE_KEY", CLI_FLAG, NULL,
		 &o->tls_readable_key, NULL, "accept a --tls-key file that group or others may read"},
		CLI_DB_OPTIONS(o->db_url, o->data_dir)};
	const struct cli_command cmd = {
		"serve",
		"Serve the JSON API. Loads the active version of every model, follows activations\n"
		"(LISTEN/NOTIFY, with a poll as fallback) and keeps serving if the database goes away.\n"
		"SIGTERM or SIGINT: stop accepting, finish in-flight requests, exit 0.",
		"shelfcast serve [options]", options, sizeof options / sizeof options[0], 0, 0};
	char **args = NULL;
	size_t n;

	*o = (struct serve_opts){.listen = "127.0.0.1:8080", .max_body = NULL, .max_items = "10000",
				 .max_memory = "67108864", .body_budget = "134217728", .per_ip = "1024",
				 .request_timeout = "30", .conn_limit = "16384", .timeout = "10",
				 .poll = "30", .drain = "30", .max_explain = "1000",
				 .max_versions = SERVE_STR(VERSIONS_DEFAULT_MAX), .log_rate = "1",
				 .log_queue = "16777216", .retention = "30", .live_window = "30",
				 .live_interval = "15",
				 .drift_window = SERVE_STR(DRIFT_DEFAULT_WINDOW)};
	if (!cli_parse(&cmd, argc, argv, &args, &n, code))
		return false;
	free(args);
	return true;
}

/*
 * The numbers of o into cfg (and the watcher's poll, the drain, the pinned
 * versions kept); false after a usage error.
 */
static bool serve_numbers(const struct serve_opts *o, struct server_config *cfg, double *poll_s,
			  double *drain_s, size_t *max_versions)
{
	unsigned long long threads = 0, body, items, memory, budget, per_ip, deadline, limit, secs, poll,
			   drain, explain, versions, drift;

	if ((o->threads && !cli_uint("--threads", o->threads, 1, 1024, &threads)) ||
	    !cli_uint("--max-items", o->max_items, 1, 10000000, &items) ||
	    (o->max_body && !cli_uint("--max-body", o->max_body, 64, 1ULL << 32, &body)) ||
	    !cli_uint("--max-explain-items", o->max_explain, 1, 10000000, &explain) ||
	    !cli_uint("--max-request-memory", o->max_memory, 1 << 20, 1ULL << 40, &memory) ||
	    !cli_uint("--body-budget", o->body_budget, 0, 1ULL << 40, &budget) ||
	    !cli_uint("--max-connections-per-ip", o->per_ip, 0, 1000000, &per_ip) ||
	    !cli_uint("--request-timeout", o->request_timeout, 1, 3600, &deadline) ||
	    !cli_uint("--connection-limit", o->conn_limit, 1, 1000000, &limit) ||
	    !cli_uint("--timeout", o->timeout, 1, 3600, &secs) ||
	    !cli_uint("--poll-interval", o->poll, 1, 86400, &poll) ||
	    !cli_uint("--drain", o->drain, 0, 3600, &drain) ||
	    !cli_uint("--max-loaded-versions", o->max_versions, 1, 256, &versions) ||
	    !cli_uint("--drift-window", o->drift_window, 0, DRIFT_MAX_WINDOW, &drift))
		return false;
	if (deadline <= secs) { /* an idle keep-alive connection's time counts toward its next request's */
		fprintf(stderr, "shelfcast serve: --request-timeout (%llu s) must be longer than --timeout (%llu s)\n",
			deadline, secs);
		return false;
	}
	if (!o->max_body) /* room for --max-items items of about fifteen features each */
		body = items * SERVE_BODY_PER_ITEM < 1048576 ? 1048576 : items * SERVE_BODY_PER_ITEM;
	if (o->listen_db && !*o->listen_db) {
		fprintf(stderr, "shelfcast serve: --listen-db: empty (give a URL, or none to poll only)\n");
		return false;
	}
	if (o->read_db && !*o->read_db) {
		fprintf(stderr, "shelfcast serve: --read-db: empty (give a replica's URL)\n");
		return false;
	}
	*cfg = (struct server_config){.listen = o->listen, .threads = (unsigned)threads, .max_body = body,
				      .max_items = items, .max_explain_items = explain,
				      .max_request_memory = memory, .body_budget = budget,
				      .per_ip_limit = (unsigned)per_ip, .request_deadline = (unsigned)deadline,
				      .connection_limit = (unsigned)limit, .connection_timeout = (unsigned)secs,
				      .tls_cert = o->tls_cert, .tls_key = o->tls_key,
				      .tls_allow_readable_key = o->tls_readable_key,
				      .drift_window = (size_t)drift};
	*poll_s = (double)poll;
	*drain_s = (double)drain;
	*max_versions = (size_t)versions;
	return true;
}

/* The prediction log's settings; false after a usage error. */
static bool serve_predlog(const struct serve_opts *o, struct predlog_config *pc)
{
	unsigned long long queue, days;
	double rate, window, interval;

	if (!cli_real("--log-predictions", o->log_rate, 0, 1, &rate) ||
	    !cli_uint("--prediction-log-queue", o->log_queue, 65536, 1ULL << 32, &queue) ||
	    !cli_uint("--prediction-retention-days", o->retention, 1, 3650, &days) ||
	    !cli_real("--live-window-days", o->live_window, 0.001, 3650, &window) ||
	    !cli_real("--live-interval", o->live_interval, 0.1, 86400, &interval))
		return false;
	*pc = (struct predlog_config){.rate = rate, .queue_bytes = (size_t)queue,
				      .retention_days = (int)days, .live_window_days = window,
				      .live_interval = interval};
	return true;
}

/* The store and the watcher following the registry, with the first sync given a moment. */
static enum error_code follow_registry(const struct cli_db *db, const struct serve_opts *o,
				       struct store **store, struct watcher **watcher, char *actor,
				       size_t actor_size, double poll_s, struct error *err)
{
	struct watcher_config wcfg;
	char host[64] = "localhost";

	*store = store_new();
	if (!*store)
		return error_nomem(err, "the model store");
	if (store_set_default(*store, o->model, err) != ERROR_OK)
		return err->code;
	gethostname(host, sizeof host - 1);
	snprintf(actor, actor_size, "server:%s:%ld", host, (long)getpid());
	wcfg = (struct watcher_config){.conninfo = db->conninfo, .store = *store, .poll_interval = poll_s,
				       .actor = actor,
				       .listen_conninfo = !o->listen_db			 ? NULL
							  : !strcmp(o->listen_db, "none") ? ""
											  : o->listen_db,
				       .read_conninfo = o->read_db};
	*watcher = watcher_start(&wcfg, err);
	if (!*watcher)
		return err->code;
	/*
	 * Give the first registry sync a moment before listening, so that the first
	 * /healthz and /readyz probes already tell the truth.  A database that does
	 * not answer within it is retried in the background while serve listens.
	 */
	if (!watcher_wait_synced(*watcher, FIRST_SYNC_WAIT_S))
		log_msg(LOG_WARN, "database_slow",
			"no answer from the registry database within %d s; listening anyway", FIRST_SYNC_WAIT_S);
	return ERROR_OK;
}

int cmd_serve(int argc, char **argv)
{
	struct serve_opts o;
	struct server_config scfg;
	struct server *srv = NULL;
	struct watcher *watcher = NULL;
	struct store *store = NULL;
	struct versions *versions = NULL;
	struct predlog *predlog = NULL;
	struct predlog_config pcfg;
	size_t max_versions;
	struct cli_db db;
	struct error err;
	char actor[128], *token = NULL;
	double poll_s, drain_s;
	int code, sig = 0;

	if (!serve_parse(argc, argv, &o, &code))
		return code;
	if (!serve_numbers(&o, &scfg, &poll_s, &drain_s, &max_versions) || !serve_predlog(&o, &pcfg))
		return EXIT_USAGE;
	/* The HTTP pool is the parallelism: BLAS threads inside it would only fight over cores. */
	openblas_set_num_threads(1);
	metrics_init();
	raise_fd_limit();
	log_msg(LOG_INFO, "starting", "shelfcast %s (%s), BLAS: %s", SHELFCAST_VERSION, SHELFCAST_COMMIT,
		openblas_get_config());
	error_init(&err);
	if (cli_admin_token(o.admin_token, o.admin_token_file, &token, &err) != ERROR_OK)
		return cli_fail("serve", &err);
	if (cli_db_open(&db, o.db_url, o.data_dir, true, &err) != ERROR_OK ||
	    (!db.embedded && check_external(db.conninfo, &err) != ERROR_OK)) {
		cli_db_close(&db);
		cli_admin_token_free(token);
		return cli_fail("serve", &err);
	}
	if (db.embedded)
		log_msg(LOG_INFO, "database", "embedded PostgreSQL at %s (%s)", db.pg.cluster,
			db.pg.started_here ? "started" : "already running");
	if (follow_registry(&db, &o, &store, &watcher, actor, sizeof actor, poll_s, &err) != ERROR_OK) {
		code = cli_fail("serve", &err);
		goto out;
	}
	scfg.admin_token = token;
	scfg.db_conninfo = db.conninfo;
	scfg.store = store;
	scfg.watcher = watcher;
	versions = versions_new(db.conninfo, max_versions);
	if (!versions) {
		code = cli_fail("serve", (error_nomem(&err, "the pinned versions"), &err));
		goto out;
	}
	scfg.versions = versions;
	pcfg.conninfo = db.conninfo;
	predlog = predlog_start(&pcfg, &err);
	if (!predlog) {
		code = cli_fail("serve", &err);
		goto out;
	}
	scfg.predlog = predlog;
	if (pcfg.rate > 0)
		log_msg(LOG_INFO, "prediction_log", "logging %g of predictions (queue %zu bytes per worker, "
			"%d days kept)", pcfg.rate, pcfg.queue_bytes, pcfg.retention_days);
	if (o.tls_cert && o.tls_key && o.tls_readable_key && tls_check_key_mode(o.tls_key, &err) != ERROR_OK)
		log_msg(LOG_WARN, "tls_key_readable", "%s: accepted (--tls-allow-readable-key)",
			err.message);
	error_init(&err);
	log_start_flusher(50); /* access lines: one write per worker every 50 ms at most */
	if (server_start(&scfg, &srv, &err) != ERROR_OK) {
		code = cli_fail("serve", &err);
		goto out;
	}
	log_msg(LOG_INFO, "listening", "serving on %s://%s with %u threads", o.tls_cert ? "https" : "http",
		server_address(srv), scfg.threads ? scfg.threads : (unsigned)util_cpu_count());
	do {
		sig = cli_wait_signal();
	} while (sig == SIGHUP);
	log_msg(LOG_INFO, "stopping", "signal %d: draining in-flight requests", sig);
	server_stop(srv, drain_s);
	code = 0;
out:
	if (predlog) {
		struct predlog_stats st;
		predlog_stop(predlog, drain_s, &st); /* after the workers: every put is in */
		log_msg(LOG_INFO, "prediction_log_stopped", "prediction log: %llu written, %llu dropped",
			(unsigned long long)st.written, (unsigned long long)st.dropped);
	}
	log_stop_flusher();
	watcher_stop(watcher);
	store_free(store);
	versions_free(versions);
	cli_db_close(&db);
	cli_admin_token_free(token);
	if (code == 0)
		log_msg(LOG_INFO, "stopped", "bye");
	return code;
}

int cmd_healthcheck(int argc, char **argv)
{
	const char *url = "127.0.0.1:8080", *timeout = "5";
	const struct cli_option options[] = {
		{"--listen", "SHELFCAST_LISTEN", CLI_STRING, &url, NULL, "ADDR",
		 "the server's address as serve's --listen takes it, HOST:PORT, [IPV6]:PORT or PORT "
		 "(default 127.0.0.1:8080; 0.0.0.0, * or no host mean 127.0.0.1)"},
		{"--timeout", NULL, CLI_STRING, &timeout, NULL, "SECONDS", "give up after (default 5)"}};
	const struct cli_command cmd = {
		"healthcheck",
		"GET /healthz of a running server over plain HTTP; exit 0 when it answers 200.\n"
		"For container HEALTHCHECKs: no curl needed.",
		"shelfcast healthcheck [--listen ADDR]", options,
		sizeof options / sizeof options[0], 0, 0};
	char **args = NULL, host[128], port[16], req[256], resp[512];
	unsigned long long secs;
	unsigned port_n;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	size_t n, got = 0;
	int code, fd = -1;

	if (!cli_parse(&cmd, argc, argv, &args, &n, &code))
		return code;
	free(args);
	if (!cli_uint("--timeout", timeout, 1, 600, &secs))
		return EXIT_USAGE;
	if (!listen_split(url, host, sizeof host, &port_n)) {
		fprintf(stderr, "shelfcast healthcheck: --listen \"%s\": expected HOST:PORT, [IPV6]:PORT or PORT\n",
			url);
		return EXIT_USAGE;
	}
	snprintf(port, sizeof port, "%u", port_n);
	if (!host[0] || !strcmp(host, "0.0.0.0") || !strcmp(host, "*")) /* what serve binds to all addresses */
		snprintf(host, sizeof host, "127.0.0.1");
	if (!strcmp(host, "::"))
		snprintf(host, sizeof host, "::1");
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
		fprintf(stderr, "shelfcast healthcheck: cannot resolve %s\n", url);
		return 1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		struct timeval tv = {(time_t)secs, 0};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	}
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		fprintf(stderr, "shelfcast healthcheck: cannot connect to %s: %s\n", url, strerror(errno));
		freeaddrinfo(ai);
		if (fd >= 0)
			close(fd);
		return 1;
	}
	freeaddrinfo(ai);
	snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host);
	if (write(fd, req, strlen(req)) < 0) {
		close(fd);
		return 1;
	}
	while (got < sizeof resp - 1) {
		ssize_t r = read(fd, resp + got, sizeof resp - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	resp[got] = '\0';
	if (strncmp(resp, "HTTP/1.1 200", 12) && strncmp(resp, "HTTP/1.0 200", 12)) {
		fprintf(stderr, "shelfcast healthcheck: %s answered: %.40s\n", url,
			got ? resp : "(nothing)");
		return 1;
	}
	printf("ok\n");
	return 0;
}

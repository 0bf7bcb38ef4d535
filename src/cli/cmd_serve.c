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

#include "build_config.h"
#include "cli.h"
#include "shelfcast/db.h"
#include "shelfcast/log.h"
#include "shelfcast/metrics.h"
#include "shelfcast/migrate.h"
#include "shelfcast/server.h"
#include "shelfcast/tls.h"
#include "shelfcast/util.h"
#include "shelfcast/watcher.h"

/* Seconds serve waits for the first registry sync before it listens. */
#define FIRST_SYNC_WAIT_S 3

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

int cmd_serve(int argc, char **argv)
{
	const char *db_url = NULL, *data_dir = NULL, *listen = "127.0.0.1:8080", *threads = NULL,
		   *model = NULL, *max_body = "1048576", *max_items = "10000",
		   *conn_limit = "16384", *timeout = "10", *admin_token = NULL, *poll = "30",
		   *tls_cert = NULL, *tls_key = NULL, *drain = "30", *admin_token_file = NULL;
	bool tls_readable_key = false;
	const struct cli_option options[] = {
		{"--listen", "SHELFCAST_LISTEN", CLI_STRING, &listen, NULL, "ADDR",
		 "address to listen on, HOST:PORT (default 127.0.0.1:8080)"},
		{"--threads", "SHELFCAST_THREADS", CLI_STRING, &threads, NULL, "N",
		 "HTTP worker threads (default: one per core)"},
		{"--model", "SHELFCAST_MODEL", CLI_STRING, &model, NULL, "NAME",
		 "default model for requests that name none (default: the only model)"},
		{"--max-body", "SHELFCAST_MAX_BODY", CLI_STRING, &max_body, NULL, "BYTES",
		 "largest request body (default 1048576)"},
		{"--max-items", "SHELFCAST_MAX_ITEMS", CLI_STRING, &max_items, NULL, "N",
		 "most items per /v1/predict (default 10000)"},
		{"--connection-limit", "SHELFCAST_CONNECTION_LIMIT", CLI_STRING, &conn_limit, NULL, "N",
		 "most open connections (default 16384)"},
		{"--timeout", "SHELFCAST_TIMEOUT", CLI_STRING, &timeout, NULL, "SECONDS",
		 "close idle or slow connections after this long (default 10)"},
		{"--admin-token", "SHELFCAST_ADMIN_TOKEN", CLI_STRING, &admin_token, NULL, "TOKEN",
		 "bearer token for POST .../activate, at least 32 random bytes (default: that "
		 "endpoint is off)"},
		{"--admin-token-file", "SHELFCAST_ADMIN_TOKEN_FILE", CLI_STRING, &admin_token_file, NULL,
		 "FILE", "read the admin token from FILE instead (kept out of argv and the environment)"},
		{"--poll-interval", "SHELFCAST_POLL_INTERVAL", CLI_STRING, &poll, NULL, "SECONDS",
		 "registry poll, the fallback beside LISTEN/NOTIFY (default 30)"},
		{"--drain", "SHELFCAST_DRAIN", CLI_STRING, &drain, NULL, "SECONDS",
		 "on SIGTERM, how long in-flight requests may take to finish (default 30)"},
		{"--tls-cert", "SHELFCAST_TLS_CERT", CLI_STRING, &tls_cert, NULL, "FILE",
		 "PEM certificate: serve HTTPS"},
		{"--tls-key", "SHELFCAST_TLS_KEY", CLI_STRING, &tls_key, NULL, "FILE",
		 "PEM private key for --tls-cert; refused when group or others may read it"},
		{"--tls-allow-readable-key", "SHELFCAST_TLS_ALLOW_READABLE_KEY", CLI_FLAG, NULL,
		 &tls_readable_key, NULL, "accept a --tls-key file that group or others may read"},
		CLI_DB_OPTIONS(db_url, data_dir)};
	const struct cli_command cmd = {
		"serve",
		"Serve the JSON API. Loads the active version of every model, follows activations\n"
		"(LISTEN/NOTIFY, with a poll as fallback) and keeps serving if the database goes away.\n"
		"SIGTERM or SIGINT: stop accepting, finish in-flight requests, exit 0.",
		"shelfcast serve [options]", options, sizeof options / sizeof options[0], 0, 0};
	unsigned long long n_threads = 0, body = 0, items = 0, limit = 0, secs = 0, poll_s = 0,
			   drain_s = 0;
	struct server_config scfg;
	struct watcher_config wcfg;
	struct server *srv = NULL;
	struct watcher *watcher = NULL;
	struct store *store = NULL;
	struct cli_db db;
	struct error err;
	char **args = NULL, actor[128], host[64] = "localhost", *token = NULL;
	size_t n;
	int code, sig = 0;

	if (!cli_parse(&cmd, argc, argv, &args, &n, &code))
		return code;
	free(args);
	if ((threads && !cli_uint("--threads", threads, 1, 1024, &n_threads)) ||
	    !cli_uint("--max-body", max_body, 64, 1ULL << 32, &body) ||
	    !cli_uint("--max-items", max_items, 1, 10000000, &items) ||
	    !cli_uint("--connection-limit", conn_limit, 1, 1000000, &limit) ||
	    !cli_uint("--timeout", timeout, 1, 3600, &secs) ||
	    !cli_uint("--poll-interval", poll, 1, 86400, &poll_s) ||
	    !cli_uint("--drain", drain, 0, 3600, &drain_s))
		return EXIT_USAGE;

	/* The HTTP pool is the parallelism: BLAS threads inside it would only fight over cores. */
	openblas_set_num_threads(1);
	metrics_init();
	raise_fd_limit();
	log_msg(LOG_INFO, "starting", "shelfcast %s (%s), BLAS: %s", SHELFCAST_VERSION, SHELFCAST_COMMIT,
		openblas_get_config());

	error_init(&err);
	if (cli_admin_token(admin_token, admin_token_file, &token, &err) != ERROR_OK)
		return cli_fail("serve", &err);
	if (cli_db_open(&db, db_url, data_dir, true, &err) != ERROR_OK ||
	    (!db.embedded && check_external(db.conninfo, &err) != ERROR_OK)) {
		cli_db_close(&db);
		cli_admin_token_free(token);
		return cli_fail("serve", &err);
	}
	if (db.embedded)
		log_msg(LOG_INFO, "database", "embedded PostgreSQL at %s (%s)", db.pg.cluster,
			db.pg.started_here ? "started" : "already running");

	store = store_new();
	if (!store || store_set_default(store, model, &err) != ERROR_OK) {
		if (!store)
			error_nomem(&err, "the model store");
		code = cli_fail("serve", &err);
		goto out;
	}
	gethostname(host, sizeof host - 1);
	snprintf(actor, sizeof actor, "server:%s:%ld", host, (long)getpid());
	wcfg = (struct watcher_config){.conninfo = db.conninfo, .store = store,
				       .poll_interval = (double)poll_s, .health_interval = 5,
				       .actor = actor};
	watcher = watcher_start(&wcfg, &err);
	if (!watcher) {
		code = cli_fail("serve", &err);
		goto out;
	}
	/*
	 * Give the first registry sync a moment before listening, so that the first
	 * /healthz and /readyz probes already tell the truth.  A database that does
	 * not answer within it is retried in the background while serve listens.
	 */
	if (!watcher_wait_synced(watcher, FIRST_SYNC_WAIT_S))
		log_msg(LOG_WARN, "database_slow",
			"no answer from the registry database within %d s; listening anyway", FIRST_SYNC_WAIT_S);
	scfg = (struct server_config){.listen = listen, .threads = (unsigned)n_threads,
				      .max_body = body, .max_items = items,
				      .connection_limit = (unsigned)limit,
				      .connection_timeout = (unsigned)secs,
				      .admin_token = token, .db_conninfo = db.conninfo,
				      .tls_cert = tls_cert, .tls_key = tls_key,
				      .tls_allow_readable_key = tls_readable_key, .store = store,
				      .watcher = watcher};
	if (tls_cert && tls_key && tls_readable_key && tls_check_key_mode(tls_key, &err) != ERROR_OK)
		log_msg(LOG_WARN, "tls_key_readable", "%s: accepted (--tls-allow-readable-key)",
			err.message);
	error_init(&err);
	log_start_flusher(50); /* access lines: one write per thread every 50 ms at most */
	if (server_start(&scfg, &srv, &err) != ERROR_OK) {
		code = cli_fail("serve", &err);
		goto out;
	}
	log_msg(LOG_INFO, "listening", "serving on %s://%s with %llu threads",
		tls_cert ? "https" : "http", server_address(srv),
		n_threads ? n_threads : (unsigned long long)util_cpu_count());

	do {
		sig = cli_wait_signal();
	} while (sig == SIGHUP);
	log_msg(LOG_INFO, "stopping", "signal %d: draining in-flight requests", sig);
	server_stop(srv, (double)drain_s);
	code = 0;
out:
	log_stop_flusher();
	watcher_stop(watcher);
	store_free(store);
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
		 "the server's address, HOST:PORT (default 127.0.0.1:8080; 0.0.0.0 means 127.0.0.1)"},
		{"--timeout", NULL, CLI_STRING, &timeout, NULL, "SECONDS", "give up after (default 5)"}};
	const struct cli_command cmd = {
		"healthcheck",
		"GET /healthz of a running server over plain HTTP; exit 0 when it answers 200.\n"
		"For container HEALTHCHECKs: no curl needed.",
		"shelfcast healthcheck [--listen HOST:PORT]", options,
		sizeof options / sizeof options[0], 0, 0};
	char **args = NULL, host[128] = "127.0.0.1", port[16] = "8080", req[256], resp[512];
	unsigned long long secs;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	const char *colon;
	size_t n, got = 0;
	int code, fd = -1;

	if (!cli_parse(&cmd, argc, argv, &args, &n, &code))
		return code;
	free(args);
	if (!cli_uint("--timeout", timeout, 1, 600, &secs))
		return EXIT_USAGE;
	colon = strrchr(url, ':');
	if (colon) {
		if (colon != url && (size_t)(colon - url) < sizeof host)
			snprintf(host, sizeof host, "%.*s", (int)(colon - url), url);
		snprintf(port, sizeof port, "%s", colon + 1);
	}
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	if (!strcmp(host, "0.0.0.0") || !strcmp(host, "*"))
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

/*
 * pgembed — see include/shelfcast/pgembed.h.
 *
 * initdb and postgres are exec'd directly (fork + exec, no shell), so paths
 * need no quoting.  The server is double-forked into its own session: it is
 * not our child (no zombie to reap) and a terminal's Ctrl-C reaches us, not
 * it; we stop it ourselves with SIGINT (PostgreSQL's "fast" shutdown) and
 * wait for postmaster.pid to go.
 */
#include "shelfcast/pgembed.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shelfcast/sha256.h"
#include "shelfcast/util.h"

#define PG_PORT "5432"
#define START_TIMEOUT_S 60.0
#define STOP_TIMEOUT_S 60.0

void pgembed_init(struct pgembed *pg)
{
	memset(pg, 0, sizeof *pg);
	pg->start_fd = -1;
	pg->users_fd = -1;
	pg->log_fd = -1;
	pthread_mutex_init(&pg->lock, NULL);
}

static bool is_exec(const char *dir, const char *name)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof p, "%s/%s", dir, name) >= (int)sizeof p)
		return false;
	return access(p, X_OK) == 0;
}

/* Highest /usr/lib/postgresql/N/bin with both programs, else $PATH. */
static enum error_code find_bindir(char out[PATH_MAX], struct error *err)
{
	const char *env = getenv("SHELFCAST_PG_BINDIR");
	glob_t g;
	int best = -1;
	size_t i;

	if (env && *env) {
		if (!is_exec(env, "postgres") || !is_exec(env, "initdb"))
			return error_set(err, ERROR_IO, NULL,
					 "SHELFCAST_PG_BINDIR=%s has no postgres and initdb", env);
		snprintf(out, PATH_MAX, "%s", env);
		return ERROR_OK;
	}
	if (glob("/usr/lib/postgresql/*/bin", 0, NULL, &g) == 0) {
		for (i = 0; i < g.gl_pathc; i++) {
			int v = atoi(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"));
			if (v > best && is_exec(g.gl_pathv[i], "postgres") &&
			    is_exec(g.gl_pathv[i], "initdb")) {
				best = v;
				snprintf(out, PATH_MAX, "%s", g.gl_pathv[i]);
			}
		}
		globfree(&g);
		if (best >= 0)
			return ERROR_OK;
	}
	env = getenv("PATH");
	if (env) {
		char path[4096], *save = NULL, *d;
		snprintf(path, sizeof path, "%s", env);
		for (d = strtok_r(path, ":", &save); d; d = strtok_r(NULL, ":", &save))
			if (is_exec(d, "postgres") && is_exec(d, "initdb")) {
				snprintf(out, PATH_MAX, "%s", d);
				return ERROR_OK;
			}
	}
	return error_set(err, ERROR_IO, NULL,
			 "PostgreSQL server programs (initdb, postgres) not found: install the "
			 "postgresql package, set SHELFCAST_PG_BINDIR, or give --db URL");
}

static enum error_code pick_user(struct pgembed *pg, struct error *err)
{
	const char *names[3] = {NULL, NULL, NULL};
	struct passwd *pw = NULL;
	size_t i, n = 0;

	if (geteuid() != 0) {
		pg->switch_user = false;
		return ERROR_OK;
	}
	if (getenv("SHELFCAST_PG_USER") && *getenv("SHELFCAST_PG_USER"))
		names[n++] = getenv("SHELFCAST_PG_USER");
	else {
		names[n++] = "postgres";
		names[n++] = "nobody";
	}
	for (i = 0; i < n && !pw; i++)
		pw = getpwnam(names[i]);
	if (!pw || pw->pw_uid == 0)
		return error_set(err, ERROR_IO, NULL,
				 "running as root, and no unprivileged user to run PostgreSQL as "
				 "(tried %s): create one or set SHELFCAST_PG_USER",
				 n == 1 ? names[0] : "postgres, nobody");
	pg->switch_user = true;
	pg->run_uid = pw->pw_uid;
	pg->run_gid = pw->pw_gid;
	snprintf(pg->run_user, sizeof pg->run_user, "%s", pw->pw_name);
	return ERROR_OK;
}

/* In a forked child: drop to the cluster's user. */
static void child_drop_privileges(const struct pgembed *pg)
{
	/* The invoking user's cwd may be unreadable to the cluster's user. */
	if (chdir("/") != 0)
		_exit(126);
	if (!pg->switch_user)
		return;
	if (setgroups(0, NULL) != 0 || setgid(pg->run_gid) != 0 || setuid(pg->run_uid) != 0) {
		fprintf(stderr, "shelfcast: cannot switch to user %s: %s\n", pg->run_user,
			strerror(errno));
		_exit(126);
	}
}

/* In a forked child: stdout and stderr to the log (opened by the parent, never by path), stdin from /dev/null. */
static void child_redirect(const struct pgembed *pg)
{
	int null = open("/dev/null", O_RDONLY);
	dup2(pg->log_fd, 1);
	dup2(pg->log_fd, 2);
	if (null >= 0)
		dup2(null, 0);
}

/* Run argv (as the cluster's user) with output appended to the log; return its exit status. */
static int run_program(const struct pgembed *pg, char *const argv[])
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		child_redirect(pg);
		child_drop_privileges(pg);
		execv(argv[0], argv);
		fprintf(stderr, "shelfcast: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Can the cluster's user reach (search) this directory? Checked in a child that drops privileges. */
static bool user_can_reach(const struct pgembed *pg, const char *dir)
{
	pid_t pid;
	int status;

	if (!pg->switch_user)
		return true;
	pid = fork();
	if (pid < 0)
		return true;
	if (pid == 0) {
		child_drop_privileges(pg);
		_exit(access(dir, X_OK | R_OK) == 0 ? 0 : 1);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return true;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static enum error_code relocate_cluster(struct pgembed *pg, struct error *err)
{
	char link_path[PATH_MAX], hex[SHA256_HEX_SIZE], target[PATH_MAX];
	struct sha256 h;
	struct stat st;
	ssize_t n;

	sha256_init(&h);
	sha256_update(&h, pg->data_dir, strlen(pg->data_dir));
	sha256_final_hex(&h, hex);
	snprintf(pg->cluster, sizeof pg->cluster, PGEMBED_CLUSTERS_DIR "/%.16s", hex);
	snprintf(link_path, sizeof link_path, "%s/pg", pg->data_dir);
	if (util_mkdirs(PGEMBED_CLUSTERS_DIR, 0755, err) != ERROR_OK ||
	    pgembed_check_private_dir("/var/lib/shelfcast", err) != ERROR_OK ||
	    pgembed_check_private_dir(PGEMBED_CLUSTERS_DIR, err) != ERROR_OK)
		return err->code;
	if (!user_can_reach(pg, PGEMBED_CLUSTERS_DIR))
		return error_set(err, ERROR_IO, NULL,
				 "PostgreSQL runs as user %s, who cannot reach %s or " PGEMBED_CLUSTERS_DIR
				 ": choose another --data-dir",
				 pg->run_user, pg->data_dir);
	n = readlink(link_path, target, sizeof target - 1);
	if (n >= 0) {
		/* Only the link made below: pointing where this data directory's cluster goes, ours. */
		target[n] = '\0';
		if (strcmp(target, pg->cluster) || lstat(link_path, &st) != 0 || st.st_uid != geteuid())
			return error_set(err, ERROR_IO, NULL,
					 "%s links to %s, expected a link of this user's to %s: refusing "
					 "to touch it",
					 link_path, target, pg->cluster);
	} else if (lstat(link_path, &st) == 0) {
		return error_set(err, ERROR_IO, NULL,
				 "%s exists, and PostgreSQL (user %s) cannot reach it: choose another "
				 "--data-dir",
				 link_path, pg->run_user);
	} else if (symlink(pg->cluster, link_path) != 0) {
		return error_set(err, ERROR_IO, NULL, "cannot link %s to %s: %s", link_path, pg->cluster,
				 strerror(errno));
	}
	return ERROR_OK;
}

static void log_tail(const char *path, char *out, size_t size)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	char line[512];
	out[0] = '\0';
	if (!f) {
		if (fd >= 0)
			close(fd);
		return;
	}
	/* Keep the last non-empty line: PostgreSQL's fatal message is usually it. */
	while (fgets(line, sizeof line, f)) {
		size_t n = strlen(line);
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n)
			snprintf(out, size, "%s", line);
	}
	fclose(f);
}

static pid_t read_postmaster_pid(const char *cluster)
{
	char p[PATH_MAX], buf[32] = "";
	FILE *f;

	snprintf(p, sizeof p, "%s/postmaster.pid", cluster);
	f = fopen(p, "re");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof buf, f))
		buf[0] = '\0';
	fclose(f);
	return (pid_t)atol(buf);
}

/* A live (non-zombie) process whose name is postgres. */
static bool is_live_postgres(pid_t pid)
{
	char p[64], stat[512];
	FILE *f;
	char *rp;
	bool ok = false;

	if (pid <= 0)
		return false;
	snprintf(p, sizeof p, "/proc/%ld/stat", (long)pid);
	f = fopen(p, "re");
	if (!f)
		return false;
	if (fgets(stat, sizeof stat, f)) {
		/* "pid (comm) S ..." — comm may contain spaces, so find the last ')' */
		rp = strrchr(stat, ')');
		ok = strstr(stat, "(postgres)") && rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
	}
	fclose(f);
	return ok;
}

static PGPing ping(const struct pgembed *pg)
{
	char info[sizeof pg->conninfo + 32];
	/* The maintenance database always exists; "shelfcast" may not yet. */
	snprintf(info, sizeof info, "%s connect_timeout=2", pg->conninfo);
	return PQping(info);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void conn_escape(char *out, size_t size, const char *s)
{
	size_t o = 0;
	if (size < 3)
		return;
	out[o++] = '\'';
	for (; *s && o + 3 < size; s++) {
		if (*s == '\'' || *s == '\\')
			out[o++] = '\\';
		out[o++] = *s;
	}
	out[o++] = '\'';
	out[o] = '\0';
}

static enum error_code init_cluster(struct pgembed *pg, const char *log_path, struct error *err)
{
	char initdb[PATH_MAX + 16], tail[400];
	char *argv[] = {initdb, (char *)"-D", pg->cluster, (char *)"-U", (char *)"shelfcast",
			(char *)"-A", (char *)"trust", (char *)"-E", (char *)"UTF8",
			(char *)"--locale=C", (char *)"--no-instructions", NULL};
	int rc, fd;

	if (mkdir(pg->cluster, 0700) != 0 && errno != EEXIST)
		return error_set(err, ERROR_IO, NULL, "cannot create %s: %s", pg->cluster,
				 strerror(errno));
	/* The directory itself, never what a link in its place points to. */
	fd = open(pg->cluster, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || (pg->switch_user && fchown(fd, pg->run_uid, pg->run_gid) != 0)) {
		rc = error_set(err, ERROR_IO, NULL, "cannot hand %s to user %s: %s", pg->cluster,
			       pg->switch_user ? pg->run_user : "this one", strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	close(fd);
	snprintf(initdb, sizeof initdb, "%s/initdb", pg->bindir);
	rc = run_program(pg, argv);
	if (rc != 0) {
		log_tail(log_path, tail, sizeof tail);
		return error_set(err, ERROR_IO, NULL, "initdb failed for %s (exit %d): %s", pg->cluster,
				 rc, tail[0] ? tail : "see the log");
	}
	return ERROR_OK;
}

/* Remove a postmaster.pid (and socket lock) left behind by a server that is gone. */
static void clear_stale_pid(const struct pgembed *pg)
{
	char p[PATH_MAX];
	pid_t pid = read_postmaster_pid(pg->cluster);

	if (pid == 0 || is_live_postgres(pid))
		return;
	snprintf(p, sizeof p, "%s/postmaster.pid", pg->cluster);
	unlink(p);
	snprintf(p, sizeof p, "%s/.s.PGSQL." PG_PORT ".lock", pg->cluster);
	unlink(p);
	snprintf(p, sizeof p, "%s/.s.PGSQL." PG_PORT, pg->cluster);
	unlink(p);
}

static enum error_code start_server(struct pgembed *pg, const char *log_path, struct error *err)
{
	char postgres[PATH_MAX + 16], tail[400];
	char *argv[] = {postgres, (char *)"-D", pg->cluster, (char *)"-k", pg->cluster,
			(char *)"-p", (char *)PG_PORT, (char *)"-c", (char *)"listen_addresses=",
			(char *)"-c", (char *)"unix_socket_permissions=0700", NULL};
	double started, deadline;
	pid_t pid;
	int status;

	snprintf(postgres, sizeof postgres, "%s/postgres", pg->bindir);
	pid = fork();
	if (pid < 0)
		return error_set(err, ERROR_IO, NULL, "cannot fork: %s", strerror(errno));
	if (pid == 0) {
		setsid();
		if (fork() != 0)
			_exit(0);
		child_redirect(pg);
		child_drop_privileges(pg);
		execv(postgres, argv);
		fprintf(stderr, "shelfcast: cannot run %s: %s\n", postgres, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;

	started = util_now_s();
	deadline = started + START_TIMEOUT_S;
	while (util_now_s() < deadline) {
		PGPing r = ping(pg);
		pid_t pm;
		if (r == PQPING_OK)
			return ERROR_OK;
		if (r == PQPING_NO_ATTEMPT)
			break;
		/* Give it a second to write postmaster.pid; after that, no live postmaster means it failed. */
		pm = read_postmaster_pid(pg->cluster);
		if (util_now_s() - started > 1.0 && (pm == 0 || !is_live_postgres(pm)))
			break;
		sleep_ms(50);
	}
	log_tail(log_path, tail, sizeof tail);
	return error_set(err, ERROR_IO, NULL, "PostgreSQL in %s did not start: %s (log: %s)",
			 pg->cluster, tail[0] ? tail : "no message", log_path);
}

static void stop_server(struct pgembed *pg)
{
	pid_t pid = read_postmaster_pid(pg->cluster);
	double deadline = util_now_s() + STOP_TIMEOUT_S;

	if (pid <= 0 || !is_live_postgres(pid))
		return;
	kill(pid, SIGINT); /* fast shutdown: roll back open transactions, exit cleanly */
	while (util_now_s() < deadline) {
		if (!is_live_postgres(pid))
			return;
		sleep_ms(20);
	}
	kill(pid, SIGQUIT); /* immediate shutdown */
}

static enum error_code create_database(struct pgembed *pg, struct error *err)
{
	char info[sizeof pg->conninfo + 32], *p;
	PGconn *c;
	PGresult *r;
	enum error_code rc = ERROR_OK;

	/* conninfo ends in "dbname=shelfcast": connect to the maintenance database instead. */
	snprintf(info, sizeof info, "%s", pg->conninfo);
	p = strstr(info, "dbname=shelfcast");
	if (p)
		memcpy(p, "dbname=postgres ", strlen("dbname=postgres "));
	c = PQconnectdb(info);
	if (PQstatus(c) != CONNECTION_OK) {
		rc = error_set(err, ERROR_DB, NULL, "cannot connect to the embedded PostgreSQL: %s",
			       PQerrorMessage(c));
		PQfinish(c);
		return rc;
	}
	r = PQexec(c, "SELECT 1 FROM pg_database WHERE datname = 'shelfcast'");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 0) {
		PQclear(r);
		r = PQexec(c, "CREATE DATABASE shelfcast");
		if (PQresultStatus(r) != PGRES_COMMAND_OK &&
		    !strstr(PQresultErrorMessage(r), "already exists"))
			rc = error_set(err, ERROR_DB, NULL, "cannot create database shelfcast: %s",
				       PQresultErrorMessage(r));
	} else if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = error_set(err, ERROR_DB, NULL, "cannot inspect the embedded PostgreSQL: %s",
			       PQresultErrorMessage(r));
	}
	PQclear(r);
	PQfinish(c);
	return rc;
}

static enum error_code open_locked(struct pgembed *pg, const char *log_path, struct error *err)
{
	enum error_code rc;
	bool exists;
	PGPing r;

	rc = pgembed_check_cluster_dir(pg->cluster, &exists, err);
	if (rc)
		return rc;
	if (!exists) {
		rc = init_cluster(pg, log_path, err);
		if (rc)
			return rc;
	}
	r = ping(pg);
	if (r != PQPING_OK) {
		pid_t pm = read_postmaster_pid(pg->cluster);
		/* A server that is still starting up or shutting down: give it a moment. */
		if (pm && is_live_postgres(pm)) {
			double deadline = util_now_s() + START_TIMEOUT_S;
			while (is_live_postgres(pm) && (r = ping(pg)) != PQPING_OK &&
			       util_now_s() < deadline)
				sleep_ms(50);
		}
	}
	if (r != PQPING_OK) {
		clear_stale_pid(pg);
		rc = start_server(pg, log_path, err);
		if (rc)
			return rc;
		pg->started_here = true;
	}
	return create_database(pg, err);
}

enum error_code pgembed_open(struct pgembed *pg, const char *data_dir, struct error *err)
{
	char esc[PATH_MAX + 8], log_path[PATH_MAX];
	enum error_code rc;
	int dir = -1;
	bool created;

	pthread_mutex_lock(&pg->lock);
	if (pg->open) {
		pthread_mutex_unlock(&pg->lock);
		return ERROR_OK;
	}
	created = access(data_dir, F_OK) != 0;
	rc = util_mkdirs(data_dir, 0755, err);
	if (rc)
		goto out;
	/* A directory made here is 0755 whatever the umask (a umask of 002 would leave it group-writable). */
	if (created && (dir = open(data_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		fchmod(dir, 0755);
		close(dir);
		dir = -1;
	}
	if (!realpath(data_dir, pg->data_dir)) {
		rc = error_set(err, ERROR_IO, NULL, "cannot resolve %s: %s", data_dir, strerror(errno));
		goto out;
	}
	rc = pgembed_check_private_dir(pg->data_dir, err);
	if (rc)
		goto out;
	if (access(pg->data_dir, W_OK | X_OK) != 0) {
		rc = error_set(err, ERROR_IO, NULL, "data directory %s is not writable: %s",
			       pg->data_dir, strerror(errno));
		goto out;
	}
	if (snprintf(pg->cluster, sizeof pg->cluster, "%s/pg", pg->data_dir) >= (int)sizeof pg->cluster ||
	    strlen(pg->cluster) + strlen("/.s.PGSQL." PG_PORT) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		rc = error_set(err, ERROR_IO, NULL,
			       "data directory path %s is too long for a Unix socket (at most about "
			       "90 characters); choose a shorter --data-dir",
			       pg->data_dir);
		goto out;
	}
	rc = find_bindir(pg->bindir, err);
	if (rc)
		goto out;
	rc = pick_user(pg, err);
	if (rc)
		goto out;
	if (!user_can_reach(pg, pg->data_dir)) {
		/*
		 * Run as root in a directory the cluster's user cannot enter (a clone
		 * under /root, say): keep the cluster under /var/lib/shelfcast instead,
		 * one per data directory, with data_dir/pg a link to it.
		 */
		rc = relocate_cluster(pg, err);
		if (rc)
			goto out;
	}

	/* Every file here is opened relative to the directory checked above, never through a link. */
	dir = open(pg->data_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir < 0) {
		rc = error_set(err, ERROR_IO, NULL, "cannot open data directory %s: %s", pg->data_dir,
			       strerror(errno));
		goto out;
	}
	if ((pg->start_fd = pgembed_open_private_file(pg, dir, "start.lock", O_RDWR, err)) < 0 ||
	    (pg->users_fd = pgembed_open_private_file(pg, dir, "users.lock", O_RDWR, err)) < 0 ||
	    (pg->log_fd = pgembed_open_private_file(pg, dir, "postgres.log", O_WRONLY | O_APPEND, err)) < 0) {
		rc = err->code;
		goto out;
	}
	snprintf(log_path, sizeof log_path, "%s/postgres.log", pg->data_dir);
	if (pg->switch_user && fchown(pg->log_fd, pg->run_uid, pg->run_gid) != 0) {
		rc = error_set(err, ERROR_IO, NULL, "cannot prepare %s: %s", log_path, strerror(errno));
		goto out;
	}

	conn_escape(esc, sizeof esc, pg->cluster);
	snprintf(pg->conninfo, sizeof pg->conninfo, "host=%s port=" PG_PORT " user=shelfcast dbname=shelfcast",
		 esc);

	while (flock(pg->start_fd, LOCK_EX) != 0 && errno == EINTR)
		;
	rc = open_locked(pg, log_path, err);
	if (rc == ERROR_OK) {
		flock(pg->users_fd, LOCK_SH);
		pg->open = true;
	}
	flock(pg->start_fd, LOCK_UN);
out:
	if (dir >= 0)
		close(dir);
	if (pg->log_fd >= 0)
		close(pg->log_fd); /* the server keeps its own copy */
	pg->log_fd = -1;
	if (rc) {
		if (pg->start_fd >= 0)
			close(pg->start_fd);
		if (pg->users_fd >= 0)
			close(pg->users_fd);
		pg->start_fd = pg->users_fd = -1;
	}
	pthread_mutex_unlock(&pg->lock);
	return rc;
}

void pgembed_close(struct pgembed *pg)
{
	pthread_mutex_lock(&pg->lock);
	if (!pg->open) {
		pthread_mutex_unlock(&pg->lock);
		return;
	}
	while (flock(pg->start_fd, LOCK_EX) != 0 && errno == EINTR)
		;
	flock(pg->users_fd, LOCK_UN);
	/* No other shelfcast process holds it shared: we are the last user. */
	if (flock(pg->users_fd, LOCK_EX | LOCK_NB) == 0) {
		stop_server(pg);
		flock(pg->users_fd, LOCK_UN);
	}
	flock(pg->start_fd, LOCK_UN);
	close(pg->start_fd);
	close(pg->users_fd);
	pg->start_fd = pg->users_fd = -1;
	pg->open = false;
	pthread_mutex_unlock(&pg->lock);
}

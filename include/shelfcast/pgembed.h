/*
 * pgembed — the embedded PostgreSQL: a private cluster under the data
 * directory, used when no database URL is given.
 *
 *   <data-dir>/              owned by the invoking user, writable by nobody else
 *                            (refused otherwise: see docs/security.md)
 *     pg/                    the cluster (PGDATA), owned by the user postgres runs as;
 *                            its Unix socket lives here too, and TCP is off.  A
 *                            directory, or, only when the cluster's user cannot reach
 *                            <data-dir>, this user's link to /var/lib/shelfcast/clusters/<hash>
 *     postgres.log, *.lock   regular files opened without following links (O_NOFOLLOW,
 *                            O_EXCL when new)
 *     postgres.log           the server's log
 *     start.lock             flock: serializes start, stop and the user count
 *     users.lock             flock: every shelfcast process using the cluster holds it shared
 *
 * pgembed_open initdb's the cluster on first use, starts it when it is not
 * running (recovering a stale postmaster.pid left by a killed server) and
 * reuses it when it is.  pgembed_close gives the cluster up; the last
 * shelfcast process to give it up stops it, so a `serve` that started it
 * stops it at exit, but never while a `train` in another terminal still
 * uses it.
 *
 * PostgreSQL refuses to run as root: as root the cluster runs as
 * $SHELFCAST_PG_USER, else the Debian "postgres" user, else "nobody".
 *
 * Thread-safety: one struct pgembed per process; pgembed_close may be
 * called from a signal-handling thread while another thread is inside
 * pgembed_open (an internal mutex orders them).
 */
#ifndef SHELFCAST_PGEMBED_H
#define SHELFCAST_PGEMBED_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "shelfcast/error.h"

struct pgembed {
	char data_dir[PATH_MAX]; /* absolute */
	char cluster[PATH_MAX];  /* data_dir/pg: PGDATA and the socket directory */
	char bindir[PATH_MAX];   /* where initdb and postgres are */
	char conninfo[PATH_MAX + 128];
	int start_fd, users_fd;  /* -1 when closed */
	int log_fd;              /* postgres.log, open during pgembed_open only; else -1 */
	bool open;
	bool started_here;       /* this process started the server */
	bool switch_user;        /* run initdb/postgres as run_uid/run_gid */
	uid_t run_uid;
	gid_t run_gid;
	char run_user[64];
	pthread_mutex_t lock;
};

/* Caller-owned struct: set it up with pgembed_init before anything else. */
void pgembed_init(struct pgembed *pg);

/*
 * Make the cluster under data_dir usable: create, init, start or reuse it.
 * On success pg->conninfo connects to database "shelfcast" as superuser
 * "shelfcast" over the cluster's Unix socket.
 */
enum error_code pgembed_open(struct pgembed *pg, const char *data_dir, struct error *err);

/* Give the cluster up; stops it when this is its last user. Idempotent. */
void pgembed_close(struct pgembed *pg);

/* ---- file rules (src/cli/pgembed_files.c), used by pgembed_open ---- */

/* Where clusters go when the cluster's user cannot reach the data directory. */
#define PGEMBED_CLUSTERS_DIR "/var/lib/shelfcast/clusters"

/*
 * A directory shelfcast keeps files in (as root, perhaps) must be a real
 * directory (not a link) of the effective user that group and others may
 * not write: nobody else can then plant a link or a file there for us to
 * follow.  ERROR_IO naming the directory and what is wrong otherwise.
 */
enum error_code pgembed_check_private_dir(const char *dir, struct error *err);

/*
 * Open `name` in the directory `dir` (an fd): created new (O_EXCL) when
 * missing, never through a link (O_NOFOLLOW), and only a regular file with
 * one name, owned by the effective user or by the cluster's user.  Returns
 * the fd (close it), or -1 with err set.
 */
int pgembed_open_private_file(const struct pgembed *pg, int dir, const char *name, int flags,
			      struct error *err);

/*
 * The cluster directory: *exists when it holds a cluster (PG_VERSION), false
 * when it is missing or empty; an error when it is a link, not a directory,
 * or a non-empty directory without a cluster.
 */
enum error_code pgembed_check_cluster_dir(const char *cluster, bool *exists, struct error *err);

#endif

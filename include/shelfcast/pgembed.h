/*
 * pgembed — the embedded PostgreSQL: a private cluster under the data
 * directory, used when no database URL is given.
 *
 *   <data-dir>/              owned by the invoking user
 *     pg/                    the cluster (PGDATA), owned by the user postgres runs as;
 *                            its Unix socket lives here too, and TCP is off
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

#endif

/* acceptor — see include/shelfcast/acceptor.h. */
#include "shelfcast/acceptor.h"

#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shelfcast/log.h"
#include "shelfcast/util.h"

/* How long accepting pauses after a failure, or at the connection limit, before it looks again. */
#define PAUSE_MS 20
/* At the limit, connections handed over and not started for this long are counted as lost. */
#define LOST_S 10.0

struct acceptor {
	int listen_fd, stop_fd;
	struct MHD_Daemon *daemon;
	const struct acceptor_counts *counts;
	/*
	 * Connections MHD_add_connection took (the accept thread's alone).  Those
	 * in the server are handed - closed: the open ones and those a worker has
	 * not picked up yet (handed - started), which libmicrohttpd's
	 * notifications do not count yet.
	 */
	long handed;
	long limit;
	/*
	 * util_now_s() when the acceptor reached the limit (0 when it is not
	 * there).  A connection libmicrohttpd drops after taking it (its memory
	 * pool not allocated) is never started nor closed: one still not started
	 * LOST_S after that is written off (lost_handovers).
	 */
	double waiting_since;
	pthread_t thread;
	double last_warned; /* util_now_s() of the last warning logged */
};

/* A warning, at most once a second. */
static void warn(struct acceptor *a, const char *what, int e)
{
	if (util_now_s() - a->last_warned < 1.0)
		return;
	if (e)
		log_msg(LOG_WARN, "http", "cannot accept connections (%s: %s): pausing %d ms", what, strerror(e),
			PAUSE_MS);
	else
		log_msg(LOG_WARN, "http", "%ld connections in the server, the limit (--connection-limit): new ones wait",
			a->limit);
	a->last_warned = util_now_s();
}

/* Errors of accept(2) that concern one connection (or none): the next accept may work at once. */
static bool transient(int e)
{
	switch (e) {
	case EINTR:
	case ECONNABORTED:
	case EPROTO:
	case EPERM: /* a firewall rule refused it */
	case ENETDOWN:
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case ENONET:
	case EHOSTUNREACH:
	case EOPNOTSUPP:
	case ENETUNREACH:
		return true;
	default:
		return false;
	}
}

unsigned acceptor_mhd_limit(unsigned limit, unsigned workers)
{
	unsigned long long share = (unsigned long long)limit + ACCEPTOR_BURST;

	if (!workers)
		workers = 1;
	return share * workers > UINT_MAX ? UINT_MAX : (unsigned)(share * workers);
}

/*
 * Up to `room` (and ACCEPTOR_BURST) waiting connections handed over; false when
 * accepting must pause (out of descriptors or memory: the connection stays
 * queued, and the listening socket would wake poll at once).
 */
static bool accept_some(struct acceptor *a, long room)
{
	long n;

	for (n = 0; n < room && n < ACCEPTOR_BURST;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int fd = accept4(a->listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			/* refused (the per-address limit, out of memory): libmicrohttpd closes it */
			if (MHD_add_connection(a->daemon, fd, (const struct sockaddr *)&ss, len) == MHD_YES)
				a->handed++;
			n++;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			break;
		} else if (!transient(errno)) {
			warn(a, "accept", errno);
			return false;
		}
	}
	return true;
}

/*
 * At the limit (nothing is handed over meanwhile): what has waited LOST_S
 * without a worker starting it is written off (see struct acceptor).
 */
static void lost_handovers(struct acceptor *a)
{
	long waiting = a->handed - atomic_load(&a->counts->started);
	double now = util_now_s();

	if (waiting <= 0 || !a->waiting_since) {
		a->waiting_since = now;
	} else if (now - a->waiting_since >= LOST_S) {
		log_msg(LOG_WARN, "http", "%ld connections handed to libmicrohttpd were not started within %.0f s: "
			"counted as lost", waiting, LOST_S);
		a->handed -= waiting;
		a->waiting_since = now;
	}
}

static void *run(void *arg)
{
	struct acceptor *a = arg;
	bool pause = false;

	for (;;) {
		/* paused: the stop signal alone, for PAUSE_MS; else the listening socket too, for as long as it takes */
		struct pollfd p[2] = {{a->stop_fd, POLLIN, 0}, {pause ? -1 : a->listen_fd, POLLIN, 0}};
		int n = poll(p, 2, pause ? PAUSE_MS : -1);
		long room = a->limit - (a->handed - atomic_load(&a->counts->closed));
		if (n > 0 && p[0].revents)
			break;
		if (n < 0 && errno != EINTR) {
			warn(a, "poll", errno);
			pause = true;
		} else if (room <= 0) { /* at the limit: new connections wait in the listening socket's queue */
			warn(a, NULL, 0);
			lost_handovers(a);
			pause = true;
		} else {
			a->waiting_since = 0;
			pause = (n == 0 || (n > 0 && p[1].revents)) && !accept_some(a, room);
		}
	}
	return NULL;
}

enum error_code acceptor_start(int listen_fd, struct MHD_Daemon *daemon, const struct acceptor_counts *counts,
			       long limit, struct acceptor **out, struct error *err)
{
	struct acceptor *a = calloc(1, sizeof *a);
	int rc;

	*out = NULL;
	if (!a)
		return error_nomem(err, "the accept loop");
	a->listen_fd = listen_fd;
	a->daemon = daemon;
	a->counts = counts;
	a->limit = limit;
	a->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (a->stop_fd < 0) {
		free(a);
		return error_set(err, ERROR_IO, "listen", "cannot start the accept loop: eventfd: %s",
				 strerror(errno));
	}
	rc = pthread_create(&a->thread, NULL, run, a);
	if (rc) {
		close(a->stop_fd);
		free(a);
		return error_set(err, ERROR_IO, "listen", "cannot start the accept loop: %s", strerror(rc));
	}
	*out = a;
	return ERROR_OK;
}

void acceptor_stop(struct acceptor *a)
{
	uint64_t one = 1;

	if (!a)
		return;
	while (write(a->stop_fd, &one, sizeof one) < 0 && errno == EINTR)
		;
	pthread_join(a->thread, NULL);
	close(a->stop_fd);
	free(a);
}

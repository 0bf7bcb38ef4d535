/* acceptor — see include/shelfcast/acceptor.h. */
#include "shelfcast/acceptor.h"

#include <errno.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shelfcast/log.h"
#include "shelfcast/util.h"

/* After an accept that failed for want of descriptors or memory: the pause before the next. */
#define BACKOFF_MS 50

struct acceptor {
	int listen_fd, stop_fd;
	struct MHD_Daemon *daemon;
	pthread_t thread;
	double last_warned; /* util_now_s() of the last logged failure */
};

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

/* Every connection waiting now, handed over; false when accepting must pause. */
static bool accept_waiting(struct acceptor *a)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int fd = accept4(a->listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			/* refused (limits, out of memory): libmicrohttpd closed it and logged why */
			(void)MHD_add_connection(a->daemon, fd, (const struct sockaddr *)&ss, len);
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return true;
		if (transient(errno))
			continue;
		if (util_now_s() - a->last_warned >= 1.0) {
			log_msg(LOG_WARN, "http", "cannot accept a connection (%s): retrying in %d ms", strerror(errno),
				BACKOFF_MS);
			a->last_warned = util_now_s();
		}
		return false;
	}
}

static void *run(void *arg)
{
	struct acceptor *a = arg;
	int timeout = -1;

	for (;;) {
		struct pollfd p[2] = {{a->listen_fd, POLLIN, 0}, {a->stop_fd, POLLIN, 0}};
		int n = poll(p, 2, timeout);
		if (n < 0 && errno != EINTR) {
			log_msg(LOG_ERROR, "http", "the accept loop stops: poll: %s", strerror(errno));
			break;
		}
		if (n > 0 && p[1].revents)
			break;
		/* after a pause (n == 0) the listening socket is tried again without waiting for news */
		timeout = (n == 0 || (n > 0 && p[0].revents)) && !accept_waiting(a) ? BACKOFF_MS : -1;
	}
	return NULL;
}

enum error_code acceptor_start(int listen_fd, struct MHD_Daemon *daemon, struct acceptor **out,
			       struct error *err)
{
	struct acceptor *a = calloc(1, sizeof *a);
	int rc;

	*out = NULL;
	if (!a)
		return error_nomem(err, "the accept loop");
	a->listen_fd = listen_fd;
	a->daemon = daemon;
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

/*
 * acceptor — the server's accept loop: one thread of its own takes each new
 * connection off the listening socket and hands it to libmicrohttpd
 * (MHD_add_connection), which gives it to worker (socket number mod
 * workers), or the next one with room when that one is full.
 *
 * Why not libmicrohttpd's own accepting: with a pool of epoll workers that
 * share the listening socket, whichever worker wakes first accepts up to
 * ten connections in a row, so a client's burst of keep-alive connections
 * (a storefront's connection pool) can land on one worker and stay there
 * for their lifetime: one core saturated, the others idle.  Connections
 * accepted one after another get consecutive socket numbers, which
 * alternate between the workers.
 *
 * Limits: the acceptor enforces --connection-limit itself.  At the limit
 * of connections in the server (handed over and not yet closed: open ones
 * and those a worker has not picked up yet) it stops accepting, and new
 * clients wait in the listening socket's queue (4096) until one closes, as
 * with libmicrohttpd's own accepting.  libmicrohttpd's own limit must be out
 * of reach (acceptor_mhd_limit): a worker that refuses a connection it was
 * handed leaves a mutex locked in libmicrohttpd 0.9.75 (fixed in 1.0.0) and
 * hangs for good.  A connection refused when it is handed over (the
 * per-address limit) libmicrohttpd closes.  Spreading follows socket
 * numbers, not load: the kernel reuses the lowest free number, so a
 * connection replacing one that closed on a worker usually lands on that
 * worker again.
 *
 * Errors: accepting pauses (PAUSE_MS, a warning at most once a second) when
 * accept fails for want of descriptors or memory, or poll fails, instead of
 * retrying at once in a busy loop; the stop signal is looked at between
 * bursts of at most BURST connections, so a flood cannot hold off a drain.
 *
 * Thread-safety: acceptor_start and acceptor_stop from one thread.
 */
#ifndef SHELFCAST_ACCEPTOR_H
#define SHELFCAST_ACCEPTOR_H

#include <stdatomic.h>

#include "shelfcast/error.h"

struct MHD_Daemon;
struct acceptor;

/*
 * What libmicrohttpd's connection notifications (MHD_OPTION_NOTIFY_CONNECTION)
 * reported since the start: the caller adds one to `started` on each
 * MHD_CONNECTION_NOTIFY_STARTED and to `closed` on each ..._CLOSED.
 */
struct acceptor_counts {
	atomic_long started, closed;
};

/* Connections handed over per wake-up at most: then the stop signal is looked at again. */
#define ACCEPTOR_BURST 64

/*
 * The MHD_OPTION_CONNECTION_LIMIT to give the daemon for a --connection-limit
 * of `limit` over `workers` threads: each worker's share (the option divided
 * by the workers) is the whole limit and a burst more, so that libmicrohttpd
 * never refuses a connection the acceptor hands over.
 */
unsigned acceptor_mhd_limit(unsigned limit, unsigned workers);

/*
 * Start accepting on listen_fd (listening, non-blocking) for daemon (a
 * thread pool started with MHD_USE_NO_LISTEN_SOCKET and MHD_USE_ITC, its
 * connection limit acceptor_mhd_limit()), while the connections in the
 * server (handed over by the acceptor, minus counts->closed) are under
 * limit.  All three stay the caller's and must outlive the acceptor.
 */
enum error_code acceptor_start(int listen_fd, struct MHD_Daemon *daemon, const struct acceptor_counts *counts,
			       long limit, struct acceptor **out, struct error *err);

/*
 * Stop accepting and join the thread; NULL is a no-op.  Connections waiting
 * in the listening socket's queue stay there (closing the socket resets them).
 */
void acceptor_stop(struct acceptor *a);

#endif

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
 * Limits: at --connection-limit open connections (counted by the server
 * from libmicrohttpd's notifications) it stops accepting, and new clients
 * wait in the listening socket's queue (4096) until one closes, as with
 * libmicrohttpd's own accepting; a connection it refuses anyway (the
 * per-address limit, a worker's share of the limit taken meanwhile) it
 * closes.  Spreading follows socket numbers, not load: the kernel reuses
 * the lowest free number, so a connection replacing one that closed on a
 * worker usually lands on that worker again.
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
 * Start accepting on listen_fd (listening, non-blocking) for daemon (a
 * thread pool started with MHD_USE_NO_LISTEN_SOCKET and MHD_USE_ITC), while
 * *open (the connections open now) is under limit.  All three stay the
 * caller's and must outlive the acceptor.
 */
enum error_code acceptor_start(int listen_fd, struct MHD_Daemon *daemon, const atomic_long *open, long limit,
			       struct acceptor **out, struct error *err);

/*
 * Stop accepting and join the thread; NULL is a no-op.  Connections waiting
 * in the listening socket's queue stay there (closing the socket resets them).
 */
void acceptor_stop(struct acceptor *a);

#endif

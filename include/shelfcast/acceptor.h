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
 * Errors: a failed accept for want of file descriptors or memory is logged
 * (at most once a second) and retried after a pause, never in a busy loop;
 * a connection libmicrohttpd refuses (at the connection limit, per-address
 * limit) is closed by it.
 *
 * Thread-safety: acceptor_start and acceptor_stop from one thread.
 */
#ifndef SHELFCAST_ACCEPTOR_H
#define SHELFCAST_ACCEPTOR_H

#include "shelfcast/error.h"

struct MHD_Daemon;
struct acceptor;

/*
 * Start accepting on listen_fd (listening, non-blocking) for daemon (a
 * thread pool started with MHD_USE_NO_LISTEN_SOCKET and MHD_USE_ITC).
 * Both stay the caller's and must outlive the acceptor.
 */
enum error_code acceptor_start(int listen_fd, struct MHD_Daemon *daemon, struct acceptor **out,
			       struct error *err);

/*
 * Stop accepting and join the thread; NULL is a no-op.  Connections waiting
 * in the listening socket's queue stay there (closing the socket resets them).
 */
void acceptor_stop(struct acceptor *a);

#endif

/*
 * listen — the server's listening socket from a --listen value:
 * "HOST:PORT", "[IPV6]:PORT" or "PORT", with a numeric address
 * ("localhost" and "*" are the only names: 127.0.0.1 and 0.0.0.0).
 *
 * Thread-safety: no shared state.
 */
#ifndef SHELFCAST_LISTEN_H
#define SHELFCAST_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

#include "shelfcast/error.h"

/*
 * Split a --listen value: host gets the address without brackets ("" when
 * the value is a bare PORT: every address), *port the number.  false when
 * the value is none of the three forms or the host does not fit.
 */
bool listen_split(const char *spec, char *host, size_t host_size, unsigned *port);

/*
 * Bind and listen (non-blocking, close-on-exec, backlog 4096).  *fd_out is
 * the caller's to close; bound gets the address actually bound, port
 * resolved ("127.0.0.1:8080").  Errors name the value and the cause.
 */
enum error_code listen_bind(const char *spec, int *fd_out, char *bound, size_t bound_size,
			    struct error *err);

#endif

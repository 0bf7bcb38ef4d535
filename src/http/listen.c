/* listen — see include/shelfcast/listen.h. */
#include "shelfcast/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shelfcast/util.h"

bool listen_split(const char *spec, char *host, size_t host_size, unsigned *port)
{
	const char *port_text = spec, *colon, *end;
	long long n;

	if (spec[0] == '[') {
		end = strchr(spec, ']');
		if (!end || end == spec + 1 || end[1] != ':' || (size_t)(end - spec - 1) >= host_size)
			return false; /* "[]": brackets hold an address */
		snprintf(host, host_size, "%.*s", (int)(end - spec - 1), spec + 1);
		port_text = end + 2;
	} else if ((colon = strrchr(spec, ':'))) {
		if ((size_t)(colon - spec) >= host_size)
			return false;
		snprintf(host, host_size, "%.*s", (int)(colon - spec), spec);
		port_text = colon + 1;
	} else {
		snprintf(host, host_size, "%s", ""); /* the whole value is the port */
	}
	if (!util_parse_long(port_text, 0, 65535, &n))
		return false;
	*port = (unsigned)n;
	return true;
}

enum error_code listen_bind(const char *spec, int *fd_out, char *bound, size_t bound_size,
			    struct error *err)
{
	char host[128];
	struct sockaddr_storage ss;
	socklen_t slen;
	unsigned port;
	int fd, one = 1;

	memset(&ss, 0, sizeof ss);
	if (!listen_split(spec, host, sizeof host, &port))
		goto bad;
	if (!host[0] || !strcmp(host, "*"))
		snprintf(host, sizeof host, "0.0.0.0");
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		slen = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		slen = sizeof(struct sockaddr_in6);
	} else {
		goto bad;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return error_set(err, ERROR_IO, "listen", "cannot create a socket for %s: %s", spec,
				 strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, slen) != 0 || listen(fd, 4096) != 0) {
		int e = errno;
		close(fd);
		return error_set(err, ERROR_IO, "listen", "cannot listen on %s: %s%s", spec, strerror(e),
				 e == EADDRINUSE ? " (another process holds this port; choose --listen)" : "");
	}
	slen = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &slen);
	if (ss.ss_family == AF_INET6) {
		char a[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof a);
		snprintf(bound, bound_size, "[%s]:%u", a, ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	} else {
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof a);
		snprintf(bound, bound_size, "%s:%u", a, ntohs(((struct sockaddr_in *)&ss)->sin_port));
	}
	*fd_out = fd;
	return ERROR_OK;
bad:
	return error_set(err, ERROR_INVALID, "listen",
			 "--listen \"%s\": expected HOST:PORT, [IPV6]:PORT or PORT with a numeric "
			 "address",
			 spec);
}

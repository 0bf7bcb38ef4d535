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

enum error_code listen_bind(const char *spec, int *fd_out, char *bound, size_t bound_size,
			    struct error *err)
{
	char host[128] = "", port_s[16] = "";
	struct sockaddr_storage ss;
	socklen_t slen;
	const char *colon;
	long long port;
	int fd, one = 1;

	memset(&ss, 0, sizeof ss);
	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');
		if (!end || end[1] != ':' || (size_t)(end - spec - 1) >= sizeof host)
			goto bad;
		memcpy(host, spec + 1, (size_t)(end - spec - 1));
		snprintf(port_s, sizeof port_s, "%s", end + 2);
	} else if ((colon = strrchr(spec, ':'))) {
		if ((size_t)(colon - spec) >= sizeof host)
			goto bad;
		memcpy(host, spec, (size_t)(colon - spec));
		snprintf(port_s, sizeof port_s, "%s", colon + 1);
	} else {
		snprintf(port_s, sizeof port_s, "%s", spec);
	}
	if (!util_parse_long(port_s, 0, 65535, &port))
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

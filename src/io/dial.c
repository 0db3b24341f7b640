/*
 * weft_dial and weft_listen: a connected or a listening socket from a
 * network name and an address string, the boilerplate of every program.
 *
 * Dialling a host name races its addresses as RFC 8305 ("Happy Eyeballs
 * v2") describes: the resolver's order with the two families interleaved,
 * a new attempt every CONNECT_STAGGER_MS or as soon as one fails, the
 * first connection that completes wins and the others are closed.  The
 * waits go through weft_poll, so in a task they park and the task's
 * deadline and cancellation end them; outside a task they block.
 */
#include "base/compiler.h"
#include "base/error.h"
#include "base/alloc.h"

#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "base/clock.h"
#include "base/sys.h"
#include "io/fd.h"

/* RFC 8305 section 5: "Connection Attempt Delay", recommended 250 ms. */
#define CONNECT_STAGGER_MS 250
/* Attempts in flight at once; more addresses than this wait their turn. */
#define MAX_RACING 8

struct network {
	const char *name;
	int family;                   /* AF_UNSPEC: whatever resolves */
	int socktype;
};

static const struct network networks[] = {
	{ "tcp", AF_UNSPEC, SOCK_STREAM },
	{ "tcp4", AF_INET, SOCK_STREAM },
	{ "tcp6", AF_INET6, SOCK_STREAM },
	{ "udp", AF_UNSPEC, SOCK_DGRAM },
	{ "udp4", AF_INET, SOCK_DGRAM },
	{ "udp6", AF_INET6, SOCK_DGRAM },
	{ "unix", AF_UNIX, SOCK_STREAM },
	{ "unixgram", AF_UNIX, SOCK_DGRAM },
	{ "unixpacket", AF_UNIX, SOCK_SEQPACKET },
};

static const struct network *network_find(const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; i < sizeof(networks) / sizeof(networks[0]); i++)
		if (strcmp(networks[i].name, name) == 0)
			return &networks[i];
	return NULL;
}

/* ---- addresses ---------------------------------------------------------- */

/* A port number up to 65535, or a service name for the resolver. */
static int port_ok(const char *port)
{
	char *end;
	unsigned long n;

	if (*port < '0' || *port > '9')
		return 1;
	n = strtoul(port, &end, 10);
	return *end == '\0' && n <= 65535;
}

/*
 * "host:port", "[v6addr]:port" or ":port" into host (NULL when empty) and
 * port, in buf.  A bare IPv6 address without brackets is ambiguous and
 * refused, as is a missing port.
 */
static int split_host_port(const char *address, char *buf, size_t size,
    char **host, char **port)
{
	char *colon, *h;
	size_t n = strlen(address);

	if (n >= size)
		return weft__fail(EINVAL);
	memcpy(buf, address, n + 1);
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');

		if (!close || close[1] != ':')
			return weft__fail(EINVAL);
		*close = '\0';
		h = buf + 1;
		colon = close + 1;
	} else {
		if (!(colon = strchr(buf, ':')) || strchr(colon + 1, ':'))
			return weft__fail(EINVAL);
		h = buf;
	}
	*colon = '\0';
	if (colon[1] == '\0' || strchr(h, '[') || strchr(h, ']') ||
	    !port_ok(colon + 1))
		return weft__fail(EINVAL);
	*host = *h ? h : NULL;
	*port = colon + 1;
	return 0;
}

/* getaddrinfo's failures as errno values (weft_dial(3) lists them). */
static int gai_errno(int rc)
{
	switch (rc) {
	case EAI_SYSTEM:
		return errno;
	case EAI_MEMORY:
		return ENOMEM;
	case EAI_AGAIN:
		return EAGAIN;
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY:
#endif
		return EADDRNOTAVAIL;
	case EAI_FAIL:
		return EIO;
	default:                      /* EAI_SERVICE, EAI_FAMILY, ... */
		return EINVAL;
	}
}

/* The addresses of address; *any says it had no host. */
static int resolve(const struct network *net, const char *address,
    int passive, struct addrinfo **res, int *any)
{
	char buf[1024], *host, *port;
	struct addrinfo hints;
	int rc;

	if (split_host_port(address, buf, sizeof(buf), &host, &port) == -1)
		return -1;
	*any = !host;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = net->family;
	hints.ai_socktype = net->socktype;
	hints.ai_flags = passive ? AI_PASSIVE : 0;
	if ((rc = weft_getaddrinfo(host, port, &hints, res)) != 0)
		return weft__fail(gai_errno(rc));
	return 0;
}

/* A Unix-domain address: a path, or "@name" in the abstract namespace. */
static int unix_address(const char *path, struct sockaddr_un *sun,
    socklen_t *len)
{
	size_t n = strlen(path);

	if (n == 0)
		return weft__fail(EINVAL);
	if (n >= sizeof(sun->sun_path))
		return weft__fail(ENAMETOOLONG);
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, n);
	if (path[0] == '@')
		sun->sun_path[0] = '\0';
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
	    (path[0] != '@'));
	return 0;
}

/*
 * RFC 8305 section 4: keep the resolver's order, but alternate the
 * families, starting with the one it put first.  Writes at most max
 * entries of list into out; the count.
 */
static size_t interleave(struct addrinfo *list, struct addrinfo **out,
    size_t max)
{
	struct addrinfo *a, *b;
	int first;
	size_t n = 0;

	if (!list)
		return 0;
	first = list->ai_family;
	a = list;
	b = list;
	while (b && b->ai_family == first)
		b = b->ai_next;
	while ((a || b) && n < max) {
		if (a) {
			out[n++] = a;
			do
				a = a->ai_next;
			while (a && a->ai_family != first);
		}
		if (b && n < max) {
			out[n++] = b;
			do
				b = b->ai_next;
			while (b && b->ai_family == first);
		}
	}
	return n;
}

/* ---- sockets ------------------------------------------------------------ */

static int new_socket(int family, int socktype, int protocol)
{
	return weft__sys_socket(family, socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    protocol);
}

/*
 * A socket weft made and hands over: blocking, as socket(2) makes them,
 * so plain calls on it behave as usual (weft's calls park regardless),
 * and no entry a former file under its number left behind.
 */
static int hand_over(int fd)
{
	struct weft__fd *e;
	int fl = weft__sys_fcntl(fd, F_GETFL, 0);

	if (fl == -1 || weft__sys_fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
		int err = errno;

		weft__sys_close(fd);
		return weft__fail(err);
	}
	if ((e = weft__fd_peek(weft__rt_peek(), fd)))
		weft__fd_forget(e);
	return fd;
}

/* ---- dial --------------------------------------------------------------- */

struct race {
	struct pollfd p[MAX_RACING];
	int n;                        /* attempts in flight */
	int first_err;                /* of the first attempt that failed */
};

static void race_fail(struct race *r, int i, int err)
{
	weft__sys_close(r->p[i].fd);
	r->p[i] = r->p[--r->n];
	if (!r->first_err)
		r->first_err = err;
}

/* Start a connection to a; 1 connected (fd in *won), 0 underway, -1 it
 * failed at once (recorded). */
static int race_start(struct race *r, const struct addrinfo *a, int *won)
{
	int fd = new_socket(a->ai_family, a->ai_socktype, a->ai_protocol);

	if (fd == -1 || weft__sys_connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
		if (fd == -1 && !r->first_err)
			r->first_err = errno;
		*won = fd;
		return fd == -1 ? -1 : 1;
	}
	r->p[r->n].fd = fd;
	r->p[r->n].events = POLLOUT;
	r->p[r->n].revents = 0;
	r->n++;
	if (errno != EINPROGRESS) {
		race_fail(r, r->n - 1, errno);
		return -1;
	}
	return 0;
}

/* The attempts poll found done: the first that connected, or -1. */
static int race_collect(struct race *r)
{
	int i = 0, soerr;
	socklen_t len;

	while (i < r->n) {
		if (!r->p[i].revents) {
			i++;
			continue;
		}
		soerr = 0;
		len = sizeof(soerr);
		if (weft__sys_getsockopt(r->p[i].fd, SOL_SOCKET, SO_ERROR,
		    &soerr, &len) == -1)
			soerr = errno;
		if (soerr == 0 && !(r->p[i].revents & (POLLERR | POLLHUP))) {
			int fd = r->p[i].fd;

			r->p[i] = r->p[--r->n];
			return fd;
		}
		race_fail(r, i, soerr ? soerr : ECONNREFUSED);
	}
	return -1;
}

static void race_abandon(struct race *r)
{
	while (r->n)
		weft__sys_close(r->p[--r->n].fd);
}

static int dial_addresses(struct addrinfo **order, size_t count)
{
	struct race r = { .n = 0, .first_err = 0 };
	size_t next = 0;
	int64_t start_at = 0;
	int won = -1, timeout, rc;

	for (;;) {
		/* Start the next attempt when its turn has come. */
		while (next < count && r.n < MAX_RACING &&
		    (r.n == 0 || weft_now() >= start_at)) {
			rc = race_start(&r, order[next++], &won);
			if (rc == 1)
				goto done;
			if (rc == 0)
				start_at = weft_now() +
				    CONNECT_STAGGER_MS * WEFT__NS_PER_MS;
		}
		if (r.n == 0)
			return weft__fail(r.first_err ? r.first_err :
			    EADDRNOTAVAIL);
		timeout = -1;
		if (next < count) {
			int64_t left = start_at - weft_now();

			timeout = left > 0 ? weft__ms_ceil(left) : 0;
		}
		if (weft_poll(r.p, (nfds_t)r.n, timeout) == -1) {
			int err = errno;

			race_abandon(&r);
			return weft__fail(err);
		}
		if ((won = race_collect(&r)) >= 0)
			goto done;
		/* One failed: RFC 8305 starts the next one now. */
		if (r.first_err)
			start_at = 0;
	}
done:
	race_abandon(&r);
	return hand_over(won);
}

static int dial_unix(const struct network *net, const char *path)
{
	struct sockaddr_un sun;
	socklen_t len;
	int fd;

	if (unix_address(path, &sun, &len) == -1)
		return -1;
	if ((fd = weft__sys_socket(AF_UNIX, net->socktype | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	if (weft_connect(fd, (struct sockaddr *)&sun, len) == -1) {
		int err = errno;

		weft_close(fd);
		return weft__fail(err);
	}
	return hand_over(fd);
}

int weft_dial(const char *network, const char *address)
{
	const struct network *net = network_find(network);
	struct addrinfo *res, *order[64];
	size_t count;
	int fd, any;

	if (!net || !address)
		return weft__fail(EINVAL);
	if (net->family == AF_UNIX)
		return dial_unix(net, address);
	if (resolve(net, address, 0, &res, &any) == -1)
		return -1;
	count = interleave(res, order, sizeof(order) / sizeof(order[0]));
	fd = dial_addresses(order, count);
	freeaddrinfo(res);
	return fd;
}

/* ---- listen ------------------------------------------------------------- */

static int bind_listen(int fd, const struct sockaddr *addr, socklen_t len,
    int socktype, int backlog)
{
	int one = 1;

	if (socktype == SOCK_STREAM && addr->sa_family != AF_UNIX &&
	    weft__sys_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) == -1)
		return -1;
	if (weft__sys_bind(fd, addr, len) == -1)
		return -1;
	if (socktype != SOCK_DGRAM && weft__sys_listen(fd,
	    backlog < 0 ? SOMAXCONN : backlog) == -1)
		return -1;
	return 0;
}

static int listen_on(const struct sockaddr *addr, socklen_t len,
    int socktype, int protocol, int backlog, int v6only)
{
	int fd = new_socket(addr->sa_family, socktype, protocol);

	if (fd == -1)
		return -1;
	if (addr->sa_family == AF_INET6 && weft__sys_setsockopt(fd,
	    IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) == -1)
		goto fail;
	if (bind_listen(fd, addr, len, socktype, backlog) == -1)
		goto fail;
	return hand_over(fd);
fail:
	{
		int err = errno;

		weft__sys_close(fd);
		return weft__fail(err);
	}
}

static int listen_unix(const struct network *net, const char *path,
    int backlog)
{
	struct sockaddr_un sun;
	socklen_t len;

	if (unix_address(path, &sun, &len) == -1)
		return -1;
	return listen_on((struct sockaddr *)&sun, len, net->socktype, 0,
	    backlog, 0);
}

/*
 * Bind the first address of res that can be bound.  With dual ("tcp" or
 * "udp" without a host), every address of both families: one IPv6
 * socket with IPV6_V6ONLY off, or the IPv4 one where the system has no
 * IPv6.
 */
static int listen_first(struct addrinfo *res, int dual, int backlog)
{
	struct addrinfo *a;
	int fd, err = EADDRNOTAVAIL;

	for (a = res; dual && a; a = a->ai_next) {
		if (a->ai_family != AF_INET6)
			continue;
		fd = listen_on(a->ai_addr, a->ai_addrlen, a->ai_socktype,
		    a->ai_protocol, backlog, 0);
		if (fd >= 0 || (errno != EAFNOSUPPORT && errno != EADDRNOTAVAIL))
			return fd;
	}
	for (a = res; a; a = a->ai_next) {
		if (dual && a->ai_family == AF_INET6)
			continue;
		fd = listen_on(a->ai_addr, a->ai_addrlen, a->ai_socktype,
		    a->ai_protocol, backlog, 1);
		if (fd >= 0)
			return fd;
		err = errno;
	}
	return weft__fail(err);
}

int weft_listen(const char *network, const char *address, int backlog)
{
	const struct network *net = network_find(network);
	struct addrinfo *res;
	int fd, any;

	if (!net || !address)
		return weft__fail(EINVAL);
	if (net->family == AF_UNIX)
		return listen_unix(net, address, backlog);
	if (resolve(net, address, 1, &res, &any) == -1)
		return -1;
	fd = listen_first(res, any && net->family == AF_UNSPEC, backlog);
	freeaddrinfo(res);
	return fd;
}

/*
 * epoll_echo: the echo server written by hand in C, as a reference for
 * what the kernel allows: one thread, edge-triggered epoll, every socket
 * registered once.  A read shorter than the buffer is taken to mean the
 * socket is drained, so no read ends in EAGAIN (what weft and Tokio do):
 * two system calls per round trip, read and write.
 *
 *   epoll_echo PORT        serves 127.0.0.1:PORT until killed
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"

#define BUFSZ 4096

struct conn {
	int fd;
	size_t off, len;             /* bytes of buf still to send */
	char buf[BUFSZ];
};

static void drop(struct conn *c)
{
	close(c->fd);
	free(c);
}

/* Send what is pending: 1 all sent, 0 would block, -1 error. */
static int flush(struct conn *c)
{
	while (c->len) {
		ssize_t w = write(c->fd, c->buf + c->off, c->len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno == EAGAIN ? 0 : -1;
		c->off += (size_t)w;
		c->len -= (size_t)w;
	}
	return 1;
}

static void serve(struct conn *c)
{
	ssize_t r;
	int f;

	for (;;) {
		if ((f = flush(c)) <= 0) {
			if (f < 0)
				drop(c);
			return;              /* the rest at EPOLLOUT */
		}
		r = read(c->fd, c->buf, BUFSZ);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			drop(c);
			return;
		}
		c->off = 0;
		c->len = (size_t)r;
		if (r < BUFSZ) {             /* drained: the next edge says more */
			if (flush(c) < 0)
				drop(c);
			return;
		}
	}
}

static void accept_all(int ep, int lfd)
{
	struct epoll_event ev;
	struct conn *c;
	int fd, one = 1;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (!(c = calloc(1, sizeof(*c)))) {
			close(fd);
			continue;
		}
		c->fd = fd;
		ev.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
			drop(c);
	}
}

int main(int argc, char **argv)
{
	struct epoll_event ev, evs[256];
	int port = argc > 1 ? atoi(argv[1]) : 0, ep, lfd, i, n;

	if (port <= 0 || port > 65535) {
		fprintf(stderr, "usage: epoll_echo PORT\n");
		return 2;
	}
	lfd = listener(port, SOCK_NONBLOCK, "epoll_echo");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		perror("epoll_echo: epoll_create1");
		return 1;
	}
	ev.events = EPOLLIN | EPOLLET;
	ev.data.ptr = NULL;                  /* the listener */
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		n = epoll_wait(ep, evs, 256, -1);
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr)
				serve(evs[i].data.ptr);
			else
				accept_all(ep, lfd);
		}
	}
}

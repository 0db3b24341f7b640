/*
 * uring_echo: the echo server written by hand in C on io_uring
 * (liburing), as a reference for what completion-based I/O allows: one
 * thread, one ring set up with IORING_SETUP_SINGLE_ISSUER and
 * IORING_SETUP_DEFER_TASKRUN (completions run when the thread asks for
 * them: without it the ring cost twice the CPU of epoll here), a multishot
 * accept, one receive in flight per connection into its own buffer, its
 * send submitted from the completion, and one io_uring_submit_and_wait per
 * turn of the loop.
 *
 *   uring_echo PORT        serves 127.0.0.1:PORT until killed
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"

#define BUFSZ 4096

enum op { OP_ACCEPT, OP_RECV, OP_SEND };

struct conn {
	int fd;
	size_t off, len;             /* bytes of buf still to send */
	char buf[BUFSZ];
};

static struct io_uring ring;

static struct io_uring_sqe *sqe(void *c, enum op op)
{
	struct io_uring_sqe *s;

	while (!(s = io_uring_get_sqe(&ring)))
		io_uring_submit(&ring);
	io_uring_sqe_set_data(s, (void *)((uintptr_t)c | (uintptr_t)op));
	return s;
}

static void post_recv(struct conn *c)
{
	io_uring_prep_recv(sqe(c, OP_RECV), c->fd, c->buf, BUFSZ, 0);
}

static void post_send(struct conn *c)
{
	io_uring_prep_send(sqe(c, OP_SEND), c->fd, c->buf + c->off,
	    c->len - c->off, MSG_NOSIGNAL);
}

static void drop(struct conn *c)
{
	close(c->fd);
	free(c);
}

static void accepted(int fd)
{
	struct conn *c;
	int one = 1;

	if (fd < 0)
		return;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!(c = calloc(1, sizeof(*c)))) {
		close(fd);
		return;
	}
	c->fd = fd;
	post_recv(c);
}

static void complete(struct io_uring_cqe *cqe, int lfd)
{
	uintptr_t u = (uintptr_t)io_uring_cqe_get_data(cqe);
	struct conn *c = (struct conn *)(u & ~(uintptr_t)3);

	switch ((enum op)(u & 3)) {
	case OP_ACCEPT:
		accepted(cqe->res);
		if (!(cqe->flags & IORING_CQE_F_MORE))
			io_uring_prep_multishot_accept(sqe(NULL, OP_ACCEPT), lfd,
			    NULL, NULL, 0);
		break;
	case OP_RECV:
		if (cqe->res <= 0) {
			drop(c);
			break;
		}
		c->off = 0;
		c->len = (size_t)cqe->res;
		post_send(c);
		break;
	case OP_SEND:
		if (cqe->res < 0) {
			drop(c);
			break;
		}
		c->off += (size_t)cqe->res;
		if (c->off < c->len)
			post_send(c);        /* a short send: the rest */
		else
			post_recv(c);
		break;
	}
}

int main(int argc, char **argv)
{
	struct io_uring_params p;
	struct io_uring_cqe *cqe;
	int port = argc > 1 ? atoi(argv[1]) : 0, lfd, r;
	unsigned head, n;

	if (port <= 0 || port > 65535) {
		fprintf(stderr, "usage: uring_echo PORT\n");
		return 2;
	}
	lfd = listener(port, 0, "uring_echo");
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
	    IORING_SETUP_CQSIZE;
	p.cq_entries = 4096;
	if ((r = io_uring_queue_init_params(1024, &ring, &p)) < 0) {
		fprintf(stderr, "uring_echo: io_uring: %s\n", strerror(-r));
		return 1;
	}
	io_uring_prep_multishot_accept(sqe(NULL, OP_ACCEPT), lfd, NULL, NULL,
	    0);
	for (;;) {
		r = io_uring_submit_and_wait(&ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			fprintf(stderr, "uring_echo: %s\n", strerror(-r));
			return 1;
		}
		n = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			complete(cqe, lfd);
			n++;
		}
		io_uring_cq_advance(&ring, n);
	}
}

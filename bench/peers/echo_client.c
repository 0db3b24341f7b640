/*
 * echo_client: the load generator every echo server of bench/peers takes,
 * so that weft, Go and Tokio are measured by the same C code.
 *
 *   echo_client PORT [CONNECTIONS [SECONDS [SIZE]]]   (100, 2, 64)
 *
 * One thread, one epoll set, level-triggered: each connection to
 * 127.0.0.1:PORT sends SIZE bytes, waits for all SIZE to come back, and
 * sends again.  After a warm-up of 0.2 s, the round trips completed in
 * SECONDS are counted; the line printed is
 *
 *   round_trips_per_s N
 *
 * and the exit status is 0 only if every echo came back byte for byte.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE 4096

struct conn {
	int fd;
	size_t got;                   /* bytes of the echo read so far */
	char buf[MAX_SIZE];
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int dial(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, tries;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	/* The server may still be starting. */
	for (tries = 0; tries < 200; tries++) {
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			break;
		if (errno != ECONNREFUSED) {
			close(fd);
			return -1;
		}
		usleep(10 * 1000);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 0;
	int n = argc > 2 ? atoi(argv[2]) : 100;
	double secs = argc > 3 ? atof(argv[3]) : 2.0;
	size_t size = argc > 4 ? (size_t)atol(argv[4]) : 64;
	char msg[MAX_SIZE];
	struct epoll_event ev, evs[256];
	struct conn *c;
	int64_t start, end, counted_from;
	long long trips = 0;
	int ep, i, k, bad = 0;

	if (port <= 0 || n <= 0 || secs <= 0 || size == 0 || size > MAX_SIZE) {
		fprintf(stderr, "usage: %s PORT [CONNECTIONS [SECONDS [SIZE]]]\n",
		    argv[0]);
		return 2;
	}
	for (i = 0; i < (int)size; i++)
		msg[i] = (char)('a' + i % 26);
	if ((ep = epoll_create1(0)) < 0 || !(c = calloc((size_t)n, sizeof(*c))))
		return 1;
	for (i = 0; i < n; i++) {
		if ((c[i].fd = dial(port)) < 0) {
			perror("echo_client: connect");
			return 1;
		}
		ev.events = EPOLLIN;
		ev.data.ptr = &c[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev) != 0 ||
		    write(c[i].fd, msg, size) != (ssize_t)size)
			return 1;
	}
	start = now_ns();
	counted_from = start + 200 * 1000000;
	end = counted_from + (int64_t)(secs * 1e9);
	while (now_ns() < end) {
		k = epoll_wait(ep, evs, 256, 100);
		for (i = 0; i < k; i++) {
			struct conn *x = evs[i].data.ptr;
			ssize_t r = read(x->fd, x->buf + x->got, size - x->got);

			if (r <= 0) {
				fprintf(stderr, "echo_client: connection lost\n");
				return 1;
			}
			x->got += (size_t)r;
			if (x->got < size)
				continue;
			bad |= memcmp(x->buf, msg, size) != 0;
			x->got = 0;
			if (now_ns() >= counted_from)
				trips++;
			if (write(x->fd, msg, size) != (ssize_t)size)
				return 1;
		}
	}
	for (i = 0; i < n; i++)
		close(c[i].fd);
	printf("round_trips_per_s %.0f\n", (double)trips / secs);
	return bad;
}

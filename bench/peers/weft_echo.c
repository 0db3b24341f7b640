/*
 * weft_echo: the weft echo server of bench/peers.  One thread: an accept
 * task and a task per connection echoing with weft_read and weft_write.
 * With WORKERS, weft_set_workers(WORKERS) first: the same program on a
 * crew of that many threads, the connection tasks spread over them by
 * weft.  With "reuseport THREADS", the same served the way a program had
 * to before workers: THREADS pthreads made by hand, each with a weft
 * runtime of its own, each accepting on a listener of its own bound to
 * the same port with SO_REUSEPORT, so that the kernel shares the
 * connections out among them (by a hash of the addresses: not always
 * evenly, and a connection stays with the thread that accepted it).
 *
 *   weft_echo PORT [WORKERS]
 *   weft_echo PORT reuseport [THREADS]     (THREADS: 2)
 *
 * Runs until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "weft.h"

static void *echo(void *arg)
{
	int fd = (int)(intptr_t)arg, one = 1;
	char buf[4096];
	ssize_t n;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while ((n = weft_read(fd, buf, sizeof(buf))) > 0)
		if (weft_write(fd, buf, (size_t)n) != n)
			break;
	weft_close(fd);
	return NULL;
}

/* The acceptor is a task too: outside one, weft_accept would hold the
 * thread. */
static void *acceptor(void *arg)
{
	int lfd = (int)(intptr_t)arg, fd;
	weft_attr attr;

	weft_attr_init(&attr);
	weft_attr_setdetached(&attr, 1);
	for (;;) {
		if ((fd = weft_accept(lfd, NULL, NULL)) < 0)
			continue;
		weft_spawn_attr(echo, (void *)(intptr_t)fd, &attr);
	}
	return NULL;
}

/* weft_listen sets no SO_REUSEPORT: the listener is made by hand. */
static int listen_reuseport(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fd, 1024) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One thread: its own runtime, its acceptor task, until killed. */
static void *serve(void *arg)
{
	weft_join(weft_spawn(acceptor, arg), NULL);
	return NULL;
}

static int serve_reuseport(int port, int n)
{
	int i, err, *lfd;
	pthread_t *th;

	if (n <= 0 || !(th = calloc((size_t)n, sizeof(*th))) ||
	    !(lfd = calloc((size_t)n, sizeof(*lfd))))
		return 2;
	/* Every listener is bound before any thread serves, so that the
	 * kernel shares out even the first connections among all of them. */
	for (i = 0; i < n; i++)
		if ((lfd[i] = listen_reuseport(port)) < 0) {
			perror("weft_echo: listen");
			return 1;
		}
	for (i = 0; i < n; i++)
		if ((err = pthread_create(&th[i], NULL, serve,
		    (void *)(intptr_t)lfd[i])) != 0) {
			errno = err;
			perror("weft_echo: pthread_create");
			return 1;
		}
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return 0;
}

int main(int argc, char **argv)
{
	char addr[32];
	int lfd;

	if (argc < 2)
		return 2;
	if (argc > 2 && strcmp(argv[2], "reuseport") == 0)
		return serve_reuseport(atoi(argv[1]),
		    argc > 3 ? atoi(argv[3]) : 2);
	if (argc > 2 && weft_set_workers((unsigned)atoi(argv[2])) != 0) {
		perror("weft_echo: weft_set_workers");
		return 1;
	}
	snprintf(addr, sizeof(addr), "127.0.0.1:%s", argv[1]);
	if ((lfd = weft_listen("tcp", addr, 1024)) < 0) {
		perror("weft_echo: listen");
		return 1;
	}
	return weft_join(weft_spawn(acceptor, (void *)(intptr_t)lfd), NULL);
}

/*
 * weft_echo: the weft echo server of bench/peers.  One thread: an accept
 * task and a task per connection echoing with weft_read and weft_write.
 * With WORKERS, weft_set_workers(WORKERS) first: the same program on a
 * crew of that many threads, the connection tasks spread over them by
 * weft (weft_echo_reuseport.c is the same served the way one had to
 * before workers).
 *
 *   weft_echo PORT [WORKERS]
 *
 * Runs until killed.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

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

int main(int argc, char **argv)
{
	char addr[32];
	int lfd;

	if (argc < 2)
		return 2;
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

/*
 * An echo server: one task per connection, all on one thread.
 *
 *   echo_server [port]        (default 7777, on 127.0.0.1)
 *
 * weft_listen makes the listening socket; every call that would block
 * (accept, read, write) parks only its task.  Stop it with Ctrl-C.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];
	ssize_t n;

	while ((n = weft_read(fd, buf, sizeof(buf))) > 0)
		if (weft_write(fd, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	if (n == -1)
		fprintf(stderr, "echo_server: connection: %s\n",
		    strerror(errno));
	weft_close(fd);
	return NULL;
}

static void *accept_loop(void *arg)
{
	int lfd = (int)(intptr_t)arg, fd;
	weft_task *t;

	for (;;) {
		if ((fd = weft_accept(lfd, NULL, NULL)) == -1) {
			/* Out of descriptors: weft_accept has waited a
			 * little first; serve on, the others will close. */
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ECONNABORTED || errno == EINTR)
				continue;
			break;
		}
		if (!(t = weft_spawn(serve, (void *)(intptr_t)fd))) {
			fprintf(stderr, "echo_server: weft_spawn: %s\n",
			    strerror(errno));
			weft_close(fd);
			continue;
		}
		weft_detach(t);
	}
	fprintf(stderr, "echo_server: weft_accept: %s\n", strerror(errno));
	return NULL;
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 7777, lfd;
	char address[32];
	weft_task *t;

	snprintf(address, sizeof(address), "127.0.0.1:%d", port);
	if ((lfd = weft_listen("tcp", address, 512)) == -1) {
		fprintf(stderr, "echo_server: %s: %s\n", address,
		    strerror(errno));
		return 1;
	}
	printf("echo server on %s\n", address);
	fflush(stdout);
	if (!(t = weft_spawn(accept_loop, (void *)(intptr_t)lfd)) ||
	    weft_join(t, NULL) == -1) {
		fprintf(stderr, "echo_server: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

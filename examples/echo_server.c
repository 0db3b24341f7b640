/*
 * An echo server: one task per connection, all on one thread.
 *
 *   echo_server [port]        (default 7777, on 127.0.0.1)
 *
 * Every call that would block (accept, read, write) parks only its task.
 * Stop it with Ctrl-C.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <weft.h>

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];
	ssize_t n;

	while ((n = weft_read(fd, buf, sizeof(buf))) > 0)
		if (weft_write(fd, buf, (size_t)n) != n)
			break;
	weft_close(fd);
	return NULL;
}

static int listen_on(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(fd, 512) == -1)
		return -1;
	return fd;
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
		t = weft_spawn(serve, (void *)(intptr_t)fd);
		if (!t) {
			perror("weft_spawn");
			weft_close(fd);
			continue;
		}
		weft_detach(t);
	}
	perror("weft_accept");
	return NULL;
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 7777;
	int lfd = listen_on(port);
	weft_task *t;

	if (lfd == -1) {
		perror("listen");
		return 1;
	}
	printf("echo server on 127.0.0.1:%d\n", port);
	fflush(stdout);
	t = weft_spawn(accept_loop, (void *)(intptr_t)lfd);
	if (!t || weft_join(t, NULL) == -1) {
		perror("weft");
		return 1;
	}
	return 0;
}

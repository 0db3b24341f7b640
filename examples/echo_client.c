/*
 * An echo client: N tasks each connect, send a message, read the echo
 * back and check it, all at once on one thread.
 *
 *   echo_client [port] [clients]     (defaults 7777 and 100)
 *
 * Each client runs under a 5 s deadline: a silent server makes the calls
 * fail with ETIMEDOUT instead of hanging.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <weft.h>

static int port;

static int exchange(int fd, long id)
{
	char msg[64], back[64];
	size_t len, got = 0;
	ssize_t n;

	len = (size_t)snprintf(msg, sizeof(msg), "hello from client %ld\n", id);
	if (weft_write(fd, msg, len) != (ssize_t)len)
		return -1;
	while (got < len) {
		n = weft_read(fd, back + got, len - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return memcmp(msg, back, len) == 0 ? 0 : -1;
}

static void *client(void *arg)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port) };
	int64_t saved = weft_deadline_push(weft_now() + 5000000000LL);
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd != -1 && weft_connect(fd, (struct sockaddr *)&sa,
	    sizeof(sa)) == 0)
		rc = exchange(fd, (long)(intptr_t)arg);
	if (rc == -1)
		fprintf(stderr, "client %ld: %s\n", (long)(intptr_t)arg,
		    strerror(errno));
	if (fd != -1)
		weft_close(fd);
	weft_deadline_pop(saved);
	return (void *)(intptr_t)rc;
}

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 100, i, ok = 0;
	weft_task **tasks;
	void *r;

	port = argc > 1 ? atoi(argv[1]) : 7777;
	if (n < 1 || !(tasks = calloc((size_t)n, sizeof(*tasks))))
		return 1;
	for (i = 0; i < n; i++)
		tasks[i] = weft_spawn(client, (void *)(intptr_t)i);
	for (i = 0; i < n; i++)
		if (tasks[i] && weft_join(tasks[i], &r) == 0 && r == NULL)
			ok++;
	printf("%d of %d clients got their message back\n", ok, n);
	free(tasks);
	return ok == n ? 0 : 1;
}

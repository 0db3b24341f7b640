/*
 * An echo client: N tasks each connect, send a message, read the echo
 * back and check it, all at once on one thread.
 *
 *   echo_client [port] [clients]     (defaults 7777 and 100)
 *
 * weft_dial connects each one.  Each client runs under a 5 s deadline: a
 * silent server makes the calls fail with ETIMEDOUT instead of hanging.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

static char address[32];      /* "127.0.0.1:port" */

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
		if (n == 0)
			errno = ECONNRESET;       /* closed before the echo */
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	if (memcmp(msg, back, len) != 0) {
		errno = EPROTO;                   /* not what was sent */
		return -1;
	}
	return 0;
}

static void *client(void *arg)
{
	long id = (long)(intptr_t)arg;
	int64_t saved = weft_deadline_push(weft_now() + 5000000000LL);
	int fd = weft_dial("tcp", address), rc = -1;

	if (fd != -1)
		rc = exchange(fd, id);
	if (rc == -1)
		fprintf(stderr, "client %ld: %s\n", id, strerror(errno));
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

	snprintf(address, sizeof(address), "127.0.0.1:%d",
	    argc > 1 ? atoi(argv[1]) : 7777);
	if (n < 1) {
		fprintf(stderr, "echo_client: clients must be at least 1\n");
		return 1;
	}
	if (!(tasks = calloc((size_t)n, sizeof(*tasks)))) {
		fprintf(stderr, "echo_client: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < n; i++)
		if (!(tasks[i] = weft_spawn(client, (void *)(intptr_t)i)))
			fprintf(stderr, "client %d: weft_spawn: %s\n", i,
			    strerror(errno));
	for (i = 0; i < n; i++) {
		if (!tasks[i])
			continue;
		if (weft_join(tasks[i], &r) == -1)
			fprintf(stderr, "client %d: weft_join: %s\n", i,
			    strerror(errno));
		else if (r == NULL)
			ok++;
	}
	printf("%d of %d clients got their message back\n", ok, n);
	free(tasks);
	return ok == n ? 0 : 1;
}

/*
 * bench_start: how long a program takes from exec to exit.
 *
 *   plain   a C program that sleeps 1 ms (the floor)
 *   weft    a weft program that spawns a task sleeping 1 ms and joins it
 *   fetch   the weft program fetching once instead, from a server on
 *           127.0.0.1 that this program runs on a thread (libcurl is
 *           loaded at that first fetch)
 *
 * Each is run N times (default 200), interleaved; the median and the
 * minimum of the wall times are printed, in ms.
 *
 *   bench_start [N]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

/* The server: each connection gets one small answer, then is closed. */
static void *serve(void *arg)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
	    "Connection: close\r\n\r\nok";
	int lfd = *(int *)arg, fd;
	char buf[2048];

	while ((fd = accept(lfd, NULL, NULL)) >= 0) {
		if (read(fd, buf, sizeof(buf)) > 0 &&
		    write(fd, reply, sizeof(reply) - 1) < 0)
			perror("bench_start: write");
		close(fd);
	}
	return NULL;
}

/* Listen on 127.0.0.1 and serve on a thread; the URL in url. */
static int start_server(char *url, size_t len)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	static int lfd;
	pthread_t th;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(lfd, 64) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) != 0 ||
	    pthread_create(&th, NULL, serve, &lfd) != 0)
		return -1;
	snprintf(url, len, "http://127.0.0.1:%u/", ntohs(a.sin_port));
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* ms from spawn to exit of argv; -1 on failure. */
static double run_once(char *const argv[])
{
	int64_t t0 = bench_now();
	int status;
	pid_t pid;

	if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0 ||
	    waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -1;
	return (double)(bench_now() - t0) / 1e6;
}

int main(int argc, char **argv)
{
	static const char *names[] = { "plain", "weft", "fetch" };
	char dir[4096], plain[4200], weft[4200], url[64];
	char *cmds[3][3];
	long n = argc > 1 ? bench_arg_count(argv[0], argv[1]) : 200, i;
	double *t[3], med[3];
	int k;
	char *slash;

	if (start_server(url, sizeof(url)) != 0) {
		perror("bench_start: server");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s", argv[0]);
	if ((slash = strrchr(dir, '/')))
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	snprintf(plain, sizeof(plain), "%s/start_plain", dir);
	snprintf(weft, sizeof(weft), "%s/start_weft", dir);
	cmds[0][0] = plain, cmds[0][1] = NULL;
	cmds[1][0] = weft, cmds[1][1] = NULL;
	cmds[2][0] = weft, cmds[2][1] = url, cmds[2][2] = NULL;
	for (k = 0; k < 3; k++)
		if (!(t[k] = calloc((size_t)n, sizeof(double))))
			return 1;
	for (i = 0; i < n; i++)
		for (k = 0; k < 3; k++)
			if ((t[k][i] = run_once(cmds[k])) < 0) {
				fprintf(stderr, "bench_start: %s failed\n",
				    names[k]);
				return 1;
			}
	printf("bench_start: exec to exit, ms (median, min of %ld runs, "
	    "interleaved)\n", n);
	for (k = 0; k < 3; k++) {
		qsort(t[k], (size_t)n, sizeof(double), cmp);
		med[k] = t[k][n / 2];
		printf("  %-6s %7.2f  %7.2f%s\n", names[k], med[k], t[k][0],
		    k == 0 ? "   (a plain C program sleeping 1 ms)" : "");
	}
	printf("  weft - plain: %+.2f ms (goal: within 1 ms); fetch - weft: "
	    "%+.2f ms (loading libcurl)\n", med[1] - med[0], med[2] - med[1]);
	return 0;
}

/*
 * bench_echo — echo round trips per second over 127.0.0.1 TCP.
 *
 * Two echo servers take the same load, in the same run:
 *   - weft: one OS thread, an accept task plus one task per connection
 *     echoing with weft_read/weft_write;
 *   - threads (the baseline): one pthread per accepted connection doing
 *     blocking read/write.
 * The load is `clients` connections, each sending a MSG_SIZE-byte message
 * and reading the echo back as fast as it can; round trips completed in a
 * window of `seconds` (after a short warm-up) are counted and checked.
 * The clients are weft tasks on one thread of their own process, the same
 * code for both servers.
 *
 * Each server runs in its own process (forked, listening on an ephemeral
 * port of 127.0.0.1), so its CPU time is its own: the client process reads
 * the server's utime+stime from /proc at both ends of the window, and its
 * own from getrusage.  The servers alternate, ROUNDS runs each; the best
 * rate of each is reported, with the CPU figures of that run and the ratio
 * weft/threads.  On a shared 2-core machine the client process takes about
 * one core, so the server gets what is left.
 *
 * Everything ends by itself: the client stops after warm-up + `seconds`,
 * closing its connections; a server exits once all its connections are
 * closed; each process is killed by alarm(2) if it overstays.
 *
 * Usage: bench_echo [seconds] [clients]   (default 2 s, 100 clients)
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft.h"
#include "bench.h"

#define MSG_SIZE 64
#define BUF_SIZE 4096
#define ROUNDS 3
#define DEFAULT_SECONDS 2.0
#define DEFAULT_CLIENTS 100
#define TARGET_RATIO 1.5
#define WARMUP_NS ((int64_t)200 * 1000000)
/* A server that has not seen all its clients by then gives up. */
#define ACCEPT_TIMEOUT_MS 10000
/* Past the window, a client's stuck call gives up after this. */
#define IO_SLACK_NS ((int64_t)5 * 1000000000)
/* alarm(2) margin beyond warm-up + window, seconds. */
#define ALARM_SLACK 30
#define THREAD_STACK ((size_t)64 * 1024)

enum server_kind { SERVER_WEFT, SERVER_THREADS, SERVER_KINDS };

static const char *const server_names[SERVER_KINDS] = {
	"weft (1 thread, task per connection)",
	"threads (thread per connection)",
};

/* What the client process sends back through its pipe. */
struct client_report {
	long long trips;        /* round trips completed in the window */
	long long bad;          /* echoes that came back altered */
	long long failed;       /* connections that failed before the end */
	int64_t window_ns;
	double server_cpu;      /* server's CPU seconds in the window */
	double client_cpu;      /* client's CPU seconds in the window */
};

/* One client connection, driven by one task. */
struct conn {
	int fd;
	long long trips, bad;
	int failed;
};

static int64_t window_begin, window_end;


static void
set_nodelay(int fd)
{
	int one = 1;

	/* Small request/response messages: never wait for Nagle. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == -1)
		bench_die("setsockopt TCP_NODELAY");
}

/* ---- weft server ------------------------------------------------------- */

static void *
weft_echo(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[BUF_SIZE];
	ssize_t n;

	while ((n = weft_read(fd, buf, sizeof buf)) > 0)
		if (weft_write(fd, buf, (size_t)n) != n)
			break;
	weft_close(fd);
	return NULL;
}

struct acceptor_args {
	int lfd;
	long clients;
	int failed;
};

static void *
weft_acceptor(void *arg)
{
	struct acceptor_args *a = arg;
	int64_t saved = weft_deadline_push(weft_now() +
	    (int64_t)ACCEPT_TIMEOUT_MS * 1000000);
	weft_attr attr;
	int fd;

	weft_attr_init(&attr);
	weft_attr_setdetached(&attr, 1);
	for (long i = 0; i < a->clients; i++) {
		if ((fd = weft_accept(a->lfd, NULL, NULL)) == -1) {
			perror("echo: weft server: weft_accept");
			a->failed = 1;
			break;
		}
		set_nodelay(fd);
		if (weft_spawn_attr(weft_echo, (void *)(intptr_t)fd,
		    &attr) == NULL) {
			perror("echo: weft server: weft_spawn");
			weft_close(fd);
			a->failed = 1;
			break;
		}
	}
	weft_deadline_pop(saved);
	weft_close(a->lfd);
	return NULL;
}

static int
serve_weft(int lfd, long clients)
{
	struct acceptor_args a = { .lfd = lfd, .clients = clients };

	if (weft_spawn(weft_acceptor, &a) == NULL)
		bench_die("weft_spawn");
	if (weft_run() != 0)
		bench_die("weft_run");
	return a.failed;
}

/* ---- thread-per-connection server (the baseline) ----------------------- */

static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *
thread_echo(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[BUF_SIZE];
	ssize_t n;

	while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0 && write_all(fd, buf, (size_t)n) == -1)
			break;
	close(fd);
	return NULL;
}

static int
serve_threads(int lfd, long clients)
{
	pthread_t *th = calloc((size_t)clients, sizeof *th);
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	pthread_attr_t attr;
	long n = 0;
	int fd, err, failed = 0;

	if (th == NULL)
		bench_die("calloc");
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	while (n < clients) {
		if (poll(&p, 1, ACCEPT_TIMEOUT_MS) != 1 ||
		    (fd = accept(lfd, NULL, NULL)) == -1) {
			fprintf(stderr, "echo: thread server: accept failed or "
			    "timed out after %ld connections\n", n);
			failed = 1;
			break;
		}
		set_nodelay(fd);
		err = pthread_create(&th[n], &attr, thread_echo,
		    (void *)(intptr_t)fd);
		if (err != 0) {
			fprintf(stderr, "echo: pthread_create: %s\n",
			    strerror(err));
			close(fd);
			failed = 1;
			break;
		}
		n++;
	}
	close(lfd);
	for (long i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_attr_destroy(&attr);
	free(th);
	return failed;
}

/* ---- clients ----------------------------------------------------------- */

/* Read exactly len bytes; 0, or -1 on error or EOF. */
static int
weft_read_full(int fd, char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = weft_read(fd, buf, len)) <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *
client_task(void *arg)
{
	struct conn *c = arg;
	int64_t saved = weft_deadline_push(window_end + IO_SLACK_NS), t;
	char out[MSG_SIZE], in[MSG_SIZE];
	unsigned seq = 0;

	for (size_t i = 0; i < MSG_SIZE; i++)
		out[i] = (char)('a' + (c->fd + i) % 26);
	do {
		memcpy(out, &seq, sizeof seq); /* each echo differs */
		seq++;
		if (weft_write(c->fd, out, MSG_SIZE) != MSG_SIZE ||
		    weft_read_full(c->fd, in, MSG_SIZE) == -1) {
			c->failed = 1;
			break;
		}
		if (memcmp(in, out, MSG_SIZE) != 0)
			c->bad++;
		t = weft_now();
		if (t >= window_begin && t < window_end)
			c->trips++;
	} while (t < window_end);
	weft_deadline_pop(saved);
	weft_close(c->fd);
	return NULL;
}

/* utime + stime of process pid in seconds, from /proc; -1 if unreadable. */
static double
proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	size_t len;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	len = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[len] = '\0';
	/* Fields after the command name, which ends at the last ')':
	 * state(3) ... utime(14) stime(15). */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double
self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int
client_connect(in_port_t port)
{
	struct sockaddr_in sa;
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = port;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		bench_die("socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1)
		bench_die("connect");
	set_nodelay(fd);
	return fd;
}

struct monitor_args {
	pid_t server;
	double server_cpu, client_cpu;
};

/* Samples both processes' CPU times at the ends of the window. */
static void *
monitor_task(void *arg)
{
	struct monitor_args *m = arg;
	double s0, c0;

	weft_sleep_until(window_begin);
	s0 = proc_cpu_s(m->server);
	c0 = self_cpu_s();
	weft_sleep_until(window_end);
	m->server_cpu = proc_cpu_s(m->server);
	m->client_cpu = self_cpu_s() - c0;
	m->server_cpu = s0 < 0 || m->server_cpu < 0 ? -1 :
	    m->server_cpu - s0;
	return NULL;
}

/* The client process: connect everything, then run the window. */
static int
run_clients(in_port_t port, long clients, int64_t window_ns, pid_t server,
    int out)
{
	struct conn *cs = calloc((size_t)clients, sizeof *cs);
	weft_task **ts = calloc((size_t)clients, sizeof *ts), *mon;
	struct monitor_args m = { .server = server };
	struct client_report rep;

	if (cs == NULL || ts == NULL)
		bench_die("calloc");
	memset(&rep, 0, sizeof rep);
	for (long i = 0; i < clients; i++)
		cs[i].fd = client_connect(port);
	window_begin = weft_now() + WARMUP_NS;
	window_end = window_begin + window_ns;
	if ((mon = weft_spawn(monitor_task, &m)) == NULL)
		bench_die("weft_spawn");
	for (long i = 0; i < clients; i++)
		if ((ts[i] = weft_spawn(client_task, &cs[i])) == NULL)
			bench_die("weft_spawn");
	if (weft_join(mon, NULL) != 0)
		bench_die("weft_join");
	for (long i = 0; i < clients; i++) {
		if (weft_join(ts[i], NULL) != 0)
			bench_die("weft_join");
		rep.trips += cs[i].trips;
		rep.bad += cs[i].bad;
		rep.failed += cs[i].failed;
	}
	rep.window_ns = window_ns;
	rep.server_cpu = m.server_cpu;
	rep.client_cpu = m.client_cpu;
	if (write(out, &rep, sizeof rep) != (ssize_t)sizeof rep)
		bench_die("write");
	free(ts);
	free(cs);
	return 0;
}

/* ---- one run ----------------------------------------------------------- */

static int
listen_any(in_port_t *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = 0;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		bench_die("socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == -1)
		bench_die("bind");
	if (listen(fd, SOMAXCONN) == -1)
		bench_die("listen");
	if (getsockname(fd, (struct sockaddr *)&sa, &len) == -1)
		bench_die("getsockname");
	*port = sa.sin_port;
	return fd;
}

static pid_t
spawn_child(unsigned lifetime_s)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1)
		bench_die("fork");
	if (pid == 0) {
		signal(SIGPIPE, SIG_IGN);
		alarm(lifetime_s);
	}
	return pid;
}

/* 0 if the child exited with status 0; else says why and returns 1. */
static int
reap(pid_t pid, const char *who)
{
	int status;

	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			bench_die("waitpid");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		fprintf(stderr, "echo: %s killed by signal %d (%s)\n", who,
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		fprintf(stderr, "echo: %s exited with status %d\n", who,
		    WEXITSTATUS(status));
	return 1;
}

static int
run_once(enum server_kind kind, long clients, int64_t window_ns,
    struct client_report *rep)
{
	unsigned lifetime = (unsigned)((WARMUP_NS + window_ns) / 1000000000) +
	    ALARM_SLACK;
	in_port_t port;
	int lfd = listen_any(&port), p[2], failed;
	pid_t server, client;
	ssize_t n;

	server = spawn_child(lifetime);
	if (server == 0)
		_exit(kind == SERVER_WEFT ? serve_weft(lfd, clients) :
		    serve_threads(lfd, clients));
	close(lfd);
	if (pipe(p) == -1)
		bench_die("pipe");
	client = spawn_child(lifetime);
	if (client == 0) {
		close(p[0]);
		_exit(run_clients(port, clients, window_ns, server, p[1]));
	}
	close(p[1]);
	while ((n = read(p[0], rep, sizeof *rep)) == -1 && errno == EINTR)
		;
	close(p[0]);
	failed = reap(client, "client process");
	failed |= reap(server, "server process");
	if (n != (ssize_t)sizeof *rep)
		failed = 1;
	else if (rep->failed || rep->bad) {
		fprintf(stderr, "echo: %s: %lld connections failed, %lld "
		    "echoes altered\n", server_names[kind], rep->failed,
		    rep->bad);
		failed = 1;
	}
	return failed;
}

/* ---- main -------------------------------------------------------------- */

static double
rate(const struct client_report *r)
{
	return (double)r->trips * 1e9 / (double)r->window_ns;
}

static void
print_row(enum server_kind kind, const struct client_report *r)
{
	double rt = rate(r), secs = (double)r->window_ns / 1e9;

	printf("  %-38s %9.0f round trips/s", server_names[kind], rt);
	if (r->server_cpu >= 0 && r->trips > 0)
		printf("  server cpu %3.0f%% (%.2f us/trip)",
		    100 * r->server_cpu / secs,
		    r->server_cpu * 1e6 / (double)r->trips);
	printf("  client cpu %3.0f%%\n", 100 * r->client_cpu / secs);
}

static double
parse_seconds(const char *prog, const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != '\0' || !(v > 0) || v > 3600) {
		fprintf(stderr, "%s: seconds must be in (0, 3600]: %s\n",
		    prog, s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	struct client_report best[SERVER_KINDS], r;
	double seconds = DEFAULT_SECONDS, ratio;
	long clients = DEFAULT_CLIENTS;
	int64_t window_ns;
	int failed = 0;

	if (argc > 3) {
		fprintf(stderr, "usage: %s [seconds] [clients]\n", argv[0]);
		return 2;
	}
	if (argc > 1)
		seconds = parse_seconds(argv[0], argv[1]);
	if (argc > 2)
		clients = bench_arg_count(argv[0], argv[2]);
	window_ns = (int64_t)(seconds * 1e9);
	memset(best, 0, sizeof best);

	printf("echo: %ld clients, %.1f s each, best of %d\n", clients,
	    seconds, ROUNDS);
	for (int round = 0; round < ROUNDS; round++) {
		for (int k = 0; k < SERVER_KINDS; k++) {
			if (run_once((enum server_kind)k, clients, window_ns,
			    &r) != 0) {
				failed = 1;
				continue;
			}
			if (best[k].window_ns == 0 || rate(&r) > rate(&best[k]))
				best[k] = r;
		}
	}
	for (int k = 0; k < SERVER_KINDS; k++) {
		if (best[k].window_ns == 0) {
			printf("  %-38s no successful run\n", server_names[k]);
			continue;
		}
		print_row((enum server_kind)k, &best[k]);
	}
	if (best[SERVER_WEFT].trips > 0 && best[SERVER_THREADS].trips > 0) {
		ratio = rate(&best[SERVER_WEFT]) / rate(&best[SERVER_THREADS]);
		printf("  ratio weft/threads %.2f (target >= %.1f: %s)\n",
		    ratio, TARGET_RATIO, ratio >= TARGET_RATIO ? "met" :
		    "MISSED");
	}
	return failed;
}

/*
 * bench_fetch — HTTP GETs per second with weft_fetch, and memory per fetch.
 *
 * Three figures, each beside a baseline measured in the same run, against
 * the same local server:
 *   1. throughput: 2,000 GETs of a 100-byte body, 50 in flight (50 tasks,
 *      each doing 40 weft_fetch in a row), against the curl command-line
 *      tool fetching the same 2,000 URLs with `--parallel --parallel-max
 *      50` (one config file given with -K, every body to /dev/null);
 *   2. latency-bound: the server answers each request after 10 ms; weft
 *      does 500 GETs, 50 in flight, against curl_easy_perform doing 50
 *      GETs one after the other on one thread (one easy handle, so its
 *      connection is reused);
 *   3. memory: VmRSS while 50 fetches wait on an endpoint that answers
 *      after 1 s, minus VmRSS before, divided by 50; beside the same
 *      figure for libcurl's multi interface driven directly, without weft
 *      (50 easy handles, curl_multi_poll).
 *
 * The server is a weft program in its own process (forked first, before
 * anything else runs, so no runtime is inherited): HTTP/1.1 with
 * keep-alive, a task per connection, weft_read/weft_send, listening on
 * 127.0.0.1 port 0 (the port comes back through a pipe).  Its endpoints:
 *   /small      the 100-byte body at once
 *   /delayN     the same body after weft_sleep(N) ms (/delay10, /delay1000)
 *   /stats      the requests served so far (not counting /stats) and the
 *               server's CPU time
 * The count checks that every client really made its requests; the
 * server's CPU time and each client process's (from wait4) are shown too.
 *
 * Every client run is a fresh process (fork without exec for weft and the
 * libcurl baselines, posix_spawn for curl), so every run starts with cold
 * connections like the curl tool does.  weft and libcurl runs are timed
 * inside their process, from the first request made to the last answer;
 * the curl tool is timed from spawn to exit, so its start-up (exec,
 * dynamic linking, reading 2,000 URLs) counts against it: that start-up is
 * measured apart (the same command with one URL) and a second ratio shown
 * without it.  A weft process also repeats its 2,000 GETs once on the
 * connections the first batch left open ("warm").
 *
 * Runs alternate between weft and its baseline, ROUNDS each; the best of
 * each is reported (the machine is shared and noisy: the best run is the
 * one least disturbed).
 *
 * Usage: bench_fetch
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft.h"
#include "bench.h"

#define ROUNDS 3
#define BODY_SIZE 100
/* 1: throughput. */
#define FAST_GETS 2000
#define FAST_INFLIGHT 50
#define TARGET_FAST_RATIO 1.0
/* 2: a 10 ms server. */
#define SLOW_DELAY_MS 10
#define SLOW_GETS 500
#define SLOW_INFLIGHT 50
#define SEQ_GETS 50
#define TARGET_SLOW_RATIO 30.0
/* 3: memory, sampled while every fetch waits for its answer. */
#define MEM_INFLIGHT 50
#define MEM_DELAY_MS 1000
#define MEM_SAMPLE_MS 400

/* The server's request buffer, and the longest request head it takes. */
#define REQ_BUF 8192
/* A process that overstays this is killed by alarm(2), seconds. */
#define CHILD_LIFETIME 60
#define SERVER_LIFETIME 600

extern char **environ;

/* What a client process sends back through its pipe. */
struct report {
	int64_t ns;             /* first request to last answer */
	int64_t warm_ns;        /* weft fast runs: the second batch */
	long ok, failed;        /* 200 with the expected body, or not */
	long long rss_delta;    /* memory runs: bytes */
	long done_at_sample;    /* memory runs: fetches already over */
};

/* What the parent measures around one client process. */
struct run {
	struct report rep;
	double wall_ns;         /* spawn to exit (the curl tool's time) */
	double client_cpu_s;    /* the whole client process */
	double server_cpu_s;    /* the server, during the run */
	long long served;       /* requests the server answered */
};

static in_port_t server_port;   /* network byte order */
static pid_t server_pid;


static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p == NULL)
		bench_die("calloc");
	return p;
}

static const char *
body_text(void)
{
	static char body[BODY_SIZE + 1];

	if (body[0] == '\0') {
		for (size_t i = 0; i < BODY_SIZE - 1; i++)
			body[i] = (char)('a' + i % 26);
		body[BODY_SIZE - 1] = '\n';
	}
	return body;
}

/* CPU time of the calling process, user + system, in seconds. */
static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* ---- the server (its own process) -------------------------------------- */

static long long served;

/* All of len, or -1. */
static int
send_all(int fd, const char *p, size_t len)
{
	return weft_send(fd, p, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static int
respond(int fd, int status, const char *body, size_t len, int close_after)
{
	char buf[512];
	int n;

	n = snprintf(buf, sizeof buf, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n",
	    status, status == 200 ? "OK" : status == 404 ? "Not Found" :
	    "Bad Request", len, close_after ? "Connection: close\r\n" : "");
	if (n < 0 || (size_t)n + len > sizeof buf)
		return -1;
	memcpy(buf + n, body, len);
	return send_all(fd, buf, (size_t)n + len);
}

/* Answer one request head (NUL-terminated); -1: close the connection. */
static int
handle(int fd, char *head)
{
	char path[256], version[16], stats[64];
	int close_after, n;
	long ms;
	char *end;

	if (sscanf(head, "GET %255s HTTP/%15s", path, version) != 2) {
		respond(fd, 400, "", 0, 1);
		return -1;
	}
	/* HTTP/1.1 keeps the connection unless told; 1.0 closes. */
	close_after = strcasestr(head, "\r\nConnection: close") != NULL ||
	    (strcmp(version, "1.0") == 0 &&
	    strcasestr(head, "\r\nConnection: keep-alive") == NULL);
	path[strcspn(path, "?")] = '\0';
	if (strcmp(path, "/stats") == 0) {
		n = snprintf(stats, sizeof stats, "%lld %.6f\n", served,
		    cpu_s());
		return respond(fd, 200, stats, (size_t)n, close_after) == -1 ||
		    close_after ? -1 : 0;
	}
	served++;
	if (strncmp(path, "/delay", 6) == 0) {
		ms = strtol(path + 6, &end, 10);
		if (end == path + 6 || *end != '\0' || ms < 0 ||
		    weft_sleep(ms) == -1)
			return -1;
	} else if (strcmp(path, "/small") != 0) {
		return respond(fd, 404, "", 0, close_after) == -1 ||
		    close_after ? -1 : 0;
	}
	if (respond(fd, 200, body_text(), BODY_SIZE, close_after) == -1)
		return -1;
	return close_after ? -1 : 0;
}

/* One connection: requests one after the other (pipelined ones too). */
static void *
server_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[REQ_BUF + 1], *eoh;
	size_t len = 0, used;
	ssize_t n;

	for (;;) {
		buf[len] = '\0';
		while ((eoh = strstr(buf, "\r\n\r\n")) != NULL) {
			eoh[2] = '\0';          /* the head, with its last CRLF */
			if (handle(fd, buf) == -1)
				goto out;
			used = (size_t)(eoh + 4 - buf);
			len -= used;
			memmove(buf, eoh + 4, len + 1);
		}
		if (len == REQ_BUF) {           /* head too large */
			respond(fd, 400, "", 0, 1);
			break;
		}
		if ((n = weft_read(fd, buf + len, REQ_BUF - len)) <= 0)
			break;
		len += (size_t)n;
	}
out:
	weft_close(fd);
	return NULL;
}

static void *
server_accept(void *arg)
{
	int lfd = (int)(intptr_t)arg, fd, one = 1;
	weft_attr attr;

	weft_attr_init(&attr);
	weft_attr_setdetached(&attr, 1);
	while ((fd = weft_accept(lfd, NULL, NULL)) != -1) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (weft_spawn_attr(server_conn, (void *)(intptr_t)fd,
		    &attr) == NULL)
			weft_close(fd);
	}
	perror("fetch: server: weft_accept");
	_exit(1);
}

/* Ends the server when the bench closes its end of the lifeline. */
static void *
server_lifeline(void *arg)
{
	char c;

	while (weft_read((int)(intptr_t)arg, &c, 1) > 0)
		;
	_exit(0);
}

static int
listen_any(in_port_t *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) == -1 ||
	    listen(fd, SOMAXCONN) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) == -1)
		bench_die("fetch: server: listen");
	*port = sa.sin_port;
	return fd;
}

/* Fork the server; returns the write end of its lifeline. */
static int
start_server(void)
{
	int portp[2], life[2], lfd;
	in_port_t port;

	if (pipe2(portp, O_CLOEXEC) == -1 || pipe2(life, O_CLOEXEC) == -1)
		bench_die("pipe2");
	fflush(stdout);
	if ((server_pid = fork()) == -1)
		bench_die("fork");
	if (server_pid == 0) {
		signal(SIGPIPE, SIG_IGN);
		alarm(SERVER_LIFETIME);
		close(portp[0]);
		close(life[1]);
		lfd = listen_any(&port);
		if (write(portp[1], &port, sizeof port) != sizeof port)
			_exit(1);
		close(portp[1]);
		if (weft_spawn(server_lifeline, (void *)(intptr_t)life[0]) ==
		    NULL ||
		    weft_spawn(server_accept, (void *)(intptr_t)lfd) == NULL)
			bench_die("fetch: server: weft_spawn");
		weft_run();
		_exit(1);
	}
	close(portp[1]);
	close(life[0]);
	if (read(portp[0], &server_port, sizeof server_port) !=
	    sizeof server_port) {
		fprintf(stderr, "fetch: the server did not start\n");
		exit(1);
	}
	close(portp[0]);
	return life[1];
}

/* ---- asking the server, from the parent (plain blocking sockets) ------- */

/* Requests the server has answered and its CPU seconds, from /stats. */
static void
server_stats(long long *served_out, double *cpu_out)
{
	static const char req[] = "GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Connection: close\r\n\r\n";
	struct sockaddr_in sa;
	char buf[1024], *body;
	size_t len = 0;
	ssize_t n;
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = server_port;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1 ||
	    write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1))
		bench_die("fetch: asking the server for /stats");
	while (len < sizeof buf - 1 &&
	    (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	if ((body = strstr(buf, "\r\n\r\n")) == NULL ||
	    sscanf(body + 4, "%lld %lf", served_out, cpu_out) != 2) {
		fprintf(stderr, "fetch: bad /stats answer\n");
		exit(1);
	}
}

/* ---- URLs ---------------------------------------------------------------- */

/* n URLs of path, made distinct with a query. */
static char **
make_urls(const char *path, long n)
{
	char **urls = xcalloc((size_t)n, sizeof *urls);

	for (long i = 0; i < n; i++) {
		urls[i] = xcalloc(1, 96);
		snprintf(urls[i], 96, "http://127.0.0.1:%u%s?i=%ld",
		    (unsigned)ntohs(server_port), path, i);
	}
	return urls;
}

static char **fast_urls, **slow_urls, **mem_urls;

/* ---- weft clients (in a forked process) ------------------------------- */

/* A batch of GETs: `tasks` tasks, each fetching its share in a row. */
struct batch {
	char **urls;
	long gets, tasks;
	long ok, failed;
	long done;
};

struct share {
	struct batch *b;
	long first, count;
};

/* 200 with the server's body, or not. */
static int
response_ok(const weft_response *res)
{
	const void *body;
	size_t len;

	if (res == NULL)
		return 0;
	body = weft_response_body(res, &len);
	return weft_response_status(res) == 200 && len == BODY_SIZE &&
	    memcmp(body, body_text(), BODY_SIZE) == 0;
}

static void *
fetch_share(void *arg)
{
	struct share *s = arg;
	weft_response *res;

	for (long i = s->first; i < s->first + s->count; i++) {
		res = weft_fetch(s->b->urls[i], NULL);
		if (response_ok(res)) {
			s->b->ok++;
		} else {
			if (s->b->failed++ == 0)
				fprintf(stderr, "fetch: %s: %s (%s)\n",
				    s->b->urls[i], res ? "bad response" :
				    strerror(errno), weft_errmsg());
		}
		s->b->done++;
		weft_response_free(res);
	}
	return NULL;
}

static struct share *
spawn_batch(struct batch *b, weft_task **tasks)
{
	struct share *shares = xcalloc((size_t)b->tasks, sizeof *shares);
	long per = b->gets / b->tasks, extra = b->gets % b->tasks, at = 0;

	for (long t = 0; t < b->tasks; t++) {
		shares[t].b = b;
		shares[t].first = at;
		shares[t].count = per + (t < extra);
		at += shares[t].count;
		if ((tasks[t] = weft_spawn(fetch_share, &shares[t])) == NULL)
			bench_die("weft_spawn");
	}
	return shares;
}

static void
join_all(weft_task **tasks, long n)
{
	for (long t = 0; t < n; t++)
		if (weft_join(tasks[t], NULL) != 0)
			bench_die("weft_join");
}

/* Wall time of one batch, in ns. */
static int64_t
run_batch(struct batch *b)
{
	weft_task **tasks = xcalloc((size_t)b->tasks, sizeof *tasks);
	struct share *shares;
	int64_t t0 = bench_now(), t1;

	shares = spawn_batch(b, tasks);
	join_all(tasks, b->tasks);
	t1 = bench_now();
	free(shares);
	free(tasks);
	return t1 - t0;
}

/* 1: the 2,000 GETs twice: on new connections, then on those left open. */
static void
weft_fast(struct report *r)
{
	struct batch b = { .urls = fast_urls, .gets = FAST_GETS,
	    .tasks = FAST_INFLIGHT };

	r->ns = run_batch(&b);
	r->warm_ns = run_batch(&b);
	r->ok = b.ok;
	r->failed = b.failed;
}

/* 2: 10 ms per answer. */
static void
weft_slow(struct report *r)
{
	struct batch b = { .urls = slow_urls, .gets = SLOW_GETS,
	    .tasks = SLOW_INFLIGHT };

	r->ns = run_batch(&b);
	r->ok = b.ok;
	r->failed = b.failed;
}

struct mem_sample {
	struct batch *b;
	long long rss;
	long done;
};

static void *
mem_monitor(void *arg)
{
	struct mem_sample *m = arg;

	weft_sleep(MEM_SAMPLE_MS);
	m->rss = bench_status_bytes("VmRSS");
	m->done = m->b->done;
	return NULL;
}

/* One fetch first, so the runtime, libcurl and the fetch driver exist
 * before the first RSS reading; then MEM_INFLIGHT waiting fetches. */
static void
weft_mem(struct report *r)
{
	struct batch warm = { .urls = fast_urls, .gets = 1, .tasks = 1 };
	struct batch b = { .urls = mem_urls, .gets = MEM_INFLIGHT,
	    .tasks = MEM_INFLIGHT };
	weft_task **tasks = xcalloc(MEM_INFLIGHT, sizeof *tasks), *mon;
	struct mem_sample m = { .b = &b };
	struct share *shares;
	long long rss0;

	run_batch(&warm);
	rss0 = bench_status_bytes("VmRSS");
	shares = spawn_batch(&b, tasks);
	if ((mon = weft_spawn(mem_monitor, &m)) == NULL)
		bench_die("weft_spawn");
	join_all(tasks, MEM_INFLIGHT);
	if (weft_join(mon, NULL) != 0)
		bench_die("weft_join");
	r->rss_delta = m.rss - rss0;
	r->done_at_sample = m.done;
	r->ok = b.ok + warm.ok;
	r->failed = b.failed + warm.failed;
	free(shares);
	free(tasks);
}

/* ---- libcurl baselines (in a forked process, no weft) ----------------- */

struct sink {
	char buf[BODY_SIZE];
	size_t len;
};

static size_t
sink_write(char *data, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;

	if (s->len + len <= sizeof s->buf)
		memcpy(s->buf + s->len, data, len);
	s->len += len;
	return len;
}

static CURL *
easy_new(const char *url, struct sink *s)
{
	CURL *e = curl_easy_init();

	if (e == NULL)
		bench_die("curl_easy_init");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(e, CURLOPT_PRIVATE, s);
	return e;
}

static void
count_easy(CURL *e, CURLcode rc, const struct sink *s, struct report *r)
{
	long status = 0;

	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (rc == CURLE_OK && status == 200 && s->len == BODY_SIZE &&
	    memcmp(s->buf, body_text(), BODY_SIZE) == 0) {
		r->ok++;
		return;
	}
	if (r->failed++ == 0)
		fprintf(stderr, "fetch: libcurl: %s, status %ld, %zu bytes\n",
		    curl_easy_strerror(rc), status, s->len);
}

/* 2, baseline: one thread, one easy handle, one GET after the other. */
static void
curl_sequential(struct report *r)
{
	struct sink s;
	CURL *e;
	int64_t t0;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	e = easy_new(slow_urls[0], &s);
	t0 = bench_now();
	for (long i = 0; i < SEQ_GETS; i++) {
		s.len = 0;
		curl_easy_setopt(e, CURLOPT_URL, slow_urls[i]);
		count_easy(e, curl_easy_perform(e), &s, r);
	}
	r->ns = bench_now() - t0;
	curl_easy_cleanup(e);
}

/*
 * Run m until no transfer is left or `until` (bench_now ns) passes.  Each
 * transfer that ends is counted and its handle freed; while *next < end, a
 * new one for urls[*next] takes its place (as weft_fetch and the curl tool
 * do, a new easy handle per URL).
 */
static void
multi_run(CURLM *m, int64_t until, struct report *r, char **urls,
    long *next, long end)
{
	int running = 1, added = 0, left;
	struct sink *s;
	CURLMsg *msg;
	char *priv;
	CURL *e;

	while ((running || added) && bench_now() < until) {
		curl_multi_perform(m, &running);
		added = 0;
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			e = msg->easy_handle;
			curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
			s = (struct sink *)priv;
			count_easy(e, msg->data.result, s, r);
			curl_multi_remove_handle(m, e);
			curl_easy_cleanup(e);
			if (*next < end) {
				s->len = 0;
				curl_multi_add_handle(m,
				    easy_new(urls[(*next)++], s));
				added = 1;
			}
		}
		if (running && !added)
			curl_multi_poll(m, NULL, 0, 50, NULL);
	}
}

/* Start n transfers on m, of urls[*next] onwards, into s[0] to s[n - 1]. */
static void
multi_start(CURLM *m, char **urls, struct sink *s, long n, long *next)
{
	for (long i = 0; i < n; i++) {
		s[i].len = 0;
		curl_multi_add_handle(m, easy_new(urls[(*next)++], &s[i]));
	}
}

static CURLM *
multi_new(void)
{
	CURLM *m;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((m = curl_multi_init()) == NULL)
		bench_die("curl_multi_init");
	return m;
}

/* 1, reference: the same GETs on libcurl's multi interface, driven
 * directly with curl_multi_perform and curl_multi_poll. */
static void
multi_fast(struct report *r)
{
	struct sink *s = xcalloc(FAST_INFLIGHT, sizeof *s);
	CURLM *m = multi_new();
	long next = 0;
	int64_t t0 = bench_now();

	multi_start(m, fast_urls, s, FAST_INFLIGHT, &next);
	multi_run(m, INT64_MAX, r, fast_urls, &next, FAST_GETS);
	r->ns = bench_now() - t0;
	curl_multi_cleanup(m);
	free(s);
}

/* 3, baseline: MEM_INFLIGHT waiting transfers on libcurl's multi
 * interface, after one transfer that sets libcurl up. */
static void
curl_mem(struct report *r)
{
	struct sink *s = xcalloc(MEM_INFLIGHT, sizeof *s);
	CURLM *m = multi_new();
	long next = 0;
	long long rss0;

	multi_start(m, fast_urls, s, 1, &next);
	multi_run(m, INT64_MAX, r, fast_urls, &next, 1);
	rss0 = bench_status_bytes("VmRSS");
	next = 0;
	multi_start(m, mem_urls, s, MEM_INFLIGHT, &next);
	multi_run(m, bench_now() + (int64_t)MEM_SAMPLE_MS * 1000000, r,
	    mem_urls, &next, MEM_INFLIGHT);
	r->rss_delta = bench_status_bytes("VmRSS") - rss0;
	r->done_at_sample = r->ok + r->failed - 1;
	multi_run(m, INT64_MAX, r, mem_urls, &next, MEM_INFLIGHT);
	curl_multi_cleanup(m);
	free(s);
}

/* ---- running clients --------------------------------------------------- */

enum client {
	WEFT_FAST, CURL_TOOL, CURL_TOOL_ONE, MULTI_FAST, WEFT_SLOW, CURL_SEQ,
	WEFT_MEM, CURL_MEM, CLIENTS
};

static const char *const client_names[CLIENTS] = {
	"weft, /small", "curl --parallel, /small", "curl --parallel, 1 URL",
	"libcurl multi, /small", "weft, /delay", "curl_easy_perform, /delay",
	"weft, memory", "libcurl multi, memory",
};

/* Requests each client makes (its warm-up included). */
static const long long client_gets[CLIENTS] = {
	2 * FAST_GETS, FAST_GETS, 1, FAST_GETS, SLOW_GETS, SEQ_GETS,
	MEM_INFLIGHT + 1, MEM_INFLIGHT + 1,
};

static char curl_config[CLIENTS][64];   /* -K files of the curl runs */

/* A -K file fetching n of urls, each body to /dev/null. */
static void
write_curl_config(char *path, char **urls, long n)
{
	FILE *f;
	int fd;

	strcpy(path, "/tmp/bench_fetch.XXXXXX");
	if ((fd = mkstemp(path)) == -1 || (f = fdopen(fd, "w")) == NULL)
		bench_die("mkstemp");
	for (long i = 0; i < n; i++)
		fprintf(f, "url = \"%s\"\noutput = \"/dev/null\"\n", urls[i]);
	if (fclose(f) != 0)
		bench_die("write curl config");
}

static pid_t
spawn_curl(const char *config)
{
	/* --silent alone leaves the --parallel progress meter on. */
	char *argv[] = { "curl", "-q", "--silent", "--show-error",
	    "--no-progress-meter", "--max-time", "60", "--parallel",
	    "--parallel-max", NULL, "-K", NULL, NULL };
	char max[16];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int err;

	snprintf(max, sizeof max, "%d", FAST_INFLIGHT);
	argv[9] = max;
	argv[11] = (char *)config;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	fflush(stdout);
	err = posix_spawnp(&pid, "curl", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return pid;
}

/* Run one client in a new process, measured from outside as well. */
static int
run_client(enum client c, struct run *out)
{
	struct rusage ru;
	int p[2], status;
	long long served0;
	double cpu0;
	int64_t t0;
	ssize_t n = 0;
	pid_t pid;

	memset(out, 0, sizeof *out);
	if (pipe2(p, O_CLOEXEC) == -1)
		bench_die("pipe2");
	server_stats(&served0, &cpu0);
	fflush(stdout);
	fflush(stderr);
	t0 = bench_now();
	if (c == CURL_TOOL || c == CURL_TOOL_ONE) {
		pid = spawn_curl(curl_config[c]);
	} else if ((pid = fork()) == 0) {
		alarm(CHILD_LIFETIME);
		close(p[0]);
		switch (c) {
		case WEFT_FAST: weft_fast(&out->rep); break;
		case MULTI_FAST: multi_fast(&out->rep); break;
		case WEFT_SLOW: weft_slow(&out->rep); break;
		case WEFT_MEM: weft_mem(&out->rep); break;
		case CURL_SEQ: curl_sequential(&out->rep); break;
		case CURL_MEM: curl_mem(&out->rep); break;
		default: break;
		}
		if (write(p[1], &out->rep, sizeof out->rep) !=
		    sizeof out->rep)
			_exit(1);
		_exit(0);
	}
	if (pid == -1)
		bench_die(c == CURL_TOOL || c == CURL_TOOL_ONE ? "spawn curl" :
		    "fork");
	close(p[1]);
	if (c != CURL_TOOL && c != CURL_TOOL_ONE)
		while ((n = read(p[0], &out->rep, sizeof out->rep)) == -1 &&
		    errno == EINTR)
			;
	close(p[0]);
	while (wait4(pid, &status, 0, &ru) == -1)
		if (errno != EINTR)
			bench_die("wait4");
	out->wall_ns = (double)(bench_now() - t0);
	out->client_cpu_s = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	server_stats(&out->served, &out->server_cpu_s);
	out->served -= served0;
	out->server_cpu_s -= cpu0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "fetch: %s: process %s %d\n", client_names[c],
		    WIFSIGNALED(status) ? "killed by signal" :
		    "exited with status",
		    WIFSIGNALED(status) ? WTERMSIG(status) :
		    WEXITSTATUS(status));
		return -1;
	}
	if (c == CURL_TOOL || c == CURL_TOOL_ONE) {
		out->rep.ns = (int64_t)out->wall_ns;
		out->rep.ok = out->served;
	} else if (n != (ssize_t)sizeof out->rep) {
		fprintf(stderr, "fetch: %s: no report\n", client_names[c]);
		return -1;
	}
	if (out->served != client_gets[c]) {
		fprintf(stderr, "fetch: %s: the server answered %lld "
		    "requests, not %lld\n", client_names[c], out->served,
		    client_gets[c]);
		return -1;
	}
	if (out->rep.failed != 0) {
		fprintf(stderr, "fetch: %s: %ld of %ld requests failed\n",
		    client_names[c], out->rep.failed,
		    out->rep.failed + out->rep.ok);
		return -1;
	}
	return 0;
}

/* Whether `better` should replace `best` (a zeroed best: no run yet). */
static int
faster(const struct run *better, const struct run *best)
{
	return best->wall_ns == 0 || better->rep.ns < best->rep.ns;
}

static int
smaller(const struct run *better, const struct run *best)
{
	return best->wall_ns == 0 ||
	    better->rep.rss_delta < best->rep.rss_delta;
}

/* Best of ROUNDS runs of each client in cs, alternating. */
static int
best_of(const enum client *cs, int ncs, struct run *best, int by_memory)
{
	struct run r;
	int failed = 0;

	for (int round = 0; round < ROUNDS; round++) {
		for (int k = 0; k < ncs; k++) {
			if (run_client(cs[k], &r) != 0) {
				failed = 1;
				continue;
			}
			if (by_memory ? smaller(&r, &best[k]) :
			    faster(&r, &best[k]))
				best[k] = r;
		}
	}
	return failed;
}

/* ---- the figures ------------------------------------------------------- */

static double
per_s(long n, double ns)
{
	return (double)n * 1e9 / ns;
}

/* Whether an executable curl is on PATH. */
static int
have_curl(void)
{
	const char *path = getenv("PATH");
	char dir[4096], file[4200];
	size_t len;

	while (path != NULL && *path != '\0') {
		len = strcspn(path, ":");
		if (len < sizeof dir) {
			memcpy(dir, path, len);
			dir[len] = '\0';
			snprintf(file, sizeof file, "%s/curl",
			    len ? dir : ".");
			if (access(file, X_OK) == 0)
				return 1;
		}
		path += len + (path[len] == ':');
	}
	return 0;
}

/* CPU of the whole client process (start-up included) and of the server,
 * per GET. */
static void
print_cpu(const char *who, const struct run *r, long gets)
{
	printf("fetch:   cpu per GET, %s: client %.1f us, server %.1f us\n",
	    who, r->client_cpu_s * 1e6 / (double)gets,
	    r->server_cpu_s * 1e6 / (double)gets);
}

static int
bench_fast(void)
{
	static const enum client cs[] = { WEFT_FAST, MULTI_FAST, CURL_TOOL,
	    CURL_TOOL_ONE };
	struct run best[4];
	double weft, curl, rest, ratio;
	int failed, curl_ok = have_curl();

	memset(best, 0, sizeof best);
	if (curl_ok) {
		write_curl_config(curl_config[CURL_TOOL], fast_urls, FAST_GETS);
		write_curl_config(curl_config[CURL_TOOL_ONE], fast_urls, 1);
	}
	failed = best_of(cs, curl_ok ? 4 : 2, best, 0);
	if (curl_ok) {
		unlink(curl_config[CURL_TOOL]);
		unlink(curl_config[CURL_TOOL_ONE]);
	}
	if (best[0].wall_ns == 0) {
		printf("fetch: %d GETs, %d in flight: no successful weft run\n",
		    FAST_GETS, FAST_INFLIGHT);
		return 1;
	}
	weft = per_s(FAST_GETS, (double)best[0].rep.ns);
	printf("fetch: %d GETs, %d in flight: weft %.0f req/s", FAST_GETS,
	    FAST_INFLIGHT, weft);
	if (!curl_ok) {
		printf("  curl --parallel baseline skipped: no curl in PATH\n");
	} else if (best[2].wall_ns == 0 || best[3].wall_ns == 0) {
		printf("  curl --parallel: no successful run\n");
	} else {
		curl = per_s(FAST_GETS, (double)best[2].rep.ns);
		ratio = weft / curl;
		printf("  curl --parallel %.0f req/s  ratio %.2f (target >= "
		    "%.1f: %s)\n", curl, ratio, TARGET_FAST_RATIO,
		    ratio >= TARGET_FAST_RATIO ? "met" : "MISSED");
		/* The tool's own start-up, measured with a single URL. */
		rest = (double)(best[2].rep.ns - best[3].rep.ns);
		if (rest > 0)
			printf("fetch:   curl start-up + 1 GET %.1f ms; without "
			    "it curl %.0f req/s, ratio %.2f\n",
			    (double)best[3].rep.ns / 1e6,
			    per_s(FAST_GETS - 1, rest),
			    weft / per_s(FAST_GETS - 1, rest));
	}
	printf("fetch:   weft again on the connections left open (warm) %.0f "
	    "req/s\n", per_s(FAST_GETS, (double)best[0].rep.warm_ns));
	if (best[1].wall_ns != 0)
		printf("fetch:   libcurl multi driven directly %.0f req/s, "
		    "weft/libcurl %.2f\n", per_s(FAST_GETS,
		    (double)best[1].rep.ns), weft / per_s(FAST_GETS,
		    (double)best[1].rep.ns));
	print_cpu("weft (2 batches)", &best[0], 2 * FAST_GETS);
	if (best[1].wall_ns != 0)
		print_cpu("libcurl multi", &best[1], FAST_GETS);
	if (best[2].wall_ns != 0)
		print_cpu("curl --parallel", &best[2], FAST_GETS);
	return failed || (curl_ok && best[2].wall_ns == 0);
}

static int
bench_slow(void)
{
	static const enum client cs[] = { WEFT_SLOW, CURL_SEQ };
	struct run best[2];
	double weft, seq, ratio;
	int failed;

	memset(best, 0, sizeof best);
	failed = best_of(cs, 2, best, 0);
	if (best[0].wall_ns == 0 || best[1].wall_ns == 0) {
		printf("fetch: %d ms server: no successful run\n",
		    SLOW_DELAY_MS);
		return 1;
	}
	weft = per_s(SLOW_GETS, (double)best[0].rep.ns);
	seq = per_s(SEQ_GETS, (double)best[1].rep.ns);
	ratio = weft / seq;
	printf("fetch: %d ms server: weft %d GETs, %d in flight %.0f req/s  "
	    "sequential curl_easy_perform %d GETs %.1f req/s  ratio %.1f "
	    "(target >= %.0f: %s)\n", SLOW_DELAY_MS, SLOW_GETS, SLOW_INFLIGHT,
	    weft, SEQ_GETS, seq, ratio, TARGET_SLOW_RATIO,
	    ratio >= TARGET_SLOW_RATIO ? "met" : "MISSED");
	printf("fetch:   limits: %d in flight can do at most %.0f req/s, one "
	    "at a time %.0f req/s\n", SLOW_INFLIGHT,
	    SLOW_INFLIGHT * 1000.0 / SLOW_DELAY_MS, 1000.0 / SLOW_DELAY_MS);
	return failed;
}

static int
bench_mem(void)
{
	static const enum client cs[] = { WEFT_MEM, CURL_MEM };
	struct run best[2];
	double weft, curl;
	int failed;

	memset(best, 0, sizeof best);
	failed = best_of(cs, 2, best, 1);
	if (best[0].wall_ns == 0 || best[1].wall_ns == 0) {
		printf("fetch: memory: no successful run\n");
		return 1;
	}
	for (int k = 0; k < 2; k++)
		if (best[k].rep.done_at_sample != 0) {
			printf("fetch: memory: %ld fetches ended before the "
			    "sample\n", best[k].rep.done_at_sample);
			failed = 1;
		}
	weft = (double)best[0].rep.rss_delta / MEM_INFLIGHT;
	curl = (double)best[1].rep.rss_delta / MEM_INFLIGHT;
	printf("fetch: memory per in-flight fetch (%d waiting on /delay%d): "
	    "weft %.1f KiB  libcurl multi alone %.1f KiB  weft's own share "
	    "%.1f KiB\n", MEM_INFLIGHT, MEM_DELAY_MS, weft / 1024,
	    curl / 1024, (weft - curl) / 1024);
	return failed;
}

int
main(int argc, char **argv)
{
	int life, status, failed = 0;
	char path[32];

	if (argc > 1) {
		fprintf(stderr, "usage: %s\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	life = start_server();
	snprintf(path, sizeof path, "/delay%d", SLOW_DELAY_MS);
	slow_urls = make_urls(path, SLOW_GETS);
	snprintf(path, sizeof path, "/delay%d", MEM_DELAY_MS);
	mem_urls = make_urls(path, MEM_INFLIGHT);
	fast_urls = make_urls("/small", FAST_GETS);
	printf("fetch: server on 127.0.0.1:%u (pid %ld), %d-byte bodies, "
	    "best of %d\n", (unsigned)ntohs(server_port), (long)server_pid,
	    BODY_SIZE, ROUNDS);

	failed |= bench_fast();
	failed |= bench_slow();
	failed |= bench_mem();

	close(life);
	while (waitpid(server_pid, &status, 0) == -1)
		if (errno != EINTR)
			bench_die("waitpid");
	return failed;
}

/*
 * weft's demo: several things at once on one OS thread.
 *
 *   demo [url]
 *
 *   hello   prints, sleeps 2 s, prints again;
 *   nap     two tasks sleep 2 s and 3 s: spawned, then joined, they are
 *           both done after about 3 s, not 5;
 *   fetch   an HTTP GET of url, or, without one, of a page served by a
 *           small HTTP server that the demo runs itself, in a task, on
 *           127.0.0.1 (so no network is needed).
 *
 * All of it runs at the same time, so the demo takes about 3 s.  Every
 * call that waits (weft_sleep, weft_accept, weft_read, weft_fetch, ...)
 * parks only the task that made it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <weft.h>

static int64_t start;

static double seconds_since(int64_t t)
{
	return (double)(weft_now() - t) / 1e9;
}

/* A line of the story, stamped with the time since the start. */
static void say(const char *who, const char *fmt, ...)
{
	va_list ap;

	printf("%5.2f s  %-7s ", seconds_since(start), who);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* ---- hello: one task, one sleep ----------------------------------------- */

static void *hello(void *arg)
{
	(void)arg;
	say("hello", "Hello ...");
	weft_sleep(2000);
	say("hello", "... World! (after 2 s)");
	return NULL;
}

/* ---- nap: two tasks sleeping at the same time --------------------------- */

struct nap {
	const char *name;
	int64_t ms;
};

static void *nap(void *arg)
{
	const struct nap *n = arg;

	say("nap", "%s sleeps %lld ms", n->name, (long long)n->ms);
	weft_sleep(n->ms);
	say("nap", "%s woke up", n->name);
	return NULL;
}

/* ---- fetch: one HTTP GET ------------------------------------------------ */

struct fetch {
	const char *url;
	long status;            /* 0: no response */
	size_t size;
	double seconds;
};

/* Length of the first line of s, at most max. */
static int first_line(const char *s, size_t max)
{
	size_t n = strcspn(s, "\r\n");

	return (int)(n < max ? n : max);
}

static void *fetch(void *arg)
{
	struct fetch *f = arg;
	int64_t t0 = weft_now();
	weft_response *res;
	const char *body;

	say("fetch", "GET %s", f->url);
	res = weft_fetch(f->url, NULL);
	f->seconds = seconds_since(t0);
	if (!res) {
		say("fetch", "failed: %s (%s)", strerror(errno), weft_errmsg());
		return NULL;
	}
	f->status = weft_response_status(res);
	body = weft_response_body(res, &f->size);
	say("fetch", "%ld, %zu bytes: %.*s", f->status, f->size,
	    first_line(body, 60), body);
	weft_response_free(res);
	return NULL;
}

/* ---- the demo's own HTTP server ----------------------------------------- */

static const char page[] = "Hello from the demo's server, a task on "
    "the fetch's thread\n";

/* One connection: read the request head, answer, close. */
static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char req[4096], head[256];
	size_t len = 0;
	ssize_t n;
	int ok;

	while (len < sizeof(req) - 1) {
		n = weft_read(fd, req + len, sizeof(req) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[len] = '\0';
	ok = strncmp(req, "GET ", 4) == 0;
	snprintf(head, sizeof(head), "HTTP/1.1 %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n",
	    ok ? "200 OK" : "405 Method Not Allowed", ok ? strlen(page) : 0);
	say("server", "%.*s -> %s", first_line(req, 60), req,
	    ok ? "200" : "405");
	if (weft_write(fd, head, strlen(head)) != -1 && ok)
		weft_write(fd, page, strlen(page));
	weft_close(fd);
	return NULL;
}

/* Accepts until the listening socket is closed, a task per connection. */
static void *server(void *arg)
{
	int lfd = (int)(intptr_t)arg, fd;
	weft_task *t;

	while ((fd = weft_accept(lfd, NULL, NULL)) != -1) {
		t = weft_spawn(serve, (void *)(intptr_t)fd);
		if (t)
			weft_detach(t);
		else
			weft_close(fd);
	}
	return NULL;
}

/* Listen on 127.0.0.1, a port the kernel picks; its URL goes in url. */
static int listen_local(char *url, size_t size)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(fd, 16) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) == -1)
		return -1;
	snprintf(url, size, "http://127.0.0.1:%d/", ntohs(sa.sin_port));
	return fd;
}

/* ---- main --------------------------------------------------------------- */

static weft_task *spawn(void *(*fn)(void *), void *arg)
{
	weft_task *t = weft_spawn(fn, arg);

	if (!t) {
		perror("weft_spawn");
		exit(1);
	}
	return t;
}

static void join(weft_task *t)
{
	if (weft_join(t, NULL) == -1) {
		perror("weft_join");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	static struct nap naps[2] = { { "task 1", 2000 }, { "task 2", 3000 } };
	struct fetch f = { 0 };
	weft_task *h, *n1, *n2, *fe, *srv = NULL;
	char url[64];
	int lfd = -1;
	double naps_done;

	if (argc > 2) {
		fprintf(stderr, "usage: %s [url]\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);   /* each line as it happens */
	signal(SIGPIPE, SIG_IGN);           /* a vanished client: EPIPE */
	start = weft_now();

	if (argc == 2) {
		f.url = argv[1];
	} else {
		if ((lfd = listen_local(url, sizeof(url))) == -1) {
			perror("listen on 127.0.0.1");
			return 1;
		}
		say("server", "listening on %s", url);
		srv = spawn(server, (void *)(intptr_t)lfd);
		f.url = url;
	}

	/* Everything starts now; nothing runs until main waits. */
	h = spawn(hello, NULL);
	n1 = spawn(nap, &naps[0]);
	n2 = spawn(nap, &naps[1]);
	fe = spawn(fetch, &f);

	join(fe);
	join(h);
	join(n1);
	join(n2);
	naps_done = seconds_since(start);
	say("nap", "both joined after %.2f s (one after the other: 5 s)",
	    naps_done);
	if (srv) {
		weft_close(lfd);        /* the server's weft_accept fails */
		join(srv);
	}

	printf("\nsummary: all done in %.2f s, on one thread\n",
	    seconds_since(start));
	printf("  hello  printed, slept 2 s, printed\n");
	printf("  nap    2 s and 3 s, both done in %.2f s (5 s one after the "
	    "other)\n", naps_done);
	if (f.status)
		printf("  fetch  %ld, %zu bytes in %.3f s from %s\n", f.status,
		    f.size, f.seconds, f.url);
	else
		printf("  fetch  FAILED: %s\n", f.url);
	return f.status ? 0 : 1;
}

/*
 * bench_nginx — weft_fetch against a real nginx, beside the curl tool.
 *
 * 2,000 GETs of a 100-byte file, 50 in flight, over three protocols:
 * HTTP/1.1, HTTPS with HTTP/1.1, and HTTPS with HTTP/2 (nginx-light on
 * 127.0.0.1, started with tests/nginx.c: a private CA, its certificate
 * trusted with ca_file / --cacert).  weft runs 50 tasks of 40 weft_fetch
 * each; the baseline is `curl --parallel --parallel-max 50` on the same
 * 2,000 URLs (one -K file, bodies to /dev/null).  Each run is a fresh
 * process with cold connections; weft is timed from its first request to
 * its last answer, curl from spawn to exit (its start-up included: it is
 * small beside 2,000 requests).  The connections each run opened are
 * counted in nginx's access log.  Runs alternate, ROUNDS each, and the
 * best is kept (the machine is shared and noisy).
 *
 * Usage: bench_nginx        (says why and exits 0 when nginx is absent)
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft.h"
#include "bench.h"
#include "../tests/nginx.h"

#define ROUNDS 3
#define GETS 2000
#define INFLIGHT 50

extern char **environ;

enum mode { HTTP_11, HTTPS_11, HTTPS_2, MODES };
static const char *const mode_name[MODES] = {
	"HTTP/1.1", "HTTPS HTTP/1.1", "HTTPS HTTP/2"
};

static struct nginx g_ngx;

static uint16_t mode_port(enum mode m)
{
	return m == HTTP_11 ? g_ngx.http : g_ngx.https;
}

static void mode_url(enum mode m, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s://%s:%u/small.txt", m == HTTP_11 ? "http" : "https",
	    m == HTTP_11 ? "127.0.0.1" : "localhost", (unsigned)mode_port(m));
}

/* ---- weft: 50 tasks of 40 fetches, in a child process -------------------- */

struct client {
	enum mode mode;
	char url[128];
	int failures;
};

static void *fetch_loop(void *arg)
{
	struct client *c = arg;
	weft_fetch_opts o;
	int i;

	weft_fetch_opts_init(&o);
	o.ca_file = g_ngx.ca;
	o.http_version = c->mode == HTTPS_11 ? WEFT_HTTP_1_1 : WEFT_HTTP_ANY;
	for (i = 0; i < GETS / INFLIGHT; i++) {
		weft_response *r = weft_fetch(c->url, &o);

		if (!r || weft_response_status(r) != 200)
			c->failures++;
		weft_response_free(r);
	}
	return NULL;
}

/* In the child: the seconds the 2,000 GETs took, on stdout's pipe. */
static void weft_child(enum mode m, int out)
{
	static struct client c;
	weft_task *t[INFLIGHT];
	int64_t t0;
	double s;
	int i;

	c.mode = m;
	mode_url(m, c.url, sizeof(c.url));
	t0 = bench_now();
	for (i = 0; i < INFLIGHT; i++)
		t[i] = weft_spawn(fetch_loop, &c);
	for (i = 0; i < INFLIGHT; i++)
		if (!t[i] || weft_join(t[i], NULL) != 0)
			c.failures++;
	s = (double)(bench_now() - t0) / 1e9;
	if (c.failures)
		s = -1;
	if (write(out, &s, sizeof(s)) != (ssize_t)sizeof(s))
		_exit(1);
	_exit(0);
}

static double run_weft(enum mode m)
{
	int p[2];
	double s = -1;
	pid_t pid;

	if (pipe(p) != 0)
		return -1;
	if ((pid = fork()) == 0) {
		close(p[0]);
		weft_child(m, p[1]);
	}
	close(p[1]);
	if (read(p[0], &s, sizeof(s)) != (ssize_t)sizeof(s))
		s = -1;
	close(p[0]);
	waitpid(pid, NULL, 0);
	return s;
}

/* ---- curl --parallel ------------------------------------------------------ */

static char g_cfg[128];

static int write_config(enum mode m)
{
	char url[128];
	FILE *f;
	int i;

	snprintf(g_cfg, sizeof(g_cfg), "%s/curl.cfg", g_ngx.dir);
	if (!(f = fopen(g_cfg, "w")))
		return -1;
	mode_url(m, url, sizeof(url));
	for (i = 0; i < GETS; i++)
		fprintf(f, "url = \"%s\"\noutput = \"/dev/null\"\n", url);
	return fclose(f);
}

static double run_curl(enum mode m)
{
	char *argv[] = { "curl", "-s", "--parallel", "--parallel-max", "50",
	    "--cacert", g_ngx.ca, m == HTTPS_11 ? "--http1.1" : "--http2",
	    "-K", g_cfg, NULL };
	posix_spawn_file_actions_t fa;
	int64_t t0 = bench_now();
	int status;
	pid_t pid;

	if (write_config(m) != 0)
		return -1;
	t0 = bench_now();
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, "curl", &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -1;
	return (double)(bench_now() - t0) / 1e9;
}

/* ---- the table ------------------------------------------------------------ */

struct result {
	double best_s;
	long conns;              /* connections of the best run */
};

static void keep(struct result *r, double s, long conns)
{
	if (s > 0 && (r->best_s <= 0 || s < r->best_s)) {
		r->best_s = s;
		r->conns = conns;
	}
}

int main(void)
{
	char why[256];
	int m, round;

	if (nginx_start(&g_ngx, why, sizeof(why)) != 0) {
		printf("bench_nginx: skipped: %s\n", why);
		return 0;
	}
	{
		char path[256];
		FILE *f;

		nginx_www_path(&g_ngx, "small.txt", path, sizeof(path));
		if ((f = fopen(path, "w"))) {
			fprintf(f, "%099d\n", 0);        /* 100 bytes */
			fclose(f);
		}
	}
	printf("bench_nginx: %d GETs of 100 bytes, %d in flight, nginx on 127.0.0.1; "
	    "best of %d, fresh process each\n", GETS, INFLIGHT, ROUNDS);
	printf("%-16s %12s %7s %12s %7s %8s\n", "protocol", "weft req/s", "conns",
	    "curl req/s", "conns", "ratio");
	for (m = 0; m < MODES; m++) {
		struct result w = { 0, 0 }, c = { 0, 0 };

		for (round = 0; round < ROUNDS; round++) {
			long before = nginx_connections(&g_ngx, mode_port(m));
			double s = run_weft(m);

			keep(&w, s, nginx_connections(&g_ngx, mode_port(m)) - before);
			before = nginx_connections(&g_ngx, mode_port(m));
			s = run_curl(m);
			keep(&c, s, nginx_connections(&g_ngx, mode_port(m)) - before);
		}
		if (w.best_s <= 0 || c.best_s <= 0) {
			printf("%-16s failed (weft %s, curl %s)\n", mode_name[m],
			    w.best_s > 0 ? "ok" : "failed", c.best_s > 0 ? "ok" : "failed");
			continue;
		}
		printf("%-16s %12.0f %7ld %12.0f %7ld %7.2fx\n", mode_name[m],
		    GETS / w.best_s, w.conns, GETS / c.best_s, c.conns,
		    c.best_s / w.best_s);
	}
	nginx_stop(&g_ngx);
	return 0;
}

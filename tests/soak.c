/*
 * The soak test (`make soak`, not part of `make check`): a mixed workload
 * for a fixed time, then a check that nothing accumulated.
 *
 * Each round, on the main thread's runtime, a group of tasks does at once:
 * fetches from a local server (some cut off by a deadline, some cancelled
 * mid-transfer), round trips on socket pairs, a channel to a second OS
 * thread with its own runtime (which answers through another channel),
 * a mutex both threads take, offloaded jobs, and sleepers of which half
 * are cancelled.  Every result is checked.
 *
 * After a warm-up (a fifth of the time) the process's open descriptors and
 * resident size are watched for another fifth, once caches (libcurl's
 * connections, weft's stacks) have filled; at the end, with every task
 * joined, there must be no more descriptors than that plateau's most (and
 * FD_SLACK) and at most 10% (and 4 MiB) more RSS.
 * Prints its figures; exits 1 on any failed check.
 *
 *   tests/soak [seconds]     (default: $SOAK_SECONDS, else 60)
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "weft.h"
#include "http_server.h"
#include "proc_util.h"

#define TASKS_PER_KIND 8
/* Descriptors a cache may still take after the plateau (libcurl keeps up
 * to a few connections per transfer it has seen at once); a leak of one a
 * round would be hundreds. */
#define FD_SLACK 8
#define MS ((int64_t)1000000)

static struct http_server_thread g_srv;
static weft_chan *g_to_peer, *g_from_peer;
static weft_mutex g_mx;
static long g_shared;                   /* under g_mx */
static atomic_ulong g_fails, g_ops;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "soak: check failed at line %d: %s (errno %d: %s)\n", \
		    __LINE__, #cond, errno, strerror(errno)); \
		atomic_fetch_add(&g_fails, 1); \
	} \
} while (0)

/* ---- the kinds of work ---------------------------------------------------- */

static void *fetch_work(void *arg)
{
	long k = (long)(intptr_t)arg;
	char url[128];
	weft_response *r;
	const char *path = k % 4 == 0 ? "/large/200000" :
	    k % 4 == 1 ? "/slow/200" : k % 4 == 2 ? "/headers" : "/body";
	int64_t saved = 0;

	http_server_url(&g_srv.srv, path, url, sizeof(url));
	/* /slow/200 under a 20 ms deadline: cut off mid-exchange. */
	if (k % 4 == 1)
		saved = weft_deadline_push(weft_now() + 20 * MS);
	r = weft_fetch(url, NULL);
	if (k % 4 == 1) {
		CHECK(r == NULL && errno == ETIMEDOUT);
		weft_deadline_pop(saved);
	} else {
		CHECK(r != NULL && weft_response_status(r) == 200);
	}
	weft_response_free(r);
	atomic_fetch_add(&g_ops, 1);
	return NULL;
}

static void *fetch_cancelled(void *arg)
{
	char url[128];
	weft_response *r;

	(void)arg;
	http_server_url(&g_srv.srv, "/forever", url, sizeof(url));
	r = weft_fetch(url, NULL);
	CHECK(r == NULL && errno == ECANCELED);
	weft_response_free(r);
	return NULL;
}

static void *echo_side(void *arg)
{
	int fd = (int)(intptr_t)arg, i;
	char buf[64];

	for (i = 0; i < 20; i++) {
		ssize_t n = weft_read(fd, buf, sizeof(buf));

		if (n <= 0 || weft_write(fd, buf, (size_t)n) != n)
			break;
	}
	return NULL;
}

static void *socket_work(void *arg)
{
	int sv[2], i;
	char out[64], in[64];
	weft_task *echo;

	(void)arg;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		CHECK(!"socketpair");
		return NULL;
	}
	echo = weft_spawn(echo_side, (void *)(intptr_t)sv[1]);
	CHECK(echo != NULL);
	for (i = 0; echo && i < 20; i++) {
		memset(out, 'a' + i, sizeof(out));
		CHECK(weft_write(sv[0], out, sizeof(out)) == (ssize_t)sizeof(out));
		CHECK(weft_read(sv[0], in, sizeof(in)) == (ssize_t)sizeof(in) &&
		    memcmp(in, out, sizeof(in)) == 0);
		atomic_fetch_add(&g_ops, 1);
	}
	if (echo)
		CHECK(weft_join(echo, NULL) == 0);
	weft_close(sv[0]);
	weft_close(sv[1]);
	return NULL;
}

static void *chan_work(void *arg)
{
	long v = (long)(intptr_t)arg * 1000, got = -1;
	int i;

	for (i = 0; i < 10; i++, v++) {
		CHECK(weft_chan_send(g_to_peer, &v) == 0);
		CHECK(weft_chan_recv(g_from_peer, &got) == 0 && got >= 0);
		atomic_fetch_add(&g_ops, 1);
	}
	return NULL;
}

static void *mutex_work(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 50; i++) {
		CHECK(weft_mutex_lock(&g_mx) == 0);
		g_shared++;
		if (i % 10 == 0)
			weft_yield();
		CHECK(weft_mutex_unlock(&g_mx) == 0);
	}
	atomic_fetch_add(&g_ops, 1);
	return NULL;
}

static void *square(void *arg)
{
	long v = (long)(intptr_t)arg;

	return (void *)(intptr_t)(v * v);
}

static void *offload_work(void *arg)
{
	long v = (long)(intptr_t)arg;
	void *res = NULL;

	CHECK(weft_blocking(square, (void *)(intptr_t)v, &res) == 0 &&
	    (long)(intptr_t)res == v * v);
	atomic_fetch_add(&g_ops, 1);
	return NULL;
}

static void *sleeper(void *arg)
{
	long k = (long)(intptr_t)arg;
	int rc = weft_sleep(k % 2 ? 10000 : 1 + k % 5);

	CHECK(k % 2 ? rc == -1 && errno == ECANCELED : rc == 0);
	return NULL;
}

/* One round: every kind at once, then the cancellations, then the joins. */
static void round_once(void)
{
	weft_group *g = weft_group_create(0);
	weft_task *cancel_me[2 * TASKS_PER_KIND];
	int n = 0;
	long k;

	CHECK(g != NULL);
	if (!g)
		return;
	for (k = 0; k < TASKS_PER_KIND; k++) {
		CHECK(weft_group_spawn(g, fetch_work, (void *)(intptr_t)k));
		CHECK(weft_group_spawn(g, socket_work, NULL));
		CHECK(weft_group_spawn(g, chan_work, (void *)(intptr_t)k));
		CHECK(weft_group_spawn(g, mutex_work, NULL));
		CHECK(weft_group_spawn(g, offload_work, (void *)(intptr_t)k));
		cancel_me[n] = weft_spawn(sleeper, (void *)(intptr_t)k);
		CHECK(cancel_me[n] != NULL);
		n += cancel_me[n] != NULL;
	}
	cancel_me[n] = weft_spawn(fetch_cancelled, NULL);
	CHECK(cancel_me[n] != NULL);
	n += cancel_me[n] != NULL;
	CHECK(weft_sleep(30) == 0);                 /* let them get going */
	for (k = 0; k < n; k++)
		if (k % 2 || cancel_me[k] == cancel_me[n - 1])
			CHECK(weft_cancel(cancel_me[k]) == 0);
	for (k = 0; k < n; k++)
		CHECK(weft_join(cancel_me[k], NULL) == 0);
	CHECK(weft_group_wait(g) == 0);
	CHECK(weft_group_destroy(g) == 0);
}

/* ---- the second thread: answers the channel, takes the mutex ------------- */

static atomic_int g_stop;

static void *peer_answer(void *arg)
{
	long v;

	(void)arg;
	while (weft_chan_recv(g_to_peer, &v) == 0) {
		v = v * 2;
		if (weft_chan_send(g_from_peer, &v) != 0)
			break;
	}
	return NULL;
}

static void *peer_locker(void *arg)
{
	(void)arg;
	while (!atomic_load(&g_stop)) {
		CHECK(weft_mutex_lock(&g_mx) == 0);
		g_shared++;
		CHECK(weft_mutex_unlock(&g_mx) == 0);
		CHECK(weft_sleep(1) == 0);
	}
	return NULL;
}

static void *peer_thread(void *arg)
{
	weft_task *a, *b;

	(void)arg;
	a = weft_spawn(peer_answer, NULL);
	b = weft_spawn(peer_locker, NULL);
	CHECK(a && b);
	if (a)
		weft_join(a, NULL);
	if (b)
		weft_join(b, NULL);
	return NULL;
}

/* ---- main ------------------------------------------------------------------ */

static void *soak(void *arg)
{
	int64_t seconds = *(int64_t *)arg;
	int64_t start = weft_now(), warm_at = start + seconds * 1000 * MS / 5;
	int64_t end = start + seconds * 1000 * MS;
	int64_t plateau_end = start + 2 * seconds * 1000 * MS / 5;
	long fds_warm = -1, rss_warm = -1, fds_end, rss_end, rounds = 0;
	pthread_t peer;
	int ok;

	if (http_server_thread_start(&g_srv) != 0 ||
	    weft_mutex_init(&g_mx) != 0 ||
	    !(g_to_peer = weft_chan_create(sizeof(long), 4)) ||
	    !(g_from_peer = weft_chan_create(sizeof(long), 4)) ||
	    pthread_create(&peer, NULL, peer_thread, NULL) != 0) {
		perror("soak: set-up");
		exit(2);
	}
	/* The plateau: the most seen between a fifth and two fifths of the
	 * time, once libcurl's connection cache and the stack cache have
	 * filled; a leak grows past it by the end. */
	while (weft_now() < end) {
		round_once();
		rounds++;
		if (weft_now() >= warm_at && weft_now() < plateau_end) {
			long fds = open_fds(), rss = rss_kib();

			fds_warm = fds > fds_warm ? fds : fds_warm;
			rss_warm = rss > rss_warm ? rss : rss_warm;
		}
	}
	fds_end = open_fds();
	rss_end = rss_kib();
	atomic_store(&g_stop, 1);
	weft_chan_close(g_to_peer);
	pthread_join(peer, NULL);
	weft_chan_destroy(g_to_peer);
	weft_chan_destroy(g_from_peer);
	CHECK(weft_mutex_destroy(&g_mx) == 0);
	CHECK(http_server_thread_stop(&g_srv) == 0);

	printf("soak: %lld s, %ld rounds, %lu operations, %lu failed checks\n",
	    (long long)seconds, rounds, atomic_load(&g_ops), atomic_load(&g_fails));
	printf("soak: descriptors %ld at most on the plateau, %ld at the end\n",
	    fds_warm, fds_end);
	printf("soak: RSS %ld KiB at most on the plateau, %ld KiB at the end (%+.1f%%)\n",
	    rss_warm, rss_end, rss_warm > 0 ?
	    100.0 * (double)(rss_end - rss_warm) / (double)rss_warm : 0.0);
	ok = atomic_load(&g_fails) == 0 && fds_warm >= 0 &&
	    fds_end <= fds_warm + FD_SLACK &&
	    rss_end <= rss_warm + (rss_warm / 10 > 4096 ? rss_warm / 10 : 4096);
	printf("soak: %s\n", ok ? "flat: PASS" : "FAIL");
	return (void *)(intptr_t)ok;
}

int main(int argc, char **argv)
{
	const char *env = getenv("SOAK_SECONDS");
	int64_t seconds = argc > 1 ? atoll(argv[1]) : env ? atoll(env) : 60;
	weft_task *t;
	void *ok = NULL;

	if (seconds < 5)
		seconds = 5;
	signal(SIGPIPE, SIG_IGN);
	t = weft_spawn(soak, &seconds);
	if (!t || weft_join(t, &ok) != 0) {
		perror("soak");
		return 2;
	}
	return ok ? 0 : 1;
}

/*
 * Failure injection (a build configured with --enable-fault-injection):
 * for each scenario below and for N = 1, 2, 3, ..., the Nth resource
 * request weft makes on the scenario's thread fails — an allocation, a
 * mapping, an epoll or eventfd call, a signal stack, a pool thread, a
 * libcurl handle (src/base/fault.h).  Every N must end in one of two ways:
 * the scenario completes (weft coped, e.g. by a fallback), or a weft call
 * reports the failure with -1/NULL and a documented errno.  Never a crash,
 * a hang (each scenario runs under a deadline, and ETIMEDOUT is not an
 * accepted answer), or a lost task.  Then, with injection off, the same
 * scenario must succeed on the same runtime, which shows it was left
 * usable.  Each N runs on a new thread, so the runtime is made from
 * nothing each time and every creation path is reached; the thread's
 * exit destroys it, and LeakSanitizer (the CI build adds ASan) checks that
 * nothing leaked.  The walk ends at the first N no request reaches.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
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
#include "test_util.h"

/* The controls a fault-injection build exports (src/base/fault.h). */
void weft__fault_arm(unsigned mask, unsigned long nth);
void weft__fault_disarm(void);
int weft__fault_hits(void);

#define FAULT_ALL 0x7fu
#define MAX_POINTS 5000

/* First failure of a scenario: keep the first errno, go on cleaning up. */
#define NOTE(rc, expr) do { \
	if ((expr) && !(rc)) \
		(rc) = errno ? errno : EIO; \
} while (0)

/* Join t if it exists, keeping its result (an errno, 0 for success). */
static void join_noting(int *rc, weft_task *t)
{
	void *res = NULL;

	if (!t)
		return;
	NOTE(*rc, weft_join(t, &res) != 0);
	if (!*rc && P2U(res) != 0)
		*rc = (int)P2U(res);
}

/* ---- scenarios: 0, or the errno a weft call reported ---------------------------- */

static void *yield_once(void *arg)
{
	(void)arg;
	return U2P(weft_yield() == 0 ? 0 : errno);
}

/* More tasks than one chunk, with every kind of stack. */
static int tasks_scenario(void)
{
	enum { N = 70 };
	weft_task *t[N];
	weft_attr attr;
	int i, rc = 0;

	for (i = 0; i < N; i++) {
		t[i] = NULL;
		if (rc)
			continue;
		weft_attr_init(&attr);
		if (i % 3 == 1)
			weft_attr_setguard(&attr, WEFT_GUARD_CANARY);
		if (i % 3 == 2)
			weft_attr_setstacksize(&attr, 256 * 1024);
		NOTE(rc, !(t[i] = weft_spawn_attr(yield_once, NULL, &attr)));
	}
	for (i = 0; i < N; i++)
		join_noting(&rc, t[i]);
	NOTE(rc, weft_run() != 0);
	return rc;
}

static void *sleep_arg(void *arg)
{
	return U2P(weft_sleep((int64_t)P2U(arg)) == 0 ? 0 : errno);
}

static int sleep_scenario(void)
{
	weft_task *t[3] = { NULL, NULL, NULL };
	int i, rc = 0;

	for (i = 0; i < 3 && !rc; i++)
		NOTE(rc, !(t[i] = weft_spawn(sleep_arg, U2P(i + 1))));
	for (i = 0; i < 3; i++)
		join_noting(&rc, t[i]);
	return rc;
}

/* Echo three bytes on a socket; on failure shut it, so the peer sees
 * the end instead of waiting for an answer that will not come. */
static void *echo_three(void *arg)
{
	int fd = *(int *)arg, i;
	char c;

	for (i = 0; i < 3; i++)
		if (weft_read(fd, &c, 1) != 1 || weft_write(fd, &c, 1) != 1) {
			int err = errno ? errno : EIO;

			shutdown(fd, SHUT_RDWR);
			return U2P(err);
		}
	return U2P(0);
}

/* Round trips with an echo task over a socket pair, then weft_poll over
 * more fds than fit on the stack. */
static void *pipes_task(void *arg)
{
	int sv[2] = { -1, -1 }, i, rc = 0;
	struct pollfd pf[10];
	weft_task *echo = NULL;
	ssize_t n;
	char c;

	(void)arg;
	NOTE(rc, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0);
	if (!rc)
		NOTE(rc, !(echo = weft_spawn(echo_three, &sv[1])));
	for (i = 0; i < 3 && !rc; i++) {
		/* The end of the socket (0, EPIPE) means the echo task
		 * failed: its result says why. */
		if (weft_write(sv[0], "e", 1) != 1) {
			if (errno == EPIPE || errno == ECONNRESET)
				break;
			rc = errno;
		} else if ((n = weft_read(sv[0], &c, 1)) != 1) {
			if (n == 0 || errno == ECONNRESET)
				break;
			rc = errno;
		}
	}
	if (rc && echo)
		weft_cancel(echo);
	join_noting(&rc, echo);
	for (i = 0; i < 10; i++) {
		pf[i].fd = sv[0];
		pf[i].events = POLLOUT;
	}
	if (!rc)
		NOTE(rc, weft_poll(pf, 10, 1) == -1);
	close(sv[0]);
	close(sv[1]);
	return U2P(rc);
}

/* Run fn in one task and return its result (an errno) or the spawn's. */
static int in_task(void *(*fn)(void *), void *arg)
{
	weft_task *t = weft_spawn(fn, arg);
	int rc = 0;

	NOTE(rc, !t);
	join_noting(&rc, t);
	return rc;
}

static int pipes_scenario(void)
{
	return in_task(pipes_task, NULL);
}

static void *produce(void *arg)
{
	weft_chan *ch = arg;
	int i;

	for (i = 0; i < 6; i++)
		if (weft_chan_send(ch, &i) != 0)
			return U2P(errno);
	return U2P(0);
}

/* Channels, and a select over more cases than fit on the stack: nine
 * on an empty buffered channel, the tenth on the producer's. */
static void *chan_task(void *arg)
{
	weft_chan *ch = weft_chan_create(sizeof(int), 4);
	weft_chan *unbuf = weft_chan_create(sizeof(int), 0);
	struct weft_select_case cases[10];
	weft_task *p = NULL;
	int i, v, got, rc = 0;

	(void)arg;
	NOTE(rc, !ch || !unbuf);
	if (!rc)
		NOTE(rc, !(p = weft_spawn(produce, unbuf)));
	for (i = 0; i < 6 && !rc; i++) {
		memset(cases, 0, sizeof(cases));
		for (v = 0; v < 10; v++) {
			cases[v].op = WEFT_SELECT_RECV;
			cases[v].chan = v == 9 ? unbuf : ch;
			cases[v].elem = &got;
		}
		errno = 0;
		NOTE(rc, weft_select(cases, 10, 5000) != 9 || got != i);
	}
	for (i = 0; i < 4 && !rc; i++)
		NOTE(rc, weft_chan_trysend(ch, &i) != 0);
	for (i = 0; i < 4 && !rc; i++)
		NOTE(rc, weft_chan_recv(ch, &got) != 0 || got != i);
	if (rc && p)
		weft_cancel(p);
	join_noting(&rc, p);
	weft_chan_destroy(ch);
	weft_chan_destroy(unbuf);
	return U2P(rc);
}

static int chan_scenario(void)
{
	return in_task(chan_task, NULL);
}

static void *group_task(void *arg)
{
	weft_group *g = weft_group_create(0);
	int i, rc = 0;

	(void)arg;
	NOTE(rc, !g);
	for (i = 0; i < 3 && !rc; i++)
		NOTE(rc, !weft_group_spawn(g, sleep_arg, U2P(1)));
	if (g) {
		if (rc)
			weft_group_cancel(g);
		NOTE(rc, weft_group_wait(g) != 0 && errno != ECANCELED);
		NOTE(rc, weft_group_destroy(g) != 0);
	}
	return U2P(rc);
}

static int group_scenario(void)
{
	return in_task(group_task, NULL);
}

static void *times_two(void *arg)
{
	return U2P(P2U(arg) * 2);
}

/* The offload pool: jobs and a numeric look-up (nothing leaves). */
static void *pool_task(void *arg)
{
	struct addrinfo hints, *ai = NULL;
	void *res = NULL;
	int rc = 0, g;

	(void)arg;
	NOTE(rc, weft_blocking(times_two, U2P(21), &res) != 0);
	if (!rc && P2U(res) != 42)
		rc = EIO;
	if (!rc)
		NOTE(rc, weft_blocking(times_two, U2P(1), &res) != 0);
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	if (!rc && (g = weft_getaddrinfo("127.0.0.1", "80", &hints, &ai)) != 0)
		rc = g == EAI_SYSTEM ? errno : g == EAI_MEMORY ? ENOMEM : EIO;
	if (ai)
		freeaddrinfo(ai);
	return U2P(rc);
}

static int pool_scenario(void)
{
	return in_task(pool_task, NULL);
}

/* ---- fetch: from a server on a thread of its own (not counted) ------------------ */

static struct http_server_thread g_st;

static int fetch_path(const char *path, long want)
{
	char url[128];
	weft_response *r;
	int rc = 0;

	http_server_url(&g_st.srv, path, url, sizeof(url));
	NOTE(rc, !(r = weft_fetch(url, NULL)));
	if (r && weft_response_status(r) != want)
		rc = EIO;
	weft_response_free(r);
	return rc;
}

static void *fetch_task(void *arg)
{
	weft_fetch_opts o;
	const char *hdrs[] = { "X-Custom: one", "X-Other: two", NULL };
	char url[128];
	weft_response *r;
	int rc;

	(void)arg;
	if ((rc = fetch_path("/body", 200)) || (rc = fetch_path("/headers", 200)))
		return U2P(rc);
	weft_fetch_opts_init(&o);
	o.headers = hdrs;
	o.method = "POST";
	o.body = "data";
	o.body_len = 4;
	http_server_url(&g_st.srv, "/echo", url, sizeof(url));
	NOTE(rc, !(r = weft_fetch(url, &o)));
	weft_response_free(r);
	return U2P(rc);
}

static int fetch_scenario(void)
{
	return in_task(fetch_task, NULL);
}

/* ---- a mutex held by another thread: a wake-up through the mailbox -------------- */

static weft_mutex g_mx;
static atomic_int g_held;

static void *holder(void *arg)
{
	(void)arg;
	weft_mutex_lock(&g_mx);
	atomic_store(&g_held, 1);
	usleep(2000);
	weft_mutex_unlock(&g_mx);
	return NULL;
}

static void *lock_task(void *arg)
{
	int rc = 0;

	(void)arg;
	while (!atomic_load(&g_held))
		usleep(100);
	NOTE(rc, weft_mutex_lock(&g_mx) != 0);
	if (!rc)
		weft_mutex_unlock(&g_mx);
	return U2P(rc);
}

static int mutex_scenario(void)
{
	pthread_t th;
	int rc;

	atomic_store(&g_held, 0);
	if (pthread_create(&th, NULL, holder, NULL) != 0)
		return EAGAIN;
	rc = in_task(lock_task, NULL);
	if (rc)                              /* the task never ran */
		atomic_store(&g_held, 1);
	pthread_join(th, NULL);
	return rc;
}

/* ---- the walk ------------------------------------------------------------------- */

struct run {
	int (*scenario)(void);
	unsigned long nth;
	int rc, hit, rc_again;
	uint64_t live;
};

/* The scenario under a deadline; ETIMEDOUT here means it hung. */
static int bounded(int (*scenario)(void))
{
	int64_t saved = weft_deadline_push(weft_now() + 10000 * MS_NS * slow_factor());
	int rc;

	if (saved == -1)
		return errno;
	rc = scenario();
	weft_deadline_pop(saved);
	return rc;
}

static void *run_thread(void *arg)
{
	struct run *r = arg;
	struct weft_stats st;

	weft__fault_arm(FAULT_ALL, r->nth);
	r->rc = bounded(r->scenario);
	r->hit = weft__fault_hits();
	weft__fault_disarm();
	r->rc_again = bounded(r->scenario);
	r->live = weft_stats(&st) == 0 ? st.tasks_live : UINT64_MAX;
	return NULL;
}

/* What a reported resource failure may say. */
static int allowed(int err)
{
	return err == ENOMEM || err == EMFILE || err == ENFILE ||
	    err == EAGAIN;
}

/* To look at one failure: FAULT_FROM=N starts the walks at N (and
 * FAULT_VERBOSE=1 prints every step, WEFT_FAULT_TRACE=1 where it struck). */
static unsigned long first_point(void)
{
	const char *env = getenv("FAULT_FROM");

	return env ? strtoul(env, NULL, 10) : 1;
}

static void walk(const char *name, int (*scenario)(void))
{
	struct run r;
	pthread_t th;
	unsigned long n;
	unsigned failed = 0;

	for (n = first_point(); n <= MAX_POINTS; n++) {
		memset(&r, 0, sizeof(r));
		r.scenario = scenario;
		r.nth = n;
		ck_assert_int_eq(pthread_create(&th, NULL, run_thread, &r), 0);
		ck_assert_int_eq(pthread_join(th, NULL), 0);
		if (getenv("FAULT_VERBOSE"))
			printf("%s %lu: rc %d hit %d again %d live %llu\n", name, n,
			    r.rc, r.hit, r.rc_again, (unsigned long long)r.live);
		ck_assert_msg(r.rc_again == 0,
		    "%s: after failure %lu the runtime is unusable: errno %d (%s)",
		    name, n, r.rc_again, strerror(r.rc_again));
		ck_assert_msg(r.live == 0, "%s: after failure %lu, %llu tasks left",
		    name, n, (unsigned long long)r.live);
		if (!r.hit) {
			ck_assert_msg(r.rc == 0, "%s: failed without a fault: %s",
			    name, strerror(r.rc));
			printf("%s: %lu injection points, %u reported as failures\n",
			    name, n - 1, failed);
			return;
		}
		ck_assert_msg(r.rc == 0 || allowed(r.rc),
		    "%s: failure %lu came back as errno %d (%s)", name, n, r.rc,
		    strerror(r.rc));
		failed += r.rc != 0;
	}
	ck_abort_msg("%s: more than %d injection points", name, MAX_POINTS);
}

START_TEST(inject_tasks) { walk("tasks", tasks_scenario); } END_TEST
START_TEST(inject_sleep) { walk("sleep", sleep_scenario); } END_TEST
START_TEST(inject_pipes) { walk("pipes", pipes_scenario); } END_TEST
START_TEST(inject_chan) { walk("chan", chan_scenario); } END_TEST
START_TEST(inject_group) { walk("group", group_scenario); } END_TEST
START_TEST(inject_pool) { walk("pool", pool_scenario); } END_TEST
START_TEST(inject_mutex)
{
	ck_assert_int_eq(weft_mutex_init(&g_mx), 0);
	walk("mutex", mutex_scenario);
	ck_assert_int_eq(weft_mutex_destroy(&g_mx), 0);
}
END_TEST

START_TEST(inject_fetch)
{
	ck_assert_int_eq(http_server_thread_start(&g_st), 0);
	walk("fetch", fetch_scenario);
	ck_assert_int_eq(http_server_thread_stop(&g_st), 0);
}
END_TEST

static Suite *fault_suite(void)
{
	Suite *s = suite_create("fault");
	TCase *tc = tcase_create("inject");

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, inject_tasks);
	tcase_add_test(tc, inject_sleep);
	tcase_add_test(tc, inject_pipes);
	tcase_add_test(tc, inject_chan);
	tcase_add_test(tc, inject_group);
	tcase_add_test(tc, inject_pool);
	tcase_add_test(tc, inject_mutex);
	tcase_add_test(tc, inject_fetch);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fault_suite());
	int failed;

	/* A write to a peer that failed must be EPIPE, not the end. */
	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

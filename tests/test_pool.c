/*
 * Offload pool: weft_blocking, weft_set_pool_size and weft_getaddrinfo.
 *
 * Pool functions that must still be running when something is checked are
 * held on an atomic flag the test releases afterwards, so "the caller
 * returned before fn finished" is shown by ordering, not by timing.  The
 * only time bound is the generous one proving the loop kept running while
 * every pool thread was busy.
 *
 * Each test creates the runtime it uses (Check's fork mode).  Tests that
 * need a pool of a particular size run in a thread of their own, whose
 * runtime (and pool) is new and goes away when the thread exits, so they
 * also hold with CK_FORK=no.  Name look-ups stay on this machine:
 * "localhost" comes from /etc/hosts, everything else is numeric or fails
 * before any look-up.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "weft.h"
#include "test_util.h"

#define GUARD_NS ((int64_t)10000 * MS_NS * slow_factor())

static void sleep_ms_thread(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000 * 1000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Runs fn on a new thread (a new runtime) and waits for it. */
static void run_in_thread(void *(*fn)(void *), void *arg)
{
	pthread_t th;

	ck_assert_int_eq(pthread_create(&th, NULL, fn, arg), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
}

/*
 * Held jobs: hold_fn(k) runs until held_release[k] is set (20 s at most),
 * then sets held_done[k] and returns 100 + k.
 */
enum { HOLDS = 8 };
static atomic_int g_release[HOLDS], g_done[HOLDS];

static void holds_reset(void)
{
	int k;

	for (k = 0; k < HOLDS; k++) {
		atomic_store(&g_release[k], 0);
		atomic_store(&g_done[k], 0);
	}
}

static void *hold_fn(void *arg)
{
	int k = (int)P2U(arg), i;

	for (i = 0; i < 20000 && !atomic_load(&g_release[k]); i++)
		sleep_ms_thread(1);
	atomic_store(&g_done[k], 1);
	return U2P(100 + k);
}

/* In a task: park in 1 ms sleeps until the flag is set (or the guard). */
static int await_flag(atomic_int *flag)
{
	int64_t end = weft_now() + GUARD_NS;

	while (!atomic_load(flag)) {
		if (weft_now() > end || weft_sleep(1) != 0)
			return -1;
	}
	return 0;
}

static int await_int(const int *v, int want)
{
	int64_t end = weft_now() + GUARD_NS;

	while (*v < want) {
		if (weft_now() > end || weft_sleep(1) != 0)
			return -1;
	}
	return 0;
}

static void *quick_fn(void *arg)
{
	return arg;
}

/* ---- 64 jobs on 4 threads; the loop keeps running ------------------------ */

enum { JOBS = 64, POOL = 4 };

static atomic_int g_running, g_max_running, g_completed, g_on_caller_thread;
static pthread_t g_caller_thread;

static void note_running(void)
{
	int now = atomic_fetch_add(&g_running, 1) + 1;
	int m = atomic_load(&g_max_running);

	while (now > m && !atomic_compare_exchange_weak(&g_max_running, &m, now))
		;
	if (pthread_equal(pthread_self(), g_caller_thread))
		atomic_fetch_add(&g_on_caller_thread, 1);
}

static void *sleepy_fn(void *arg)
{
	note_running();
	sleep_ms_thread(50);
	atomic_fetch_sub(&g_running, 1);
	atomic_fetch_add(&g_completed, 1);
	return U2P(P2U(arg) * 7 + 1);
}

static void *job_task_fn(void *arg)
{
	void *r = NULL;
	int rc = weft_blocking(sleepy_fn, arg, &r);

	TASK_CHECK(rc == 0);
	return rc == 0 ? r : NULL;
}

static struct {
	int64_t start, end;
	int rc, completed_at_wake;
} g_tick;

static void *tick_fn(void *arg)
{
	(void)arg;
	g_tick.start = weft_now();
	g_tick.rc = weft_sleep(100);
	g_tick.end = weft_now();
	g_tick.completed_at_wake = atomic_load(&g_completed);
	return NULL;
}

START_TEST(jobs_on_four_threads)
{
	static weft_task *t[JOBS];
	uint64_t live0 = live_tasks();
	weft_task *tick;
	int64_t slept;
	int i;

	task_checks_reset();
	atomic_store(&g_running, 0);
	atomic_store(&g_max_running, 0);
	atomic_store(&g_completed, 0);
	atomic_store(&g_on_caller_thread, 0);
	g_caller_thread = pthread_self();
	memset(&g_tick, 0, sizeof(g_tick));
	ck_assert_int_eq(weft_set_pool_size(POOL), 0);
	for (i = 0; i < JOBS; i++) {
		t[i] = weft_spawn(job_task_fn, U2P(i));
		ck_assert_ptr_nonnull(t[i]);
	}
	/* Runs after every job was handed to the pool. */
	tick = weft_spawn(tick_fn, NULL);
	ck_assert_ptr_nonnull(tick);
	for (i = 0; i < JOBS; i++) {
		void *r = NULL;

		ck_assert_int_eq(weft_join(t[i], &r), 0);
		ck_assert_uint_eq(P2U(r), (uintptr_t)i * 7 + 1);
	}
	ck_assert_int_eq(weft_join(tick, NULL), 0);
	assert_task_checks_passed();

	ck_assert_int_eq(atomic_load(&g_completed), JOBS);
	ck_assert_int_eq(atomic_load(&g_on_caller_thread), 0);
	ck_assert_int_le(atomic_load(&g_max_running), POOL);
	ck_assert_int_ge(atomic_load(&g_max_running), 2);
	/* The loop ran timers while every pool thread was busy: 64 jobs of
	 * 50 ms on 4 threads take 800 ms, the 100 ms sleep ended long before. */
	ck_assert_int_eq(g_tick.rc, 0);
	slept = g_tick.end - g_tick.start;
	ck_assert_int_ge(slept, 100 * MS_NS);
	ck_assert_msg(slept < (100 + 500) * MS_NS * slow_factor(),
	    "weft_sleep(100) took %lld ms while the pool worked",
	    (long long)(slept / MS_NS));
	ck_assert_int_lt(g_tick.completed_at_wake, JOBS);
	ck_assert_uint_eq(live_tasks(), live0);
}
END_TEST

/* ---- FIFO order and the size limits, each in a runtime of its own ------- */

enum { FIFO_JOBS = 8 };

static struct {
	int set_rc;
	atomic_int next;
	int order[FIFO_JOBS];
	int results_ok;
	int spawn_failures;
} g_fifo;

static void *order_fn(void *arg)
{
	int slot = atomic_fetch_add(&g_fifo.next, 1);

	note_running();
	if (slot < FIFO_JOBS)
		g_fifo.order[slot] = (int)P2U(arg);
	sleep_ms_thread(5);
	atomic_fetch_sub(&g_running, 1);
	return U2P(P2U(arg) + 1000);
}

static void *order_task_fn(void *arg)
{
	void *r = NULL;

	if (weft_blocking(order_fn, arg, &r) != 0)
		return NULL;
	return r;
}

static void *fifo_thread(void *arg)
{
	weft_task *t[FIFO_JOBS];
	int i;

	(void)arg;
	g_caller_thread = pthread_self();
	g_fifo.set_rc = weft_set_pool_size(1);
	for (i = 0; i < FIFO_JOBS; i++) {
		t[i] = weft_spawn(order_task_fn, U2P(i));
		if (t[i] == NULL)
			g_fifo.spawn_failures++;
	}
	for (i = 0; i < FIFO_JOBS; i++) {
		void *r = NULL;

		if (t[i] != NULL && weft_join(t[i], &r) == 0 &&
		    P2U(r) == (uintptr_t)i + 1000)
			g_fifo.results_ok++;
	}
	return NULL;
}

START_TEST(one_thread_is_fifo)
{
	int i;

	memset(&g_fifo, 0, sizeof(g_fifo));
	atomic_store(&g_fifo.next, 0);
	atomic_store(&g_running, 0);
	atomic_store(&g_max_running, 0);
	atomic_store(&g_on_caller_thread, 0);
	run_in_thread(fifo_thread, NULL);
	ck_assert_int_eq(g_fifo.set_rc, 0);
	ck_assert_int_eq(g_fifo.spawn_failures, 0);
	ck_assert_int_eq(g_fifo.results_ok, FIFO_JOBS);
	ck_assert_int_eq(atomic_load(&g_fifo.next), FIFO_JOBS);
	for (i = 0; i < FIFO_JOBS; i++)
		ck_assert_int_eq(g_fifo.order[i], i);
	ck_assert_int_eq(atomic_load(&g_max_running), 1);
	ck_assert_int_eq(atomic_load(&g_on_caller_thread), 0);
}
END_TEST

static struct {
	int rc_max, rc_min, blocking_rc;
	void *r;
} g_limits;

static void *limits_thread(void *arg)
{
	weft_task *t;

	(void)arg;
	g_limits.rc_min = weft_set_pool_size(1);
	g_limits.rc_max = weft_set_pool_size(1024);
	t = weft_spawn(order_task_fn, U2P(5));
	g_limits.blocking_rc = t ? weft_join(t, &g_limits.r) : -2;
	return NULL;
}

START_TEST(pool_errors)
{
	void *r = U2P(0xdead);

	assert_fails(weft_set_pool_size(0), EINVAL);
	assert_fails(weft_set_pool_size(1025), EINVAL);
	assert_fails(weft_set_pool_size(100000), EINVAL);
	assert_fails(weft_set_pool_size(~0u), EINVAL);
	assert_fails(weft_blocking(NULL, NULL, NULL), EINVAL);
	assert_fails(weft_blocking(NULL, NULL, &r), EINVAL);
	ck_assert_uint_eq(P2U(r), 0xdead);

	/* The limits themselves are accepted. */
	memset(&g_limits, 0, sizeof(g_limits));
	atomic_store(&g_fifo.next, 0);
	run_in_thread(limits_thread, NULL);
	ck_assert_int_eq(g_limits.rc_min, 0);
	ck_assert_int_eq(g_limits.rc_max, 0);
	ck_assert_int_eq(g_limits.blocking_rc, 0);
	ck_assert_uint_eq(P2U(g_limits.r), 1005);
}
END_TEST

/* ---- where fn runs ---------------------------------------------------------- */

static void *whoami_fn(void *arg)
{
	*(pthread_t *)arg = pthread_self();
	return U2P(0x1234);
}

static pthread_t g_who_task;
static int g_task_blocking_rc[3];
static void *g_task_blocking_r;

static void *blocking_in_task_fn(void *arg)
{
	pthread_t who;

	(void)arg;
	g_task_blocking_rc[0] = weft_blocking(whoami_fn, &g_who_task, &g_task_blocking_r);
	g_task_blocking_rc[1] = weft_blocking(whoami_fn, &who, NULL);
	errno = 0;
	g_task_blocking_rc[2] = weft_blocking(NULL, NULL, NULL) == -1 && errno == EINVAL;
	return NULL;
}

START_TEST(blocking_where_fn_runs)
{
	pthread_t who;
	void *r = NULL;
	weft_task *t;

	/* Outside a task: fn(arg) on the calling thread. */
	ck_assert_ptr_null(weft_self());
	ck_assert_int_eq(weft_blocking(whoami_fn, &who, &r), 0);
	ck_assert(pthread_equal(who, pthread_self()));
	ck_assert_uint_eq(P2U(r), 0x1234);
	ck_assert_int_eq(weft_blocking(whoami_fn, &who, NULL), 0);

	/* In a task: on a pool thread. */
	memset(g_task_blocking_rc, 0xff, sizeof(g_task_blocking_rc));
	g_task_blocking_r = NULL;
	g_who_task = pthread_self();
	t = weft_spawn(blocking_in_task_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	ck_assert_int_eq(g_task_blocking_rc[0], 0);
	ck_assert_int_eq(g_task_blocking_rc[1], 0);
	ck_assert_int_eq(g_task_blocking_rc[2], 1);
	ck_assert_uint_eq(P2U(g_task_blocking_r), 0x1234);
	ck_assert(!pthread_equal(g_who_task, pthread_self()));
}
END_TEST

/* ---- a caller that stops waiting: deadline, cancellation ---------------- */

static struct {
	int stage;               /* 1: waiting in weft_blocking; 2: returned */
	int rc, err;
	int64_t start, deadline, end;
	void *r;
	int fn_done_at_return;
	weft_task *victim;
	/* the next task, waiting while the abandoned job completes */
	int next_stage;
	int next_rc;
	void *next_r;
	int next_released_at_return;
	int next_parked_after_stale;
} g_ab;

/* Waits 50 ms at most for hold_fn(0). */
static void *deadline_caller_fn(void *arg)
{
	int64_t saved;

	(void)arg;
	g_ab.r = U2P(0xdead);
	g_ab.start = weft_now();
	g_ab.deadline = g_ab.start + 50 * MS_NS;
	saved = weft_deadline_push(g_ab.deadline);
	g_ab.stage = 1;
	errno = 0;
	g_ab.rc = weft_blocking(hold_fn, U2P(0), &g_ab.r);
	g_ab.err = errno;
	g_ab.end = weft_now();
	g_ab.stage = 2;
	g_ab.fn_done_at_return = atomic_load(&g_done[0]);
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	return U2P(9);
}

/* Waits for hold_fn(1) with no deadline. */
static void *next_caller_fn(void *arg)
{
	int64_t saved = weft_deadline_push(weft_now() + 2 * GUARD_NS);

	(void)arg;
	g_ab.next_stage = 1;
	g_ab.next_rc = weft_blocking(hold_fn, U2P(1), &g_ab.next_r);
	g_ab.next_released_at_return = atomic_load(&g_release[1]);
	g_ab.next_stage = 2;
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	return NULL;
}

/* Lets the abandoned job finish while next_caller waits, then its own. */
static void *controller_fn(void *arg)
{
	int k = (int)P2U(arg);

	TASK_CHECK(g_ab.next_stage == 1);
	atomic_store(&g_release[k], 1);
	TASK_CHECK(await_flag(&g_done[k]) == 0);
	/* Time for the loop to take the abandoned completion. */
	TASK_CHECK(weft_sleep(100) == 0);
	g_ab.next_parked_after_stale = g_ab.next_stage == 1;
	atomic_store(&g_release[1], 1);
	TASK_CHECK(await_int(&g_ab.next_stage, 2) == 0);
	return NULL;
}

/*
 * The caller of a weft_blocking whose fn is slow gives up at its deadline
 * (-1 ETIMEDOUT while fn still runs) and is joined; the fn then finishes
 * with its caller gone while another task waits on the pool: that task is
 * not woken by the stale completion and gets its own result.
 */
START_TEST(deadline_abandons_job)
{
	uint64_t live0 = live_tasks();
	weft_task *n, *c;
	void *r = NULL;

	task_checks_reset();
	holds_reset();
	memset(&g_ab, 0, sizeof(g_ab));
	g_ab.victim = weft_spawn(deadline_caller_fn, NULL);
	ck_assert_ptr_nonnull(g_ab.victim);
	ck_assert_int_eq(weft_join(g_ab.victim, &r), 0);
	ck_assert_uint_eq(P2U(r), 9);
	ck_assert_msg(g_ab.rc == -1 && g_ab.err == ETIMEDOUT,
	    "weft_blocking past its deadline: %d errno %d (%s), expected -1 ETIMEDOUT",
	    g_ab.rc, g_ab.err, strerror(g_ab.err));
	ck_assert_int_ge(g_ab.end, g_ab.deadline);
	/* It returned while fn was still held, and fn's value was dropped. */
	ck_assert_int_eq(g_ab.fn_done_at_return, 0);
	ck_assert_uint_eq(P2U(g_ab.r), 0xdead);

	n = weft_spawn(next_caller_fn, NULL);
	c = weft_spawn(controller_fn, U2P(0));
	ck_assert(n != NULL && c != NULL);
	ck_assert_int_eq(weft_join(c, NULL), 0);
	ck_assert_int_eq(weft_join(n, NULL), 0);
	assert_task_checks_passed();
	ck_assert_int_eq(g_ab.next_parked_after_stale, 1);
	ck_assert_int_eq(g_ab.next_rc, 0);
	ck_assert_uint_eq(P2U(g_ab.next_r), 101);
	ck_assert_int_eq(g_ab.next_released_at_return, 1);
	ck_assert_uint_eq(live_tasks(), live0);
}
END_TEST

/* Same with a cancel instead of a deadline (the caller has none). */
static void *cancel_caller_fn(void *arg)
{
	(void)arg;
	g_ab.r = U2P(0xdead);
	g_ab.stage = 1;
	errno = 0;
	g_ab.rc = weft_blocking(hold_fn, U2P(0), &g_ab.r);
	g_ab.err = errno;
	g_ab.stage = 2;
	g_ab.fn_done_at_return = atomic_load(&g_done[0]);
	/* Later waits fail at once too. */
	TASK_CHECK_FAILS(weft_blocking(quick_fn, NULL, NULL), ECANCELED);
	return U2P(9);
}

START_TEST(cancel_abandons_job)
{
	uint64_t live0 = live_tasks();
	weft_task *n, *c, *nop;
	void *r = NULL;

	task_checks_reset();
	holds_reset();
	memset(&g_ab, 0, sizeof(g_ab));
	g_ab.victim = weft_spawn(cancel_caller_fn, NULL);
	nop = weft_spawn(quick_fn, NULL);
	ck_assert(g_ab.victim != NULL && nop != NULL);
	/* Joining the later task runs the caller until it parks. */
	ck_assert_int_eq(weft_join(nop, NULL), 0);
	ck_assert_int_eq(g_ab.stage, 1);
	ck_assert_int_eq(weft_cancel(g_ab.victim), 0);
	ck_assert_int_eq(weft_join(g_ab.victim, &r), 0);
	ck_assert_uint_eq(P2U(r), 9);
	ck_assert_msg(g_ab.rc == -1 && g_ab.err == ECANCELED,
	    "cancelled weft_blocking: %d errno %d (%s), expected -1 ECANCELED",
	    g_ab.rc, g_ab.err, strerror(g_ab.err));
	ck_assert_int_eq(g_ab.fn_done_at_return, 0);
	ck_assert_uint_eq(P2U(g_ab.r), 0xdead);

	n = weft_spawn(next_caller_fn, NULL);
	c = weft_spawn(controller_fn, U2P(0));
	ck_assert(n != NULL && c != NULL);
	ck_assert_int_eq(weft_join(c, NULL), 0);
	ck_assert_int_eq(weft_join(n, NULL), 0);
	assert_task_checks_passed();
	ck_assert_int_eq(g_ab.next_parked_after_stale, 1);
	ck_assert_int_eq(g_ab.next_rc, 0);
	ck_assert_uint_eq(P2U(g_ab.next_r), 101);
	ck_assert_uint_eq(live_tasks(), live0);
}
END_TEST

/* ---- weft_getaddrinfo ------------------------------------------------------ */

/* Does the list hold 127.0.0.1:port? */
static int has_loopback(const struct addrinfo *ai, uint16_t port)
{
	for (; ai != NULL; ai = ai->ai_next) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ai->ai_addr;

		if (ai->ai_family == AF_INET && ai->ai_addr != NULL &&
		    ai->ai_socktype == SOCK_STREAM &&
		    a->sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
		    a->sin_port == htons(port))
			return 1;
	}
	return 0;
}

static struct addrinfo gai_hints(int flags)
{
	struct addrinfo h;

	memset(&h, 0, sizeof(h));
	h.ai_family = AF_INET;
	h.ai_socktype = SOCK_STREAM;
	h.ai_flags = flags;
	return h;
}

/* Number of wrong results; usable in a task and outside. */
static int gai_wrong(void)
{
	struct addrinfo h, *res = NULL;
	int wrong = 0, rc;

	h = gai_hints(0);
	rc = weft_getaddrinfo("localhost", "80", &h, &res);
	wrong += rc != 0;
	if (rc == 0) {
		wrong += !has_loopback(res, 80);
		freeaddrinfo(res);
	}
	res = NULL;
	h = gai_hints(AI_NUMERICHOST | AI_NUMERICSERV);
	rc = weft_getaddrinfo("127.0.0.1", "8080", &h, &res);
	wrong += rc != 0;
	if (rc == 0) {
		wrong += !has_loopback(res, 8080);
		freeaddrinfo(res);
	}
	/* Failures that never leave the machine. */
	res = NULL;
	h = gai_hints(AI_NUMERICHOST);
	wrong += weft_getaddrinfo("not-a-number.invalid", "80", &h, &res) != EAI_NONAME;
	h = gai_hints(AI_NUMERICHOST | AI_NUMERICSERV);
	wrong += weft_getaddrinfo("127.0.0.1", "http-ish", &h, &res) != EAI_NONAME;
	h = gai_hints(AI_NUMERICHOST);
	h.ai_family = 12345;
	wrong += weft_getaddrinfo("127.0.0.1", "80", &h, &res) != EAI_FAMILY;
	return wrong;
}

static void *gai_task_fn(void *arg)
{
	struct addrinfo h = gai_hints(AI_NUMERICHOST | AI_NUMERICSERV), *res = NULL;
	int64_t saved;
	int rc, err;

	(void)arg;
	TASK_CHECK(gai_wrong() == 0);
	/* Past the deadline: EAI_SYSTEM with errno ETIMEDOUT. */
	saved = weft_deadline_push(0);
	errno = 0;
	rc = weft_getaddrinfo("127.0.0.1", "80", &h, &res);
	err = errno;
	TASK_CHECK(rc == EAI_SYSTEM && err == ETIMEDOUT);
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	return NULL;
}

static void *gai_cancelled_fn(void *arg)
{
	struct addrinfo h = gai_hints(AI_NUMERICHOST | AI_NUMERICSERV), *res = NULL;
	int rc, err;

	(void)arg;
	TASK_CHECK(weft_cancel(weft_self()) == 0);
	errno = 0;
	rc = weft_getaddrinfo("127.0.0.1", "80", &h, &res);
	err = errno;
	TASK_CHECK(rc == EAI_SYSTEM && err == ECANCELED);
	return NULL;
}

static int g_gai_spawn_failures;

/*
 * The look-ups in tasks run in a thread of their own, whose runtime joins
 * its pool threads when the thread ends: glibc keeps per-thread resolver
 * state that Valgrind reports as lost if a thread that used it is still
 * alive at exit, which the main runtime's pool threads would be.
 */
static void *gai_thread(void *arg)
{
	weft_task *t;

	(void)arg;
	t = weft_spawn(gai_task_fn, NULL);
	if (t == NULL || weft_join(t, NULL) != 0)
		g_gai_spawn_failures++;
	t = weft_spawn(gai_cancelled_fn, NULL);
	if (t == NULL || weft_join(t, NULL) != 0)
		g_gai_spawn_failures++;
	return NULL;
}

START_TEST(getaddrinfo_works)
{
	task_checks_reset();
	g_gai_spawn_failures = 0;
	/* Outside a task: plain getaddrinfo. */
	ck_assert_int_eq(gai_wrong(), 0);
	run_in_thread(gai_thread, NULL);
	ck_assert_int_eq(g_gai_spawn_failures, 0);
	assert_task_checks_passed();
}
END_TEST

/*
 * A look-up abandoned while queued behind a held job (pool of one thread):
 * the caller gets EAI_SYSTEM / ETIMEDOUT at once; the look-up may run later
 * and weft frees its result (the leak checkers of the sanitizer and
 * Valgrind runs see to that).  A job queued after it shows it is done.
 */
static struct {
	int set_rc;
	int holder_rc, gai_rc, gai_err, marker_rc, gai_done_early;
	void *holder_r, *marker_r;
	int spawn_failures;
} g_gq;

static void *gq_holder_fn(void *arg)
{
	(void)arg;
	g_gq.holder_rc = weft_blocking(hold_fn, U2P(2), &g_gq.holder_r);
	return NULL;
}

static void *gq_lookup_fn(void *arg)
{
	struct addrinfo h = gai_hints(AI_NUMERICHOST | AI_NUMERICSERV), *res = NULL;
	int64_t saved = weft_deadline_push(weft_now() + 50 * MS_NS);

	(void)arg;
	errno = 0;
	g_gq.gai_rc = weft_getaddrinfo("127.0.0.1", "80", &h, &res);
	g_gq.gai_err = errno;
	g_gq.gai_done_early = atomic_load(&g_done[2]);
	weft_deadline_pop(saved);
	if (g_gq.gai_rc == 0)
		freeaddrinfo(res);
	atomic_store(&g_release[2], 1);
	return NULL;
}

static void *gq_marker_fn(void *arg)
{
	(void)arg;
	g_gq.marker_rc = weft_blocking(quick_fn, U2P(55), &g_gq.marker_r);
	return weft_sleep(20) == 0 ? NULL : U2P(1);
}

static void *gai_queue_thread(void *arg)
{
	weft_task *h, *l, *m;

	(void)arg;
	g_gq.set_rc = weft_set_pool_size(1);
	h = weft_spawn(gq_holder_fn, NULL);
	l = weft_spawn(gq_lookup_fn, NULL);
	if (h == NULL || l == NULL || weft_join(l, NULL) != 0) {
		g_gq.spawn_failures++;
		atomic_store(&g_release[2], 1);
	}
	/* Queued after the look-up: done means the look-up is done. */
	m = weft_spawn(gq_marker_fn, NULL);
	if (m == NULL || weft_join(m, NULL) != 0)
		g_gq.spawn_failures++;
	if (h == NULL || weft_join(h, NULL) != 0)
		g_gq.spawn_failures++;
	return NULL;
}

START_TEST(getaddrinfo_abandoned_in_queue)
{
	holds_reset();
	memset(&g_gq, 0, sizeof(g_gq));
	run_in_thread(gai_queue_thread, NULL);
	ck_assert_int_eq(g_gq.set_rc, 0);
	ck_assert_int_eq(g_gq.spawn_failures, 0);
	ck_assert_msg(g_gq.gai_rc == EAI_SYSTEM && g_gq.gai_err == ETIMEDOUT,
	    "look-up queued past its deadline: %d (%s) errno %d (%s), expected EAI_SYSTEM ETIMEDOUT",
	    g_gq.gai_rc, gai_strerror(g_gq.gai_rc), g_gq.gai_err, strerror(g_gq.gai_err));
	ck_assert_int_eq(g_gq.gai_done_early, 0);
	ck_assert_int_eq(g_gq.holder_rc, 0);
	ck_assert_uint_eq(P2U(g_gq.holder_r), 102);
	ck_assert_int_eq(g_gq.marker_rc, 0);
	ck_assert_uint_eq(P2U(g_gq.marker_r), 55);
}
END_TEST

/*
 * The thread exits (its runtime goes away) while an abandoned look-up is
 * still queued behind an abandoned job that is running: the running job
 * finishes first, and nothing of the look-up leaks (the sanitizer and
 * Valgrind runs check that).
 */
static struct {
	int set_rc;
	int hold_rc, hold_err, gai_rc, gai_err;
	int spawn_failures;
} g_gx;

static void *gx_holder_fn(void *arg)
{
	int64_t saved = weft_deadline_push(weft_now() + 50 * MS_NS);
	void *r = NULL;

	(void)arg;
	errno = 0;
	g_gx.hold_rc = weft_blocking(hold_fn, U2P(3), &r);
	g_gx.hold_err = errno;
	weft_deadline_pop(saved);
	return NULL;
}

static void *gx_lookup_fn(void *arg)
{
	struct addrinfo h = gai_hints(AI_NUMERICHOST | AI_NUMERICSERV), *res = NULL;
	int64_t saved = weft_deadline_push(weft_now() + 50 * MS_NS);

	(void)arg;
	errno = 0;
	g_gx.gai_rc = weft_getaddrinfo("127.0.0.1", "443", &h, &res);
	g_gx.gai_err = errno;
	weft_deadline_pop(saved);
	if (g_gx.gai_rc == 0)
		freeaddrinfo(res);
	return NULL;
}

static void *gai_exit_thread(void *arg)
{
	weft_task *h, *l;

	(void)arg;
	g_gx.set_rc = weft_set_pool_size(1);
	h = weft_spawn(gx_holder_fn, NULL);
	l = weft_spawn(gx_lookup_fn, NULL);
	if (h == NULL || l == NULL || weft_join(h, NULL) != 0 ||
	    weft_join(l, NULL) != 0)
		g_gx.spawn_failures++;
	/* Let the held job end; the thread leaves with the look-up queued. */
	atomic_store(&g_release[3], 1);
	return NULL;
}

START_TEST(abandoned_jobs_at_thread_exit)
{
	holds_reset();
	memset(&g_gx, 0, sizeof(g_gx));
	run_in_thread(gai_exit_thread, NULL);
	ck_assert_int_eq(g_gx.set_rc, 0);
	ck_assert_int_eq(g_gx.spawn_failures, 0);
	ck_assert_msg(g_gx.hold_rc == -1 && g_gx.hold_err == ETIMEDOUT,
	    "held job past its deadline: %d errno %d (%s)", g_gx.hold_rc,
	    g_gx.hold_err, strerror(g_gx.hold_err));
	ck_assert_msg(g_gx.gai_rc == EAI_SYSTEM && g_gx.gai_err == ETIMEDOUT,
	    "queued look-up past its deadline: %d errno %d (%s)", g_gx.gai_rc,
	    g_gx.gai_err, strerror(g_gx.gai_err));
	/* The running job was allowed to finish before the thread was gone. */
	ck_assert_int_eq(atomic_load(&g_done[3]), 1);
}
END_TEST

static Suite *pool_suite(void)
{
	Suite *s = suite_create("pool");
	TCase *tc;

	tc = tcase_create("blocking");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, jobs_on_four_threads);
	tcase_add_test(tc, one_thread_is_fifo);
	tcase_add_test(tc, blocking_where_fn_runs);
	tcase_add_test(tc, pool_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("abandon");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, deadline_abandons_job);
	tcase_add_test(tc, cancel_abandons_job);
	suite_add_tcase(s, tc);

	tc = tcase_create("getaddrinfo");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, getaddrinfo_works);
	tcase_add_test(tc, getaddrinfo_abandoned_in_queue);
	tcase_add_test(tc, abandoned_jobs_at_thread_exit);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pool_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * Time: weft_now, weft_sleep, weft_sleep_ns, weft_sleep_until, in tasks and
 * outside any task.  Sleeps are checked for never waking early (elapsed time
 * measured by the caller is at least the request), for waking in deadline
 * order and for running concurrently; none checks that a sleep is short
 * except the one generous bound that proves two sleeps overlap.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft.h"
#include "test_util.h"

/* Sub-millisecond and odd durations, to catch rounding down. */
static const int64_t sleep_ns_cases[] = {
	1, 999, 1000, 999999, 1000000, 1000001, 1500000, 2300001, 7000000,
};
static const int64_t sleep_ms_cases[] = { 1, 2, 3, 10, 25 };

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

/* ---- never early, and argument checks, as plain functions -------------- */

/*
 * Each returns the first shortfall found (requested - elapsed > 0) or 0, so
 * the same code serves outside a task and inside one.
 */
static int64_t check_sleep_ms(void)
{
	size_t i;

	for (i = 0; i < NCASES(sleep_ms_cases); i++) {
		int64_t t0 = weft_now();

		if (weft_sleep(sleep_ms_cases[i]) != 0)
			return -1;
		if (weft_now() - t0 < sleep_ms_cases[i] * MS_NS)
			return sleep_ms_cases[i] * MS_NS - (weft_now() - t0);
	}
	return 0;
}

static int64_t check_sleep_ns(void)
{
	size_t i;

	for (i = 0; i < NCASES(sleep_ns_cases); i++) {
		int64_t t0 = weft_now(), el;

		if (weft_sleep_ns(sleep_ns_cases[i]) != 0)
			return -1;
		el = weft_now() - t0;
		if (el < sleep_ns_cases[i])
			return sleep_ns_cases[i] - el;
	}
	return 0;
}

static int64_t check_sleep_until(void)
{
	size_t i;

	for (i = 0; i < NCASES(sleep_ns_cases); i++) {
		int64_t deadline = weft_now() + sleep_ns_cases[i], now;

		if (weft_sleep_until(deadline) != 0)
			return -1;
		now = weft_now();
		if (now < deadline)
			return deadline - now;
	}
	/* A deadline in the past returns at once (after a yield). */
	if (weft_sleep_until(weft_now() - 5 * MS_NS) != 0)
		return -1;
	return 0;
}

/* Negative arguments: number of calls that did not fail with EINVAL. */
static int negative_args_wrong(void)
{
	int wrong = 0;

	errno = 0;
	wrong += !(weft_sleep(-1) == -1 && errno == EINVAL);
	errno = 0;
	wrong += !(weft_sleep(INT64_MIN) == -1 && errno == EINVAL);
	errno = 0;
	wrong += !(weft_sleep_ns(-1) == -1 && errno == EINVAL);
	errno = 0;
	wrong += !(weft_sleep_ns(INT64_MIN) == -1 && errno == EINVAL);
	errno = 0;
	wrong += !(weft_sleep_until(-1) == -1 && errno == EINVAL);
	errno = 0;
	wrong += !(weft_sleep_until(INT64_MIN) == -1 && errno == EINVAL);
	return wrong;
}

START_TEST(never_early_outside_task)
{
	ck_assert_ptr_null(weft_self());
	ck_assert_int_eq(check_sleep_ms(), 0);
	ck_assert_int_eq(check_sleep_ns(), 0);
	ck_assert_int_eq(check_sleep_until(), 0);
}
END_TEST

struct early_result {
	int64_t ms, ns, until;
};

static void *never_early_fn(void *arg)
{
	struct early_result *r = arg;

	r->ms = check_sleep_ms();
	r->ns = check_sleep_ns();
	r->until = check_sleep_until();
	return arg;
}

START_TEST(never_early_in_tasks)
{
	/* Several at once, so timers interleave in the runtime. */
	enum { N = 8 };
	struct early_result r[N];
	weft_task *t[N];
	int i;

	for (i = 0; i < N; i++) {
		r[i].ms = r[i].ns = r[i].until = -2;
		t[i] = weft_spawn(never_early_fn, &r[i]);
		ck_assert_ptr_nonnull(t[i]);
	}
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
		ck_assert_msg(r[i].ms == 0, "task %d weft_sleep: %lld", i, (long long)r[i].ms);
		ck_assert_msg(r[i].ns == 0, "task %d weft_sleep_ns: %lld", i, (long long)r[i].ns);
		ck_assert_msg(r[i].until == 0, "task %d weft_sleep_until: %lld", i,
		    (long long)r[i].until);
	}
}
END_TEST

START_TEST(negative_is_einval_outside)
{
	assert_fails(weft_sleep(-1), EINVAL);
	assert_fails(weft_sleep_ns(-1), EINVAL);
	assert_fails(weft_sleep_until(-1), EINVAL);
	ck_assert_int_eq(negative_args_wrong(), 0);
}
END_TEST

static void *negative_fn(void *arg)
{
	(void)arg;
	return U2P(negative_args_wrong());
}

START_TEST(negative_is_einval_in_task)
{
	weft_task *t = weft_spawn(negative_fn, NULL);
	void *r = U2P(99);

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), 0);
}
END_TEST

/* ---- deadline order ------------------------------------------------------ */

enum { ORDER_N = 10, SPACING_MS = 20 };

struct sleeper {
	int idx;
	int kind;            /* order_fn: 0 weft_sleep, 1 weft_sleep_ns */
	int64_t amount;      /* ms, ns, or (until_fn) the absolute deadline */
	int64_t deadline;    /* what the task asked for, in weft_now() terms */
	int rc;
};

static int g_order[512];
static int g_norder;

static void *order_fn(void *arg)
{
	struct sleeper *s = arg;

	if (s->kind == 0) {
		s->deadline = weft_now() + s->amount * MS_NS;
		s->rc = weft_sleep(s->amount);
	} else {
		s->deadline = weft_now() + s->amount;
		s->rc = weft_sleep_ns(s->amount);
	}
	if (g_norder < (int)(sizeof(g_order) / sizeof(g_order[0])))
		g_order[g_norder++] = s->idx;
	return NULL;
}

/*
 * Spawn ORDER_N tasks in a scrambled order of durations spaced SPACING_MS
 * apart and check they woke in the order of the deadlines they asked for.
 * Deadlines computed from each task's own start time tolerate a late start;
 * the spacing makes ties impossible unless a start was 20 ms late.
 */
static void check_relative_order(int kind)
{
	struct sleeper s[ORDER_N];
	weft_task *t[ORDER_N];
	int i;

	g_norder = 0;
	for (i = 0; i < ORDER_N; i++) {
		int rank = (i * 7 + 3) % ORDER_N;     /* a permutation of 0..9 */
		int64_t ms = (int64_t)(rank + 1) * SPACING_MS;

		s[i].idx = i;
		s[i].kind = kind;
		s[i].amount = kind == 0 ? ms : ms * MS_NS;
		s[i].rc = -2;
		t[i] = weft_spawn(order_fn, &s[i]);
		ck_assert_ptr_nonnull(t[i]);
	}
	for (i = 0; i < ORDER_N; i++) {
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
		ck_assert_int_eq(s[i].rc, 0);
	}
	ck_assert_int_eq(g_norder, ORDER_N);
	for (i = 1; i < ORDER_N; i++) {
		const struct sleeper *a = &s[g_order[i - 1]], *b = &s[g_order[i]];

		ck_assert_msg(a->deadline <= b->deadline + MS_NS,
		    "task %d (deadline %lld) woke before task %d (deadline %lld)",
		    b->idx, (long long)b->deadline, a->idx, (long long)a->deadline);
	}
}

START_TEST(deadline_order_sleep_ms)
{
	check_relative_order(0);
}
END_TEST

START_TEST(deadline_order_sleep_ns)
{
	check_relative_order(1);
}
END_TEST

/*
 * Absolute deadlines 1 ms apart, scrambled, all later than the moment every
 * task has started: the wake order must then be exactly the deadline order,
 * whatever the scheduling delays, since expired timers are due in deadline
 * order.  A task that finds its deadline already past when it starts would
 * make the order that of the run queue instead, so each task notes that, and
 * the round is repeated with a larger head start.
 */
static int g_late;

static void *until_fn(void *arg)
{
	struct sleeper *s = arg;

	if (weft_now() >= s->amount)
		g_late++;
	s->rc = weft_sleep_until(s->amount);
	if (g_norder < (int)(sizeof(g_order) / sizeof(g_order[0])))
		g_order[g_norder++] = s->idx;
	return NULL;
}

START_TEST(deadline_order_until_exact)
{
	enum { N = 200 };
	static const int64_t head_start_ms[] = { 100, 1000, 5000 };
	static struct sleeper s[N];
	static weft_task *t[N];
	size_t round;
	int i;

	for (round = 0; round < NCASES(head_start_ms); round++) {
		int64_t base;

		g_norder = 0;
		g_late = 0;
		for (i = 0; i < N; i++) {
			s[i].idx = (i * 37 + 11) % N;  /* 37 is prime to 200 */
			s[i].rc = -2;
			t[i] = weft_spawn(until_fn, &s[i]);
			ck_assert_ptr_nonnull(t[i]);
		}
		/* Tasks read their deadline when they run, after this. */
		base = weft_now() + head_start_ms[round] * MS_NS;
		for (i = 0; i < N; i++)
			s[i].amount = base + (int64_t)s[i].idx * MS_NS;
		for (i = 0; i < N; i++) {
			ck_assert_int_eq(weft_join(t[i], NULL), 0);
			ck_assert_int_eq(s[i].rc, 0);
		}
		ck_assert_int_eq(g_norder, N);
		if (g_late == 0)
			break;
	}
	ck_assert_msg(g_late == 0, "tasks started after their deadline even with a %lld ms head start",
	    (long long)head_start_ms[NCASES(head_start_ms) - 1]);
	for (i = 0; i < N; i++)
		ck_assert_msg(g_order[i] == i, "wake %d was the task with deadline rank %d",
		    i, g_order[i]);
}
END_TEST

/* ---- sleeps overlap -------------------------------------------------------- */

struct timed {
	int64_t ms, elapsed;
	int rc;
};

static void *timed_sleep_fn(void *arg)
{
	struct timed *tm = arg;
	int64_t t0 = weft_now();

	tm->rc = weft_sleep(tm->ms);
	tm->elapsed = weft_now() - t0;
	return NULL;
}

START_TEST(sleeps_run_concurrently)
{
	struct timed a = { 200, 0, -2 }, b = { 300, 0, -2 };
	weft_task *ta, *tb;
	int64_t t0 = weft_now(), total;

	ta = weft_spawn(timed_sleep_fn, &a);
	tb = weft_spawn(timed_sleep_fn, &b);
	ck_assert_ptr_nonnull(ta);
	ck_assert_ptr_nonnull(tb);
	ck_assert_int_eq(weft_join(ta, NULL), 0);
	ck_assert_int_eq(weft_join(tb, NULL), 0);
	total = weft_now() - t0;
	ck_assert_int_eq(a.rc, 0);
	ck_assert_int_eq(b.rc, 0);
	ck_assert_int_ge(a.elapsed, 200 * MS_NS);
	ck_assert_int_ge(b.elapsed, 300 * MS_NS);
	ck_assert_int_ge(total, 300 * MS_NS);
	/* In sequence they would take 500 ms; the bound leaves 700 ms of
	 * noise, more under Valgrind and ASan. */
	ck_assert_msg(total < 500 * MS_NS + 700 * MS_NS * slow_factor(),
	    "200 ms and 300 ms sleeps took %lld ms together",
	    (long long)(total / MS_NS));
}
END_TEST

/* ---- zero and past deadlines yield ---------------------------------------- */

static int g_ticks;

static void *tick_fn(void *arg)
{
	(void)arg;
	g_ticks++;
	return NULL;
}

struct zero_case {
	int variant;
	int rc, ticks_before, ticks_after;
};

static void *zero_sleeper_fn(void *arg)
{
	struct zero_case *z = arg;

	z->ticks_before = g_ticks;
	switch (z->variant) {
	case 0:
		z->rc = weft_sleep(0);
		break;
	case 1:
		z->rc = weft_sleep_ns(0);
		break;
	case 2:
		z->rc = weft_sleep_until(0);
		break;
	case 3:
		z->rc = weft_sleep_until(weft_now());
		break;
	default:
		z->rc = weft_sleep_until(weft_now() - 1000 * MS_NS);
		break;
	}
	z->ticks_after = g_ticks;
	return NULL;
}

START_TEST(zero_sleep_yields)
{
	int v;

	for (v = 0; v < 5; v++) {
		struct zero_case z = { v, -2, -1, -1 };
		weft_task *s, *k;

		g_ticks = 0;
		/* The sleeper runs first; the ticker is queued behind it. */
		s = weft_spawn(zero_sleeper_fn, &z);
		k = weft_spawn(tick_fn, NULL);
		ck_assert_ptr_nonnull(s);
		ck_assert_ptr_nonnull(k);
		ck_assert_int_eq(weft_join(s, NULL), 0);
		ck_assert_int_eq(weft_join(k, NULL), 0);
		ck_assert_msg(z.rc == 0, "variant %d returned %d", v, z.rc);
		ck_assert_msg(z.ticks_before == 0, "variant %d: ticker ran early", v);
		ck_assert_msg(z.ticks_after == 1,
		    "variant %d: the ready task did not run during the zero sleep", v);
	}
	/* Outside a task they simply return. */
	ck_assert_int_eq(weft_sleep(0), 0);
	ck_assert_int_eq(weft_sleep_ns(0), 0);
	ck_assert_int_eq(weft_sleep_until(0), 0);
}
END_TEST

/* ---- the clock ---------------------------------------------------------------- */

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *clock_fn(void *arg)
{
	int64_t prev = weft_now(), now;
	int i, bad = 0;

	(void)arg;
	for (i = 0; i < 20000; i++) {
		now = weft_now();
		bad += now < prev;
		prev = now;
		if (i % 1000 == 0)
			weft_yield();
	}
	return U2P(bad);
}

START_TEST(now_is_monotonic)
{
	int64_t a, n, b, prev;
	weft_task *t1, *t2;
	void *r1 = U2P(1), *r2 = U2P(1);
	int i;

	/* It is CLOCK_MONOTONIC in nanoseconds. */
	a = mono_ns();
	n = weft_now();
	b = mono_ns();
	ck_assert_int_le(a, n);
	ck_assert_int_le(n, b);
	ck_assert_int_gt(n, 0);

	prev = weft_now();
	for (i = 0; i < 200000; i++) {
		int64_t now = weft_now();

		ck_assert_int_ge(now, prev);
		prev = now;
	}
	/* And it advances across a sleep. */
	ck_assert_int_eq(weft_sleep(2), 0);
	ck_assert_int_ge(weft_now(), prev + 2 * MS_NS);

	t1 = weft_spawn(clock_fn, NULL);
	t2 = weft_spawn(clock_fn, NULL);
	ck_assert_ptr_nonnull(t1);
	ck_assert_ptr_nonnull(t2);
	ck_assert_int_eq(weft_join(t1, &r1), 0);
	ck_assert_int_eq(weft_join(t2, &r2), 0);
	ck_assert_uint_eq(P2U(r1), 0);
	ck_assert_uint_eq(P2U(r2), 0);
}
END_TEST

/* ---- signals do not cut a sleep short ---------------------------------------- */

static volatile sig_atomic_t g_signals;

static void count_signal(int sig)
{
	(void)sig;
	g_signals++;
}

struct pester {
	pthread_t target;
	int count;
};

/* Sends SIGUSR1 to the target thread every 10 ms. */
static void *pester_thread(void *arg)
{
	struct pester *p = arg;
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int i;

	for (i = 0; i < p->count; i++) {
		nanosleep(&ts, NULL);
		pthread_kill(p->target, SIGUSR1);
	}
	return NULL;
}

static void start_pester(struct pester *p, pthread_t *th)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = count_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;                /* no SA_RESTART: calls see EINTR */
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	g_signals = 0;
	p->target = pthread_self();
	p->count = 5;
	ck_assert_int_eq(pthread_create(th, NULL, pester_thread, p), 0);
}

/*
 * The counting handler stays installed: a signal still in flight must not
 * meet the default action.  Signals sent close together may merge, so only
 * "at least one arrived" is certain.
 */
static void stop_pester(pthread_t th)
{
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_ge(g_signals, 1);
}

START_TEST(signals_outside_task)
{
	struct pester p;
	pthread_t th;
	int64_t t0, el;
	int rc;

	start_pester(&p, &th);
	t0 = weft_now();
	rc = weft_sleep(150);
	el = weft_now() - t0;
	stop_pester(th);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_ge(el, 150 * MS_NS);
}
END_TEST

START_TEST(signals_while_tasks_sleep)
{
	struct timed a = { 150, 0, -2 };
	struct pester p;
	pthread_t th;
	weft_task *t;

	start_pester(&p, &th);
	/* The main thread waits in the runtime's poll while the task sleeps. */
	t = weft_spawn(timed_sleep_fn, &a);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	stop_pester(th);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_int_ge(a.elapsed, 150 * MS_NS);
}
END_TEST

static Suite *sleep_suite(void)
{
	Suite *s = suite_create("sleep");
	TCase *tc;

	tc = tcase_create("never_early");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, never_early_outside_task);
	tcase_add_test(tc, never_early_in_tasks);
	tcase_add_test(tc, signals_outside_task);
	tcase_add_test(tc, signals_while_tasks_sleep);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, negative_is_einval_outside);
	tcase_add_test(tc, negative_is_einval_in_task);
	suite_add_tcase(s, tc);

	tc = tcase_create("order");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, deadline_order_sleep_ms);
	tcase_add_test(tc, deadline_order_sleep_ns);
	tcase_add_test(tc, deadline_order_until_exact);
	tcase_add_test(tc, sleeps_run_concurrently);
	tcase_add_test(tc, zero_sleep_yields);
	suite_add_tcase(s, tc);

	tc = tcase_create("clock");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, now_is_monotonic);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sleep_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

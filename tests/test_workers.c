/*
 * Workers: weft_set_workers, weft_worker, weft_attr_setlocal.
 *
 * Tasks are seen on both workers; a started task never changes thread
 * (gettid, weft_worker and &errno across yields, sleeps and I/O, in
 * thousands of tasks); local tasks stay; handles work across workers
 * (join, detach, cancel, select); the sync objects keep exact counts
 * between workers; an echo server's handlers land on both workers;
 * weft_run waits for every worker's tasks; an idle crew uses no CPU.
 *
 * Nothing here depends on luck.  Where a test needs a task on a given
 * worker, "probes" spin until one of them finds itself there (run_on):
 * a worker busy with one probe cannot take the other, so the other
 * worker must steal it, which is what workers are for.  Every such wait
 * has a generous deadline and fails, never hangs.
 *
 * A crew lasts until the process exits: each test asks for two workers,
 * and with CK_FORK=no (Valgrind) the later calls find the crew made.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft.h"
#include "test_util.h"

#define GUARD_NS ((int64_t)30000 * MS_NS)

/* Checks made inside tasks, on any worker: the first failure is kept. */
static atomic_int fail_line;

#define WCHECK(cond) do { \
	if (!(cond)) { \
		int zero_ = 0; \
		atomic_compare_exchange_strong(&fail_line, &zero_, __LINE__); \
	} \
} while (0)

#define assert_no_task_failure() \
	ck_assert_msg(atomic_load(&fail_line) == 0, \
	    "check in a task failed at line %d", atomic_load(&fail_line))

static pid_t tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}



/* Spin (no park, no yield: the worker stays busy) until *flag or the
 * deadline; whether the flag came. */
static int spin_until(atomic_int *flag, int64_t deadline)
{
	while (!atomic_load(flag))
		if (weft_now() > deadline)
			return 0;
	return 1;
}

/* ---- run_on: a function in a task on a given worker --------------------- */

struct run_on {
	int worker;
	void *(*fn)(void *);
	void *arg;
	void *result;
	atomic_int claimed;
	int64_t deadline;
};

static void *probe(void *arg)
{
	struct run_on *r = arg;
	int no = 0;

	while (!atomic_load(&r->claimed)) {
		if (weft_worker() == r->worker &&
		    atomic_compare_exchange_strong(&r->claimed, &no, 1)) {
			r->result = r->fn(r->arg);
			return U2P(1);
		}
		no = 0;
		if (weft_now() > r->deadline)
			return NULL;
	}
	return NULL;
}

/* Run fn(arg) in a task on worker w; its result.  Two probes: while
 * one keeps its worker busy, the other is stolen by the other worker. */
static void *run_on(int w, void *(*fn)(void *), void *arg)
{
	struct run_on r = { .worker = w, .fn = fn, .arg = arg };
	weft_task *p[2];
	void *ran[2];
	int i;

	atomic_init(&r.claimed, 0);
	r.deadline = weft_now() + GUARD_NS / 3;
	for (i = 0; i < 2; i++)
		ck_assert_ptr_nonnull(p[i] = weft_spawn(probe, &r));
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(weft_join(p[i], &ran[i]), 0);
	ck_assert_msg(ran[0] || ran[1], "no probe started on worker %d", w);
	return r.result;
}

static void *nothing(void *arg)
{
	return arg;
}

/* A crew of two, with worker 1 seen running a task. */
static void two_workers(void)
{
	atomic_store(&fail_line, 0);
	ck_assert_int_eq(weft_set_workers(2), 0);
	ck_assert_int_eq(weft_worker(), 0);
	ck_assert_ptr_eq(run_on(1, nothing, U2P(7)), U2P(7));
}

/* ---- arguments ---------------------------------------------------------- */

START_TEST(set_workers_arguments)
{
	weft_attr a;
	int local = -1;

	ck_assert_int_eq(weft_worker(), 0);
	errno = 0;
	ck_assert_int_eq(weft_set_workers(257), -1);
	ck_assert_int_eq(errno, EINVAL);
	setenv("WEFT_WORKERS", "two", 1);
	errno = 0;
	ck_assert_int_eq(weft_set_workers(0), -1);
	ck_assert_int_eq(errno, EINVAL);
	setenv("WEFT_WORKERS", "2", 1);
	ck_assert_int_eq(weft_set_workers(0), 0);
	unsetenv("WEFT_WORKERS");
	ck_assert_int_eq(weft_set_workers(2), 0);       /* the same: fine */
	errno = 0;
	ck_assert_int_eq(weft_set_workers(3), -1);      /* no growing */
	ck_assert_int_eq(errno, EBUSY);
	errno = 0;
	ck_assert_int_eq(weft_set_workers(1), -1);      /* nor shrinking */
	ck_assert_int_eq(errno, EBUSY);
	ck_assert_int_eq(weft_worker(), 0);

	ck_assert_int_eq(weft_attr_init(&a), 0);
	ck_assert_int_eq(weft_attr_getlocal(&a, &local), 0);
	ck_assert_int_eq(local, 0);
	ck_assert_int_eq(weft_attr_setlocal(&a, 1), 0);
	ck_assert_int_eq(weft_attr_getlocal(&a, &local), 0);
	ck_assert_int_eq(local, 1);
	errno = 0;
	ck_assert_int_eq(weft_attr_setlocal(&a, 2), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(weft_attr_setlocal(NULL, 1), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(weft_attr_getlocal(&a, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

static void *report_worker(void *arg)
{
	*(int *)arg = weft_worker();
	return NULL;
}

static void *thread_without_crew(void *arg)
{
	int w = -1;
	weft_task *t;

	/* A thread of its own: a runtime alone, worker 0, one worker. */
	*(int *)arg = weft_worker();
	ck_assert_int_eq(weft_set_workers(1), 0);
	t = weft_spawn(report_worker, &w);
	if (!t || weft_join(t, NULL) != 0 || w != 0)
		*(int *)arg = -2;
	return NULL;
}

START_TEST(one_worker_changes_nothing)
{
	pthread_t th;
	int got = -1;

	/* Without a crew (each test is a fresh process in fork mode). */
	if (check_forks())
		ck_assert_int_eq(weft_set_workers(1), 0);
	ck_assert_int_eq(weft_worker(), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, thread_without_crew, &got),
	    0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(got, 0);
}
END_TEST

/* ---- tasks on both workers ---------------------------------------------- */

struct both {
	atomic_int seen[2];
	atomic_int started;
	int64_t deadline;
};

static void *wait_for_both(void *arg)
{
	struct both *b = arg;
	int w = weft_worker();

	WCHECK(w == 0 || w == 1);
	atomic_fetch_add(&b->seen[w & 1], 1);
	atomic_fetch_add(&b->started, 1);
	/* Busy until the other worker runs one too: only a steal can. */
	WCHECK(spin_until(&b->seen[!(w & 1)], b->deadline));
	return NULL;
}

START_TEST(tasks_run_on_both_workers)
{
	struct both b;
	weft_task *t[16];
	int i;

	two_workers();
	memset(&b, 0, sizeof(b));
	b.deadline = weft_now() + GUARD_NS;
	for (i = 0; i < 16; i++)
		ck_assert_ptr_nonnull(t[i] = weft_spawn(wait_for_both, &b));
	for (i = 0; i < 16; i++)
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
	assert_no_task_failure();
	ck_assert_int_gt(atomic_load(&b.seen[0]), 0);
	ck_assert_int_gt(atomic_load(&b.seen[1]), 0);
	ck_assert_int_eq(atomic_load(&b.started), 16);
}
END_TEST

/* ---- a started task never changes thread --------------------------------- */

#define STAY_TASKS 2000

struct stay {
	atomic_int moved;
	atomic_int done;
	atomic_int on[2];
};

static int same_place(pid_t t0, int w0, int *errno0)
{
	return tid() == t0 && weft_worker() == w0 && &errno == errno0;
}

static void *stay_put(void *arg)
{
	struct stay *s = arg;
	pid_t t0 = tid();
	int w0 = weft_worker(), *e0 = &errno, sv[2], i;
	char c = 'x';

	atomic_fetch_add(&s->on[w0 & 1], 1);
	for (i = 0; i < 3; i++) {
		WCHECK(weft_yield() == 0);
		if (!same_place(t0, w0, e0))
			atomic_fetch_add(&s->moved, 1);
	}
	WCHECK(weft_sleep_ns((int64_t)(i + 1) * 100000) == 0);
	if (!same_place(t0, w0, e0))
		atomic_fetch_add(&s->moved, 1);
	/* I/O that parks: the reader waits until the writer task, which
	 * may start on the other worker, has written. */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
		WCHECK(weft_write(sv[0], &c, 1) == 1);
		WCHECK(weft_read(sv[1], &c, 1) == 1);
		weft_close(sv[0]);
		weft_close(sv[1]);
	} else {
		WCHECK(errno == EMFILE);
	}
	if (!same_place(t0, w0, e0))
		atomic_fetch_add(&s->moved, 1);
	atomic_fetch_add(&s->done, 1);
	return NULL;
}

START_TEST(started_tasks_never_change_thread)
{
	static struct stay s;
	weft_task **t = calloc(STAY_TASKS, sizeof(*t));
	int i;

	two_workers();
	memset(&s, 0, sizeof(s));
	ck_assert_ptr_nonnull(t);
	for (i = 0; i < STAY_TASKS; i++)
		ck_assert_ptr_nonnull(t[i] = weft_spawn(stay_put, &s));
	for (i = 0; i < STAY_TASKS; i++)
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
	free(t);
	assert_no_task_failure();
	ck_assert_int_eq(atomic_load(&s.done), STAY_TASKS);
	ck_assert_int_eq(atomic_load(&s.moved), 0);
	ck_assert_int_eq(atomic_load(&s.on[0]) + atomic_load(&s.on[1]),
	    STAY_TASKS);
}
END_TEST

/* ---- local tasks ---------------------------------------------------------- */

struct local_run {
	pid_t tid;
	int worker;
	atomic_int wrong;
};

static void *check_local(void *arg)
{
	struct local_run *l = arg;

	if (tid() != l->tid || weft_worker() != l->worker)
		atomic_fetch_add(&l->wrong, 1);
	WCHECK(weft_yield() == 0);
	return NULL;
}

/* Spawn 200 local tasks from here and check each ran here. */
static void *spawn_locals(void *arg)
{
	struct local_run l = { .tid = tid(), .worker = weft_worker() };
	weft_task *t[200];
	weft_attr a;
	int i;

	(void)arg;
	atomic_init(&l.wrong, 0);
	WCHECK(weft_attr_init(&a) == 0 && weft_attr_setlocal(&a, 1) == 0);
	for (i = 0; i < 200; i++)
		WCHECK((t[i] = weft_spawn_attr(check_local, &l, &a)) != NULL);
	for (i = 0; i < 200; i++)
		WCHECK(t[i] && weft_join(t[i], NULL) == 0);
	return U2P(atomic_load(&l.wrong) + 1);
}

START_TEST(local_tasks_stay)
{
	two_workers();
	/* From main (worker 0) and from a task on each worker. */
	ck_assert_int_eq((int)P2U(spawn_locals(NULL)), 1);
	ck_assert_int_eq((int)P2U(run_on(0, spawn_locals, NULL)), 1);
	ck_assert_int_eq((int)P2U(run_on(1, spawn_locals, NULL)), 1);
	assert_no_task_failure();
}
END_TEST

/* ---- handles across workers --------------------------------------------- */

static void *sleep_long(void *arg)
{
	(void)arg;
	return U2P(weft_sleep(60000) == -1 ? errno : 0);
}

static void *sleep_then_answer(void *arg)
{
	(void)arg;
	weft_sleep(50);
	return U2P(42);
}

struct handles {
	weft_task *sleeper, *answer, *detached;
	pid_t tid;
};

/* On worker 1: local tasks that main, on worker 0, will act on. */
static void *make_handles(void *arg)
{
	struct handles *h = arg;
	weft_attr a;

	WCHECK(weft_attr_init(&a) == 0 && weft_attr_setlocal(&a, 1) == 0);
	h->sleeper = weft_spawn_attr(sleep_long, NULL, &a);
	h->answer = weft_spawn_attr(sleep_then_answer, NULL, &a);
	h->detached = weft_spawn_attr(sleep_then_answer, NULL, &a);
	h->tid = tid();
	return NULL;
}

START_TEST(join_cancel_detach_across_workers)
{
	struct handles h;
	void *r = NULL;

	two_workers();
	memset(&h, 0, sizeof(h));
	run_on(1, make_handles, &h);
	assert_no_task_failure();
	ck_assert_ptr_nonnull(h.sleeper);
	ck_assert_ptr_nonnull(h.answer);
	ck_assert_ptr_nonnull(h.detached);
	ck_assert_int_ne(h.tid, tid());
	/* Main is on worker 0; every one of them runs on worker 1. */
	ck_assert_int_eq(weft_detach(h.detached), 0);
	errno = 0;
	ck_assert_int_eq(weft_join(h.detached, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(weft_join(h.answer, &r), 0);
	ck_assert_ptr_eq(r, U2P(42));
	ck_assert_int_eq(weft_cancel(h.sleeper), 0);
	ck_assert_int_eq(weft_join(h.sleeper, &r), 0);
	ck_assert_ptr_eq(r, U2P(ECANCELED));
	ck_assert_int_eq(weft_run(), 0);     /* the detached one too */
}
END_TEST

/* Cancel a fresh task before it starts, wherever it will start. */
START_TEST(cancel_before_start)
{
	weft_task *t[50];
	void *r;
	int i;

	two_workers();
	for (i = 0; i < 50; i++) {
		ck_assert_ptr_nonnull(t[i] = weft_spawn(sleep_long, NULL));
		ck_assert_int_eq(weft_cancel(t[i]), 0);
	}
	for (i = 0; i < 50; i++) {
		ck_assert_int_eq(weft_join(t[i], &r), 0);
		ck_assert_ptr_eq(r, U2P(ECANCELED));
	}
}
END_TEST

/* weft_select on a task that runs on the other worker. */
static void *select_on_answer(void *arg)
{
	weft_task *t = arg;
	struct weft_select_case c = { .op = WEFT_SELECT_JOIN, .task = t };
	int k = weft_select(&c, 1, -1);

	WCHECK(k == 0);
	return c.result;
}

START_TEST(select_on_task_of_other_worker)
{
	struct handles h;
	void *r;

	two_workers();
	memset(&h, 0, sizeof(h));
	run_on(1, make_handles, &h);
	ck_assert_ptr_nonnull(h.answer);
	r = run_on(0, select_on_answer, h.answer);
	ck_assert_ptr_eq(r, U2P(42));
	ck_assert_int_eq(weft_cancel(h.sleeper), 0);
	ck_assert_int_eq(weft_join(h.sleeper, NULL), 0);
	ck_assert_int_eq(weft_detach(h.detached), 0);
	ck_assert_int_eq(weft_run(), 0);
	assert_no_task_failure();
}
END_TEST

/* ---- sync objects between workers ---------------------------------------- */

#define ROUNDS 20000

struct shared {
	weft_mutex mu;
	weft_cond cv;
	weft_sem sem;
	weft_waitgroup wg;
	weft_chan *ch;
	long counter;                 /* under mu */
	int turn;                     /* under mu: the cond ping-pong */
	atomic_int inside, most;
	atomic_int ran_on[2];
};

static void *mutex_adder(void *arg)
{
	struct shared *s = arg;
	int i;

	atomic_fetch_add(&s->ran_on[weft_worker() & 1], 1);
	for (i = 0; i < ROUNDS; i++) {
		WCHECK(weft_mutex_lock(&s->mu) == 0);
		s->counter++;
		WCHECK(weft_mutex_unlock(&s->mu) == 0);
	}
	return NULL;
}

/* Two adders, one forced onto each worker. */
static void *adder_on(void *arg)
{
	return mutex_adder(arg);
}

START_TEST(mutex_between_workers_exact)
{
	static struct shared s;
	weft_task *t[4];
	int i;

	two_workers();
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(weft_mutex_init(&s.mu), 0);
	/* One on each worker for certain, and two that land anywhere. */
	for (i = 0; i < 2; i++)
		ck_assert_ptr_nonnull(t[i] = weft_spawn(mutex_adder, &s));
	run_on(1, adder_on, &s);
	run_on(0, adder_on, &s);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
	assert_no_task_failure();
	ck_assert_int_eq(s.counter, 4L * ROUNDS);
	ck_assert_int_gt(atomic_load(&s.ran_on[1]), 0);
	ck_assert_int_eq(weft_mutex_destroy(&s.mu), 0);
}
END_TEST

/* The sender runs on worker 1, main receives on worker 0. */
static void *send_all(void *arg)
{
	struct shared *s = arg;
	int i;

	for (i = 1; i <= ROUNDS; i++)
		WCHECK(weft_chan_send(s->ch, &i) == 0);
	WCHECK(weft_chan_close(s->ch) == 0);
	return NULL;
}

static void *spawn_sender_local(void *arg)
{
	weft_attr a;

	weft_attr_init(&a);
	weft_attr_setlocal(&a, 1);
	WCHECK(weft_detach(weft_spawn_attr(send_all, arg, &a)) == 0);
	return NULL;
}

START_TEST(channel_between_workers_exact)
{
	static struct shared s;
	long sum = 0, n = 0;
	int v;

	two_workers();
	memset(&s, 0, sizeof(s));
	ck_assert_ptr_nonnull(s.ch = weft_chan_create(sizeof(int), 0));
	run_on(1, spawn_sender_local, &s);
	while (weft_chan_recv(s.ch, &v) == 0) {
		sum += v;
		n++;
	}
	ck_assert_int_eq(errno, EPIPE);
	ck_assert_int_eq(n, ROUNDS);
	ck_assert_int_eq(sum, (long)ROUNDS * (ROUNDS + 1) / 2);
	ck_assert_int_eq(weft_run(), 0);
	assert_no_task_failure();
	weft_chan_destroy(s.ch);
}
END_TEST

/* cond: two tasks, one per worker, take turns ROUNDS times each (this
 * found a lock that queued on a mutex let go of a moment before: it
 * waited for ever). */
struct pingpong {
	struct shared *s;
	int me;
};

static void *take_turns(void *arg)
{
	struct pingpong *p = arg;
	struct shared *s = p->s;
	int i;

	for (i = 0; i < ROUNDS; i++) {
		WCHECK(weft_mutex_lock(&s->mu) == 0);
		while (s->turn != p->me)
			WCHECK(weft_cond_wait(&s->cv, &s->mu) == 0);
		s->counter++;
		s->turn = !p->me;
		WCHECK(weft_cond_signal(&s->cv) == 0);
		WCHECK(weft_mutex_unlock(&s->mu) == 0);
	}
	return NULL;
}

START_TEST(cond_between_workers_exact)
{
	static struct shared s;
	struct pingpong p0 = { &s, 0 }, p1 = { &s, 1 };
	weft_attr a;
	weft_task *t;

	two_workers();
	memset(&s, 0, sizeof(s));
	weft_mutex_init(&s.mu);
	weft_cond_init(&s.cv);
	weft_attr_init(&a);
	weft_attr_setlocal(&a, 1);
	/* Side 0 on worker 0 (local to main), side 1 run on worker 1. */
	ck_assert_ptr_nonnull(t = weft_spawn_attr(take_turns, &p0, &a));
	run_on(1, take_turns, &p1);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	assert_no_task_failure();
	ck_assert_int_eq(s.counter, 2L * ROUNDS);
}
END_TEST

static void *bounded(void *arg)
{
	struct shared *s = arg;
	int now, most;

	WCHECK(weft_sem_wait(&s->sem) == 0);
	now = atomic_fetch_add(&s->inside, 1) + 1;
	most = atomic_load(&s->most);
	while (now > most && !atomic_compare_exchange_weak(&s->most, &most,
	    now))
		;
	atomic_fetch_add(&s->ran_on[weft_worker() & 1], 1);
	weft_sleep_ns(200000);
	atomic_fetch_sub(&s->inside, 1);
	WCHECK(weft_sem_post(&s->sem) == 0);
	WCHECK(weft_waitgroup_done(&s->wg) == 0);
	return NULL;
}

START_TEST(sem_and_waitgroup_between_workers)
{
	static struct shared s;
	int i;

	two_workers();
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(weft_sem_init(&s.sem, 3), 0);
	ck_assert_int_eq(weft_waitgroup_init(&s.wg), 0);
	ck_assert_int_eq(weft_waitgroup_add(&s.wg, 300), 0);
	for (i = 0; i < 300; i++)
		ck_assert_int_eq(weft_detach(weft_spawn(bounded, &s)), 0);
	ck_assert_int_eq(weft_waitgroup_wait(&s.wg), 0);
	assert_no_task_failure();
	ck_assert_int_le(atomic_load(&s.most), 3);
	ck_assert_int_ge(atomic_load(&s.most), 1);
	ck_assert_int_eq(atomic_load(&s.ran_on[0]) +
	    atomic_load(&s.ran_on[1]), 300);
	ck_assert_int_eq(weft_run(), 0);
}
END_TEST

/* select between two channels, both fed from worker 1. */
struct two_chans {
	weft_chan *a, *b;
};

static void *feed_both(void *arg)
{
	struct two_chans *c = arg;
	int i;

	for (i = 0; i < 1000; i++)
		WCHECK(weft_chan_send(i % 2 ? c->b : c->a, &i) == 0);
	weft_chan_close(c->a);
	weft_chan_close(c->b);
	return NULL;
}

static void *spawn_feeder_local(void *arg)
{
	weft_attr a;

	weft_attr_init(&a);
	weft_attr_setlocal(&a, 1);
	WCHECK(weft_detach(weft_spawn_attr(feed_both, arg, &a)) == 0);
	return NULL;
}

START_TEST(select_between_workers_exact)
{
	struct two_chans c, made;
	struct weft_select_case cs[2];
	int va, vb, got[2] = { 0, 0 }, open = 2, k;

	two_workers();
	ck_assert_ptr_nonnull(c.a = weft_chan_create(sizeof(int), 0));
	ck_assert_ptr_nonnull(c.b = weft_chan_create(sizeof(int), 4));
	made = c;
	run_on(1, spawn_feeder_local, &made);
	while (open) {
		memset(cs, 0, sizeof(cs));
		cs[0].op = WEFT_SELECT_RECV;
		cs[0].chan = c.a;
		cs[0].elem = &va;
		cs[1].op = WEFT_SELECT_RECV;
		cs[1].chan = c.b;
		cs[1].elem = &vb;
		k = weft_select(cs, 2, 30000);
		ck_assert_int_ge(k, 0);
		if (cs[k].err == EPIPE) {
			open--;
			/* A closed channel stays ready: drop it. */
			if (k == 0)
				c.a = NULL;
			else
				c.b = NULL;
			if (open == 1) {
				int v;
				weft_chan *left = c.a ? c.a : c.b;

				while (weft_chan_recv(left, &v) == 0)
					got[v % 2]++;
				open = 0;
			}
			continue;
		}
		ck_assert_int_eq((k == 0 ? va : vb) % 2, k);
		got[k]++;
	}
	ck_assert_int_eq(got[0], 500);
	ck_assert_int_eq(got[1], 500);
	ck_assert_int_eq(weft_run(), 0);
	assert_no_task_failure();
	weft_chan_destroy(made.a);
	weft_chan_destroy(made.b);
}
END_TEST

/* ---- an echo server ------------------------------------------------------ */

#define CLIENTS 40

struct echo {
	int lfd;
	uint16_t port;
	atomic_int on[2];
	atomic_int served;
	int64_t deadline;
};

static void *handle(void *arg)
{
	struct echo *e = ((void **)arg)[0];
	int fd = (int)(intptr_t)((void **)arg)[1];
	char buf[64];
	ssize_t n;

	free(arg);
	atomic_fetch_add(&e->on[weft_worker() & 1], 1);
	/* Hold the connection (parked, not spinning) until handlers run on
	 * both workers, so the other worker must have taken some. */
	while ((!atomic_load(&e->on[0]) || !atomic_load(&e->on[1])) &&
	    weft_now() < e->deadline)
		weft_sleep(1);
	while ((n = weft_read(fd, buf, sizeof(buf))) > 0)
		WCHECK(weft_write(fd, buf, (size_t)n) == n);
	weft_close(fd);
	atomic_fetch_add(&e->served, 1);
	return NULL;
}

static void *acceptor(void *arg)
{
	struct echo *e = arg;
	int i, fd;

	for (i = 0; i < CLIENTS; i++) {
		void **a = malloc(2 * sizeof(void *));

		fd = weft_accept(e->lfd, NULL, NULL);
		WCHECK(fd >= 0 && a);
		if (fd < 0 || !a)
			break;
		a[0] = e;
		a[1] = (void *)(intptr_t)fd;
		WCHECK(weft_detach(weft_spawn(handle, a)) == 0);
	}
	weft_close(e->lfd);
	return NULL;
}

/* One thread plays every client, so that 40 client threads do not take
 * the cores from the workers: connect all, then write to each, then
 * read each answer back; 0 or which step failed. */
static void *clients(void *arg)
{
	struct echo *e = arg;
	struct sockaddr_in sa = loopback_addr(e->port);
	int fd[CLIENTS], i, bad = 0;
	char out[32], in[32];
	ssize_t n, got;

	for (i = 0; i < CLIENTS; i++) {
		fd[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fd[i] < 0 || connect(fd[i], (struct sockaddr *)&sa,
		    sizeof(sa)) != 0)
			return U2P(1);
	}
	for (i = 0; i < CLIENTS; i++) {
		memset(out, 0, sizeof(out));
		snprintf(out, sizeof(out), "hello %d", i);
		if (write(fd[i], out, sizeof(out)) != (ssize_t)sizeof(out))
			return U2P(2);
	}
	for (i = 0; i < CLIENTS; i++) {
		memset(out, 0, sizeof(out));
		snprintf(out, sizeof(out), "hello %d", i);
		for (got = 0; got < (ssize_t)sizeof(in); got += n)
			if ((n = read(fd[i], in + got,
			    sizeof(in) - (size_t)got)) <= 0)
				break;
		bad += got != (ssize_t)sizeof(in) || memcmp(in, out, sizeof(in));
		close(fd[i]);
	}
	return U2P(bad ? 3 : 0);
}

START_TEST(echo_handlers_on_both_workers)
{
	static struct echo e;
	pthread_t th;
	void *r;

	two_workers();
	memset(&e, 0, sizeof(e));
	e.deadline = weft_now() + GUARD_NS / 3;
	ck_assert_int_ge(e.lfd = loopback_socket(CLIENTS, &e.port), 0);
	ck_assert_int_eq(weft_detach(weft_spawn(acceptor, &e)), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, clients, &e), 0);
	ck_assert_int_eq(weft_run(), 0);
	ck_assert_int_eq(pthread_join(th, &r), 0);
	assert_no_task_failure();
	ck_assert_ptr_null(r);
	ck_assert_int_eq(atomic_load(&e.served), CLIENTS);
	ck_assert_int_gt(atomic_load(&e.on[0]), 0);
	ck_assert_int_gt(atomic_load(&e.on[1]), 0);
}
END_TEST

/* ---- weft_run and idleness ---------------------------------------------- */

static void *nap_and_count(void *arg)
{
	weft_sleep(100);
	atomic_fetch_add((atomic_int *)arg, 1);
	return NULL;
}

static void *spawn_detached_nappers(void *arg)
{
	weft_attr a;
	int i;

	weft_attr_init(&a);
	weft_attr_setlocal(&a, 1);
	weft_attr_setdetached(&a, 1);
	for (i = 0; i < 20; i++)
		WCHECK(weft_spawn_attr(nap_and_count, arg, &a) != NULL);
	return NULL;
}

START_TEST(run_waits_for_every_worker)
{
	static atomic_int count;
	int i;

	two_workers();
	atomic_store(&count, 0);
	/* 20 detached on worker 1 for certain, 20 more anywhere. */
	run_on(1, spawn_detached_nappers, &count);
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(weft_detach(weft_spawn(nap_and_count,
		    &count)), 0);
	ck_assert_int_eq(weft_run(), 0);
	ck_assert_int_eq(atomic_load(&count), 40);
	assert_no_task_failure();
}
END_TEST

static int64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
	    1000000000 + ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) *
	    1000;
}

static void *nap_long(void *arg)
{
	(void)arg;
	weft_sleep(600);
	return NULL;
}

START_TEST(idle_crew_uses_no_cpu)
{
	weft_task *t[8];
	int64_t cpu0, wall0, cpu, wall;
	int i;

	two_workers();
	/* Let the workers settle, then every task sleeps on a timer. */
	weft_sleep(20);
	cpu0 = cpu_ns();
	wall0 = weft_now();
	for (i = 0; i < 8; i++)
		ck_assert_ptr_nonnull(t[i] = weft_spawn(nap_long, NULL));
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
	cpu = cpu_ns() - cpu0;
	wall = weft_now() - wall0;
	ck_assert_int_ge(wall, 600 * MS_NS);
	/* Spinning workers would burn about 2 × 600 ms here. */
	ck_assert_msg(cpu < 120 * MS_NS * slow_factor(),
	    "%lld ms of CPU in %lld ms asleep", (long long)(cpu / MS_NS),
	    (long long)(wall / MS_NS));
}
END_TEST

/* A group made on worker 1 works there: its members stay with it. */
static void *member(void *arg)
{
	(void)arg;
	weft_sleep(5);
	return U2P(weft_worker() + 10);
}

static void *group_on_worker(void *arg)
{
	weft_group *g = weft_group_create(0);
	void *r;
	int i, n = 0;

	(void)arg;
	WCHECK(g != NULL);
	if (!g)
		return NULL;
	for (i = 0; i < 10; i++)
		WCHECK(weft_group_spawn(g, member, NULL) != NULL);
	while (weft_group_next(g, NULL, &r) == 0) {
		WCHECK(r == U2P(weft_worker() + 10));
		n++;
	}
	WCHECK(errno == ECHILD);
	WCHECK(weft_group_destroy(g) == 0);
	return U2P(n);
}

START_TEST(group_on_a_worker)
{
	two_workers();
	ck_assert_int_eq((int)P2U(run_on(1, group_on_worker, NULL)), 10);
	ck_assert_int_eq((int)P2U(run_on(0, group_on_worker, NULL)), 10);
	assert_no_task_failure();
}
END_TEST

/* ---- the rest of weft on a worker ------------------------------------------ */

/* A one-shot HTTP server task: answers one request with "ok". */
static void *http_once(void *arg)
{
	int lfd = (int)(intptr_t)arg, fd;
	char req[2048];
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
	    "Connection: close\r\n\r\nok";

	fd = weft_accept(lfd, NULL, NULL);
	WCHECK(fd >= 0);
	if (fd < 0)
		return NULL;
	/* The request is small: one read holds its head. */
	WCHECK(weft_read(fd, req, sizeof(req)) > 0);
	WCHECK(weft_write(fd, answer, sizeof(answer) - 1) ==
	    (ssize_t)sizeof(answer) - 1);
	weft_close(fd);
	return NULL;
}

static void *thread_id(void *arg)
{
	(void)arg;
	return U2P(tid());
}

struct rest {
	char url_ok[64], url_refused[64];
};

/* On worker 1: offload, a deadline, a refused fetch and a real one. */
static void *rest_of_weft(void *arg)
{
	struct rest *r = arg;
	weft_response *res;
	const void *body;
	void *result = NULL;
	size_t len = 0;
	int64_t t0, saved;
	int ok = 1;

	ok &= weft_worker() == 1;
	ok &= weft_blocking(thread_id, NULL, &result) == 0 &&
	    (pid_t)P2U(result) != tid();
	t0 = weft_now();
	saved = weft_deadline_push(t0 + 50 * MS_NS);
	ok &= weft_sleep(5000) == -1 && errno == ETIMEDOUT;
	weft_deadline_pop(saved);
	ok &= weft_now() - t0 < 3000 * MS_NS;
	errno = 0;
	ok &= weft_fetch(r->url_refused, NULL) == NULL && errno == ECONNREFUSED;
	res = weft_fetch(r->url_ok, NULL);
	ok &= res != NULL && weft_response_status(res) == 200;
	body = res ? weft_response_body(res, &len) : NULL;
	ok &= body != NULL && len == 2 && memcmp(body, "ok", 2) == 0;
	weft_response_free(res);
	return U2P(ok);
}

START_TEST(offload_deadline_fetch_on_a_worker)
{
	struct rest r;
	uint16_t port_ok, port_refused;
	int lfd, rfd;
	weft_attr a;

	two_workers();
	ck_assert_int_ge(lfd = loopback_socket(4, &port_ok), 0);
	ck_assert_int_ge(rfd = loopback_socket(-1, &port_refused), 0);
	snprintf(r.url_ok, sizeof(r.url_ok), "http://127.0.0.1:%u/",
	    (unsigned)port_ok);
	snprintf(r.url_refused, sizeof(r.url_refused), "http://127.0.0.1:%u/",
	    (unsigned)port_refused);
	weft_attr_init(&a);
	weft_attr_setlocal(&a, 1);
	weft_attr_setdetached(&a, 1);
	ck_assert_ptr_nonnull(weft_spawn_attr(http_once,
	    (void *)(intptr_t)lfd, &a));
	ck_assert_int_eq((int)P2U(run_on(1, rest_of_weft, &r)), 1);
	ck_assert_int_eq(weft_run(), 0);
	assert_no_task_failure();
	weft_close(lfd);
	close(rfd);
}
END_TEST

/* ---- the end of a crew ---------------------------------------------------- */

static void *spin_forever(void *arg)
{
	(void)arg;
	for (;;)
		weft_yield();
	return NULL;
}

/* In a child: a crew whose tasks never end, on both workers, when the
 * program returns from main.  The exit must be clean and prompt. */
START_TEST(exit_while_workers_run)
{
	int64_t t0 = weft_now();
	int status = -1;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int i;

		if (weft_set_workers(2) != 0)
			_exit(2);
		for (i = 0; i < 8; i++)
			if (weft_detach(weft_spawn(spin_forever, NULL)) != 0)
				_exit(3);
		for (i = 0; i < 8; i++)
			if (weft_detach(weft_spawn(sleep_long, NULL)) != 0)
				_exit(4);
		weft_sleep(50);
		exit(0);        /* atexit handlers run while workers run */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child status %#x", status);
	ck_assert_int_lt(weft_now() - t0, 10000 * MS_NS);
}
END_TEST

/* The thread that made the crew (worker 0) returns; the crew lives on:
 * its runtime is kept, and the other worker still serves a channel. */
struct founder {
	weft_chan *ch;
	int rc;
};

static void *echo_forever(void *arg)
{
	weft_chan *ch = arg;
	int v;

	while (weft_chan_recv(ch, &v) == 0)
		if (weft_chan_send(ch, &v) != 0)
			break;
	return NULL;
}

/* A task of worker 1 that spawns and joins 8 tasks at each request. */
static void *spawn_many_and_join(void *arg)
{
	weft_task *t[8];
	int i, ok = 1;

	(void)arg;
	for (i = 0; i < 8; i++)
		ok &= (t[i] = weft_spawn(nothing, U2P(i + 1))) != NULL;
	for (i = 0; i < 8; i++) {
		void *r = NULL;

		ok &= t[i] && weft_join(t[i], &r) == 0 && r == U2P(i + 1);
	}
	return U2P(ok);
}

static weft_chan *spawner_req;

static void *spawner_task(void *arg)
{
	int v;

	(void)arg;
	while (weft_chan_recv(spawner_req, &v) == 0) {
		v = (int)P2U(spawn_many_and_join(NULL));
		if (weft_chan_send(spawner_req, &v) != 0)
			break;
	}
	return NULL;
}

/* A detached task kept on the calling worker. */
static void detach_local(void *(*fn)(void *), void *arg)
{
	weft_attr a;

	weft_attr_init(&a);
	weft_attr_setlocal(&a, 1);
	WCHECK(weft_detach(weft_spawn_attr(fn, arg, &a)) == 0);
}

static void *spawn_spawner_local(void *arg)
{
	detach_local(spawner_task, arg);
	return NULL;
}

/* From a plain thread: ask worker 1's spawner task to spawn and join. */
static void *spawn_from_worker1(void *arg)
{
	struct founder *f = arg;
	int v = 0;
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS / 3);

	if (weft_chan_send(spawner_req, &v) == 0 &&
	    weft_chan_recv(spawner_req, &v) == 0)
		f->rc = v == 1 ? 0 : 6;
	weft_deadline_pop(saved);
	return NULL;
}

static void *spawn_echo_local(void *arg)
{
	detach_local(echo_forever, arg);
	return NULL;
}

static void *found_and_leave(void *arg)
{
	struct founder *f = arg;

	f->rc = weft_set_workers(2);
	/* Local tasks on worker 1, kept after we are gone. */
	if (f->rc == 0)
		f->rc = run_on(1, spawn_echo_local, f->ch) == NULL ? 0 : 5;
	if (f->rc == 0)
		f->rc = run_on(1, spawn_spawner_local, NULL) == NULL ? 0 : 7;
	return NULL;
}

START_TEST(crew_outlives_its_founding_thread)
{
	struct founder f = { 0 };
	pthread_t th;
	int v = 41;

	if (!check_forks())
		return;         /* one crew per process: this needs its own */
	ck_assert_ptr_nonnull(f.ch = weft_chan_create(sizeof(int), 0));
	ck_assert_ptr_nonnull(spawner_req = weft_chan_create(sizeof(int), 0));
	ck_assert_int_eq(pthread_create(&th, NULL, found_and_leave, &f), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(f.rc, 0);
	/* Main is no worker; the echo task on worker 1 still answers. */
	ck_assert_int_eq(weft_worker(), 0);
	ck_assert_int_eq(weft_chan_send(f.ch, &v), 0);
	ck_assert_int_eq(weft_chan_recv(f.ch, &v), 0);
	ck_assert_int_eq(v, 41);
	ck_assert_int_eq(weft_chan_close(f.ch), 0);
	/* A task spawned on worker 1 now is never placed on the runtime
	 * whose thread is gone: it runs. */
	f.rc = -1;
	ck_assert_int_eq(pthread_create(&th, NULL, spawn_from_worker1, &f), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(f.rc, 0);
}
END_TEST

static Suite *workers_suite(void)
{
	Suite *s = suite_create("workers");
	TCase *tc = tcase_create("workers");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, set_workers_arguments);
	tcase_add_test(tc, one_worker_changes_nothing);
	tcase_add_test(tc, tasks_run_on_both_workers);
	tcase_add_test(tc, started_tasks_never_change_thread);
	tcase_add_test(tc, local_tasks_stay);
	tcase_add_test(tc, join_cancel_detach_across_workers);
	tcase_add_test(tc, cancel_before_start);
	tcase_add_test(tc, select_on_task_of_other_worker);
	tcase_add_test(tc, mutex_between_workers_exact);
	tcase_add_test(tc, channel_between_workers_exact);
	tcase_add_test(tc, cond_between_workers_exact);
	tcase_add_test(tc, sem_and_waitgroup_between_workers);
	tcase_add_test(tc, select_between_workers_exact);
	tcase_add_test(tc, echo_handlers_on_both_workers);
	tcase_add_test(tc, run_waits_for_every_worker);
	tcase_add_test(tc, idle_crew_uses_no_cpu);
	tcase_add_test(tc, group_on_a_worker);
	/* Before the fetch: with CK_FORK=no its child would exit with
	 * libcurl's TLS library loaded, whose exit Valgrind reports. */
	tcase_add_test(tc, exit_while_workers_run);
	tcase_add_test(tc, offload_deadline_fetch_on_a_worker);
	tcase_add_test(tc, crew_outlives_its_founding_thread);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(workers_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * Threads: every OS thread has its own runtime.  Two threads run their own
 * tasks side by side; a handle from one thread is refused by the other.
 * A runtime is made in stages: a thread that only shares objects, or only
 * sleeps, opens no descriptor, and one that cannot open any still locks,
 * posts and sends; its first wait for another thread fails cleanly.
 *
 * Results are gathered in per-thread structures and asserted on the test's
 * own thread after pthread_join.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"
#include "test_util.h"

enum { PER_THREAD = 1000, NTHREADS = 2 };

static uintptr_t value_for(int thread, int i)
{
	return (uintptr_t)thread * 1000003u + (uintptr_t)i;
}

/* Yields, sleeps 0-6 ms, yields again. */
static void *work_fn(void *arg)
{
	uintptr_t v = P2U(arg);

	if (weft_yield() != 0 || weft_sleep((int64_t)(v % 7)) != 0 ||
	    weft_yield() != 0)
		return U2P(0);
	return U2P(v * 3 + 1);
}

struct worker {
	int no;
	int self_null_outside;
	int spawn_failures, join_failures, wrong_results;
	int run_rc;
	uint64_t spawned_before;    /* tasks_spawned when the thread began */
	uint64_t spawned, live_after;
	uint64_t ids[PER_THREAD];
	weft_task *t[PER_THREAD];
};

static void *worker_thread(void *arg)
{
	struct worker *w = arg;
	weft_task **t = w->t;
	struct weft_stats st;
	int i;

	w->self_null_outside = weft_self() == NULL;
	if (weft_stats(&st) != 0)
		return NULL;
	w->spawned_before = st.tasks_spawned;
	for (i = 0; i < PER_THREAD; i++) {
		t[i] = weft_spawn(work_fn, U2P(value_for(w->no, i)));
		if (t[i] == NULL) {
			w->spawn_failures++;
			continue;
		}
		w->ids[i] = weft_task_id(t[i]);
	}
	for (i = 0; i < PER_THREAD; i++) {
		void *r = NULL;

		if (t[i] == NULL)
			continue;
		if (weft_join(t[i], &r) != 0)
			w->join_failures++;
		else if (P2U(r) != value_for(w->no, i) * 3 + 1)
			w->wrong_results++;
	}
	w->run_rc = weft_run();
	if (weft_stats(&st) == 0) {
		w->spawned = st.tasks_spawned - w->spawned_before;
		w->live_after = st.tasks_live;
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

START_TEST(two_threads_own_tasks)
{
	static struct worker w[NTHREADS];
	static uint64_t all[NTHREADS * PER_THREAD];
	pthread_t th[NTHREADS];
	weft_task *mine;
	void *r = NULL;
	int i, k;

	/* This thread's runtime exists and has spawned a task before the
	 * workers start: theirs must still begin empty. */
	mine = weft_spawn(work_fn, U2P(5));
	ck_assert_ptr_nonnull(mine);

	memset(w, 0, sizeof(w));
	for (k = 0; k < NTHREADS; k++) {
		w[k].no = k + 1;
		ck_assert_int_eq(pthread_create(&th[k], NULL, worker_thread, &w[k]), 0);
	}
	for (k = 0; k < NTHREADS; k++)
		ck_assert_int_eq(pthread_join(th[k], NULL), 0);

	for (k = 0; k < NTHREADS; k++) {
		ck_assert_int_eq(w[k].self_null_outside, 1);
		ck_assert_int_eq(w[k].spawn_failures, 0);
		ck_assert_int_eq(w[k].join_failures, 0);
		ck_assert_int_eq(w[k].wrong_results, 0);
		ck_assert_int_eq(w[k].run_rc, 0);
		ck_assert_uint_eq(w[k].spawned_before, 0);
		ck_assert_uint_eq(w[k].spawned, PER_THREAD);
		ck_assert_uint_eq(w[k].live_after, 0);
		for (i = 0; i < PER_THREAD; i++) {
			ck_assert_uint_ne(w[k].ids[i], 0);
			if (i > 0)
				ck_assert_uint_gt(w[k].ids[i], w[k].ids[i - 1]);
			all[k * PER_THREAD + i] = w[k].ids[i];
		}
	}
	/* Ids are unique in the whole process. */
	qsort(all, NTHREADS * PER_THREAD, sizeof(all[0]), cmp_u64);
	for (i = 1; i < NTHREADS * PER_THREAD; i++)
		ck_assert_uint_ne(all[i], all[i - 1]);

	/* This thread's task was untouched by the others. */
	ck_assert_int_eq(weft_join(mine, &r), 0);
	ck_assert_uint_eq(P2U(r), 5 * 3 + 1);
}
END_TEST

/* ---- a handle used on the wrong thread ------------------------------------ */

struct handoff {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stage;                 /* 1: task published, 2: others are done */
	weft_task *task;
	int own_join_rc;
	void *own_result;
};

static void set_stage(struct handoff *h, int stage)
{
	pthread_mutex_lock(&h->mu);
	h->stage = stage;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

static void wait_stage(struct handoff *h, int stage)
{
	pthread_mutex_lock(&h->mu);
	while (h->stage < stage)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
}

static void *ret_fn(void *arg)
{
	return arg;
}

/* Spawns a task, lets the other thread try it, then joins it itself. */
static void *owner_thread(void *arg)
{
	struct handoff *h = arg;

	h->task = weft_spawn(ret_fn, U2P(55));
	set_stage(h, 1);
	wait_stage(h, 2);
	h->own_join_rc = h->task ? weft_join(h->task, &h->own_result) : -2;
	return NULL;
}

START_TEST(foreign_handle_refused)
{
	struct handoff h;
	pthread_t th;
	weft_task *t;

	memset(&h, 0, sizeof(h));
	pthread_mutex_init(&h.mu, NULL);
	pthread_cond_init(&h.cv, NULL);
	h.own_join_rc = -3;
	ck_assert_int_eq(pthread_create(&th, NULL, owner_thread, &h), 0);
	wait_stage(&h, 1);
	ck_assert_ptr_nonnull(h.task);

	/* Whether or not this thread has a runtime yet. */
	assert_fails(weft_join(h.task, NULL), EINVAL);
	t = weft_spawn(ret_fn, U2P(1));
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	assert_fails(weft_join(h.task, NULL), EINVAL);
	/* This thread's weft_run does not run the other thread's task. */
	ck_assert_int_eq(weft_run(), 0);

	set_stage(&h, 2);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(h.own_join_rc, 0);
	ck_assert_uint_eq(P2U(h.own_result), 55);
	pthread_cond_destroy(&h.cv);
	pthread_mutex_destroy(&h.mu);
}
END_TEST

/* A thread that exits with finished and unjoined tasks leaves others alone. */
static void *abandon_thread(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 50; i++)
		if (weft_spawn(ret_fn, U2P(i)) == NULL)
			return U2P(1);
	return U2P(weft_run() != 0);
}

START_TEST(thread_exit_with_unjoined_tasks)
{
	pthread_t th;
	void *r = U2P(7);
	weft_task *t;
	int round;

	for (round = 0; round < 3; round++) {
		ck_assert_int_eq(pthread_create(&th, NULL, abandon_thread, NULL), 0);
		ck_assert_int_eq(pthread_join(th, &r), 0);
		ck_assert_ptr_null(r);
	}
	t = weft_spawn(ret_fn, U2P(3));
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), 3);
}
END_TEST

/* ---- the runtime is made in stages ------------------------------------- */

struct stage_probe {
	int before, after;
	int rc[6];
	weft_mutex mu;
	weft_sem sem;
	weft_chan *ch;
};

/* A plain thread (no runtime yet) that only uses shared objects. */
static void *sharing_thread(void *arg)
{
	struct stage_probe *p = arg;
	int v = 7;

	p->before = open_fds();
	p->rc[0] = weft_mutex_lock(&p->mu);
	p->rc[1] = weft_mutex_unlock(&p->mu);
	p->rc[2] = weft_chan_send(p->ch, &v);       /* buffered: no wait */
	p->rc[3] = weft_sem_post(&p->sem);
	p->rc[4] = weft_sem_wait(&p->sem);          /* a unit is there */
	p->rc[5] = weft_self() == NULL ? 0 : -1;
	p->after = open_fds();
	return NULL;
}

START_TEST(sharing_thread_opens_no_descriptor)
{
	struct stage_probe p;
	pthread_t th;
	int i, v = 0;

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(weft_mutex_init(&p.mu), 0);
	ck_assert_int_eq(weft_sem_init(&p.sem, 0), 0);
	ck_assert_ptr_nonnull(p.ch = weft_chan_create(sizeof(int), 4));
	ck_assert_int_eq(pthread_create(&th, NULL, sharing_thread, &p), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(p.rc[i], 0);
	ck_assert_int_ge(p.before, 3);
	ck_assert_int_eq(p.after, p.before);
	ck_assert_int_eq(weft_chan_tryrecv(p.ch, &v), 0);
	ck_assert_int_eq(v, 7);
	weft_chan_destroy(p.ch);
}
END_TEST

static void *nap_fn(void *arg)
{
	(void)arg;
	return U2P(weft_sleep(2) == 0 && weft_yield() == 0);
}

/* A thread whose tasks only sleep and yield, then count descriptors
 * before the thread (and its runtime) goes away. */
static void *sleeping_thread(void *arg)
{
	struct stage_probe *p = arg;
	weft_task *t[4];
	void *r;
	int i;

	p->before = open_fds();
	for (i = 0; i < 4; i++)
		t[i] = weft_spawn(nap_fn, NULL);
	for (i = 0; i < 4; i++) {
		r = NULL;
		p->rc[i] = t[i] && weft_join(t[i], &r) == 0 && P2U(r) == 1 ?
		    0 : -1;
	}
	p->rc[4] = weft_sleep(1);                  /* the thread's own sleep */
	p->after = open_fds();
	return NULL;
}

START_TEST(sleeping_tasks_open_no_descriptor)
{
	struct stage_probe p;
	pthread_t th;
	int i;

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(pthread_create(&th, NULL, sleeping_thread, &p), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(p.rc[i], 0);
	ck_assert_int_eq(p.after, p.before);
}
END_TEST

struct starved {
	weft_mutex mu;
	weft_chan *buffered, *unbuffered;
	int lock_rc, unlock_rc, send_rc, recv_rc, recv_errno;
};

/* Everything that needs no wait works without a descriptor; the first
 * wait for another thread fails with EMFILE and leaves nothing queued. */
static void *starved_thread(void *arg)
{
	struct starved *s = arg;
	int v = 5;

	s->lock_rc = weft_mutex_lock(&s->mu);
	s->unlock_rc = weft_mutex_unlock(&s->mu);
	s->send_rc = weft_chan_send(s->buffered, &v);
	errno = 0;
	s->recv_rc = weft_chan_recv(s->unbuffered, &v);
	s->recv_errno = errno;
	return NULL;
}

static void starved_thread_run(void *arg)
{
	pthread_t th;

	ck_assert_int_eq(pthread_create(&th, NULL, starved_thread, arg), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
}

START_TEST(no_descriptor_left_first_wait_fails)
{
	struct starved s;
	int v = 9;

	if (under_valgrind())
		return;     /* valgrind keeps descriptors of its own */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(weft_mutex_init(&s.mu), 0);
	ck_assert_ptr_nonnull(s.buffered = weft_chan_create(sizeof(int), 1));
	ck_assert_ptr_nonnull(s.unbuffered = weft_chan_create(sizeof(int), 0));
	run_without_fds(starved_thread_run, &s);

	ck_assert_int_eq(s.lock_rc, 0);
	ck_assert_int_eq(s.unlock_rc, 0);
	ck_assert_int_eq(s.send_rc, 0);
	ck_assert_int_eq(s.recv_rc, -1);
	ck_assert_int_eq(s.recv_errno, EMFILE);
	/* The failed receiver is not left queued: nobody takes a value. */
	assert_fails(weft_chan_trysend(s.unbuffered, &v), EAGAIN);
	ck_assert_int_eq(weft_chan_tryrecv(s.buffered, &v), 0);
	ck_assert_int_eq(v, 5);
	ck_assert_int_eq(weft_mutex_trylock(&s.mu), 0);
	ck_assert_int_eq(weft_mutex_unlock(&s.mu), 0);
	weft_chan_destroy(s.buffered);
	weft_chan_destroy(s.unbuffered);
}
END_TEST

static void *identity_fn(void *arg)
{
	return arg;
}

struct starved_tasks {
	int sleep_rc, blocking_rc, blocking_errno, read_rc, read_errno;
	int pipefd[2];
};

static void *starved_task(void *arg)
{
	struct starved_tasks *s = arg;
	void *r = NULL;
	char c;

	s->sleep_rc = weft_sleep(1);
	errno = 0;
	s->blocking_rc = weft_blocking(identity_fn, s, &r);
	s->blocking_errno = errno;
	errno = 0;
	s->read_rc = (int)weft_read(s->pipefd[0], &c, 1);
	s->read_errno = errno;
	return NULL;
}

/* A fresh thread, no descriptor left: its task sleeps, and its first
 * waits for the pool and for a pipe fail at once with EMFILE. */
static void *starved_spawner(void *arg)
{
	weft_task *t = weft_spawn(starved_task, arg);

	return U2P(t != NULL && weft_join(t, NULL) == 0);
}

struct spawner_run {
	struct starved_tasks *s;
	void *ok;
};

static void starved_spawner_run(void *arg)
{
	struct spawner_run *r = arg;
	pthread_t th;

	ck_assert_int_eq(pthread_create(&th, NULL, starved_spawner, r->s), 0);
	ck_assert_int_eq(pthread_join(th, &r->ok), 0);
}

START_TEST(no_descriptor_left_external_waits_fail)
{
	struct starved_tasks s;
	struct spawner_run run = { &s, NULL };
	void *ok;

	if (under_valgrind())
		return;     /* valgrind keeps descriptors of its own */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(pipe(s.pipefd), 0);
	run_without_fds(starved_spawner_run, &run);
	ok = run.ok;
	close(s.pipefd[0]);
	close(s.pipefd[1]);

	ck_assert_uint_eq(P2U(ok), 1);
	ck_assert_int_eq(s.sleep_rc, 0);
	ck_assert_int_eq(s.blocking_rc, -1);
	ck_assert_int_eq(s.blocking_errno, EMFILE);
	ck_assert_int_eq(s.read_rc, -1);
	ck_assert_int_eq(s.read_errno, EMFILE);
}
END_TEST

static Suite *thread_suite(void)
{
	Suite *s = suite_create("thread");
	TCase *tc;

	tc = tcase_create("runtimes");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, two_threads_own_tasks);
	tcase_add_test(tc, foreign_handle_refused);
	tcase_add_test(tc, thread_exit_with_unjoined_tasks);
	suite_add_tcase(s, tc);

	tc = tcase_create("stages");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, sharing_thread_opens_no_descriptor);
	tcase_add_test(tc, sleeping_tasks_open_no_descriptor);
	tcase_add_test(tc, no_descriptor_left_first_wait_fails);
	tcase_add_test(tc, no_descriptor_left_external_waits_fail);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(thread_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

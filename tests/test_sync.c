/*
 * Sharing state: weft_mutex, weft_cond, weft_sem, weft_waitgroup.
 *
 * Mutual exclusion, FIFO hand-off and fairness, every error path, waits
 * bounded by a deadline or ended by cancellation (the operation then did
 * not happen and the object still works), waits from main (which parks the
 * thread's own stack and runs the tasks meanwhile), and use between tasks
 * of different OS threads.
 *
 * Order is shown through program state (logs of who queued and who got
 * in), never by timing.  Waits that a bug could leave hanging run under a
 * long deadline (hang guard), so such a bug fails instead of hanging.
 *
 * Each test creates the runtime it uses (Check's fork mode); with
 * CK_FORK=no they share one, so each leaves no task behind.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft.h"
#include "test_util.h"

/* Hang guard: long enough never to fire unless something is lost. */
#define GUARD_NS ((int64_t)30000 * MS_NS)

/* In a task: yield until *flag is set (at most `most` times). */
static int yield_until(const int *flag, int most)
{
	while (!*flag && most-- > 0)
		TASK_CHECK(weft_yield() == 0);
	return *flag;
}

/* In a task: join t under a hang guard. */
static int guarded_join(weft_task *t, void **r)
{
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);
	int rc = weft_join(t, r);

	weft_deadline_pop(saved);
	return rc;
}

/* ---- mutex: mutual exclusion ------------------------------------------- */

enum { EXCL_TASKS = 1000, EXCL_ROUNDS = 10 };

static struct {
	long counter;
	int inside, overlaps;
} g_excl;

/* Read, yield, write, inside the critical section. */
static void *excl_fn(void *arg)
{
	weft_mutex *m = arg;
	int i;

	for (i = 0; i < EXCL_ROUNDS; i++) {
		long v;

		if (weft_mutex_lock(m) != 0) {
			TASK_CHECK(!"weft_mutex_lock failed");
			continue;
		}
		if (g_excl.inside)
			g_excl.overlaps++;
		g_excl.inside = 1;
		v = g_excl.counter;
		TASK_CHECK(weft_yield() == 0);
		g_excl.counter = v + 1;
		g_excl.inside = 0;
		TASK_CHECK(weft_mutex_unlock(m) == 0);
	}
	return NULL;
}

START_TEST(mutex_exclusion)
{
	/* The static initializer: no weft_mutex_init call. */
	static weft_mutex m = WEFT_MUTEX_INITIALIZER;
	static weft_task *t[EXCL_TASKS];
	uint64_t live0 = live_tasks();
	int i;

	task_checks_reset();
	memset(&g_excl, 0, sizeof(g_excl));
	for (i = 0; i < EXCL_TASKS; i++) {
		t[i] = weft_spawn(excl_fn, &m);
		ck_assert_ptr_nonnull(t[i]);
	}
	for (i = 0; i < EXCL_TASKS; i++)
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
	assert_task_checks_passed();
	ck_assert_int_eq(g_excl.overlaps, 0);
	ck_assert_int_eq(g_excl.counter, (long)EXCL_TASKS * EXCL_ROUNDS);
	ck_assert_uint_eq(live_tasks(), live0);
	/* Left unlocked with no waiter: destroy succeeds. */
	ck_assert_int_eq(weft_mutex_destroy(&m), 0);
}
END_TEST

/* ---- mutex: FIFO hand-off ---------------------------------------------- */

enum { FIFO_N = 20 };

static struct {
	weft_mutex m;
	weft_sem all_queued;
	int queued[FIFO_N + 1], nqueued;
	int got[FIFO_N + 1], ngot;
	int holder_try_rc, holder_try_err;
} g_fifo;

/* Queues in an order unlike spawn order: (i * 7) % 5 yields first. */
static void *fifo_waiter_fn(void *arg)
{
	int i = (int)P2U(arg);

	yield_n((i * 7) % 5);
	g_fifo.queued[g_fifo.nqueued++] = i;
	if (g_fifo.nqueued == FIFO_N)
		TASK_CHECK(weft_sem_post(&g_fifo.all_queued) == 0);
	/* No yield between the log and the lock: queue order = log order. */
	TASK_CHECK(weft_mutex_lock(&g_fifo.m) == 0);
	g_fifo.got[g_fifo.ngot++] = i;
	/* Hold it across a yield: nobody else may get in meanwhile. */
	TASK_CHECK(weft_yield() == 0);
	TASK_CHECK(g_fifo.got[g_fifo.ngot - 1] == i);
	TASK_CHECK(weft_mutex_unlock(&g_fifo.m) == 0);
	return NULL;
}

static void fifo_reset(void)
{
	memset(&g_fifo, 0, sizeof(g_fifo));
	ck_assert_int_eq(weft_mutex_init(&g_fifo.m), 0);
	ck_assert_int_eq(weft_sem_init(&g_fifo.all_queued, 0), 0);
}

static void fifo_check_log(void)
{
	int i;

	ck_assert_int_eq(g_fifo.nqueued, FIFO_N + 1);
	ck_assert_int_eq(g_fifo.ngot, FIFO_N + 1);
	/* The test means something: queue order is not spawn order. */
	ck_assert_int_ne(g_fifo.queued[1], 1);
	for (i = 0; i <= FIFO_N; i++)
		ck_assert_msg(g_fifo.got[i] == g_fifo.queued[i],
		    "acquisition %d went to %d, but %d queued %d-th", i,
		    g_fifo.got[i], g_fifo.queued[i], i);
	ck_assert_msg(g_fifo.holder_try_rc == -1 && g_fifo.holder_try_err == EBUSY,
	    "the unlocker took the mutex back from queued waiters: trylock %d errno %d",
	    g_fifo.holder_try_rc, g_fifo.holder_try_err);
}

/*
 * The holder: lock, let FIFO_N tasks queue, unlock, then trylock (must
 * fail: the mutex was handed to the first waiter) and lock again (queued
 * behind all of them).
 */
static void fifo_holder(weft_task **t)
{
	int i;

	errno = 0;
	g_fifo.holder_try_rc = weft_mutex_trylock(&g_fifo.m);
	g_fifo.holder_try_err = errno;
	g_fifo.queued[g_fifo.nqueued++] = FIFO_N;
	TASK_CHECK(weft_mutex_lock(&g_fifo.m) == 0);
	g_fifo.got[g_fifo.ngot++] = FIFO_N;
	TASK_CHECK(weft_mutex_unlock(&g_fifo.m) == 0);
	for (i = 0; i < FIFO_N; i++)
		TASK_CHECK(guarded_join(t[i], NULL) == 0);
}

static void *fifo_holder_fn(void *arg)
{
	weft_task *t[FIFO_N];
	int i;

	(void)arg;
	TASK_CHECK(weft_mutex_lock(&g_fifo.m) == 0);
	for (i = 0; i < FIFO_N; i++) {
		t[i] = weft_spawn(fifo_waiter_fn, U2P(i));
		TASK_CHECK(t[i] != NULL);
	}
	TASK_CHECK(weft_sem_wait(&g_fifo.all_queued) == 0);
	yield_n(2);
	TASK_CHECK(g_fifo.nqueued == FIFO_N && g_fifo.ngot == 0);
	TASK_CHECK(weft_mutex_unlock(&g_fifo.m) == 0);
	fifo_holder(t);
	return NULL;
}

START_TEST(mutex_fifo_from_task)
{
	task_checks_reset();
	fifo_reset();
	run_task(fifo_holder_fn, NULL);
	assert_task_checks_passed();
	fifo_check_log();
	ck_assert_int_eq(weft_mutex_destroy(&g_fifo.m), 0);
}
END_TEST

/* The same with main as the holder: main parks in weft_sem_wait and in
 * weft_mutex_lock, running the tasks meanwhile. */
START_TEST(mutex_fifo_from_main)
{
	weft_task *t[FIFO_N];
	int i;

	task_checks_reset();
	fifo_reset();
	ck_assert_int_eq(weft_mutex_lock(&g_fifo.m), 0);
	for (i = 0; i < FIFO_N; i++) {
		t[i] = weft_spawn(fifo_waiter_fn, U2P(i));
		ck_assert_ptr_nonnull(t[i]);
	}
	ck_assert_int_eq(weft_sem_wait(&g_fifo.all_queued), 0);
	ck_assert_int_eq(g_fifo.nqueued, FIFO_N);
	ck_assert_int_eq(g_fifo.ngot, 0);
	ck_assert_int_eq(weft_mutex_unlock(&g_fifo.m), 0);
	fifo_holder(t);
	assert_task_checks_passed();
	fifo_check_log();
}
END_TEST

/* ---- mutex: no starvation under steady contention ------------------------ */

enum { STARVE_TASKS = 10, STARVE_TOTAL = 1000 };

static struct {
	weft_mutex m;
	int total;
	int count[STARVE_TASKS];
} g_starve;

/* Unlocks and at once locks again, never yielding outside the mutex. */
static void *starve_fn(void *arg)
{
	int i = (int)P2U(arg);

	for (;;) {
		if (weft_mutex_lock(&g_starve.m) != 0) {
			TASK_CHECK(!"weft_mutex_lock failed");
			return NULL;
		}
		if (g_starve.total >= STARVE_TOTAL) {
			TASK_CHECK(weft_mutex_unlock(&g_starve.m) == 0);
			return NULL;
		}
		g_starve.total++;
		g_starve.count[i]++;
		TASK_CHECK(weft_yield() == 0);
		TASK_CHECK(weft_mutex_unlock(&g_starve.m) == 0);
	}
}

START_TEST(mutex_no_starvation)
{
	weft_task *t[STARVE_TASKS];
	int i, sum = 0;

	task_checks_reset();
	memset(&g_starve, 0, sizeof(g_starve));
	for (i = 0; i < STARVE_TASKS; i++) {
		t[i] = weft_spawn(starve_fn, U2P(i));
		ck_assert_ptr_nonnull(t[i]);
	}
	for (i = 0; i < STARVE_TASKS; i++)
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
	assert_task_checks_passed();
	for (i = 0; i < STARVE_TASKS; i++) {
		ck_assert_msg(g_starve.count[i] >= STARVE_TOTAL / STARVE_TASKS / 2,
		    "task %d got the mutex %d times of %d", i, g_starve.count[i],
		    STARVE_TOTAL);
		sum += g_starve.count[i];
	}
	ck_assert_int_eq(sum, STARVE_TOTAL);
}
END_TEST

/* ---- mutex: error paths ----------------------------------------------- */

static struct {
	int try_rc, try_err, unlock_rc, unlock_err, lock_rc, lock_err;
} g_other;

/* Another task: the mutex is not its to unlock. */
static void *other_task_fn(void *arg)
{
	weft_mutex *m = arg;
	int64_t saved;

	errno = 0;
	g_other.try_rc = weft_mutex_trylock(m);
	g_other.try_err = errno;
	errno = 0;
	g_other.unlock_rc = weft_mutex_unlock(m);
	g_other.unlock_err = errno;
	saved = weft_deadline_push(weft_now() + 20 * MS_NS);
	errno = 0;
	g_other.lock_rc = weft_mutex_lock(m);
	g_other.lock_err = errno;
	weft_deadline_pop(saved);
	return NULL;
}

static void assert_other_refused(const char *who)
{
	ck_assert_msg(g_other.try_rc == -1 && g_other.try_err == EBUSY,
	    "%s: trylock by another task: %d errno %d", who, g_other.try_rc,
	    g_other.try_err);
	ck_assert_msg(g_other.unlock_rc == -1 && g_other.unlock_err == EPERM,
	    "%s: unlock by a non-holder: %d errno %d", who, g_other.unlock_rc,
	    g_other.unlock_err);
	ck_assert_msg(g_other.lock_rc == -1 && g_other.lock_err == ETIMEDOUT,
	    "%s: lock under a 20 ms deadline: %d errno %d", who, g_other.lock_rc,
	    g_other.lock_err);
}

static void *mutex_errors_body(void *arg)
{
	weft_mutex m;
	weft_task *t;

	(void)arg;
	memset(&m, 0xa5, sizeof(m));
	TASK_CHECK(weft_mutex_init(&m) == 0);
	TASK_CHECK_FAILS(weft_mutex_unlock(&m), EPERM);
	TASK_CHECK(weft_mutex_trylock(&m) == 0);
	TASK_CHECK_FAILS(weft_mutex_trylock(&m), EBUSY);
	TASK_CHECK_FAILS(weft_mutex_lock(&m), EDEADLK);
	TASK_CHECK_FAILS(weft_mutex_destroy(&m), EBUSY);
	t = weft_spawn(other_task_fn, &m);
	TASK_CHECK(t != NULL && guarded_join(t, NULL) == 0);
	/* Still ours after all that. */
	TASK_CHECK(weft_mutex_unlock(&m) == 0);
	TASK_CHECK_FAILS(weft_mutex_unlock(&m), EPERM);
	TASK_CHECK(weft_mutex_lock(&m) == 0);
	TASK_CHECK(weft_mutex_unlock(&m) == 0);
	TASK_CHECK(weft_mutex_destroy(&m) == 0);
	return U2P(1);
}

START_TEST(mutex_errors)
{
	weft_mutex m = WEFT_MUTEX_INITIALIZER;
	weft_task *t;

	task_checks_reset();
	assert_fails(weft_mutex_init(NULL), EINVAL);
	assert_fails(weft_mutex_destroy(NULL), EINVAL);
	assert_fails(weft_mutex_lock(NULL), EINVAL);
	assert_fails(weft_mutex_trylock(NULL), EINVAL);
	assert_fails(weft_mutex_unlock(NULL), EINVAL);

	/* Main is a holder like a task. */
	assert_fails(weft_mutex_unlock(&m), EPERM);
	ck_assert_int_eq(weft_mutex_lock(&m), 0);
	assert_fails(weft_mutex_lock(&m), EDEADLK);
	assert_fails(weft_mutex_trylock(&m), EBUSY);
	assert_fails(weft_mutex_destroy(&m), EBUSY);
	memset(&g_other, 0, sizeof(g_other));
	t = weft_spawn(other_task_fn, &m);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	assert_other_refused("held by main");
	ck_assert_int_eq(weft_mutex_unlock(&m), 0);
	assert_fails(weft_mutex_unlock(&m), EPERM);
	ck_assert_int_eq(weft_mutex_destroy(&m), 0);

	/* The same from a task. */
	ck_assert_uint_eq(P2U(run_task(mutex_errors_body, NULL)), 1);
	assert_task_checks_passed();
}
END_TEST

/* Every call on a destroyed mutex: EINVAL; init makes it usable again. */
static void mutex_after_destroy(void)
{
	weft_mutex m;

	TASK_CHECK(weft_mutex_init(&m) == 0);
	TASK_CHECK(weft_mutex_destroy(&m) == 0);
	TASK_CHECK_FAILS(weft_mutex_lock(&m), EINVAL);
	TASK_CHECK_FAILS(weft_mutex_trylock(&m), EINVAL);
	TASK_CHECK_FAILS(weft_mutex_unlock(&m), EINVAL);
	TASK_CHECK_FAILS(weft_mutex_destroy(&m), EINVAL);
	TASK_CHECK(weft_mutex_init(&m) == 0);
	TASK_CHECK(weft_mutex_lock(&m) == 0);
	TASK_CHECK(weft_mutex_unlock(&m) == 0);
	TASK_CHECK(weft_mutex_destroy(&m) == 0);
}

static void *mutex_after_destroy_fn(void *arg)
{
	(void)arg;
	mutex_after_destroy();
	return NULL;
}

START_TEST(mutex_use_after_destroy)
{
	weft_mutex m = WEFT_MUTEX_INITIALIZER;

	task_checks_reset();
	/* Asserted one by one from main, for the errno in the message. */
	ck_assert_int_eq(weft_mutex_destroy(&m), 0);
	assert_fails(weft_mutex_lock(&m), EINVAL);
	assert_fails(weft_mutex_trylock(&m), EINVAL);
	assert_fails(weft_mutex_destroy(&m), EINVAL);
	assert_fails(weft_mutex_unlock(&m), EINVAL);
	mutex_after_destroy();
	assert_task_checks_passed();
	run_task(mutex_after_destroy_fn, NULL);
	assert_task_checks_passed();
}
END_TEST

/* A task locks; main may not unlock it. */
static void *lock_and_park_fn(void *arg)
{
	weft_mutex *m = arg;
	int rc;

	TASK_CHECK(weft_mutex_lock(m) == 0);
	/* Until cancelled. */
	rc = weft_sleep(GUARD_NS / MS_NS);
	TASK_CHECK(rc == -1 && errno == ECANCELED);
	TASK_CHECK(weft_mutex_unlock(m) == 0);
	return NULL;
}

static void *mutex_held_by_task_fn(void *arg)
{
	weft_mutex *m = arg;
	weft_task *t = weft_spawn(lock_and_park_fn, m);

	TASK_CHECK(t != NULL);
	yield_n(2);
	memset(&g_other, 0, sizeof(g_other));
	other_task_fn(m);
	TASK_CHECK(weft_cancel(t) == 0);
	TASK_CHECK(guarded_join(t, NULL) == 0);
	return NULL;
}

START_TEST(mutex_holder_is_the_task)
{
	weft_mutex m;
	weft_sem s;
	weft_task *t;
	int64_t saved;

	task_checks_reset();
	ck_assert_int_eq(weft_mutex_init(&m), 0);
	/* Held by one task, refused to another task. */
	run_task(mutex_held_by_task_fn, &m);
	assert_task_checks_passed();
	assert_other_refused("held by a task, tried by another");

	/* Held by a task, refused to main. */
	t = weft_spawn(lock_and_park_fn, &m);
	ck_assert_ptr_nonnull(t);
	/* Let the task lock: main parks in a timed wait meanwhile. */
	ck_assert_int_eq(weft_sem_init(&s, 0), 0);
	saved = weft_deadline_push(weft_now() + 20 * MS_NS);
	assert_fails(weft_sem_wait(&s), ETIMEDOUT);
	ck_assert_int_eq(weft_deadline_pop(saved), 0);
	assert_fails(weft_mutex_trylock(&m), EBUSY);
	assert_fails(weft_mutex_unlock(&m), EPERM);
	ck_assert_int_eq(weft_cancel(t), 0);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	assert_task_checks_passed();
	ck_assert_int_eq(weft_mutex_trylock(&m), 0);
	ck_assert_int_eq(weft_mutex_unlock(&m), 0);
	ck_assert_int_eq(weft_mutex_destroy(&m), 0);
}
END_TEST

/*
 * Timed-out and cancelled waiters are not handed the lock: with W1 (times
 * out) and W2 (cancelled) queued ahead of W3, the unlock goes to W3.
 */
static struct {
	weft_mutex m;
	int rc[3], err[3], got[3], unlock_after[3], unlock_err[3];
	int started;
} g_skip;

static void *skip_waiter_fn(void *arg)
{
	int i = (int)P2U(arg);
	int64_t saved = weft_deadline_push(weft_now() +
	    (i == 0 ? 100 * MS_NS : GUARD_NS));

	g_skip.started++;
	errno = 0;
	g_skip.rc[i] = weft_mutex_lock(&g_skip.m);
	g_skip.err[i] = errno;
	weft_deadline_pop(saved);
	if (g_skip.rc[i] == 0) {
		g_skip.got[i] = 1;
		TASK_CHECK(weft_mutex_unlock(&g_skip.m) == 0);
	} else {
		/* Not the holder. */
		errno = 0;
		g_skip.unlock_after[i] = weft_mutex_unlock(&g_skip.m);
		g_skip.unlock_err[i] = errno;
	}
	return NULL;
}

static void *skip_holder_fn(void *arg)
{
	weft_task *t[3];
	int i;

	(void)arg;
	TASK_CHECK(weft_mutex_lock(&g_skip.m) == 0);
	for (i = 0; i < 3; i++)
		TASK_CHECK((t[i] = weft_spawn(skip_waiter_fn, U2P(i))) != NULL);
	yield_n(2);
	TASK_CHECK(g_skip.started == 3);
	TASK_CHECK(weft_cancel(t[1]) == 0);
	/* Hold it well past W1's deadline. */
	TASK_CHECK(weft_sleep(300) == 0);
	TASK_CHECK(g_skip.rc[0] == -1 && g_skip.err[0] == ETIMEDOUT);
	TASK_CHECK(g_skip.rc[1] == -1 && g_skip.err[1] == ECANCELED);
	TASK_CHECK(g_skip.got[2] == 0);
	TASK_CHECK(weft_mutex_unlock(&g_skip.m) == 0);
	for (i = 0; i < 3; i++)
		TASK_CHECK(guarded_join(t[i], NULL) == 0);
	/* Free again. */
	TASK_CHECK(weft_mutex_trylock(&g_skip.m) == 0);
	TASK_CHECK(weft_mutex_unlock(&g_skip.m) == 0);
	return NULL;
}

START_TEST(mutex_gave_up_waiters_skipped)
{
	int i;

	task_checks_reset();
	memset(&g_skip, 0, sizeof(g_skip));
	ck_assert_int_eq(weft_mutex_init(&g_skip.m), 0);
	run_task(skip_holder_fn, NULL);
	assert_task_checks_passed();
	ck_assert_int_eq(g_skip.got[0], 0);
	ck_assert_int_eq(g_skip.got[1], 0);
	ck_assert_int_eq(g_skip.got[2], 1);
	for (i = 0; i < 2; i++)
		ck_assert_msg(g_skip.unlock_after[i] == -1 && g_skip.unlock_err[i] == EPERM,
		    "waiter %d gave up but then unlock gave %d errno %d", i,
		    g_skip.unlock_after[i], g_skip.unlock_err[i]);
	ck_assert_int_eq(weft_mutex_destroy(&g_skip.m), 0);
}
END_TEST

/* ---- condition variable ------------------------------------------------ */

enum { CW = 100 };

static struct {
	weft_mutex m;
	weft_cond c;
	int nwaiting;
	int wait_order[CW];
	int woken[CW];
	int order[CW], norder;
	int rc_fail;
} g_cv;

static void cv_reset(void)
{
	memset(&g_cv, 0, sizeof(g_cv));
	ck_assert_int_eq(weft_mutex_init(&g_cv.m), 0);
	ck_assert_int_eq(weft_cond_init(&g_cv.c), 0);
}

/* Waits once (no predicate loop: no spurious wake-ups are allowed). */
static void *cv_waiter_fn(void *arg)
{
	int i = (int)P2U(arg);
	int64_t saved;
	int rc;

	yield_n((i * 3) % 4);
	TASK_CHECK(weft_mutex_lock(&g_cv.m) == 0);
	g_cv.wait_order[g_cv.nwaiting++] = i;
	saved = weft_deadline_push(weft_now() + GUARD_NS);
	rc = weft_cond_wait(&g_cv.c, &g_cv.m);
	weft_deadline_pop(saved);
	if (rc != 0)
		g_cv.rc_fail++;
	g_cv.woken[i]++;
	g_cv.order[g_cv.norder++] = i;
	/* Returned holding the mutex. */
	TASK_CHECK(weft_mutex_unlock(&g_cv.m) == 0);
	return NULL;
}

static void *cv_signal_fn(void *arg)
{
	weft_task *t[CW];
	int i, k;

	(void)arg;
	/* Nobody waits: a signal and a broadcast are not remembered. */
	TASK_CHECK(weft_cond_signal(&g_cv.c) == 0);
	TASK_CHECK(weft_cond_broadcast(&g_cv.c) == 0);
	for (i = 0; i < CW; i++)
		TASK_CHECK((t[i] = weft_spawn(cv_waiter_fn, U2P(i))) != NULL);
	yield_n(6);
	TASK_CHECK(g_cv.nwaiting == CW);
	TASK_CHECK(g_cv.norder == 0);
	for (k = 0; k < CW; k++) {
		TASK_CHECK(weft_mutex_lock(&g_cv.m) == 0);
		TASK_CHECK(weft_cond_signal(&g_cv.c) == 0);
		/* The woken waiter cannot return while we hold the mutex. */
		yield_n(3);
		TASK_CHECK(g_cv.norder == k);
		TASK_CHECK(weft_mutex_unlock(&g_cv.m) == 0);
		for (i = 0; i < 20 && g_cv.norder == k; i++)
			TASK_CHECK(weft_yield() == 0);
		/* Exactly one woke. */
		yield_n(3);
		TASK_CHECK(g_cv.norder == k + 1);
	}
	for (i = 0; i < CW; i++)
		TASK_CHECK(guarded_join(t[i], NULL) == 0);
	return NULL;
}

START_TEST(cond_signal_wakes_one_in_fifo_order)
{
	int i;

	task_checks_reset();
	cv_reset();
	run_task(cv_signal_fn, NULL);
	assert_task_checks_passed();
	ck_assert_int_eq(g_cv.rc_fail, 0);
	ck_assert_int_eq(g_cv.norder, CW);
	for (i = 0; i < CW; i++) {
		ck_assert_int_eq(g_cv.woken[i], 1);
		ck_assert_msg(g_cv.order[i] == g_cv.wait_order[i],
		    "wake-up %d went to %d, but %d waited %d-th", i, g_cv.order[i],
		    g_cv.wait_order[i], i);
	}
	ck_assert_int_eq(weft_cond_destroy(&g_cv.c), 0);
	ck_assert_int_eq(weft_mutex_destroy(&g_cv.m), 0);
}
END_TEST

static void *cv_broadcast_fn(void *arg)
{
	weft_task *t[CW];
	int i;

	(void)arg;
	for (i = 0; i < CW; i++)
		TASK_CHECK((t[i] = weft_spawn(cv_waiter_fn, U2P(i))) != NULL);
	yield_n(6);
	TASK_CHECK(g_cv.nwaiting == CW);
	TASK_CHECK(weft_mutex_lock(&g_cv.m) == 0);
	/* Waited on: destroy refuses. */
	TASK_CHECK_FAILS(weft_cond_destroy(&g_cv.c), EBUSY);
	TASK_CHECK(weft_cond_broadcast(&g_cv.c) == 0);
	yield_n(3);
	TASK_CHECK(g_cv.norder == 0);
	TASK_CHECK(weft_mutex_unlock(&g_cv.m) == 0);
	for (i = 0; i < CW; i++)
		TASK_CHECK(guarded_join(t[i], NULL) == 0);
	TASK_CHECK(g_cv.norder == CW);
	return NULL;
}

START_TEST(cond_broadcast_wakes_all)
{
	int i;

	task_checks_reset();
	cv_reset();
	run_task(cv_broadcast_fn, NULL);
	assert_task_checks_passed();
	ck_assert_int_eq(g_cv.rc_fail, 0);
	for (i = 0; i < CW; i++)
		ck_assert_int_eq(g_cv.woken[i], 1);
	ck_assert_int_eq(weft_cond_destroy(&g_cv.c), 0);
	ck_assert_int_eq(weft_mutex_destroy(&g_cv.m), 0);
}
END_TEST

/* A signal sent before anyone waits is lost (not stored). */
static void *late_waiter_fn(void *arg)
{
	int64_t saved;

	(void)arg;
	TASK_CHECK(weft_mutex_lock(&g_cv.m) == 0);
	saved = weft_deadline_push(weft_now() + 100 * MS_NS);
	TASK_CHECK_FAILS(weft_cond_wait(&g_cv.c, &g_cv.m), ETIMEDOUT);
	weft_deadline_pop(saved);
	TASK_CHECK(weft_mutex_unlock(&g_cv.m) == 0);
	return NULL;
}

START_TEST(cond_signal_not_stored)
{
	task_checks_reset();
	cv_reset();
	ck_assert_int_eq(weft_cond_signal(&g_cv.c), 0);
	ck_assert_int_eq(weft_cond_broadcast(&g_cv.c), 0);
	run_task(late_waiter_fn, NULL);
	assert_task_checks_passed();
	ck_assert_int_eq(weft_cond_destroy(&g_cv.c), 0);
}
END_TEST

/* Bounded buffer with two conditions: no lost wake-up, nothing lost. */
enum { PC_PRODUCERS = 10, PC_CONSUMERS = 10, PC_ITEMS = 1000, PC_CAP = 8 };

static struct {
	weft_mutex m;
	weft_cond not_empty, not_full;
	int buf[PC_CAP];
	int head, count;
	int producers_done;
	long received, sum;
	unsigned char seen[PC_PRODUCERS * PC_ITEMS];
	int dup, bad;
} g_pc;

static void *pc_producer_fn(void *arg)
{
	int p = (int)P2U(arg), i;
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);

	for (i = 0; i < PC_ITEMS; i++) {
		TASK_CHECK(weft_mutex_lock(&g_pc.m) == 0);
		while (g_pc.count == PC_CAP)
			if (weft_cond_wait(&g_pc.not_full, &g_pc.m) != 0) {
				TASK_CHECK(!"producer's cond_wait failed");
				break;
			}
		if (g_pc.count < PC_CAP) {
			g_pc.buf[(g_pc.head + g_pc.count) % PC_CAP] = p * PC_ITEMS + i;
			g_pc.count++;
		}
		TASK_CHECK(weft_cond_signal(&g_pc.not_empty) == 0);
		TASK_CHECK(weft_mutex_unlock(&g_pc.m) == 0);
		if (i % 3 == 0)
			TASK_CHECK(weft_yield() == 0);
	}
	TASK_CHECK(weft_mutex_lock(&g_pc.m) == 0);
	if (++g_pc.producers_done == PC_PRODUCERS)
		TASK_CHECK(weft_cond_broadcast(&g_pc.not_empty) == 0);
	TASK_CHECK(weft_mutex_unlock(&g_pc.m) == 0);
	weft_deadline_pop(saved);
	return NULL;
}

static void *pc_consumer_fn(void *arg)
{
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);

	(void)arg;
	for (;;) {
		int v;

		TASK_CHECK(weft_mutex_lock(&g_pc.m) == 0);
		while (g_pc.count == 0 && g_pc.producers_done < PC_PRODUCERS)
			if (weft_cond_wait(&g_pc.not_empty, &g_pc.m) != 0) {
				TASK_CHECK(!"consumer's cond_wait failed");
				TASK_CHECK(weft_mutex_unlock(&g_pc.m) == 0);
				goto out;
			}
		if (g_pc.count == 0) {
			TASK_CHECK(weft_mutex_unlock(&g_pc.m) == 0);
			break;
		}
		v = g_pc.buf[g_pc.head];
		g_pc.head = (g_pc.head + 1) % PC_CAP;
		g_pc.count--;
		TASK_CHECK(weft_cond_signal(&g_pc.not_full) == 0);
		TASK_CHECK(weft_mutex_unlock(&g_pc.m) == 0);
		if (v < 0 || v >= PC_PRODUCERS * PC_ITEMS)
			g_pc.bad++;
		else if (g_pc.seen[v]++)
			g_pc.dup++;
		g_pc.received++;
		g_pc.sum += v;
	}
out:
	weft_deadline_pop(saved);
	return NULL;
}

START_TEST(cond_producer_consumer)
{
	weft_task *t[PC_PRODUCERS + PC_CONSUMERS];
	long n = (long)PC_PRODUCERS * PC_ITEMS;
	int i;

	task_checks_reset();
	memset(&g_pc, 0, sizeof(g_pc));
	/* Zeroed storage is ready: no init calls. */
	for (i = 0; i < PC_CONSUMERS; i++)
		ck_assert_ptr_nonnull(t[i] = weft_spawn(pc_consumer_fn, NULL));
	for (i = 0; i < PC_PRODUCERS; i++)
		ck_assert_ptr_nonnull(t[PC_CONSUMERS + i] =
		    weft_spawn(pc_producer_fn, U2P(i)));
	for (i = 0; i < PC_PRODUCERS + PC_CONSUMERS; i++)
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
	assert_task_checks_passed();
	ck_assert_int_eq(g_pc.bad, 0);
	ck_assert_int_eq(g_pc.dup, 0);
	ck_assert_int_eq(g_pc.received, n);
	ck_assert_int_eq(g_pc.sum, n * (n - 1) / 2);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(g_pc.seen[i], 1);
}
END_TEST

/* cond_wait's error paths. */
static void *cond_errors_body(void *arg)
{
	weft_mutex m, m2;
	weft_cond c;
	weft_task *t;

	(void)arg;
	TASK_CHECK(weft_mutex_init(&m) == 0);
	TASK_CHECK(weft_mutex_init(&m2) == 0);
	TASK_CHECK(weft_cond_init(&c) == 0);
	/* Not holding the mutex. */
	TASK_CHECK_FAILS(weft_cond_wait(&c, &m), EPERM);
	/* Held by someone else. */
	t = weft_spawn(lock_and_park_fn, &m);
	TASK_CHECK(t != NULL);
	yield_n(2);
	TASK_CHECK_FAILS(weft_cond_wait(&c, &m), EPERM);
	TASK_CHECK(weft_cancel(t) == 0);
	TASK_CHECK(guarded_join(t, NULL) == 0);
	/* Holding another mutex only. */
	TASK_CHECK(weft_mutex_lock(&m2) == 0);
	TASK_CHECK_FAILS(weft_cond_wait(&c, &m), EPERM);
	TASK_CHECK_FAILS(weft_cond_wait(NULL, &m2), EINVAL);
	TASK_CHECK_FAILS(weft_cond_wait(&c, NULL), EINVAL);
	TASK_CHECK(weft_mutex_unlock(&m2) == 0);
	TASK_CHECK(weft_cond_destroy(&c) == 0);
	/* Use after destroy. */
	TASK_CHECK(weft_mutex_lock(&m) == 0);
	TASK_CHECK_FAILS(weft_cond_wait(&c, &m), EINVAL);
	TASK_CHECK(weft_mutex_unlock(&m) == 0);
	TASK_CHECK_FAILS(weft_cond_signal(&c), EINVAL);
	TASK_CHECK_FAILS(weft_cond_broadcast(&c), EINVAL);
	TASK_CHECK_FAILS(weft_cond_destroy(&c), EINVAL);
	TASK_CHECK(weft_cond_init(&c) == 0);
	TASK_CHECK(weft_cond_signal(&c) == 0);
	TASK_CHECK(weft_cond_destroy(&c) == 0);
	TASK_CHECK(weft_mutex_destroy(&m) == 0);
	TASK_CHECK(weft_mutex_destroy(&m2) == 0);
	return U2P(1);
}

START_TEST(cond_errors)
{
	weft_cond c = WEFT_COND_INITIALIZER;
	weft_mutex m = WEFT_MUTEX_INITIALIZER;

	task_checks_reset();
	ck_assert_uint_eq(P2U(run_task(cond_errors_body, NULL)), 1);
	assert_task_checks_passed();
	assert_fails(weft_cond_init(NULL), EINVAL);
	assert_fails(weft_cond_destroy(NULL), EINVAL);
	assert_fails(weft_cond_signal(NULL), EINVAL);
	assert_fails(weft_cond_broadcast(NULL), EINVAL);
	assert_fails(weft_cond_wait(NULL, NULL), EINVAL);
	/* From main too. */
	assert_fails(weft_cond_wait(&c, &m), EPERM);
	ck_assert_int_eq(weft_cond_signal(&c), 0);
	ck_assert_int_eq(weft_cond_destroy(&c), 0);
}
END_TEST

/*
 * cond_wait returns holding the mutex even when it fails: the waiter's
 * deadline passes (or it is cancelled) while another task holds the mutex,
 * so the waiter returns only after that task lets go of it.
 */
static struct {
	weft_mutex m;
	weft_cond c;
	int cancel;             /* 0: deadline, 1: cancellation */
	int waiting, released;
	int rc, err, released_at_return, unlock_rc;
	weft_task *waiter;
} g_cr;

static void *cr_waiter_fn(void *arg)
{
	int64_t saved;

	(void)arg;
	TASK_CHECK(weft_mutex_lock(&g_cr.m) == 0);
	saved = weft_deadline_push(weft_now() +
	    (g_cr.cancel ? GUARD_NS : 50 * MS_NS));
	g_cr.waiting = 1;
	errno = 0;
	g_cr.rc = weft_cond_wait(&g_cr.c, &g_cr.m);
	g_cr.err = errno;
	g_cr.released_at_return = g_cr.released;
	weft_deadline_pop(saved);
	g_cr.unlock_rc = weft_mutex_unlock(&g_cr.m);
	return NULL;
}

static void *cr_holder_fn(void *arg)
{
	(void)arg;
	TASK_CHECK(yield_until(&g_cr.waiting, 10));
	/* The waiter let go of the mutex while it waits. */
	TASK_CHECK(weft_mutex_trylock(&g_cr.m) == 0);
	if (g_cr.cancel)
		TASK_CHECK(weft_cancel(g_cr.waiter) == 0);
	TASK_CHECK(weft_sleep(g_cr.cancel ? 100 : 300) == 0);
	g_cr.released = 1;
	TASK_CHECK(weft_mutex_unlock(&g_cr.m) == 0);
	return NULL;
}

START_TEST(cond_wait_returns_holding_mutex)
{
	int cancel = _i;
	weft_task *h;

	task_checks_reset();
	memset(&g_cr, 0, sizeof(g_cr));
	g_cr.cancel = cancel;
	g_cr.rc = 12345;
	g_cr.unlock_rc = 12345;
	g_cr.waiter = weft_spawn(cr_waiter_fn, NULL);
	h = weft_spawn(cr_holder_fn, NULL);
	ck_assert(g_cr.waiter != NULL && h != NULL);
	ck_assert_int_eq(weft_join(g_cr.waiter, NULL), 0);
	ck_assert_int_eq(weft_join(h, NULL), 0);
	assert_task_checks_passed();
	ck_assert_msg(g_cr.rc == -1 && g_cr.err == (cancel ? ECANCELED : ETIMEDOUT),
	    "cond_wait %s: %d errno %d (%s)", cancel ? "cancelled" : "timed out",
	    g_cr.rc, g_cr.err, strerror(g_cr.err));
	ck_assert_msg(g_cr.released_at_return,
	    "cond_wait returned while another task held the mutex");
	ck_assert_int_eq(g_cr.unlock_rc, 0);
	ck_assert_int_eq(weft_cond_destroy(&g_cr.c), 0);
	ck_assert_int_eq(weft_mutex_destroy(&g_cr.m), 0);
}
END_TEST

/* ---- semaphore --------------------------------------------------------- */

enum { SEM_TASKS = 50, SEM_COUNT = 5 };

static struct {
	weft_sem s;
	int running, max_running, done;
} g_sl;

static void *sem_limit_fn(void *arg)
{
	int i = (int)P2U(arg);

	if (weft_sem_wait(&g_sl.s) != 0) {
		TASK_CHECK(!"weft_sem_wait failed");
		return NULL;
	}
	g_sl.running++;
	if (g_sl.running > g_sl.max_running)
		g_sl.max_running = g_sl.running;
	if (i % 2)
		TASK_CHECK(weft_sleep(1 + i % 3) == 0);
	else
		yield_n(1 + i % 4);
	g_sl.running--;
	g_sl.done++;
	TASK_CHECK(weft_sem_post(&g_sl.s) == 0);
	return NULL;
}

START_TEST(sem_limits_concurrency)
{
	weft_task *t[SEM_TASKS];
	int i, v = -1;

	task_checks_reset();
	memset(&g_sl, 0, sizeof(g_sl));
	ck_assert_int_eq(weft_sem_init(&g_sl.s, SEM_COUNT), 0);
	ck_assert_int_eq(weft_sem_getvalue(&g_sl.s, &v), 0);
	ck_assert_int_eq(v, SEM_COUNT);
	for (i = 0; i < SEM_TASKS; i++)
		ck_assert_ptr_nonnull(t[i] = weft_spawn(sem_limit_fn, U2P(i)));
	for (i = 0; i < SEM_TASKS; i++)
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
	assert_task_checks_passed();
	ck_assert_int_eq(g_sl.done, SEM_TASKS);
	ck_assert_int_eq(g_sl.max_running, SEM_COUNT);
	ck_assert_int_eq(weft_sem_getvalue(&g_sl.s, &v), 0);
	ck_assert_int_eq(v, SEM_COUNT);
	ck_assert_int_eq(weft_sem_destroy(&g_sl.s), 0);
}
END_TEST

/* FIFO, and a post goes to the longest waiter: the poster cannot barge. */
enum { SF_N = 12 };

static struct {
	weft_sem s;
	int queued[SF_N], nqueued;
	int got[SF_N], ngot;
} g_sf;

static void *sf_waiter_fn(void *arg)
{
	int i = (int)P2U(arg);

	yield_n((i * 5) % 3);
	g_sf.queued[g_sf.nqueued++] = i;
	TASK_CHECK(weft_sem_wait(&g_sf.s) == 0);
	g_sf.got[g_sf.ngot++] = i;
	return NULL;
}

static void *sf_poster_fn(void *arg)
{
	weft_task *t[SF_N];
	int i, k, v;

	(void)arg;
	for (i = 0; i < SF_N; i++)
		TASK_CHECK((t[i] = weft_spawn(sf_waiter_fn, U2P(i))) != NULL);
	yield_n(4);
	TASK_CHECK(g_sf.nqueued == SF_N && g_sf.ngot == 0);
	TASK_CHECK_FAILS(weft_sem_destroy(&g_sf.s), EBUSY);
	for (k = 0; k < SF_N; k++) {
		TASK_CHECK(weft_sem_post(&g_sf.s) == 0);
		/* Handed to the waiter, not counted. */
		v = -1;
		TASK_CHECK(weft_sem_getvalue(&g_sf.s, &v) == 0 && v == 0);
		TASK_CHECK_FAILS(weft_sem_trywait(&g_sf.s), EAGAIN);
		for (i = 0; i < 20 && g_sf.ngot == k; i++)
			TASK_CHECK(weft_yield() == 0);
		TASK_CHECK(g_sf.ngot == k + 1);
	}
	for (i = 0; i < SF_N; i++)
		TASK_CHECK(guarded_join(t[i], NULL) == 0);
	/* Nobody waits: a post counts. */
	TASK_CHECK(weft_sem_post(&g_sf.s) == 0);
	TASK_CHECK(weft_sem_getvalue(&g_sf.s, &v) == 0 && v == 1);
	TASK_CHECK(weft_sem_trywait(&g_sf.s) == 0);
	TASK_CHECK(weft_sem_getvalue(&g_sf.s, &v) == 0 && v == 0);
	TASK_CHECK_FAILS(weft_sem_trywait(&g_sf.s), EAGAIN);
	return NULL;
}

START_TEST(sem_fifo_hand_off)
{
	int i;

	task_checks_reset();
	memset(&g_sf, 0, sizeof(g_sf));
	run_task(sf_poster_fn, NULL);
	assert_task_checks_passed();
	ck_assert_int_eq(g_sf.ngot, SF_N);
	ck_assert_int_ne(g_sf.queued[1], 1);
	for (i = 0; i < SF_N; i++)
		ck_assert_msg(g_sf.got[i] == g_sf.queued[i],
		    "unit %d went to %d, but %d queued %d-th", i, g_sf.got[i],
		    g_sf.queued[i], i);
	ck_assert_int_eq(weft_sem_destroy(&g_sf.s), 0);
}
END_TEST

START_TEST(sem_values_and_errors)
{
	static weft_sem zero;   /* zero storage: count 0 */
	weft_sem s;
	int v;

	v = -1;
	ck_assert_int_eq(weft_sem_getvalue(&zero, &v), 0);
	ck_assert_int_eq(v, 0);
	assert_fails(weft_sem_trywait(&zero), EAGAIN);
	ck_assert_int_eq(weft_sem_post(&zero), 0);
	ck_assert_int_eq(weft_sem_post(&zero), 0);
	ck_assert_int_eq(weft_sem_getvalue(&zero, &v), 0);
	ck_assert_int_eq(v, 2);
	ck_assert_int_eq(weft_sem_trywait(&zero), 0);
	ck_assert_int_eq(weft_sem_wait(&zero), 0);      /* no wait needed */
	assert_fails(weft_sem_trywait(&zero), EAGAIN);
	ck_assert_int_eq(weft_sem_destroy(&zero), 0);

	/* The top of the range. */
	ck_assert_int_eq(weft_sem_init(&s, INT_MAX), 0);
	ck_assert_int_eq(weft_sem_getvalue(&s, &v), 0);
	ck_assert_int_eq(v, INT_MAX);
	assert_fails(weft_sem_post(&s), EOVERFLOW);
	ck_assert_int_eq(weft_sem_getvalue(&s, &v), 0);
	ck_assert_int_eq(v, INT_MAX);
	ck_assert_int_eq(weft_sem_trywait(&s), 0);
	ck_assert_int_eq(weft_sem_post(&s), 0);
	assert_fails(weft_sem_post(&s), EOVERFLOW);
	ck_assert_int_eq(weft_sem_destroy(&s), 0);
	assert_fails(weft_sem_init(&s, (unsigned)INT_MAX + 1u), EINVAL);
	assert_fails(weft_sem_init(&s, UINT_MAX), EINVAL);
	ck_assert_int_eq(weft_sem_init(&s, 0), 0);
	ck_assert_int_eq(weft_sem_getvalue(&s, &v), 0);
	ck_assert_int_eq(v, 0);

	/* NULL arguments. */
	assert_fails(weft_sem_init(NULL, 1), EINVAL);
	assert_fails(weft_sem_destroy(NULL), EINVAL);
	assert_fails(weft_sem_wait(NULL), EINVAL);
	assert_fails(weft_sem_trywait(NULL), EINVAL);
	assert_fails(weft_sem_post(NULL), EINVAL);
	assert_fails(weft_sem_getvalue(NULL, &v), EINVAL);
	assert_fails(weft_sem_getvalue(&s, NULL), EINVAL);

	/* Use after destroy. */
	ck_assert_int_eq(weft_sem_destroy(&s), 0);
	assert_fails(weft_sem_post(&s), EINVAL);
	assert_fails(weft_sem_trywait(&s), EINVAL);
	assert_fails(weft_sem_wait(&s), EINVAL);
	assert_fails(weft_sem_getvalue(&s, &v), EINVAL);
	assert_fails(weft_sem_destroy(&s), EINVAL);
	ck_assert_int_eq(weft_sem_init(&s, 1), 0);
	ck_assert_int_eq(weft_sem_trywait(&s), 0);
	ck_assert_int_eq(weft_sem_destroy(&s), 0);
}
END_TEST

/* ---- wait group -------------------------------------------------------- */

enum { WG_TASKS = 100, WG_WAITERS = 3 };

static struct {
	weft_waitgroup wg;
	int finished;
	int seen_by_waiter[WG_WAITERS];
	int waiter_rc[WG_WAITERS];
} g_wg;

static void *wg_worker_fn(void *arg)
{
	int i = (int)P2U(arg);

	if (i % 3 == 0)
		TASK_CHECK(weft_sleep(i % 7) == 0);
	else
		yield_n(i % 5);
	g_wg.finished++;
	TASK_CHECK(weft_waitgroup_done(&g_wg.wg) == 0);
	return NULL;
}

static void *wg_waiter_fn(void *arg)
{
	int i = (int)P2U(arg);
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);

	g_wg.waiter_rc[i] = weft_waitgroup_wait(&g_wg.wg);
	g_wg.seen_by_waiter[i] = g_wg.finished;
	weft_deadline_pop(saved);
	return NULL;
}

START_TEST(waitgroup_waits_for_all)
{
	weft_task *w[WG_WAITERS], *t[WG_TASKS];
	int i;

	task_checks_reset();
	memset(&g_wg, 0, sizeof(g_wg));
	ck_assert_int_eq(weft_waitgroup_init(&g_wg.wg), 0);
	/* At 0: at once. */
	ck_assert_int_eq(weft_waitgroup_wait(&g_wg.wg), 0);
	ck_assert_int_eq(weft_waitgroup_add(&g_wg.wg, WG_TASKS), 0);
	for (i = 0; i < WG_WAITERS; i++)
		ck_assert_ptr_nonnull(w[i] = weft_spawn(wg_waiter_fn, U2P(i)));
	for (i = 0; i < WG_TASKS; i++)
		ck_assert_ptr_nonnull(t[i] = weft_spawn(wg_worker_fn, U2P(i)));
	/* Main parks too, running the tasks. */
	ck_assert_int_eq(weft_waitgroup_wait(&g_wg.wg), 0);
	ck_assert_int_eq(g_wg.finished, WG_TASKS);
	for (i = 0; i < WG_WAITERS; i++)
		ck_assert_int_eq(weft_join(w[i], NULL), 0);
	for (i = 0; i < WG_TASKS; i++)
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
	assert_task_checks_passed();
	for (i = 0; i < WG_WAITERS; i++) {
		ck_assert_int_eq(g_wg.waiter_rc[i], 0);
		ck_assert_int_eq(g_wg.seen_by_waiter[i], WG_TASKS);
	}
	/* Reusable: a new round parks again. */
	ck_assert_int_eq(weft_waitgroup_add(&g_wg.wg, 1), 0);
	{
		int64_t saved = weft_deadline_push(weft_now() - MS_NS);

		assert_fails(weft_waitgroup_wait(&g_wg.wg), ETIMEDOUT);
		ck_assert_int_eq(weft_deadline_pop(saved), 0);
	}
	ck_assert_int_eq(weft_waitgroup_done(&g_wg.wg), 0);
	ck_assert_int_eq(weft_waitgroup_wait(&g_wg.wg), 0);
}
END_TEST

START_TEST(waitgroup_errors)
{
	weft_waitgroup wg = WEFT_WAITGROUP_INITIALIZER;
	int64_t saved;

	ck_assert_int_eq(weft_waitgroup_wait(&wg), 0);
	assert_fails(weft_waitgroup_done(&wg), EINVAL);
	assert_fails(weft_waitgroup_add(&wg, -1), EINVAL);
	assert_fails(weft_waitgroup_add(&wg, INT_MIN), EINVAL);
	ck_assert_int_eq(weft_waitgroup_add(&wg, 0), 0);
	ck_assert_int_eq(weft_waitgroup_wait(&wg), 0);
	ck_assert_int_eq(weft_waitgroup_add(&wg, 2), 0);
	assert_fails(weft_waitgroup_add(&wg, -3), EINVAL);
	/* Unchanged by the failed add: still 2. */
	ck_assert_int_eq(weft_waitgroup_done(&wg), 0);
	saved = weft_deadline_push(weft_now() - MS_NS);
	assert_fails(weft_waitgroup_wait(&wg), ETIMEDOUT);
	ck_assert_int_eq(weft_deadline_pop(saved), 0);
	ck_assert_int_eq(weft_waitgroup_done(&wg), 0);
	/* At 0, a past deadline does not matter: no wait is needed. */
	saved = weft_deadline_push(weft_now() - MS_NS);
	ck_assert_int_eq(weft_waitgroup_wait(&wg), 0);
	ck_assert_int_eq(weft_deadline_pop(saved), 0);
	assert_fails(weft_waitgroup_done(&wg), EINVAL);

	assert_fails(weft_waitgroup_init(NULL), EINVAL);
	assert_fails(weft_waitgroup_add(NULL, 1), EINVAL);
	assert_fails(weft_waitgroup_done(NULL), EINVAL);
	assert_fails(weft_waitgroup_wait(NULL), EINVAL);
}
END_TEST

/* ---- deadline and cancellation of every wait --------------------------- */

enum { K_MUTEX, K_COND, K_SEM, K_WG, KINDS };
enum { M_DEADLINE, M_PAST, M_CANCEL, M_CANCELLED, MODES };

static const char *const kind_names[KINDS] = {
	"mutex_lock", "cond_wait", "sem_wait", "waitgroup_wait"
};
static const char *const mode_names[MODES] = {
	"deadline passes while waiting", "deadline already past",
	"cancelled while waiting", "cancelled before"
};

static struct {
	int kind, mode;
	weft_mutex m;
	weft_cond c;
	weft_sem s;
	weft_waitgroup wg;
	int parked;
	int rc, err, unlock_rc, unlock_err;
	int64_t start, deadline, end;
} g_dm;

static int dm_wait(void)
{
	switch (g_dm.kind) {
	case K_MUTEX:
		return weft_mutex_lock(&g_dm.m);
	case K_COND:
		return weft_cond_wait(&g_dm.c, &g_dm.m);
	case K_SEM:
		return weft_sem_wait(&g_dm.s);
	default:
		return weft_waitgroup_wait(&g_dm.wg);
	}
}

static void *dm_waiter_fn(void *arg)
{
	int64_t saved;

	(void)arg;
	if (g_dm.kind == K_COND)
		TASK_CHECK(weft_mutex_lock(&g_dm.m) == 0);
	if (g_dm.mode == M_CANCELLED)
		TASK_CHECK(weft_cancel(weft_self()) == 0);
	if (g_dm.mode == M_DEADLINE)
		g_dm.deadline = weft_now() + 100 * MS_NS;
	else if (g_dm.mode == M_PAST)
		g_dm.deadline = weft_now() - MS_NS;
	else
		g_dm.deadline = weft_now() + GUARD_NS;
	saved = weft_deadline_push(g_dm.deadline);
	g_dm.parked = 1;
	g_dm.start = weft_now();
	errno = 0;
	g_dm.rc = dm_wait();
	g_dm.err = errno;
	g_dm.end = weft_now();
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	/* A failed cond_wait still holds the mutex; a failed lock does not. */
	if (g_dm.kind == K_MUTEX || g_dm.kind == K_COND) {
		errno = 0;
		g_dm.unlock_rc = weft_mutex_unlock(&g_dm.m);
		g_dm.unlock_err = errno;
	}
	return NULL;
}

static void *dm_control_fn(void *arg)
{
	weft_task *w;
	int v = -1;

	(void)arg;
	if (g_dm.kind == K_MUTEX)
		TASK_CHECK(weft_mutex_lock(&g_dm.m) == 0);
	if (g_dm.kind == K_WG)
		TASK_CHECK(weft_waitgroup_add(&g_dm.wg, 1) == 0);
	w = weft_spawn(dm_waiter_fn, NULL);
	TASK_CHECK(w != NULL);
	if (w == NULL)
		return NULL;
	if (g_dm.mode == M_CANCEL) {
		TASK_CHECK(yield_until(&g_dm.parked, 10));
		TASK_CHECK(weft_yield() == 0);
		TASK_CHECK(g_dm.end == 0);      /* still waiting */
		TASK_CHECK(weft_cancel(w) == 0);
	}
	TASK_CHECK(guarded_join(w, NULL) == 0);

	/* The wait did not happen, and the object still works. */
	switch (g_dm.kind) {
	case K_MUTEX:
		/* Still ours, not handed to the waiter that gave up. */
		TASK_CHECK(weft_mutex_unlock(&g_dm.m) == 0);
		TASK_CHECK(weft_mutex_trylock(&g_dm.m) == 0);
		TASK_CHECK(weft_mutex_unlock(&g_dm.m) == 0);
		TASK_CHECK(weft_mutex_destroy(&g_dm.m) == 0);
		break;
	case K_COND:
		TASK_CHECK(weft_mutex_trylock(&g_dm.m) == 0);
		TASK_CHECK(weft_mutex_unlock(&g_dm.m) == 0);
		/* No waiter left queued. */
		TASK_CHECK(weft_cond_destroy(&g_dm.c) == 0);
		TASK_CHECK(weft_mutex_destroy(&g_dm.m) == 0);
		break;
	case K_SEM:
		TASK_CHECK(weft_sem_getvalue(&g_dm.s, &v) == 0 && v == 0);
		TASK_CHECK(weft_sem_post(&g_dm.s) == 0);
		/* The unit was not taken by the waiter that gave up. */
		TASK_CHECK(weft_sem_getvalue(&g_dm.s, &v) == 0 && v == 1);
		TASK_CHECK(weft_sem_destroy(&g_dm.s) == 0);
		break;
	default:
		TASK_CHECK(weft_waitgroup_done(&g_dm.wg) == 0);
		TASK_CHECK(weft_waitgroup_wait(&g_dm.wg) == 0);
		break;
	}
	return NULL;
}

START_TEST(wait_deadline_and_cancel)
{
	int kind = _i / MODES, mode = _i % MODES;
	int want = (mode == M_DEADLINE || mode == M_PAST) ? ETIMEDOUT : ECANCELED;
	int64_t sf = slow_factor();

	task_checks_reset();
	memset(&g_dm, 0, sizeof(g_dm));
	g_dm.kind = kind;
	g_dm.mode = mode;
	g_dm.rc = 12345;
	ck_assert_int_eq(weft_mutex_init(&g_dm.m), 0);
	ck_assert_int_eq(weft_cond_init(&g_dm.c), 0);
	ck_assert_int_eq(weft_sem_init(&g_dm.s, 0), 0);
	ck_assert_int_eq(weft_waitgroup_init(&g_dm.wg), 0);
	run_task(dm_control_fn, NULL);
	assert_task_checks_passed();
	ck_assert_msg(g_dm.rc == -1 && g_dm.err == want,
	    "%s, %s: %d errno %d (%s), expected %s", kind_names[kind],
	    mode_names[mode], g_dm.rc, g_dm.err, strerror(g_dm.err),
	    strerror(want));
	if (mode == M_DEADLINE) {
		ck_assert_msg(g_dm.end >= g_dm.deadline,
		    "%s returned %lld ns before its deadline", kind_names[kind],
		    (long long)(g_dm.deadline - g_dm.end));
		ck_assert_int_lt(g_dm.end - g_dm.start, 5000 * MS_NS * sf);
	} else {
		ck_assert_int_lt(g_dm.end - g_dm.start, 2000 * MS_NS * sf);
	}
	if (kind == K_MUTEX)
		ck_assert_msg(g_dm.unlock_rc == -1 && g_dm.unlock_err == EPERM,
		    "%s, %s: the waiter holds the mutex (unlock %d errno %d)",
		    kind_names[kind], mode_names[mode], g_dm.unlock_rc,
		    g_dm.unlock_err);
	if (kind == K_COND)
		ck_assert_msg(g_dm.unlock_rc == 0,
		    "%s, %s: returned without the mutex (unlock errno %d)",
		    kind_names[kind], mode_names[mode], g_dm.unlock_err);
}
END_TEST

/*
 * Hand-off, then cancellation before the waiter runs again: the unit or the
 * mutex is neither lost nor duplicated.  Either the waiter got it (0) or it
 * failed and the unit is still counted / the mutex is free.
 */
static struct {
	int sem;                /* 1: semaphore, 0: mutex */
	weft_mutex m;
	weft_sem s;
	int parked, rc, err, held;
} g_hc;

static void *hc_waiter_fn(void *arg)
{
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);

	(void)arg;
	g_hc.parked = 1;
	errno = 0;
	g_hc.rc = g_hc.sem ? weft_sem_wait(&g_hc.s) : weft_mutex_lock(&g_hc.m);
	g_hc.err = errno;
	weft_deadline_pop(saved);
	if (!g_hc.sem && g_hc.rc == 0) {
		g_hc.held = 1;
		TASK_CHECK(weft_mutex_unlock(&g_hc.m) == 0);
	}
	return NULL;
}

static void *hc_control_fn(void *arg)
{
	weft_task *w;
	int v = -1;

	(void)arg;
	if (!g_hc.sem)
		TASK_CHECK(weft_mutex_lock(&g_hc.m) == 0);
	w = weft_spawn(hc_waiter_fn, NULL);
	TASK_CHECK(w != NULL);
	if (w == NULL)
		return NULL;
	yield_n(2);
	TASK_CHECK(g_hc.parked);
	if (g_hc.sem)
		TASK_CHECK(weft_sem_post(&g_hc.s) == 0);
	else
		TASK_CHECK(weft_mutex_unlock(&g_hc.m) == 0);
	TASK_CHECK(weft_cancel(w) == 0);
	TASK_CHECK(guarded_join(w, NULL) == 0);
	TASK_CHECK(g_hc.rc == 0 || (g_hc.rc == -1 && g_hc.err == ECANCELED));
	if (g_hc.sem) {
		TASK_CHECK(weft_sem_getvalue(&g_hc.s, &v) == 0);
		TASK_CHECK(v == (g_hc.rc == 0 ? 0 : 1));
	} else {
		TASK_CHECK(g_hc.held == (g_hc.rc == 0));
		/* Free either way, not kept by the waiter that gave up. */
		TASK_CHECK(weft_mutex_trylock(&g_hc.m) == 0);
		TASK_CHECK(weft_mutex_unlock(&g_hc.m) == 0);
	}
	return NULL;
}

START_TEST(handoff_then_cancel)
{
	task_checks_reset();
	memset(&g_hc, 0, sizeof(g_hc));
	g_hc.sem = _i;
	g_hc.rc = 12345;
	ck_assert_int_eq(weft_mutex_init(&g_hc.m), 0);
	ck_assert_int_eq(weft_sem_init(&g_hc.s, 0), 0);
	run_task(hc_control_fn, NULL);
	assert_task_checks_passed();
}
END_TEST

/* A call that needs no wait completes past the deadline or cancelled. */
static void *no_wait_needed_fn(void *arg)
{
	weft_mutex m = WEFT_MUTEX_INITIALIZER;
	weft_sem s;
	weft_waitgroup wg = WEFT_WAITGROUP_INITIALIZER;
	weft_cond c = WEFT_COND_INITIALIZER;
	int64_t saved;
	int round;

	(void)arg;
	TASK_CHECK(weft_sem_init(&s, 2) == 0);
	saved = weft_deadline_push(weft_now() - MS_NS);
	for (round = 0; round < 2; round++) {
		TASK_CHECK(weft_mutex_lock(&m) == 0);
		/* cond_wait always waits. */
		TASK_CHECK_FAILS(weft_cond_wait(&c, &m),
		    round == 0 ? ETIMEDOUT : ECANCELED);
		TASK_CHECK(weft_mutex_unlock(&m) == 0);
		TASK_CHECK(weft_sem_wait(&s) == 0);
		TASK_CHECK(weft_waitgroup_wait(&wg) == 0);
		/* Second round: cancelled as well (cancellation wins). */
		TASK_CHECK(weft_cancel(weft_self()) == 0);
	}
	TASK_CHECK_FAILS(weft_sem_wait(&s), ECANCELED);
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	return U2P(1);
}

START_TEST(no_wait_needed_succeeds)
{
	task_checks_reset();
	ck_assert_uint_eq(P2U(run_task(no_wait_needed_fn, NULL)), 1);
	assert_task_checks_passed();
}
END_TEST

/* From main: main's deadline bounds its waits; main's waits run tasks. */
static struct {
	weft_mutex m;
	weft_sem locked, s;
	int sleep_rc, sleep_err;
} g_mw;

static void *mw_holder_fn(void *arg)
{
	(void)arg;
	TASK_CHECK(weft_mutex_lock(&g_mw.m) == 0);
	TASK_CHECK(weft_sem_post(&g_mw.locked) == 0);
	errno = 0;
	g_mw.sleep_rc = weft_sleep(GUARD_NS / MS_NS);
	g_mw.sleep_err = errno;
	TASK_CHECK(weft_mutex_unlock(&g_mw.m) == 0);
	return NULL;
}

static void *mw_poster_fn(void *arg)
{
	(void)arg;
	TASK_CHECK(weft_sleep(20) == 0);
	TASK_CHECK(weft_sem_post(&g_mw.s) == 0);
	return NULL;
}

START_TEST(main_waits)
{
	weft_cond c = WEFT_COND_INITIALIZER;
	weft_waitgroup wg = WEFT_WAITGROUP_INITIALIZER;
	weft_task *h, *p;
	int64_t saved, t0, dl;

	task_checks_reset();
	memset(&g_mw, 0, sizeof(g_mw));
	/* Main parks in sem_wait and the task that posts runs meanwhile. */
	p = weft_spawn(mw_poster_fn, NULL);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(weft_sem_wait(&g_mw.s), 0);
	ck_assert_int_eq(weft_join(p, NULL), 0);

	h = weft_spawn(mw_holder_fn, NULL);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(weft_sem_wait(&g_mw.locked), 0);

	t0 = weft_now();
	dl = t0 + 100 * MS_NS;
	saved = weft_deadline_push(dl);
	assert_fails(weft_mutex_lock(&g_mw.m), ETIMEDOUT);
	assert_fails(weft_sem_wait(&g_mw.s), ETIMEDOUT);
	ck_assert_int_eq(weft_waitgroup_add(&wg, 1), 0);
	assert_fails(weft_waitgroup_wait(&wg), ETIMEDOUT);
	ck_assert_int_ge(weft_now(), dl);
	ck_assert_int_eq(weft_deadline_pop(saved), 0);
	ck_assert_int_lt(weft_now() - t0, 5000 * MS_NS * slow_factor());

	/* cond_wait from main, timed out, returns holding its mutex. */
	{
		weft_mutex m2 = WEFT_MUTEX_INITIALIZER;

		ck_assert_int_eq(weft_mutex_lock(&m2), 0);
		saved = weft_deadline_push(weft_now() + 30 * MS_NS);
		assert_fails(weft_cond_wait(&c, &m2), ETIMEDOUT);
		ck_assert_int_eq(weft_deadline_pop(saved), 0);
		ck_assert_int_eq(weft_mutex_unlock(&m2), 0);
	}

	/* The holder still holds it; end its sleep. */
	assert_fails(weft_mutex_trylock(&g_mw.m), EBUSY);
	ck_assert_int_eq(weft_cancel(h), 0);
	ck_assert_int_eq(weft_mutex_lock(&g_mw.m), 0);
	ck_assert_int_eq(weft_mutex_unlock(&g_mw.m), 0);
	ck_assert_int_eq(weft_join(h, NULL), 0);
	ck_assert_int_eq(g_mw.sleep_rc, -1);
	ck_assert_int_eq(g_mw.sleep_err, ECANCELED);
	ck_assert_int_eq(weft_waitgroup_done(&wg), 0);
	assert_task_checks_passed();
}
END_TEST

/* ---- between OS threads ------------------------------------------------ */

enum { XM_THREADS = 2, XM_TASKS = 10 };

static struct {
	weft_mutex m;
	long counter;
	atomic_int inside, overlaps;
	int per_task;
	pthread_barrier_t go;
} g_xm;

struct xm_thread {
	int errors, run_rc;
};

static void *xm_task_fn(void *arg)
{
	struct xm_thread *x = arg;
	int i;

	for (i = 0; i < g_xm.per_task; i++) {
		long v;

		if (weft_mutex_lock(&g_xm.m) != 0) {
			x->errors++;
			continue;
		}
		if (atomic_exchange(&g_xm.inside, 1) != 0)
			atomic_fetch_add(&g_xm.overlaps, 1);
		v = g_xm.counter;
		if (i % 2 == 0 && weft_yield() != 0)
			x->errors++;
		g_xm.counter = v + 1;
		atomic_store(&g_xm.inside, 0);
		if (weft_mutex_unlock(&g_xm.m) != 0)
			x->errors++;
	}
	return NULL;
}

static void *xm_thread_fn(void *arg)
{
	struct xm_thread *x = arg;
	weft_task *t[XM_TASKS];
	int i;

	pthread_barrier_wait(&g_xm.go);
	for (i = 0; i < XM_TASKS; i++)
		if ((t[i] = weft_spawn(xm_task_fn, x)) == NULL)
			x->errors++;
	for (i = 0; i < XM_TASKS; i++)
		if (t[i] != NULL && weft_join(t[i], NULL) != 0)
			x->errors++;
	x->run_rc = weft_run();
	return NULL;
}

START_TEST(cross_thread_mutex)
{
	static struct xm_thread x[XM_THREADS];
	pthread_t th[XM_THREADS];
	long total;
	int k;

	memset(x, 0, sizeof(x));
	memset(&g_xm, 0, sizeof(g_xm));
	ck_assert_int_eq(weft_mutex_init(&g_xm.m), 0);
	g_xm.per_task = under_valgrind() ? 1000 : 5000;
	total = (long)XM_THREADS * XM_TASKS * g_xm.per_task;
	ck_assert_int_eq(pthread_barrier_init(&g_xm.go, NULL, XM_THREADS), 0);
	for (k = 0; k < XM_THREADS; k++)
		ck_assert_int_eq(pthread_create(&th[k], NULL, xm_thread_fn, &x[k]), 0);
	for (k = 0; k < XM_THREADS; k++)
		ck_assert_int_eq(pthread_join(th[k], NULL), 0);
	pthread_barrier_destroy(&g_xm.go);
	for (k = 0; k < XM_THREADS; k++) {
		ck_assert_int_eq(x[k].errors, 0);
		ck_assert_int_eq(x[k].run_rc, 0);
	}
	ck_assert_int_eq(atomic_load(&g_xm.overlaps), 0);
	ck_assert_int_eq(g_xm.counter, total);
	ck_assert_int_eq(weft_mutex_destroy(&g_xm.m), 0);
}
END_TEST

/*
 * A semaphore posted on one thread wakes a task parked on another: first
 * posted by the test's thread (no task), then ping-pong between tasks of
 * two threads.
 */
static struct {
	weft_sem s, ping, pong;
	atomic_int parked;
	int rc, err, value_after;
	int rounds, a_done, b_done;
} g_xs;

static void *xs_waiter_fn(void *arg)
{
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);

	(void)arg;
	errno = 0;
	g_xs.rc = weft_sem_wait(&g_xs.s);
	g_xs.err = errno;
	weft_deadline_pop(saved);
	XCHECK(weft_sem_getvalue(&g_xs.s, &g_xs.value_after) == 0);
	return NULL;
}

/* Runs after the waiter parked (FIFO run queue). */
static void *xs_mark_fn(void *arg)
{
	(void)arg;
	atomic_store(&g_xs.parked, 1);
	return NULL;
}

static void *xs_b_thread(void *arg)
{
	weft_task *w = weft_spawn(xs_waiter_fn, NULL);
	weft_task *k = weft_spawn(xs_mark_fn, NULL);

	(void)arg;
	XCHECK(w != NULL && k != NULL);
	XCHECK(weft_join(k, NULL) == 0);
	XCHECK(weft_join(w, NULL) == 0);
	return NULL;
}

static void *ping_fn(void *arg)
{
	int64_t saved = weft_deadline_push(weft_now() + 4 * GUARD_NS);
	int i;

	(void)arg;
	for (i = 0; i < g_xs.rounds; i++) {
		if (weft_sem_post(&g_xs.ping) != 0 || weft_sem_wait(&g_xs.pong) != 0)
			break;
		g_xs.a_done++;
	}
	weft_deadline_pop(saved);
	return NULL;
}

static void *pong_fn(void *arg)
{
	int64_t saved = weft_deadline_push(weft_now() + 4 * GUARD_NS);
	int i;

	(void)arg;
	for (i = 0; i < g_xs.rounds; i++) {
		if (weft_sem_wait(&g_xs.ping) != 0 || weft_sem_post(&g_xs.pong) != 0)
			break;
		g_xs.b_done++;
	}
	weft_deadline_pop(saved);
	return NULL;
}

/* A thread that runs one task: ping_fn (arg NULL) or pong_fn. */
static void *run_one_task_thread(void *arg)
{
	weft_task *t = weft_spawn(arg == NULL ? ping_fn : pong_fn, NULL);

	XCHECK(t != NULL);
	XCHECK(t == NULL || weft_join(t, NULL) == 0);
	return NULL;
}

START_TEST(cross_thread_sem)
{
	pthread_t a, b;
	int i, v = -1;

	atomic_store(&g_xfail_line, 0);
	memset(&g_xs, 0, sizeof(g_xs));
	g_xs.rc = 12345;
	ck_assert_int_eq(pthread_create(&b, NULL, xs_b_thread, NULL), 0);
	for (i = 0; i < 10000 && !atomic_load(&g_xs.parked); i++)
		usleep(1000);
	ck_assert_msg(atomic_load(&g_xs.parked), "thread B's tasks did not run");
	usleep(20000);
	ck_assert_int_eq(weft_sem_post(&g_xs.s), 0);
	ck_assert_int_eq(pthread_join(b, NULL), 0);
	assert_xchecks_passed();
	ck_assert_msg(g_xs.rc == 0, "sem_wait on thread B: %d errno %d (%s)",
	    g_xs.rc, g_xs.err, strerror(g_xs.err));
	ck_assert_int_eq(g_xs.value_after, 0);
	ck_assert_int_eq(weft_sem_getvalue(&g_xs.s, &v), 0);
	ck_assert_int_eq(v, 0);

	g_xs.rounds = under_valgrind() ? 2000 : 10000;
	ck_assert_int_eq(pthread_create(&a, NULL, run_one_task_thread, NULL), 0);
	ck_assert_int_eq(pthread_create(&b, NULL, run_one_task_thread, U2P(1)), 0);
	ck_assert_int_eq(pthread_join(a, NULL), 0);
	ck_assert_int_eq(pthread_join(b, NULL), 0);
	assert_xchecks_passed();
	ck_assert_int_eq(g_xs.a_done, g_xs.rounds);
	ck_assert_int_eq(g_xs.b_done, g_xs.rounds);
	ck_assert_int_eq(weft_sem_getvalue(&g_xs.ping, &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(weft_sem_getvalue(&g_xs.pong, &v), 0);
	ck_assert_int_eq(v, 0);
}
END_TEST

/*
 * Main waits on a wait group and on a mutex whose other users are tasks
 * of another thread; a condition signalled from one thread wakes a task of
 * another; a mutex held on one thread cannot be unlocked from another.
 */
enum { XW_TASKS = 10 };

static struct {
	weft_waitgroup wg;
	atomic_int finished;
	weft_mutex m;
	weft_cond c;
	int flag, waiting;
	int cond_rc, saw_flag;
	pthread_barrier_t b1, b2;
	weft_mutex held;
} g_xw;

static void *xw_worker_fn(void *arg)
{
	XCHECK(weft_sleep((int64_t)(P2U(arg) % 4) * 5) == 0);
	atomic_fetch_add(&g_xw.finished, 1);
	XCHECK(weft_waitgroup_done(&g_xw.wg) == 0);
	return NULL;
}

static void *xw_cond_fn(void *arg)
{
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);

	(void)arg;
	XCHECK(weft_mutex_lock(&g_xw.m) == 0);
	g_xw.waiting = 1;
	g_xw.cond_rc = 0;
	while (!g_xw.flag)
		if ((g_xw.cond_rc = weft_cond_wait(&g_xw.c, &g_xw.m)) != 0)
			break;
	g_xw.saw_flag = g_xw.flag;
	XCHECK(weft_mutex_unlock(&g_xw.m) == 0);
	weft_deadline_pop(saved);
	return NULL;
}

static void *xw_thread(void *arg)
{
	weft_task *t[XW_TASKS + 1];
	int i;

	(void)arg;
	for (i = 0; i < XW_TASKS; i++)
		XCHECK((t[i] = weft_spawn(xw_worker_fn, U2P(i))) != NULL);
	XCHECK((t[XW_TASKS] = weft_spawn(xw_cond_fn, NULL)) != NULL);
	for (i = 0; i <= XW_TASKS; i++)
		XCHECK(t[i] == NULL || weft_join(t[i], NULL) == 0);
	/* Main of this thread holds a mutex; the other thread cannot unlock it. */
	XCHECK(weft_mutex_lock(&g_xw.held) == 0);
	pthread_barrier_wait(&g_xw.b1);
	pthread_barrier_wait(&g_xw.b2);
	XCHECK(weft_mutex_unlock(&g_xw.held) == 0);
	return NULL;
}

START_TEST(cross_thread_waitgroup_cond)
{
	pthread_t th;
	int waiting = 0, i;

	atomic_store(&g_xfail_line, 0);
	memset(&g_xw, 0, sizeof(g_xw));
	ck_assert_int_eq(pthread_barrier_init(&g_xw.b1, NULL, 2), 0);
	ck_assert_int_eq(pthread_barrier_init(&g_xw.b2, NULL, 2), 0);
	ck_assert_int_eq(weft_waitgroup_add(&g_xw.wg, XW_TASKS), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, xw_thread, NULL), 0);
	/* Main parks with no task of its own: the other thread wakes it. */
	{
		int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);

		ck_assert_int_eq(weft_waitgroup_wait(&g_xw.wg), 0);
		ck_assert_int_eq(weft_deadline_pop(saved), 0);
	}
	ck_assert_int_eq(atomic_load(&g_xw.finished), XW_TASKS);

	/* Wait until the other thread's task waits on the condition. */
	for (i = 0; i < 10000 && !waiting; i++) {
		ck_assert_int_eq(weft_mutex_lock(&g_xw.m), 0);
		waiting = g_xw.waiting;
		if (waiting) {
			g_xw.flag = 1;
			ck_assert_int_eq(weft_cond_signal(&g_xw.c), 0);
		}
		ck_assert_int_eq(weft_mutex_unlock(&g_xw.m), 0);
		if (!waiting)
			usleep(1000);
	}
	ck_assert(waiting);
	pthread_barrier_wait(&g_xw.b1);
	assert_fails(weft_mutex_unlock(&g_xw.held), EPERM);
	assert_fails(weft_mutex_trylock(&g_xw.held), EBUSY);
	pthread_barrier_wait(&g_xw.b2);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	assert_xchecks_passed();
	ck_assert_int_eq(g_xw.cond_rc, 0);
	ck_assert_int_eq(g_xw.saw_flag, 1);
	ck_assert_int_eq(weft_mutex_trylock(&g_xw.held), 0);
	ck_assert_int_eq(weft_mutex_unlock(&g_xw.held), 0);
	pthread_barrier_destroy(&g_xw.b1);
	pthread_barrier_destroy(&g_xw.b2);
}
END_TEST

/*
 * Races between hand-off and timeout across threads: tasks of two threads
 * lock a mutex and wait on a semaphore under tiny deadlines (some already
 * past), while the other side unlocks and posts.  Nothing may be lost or
 * duplicated: exclusion holds, the counter equals the successful locks,
 * the mutex ends free, and posts = successful waits + the final count.
 */
enum { RC_TASKS = 3 };

static struct {
	weft_mutex m;
	weft_sem s;
	long counter;
	atomic_int inside, overlaps;
	int iters;
	pthread_barrier_t go;
} g_rc;

struct rc_side {
	long locked, timeouts, posted, taken, errors;
	int poster;
};

static void *rc_task_fn(void *arg)
{
	struct rc_side *x = arg;
	int i;

	for (i = 0; i < g_rc.iters; i++) {
		int64_t saved = weft_deadline_push(weft_now() + (i % 4) * 50000);
		int rc = weft_mutex_lock(&g_rc.m);
		int err = errno;

		if (rc == 0) {
			if (atomic_exchange(&g_rc.inside, 1) != 0)
				atomic_fetch_add(&g_rc.overlaps, 1);
			g_rc.counter++;
			if (i % 8 == 0 && weft_yield() != 0)
				x->errors++;
			if (i % 3 == 0) {
				/* Hold it a little while, so waiters time out. */
				int64_t until = weft_now() + 40000;

				while (weft_now() < until)
					;
			}
			atomic_store(&g_rc.inside, 0);
			if (weft_mutex_unlock(&g_rc.m) != 0)
				x->errors++;
			x->locked++;
		} else if (err == ETIMEDOUT) {
			x->timeouts++;
		} else {
			x->errors++;
		}
		if (x->poster) {
			if (weft_sem_post(&g_rc.s) == 0)
				x->posted++;
			else
				x->errors++;
		} else {
			rc = weft_sem_wait(&g_rc.s);
			err = errno;
			if (rc == 0)
				x->taken++;
			else if (err != ETIMEDOUT)
				x->errors++;
		}
		weft_deadline_pop(saved);
	}
	return NULL;
}

static void *rc_thread_fn(void *arg)
{
	struct rc_side *x = arg;
	weft_task *t[RC_TASKS];
	int i;

	pthread_barrier_wait(&g_rc.go);
	for (i = 0; i < RC_TASKS; i++)
		if ((t[i] = weft_spawn(rc_task_fn, x)) == NULL)
			x->errors++;
	for (i = 0; i < RC_TASKS; i++)
		if (t[i] != NULL && weft_join(t[i], NULL) != 0)
			x->errors++;
	return NULL;
}

START_TEST(cross_thread_timeout_races)
{
	static struct rc_side side[2];
	pthread_t th[2];
	int k, v = -1;

	memset(side, 0, sizeof(side));
	memset(&g_rc, 0, sizeof(g_rc));
	g_rc.iters = under_valgrind() ? 2000 : 20000;
	side[0].poster = 1;
	ck_assert_int_eq(pthread_barrier_init(&g_rc.go, NULL, 2), 0);
	for (k = 0; k < 2; k++)
		ck_assert_int_eq(pthread_create(&th[k], NULL, rc_thread_fn, &side[k]), 0);
	for (k = 0; k < 2; k++)
		ck_assert_int_eq(pthread_join(th[k], NULL), 0);
	pthread_barrier_destroy(&g_rc.go);
	for (k = 0; k < 2; k++)
		ck_assert_int_eq(side[k].errors, 0);
	ck_assert_int_eq(atomic_load(&g_rc.overlaps), 0);
	ck_assert_int_eq(g_rc.counter, side[0].locked + side[1].locked);
	ck_assert_int_eq(side[0].locked + side[0].timeouts, (long)RC_TASKS * g_rc.iters);
	ck_assert_int_eq(side[1].locked + side[1].timeouts, (long)RC_TASKS * g_rc.iters);
	/* Free: no timed-out waiter was left holding it. */
	ck_assert_int_eq(weft_mutex_trylock(&g_rc.m), 0);
	ck_assert_int_eq(weft_mutex_unlock(&g_rc.m), 0);
	ck_assert_int_eq(weft_mutex_destroy(&g_rc.m), 0);
	ck_assert_int_eq(weft_sem_getvalue(&g_rc.s, &v), 0);
	ck_assert_int_eq(side[0].posted, (long)RC_TASKS * g_rc.iters);
	ck_assert_int_eq(side[1].taken + v, side[0].posted);
	printf("cross_thread_timeout_races: %ld + %ld locks, %ld + %ld timeouts, "
	    "%ld units taken, %d left\n", side[0].locked, side[1].locked,
	    side[0].timeouts, side[1].timeouts, side[1].taken, v);
}
END_TEST

/* ---- readers-writer lock ---------------------------------------------------------------- */

static weft_rwlock g_rw = WEFT_RWLOCK_INITIALIZER;
static struct {
	int readers, writers, max_readers, violations;
	char order[8];
	int norder;
	int a_holds, w_queued, b_queued, a_release;
	int w_err, b_got_while_a_holds;
} g_rws;

static void *rw_reader(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 50; i++) {
		TASK_CHECK(weft_rwlock_rdlock(&g_rw) == 0);
		g_rws.readers++;
		if (g_rws.readers > g_rws.max_readers)
			g_rws.max_readers = g_rws.readers;
		g_rws.violations += g_rws.writers != 0;
		yield_n(2);
		g_rws.readers--;
		TASK_CHECK(weft_rwlock_unlock(&g_rw) == 0);
	}
	return NULL;
}

static void *rw_writer(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 20; i++) {
		TASK_CHECK(weft_rwlock_wrlock(&g_rw) == 0);
		g_rws.violations += g_rws.readers != 0 || g_rws.writers != 0;
		g_rws.writers++;
		yield_n(2);
		g_rws.writers--;
		TASK_CHECK(weft_rwlock_unlock(&g_rw) == 0);
		yield_n(1);
	}
	return NULL;
}

START_TEST(rwlock_readers_share_writers_exclude)
{
	weft_task *t[6];
	int i;

	memset(&g_rws, 0, sizeof(g_rws));
	task_checks_reset();
	for (i = 0; i < 6; i++)
		ck_assert_ptr_nonnull(t[i] = weft_spawn(i < 4 ? rw_reader : rw_writer, NULL));
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
	assert_task_checks_passed();
	ck_assert_int_eq(g_rws.violations, 0);
	ck_assert_int_ge(g_rws.max_readers, 2);
	ck_assert_int_eq(weft_rwlock_destroy(&g_rw), 0);
	ck_assert_int_eq(weft_rwlock_init(&g_rw), 0);
}
END_TEST

/* A holds it to read; W asks to write; B asks to read after W: B must
 * wait behind W, and W gets it when A lets go. */
static void *rw_a(void *arg)
{
	(void)arg;
	TASK_CHECK(weft_rwlock_rdlock(&g_rw) == 0);
	g_rws.a_holds = 1;
	while (!g_rws.a_release)
		yield_n(1);
	TASK_CHECK(weft_rwlock_unlock(&g_rw) == 0);
	return NULL;
}

static void *rw_w(void *arg)
{
	int64_t saved = 0, deadline_ms = (int64_t)P2U(arg);

	while (!g_rws.a_holds)
		yield_n(1);
	if (deadline_ms)
		saved = weft_deadline_push(weft_now() + deadline_ms * MS_NS);
	g_rws.w_queued = 1;
	g_rws.w_err = weft_rwlock_wrlock(&g_rw) == 0 ? 0 : errno;
	if (deadline_ms)
		weft_deadline_pop(saved);
	if (g_rws.w_err)
		return NULL;
	g_rws.order[g_rws.norder++] = 'W';
	TASK_CHECK(weft_rwlock_unlock(&g_rw) == 0);
	return NULL;
}

static void *rw_b(void *arg)
{
	(void)arg;
	while (!g_rws.w_queued)
		yield_n(1);
	yield_n(2);                        /* W is parked in wrlock */
	TASK_CHECK_FAILS(weft_rwlock_tryrdlock(&g_rw), EBUSY);
	g_rws.b_queued = 1;
	TASK_CHECK(weft_rwlock_rdlock(&g_rw) == 0);
	g_rws.b_got_while_a_holds = !g_rws.a_release;
	g_rws.order[g_rws.norder++] = 'B';
	TASK_CHECK(weft_rwlock_unlock(&g_rw) == 0);
	return NULL;
}

static void *rw_release_a(void *arg)
{
	(void)arg;
	while (!g_rws.b_queued)
		yield_n(1);
	yield_n(3);
	TASK_CHECK(g_rws.norder == 0);     /* both still wait */
	g_rws.a_release = 1;
	return NULL;
}

/* A, W (with a deadline of w_deadline_ms, 0: none), B and the task
 * that lets A go, all joined. */
static void run_rw_scene(uintptr_t w_deadline_ms, void *(*release)(void *))
{
	void *(*fn[4])(void *) = { rw_a, rw_w, rw_b, release };
	weft_task *t[4];
	int i;

	memset(&g_rws, 0, sizeof(g_rws));
	task_checks_reset();
	for (i = 0; i < 4; i++)
		ck_assert_ptr_nonnull(t[i] = weft_spawn(fn[i],
		    i == 1 ? U2P(w_deadline_ms) : NULL));
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
	assert_task_checks_passed();
}

START_TEST(rwlock_waiting_writer_goes_first)
{
	run_rw_scene(0, rw_release_a);
	ck_assert_int_eq(g_rws.w_err, 0);
	ck_assert_str_eq(g_rws.order, "WB");
}
END_TEST

/* The writer gives up (deadline): the reader queued behind it gets in
 * beside A at once. */
static void *rw_release_a_later(void *arg)
{
	(void)arg;
	while (!g_rws.norder)
		TASK_CHECK(weft_sleep(1) == 0);
	g_rws.a_release = 1;
	return NULL;
}

START_TEST(rwlock_writer_deadline_lets_readers_in)
{
	run_rw_scene(30, rw_release_a_later);
	ck_assert_int_eq(g_rws.w_err, ETIMEDOUT);
	ck_assert_str_eq(g_rws.order, "B");
	ck_assert_int_eq(g_rws.b_got_while_a_holds, 1);
}
END_TEST

START_TEST(rwlock_errors)
{
	weft_rwlock l = WEFT_RWLOCK_INITIALIZER;

	assert_fails(weft_rwlock_init(NULL), EINVAL);
	assert_fails(weft_rwlock_rdlock(NULL), EINVAL);
	assert_fails(weft_rwlock_unlock(&l), EPERM);
	ck_assert_int_eq(weft_rwlock_wrlock(&l), 0);
	assert_fails(weft_rwlock_wrlock(&l), EDEADLK);
	assert_fails(weft_rwlock_rdlock(&l), EDEADLK);
	assert_fails(weft_rwlock_destroy(&l), EBUSY);
	ck_assert_int_eq(weft_rwlock_unlock(&l), 0);
	ck_assert_int_eq(weft_rwlock_tryrdlock(&l), 0);
	ck_assert_int_eq(weft_rwlock_tryrdlock(&l), 0);
	assert_fails(weft_rwlock_trywrlock(&l), EBUSY);
	ck_assert_int_eq(weft_rwlock_unlock(&l), 0);
	ck_assert_int_eq(weft_rwlock_unlock(&l), 0);
	ck_assert_int_eq(weft_rwlock_trywrlock(&l), 0);
	ck_assert_int_eq(weft_rwlock_unlock(&l), 0);
	ck_assert_int_eq(weft_rwlock_destroy(&l), 0);
	assert_fails(weft_rwlock_rdlock(&l), EINVAL);
	assert_fails(weft_rwlock_destroy(&l), EINVAL);
}
END_TEST

/* Another thread's task holds it to write; ours waits to read. */
static atomic_int g_rw_held;

static void *rw_holder_task(void *arg)
{
	(void)arg;
	XCHECK(weft_rwlock_wrlock(&g_rw) == 0);
	atomic_store(&g_rw_held, 1);
	XCHECK(weft_sleep(20) == 0);
	XCHECK(weft_rwlock_unlock(&g_rw) == 0);
	return NULL;
}

static void *rw_holder_thread(void *arg)
{
	weft_task *t = weft_spawn(rw_holder_task, arg);

	XCHECK(t != NULL);
	if (t)
		XCHECK(weft_join(t, NULL) == 0);
	return NULL;
}

static void *rw_cross_reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&g_rw_held))
		TASK_CHECK(weft_sleep(1) == 0);
	TASK_CHECK(weft_rwlock_rdlock(&g_rw) == 0);
	TASK_CHECK(weft_rwlock_unlock(&g_rw) == 0);
	return NULL;
}

START_TEST(rwlock_across_threads)
{
	pthread_t th;

	atomic_store(&g_rw_held, 0);
	ck_assert_int_eq(weft_rwlock_init(&g_rw), 0);
	task_checks_reset();
	ck_assert_int_eq(pthread_create(&th, NULL, rw_holder_thread, NULL), 0);
	run_task(rw_cross_reader, NULL);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	assert_task_checks_passed();
	assert_xchecks_passed();
	ck_assert_int_eq(weft_rwlock_destroy(&g_rw), 0);
	ck_assert_int_eq(weft_rwlock_init(&g_rw), 0);
}
END_TEST

static Suite *sync_suite(void)
{
	Suite *s = suite_create("sync");
	TCase *tc;

	tc = tcase_create("mutex");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, mutex_exclusion);
	tcase_add_test(tc, mutex_fifo_from_task);
	tcase_add_test(tc, mutex_fifo_from_main);
	tcase_add_test(tc, mutex_no_starvation);
	tcase_add_test(tc, mutex_errors);
	tcase_add_test(tc, mutex_use_after_destroy);
	tcase_add_test(tc, mutex_holder_is_the_task);
	tcase_add_test(tc, mutex_gave_up_waiters_skipped);
	suite_add_tcase(s, tc);

	tc = tcase_create("cond");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, cond_signal_wakes_one_in_fifo_order);
	tcase_add_test(tc, cond_broadcast_wakes_all);
	tcase_add_test(tc, cond_signal_not_stored);
	tcase_add_test(tc, cond_producer_consumer);
	tcase_add_test(tc, cond_errors);
	tcase_add_loop_test(tc, cond_wait_returns_holding_mutex, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("sem");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sem_limits_concurrency);
	tcase_add_test(tc, sem_fifo_hand_off);
	tcase_add_test(tc, sem_values_and_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("waitgroup");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, waitgroup_waits_for_all);
	tcase_add_test(tc, waitgroup_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("deadline_cancel");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, wait_deadline_and_cancel, 0, KINDS * MODES);
	tcase_add_test(tc, no_wait_needed_succeeds);
	tcase_add_loop_test(tc, handoff_then_cancel, 0, 2);
	tcase_add_test(tc, main_waits);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, cross_thread_mutex);
	tcase_add_test(tc, cross_thread_sem);
	tcase_add_test(tc, cross_thread_waitgroup_cond);
	tcase_add_test(tc, cross_thread_timeout_races);
	tcase_add_test(tc, rwlock_readers_share_writers_exclude);
	tcase_add_test(tc, rwlock_waiting_writer_goes_first);
	tcase_add_test(tc, rwlock_writer_deadline_lets_readers_in);
	tcase_add_test(tc, rwlock_errors);
	tcase_add_test(tc, rwlock_across_threads);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sync_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

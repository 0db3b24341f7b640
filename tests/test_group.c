/*
 * Task groups: wait for all, completion order with weft_group_next,
 * results, failure counting, fail-fast, weft_group_cancel, destroy with
 * live tasks, group tasks refused to weft_join/weft_detach, error paths,
 * and group waits ended by the caller's deadline or cancellation while the
 * tasks go on.
 *
 * Order is shown through program state where it can be; the one
 * completion-order test that uses sleeps spaces them widely.  Waits that a
 * bug could leave hanging run under a long deadline (hang guard).  Each
 * test creates the runtime it uses (Check's fork mode); with CK_FORK=no they
 * share one, so each leaves no task behind.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft.h"
#include "test_util.h"

/* Hang guard: long enough never to fire unless something is lost. */
#define GUARD_NS ((int64_t)30000 * MS_NS)

static weft_group *new_group(int flags)
{
	weft_group *g = weft_group_create(flags);

	ck_assert_msg(g != NULL, "weft_group_create(%d): errno %d", flags, errno);
	return g;
}

/* Group waits under a hang guard. */
static int guarded_wait(weft_group *g)
{
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);
	int rc = weft_group_wait(g);
	int err = errno;

	weft_deadline_pop(saved);
	errno = err;
	return rc;
}

static int guarded_next(weft_group *g, uint64_t *id, void **result)
{
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);
	int rc = weft_group_next(g, id, result);
	int err = errno;

	weft_deadline_pop(saved);
	errno = err;
	return rc;
}

/* Main parks for ms (a timed wait), running the tasks meanwhile. */
static void main_park_ms(int64_t ms)
{
	weft_sem idle;
	int64_t saved;

	ck_assert_int_eq(weft_sem_init(&idle, 0), 0);
	saved = weft_deadline_push(weft_now() + ms * MS_NS);
	assert_fails(weft_sem_wait(&idle), ETIMEDOUT);
	ck_assert_int_eq(weft_deadline_pop(saved), 0);
}

/* ---- wait for all ------------------------------------------------------- */

enum { WA_N = 10 };

static struct {
	int ran[WA_N];
	int sleep_rc[WA_N];
} g_wa;

static void *wa_fn(void *arg)
{
	int i = (int)P2U(arg);

	g_wa.sleep_rc[i] = weft_sleep((i % 3) * 5);
	if (i % 2)
		yield_n(i);
	g_wa.ran[i] = 1;
	return U2P(i + 1);
}

/* Spawns WA_N tasks, waits for them all; returns 1 on success. */
static void *wa_body(void *arg)
{
	weft_group *g = weft_group_create(0);
	weft_task *t;
	uint64_t id;
	void *r;
	int i;

	(void)arg;
	TASK_CHECK(g != NULL);
	if (g == NULL)
		return NULL;
	/* Empty: at once. */
	TASK_CHECK(weft_group_wait(g) == 0);
	TASK_CHECK_FAILS(weft_group_next(g, &id, &r), ECHILD);
	for (i = 0; i < WA_N; i++) {
		t = weft_group_spawn(g, wa_fn, U2P(i));
		TASK_CHECK(t != NULL && weft_task_id(t) != 0);
	}
	TASK_CHECK(guarded_wait(g) == 0);
	for (i = 0; i < WA_N; i++)
		TASK_CHECK(g_wa.ran[i] == 1 && g_wa.sleep_rc[i] == 0);
	/* All reaped: results not taken are dropped. */
	TASK_CHECK_FAILS(weft_group_next(g, &id, &r), ECHILD);
	TASK_CHECK(weft_group_wait(g) == 0);
	TASK_CHECK(weft_group_destroy(g) == 0);
	return U2P(1);
}

START_TEST(group_wait_all)
{
	uint64_t live0 = live_tasks();

	task_checks_reset();
	memset(&g_wa, 0, sizeof(g_wa));
	if (_i == 0) {
		/* From main, which parks and runs the tasks. */
		ck_assert_uint_eq(P2U(wa_body(NULL)), 1);
	} else {
		ck_assert_uint_eq(P2U(run_task(wa_body, NULL)), 1);
	}
	assert_task_checks_passed();
	ck_assert_uint_eq(live_tasks(), live0);
}
END_TEST

/* ---- completion order ---------------------------------------------------- */

static void *sleep_ms_fn(void *arg)
{
	TASK_CHECK(weft_sleep((int64_t)P2U(arg)) == 0);
	return arg;
}

START_TEST(group_next_completion_order_sleeps)
{
	/* Spaced 125 ms apart or more. */
	static const int ms[3] = { 350, 50, 200 };
	weft_group *g = new_group(0);
	uint64_t ids[3], id, live0 = live_tasks();
	weft_task *t;
	void *r;
	int i;

	task_checks_reset();
	for (i = 0; i < 3; i++) {
		t = weft_group_spawn(g, sleep_ms_fn, U2P(ms[i]));
		ck_assert_ptr_nonnull(t);
		ids[i] = weft_task_id(t);
	}
	/* Finishing order: 50, 200, 350 ms = tasks 1, 2, 0. */
	ck_assert_int_eq(guarded_next(g, &id, &r), 0);
	ck_assert_uint_eq(id, ids[1]);
	ck_assert_uint_eq(P2U(r), 50);
	ck_assert_int_eq(guarded_next(g, &id, &r), 0);
	ck_assert_uint_eq(id, ids[2]);
	ck_assert_uint_eq(P2U(r), 200);
	ck_assert_int_eq(guarded_next(g, &id, &r), 0);
	ck_assert_uint_eq(id, ids[0]);
	ck_assert_uint_eq(P2U(r), 350);
	assert_fails(weft_group_next(g, &id, &r), ECHILD);
	ck_assert_uint_eq(live_tasks(), live0);
	ck_assert_int_eq(weft_group_destroy(g), 0);
	assert_task_checks_passed();
}
END_TEST

/* Deterministic: each task waits for its own gate; gates open B, C, A. */
static weft_sem g_gates[3];

static void *gated_fn(void *arg)
{
	int i = (int)P2U(arg);
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);

	TASK_CHECK(weft_sem_wait(&g_gates[i]) == 0);
	weft_deadline_pop(saved);
	return U2P(100 + i);
}

static void *gated_body(void *arg)
{
	static const int open_order[3] = { 1, 2, 0 };
	weft_group *g = weft_group_create(0);
	uint64_t ids[3], id;
	weft_task *t;
	void *r;
	int i;

	(void)arg;
	TASK_CHECK(g != NULL);
	if (g == NULL)
		return NULL;
	for (i = 0; i < 3; i++) {
		TASK_CHECK(weft_sem_init(&g_gates[i], 0) == 0);
		t = weft_group_spawn(g, gated_fn, U2P(i));
		TASK_CHECK(t != NULL);
		ids[i] = weft_task_id(t);
	}
	yield_n(2);
	for (i = 0; i < 3; i++) {
		TASK_CHECK(weft_sem_post(&g_gates[open_order[i]]) == 0);
		yield_n(3);
	}
	/* All three have finished, in the order B, C, A. */
	for (i = 0; i < 3; i++) {
		id = 0;
		r = NULL;
		TASK_CHECK(guarded_next(g, &id, &r) == 0);
		TASK_CHECK(id == ids[open_order[i]]);
		TASK_CHECK(P2U(r) == (uintptr_t)(100 + open_order[i]));
	}
	TASK_CHECK_FAILS(weft_group_next(g, &id, &r), ECHILD);

	/* NULL id and result are fine. */
	t = weft_group_spawn(g, sleep_ms_fn, U2P(1));
	TASK_CHECK(t != NULL);
	TASK_CHECK(guarded_next(g, NULL, NULL) == 0);
	t = weft_group_spawn(g, sleep_ms_fn, U2P(2));
	TASK_CHECK(t != NULL);
	TASK_CHECK(guarded_next(g, &id, NULL) == 0 && id == weft_task_id(t));
	TASK_CHECK_FAILS(weft_group_next(g, NULL, NULL), ECHILD);
	TASK_CHECK(weft_group_destroy(g) == 0);
	return U2P(1);
}

START_TEST(group_next_completion_order_gated)
{
	uint64_t live0 = live_tasks();

	task_checks_reset();
	ck_assert_uint_eq(P2U(run_task(gated_body, NULL)), 1);
	assert_task_checks_passed();
	ck_assert_uint_eq(live_tasks(), live0);
}
END_TEST

/* ---- failures -------------------------------------------------------------- */

enum { FC_N = 10 };

static struct {
	int sleep_rc[FC_N], sleep_err[FC_N];
} g_fc;

/* Tasks 2, 5 and 7 fail, after the others have started sleeping. */
static void *fc_fn(void *arg)
{
	int i = (int)P2U(arg);

	errno = 0;
	g_fc.sleep_rc[i] = weft_sleep(i == 2 || i == 5 || i == 7 ? 5 : 40);
	g_fc.sleep_err[i] = errno;
	if (i == 2 || i == 5 || i == 7)
		return WEFT_TASK_FAILED;
	return U2P(i);
}

START_TEST(group_failure_count)
{
	weft_group *g = new_group(0);
	uint64_t id, failed_id[4], live0 = live_tasks();
	weft_task *t;
	void *r;
	int i, rc;

	task_checks_reset();
	memset(&g_fc, 0, sizeof(g_fc));
	for (i = 0; i < FC_N; i++)
		ck_assert_ptr_nonnull(weft_group_spawn(g, fc_fn, U2P(i)));
	ck_assert_int_eq(guarded_wait(g), 3);
	/* Without fail-fast nobody was cancelled. */
	for (i = 0; i < FC_N; i++)
		ck_assert_msg(g_fc.sleep_rc[i] == 0, "task %d: sleep %d errno %d",
		    i, g_fc.sleep_rc[i], g_fc.sleep_err[i]);

	/* Only failures reaped by this call count: take one with next.
	 * Tasks 2 and 5 fail after 5 ms, tasks 0 and 3 succeed after 40. */
	for (i = 0; i < 4; i++) {
		static const int which[4] = { 2, 5, 0, 3 };

		t = weft_group_spawn(g, fc_fn, U2P(which[i]));
		ck_assert_ptr_nonnull(t);
		failed_id[i] = weft_task_id(t);
	}
	ck_assert_int_eq(guarded_next(g, &id, &r), 0);
	ck_assert_ptr_eq(r, WEFT_TASK_FAILED);
	ck_assert(id == failed_id[0] || id == failed_id[1]);
	rc = guarded_wait(g);
	ck_assert_int_eq(rc, 1);
	ck_assert_int_eq(guarded_wait(g), 0);
	ck_assert_int_eq(weft_group_destroy(g), 0);
	ck_assert_uint_eq(live_tasks(), live0);
	assert_task_checks_passed();
}
END_TEST

/* ---- fail-fast -------------------------------------------------------------- */

enum { FF_SLEEPERS = 5 };

static struct {
	int rc[FF_SLEEPERS + 1], err[FF_SLEEPERS + 1];
	int finished;
} g_ff;

static void *ff_sleeper_fn(void *arg)
{
	int i = (int)P2U(arg);

	errno = 0;
	g_ff.rc[i] = weft_sleep(10000);
	g_ff.err[i] = errno;
	g_ff.finished++;
	return NULL;
}

static void *ff_failer_fn(void *arg)
{
	(void)arg;
	TASK_CHECK(weft_sleep(10) == 0);
	g_ff.finished++;
	return WEFT_TASK_FAILED;
}

START_TEST(group_fail_fast)
{
	weft_group *g = new_group(WEFT_GROUP_FAIL_FAST);
	uint64_t live0 = live_tasks(), id, fid;
	weft_task *t;
	int64_t t0;
	void *r;
	int i, use_next = _i;

	task_checks_reset();
	memset(&g_ff, 0, sizeof(g_ff));
	for (i = 0; i < FF_SLEEPERS; i++)
		ck_assert_ptr_nonnull(weft_group_spawn(g, ff_sleeper_fn, U2P(i)));
	t = weft_group_spawn(g, ff_failer_fn, NULL);
	ck_assert_ptr_nonnull(t);
	fid = weft_task_id(t);
	t0 = weft_now();
	if (use_next) {
		/* The failure finishes first, then the cancelled sleepers. */
		ck_assert_int_eq(guarded_next(g, &id, &r), 0);
		ck_assert_uint_eq(id, fid);
		ck_assert_ptr_eq(r, WEFT_TASK_FAILED);
		for (i = 0; i < FF_SLEEPERS; i++) {
			ck_assert_int_eq(guarded_next(g, &id, &r), 0);
			ck_assert_ptr_null(r);
		}
		assert_fails(weft_group_next(g, &id, &r), ECHILD);
		ck_assert_int_eq(weft_group_wait(g), 0);
	} else {
		ck_assert_int_eq(guarded_wait(g), 1);
	}
	ck_assert_msg(weft_now() - t0 < 5000 * MS_NS * slow_factor(),
	    "fail-fast took %lld ms", (long long)((weft_now() - t0) / MS_NS));
	ck_assert_int_eq(g_ff.finished, FF_SLEEPERS + 1);
	for (i = 0; i < FF_SLEEPERS; i++)
		ck_assert_msg(g_ff.rc[i] == -1 && g_ff.err[i] == ECANCELED,
		    "sleeper %d: %d errno %d (%s)", i, g_ff.rc[i], g_ff.err[i],
		    strerror(g_ff.err[i]));

	/* The group stays cancelled: a new task starts cancelled. */
	g_ff.rc[0] = 12345;
	ck_assert_ptr_nonnull(weft_group_spawn(g, ff_sleeper_fn, U2P(0)));
	t0 = weft_now();
	ck_assert_int_eq(guarded_wait(g), 0);
	ck_assert_int_eq(g_ff.rc[0], -1);
	ck_assert_int_eq(g_ff.err[0], ECANCELED);
	ck_assert_int_lt(weft_now() - t0, 5000 * MS_NS * slow_factor());
	ck_assert_int_eq(weft_group_destroy(g), 0);
	ck_assert_uint_eq(live_tasks(), live0);
	assert_task_checks_passed();
}
END_TEST

/* The failure cancels the others when it happens, not when someone waits. */
START_TEST(group_fail_fast_without_waiting)
{
	weft_group *g = new_group(WEFT_GROUP_FAIL_FAST);
	uint64_t live0 = live_tasks();
	int i;

	task_checks_reset();
	memset(&g_ff, 0, sizeof(g_ff));
	for (i = 0; i < FF_SLEEPERS; i++)
		ck_assert_ptr_nonnull(weft_group_spawn(g, ff_sleeper_fn, U2P(i)));
	ck_assert_ptr_nonnull(weft_group_spawn(g, ff_failer_fn, NULL));
	/* weft_run returns once all finished: the sleepers were cancelled. */
	{
		int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);

		ck_assert_int_eq(weft_run(), 0);
		ck_assert_int_eq(weft_deadline_pop(saved), 0);
	}
	ck_assert_int_eq(g_ff.finished, FF_SLEEPERS + 1);
	for (i = 0; i < FF_SLEEPERS; i++)
		ck_assert_int_eq(g_ff.err[i], ECANCELED);
	ck_assert_int_eq(weft_group_wait(g), 1);
	ck_assert_int_eq(weft_group_destroy(g), 0);
	ck_assert_uint_eq(live_tasks(), live0);
	assert_task_checks_passed();
}
END_TEST

/* Cancelled before they ever ran: they start cancelled. */
START_TEST(group_cancel_before_start)
{
	weft_group *g = new_group(0);
	int i;

	task_checks_reset();
	memset(&g_ff, 0, sizeof(g_ff));
	for (i = 0; i < FF_SLEEPERS; i++)
		ck_assert_ptr_nonnull(weft_group_spawn(g, ff_sleeper_fn, U2P(i)));
	ck_assert_int_eq(weft_group_cancel(g), 0);
	ck_assert_int_eq(g_ff.finished, 0);
	ck_assert_int_eq(guarded_wait(g), 0);
	ck_assert_int_eq(g_ff.finished, FF_SLEEPERS);
	for (i = 0; i < FF_SLEEPERS; i++)
		ck_assert_msg(g_ff.rc[i] == -1 && g_ff.err[i] == ECANCELED,
		    "sleeper %d: %d errno %d", i, g_ff.rc[i], g_ff.err[i]);
	ck_assert_int_eq(weft_group_destroy(g), 0);
	assert_task_checks_passed();
}
END_TEST

/* ---- weft_group_cancel ------------------------------------------------------- */

START_TEST(group_cancel)
{
	weft_group *g = new_group(0);
	uint64_t live0 = live_tasks(), id;
	int64_t t0;
	void *r;
	int i;

	task_checks_reset();
	memset(&g_ff, 0, sizeof(g_ff));
	/* Empty group: fine. */
	ck_assert_int_eq(weft_group_cancel(g), 0);
	ck_assert_int_eq(weft_group_wait(g), 0);
	ck_assert_int_eq(weft_group_destroy(g), 0);

	g = new_group(0);
	/* One finishes before the cancel: its result is still there. */
	ck_assert_ptr_nonnull(weft_group_spawn(g, sleep_ms_fn, U2P(1)));
	ck_assert_int_eq(guarded_next(g, &id, &r), 0);
	ck_assert_uint_eq(P2U(r), 1);
	ck_assert_ptr_nonnull(weft_group_spawn(g, sleep_ms_fn, U2P(0)));
	for (i = 0; i < FF_SLEEPERS; i++)
		ck_assert_ptr_nonnull(weft_group_spawn(g, ff_sleeper_fn, U2P(i)));
	/* Let them start sleeping (the sleep-0 task finishes). */
	{
		int64_t saved = weft_deadline_push(weft_now() + 20 * MS_NS);

		assert_fails(weft_group_wait(g), ETIMEDOUT);
		ck_assert_int_eq(weft_deadline_pop(saved), 0);
	}
	ck_assert_int_eq(g_ff.finished, 0);
	t0 = weft_now();
	ck_assert_int_eq(weft_group_cancel(g), 0);
	ck_assert_int_eq(guarded_next(g, &id, &r), 0);
	ck_assert_uint_eq(P2U(r), 0);      /* the one that had finished */
	ck_assert_int_eq(guarded_wait(g), 0);
	ck_assert_int_lt(weft_now() - t0, 5000 * MS_NS * slow_factor());
	ck_assert_int_eq(g_ff.finished, FF_SLEEPERS);
	for (i = 0; i < FF_SLEEPERS; i++)
		ck_assert_msg(g_ff.rc[i] == -1 && g_ff.err[i] == ECANCELED,
		    "sleeper %d: %d errno %d", i, g_ff.rc[i], g_ff.err[i]);

	/* Spawned into a cancelled group: starts cancelled. */
	g_ff.rc[0] = 12345;
	ck_assert_ptr_nonnull(weft_group_spawn(g, ff_sleeper_fn, U2P(0)));
	ck_assert_int_eq(guarded_wait(g), 0);
	ck_assert_int_eq(g_ff.rc[0], -1);
	ck_assert_int_eq(g_ff.err[0], ECANCELED);
	ck_assert_int_eq(weft_group_cancel(g), 0);
	ck_assert_int_eq(weft_group_destroy(g), 0);
	ck_assert_uint_eq(live_tasks(), live0);
	assert_task_checks_passed();
}
END_TEST

/* ---- destroy with live tasks --------------------------------------------- */

enum { DL_KINDS = 4, DL_EACH = 5 };

static struct {
	weft_chan *ch;
	weft_sem sem;
	int spawned, finished;
	int cancelled_waits;
	int64_t t0, elapsed;
	int destroy_rc;
} g_dl;

/* Blocked in a sleep, a channel recv, a sem wait; or slow to finish. */
static void *dl_fn(void *arg)
{
	int kind = (int)P2U(arg), v, rc;

	errno = 0;
	switch (kind) {
	case 0:
		rc = weft_sleep(10000);
		break;
	case 1:
		rc = weft_chan_recv(g_dl.ch, &v);
		break;
	case 2:
		rc = weft_sem_wait(&g_dl.sem);
		break;
	default:
		rc = weft_sleep(10000);
		/* Takes its time after being cancelled. */
		yield_n(200);
		break;
	}
	if (rc == -1 && errno == ECANCELED)
		g_dl.cancelled_waits++;
	g_dl.finished++;
	return NULL;
}

static void dl_spawn_all(weft_group *g)
{
	int k, i;

	for (k = 0; k < DL_KINDS; k++)
		for (i = 0; i < DL_EACH; i++) {
			TASK_CHECK(weft_group_spawn(g, dl_fn, U2P(k)) != NULL);
			g_dl.spawned++;
		}
}

/* Destroys from a task; with arg set, the task is cancelled and past its
 * deadline: destroy waits all the same. */
static void *dl_destroyer_fn(void *arg)
{
	weft_group *g = weft_group_create(0);
	int64_t saved = 0;

	TASK_CHECK(g != NULL);
	if (g == NULL)
		return NULL;
	dl_spawn_all(g);
	yield_n(2);
	TASK_CHECK(g_dl.finished == 0);
	if (arg != NULL) {
		TASK_CHECK(weft_cancel(weft_self()) == 0);
		saved = weft_deadline_push(weft_now() - MS_NS);
	}
	g_dl.t0 = weft_now();
	g_dl.destroy_rc = weft_group_destroy(g);
	g_dl.elapsed = weft_now() - g_dl.t0;
	/* No task outlived the group. */
	TASK_CHECK(g_dl.finished == g_dl.spawned);
	if (arg != NULL)
		TASK_CHECK(weft_deadline_pop(saved) == 0);
	return NULL;
}

START_TEST(group_destroy_live_tasks)
{
	uint64_t live0 = live_tasks();
	int v;

	task_checks_reset();
	memset(&g_dl, 0, sizeof(g_dl));
	g_dl.destroy_rc = 12345;
	g_dl.ch = weft_chan_create(sizeof(int), 0);
	ck_assert_ptr_nonnull(g_dl.ch);
	ck_assert_int_eq(weft_sem_init(&g_dl.sem, 0), 0);
	if (_i == 0) {
		/* From main. */
		weft_group *g = new_group(0);

		dl_spawn_all(g);
		/* Let them all block: main parks briefly. */
		main_park_ms(20);
		ck_assert_int_eq(g_dl.finished, 0);
		g_dl.t0 = weft_now();
		g_dl.destroy_rc = weft_group_destroy(g);
		g_dl.elapsed = weft_now() - g_dl.t0;
		ck_assert_int_eq(g_dl.finished, g_dl.spawned);
	} else {
		run_task(dl_destroyer_fn, _i == 2 ? U2P(1) : NULL);
	}
	assert_task_checks_passed();
	ck_assert_int_eq(g_dl.destroy_rc, 0);
	ck_assert_int_eq(g_dl.spawned, DL_KINDS * DL_EACH);
	ck_assert_int_eq(g_dl.finished, g_dl.spawned);
	ck_assert_int_eq(g_dl.cancelled_waits, g_dl.spawned);
	ck_assert_int_lt(g_dl.elapsed, 5000 * MS_NS * slow_factor());
	ck_assert_uint_eq(live_tasks(), live0);
	/* The cancelled waiters left the channel and the semaphore. */
	v = 1;
	assert_fails(weft_chan_trysend(g_dl.ch, &v), EAGAIN);
	ck_assert_int_eq(weft_sem_post(&g_dl.sem), 0);
	ck_assert_int_eq(weft_sem_getvalue(&g_dl.sem, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(weft_sem_destroy(&g_dl.sem), 0);
	weft_chan_destroy(g_dl.ch);
}
END_TEST

/* ---- group tasks are not joinable or detachable ------------------------- */

static weft_sem g_hold;

/* Returns arg once the semaphore is posted or it is cancelled. */
static void *held_fn(void *arg)
{
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);
	int rc = weft_sem_wait(&g_hold);

	TASK_CHECK(rc == 0 || errno == ECANCELED);
	weft_deadline_pop(saved);
	return arg;
}

START_TEST(group_task_not_joinable)
{
	weft_group *g = new_group(0);
	uint64_t live0 = live_tasks(), id, tid, did;
	struct weft_select_case k;
	weft_task *t, *d;
	void *r = NULL;

	task_checks_reset();
	ck_assert_int_eq(weft_sem_init(&g_hold, 0), 0);
	t = weft_group_spawn(g, held_fn, U2P(61));
	ck_assert_ptr_nonnull(t);
	assert_fails(weft_join(t, &r), EINVAL);
	ck_assert_ptr_null(r);
	assert_fails(weft_detach(t), EINVAL);
	memset(&k, 0, sizeof(k));
	k.op = WEFT_SELECT_JOIN;
	k.task = t;
	k.fd = -1;
	assert_fails(weft_select(&k, 1, 0), EINVAL);
	d = weft_group_spawn(g, held_fn, U2P(62));
	ck_assert_ptr_nonnull(d);
	tid = weft_task_id(t);
	did = weft_task_id(d);
	main_park_ms(10);
	ck_assert_int_eq(weft_sem_post(&g_hold), 0);
	main_park_ms(10);
	/* Finished, not yet taken: still refused. */
	assert_fails(weft_join(t, &r), EINVAL);
	assert_fails(weft_detach(t), EINVAL);
	ck_assert_int_eq(guarded_next(g, &id, &r), 0);
	ck_assert_uint_eq(id, tid);
	ck_assert_uint_eq(P2U(r), 61);
	/* Otherwise a task like any other: weft_cancel works on it. */
	ck_assert_int_eq(weft_cancel(d), 0);
	ck_assert_int_eq(guarded_next(g, &id, &r), 0);
	ck_assert_uint_eq(id, did);
	ck_assert_uint_eq(P2U(r), 62);
	ck_assert_int_eq(weft_group_destroy(g), 0);
	ck_assert_uint_eq(live_tasks(), live0);
	assert_task_checks_passed();
}
END_TEST

/* The group keeps the task after a refused join: weft_group_wait reaps it. */
START_TEST(group_task_refused_join_then_reaped)
{
	weft_group *g = new_group(0);
	uint64_t live0 = live_tasks();
	weft_task *t;

	task_checks_reset();
	t = weft_group_spawn(g, sleep_ms_fn, U2P(5));
	ck_assert_ptr_nonnull(t);
	assert_fails(weft_join(t, NULL), EINVAL);
	assert_fails(weft_detach(t), EINVAL);
	ck_assert_uint_eq(live_tasks(), live0 + 1);
	ck_assert_int_eq(guarded_wait(g), 0);
	ck_assert_uint_eq(live_tasks(), live0);
	ck_assert_int_eq(weft_group_destroy(g), 0);
	assert_task_checks_passed();
}
END_TEST

/* ---- errors --------------------------------------------------------------- */

static void *nothing_fn(void *arg)
{
	return arg;
}

START_TEST(group_errors)
{
	weft_group *g;
	uint64_t id;
	void *r;

	assert_fails_null(weft_group_create(2), EINVAL);
	assert_fails_null(weft_group_create(3), EINVAL);
	assert_fails_null(weft_group_create(-1), EINVAL);
	assert_fails_null(weft_group_create(INT_MIN), EINVAL);
	assert_fails_null(weft_group_create(WEFT_GROUP_FAIL_FAST << 1), EINVAL);
	g = new_group(0);
	assert_fails_null(weft_group_spawn(NULL, nothing_fn, NULL), EINVAL);
	assert_fails_null(weft_group_spawn(g, NULL, NULL), EINVAL);
	assert_fails(weft_group_next(NULL, &id, &r), EINVAL);
	assert_fails(weft_group_wait(NULL), EINVAL);
	assert_fails(weft_group_cancel(NULL), EINVAL);
	assert_fails(weft_group_destroy(NULL), EINVAL);
	assert_fails(weft_group_next(g, &id, &r), ECHILD);
	ck_assert_int_eq(weft_group_wait(g), 0);
	ck_assert_int_eq(weft_group_destroy(g), 0);
	g = new_group(WEFT_GROUP_FAIL_FAST);
	ck_assert_int_eq(weft_group_destroy(g), 0);
}
END_TEST

/* ---- the caller's deadline and cancellation ------------------------------- */

enum { GD_N = 4 };

static struct {
	int sleep_rc[GD_N];
	int finished;
	int wait_rc, wait_err, next_rc, next_err;
	int64_t start, deadline, end;
	weft_group *g;
} g_gd;

static void *gd_fn(void *arg)
{
	int i = (int)P2U(arg);

	g_gd.sleep_rc[i] = weft_sleep(300);
	g_gd.finished++;
	return U2P(i + 1);
}

START_TEST(group_wait_deadline)
{
	uint64_t live0 = live_tasks(), id;
	int64_t saved, sf = slow_factor();
	void *r = NULL;
	int i;

	task_checks_reset();
	memset(&g_gd, 0, sizeof(g_gd));
	g_gd.g = new_group(0);
	for (i = 0; i < GD_N; i++)
		ck_assert_ptr_nonnull(weft_group_spawn(g_gd.g, gd_fn, U2P(i)));
	g_gd.start = weft_now();
	g_gd.deadline = g_gd.start + 50 * MS_NS;
	saved = weft_deadline_push(g_gd.deadline);
	assert_fails(weft_group_wait(g_gd.g), ETIMEDOUT);
	ck_assert_int_ge(weft_now(), g_gd.deadline);
	assert_fails(weft_group_next(g_gd.g, &id, &r), ETIMEDOUT);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(weft_deadline_pop(saved), 0);
	ck_assert_int_lt(weft_now() - g_gd.start, 5000 * MS_NS * sf);
	/* The tasks went on. */
	ck_assert_int_eq(g_gd.finished, 0);
	ck_assert_int_eq(guarded_next(g_gd.g, &id, &r), 0);
	ck_assert(P2U(r) >= 1 && P2U(r) <= GD_N);
	ck_assert_int_eq(guarded_wait(g_gd.g), 0);
	ck_assert_int_eq(g_gd.finished, GD_N);
	for (i = 0; i < GD_N; i++)
		ck_assert_int_eq(g_gd.sleep_rc[i], 0);
	assert_fails(weft_group_next(g_gd.g, &id, &r), ECHILD);
	ck_assert_int_eq(weft_group_destroy(g_gd.g), 0);
	ck_assert_uint_eq(live_tasks(), live0);
	assert_task_checks_passed();
}
END_TEST

/* A task waiting on a group is cancelled: its wait ends, the group's
 * tasks go on.  Also with a past deadline: ETIMEDOUT at once. */
static void *gd_waiter_fn(void *arg)
{
	int64_t saved = 0;

	if (arg != NULL)
		saved = weft_deadline_push(weft_now() - MS_NS);
	else
		saved = weft_deadline_push(weft_now() + GUARD_NS);
	g_gd.start = weft_now();
	errno = 0;
	g_gd.wait_rc = weft_group_wait(g_gd.g);
	g_gd.wait_err = errno;
	errno = 0;
	g_gd.next_rc = weft_group_next(g_gd.g, NULL, NULL);
	g_gd.next_err = errno;
	g_gd.end = weft_now();
	weft_deadline_pop(saved);
	return NULL;
}

START_TEST(group_wait_cancelled)
{
	int past = _i;
	uint64_t live0 = live_tasks();
	weft_task *w;
	int i, want = past ? ETIMEDOUT : ECANCELED;

	task_checks_reset();
	memset(&g_gd, 0, sizeof(g_gd));
	g_gd.g = new_group(0);
	for (i = 0; i < GD_N; i++)
		ck_assert_ptr_nonnull(weft_group_spawn(g_gd.g, gd_fn, U2P(i)));
	w = weft_spawn(gd_waiter_fn, past ? U2P(1) : NULL);
	ck_assert_ptr_nonnull(w);
	if (!past) {
		/* Let the waiter park: main parks briefly. */
		main_park_ms(20);
		ck_assert_int_eq(g_gd.end, 0);
		ck_assert_int_eq(weft_cancel(w), 0);
	}
	ck_assert_int_eq(weft_join(w, NULL), 0);
	ck_assert_msg(g_gd.wait_rc == -1 && g_gd.wait_err == want,
	    "group_wait: %d errno %d (%s)", g_gd.wait_rc, g_gd.wait_err,
	    strerror(g_gd.wait_err));
	ck_assert_msg(g_gd.next_rc == -1 && g_gd.next_err == want,
	    "group_next: %d errno %d (%s)", g_gd.next_rc, g_gd.next_err,
	    strerror(g_gd.next_err));
	ck_assert_int_lt(g_gd.end - g_gd.start, 2000 * MS_NS * slow_factor());
	/* The group's tasks were not cancelled and went on. */
	ck_assert_int_eq(g_gd.finished, 0);
	ck_assert_int_eq(guarded_wait(g_gd.g), 0);
	ck_assert_int_eq(g_gd.finished, GD_N);
	for (i = 0; i < GD_N; i++)
		ck_assert_int_eq(g_gd.sleep_rc[i], 0);
	ck_assert_int_eq(weft_group_destroy(g_gd.g), 0);
	ck_assert_uint_eq(live_tasks(), live0);
	assert_task_checks_passed();
}
END_TEST

/*
 * weft_run returns once the group's tasks finished, even though the group
 * has not reaped them yet (unjoined finished tasks do not count as left);
 * their results are still there for weft_group_next.
 */
START_TEST(group_run_leaves_results)
{
	weft_group *g = new_group(0);
	uint64_t live0 = live_tasks(), id, ids[3];
	weft_task *t;
	void *r;
	int i;

	task_checks_reset();
	for (i = 0; i < 3; i++) {
		t = weft_group_spawn(g, sleep_ms_fn, U2P(i + 1));
		ck_assert_ptr_nonnull(t);
		ids[i] = weft_task_id(t);
	}
	ck_assert_int_eq(weft_run(), 0);
	ck_assert_uint_eq(live_tasks(), live0 + 3);
	/* All finished: next takes them without waiting (past deadline). */
	{
		int64_t saved = weft_deadline_push(weft_now() - MS_NS);

		for (i = 0; i < 3; i++) {
			ck_assert_int_eq(weft_group_next(g, &id, &r), 0);
			ck_assert_uint_eq(id, ids[i]);
			ck_assert_uint_eq(P2U(r), (uintptr_t)(i + 1));
		}
		assert_fails(weft_group_next(g, &id, &r), ECHILD);
		ck_assert_int_eq(weft_group_wait(g), 0);
		ck_assert_int_eq(weft_deadline_pop(saved), 0);
	}
	ck_assert_uint_eq(live_tasks(), live0);
	ck_assert_int_eq(weft_group_destroy(g), 0);
	assert_task_checks_passed();
}
END_TEST

/* A group task waits on a semaphore that another thread posts: the group
 * wait from main waits for it (no deadlock error). */
static weft_sem g_xsem;

static void *xsem_wait_fn(void *arg)
{
	return weft_sem_wait(&g_xsem) == 0 ? arg : NULL;
}

static void *xsem_post_thread(void *arg)
{
	(void)arg;
	usleep(100000);
	return weft_sem_post(&g_xsem) == 0 ? U2P(1) : NULL;
}

START_TEST(group_waits_for_other_thread)
{
	weft_group *g = new_group(0);
	pthread_t th;
	uint64_t id;
	void *r = NULL, *pr = NULL;

	ck_assert_int_eq(weft_sem_init(&g_xsem, 0), 0);
	ck_assert_ptr_nonnull(weft_group_spawn(g, xsem_wait_fn, U2P(9)));
	ck_assert_int_eq(pthread_create(&th, NULL, xsem_post_thread, NULL), 0);
	ck_assert_int_eq(guarded_next(g, &id, &r), 0);
	ck_assert_uint_eq(P2U(r), 9);
	ck_assert_int_eq(pthread_join(th, &pr), 0);
	ck_assert_uint_eq(P2U(pr), 1);
	ck_assert_int_eq(weft_group_destroy(g), 0);
	ck_assert_int_eq(weft_sem_destroy(&g_xsem), 0);
}
END_TEST

/* ---- several waiters; destroy while waited on, or from a member ----------- */

struct gate {
	weft_group *g;
	int open;                     /* members return once this is set */
	int got[2], rc[2], err[2];
	int destroy_rc, destroy_err, wait_rc, wait_err;
};

static void *gated_member(void *arg)
{
	struct gate *gt = arg;

	while (!gt->open)
		weft_sleep(1);
	return U2P(1);
}

struct next_arg {
	struct gate *gt;
	int k;
};

static void *next_waiter(void *arg)
{
	struct next_arg *na = arg;
	struct gate *gt = na->gt;
	void *r;

	while ((gt->rc[na->k] = weft_group_next(gt->g, NULL, &r)) == 0)
		gt->got[na->k]++;
	gt->err[na->k] = errno;
	return NULL;
}

/* Two tasks in weft_group_next: every member goes to one of them, both end
 * with ECHILD; destroy is refused while they wait.  Run from a task, so
 * that its weft_yield lets the others run until they park. */
static void *two_waiters_fn(void *arg)
{
	struct gate *gt = arg;
	struct next_arg a0 = { gt, 0 }, a1 = { gt, 1 };
	weft_task *w0, *w1;
	int i;

	gt->g = weft_group_create(0);
	TASK_CHECK(gt->g != NULL);
	for (i = 0; i < 6; i++)
		TASK_CHECK(weft_group_spawn(gt->g, gated_member, gt) != NULL);
	w0 = weft_spawn(next_waiter, &a0);
	w1 = weft_spawn(next_waiter, &a1);
	TASK_CHECK(w0 != NULL && w1 != NULL);
	weft_yield();                 /* the others run until they park */
	TASK_CHECK_FAILS(weft_group_destroy(gt->g), EBUSY);
	gt->open = 1;
	TASK_CHECK(weft_join(w0, NULL) == 0);
	TASK_CHECK(weft_join(w1, NULL) == 0);
	return NULL;
}

START_TEST(group_two_waiters)
{
	struct gate gt;
	int i;

	task_checks_reset();
	memset(&gt, 0, sizeof(gt));
	run_task(two_waiters_fn, &gt);
	assert_task_checks_passed();
	/* Every member went to one waiter, and neither was left parked. */
	ck_assert_int_eq(gt.got[0] + gt.got[1], 6);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(gt.rc[i], -1);
		ck_assert_int_eq(gt.err[i], ECHILD);
	}
	ck_assert_int_eq(weft_group_destroy(gt.g), 0);
}
END_TEST

static void *self_destroying_member(void *arg)
{
	struct gate *gt = arg;

	errno = 0;
	gt->wait_rc = weft_group_wait(gt->g);
	gt->wait_err = errno;
	errno = 0;
	gt->destroy_rc = weft_group_destroy(gt->g);
	gt->destroy_err = errno;
	return U2P(7);
}

/* A member cannot wait for or destroy its own group: EDEADLK at once. */
START_TEST(group_destroy_from_member)
{
	struct gate gt;
	uint64_t id;
	void *r = NULL;
	int64_t t0 = weft_now();

	memset(&gt, 0, sizeof(gt));
	ck_assert_ptr_nonnull(gt.g = weft_group_create(0));
	ck_assert_ptr_nonnull(weft_group_spawn(gt.g, self_destroying_member, &gt));
	ck_assert_int_eq(weft_group_next(gt.g, &id, &r), 0);
	ck_assert_uint_eq(P2U(r), 7);
	ck_assert_int_eq(gt.wait_rc, -1);
	ck_assert_int_eq(gt.wait_err, EDEADLK);
	ck_assert_int_eq(gt.destroy_rc, -1);
	ck_assert_int_eq(gt.destroy_err, EDEADLK);
	ck_assert_int_lt(weft_now() - t0, 2000 * MS_NS * slow_factor());
	ck_assert_int_eq(weft_group_destroy(gt.g), 0);
}
END_TEST

static Suite *group_suite(void)
{
	Suite *s = suite_create("group");
	TCase *tc;

	tc = tcase_create("group");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, group_wait_all, 0, 2);
	tcase_add_test(tc, group_next_completion_order_sleeps);
	tcase_add_test(tc, group_next_completion_order_gated);
	tcase_add_test(tc, group_failure_count);
	tcase_add_loop_test(tc, group_fail_fast, 0, 2);
	tcase_add_test(tc, group_cancel);
	tcase_add_test(tc, group_fail_fast_without_waiting);
	tcase_add_test(tc, group_cancel_before_start);
	tcase_add_loop_test(tc, group_destroy_live_tasks, 0, 3);
	tcase_add_test(tc, group_task_not_joinable);
	tcase_add_test(tc, group_task_refused_join_then_reaped);
	tcase_add_test(tc, group_errors);
	tcase_add_test(tc, group_wait_deadline);
	tcase_add_loop_test(tc, group_wait_cancelled, 0, 2);
	tcase_add_test(tc, group_run_leaves_results);
	tcase_add_test(tc, group_waits_for_other_thread);
	tcase_add_test(tc, group_two_waiters);
	tcase_add_test(tc, group_destroy_from_member);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(group_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * Tasks: spawn, join, detach, yield order, identity, names, attributes,
 * weft_run, and every error path of those calls.
 *
 * Each test creates the runtime it uses (Check runs each test in a fork).
 * With CK_FORK=no every test shares the main thread's runtime, so tests
 * leave no task behind and compare counters as differences; the deadlock
 * scenario runs in its own OS thread, whose runtime it may leave stuck.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft.h"
#include "test_util.h"

/* ---- spawn and join ---------------------------------------------------- */

static uintptr_t mix(uintptr_t i)
{
	return i * 2654435761u + 17;
}

static void *mix_fn(void *arg)
{
	return U2P(mix(P2U(arg)));
}

static void *null_fn(void *arg)
{
	(void)arg;
	return NULL;
}

START_TEST(spawn_join_values)
{
	enum { N = 500 };
	static weft_task *t[N];
	uint64_t live0 = live_tasks();
	int i;

	for (i = 0; i < N; i++) {
		t[i] = weft_spawn(mix_fn, U2P(i));
		ck_assert_ptr_nonnull(t[i]);
	}
	ck_assert_uint_eq(live_tasks(), live0 + N);
	/* Join the odd ones backwards, then the even ones forwards. */
	for (i = N - 1; i >= 0; i -= 2) {
		void *r = U2P(0xdead);

		ck_assert_int_eq(weft_join(t[i], &r), 0);
		ck_assert_uint_eq(P2U(r), mix(i));
	}
	for (i = 0; i < N; i += 2) {
		void *r = U2P(0xdead);

		ck_assert_int_eq(weft_join(t[i], &r), 0);
		ck_assert_uint_eq(P2U(r), mix(i));
	}
	ck_assert_uint_eq(live_tasks(), live0);
}
END_TEST

START_TEST(join_null_result_and_null_return)
{
	weft_task *a = weft_spawn(mix_fn, U2P(3));
	weft_task *b = weft_spawn(null_fn, U2P(4));
	void *r = U2P(0xdead);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(weft_join(a, NULL), 0);
	ck_assert_int_eq(weft_join(b, &r), 0);
	ck_assert_ptr_null(r);
}
END_TEST

/* ---- FIFO order ----------------------------------------------------------- */

static char g_log[128];
static size_t g_loglen;

static void log_char(char c)
{
	if (g_loglen + 1 < sizeof(g_log))
		g_log[g_loglen++] = c;
	g_log[g_loglen] = '\0';
}

static void log_reset(void)
{
	g_loglen = 0;
	g_log[0] = '\0';
}

/* Log its letter, yield; three times. */
static void *yielder_fn(void *arg)
{
	int i;

	for (i = 0; i < 3; i++) {
		log_char((char)P2U(arg));
		TASK_CHECK(weft_yield() == 0);
	}
	return arg;
}

START_TEST(yield_fifo_from_main)
{
	weft_task *t[3];
	void *r;
	int i;

	log_reset();
	task_checks_reset();
	for (i = 0; i < 3; i++) {
		t[i] = weft_spawn(yielder_fn, U2P('A' + i));
		ck_assert_ptr_nonnull(t[i]);
	}
	/* Nothing runs before the spawner parks. */
	ck_assert_str_eq(g_log, "");
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(weft_join(t[i], &r), 0);
		ck_assert_uint_eq(P2U(r), 'A' + i);
	}
	ck_assert_str_eq(g_log, "ABCABCABC");
	assert_task_checks_passed();
}
END_TEST

static void *log_once_fn(void *arg)
{
	log_char((char)P2U(arg));
	return NULL;
}

/* Spawns two tasks and yields: both run before the yield returns. */
static void *yield_parent_fn(void *arg)
{
	weft_task *a, *b;

	(void)arg;
	a = weft_spawn(log_once_fn, U2P('a'));
	b = weft_spawn(log_once_fn, U2P('b'));
	TASK_CHECK(a != NULL && b != NULL);
	log_char('P');
	TASK_CHECK(weft_yield() == 0);
	log_char('p');
	TASK_CHECK(weft_join(a, NULL) == 0);
	TASK_CHECK(weft_join(b, NULL) == 0);
	return NULL;
}

START_TEST(yield_fifo_from_task)
{
	weft_task *t;

	log_reset();
	task_checks_reset();
	t = weft_spawn(yield_parent_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	ck_assert_str_eq(g_log, "Pabp");
	assert_task_checks_passed();
}
END_TEST

START_TEST(yield_returns_zero_outside)
{
	ck_assert_ptr_null(weft_self());
	ck_assert_int_eq(weft_yield(), 0);
	ck_assert_int_eq(weft_yield(), 0);
}
END_TEST

/* ---- many concurrent tasks --------------------------------------------- */

enum { MANY = 10000 };
static long g_started;
static long g_seen[MANY];

/* Every task starts, yields once, then records how many had started. */
static void *many_fn(void *arg)
{
	uintptr_t i = P2U(arg);

	g_started++;
	if (weft_yield() != 0)
		return U2P(0);
	g_seen[i] = g_started;
	return U2P(mix(i));
}

START_TEST(ten_thousand_concurrent)
{
	static weft_task *t[MANY];
	uint64_t live0 = live_tasks();
	int i;

	g_started = 0;
	memset(g_seen, 0, sizeof(g_seen));
	for (i = 0; i < MANY; i++) {
		t[i] = weft_spawn(many_fn, U2P(i));
		ck_assert_msg(t[i] != NULL, "spawn %d failed: %s", i, strerror(errno));
	}
	ck_assert_int_eq(g_started, 0);
	ck_assert_uint_eq(live_tasks(), live0 + MANY);
	for (i = 0; i < MANY; i++) {
		void *r = NULL;

		ck_assert_int_eq(weft_join(t[i], &r), 0);
		ck_assert_uint_eq(P2U(r), mix(i));
	}
	/* FIFO: task i resumes after every task queued behind it has started. */
	for (i = 0; i < MANY; i++)
		ck_assert_msg(g_seen[i] == MANY, "task %d saw %ld started", i, g_seen[i]);
	ck_assert_uint_eq(live_tasks(), live0);
}
END_TEST

/* ---- nesting ------------------------------------------------------------- */

/* A binary tree of tasks `depth` levels deep; returns its number of nodes. */
static void *tree_fn(void *arg)
{
	uintptr_t depth = P2U(arg);
	weft_task *l, *r;
	void *nl = NULL, *nr = NULL;

	if (depth == 0)
		return U2P(1);
	l = weft_spawn(tree_fn, U2P(depth - 1));
	r = weft_spawn(tree_fn, U2P(depth - 1));
	if (l == NULL || r == NULL) {
		TASK_CHECK(l != NULL && r != NULL);
		return U2P(0);
	}
	TASK_CHECK(weft_join(r, &nr) == 0);
	TASK_CHECK(weft_join(l, &nl) == 0);
	return U2P(P2U(nl) + P2U(nr) + 1);
}

/* A chain: each task spawns one child and adds one to its result. */
static void *chain_fn(void *arg)
{
	uintptr_t depth = P2U(arg);
	weft_task *c;
	void *n = NULL;

	if (depth == 0)
		return U2P(0);
	c = weft_spawn(chain_fn, U2P(depth - 1));
	TASK_CHECK(c != NULL);
	if (c == NULL)
		return U2P(0);
	TASK_CHECK(weft_yield() == 0);
	TASK_CHECK(weft_join(c, &n) == 0);
	return U2P(P2U(n) + 1);
}

START_TEST(nested_spawns)
{
	uint64_t live0 = live_tasks();
	weft_task *t;
	void *r = NULL;

	task_checks_reset();
	t = weft_spawn(tree_fn, U2P(7));
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), 255);     /* 2^8 - 1 nodes */

	t = weft_spawn(chain_fn, U2P(50));
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), 50);
	assert_task_checks_passed();
	ck_assert_uint_eq(live_tasks(), live0);
}
END_TEST

/* Joins a task from inside a task, and is itself joined from main. */
static void *joiner_fn(void *arg)
{
	weft_task *child = weft_spawn(mix_fn, arg);
	void *r = NULL;

	TASK_CHECK(child != NULL);
	if (child == NULL || weft_join(child, &r) != 0)
		return U2P(0);
	return U2P(P2U(r) + 1);
}

/* Joins a task spawned by main, which main handed over. */
static weft_task *g_handoff;

static void *join_handoff_fn(void *arg)
{
	void *r = NULL;

	(void)arg;
	TASK_CHECK(weft_join(g_handoff, &r) == 0);
	return r;
}

START_TEST(join_from_main_and_task)
{
	weft_task *t, *j;
	void *r = NULL;

	task_checks_reset();
	t = weft_spawn(joiner_fn, U2P(41));
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), mix(41) + 1);

	/* The joiner runs first and waits for the later-spawned target. */
	j = weft_spawn(join_handoff_fn, NULL);
	g_handoff = weft_spawn(mix_fn, U2P(9));
	ck_assert_ptr_nonnull(j);
	ck_assert_ptr_nonnull(g_handoff);
	ck_assert_int_eq(weft_join(j, &r), 0);
	ck_assert_uint_eq(P2U(r), mix(9));
	assert_task_checks_passed();
}
END_TEST

/* ---- detach -------------------------------------------------------------- */

static int g_counter;

/* Parks a few times before counting, so it is unfinished when detached. */
static void *slow_count_fn(void *arg)
{
	(void)arg;
	TASK_CHECK(weft_yield() == 0);
	TASK_CHECK(weft_sleep(5) == 0);
	TASK_CHECK(weft_yield() == 0);
	g_counter++;
	return NULL;
}

START_TEST(detach_runs_to_completion)
{
	uint64_t live0 = live_tasks();
	weft_task *t;

	g_counter = 0;
	task_checks_reset();
	t = weft_spawn(slow_count_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_detach(t), 0);
	ck_assert_int_eq(g_counter, 0);
	ck_assert_int_eq(weft_run(), 0);
	ck_assert_int_eq(g_counter, 1);
	/* Detached: freed when it finished. */
	ck_assert_uint_eq(live_tasks(), live0);
	assert_task_checks_passed();
}
END_TEST

START_TEST(detach_after_finish)
{
	uint64_t live0 = live_tasks();
	weft_task *t;

	g_counter = 0;
	task_checks_reset();
	t = weft_spawn(slow_count_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_run(), 0);
	ck_assert_int_eq(g_counter, 1);
	/* Finished but unjoined: still counted live until reaped. */
	ck_assert_uint_eq(live_tasks(), live0 + 1);
	ck_assert_int_eq(weft_detach(t), 0);
	ck_assert_uint_eq(live_tasks(), live0);
	assert_task_checks_passed();
}
END_TEST

START_TEST(detach_by_attr)
{
	uint64_t live0 = live_tasks();
	weft_attr a;
	weft_task *t;

	g_counter = 0;
	task_checks_reset();
	ck_assert_int_eq(weft_attr_init(&a), 0);
	ck_assert_int_eq(weft_attr_setdetached(&a, 1), 0);
	t = weft_spawn_attr(slow_count_fn, NULL, &a);
	ck_assert_ptr_nonnull(t);
	assert_fails(weft_join(t, NULL), EINVAL);
	assert_fails(weft_detach(t), EINVAL);
	ck_assert_int_eq(weft_run(), 0);
	ck_assert_int_eq(g_counter, 1);
	ck_assert_uint_eq(live_tasks(), live0);
	assert_task_checks_passed();
}
END_TEST

START_TEST(detach_errors)
{
	weft_task *t;

	g_counter = 0;
	task_checks_reset();
	assert_fails(weft_detach(NULL), EINVAL);

	/* Detach twice; join a detached task. */
	t = weft_spawn(slow_count_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_detach(t), 0);
	assert_fails(weft_detach(t), EINVAL);
	assert_fails(weft_join(t, NULL), EINVAL);
	ck_assert_int_eq(weft_run(), 0);
	ck_assert_int_eq(g_counter, 1);

	/* Detach after join (nothing spawned in between). */
	t = weft_spawn(mix_fn, U2P(1));
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	assert_fails(weft_detach(t), EINVAL);
	assert_task_checks_passed();
}
END_TEST

/* ---- identity -------------------------------------------------------------- */

static weft_task *g_self_seen[2];

static void *self_child_fn(void *arg)
{
	(void)arg;
	g_self_seen[1] = weft_self();
	return NULL;
}

static void *self_parent_fn(void *arg)
{
	weft_task *c;

	(void)arg;
	g_self_seen[0] = weft_self();
	c = weft_spawn(self_child_fn, NULL);
	TASK_CHECK(c != NULL);
	TASK_CHECK(weft_join(c, NULL) == 0);
	/* Still itself after running another task. */
	TASK_CHECK(weft_self() == g_self_seen[0]);
	return c;
}

START_TEST(self_inside_and_outside)
{
	weft_task *t;
	void *child = NULL;

	task_checks_reset();
	g_self_seen[0] = g_self_seen[1] = NULL;
	ck_assert_ptr_null(weft_self());
	t = weft_spawn(self_parent_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_null(weft_self());
	ck_assert_int_eq(weft_join(t, &child), 0);
	ck_assert_ptr_eq(g_self_seen[0], t);
	ck_assert_ptr_eq(g_self_seen[1], child);
	ck_assert_ptr_ne(g_self_seen[1], t);
	ck_assert_ptr_null(weft_self());
	assert_task_checks_passed();
}
END_TEST

static void *own_id_fn(void *arg)
{
	(void)arg;
	return U2P(weft_task_id(weft_self()));
}

START_TEST(task_ids)
{
	enum { N = 100 };
	weft_task *t[N];
	uint64_t id[N], last;
	int i;

	ck_assert_uint_eq(weft_task_id(NULL), 0);
	for (i = 0; i < N; i++) {
		t[i] = weft_spawn(own_id_fn, NULL);
		ck_assert_ptr_nonnull(t[i]);
		id[i] = weft_task_id(t[i]);
		ck_assert_uint_ne(id[i], 0);
		if (i > 0)
			ck_assert_uint_gt(id[i], id[i - 1]);
	}
	for (i = 0; i < N; i++) {
		void *r = NULL;

		ck_assert_int_eq(weft_join(t[i], &r), 0);
		ck_assert_uint_eq(P2U(r), id[i]);
	}
	/* Ids are never reused, even when a task's storage is. */
	last = id[N - 1];
	for (i = 0; i < 20; i++) {
		weft_task *u = weft_spawn(own_id_fn, NULL);
		uint64_t uid;

		ck_assert_ptr_nonnull(u);
		uid = weft_task_id(u);
		ck_assert_uint_gt(uid, last);
		last = uid;
		ck_assert_int_eq(weft_join(u, NULL), 0);
	}
}
END_TEST

/* ---- names --------------------------------------------------------------- */

static char g_name_seen[WEFT_NAME_MAX + 8];

static void *name_fn(void *arg)
{
	const char *n = weft_task_name(weft_self());

	(void)arg;
	TASK_CHECK(n != NULL);
	if (n != NULL)
		snprintf(g_name_seen, sizeof(g_name_seen), "%s", n);
	TASK_CHECK(weft_task_setname(weft_self(), "renamed") == 0);
	return NULL;
}

START_TEST(task_names)
{
	char long31[WEFT_NAME_MAX], long32[WEFT_NAME_MAX + 1], buf[16];
	weft_attr a;
	weft_task *t, *u;

	task_checks_reset();
	memset(long31, 'x', sizeof(long31) - 1);
	long31[sizeof(long31) - 1] = '\0';
	memset(long32, 'y', sizeof(long32) - 1);
	long32[sizeof(long32) - 1] = '\0';
	ck_assert_uint_eq(strlen(long32), WEFT_NAME_MAX);

	ck_assert_ptr_null(weft_task_name(NULL));

	/* Unnamed. */
	u = weft_spawn(null_fn, NULL);
	ck_assert_ptr_nonnull(u);
	ck_assert_str_eq(weft_task_name(u), "");

	/* Named through the attribute; the attribute is copied at spawn. */
	ck_assert_int_eq(weft_attr_init(&a), 0);
	ck_assert_int_eq(weft_attr_setname(&a, "alpha"), 0);
	t = weft_spawn_attr(name_fn, NULL, &a);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_attr_setname(&a, "other"), 0);
	ck_assert_str_eq(weft_task_name(t), "alpha");

	/* Renamed; the name is copied. */
	strcpy(buf, "beta");
	ck_assert_int_eq(weft_task_setname(u, buf), 0);
	strcpy(buf, "gamma");
	ck_assert_str_eq(weft_task_name(u), "beta");

	/* Longest accepted name, then one too long: rejected, name kept. */
	ck_assert_int_eq(weft_task_setname(u, long31), 0);
	ck_assert_str_eq(weft_task_name(u), long31);
	ck_assert_int_eq(weft_task_setname(u, "beta"), 0);
	assert_fails(weft_task_setname(u, long32), ERANGE);
	ck_assert_str_eq(weft_task_name(u), "beta");
	ck_assert_int_eq(weft_task_setname(u, ""), 0);
	ck_assert_str_eq(weft_task_name(u), "");

	assert_fails(weft_task_setname(NULL, "x"), EINVAL);
	assert_fails(weft_task_setname(u, NULL), EINVAL);

	/* The task sees its own name and renames itself. */
	g_name_seen[0] = '\0';
	ck_assert_int_eq(weft_join(u, NULL), 0);
	ck_assert_int_eq(weft_run(), 0);
	ck_assert_str_eq(g_name_seen, "alpha");
	ck_assert_str_eq(weft_task_name(t), "renamed");
	ck_assert_int_eq(weft_join(t, NULL), 0);

	/* Attribute names: too long, NULL attr, NULL clears. */
	assert_fails(weft_attr_setname(&a, long32), ERANGE);
	ck_assert_int_eq(weft_attr_setname(&a, long31), 0);
	assert_fails(weft_attr_setname(NULL, "x"), EINVAL);
	t = weft_spawn_attr(null_fn, NULL, &a);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(weft_task_name(t), long31);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	ck_assert_int_eq(weft_attr_setname(&a, NULL), 0);
	t = weft_spawn_attr(null_fn, NULL, &a);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(weft_task_name(t), "");
	ck_assert_int_eq(weft_join(t, NULL), 0);
	assert_task_checks_passed();
}
END_TEST

/* ---- error paths ------------------------------------------------------------ */

START_TEST(spawn_errors)
{
	weft_attr a;

	assert_fails_null(weft_spawn(NULL, NULL), EINVAL);
	ck_assert_int_eq(weft_attr_init(&a), 0);
	assert_fails_null(weft_spawn_attr(NULL, NULL, &a), EINVAL);
	assert_fails_null(weft_spawn_attr(NULL, NULL, NULL), EINVAL);
	/* Storage never initialised by weft_attr_init. */
	memset(&a, 0xff, sizeof(a));
	assert_fails_null(weft_spawn_attr(mix_fn, NULL, &a), EINVAL);
	memset(&a, 0, sizeof(a));
	assert_fails_null(weft_spawn_attr(mix_fn, NULL, &a), EINVAL);
	/* Nothing was left behind by the failures. */
	ck_assert_int_eq(weft_run(), 0);
}
END_TEST

START_TEST(spawn_attr_null_is_default)
{
	weft_task *t = weft_spawn_attr(mix_fn, U2P(5), NULL);
	void *r = NULL;

	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(weft_task_name(t), "");
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), mix(5));
}
END_TEST

START_TEST(join_errors)
{
	weft_task *t;
	void *r;

	assert_fails(weft_join(NULL, NULL), EINVAL);
	assert_fails(weft_join(NULL, &r), EINVAL);

	/* Join twice: the second join, before any other spawn, fails. */
	t = weft_spawn(mix_fn, U2P(2));
	ck_assert_ptr_nonnull(t);
	r = NULL;
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), mix(2));
	r = U2P(0xdead);
	assert_fails(weft_join(t, &r), EINVAL);
	ck_assert_uint_eq(P2U(r), 0xdead);
}
END_TEST

static void *join_self_fn(void *arg)
{
	void *r = U2P(0xdead);

	(void)arg;
	TASK_CHECK_FAILS(weft_join(weft_self(), &r), EDEADLK);
	TASK_CHECK(P2U(r) == 0xdead);
	TASK_CHECK_FAILS(weft_run(), EDEADLK);
	TASK_CHECK(weft_yield() == 0);
	return U2P(77);
}

START_TEST(join_self_and_run_in_task)
{
	weft_task *t;
	void *r = NULL;

	task_checks_reset();
	t = weft_spawn(join_self_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), 77);
	assert_task_checks_passed();
}
END_TEST

/*
 * Two tasks that join each other can never finish: T1 spawns T2 and joins
 * it, T2 joins T1.  Reaching that state must not hang: from outside any
 * task, the join (or weft_run) waiting for them reports EDEADLK.  Each
 * scenario runs on its own OS thread, so the stuck runtime is not the one
 * other tests use when CK_FORK=no.
 */
static weft_task *g_m1, *g_m2;
static int g_m2_join_rc, g_m2_join_errno;

static void *mutual2_fn(void *arg)
{
	(void)arg;
	errno = 0;
	g_m2_join_rc = weft_join(g_m1, NULL);
	g_m2_join_errno = errno;
	return NULL;
}

static void *mutual1_fn(void *arg)
{
	(void)arg;
	g_m2 = weft_spawn(mutual2_fn, NULL);
	if (g_m2 != NULL)
		weft_join(g_m2, NULL);
	return NULL;
}

struct deadlock_result {
	int rc, err, rc2, err2, m2_spawned;
	int timer_join_rc;
	void *timer_result;
};

static void *sleep_then_fn(void *arg)
{
	if (weft_sleep(30) != 0)
		return U2P(0);
	return arg;
}

static void *join_sleeper_fn(void *arg)
{
	weft_task *s = weft_spawn(sleep_then_fn, arg);
	void *r = NULL;

	if (s == NULL || weft_join(s, &r) != 0)
		return U2P(0);
	return r;
}

/* Not a deadlock: the only blocked task waits for a sleeping one. */
static void timer_is_not_deadlock(struct deadlock_result *res)
{
	weft_task *t = weft_spawn(join_sleeper_fn, U2P(1234));

	res->timer_result = NULL;
	res->timer_join_rc = t ? weft_join(t, &res->timer_result) : -2;
}

static void start_mutual(void)
{
	g_m1 = g_m2 = NULL;
	g_m2_join_rc = -2;
	g_m2_join_errno = 0;
	g_m1 = weft_spawn(mutual1_fn, NULL);
}

/* Main joins T1 and so drives T1 and T2 into the cycle. */
static void *join_deadlock_thread(void *arg)
{
	struct deadlock_result *res = arg;

	timer_is_not_deadlock(res);
	start_mutual();
	if (g_m1 == NULL) {
		res->rc = -2;
		return NULL;
	}
	errno = 0;
	res->rc = weft_join(g_m1, NULL);
	res->err = errno;
	res->m2_spawned = g_m2 != NULL;
	errno = 0;
	res->rc2 = weft_run();
	res->err2 = errno;
	return NULL;
}

/* weft_run drives them into the cycle, and then reports it each time. */
static void *run_deadlock_thread(void *arg)
{
	struct deadlock_result *res = arg;

	timer_is_not_deadlock(res);
	start_mutual();
	if (g_m1 == NULL) {
		res->rc = -2;
		return NULL;
	}
	errno = 0;
	res->rc = weft_run();
	res->err = errno;
	res->m2_spawned = g_m2 != NULL;
	errno = 0;
	res->rc2 = weft_run();
	res->err2 = errno;
	return NULL;
}

static void run_deadlock_scenario(void *(*fn)(void *), struct deadlock_result *res)
{
	pthread_t th;

	memset(res, 0, sizeof(*res));
	ck_assert_int_eq(pthread_create(&th, NULL, fn, res), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(res->timer_join_rc, 0);
	ck_assert_uint_eq(P2U(res->timer_result), 1234);
	ck_assert_int_eq(res->m2_spawned, 1);
}

/*
 * A task has one joiner.  Main joins T1, so when T2 (spawned and joined by
 * T1) tries to join T1 as well, that fails with EINVAL instead of closing
 * a cycle; T2 returns, T1 returns, and main's join succeeds.
 */
START_TEST(second_joiner_gets_einval)
{
	struct deadlock_result res;

	run_deadlock_scenario(join_deadlock_thread, &res);
	ck_assert_msg(g_m2_join_rc == -1 && g_m2_join_errno == EINVAL,
	    "T2's join of T1, already joined by main: rc %d errno %d (%s), "
	    "expected -1 EINVAL", g_m2_join_rc, g_m2_join_errno,
	    strerror(g_m2_join_errno));
	ck_assert_msg(res.rc == 0,
	    "main's join of T1: rc %d errno %d (%s), expected 0",
	    res.rc, res.err, strerror(res.err));
	ck_assert_msg(res.rc2 == 0,
	    "weft_run with every task finished: rc %d errno %d (%s)",
	    res.rc2, res.err2, strerror(res.err2));
}
END_TEST

START_TEST(run_deadlock_detected)
{
	struct deadlock_result res;

	run_deadlock_scenario(run_deadlock_thread, &res);
	ck_assert_msg(g_m2_join_rc == -2,
	    "T2's join of T1 returned %d errno %d (%s) instead of blocking",
	    g_m2_join_rc, g_m2_join_errno, strerror(g_m2_join_errno));
	ck_assert_msg(res.rc == -1 && res.err == EDEADLK,
	    "weft_run with T1 and T2 joining each other: rc %d errno %d (%s), expected -1 EDEADLK",
	    res.rc, res.err, strerror(res.err));
	ck_assert_msg(res.rc2 == -1 && res.err2 == EDEADLK,
	    "second weft_run: rc %d errno %d (%s), expected -1 EDEADLK",
	    res.rc2, res.err2, strerror(res.err2));
}
END_TEST

/* ---- weft_run ---------------------------------------------------------------- */

START_TEST(run_semantics)
{
	uint64_t live0 = live_tasks();
	weft_task *j;
	void *r = NULL;
	int i;

	/* No task at all. */
	ck_assert_int_eq(weft_run(), 0);

	g_counter = 0;
	task_checks_reset();
	j = weft_spawn(mix_fn, U2P(8));
	ck_assert_ptr_nonnull(j);
	for (i = 0; i < 5; i++) {
		weft_task *d = weft_spawn(slow_count_fn, NULL);

		ck_assert_ptr_nonnull(d);
		ck_assert_int_eq(weft_detach(d), 0);
	}
	ck_assert_int_eq(weft_run(), 0);
	ck_assert_int_eq(g_counter, 5);
	/* The finished, unjoined task did not keep weft_run going and can
	 * still be joined. */
	ck_assert_uint_eq(live_tasks(), live0 + 1);
	ck_assert_int_eq(weft_join(j, &r), 0);
	ck_assert_uint_eq(P2U(r), mix(8));
	ck_assert_int_eq(weft_run(), 0);
	ck_assert_uint_eq(live_tasks(), live0);
	assert_task_checks_passed();
}
END_TEST

/* ---- attributes ---------------------------------------------------------------- */

static size_t round_page(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (n + pg - 1) / pg * pg;
}

START_TEST(attr_defaults_and_round_trip)
{
	weft_attr a;
	size_t sz = 1;
	int g = -1, d = -1;

	ck_assert_int_eq(weft_attr_init(&a), 0);
	ck_assert_int_eq(weft_attr_getstacksize(&a, &sz), 0);
	/* "Runtime default": reported as 0 or as the default size. */
	ck_assert_msg(sz == 0 || sz == WEFT_STACK_DEFAULT,
	    "default attr stack size %zu", sz);
	ck_assert_int_eq(weft_attr_getguard(&a, &g), 0);
	ck_assert_int_eq(g, WEFT_GUARD_AUTO);
	ck_assert_int_eq(weft_attr_getdetached(&a, &d), 0);
	ck_assert_int_eq(d, 0);

	ck_assert_int_eq(weft_attr_setstacksize(&a, WEFT_STACK_MIN), 0);
	ck_assert_int_eq(weft_attr_getstacksize(&a, &sz), 0);
	ck_assert_uint_eq(sz, WEFT_STACK_MIN);
	ck_assert_int_eq(weft_attr_setstacksize(&a, WEFT_STACK_MIN + 1), 0);
	ck_assert_int_eq(weft_attr_getstacksize(&a, &sz), 0);
	ck_assert_uint_eq(sz, round_page(WEFT_STACK_MIN + 1));
	ck_assert_int_eq(weft_attr_setstacksize(&a, 100000), 0);
	ck_assert_int_eq(weft_attr_getstacksize(&a, &sz), 0);
	ck_assert_uint_eq(sz, round_page(100000));
	ck_assert_int_eq(weft_attr_setstacksize(&a, (size_t)1 << 20), 0);
	ck_assert_int_eq(weft_attr_getstacksize(&a, &sz), 0);
	ck_assert_uint_eq(sz, (size_t)1 << 20);
	/* 0 means "runtime default" again. */
	ck_assert_int_eq(weft_attr_setstacksize(&a, 0), 0);

	ck_assert_int_eq(weft_attr_setguard(&a, WEFT_GUARD_PAGE), 0);
	ck_assert_int_eq(weft_attr_getguard(&a, &g), 0);
	ck_assert_int_eq(g, WEFT_GUARD_PAGE);
	ck_assert_int_eq(weft_attr_setguard(&a, WEFT_GUARD_CANARY), 0);
	ck_assert_int_eq(weft_attr_getguard(&a, &g), 0);
	ck_assert_int_eq(g, WEFT_GUARD_CANARY);
	ck_assert_int_eq(weft_attr_setguard(&a, WEFT_GUARD_AUTO), 0);
	ck_assert_int_eq(weft_attr_getguard(&a, &g), 0);
	ck_assert_int_eq(g, WEFT_GUARD_AUTO);

	ck_assert_int_eq(weft_attr_setdetached(&a, 1), 0);
	ck_assert_int_eq(weft_attr_getdetached(&a, &d), 0);
	ck_assert_int_eq(d, 1);
	ck_assert_int_eq(weft_attr_setdetached(&a, 0), 0);
	ck_assert_int_eq(weft_attr_getdetached(&a, &d), 0);
	ck_assert_int_eq(d, 0);
}
END_TEST

START_TEST(attr_errors)
{
	weft_attr a, bad;
	size_t sz = 12345;
	int g = 99, d = 99;

	assert_fails(weft_attr_init(NULL), EINVAL);
	ck_assert_int_eq(weft_attr_init(&a), 0);

	/* Invalid values leave the attribute as it was. */
	ck_assert_int_eq(weft_attr_setstacksize(&a, 65536), 0);
	assert_fails(weft_attr_setstacksize(&a, WEFT_STACK_MIN - 1), EINVAL);
	assert_fails(weft_attr_setstacksize(&a, 1), EINVAL);
	ck_assert_int_eq(weft_attr_getstacksize(&a, &sz), 0);
	ck_assert_uint_eq(sz, 65536);

	ck_assert_int_eq(weft_attr_setguard(&a, WEFT_GUARD_PAGE), 0);
	assert_fails(weft_attr_setguard(&a, 7), EINVAL);
	assert_fails(weft_attr_setguard(&a, 3), EINVAL);
	assert_fails(weft_attr_setguard(&a, -1), EINVAL);
	ck_assert_int_eq(weft_attr_getguard(&a, &g), 0);
	ck_assert_int_eq(g, WEFT_GUARD_PAGE);

	assert_fails(weft_attr_setdetached(&a, 2), EINVAL);
	assert_fails(weft_attr_setdetached(&a, -1), EINVAL);
	ck_assert_int_eq(weft_attr_getdetached(&a, &d), 0);
	ck_assert_int_eq(d, 0);

	/* NULL attribute or NULL result. */
	assert_fails(weft_attr_setstacksize(NULL, 65536), EINVAL);
	assert_fails(weft_attr_setguard(NULL, WEFT_GUARD_PAGE), EINVAL);
	assert_fails(weft_attr_setdetached(NULL, 1), EINVAL);
	assert_fails(weft_attr_getstacksize(NULL, &sz), EINVAL);
	assert_fails(weft_attr_getguard(NULL, &g), EINVAL);
	assert_fails(weft_attr_getdetached(NULL, &d), EINVAL);
	assert_fails(weft_attr_getstacksize(&a, NULL), EINVAL);
	assert_fails(weft_attr_getguard(&a, NULL), EINVAL);
	assert_fails(weft_attr_getdetached(&a, NULL), EINVAL);

	/* Getters on storage weft_attr_init never saw. */
	memset(&bad, 0xff, sizeof(bad));
	assert_fails(weft_attr_getstacksize(&bad, &sz), EINVAL);
	assert_fails(weft_attr_getguard(&bad, &g), EINVAL);
	assert_fails(weft_attr_getdetached(&bad, &d), EINVAL);
	memset(&bad, 0, sizeof(bad));
	assert_fails(weft_attr_getstacksize(&bad, &sz), EINVAL);
	assert_fails(weft_attr_getguard(&bad, &g), EINVAL);
	assert_fails(weft_attr_getdetached(&bad, &d), EINVAL);
}
END_TEST

/* An attribute with every field set spawns a working task. */
START_TEST(attr_spawn_all_fields)
{
	weft_attr a;
	weft_task *t;
	void *r = NULL;

	ck_assert_int_eq(weft_attr_init(&a), 0);
	ck_assert_int_eq(weft_attr_setstacksize(&a, 64 * 1024), 0);
	ck_assert_int_eq(weft_attr_setguard(&a, WEFT_GUARD_PAGE), 0);
	ck_assert_int_eq(weft_attr_setname(&a, "full"), 0);
	t = weft_spawn_attr(mix_fn, U2P(6), &a);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(weft_task_name(t), "full");
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), mix(6));
	/* The same attribute serves many spawns. */
	ck_assert_int_eq(weft_attr_setguard(&a, WEFT_GUARD_CANARY), 0);
	t = weft_spawn_attr(mix_fn, U2P(7), &a);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), mix(7));
}
END_TEST

START_TEST(version)
{
	ck_assert_uint_eq(weft_version(), WEFT_VERSION_NUMBER);
	ck_assert_str_eq(weft_version_string(), WEFT_VERSION_STRING);
	ck_assert_uint_eq(WEFT_VERSION_NUMBER, (WEFT_VERSION_MAJOR << 16) |
	    (WEFT_VERSION_MINOR << 8) | WEFT_VERSION_PATCH);
}
END_TEST

static Suite *task_suite(void)
{
	Suite *s = suite_create("task");
	TCase *tc;

	tc = tcase_create("spawn_join");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, spawn_join_values);
	tcase_add_test(tc, join_null_result_and_null_return);
	tcase_add_test(tc, nested_spawns);
	tcase_add_test(tc, join_from_main_and_task);
	tcase_add_test(tc, spawn_attr_null_is_default);
	suite_add_tcase(s, tc);

	tc = tcase_create("concurrency");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, ten_thousand_concurrent);
	suite_add_tcase(s, tc);

	tc = tcase_create("yield");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, yield_fifo_from_main);
	tcase_add_test(tc, yield_fifo_from_task);
	tcase_add_test(tc, yield_returns_zero_outside);
	suite_add_tcase(s, tc);

	tc = tcase_create("detach");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, detach_runs_to_completion);
	tcase_add_test(tc, detach_after_finish);
	tcase_add_test(tc, detach_by_attr);
	tcase_add_test(tc, detach_errors);
	tcase_add_test(tc, run_semantics);
	suite_add_tcase(s, tc);

	tc = tcase_create("identity");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, self_inside_and_outside);
	tcase_add_test(tc, task_ids);
	tcase_add_test(tc, task_names);
	tcase_add_test(tc, version);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, spawn_errors);
	tcase_add_test(tc, join_errors);
	tcase_add_test(tc, join_self_and_run_in_task);
	tcase_add_test(tc, second_joiner_gets_einval);
	tcase_add_test(tc, run_deadlock_detected);
	suite_add_tcase(s, tc);

	tc = tcase_create("attr");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, attr_defaults_and_round_trip);
	tcase_add_test(tc, attr_errors);
	tcase_add_test(tc, attr_spawn_all_fields);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(task_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * Task groups: a scope for tasks, like Tokio's JoinSet or a Trio nursery.
 *
 * Each task of a group runs its function inside a wrapper that, when the
 * function returns, puts the task on the group's list of finished tasks
 * (completion order) and wakes whoever waits on the group: any number of
 * tasks may wait, each finished member goes to one of them.  Destroying
 * the group cancels and reaps what is left, so no task outlives its group;
 * it is refused while tasks wait on the group (EBUSY) and from one of its
 * own members (EDEADLK), which would wait for itself.
 */
#include "base/compiler.h"
#include "base/error.h"
#include "base/alloc.h"

#include <stdlib.h>

#include "base/list.h"
#include "base/queue.h"
#include "core/core.h"

#define GROUP_MAGIC 0x67727570u   /* "grup" */

struct member {
	struct weft__link link;       /* in the group: not yet reaped */
	struct weft__qnode done;      /* in the group's finished queue */
	struct weft_group *g;
	struct weft_task *task;
	void *(*fn)(void *);
	void *arg;
	void *result;
	int finished;
};

struct weft_group {
	unsigned magic;
	struct weft_rt *rt;
	int flags;
	int cancelled;
	struct weft__list members;
	struct weft__queue done;      /* finished, not yet taken: in order */
	size_t live;                  /* members not yet reaped */
	struct weft__list waiters;    /* struct waiter: in next, wait, destroy */
};

/* A task parked until a member finishes, on its own stack. */
struct waiter {
	struct weft__link link;
	struct weft_task *task;
};

static struct weft_rt *own_group(const weft_group *g)
{
	struct weft_rt *rt = weft__rt_peek();

	return g && g->magic == GROUP_MAGIC && g->rt == rt ? rt : NULL;
}

weft_group *weft_group_create(int flags)
{
	struct weft_rt *rt;
	weft_group *g;

	if (flags & ~WEFT_GROUP_FAIL_FAST)
		return weft__fail_null(EINVAL);
	if (!(rt = weft__rt_get()))
		return NULL;
	if (!(g = weft__calloc(1, sizeof(*g))))
		return weft__fail_null(ENOMEM);
	g->magic = GROUP_MAGIC;
	g->rt = rt;
	g->flags = flags;
	return g;
}

static void cancel_all(weft_group *g)
{
	struct weft__link *l;

	g->cancelled = 1;
	weft__list_each(l, &g->members) {
		struct member *m = weft__container_of(l, struct member, link);

		if (!m->finished)
			weft_cancel(m->task);
	}
}

/* Let every task waiting on g look again. */
static void wake_waiters(weft_group *g)
{
	struct weft__link *l;

	weft__list_each(l, &g->waiters)
		weft__unpark(g->rt, weft__container_of(l, struct waiter,
		    link)->task, 0);
}

static void *member_main(void *arg)
{
	struct member *m = arg;
	weft_group *g = m->g;

	m->result = m->fn(m->arg);
	m->finished = 1;
	weft__queue_push(&g->done, &m->done);
	if (m->result == WEFT_TASK_FAILED && (g->flags & WEFT_GROUP_FAIL_FAST) &&
	    !g->cancelled)
		cancel_all(g);
	wake_waiters(g);
	return NULL;
}

weft_task *weft_group_spawn(weft_group *g, void *(*fn)(void *), void *arg)
{
	struct member *m;
	weft_attr attr;

	if (!own_group(g) || !fn)
		return weft__fail_null(EINVAL);
	if (!(m = weft__calloc(1, sizeof(*m))))
		return weft__fail_null(ENOMEM);
	m->g = g;
	m->fn = fn;
	m->arg = arg;
	/* Members stay on the group's worker: the group is not shared
	 * between threads (weft_group_create(3)). */
	weft_attr_init(&attr);
	weft_attr_setlocal(&attr, 1);
	if (!(m->task = weft_spawn_attr(member_main, m, &attr))) {
		free(m);
		return NULL;
	}
	weft__task_adopt(m->task);
	weft__task_set_origin(m->task, __builtin_return_address(0),
	    (const void *)fn);
	if (g->cancelled)
		weft_cancel(m->task);
	weft__link_init(&m->link);
	weft__list_push_front(&g->members, &m->link);
	g->live++;
	return m->task;
}

/* Park until a finished member is there to take: 0, ECHILD when none is
 * left to finish (another waiter took the last), or why the wait ended. */
static int wait_done(weft_group *g, int flags)
{
	struct weft_rt *rt = g->rt;
	struct waiter w;
	int err = 0;

	w.task = weft__self(rt);
	weft__link_init(&w.link);
	weft__list_push_back(&g->waiters, &w.link);
	weft__wait_note(rt, WEFT__WAIT_GROUP, g, (int64_t)g->live, 0);
	while (weft__queue_empty(&g->done) && g->live > 0 &&
	    !(err = weft__park(rt, flags)))
		;
	weft__list_remove(&g->waiters, &w.link);
	if (!err && weft__queue_empty(&g->done))
		err = ECHILD;
	return err;
}

/* Is the calling task one of g's members? */
static int caller_is_member(weft_group *g)
{
	struct weft_task *self = weft__self(g->rt);
	struct weft__link *l;

	weft__list_each(l, &g->members)
		if (weft__container_of(l, struct member, link)->task == self)
			return 1;
	return 0;
}

/* Take the first finished member off the lists and free its task. */
static void reap_first(weft_group *g, uint64_t *id, void **result)
{
	struct member *m = weft__container_of(weft__queue_pop(&g->done),
	    struct member, done);

	weft__list_remove(&g->members, &m->link);
	/* The last one taken: the other waiters get ECHILD. */
	if (--g->live == 0)
		wake_waiters(g);
	if (id)
		*id = weft_task_id(m->task);
	if (result)
		*result = m->result;
	/* The wrapper has returned its result; the task ends right after. */
	weft__task_wait(g->rt, m->task, WEFT__PARK_NOINTR);
	weft__task_reap(g->rt, m->task, NULL);
	free(m);
}

int weft_group_next(weft_group *g, uint64_t *id, void **result)
{
	int err;

	if (!own_group(g))
		return weft__fail(EINVAL);
	if ((err = wait_done(g, 0)))
		return weft__fail(err);
	reap_first(g, id, result);
	return 0;
}

/* Reap every member; flags as for weft__park_until.  Failures or -errno. */
static int reap_all(weft_group *g, int flags)
{
	int failed = 0, err;
	void *r;

	while (g->live) {
		if ((err = wait_done(g, flags)) == ECHILD)
			break;
		if (err)
			return -err;
		reap_first(g, NULL, &r);
		failed += r == WEFT_TASK_FAILED;
	}
	return failed;
}

int weft_group_wait(weft_group *g)
{
	int n;

	if (!own_group(g))
		return weft__fail(EINVAL);
	if (caller_is_member(g))
		return weft__fail(EDEADLK);
	n = reap_all(g, 0);
	return n >= 0 ? n : weft__fail(-n);
}

int weft_group_cancel(weft_group *g)
{
	if (!own_group(g))
		return weft__fail(EINVAL);
	cancel_all(g);
	return 0;
}

int weft_group_destroy(weft_group *g)
{
	if (!own_group(g))
		return weft__fail(EINVAL);
	if (caller_is_member(g))
		return weft__fail(EDEADLK);
	if (!weft__list_empty(&g->waiters))
		return weft__fail(EBUSY);
	cancel_all(g);
	reap_all(g, WEFT__PARK_NOINTR);
	g->magic = 0;
	free(g);
	return 0;
}

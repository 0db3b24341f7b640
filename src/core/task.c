/*
 * Tasks: spawn, the task loop, exit, join, detach, names, ids and error
 * messages.
 *
 * Every state change of a task happens in this file or in scheduler.c
 * (READY/RUNNING/PARKED), nowhere else.
 */
#include "base/compiler.h"
#include "base/error.h"
#include "base/alloc.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/sys.h"
#include "core/attr.h"
#include "core/runtime.h"

#define CHUNK_TASKS WEFT__TASK_CHUNK

_Static_assert(offsetof(struct weft_task, note) == 0,
    "core.h's weft__wait_note finds the note at the task's start");

/*
 * Ids are unique in the process, so they can name tasks in logs.  Each
 * runtime takes them in blocks, keeping the atomic off the spawn path.
 */
#define ID_BLOCK 1024u
static _Atomic uint64_t next_id_block = 1;

static uint64_t new_id(struct weft__tasks *ts)
{
	if (weft__unlikely(ts->id_next == ts->id_end)) {
		ts->id_next = atomic_fetch_add_explicit(&next_id_block,
		    ID_BLOCK, memory_order_relaxed);
		ts->id_end = ts->id_next + ID_BLOCK;
	}
	return ts->id_next++;
}

/* ---- the pool ----------------------------------------------------------- */

void weft__tasks_init(struct weft__tasks *ts)
{
	memset(ts, 0, sizeof(*ts));
}

void weft__task_init_static(struct weft_task *t, struct weft_rt *rt)
{
	/* rt never changes: a handle from another thread can be told
	 * apart without a race. */
	t->rt = rt;
	t->scope_deadline = INT64_MAX;
	t->wake_msg.run = weft__sched_wake_msg;
	atomic_init(&t->wake_posted, 0);
}

void weft__tasks_term(struct weft_rt *rt)
{
	struct weft__tasks *ts = &rt->tasks;
	struct weft__task_chunk *c;
	unsigned i;

	while ((c = ts->chunks)) {
		ts->chunks = c->next;
		for (i = 0; i < CHUNK_TASKS; i++) {
			if (c->tasks[i].state != WEFT__FREE && c->tasks[i].stack)
				weft__stack_discard(&rt->stacks,
				    c->tasks[i].stack);
			free(c->tasks[i].errmsg);
		}
		free(c);
	}
	ts->free.top = NULL;
}

/* ---- fork --------------------------------------------------------------- */

static void task_forked(struct weft__tasks *ts, struct weft_task *t,
    struct weft_task *self)
{
	/* No wake-up is on its way: the threads that could post one are
	 * not in the child. */
	atomic_store(&t->wake_posted, 0);
	if (t->state == WEFT__FREE || t->state == WEFT__GONE)
		return;
	if (t != self && t->state != WEFT__DONE) {
		t->state = WEFT__GONE;   /* its timer left with the heap */
		return;
	}
	t->joiner = NULL;             /* a waiter, if any, is gone */
	if (!t->service) {
		ts->live++;
		ts->unfinished += t == self;
	}
}

void weft__tasks_forked(struct weft_rt *rt, struct weft_task *self)
{
	struct weft__tasks *ts = &rt->tasks;
	struct weft_task *main_task = &rt->sched.main_task;
	struct weft__task_chunk *c;
	unsigned i;

	ts->live = 0;
	ts->unfinished = 0;
	ts->run_waiter = NULL;
	for (c = ts->chunks; c; c = c->next)
		for (i = 0; i < CHUNK_TASKS; i++)
			task_forked(ts, &c->tasks[i], self);
	atomic_store(&main_task->wake_posted, 0);
	if (self != main_task)
		main_task->state = WEFT__GONE;
}

/* Is t a handle to nothing: never spawned, reaped, or left by fork? */
static int task_stale(const struct weft_task *t)
{
	return t->state == WEFT__FREE || t->state == WEFT__GONE;
}

static struct weft_task *task_alloc(struct weft_rt *rt)
{
	struct weft__tasks *ts = &rt->tasks;
	struct weft__task_chunk *c;
	unsigned i;

	if (weft__unlikely(weft__lifo_empty(&ts->free))) {
		c = weft__calloc(1, sizeof(*c));
		if (!c)
			return NULL;
		/* Every task (and main) may wait with a timer at once: make
		 * the room now, so that no wait fails for want of memory. */
		if (weft__heap_reserve(&rt->loop.timers,
		    (ts->nchunks + 1) * CHUNK_TASKS + 1) == -1) {
			free(c);
			return NULL;
		}
		c->next = ts->chunks;
		ts->chunks = c;
		ts->nchunks++;
		for (i = CHUNK_TASKS; i-- > 0;) {
			weft__task_init_static(&c->tasks[i], rt);
			weft__lifo_push(&ts->free, &c->tasks[i].node);
		}
	}
	return weft__container_of(weft__lifo_pop(&ts->free), struct weft_task,
	    node);
}

static void task_free(struct weft_rt *rt, struct weft_task *t)
{
	if (weft__unlikely(t->errmsg != NULL)) {
		free(t->errmsg);
		t->errmsg = NULL;
	}
	t->state = WEFT__FREE;
	weft__lifo_push(&rt->tasks.free, &t->node);
}

/* Release a finished task: its stack to the cache, the task to the pool. */
static void reap(struct weft_rt *rt, struct weft_task *t, int running)
{
	weft__stack_put(&rt->stacks, t->stack, running);
	t->stack = NULL;
	if (!t->service)
		rt->tasks.live--;
	task_free(rt, t);
}

/* ---- life of a task ----------------------------------------------------- */

/* fn has returned: wake whoever waits, and leave the stack for good. */
static void finish(struct weft_task *t)
{
	struct weft_rt *rt = t->rt;
	struct weft__stack *s = t->stack;
	struct weft__tasks *ts = &rt->tasks;

	t->state = WEFT__DONE;
	if (t->joiner)
		weft__unpark(rt, t->joiner, 0);
	if (!t->service && --ts->unfinished == 0) {
		/* The child of a fork in a task has no main to go back to:
		 * like a process whose last thread ends, it exits. */
		if (weft__unlikely(rt->sched.main_task.state == WEFT__GONE))
			exit(0);
		if (ts->run_waiter) {
			weft__unpark(rt, ts->run_waiter, 0);
			ts->run_waiter = NULL;
		}
	}
	if (t->detached)
		reap(rt, t, 1);
	weft__sched_leave(rt, s);
}

/*
 * Entry of every stack's context.  It never returns: when a task finishes,
 * the context waits here until the stack is taken from the cache for the
 * next task, which then runs without building a new context.
 */
static void task_loop(void *arg)
{
	struct weft__stack *s = arg;

	for (;;) {
		struct weft_task *t = s->task;

		t->result = t->fn(t->arg);
		finish(t);
	}
}

static weft_task *spawn(void *(*fn)(void *), void *arg,
    const weft_attr *attr, int service, const void *spawn_pc)
{
	struct weft__attr a;
	struct weft_rt *rt;
	struct weft_task *t;
	struct weft__stack *s;
	int guard;

	if (!fn || weft__attr_read(attr, &a) == -1)
		return weft__fail_null(EINVAL);
	if (!(rt = weft__rt_get()) || weft__rt_spawn_ready(rt) == -1)
		return NULL;
	if (!(t = task_alloc(rt)))
		return weft__fail_null(ENOMEM);
	guard = a.guard == WEFT_GUARD_AUTO ? rt->stacks.default_guard : a.guard;
	s = weft__stack_get(&rt->stacks,
	    a.stack_size ? a.stack_size : rt->stacks.default_size, guard,
	    task_loop);
	if (!s) {
		task_free(rt, t);
		return weft__fail_null(ENOMEM);
	}
	s->task = t;
	t->stack = s;
	t->fn = fn;
	t->arg = arg;
	t->result = NULL;
	t->id = new_id(&rt->tasks);
	t->joiner = NULL;
	t->timer.idx = 0;
	t->wake_err = 0;
	t->scope_deadline = INT64_MAX;
	t->cancelled = 0;
	t->nointr = 0;
	t->adopted = 0;
	t->service = (unsigned char)service;
	t->detached = (unsigned char)a.detached;
	t->note.kind = WEFT__WAIT_NONE;
	t->spawn_pc = spawn_pc;
	t->entry = (const void *)fn;
	if (a.name[0])
		memcpy(t->name, a.name, sizeof(t->name));
	else
		t->name[0] = '\0';
	if (!service) {
		rt->tasks.live++;
		rt->tasks.unfinished++;
		rt->tasks.spawned++;
	}
	weft__sched_ready(rt, t);
	return t;
}

weft_task *weft_spawn_attr(void *(*fn)(void *), void *arg,
    const weft_attr *attr)
{
	return spawn(fn, arg, attr, 0, __builtin_return_address(0));
}

weft_task *weft_spawn(void *(*fn)(void *), void *arg)
{
	return spawn(fn, arg, NULL, 0, __builtin_return_address(0));
}

struct weft_task *weft__spawn_service(void *(*fn)(void *), void *arg,
    const weft_attr *attr)
{
	return spawn(fn, arg, attr, 1, __builtin_return_address(0));
}

void weft__task_set_origin(struct weft_task *t, const void *spawn_pc,
    const void *entry)
{
	t->spawn_pc = spawn_pc;
	t->entry = entry;
}

/* A handle that names a live task of the calling thread's runtime. */
static struct weft_rt *own_task(const weft_task *t)
{
	struct weft_rt *rt = weft__rt_peek();

	if (!t || !rt || t->rt != rt || task_stale(t))
		return NULL;
	return rt;
}

int weft__task_joinable(struct weft_rt *rt, struct weft_task *t)
{
	if (!t || t->rt != rt || task_stale(t))
		return EINVAL;
	if (t == weft__self(rt))
		return EDEADLK;
	if (t->detached || t->joiner || t->adopted)
		return EINVAL;
	return 0;
}

int weft__task_done(const struct weft_task *t)
{
	return t->state == WEFT__DONE;
}

int weft__task_parked(const struct weft_task *t)
{
	return t->state == WEFT__PARKED;
}

void weft__task_set_joiner(struct weft_task *t, struct weft_task *joiner)
{
	t->joiner = joiner;
}

void weft__task_adopt(struct weft_task *t)
{
	t->adopted = 1;
}

void weft__task_reap(struct weft_rt *rt, struct weft_task *t, void **result)
{
	if (result)
		*result = t->result;
	reap(rt, t, 0);
}

/* Wait for t to finish; flags as for weft__park_until. */
int weft__task_wait(struct weft_rt *rt, struct weft_task *t, int flags)
{
	int err = 0;

	t->joiner = weft__self(rt);
	weft__wait_note(rt, WEFT__WAIT_JOIN, NULL, (int64_t)t->id, 0);
	while (t->state != WEFT__DONE &&
	    !(err = weft__park_until(rt, INT64_MAX, flags)))
		;
	t->joiner = NULL;
	return err;
}

int weft_join(weft_task *t, void **result)
{
	struct weft_rt *rt = weft__rt_peek();
	int err = weft__task_joinable(rt, t);

	if (err)
		return weft__fail(err);
	if ((err = weft__task_wait(rt, t, 0)))
		return weft__fail(err);
	weft__task_reap(rt, t, result);
	return 0;
}

int weft_detach(weft_task *t)
{
	struct weft_rt *rt = own_task(t);

	if (!rt || t->detached || t->joiner || t->adopted)
		return weft__fail(EINVAL);
	t->detached = 1;
	if (t->state == WEFT__DONE)
		reap(rt, t, 0);
	return 0;
}

int weft_cancel(weft_task *t)
{
	struct weft_rt *rt = own_task(t);

	if (!rt)
		return weft__fail(EINVAL);
	if (t->state == WEFT__DONE)
		return 0;
	t->cancelled = 1;
	if (!t->nointr)
		weft__unpark(rt, t, ECANCELED);
	return 0;
}

int weft_run(void)
{
	struct weft_rt *rt = weft__rt_get();
	struct weft__tasks *ts;
	int err;

	if (!rt)
		return -1;
	if (weft__in_task(rt))
		return weft__fail(EDEADLK);
	ts = &rt->tasks;
	while (ts->unfinished) {
		ts->run_waiter = weft__self(rt);
		weft__wait_note(rt, WEFT__WAIT_JOIN, NULL, 0, 0);
		err = weft__park(rt, 0);
		ts->run_waiter = NULL;
		if (err)
			return weft__fail(err);
	}
	return 0;
}

int weft_yield(void)
{
	struct weft_rt *rt = weft__rt_peek();

	if (!rt || !weft__in_task(rt)) {
		weft__sys_sched_yield();
		return 0;
	}
	weft__yield(rt);
	return 0;
}

weft_task *weft_self(void)
{
	struct weft_rt *rt = weft__rt_peek();

	return rt && weft__in_task(rt) ? weft__self(rt) : NULL;
}

uint64_t weft_task_id(const weft_task *t)
{
	return t ? t->id : 0;
}

const char *weft_task_name(const weft_task *t)
{
	return t ? t->name : NULL;
}

/* ---- error messages ----------------------------------------------------- */

void weft__task_set_errmsg(struct weft_task *t, const char *msg)
{
	free(t->errmsg);
	t->errmsg = msg && *msg ? weft__strdup(msg) : NULL;
}

const char *weft_errmsg(void)
{
	struct weft_rt *rt = weft__rt_peek();
	const char *m = rt ? weft__self(rt)->errmsg : NULL;

	return m ? m : "";
}

/* ---- names -------------------------------------------------------------- */

int weft__name_copy(char *dst, const char *name)
{
	size_t n = strlen(name);

	if (n >= WEFT_NAME_MAX)
		return weft__fail(ERANGE);
	memcpy(dst, name, n + 1);
	return 0;
}

int weft_task_setname(weft_task *t, const char *name)
{
	if (!t || !name || task_stale(t))
		return weft__fail(EINVAL);
	return weft__name_copy(t->name, name);
}

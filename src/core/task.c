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
#include "core/crew.h"
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
	atomic_init(&t->lock, 0);
	atomic_init(&t->finished, 0);
}

/* ---- a crew's handles ----------------------------------------------------- */

/* Held for a few stores: the handle's fields of a crew's task. */
static void task_lock(struct weft_task *t)
{
	while (atomic_exchange_explicit(&t->lock, 1, memory_order_acquire))
		while (atomic_load_explicit(&t->lock, memory_order_relaxed))
			weft__cpu_relax();
}

static void task_unlock(struct weft_task *t)
{
	atomic_store_explicit(&t->lock, 0, memory_order_release);
}

/* The handle's fields of any task: locked only for a crew's, which other
 * threads may touch; a runtime alone stays lock-free. */
static void handle_lock(struct weft_task *t)
{
	if (t->crew)
		task_lock(t);
}

static void handle_unlock(struct weft_task *t)
{
	if (t->crew)
		task_unlock(t);
}

/* Other workers read how many tasks run here (crew.c, placing). */
static void bound_add(struct weft_rt *rt, int delta)
{
	__atomic_store_n(&rt->tasks.bound, rt->tasks.bound + (uint64_t)delta,
	    __ATOMIC_RELAXED);
}

static int task_finished(struct weft_task *t)
{
	return atomic_load_explicit(&t->finished, memory_order_acquire);
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
		weft__task_state_set(t, WEFT__GONE);  /* its timer left with the heap */
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
		weft__task_state_set(main_task, WEFT__GONE);
}

/* Is t a handle to nothing: never spawned, reaped, or left by fork? */
static int task_stale(const struct weft_task *t)
{
	unsigned state = weft__task_state(t);

	return state == WEFT__FREE || state == WEFT__GONE;
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
	weft__task_state_set(t, WEFT__FREE);
	weft__lifo_push(&rt->tasks.free, &t->node);
}

/* Release a finished task: its stack to the cache, the task to the pool. */
static void reap(struct weft_rt *rt, struct weft_task *t, int running)
{
	/* A crew's task gave its stack back where it ran (finish_crew). */
	if (t->stack) {
		weft__stack_put(&rt->stacks, t->stack, running);
		t->stack = NULL;
	}
	if (!t->service && !t->crew)
		rt->tasks.live--;
	task_free(rt, t);
}

/* ---- life of a task ----------------------------------------------------- */

static void task_loop(void *arg);

/*
 * A stack for t, by the attributes it was spawned with and rt's defaults,
 * bound to it.  In a crew, tasks of other runtimes' pools run here too:
 * first make room in the timer heap for every task that may wait here,
 * so that no wait fails for want of memory.  NULL and ENOMEM.
 */
static struct weft__stack *stack_for(struct weft_rt *rt, struct weft_task *t)
{
	struct weft__stack *s;

	if (rt->worker.crew && weft__heap_reserve(&rt->loop.timers,
	    rt->tasks.nchunks * CHUNK_TASKS + rt->tasks.bound + 2) == -1)
		return NULL;
	s = weft__stack_get(&rt->stacks, t->want_size ? t->want_size :
	    rt->stacks.default_size, t->want_guard == WEFT_GUARD_AUTO ?
	    rt->stacks.default_guard : t->want_guard, task_loop);
	if (s)
		s->task = t;
	return s;
}

/*
 * A crew's task has returned.  Its stack goes back to this worker's cache
 * first (the context still runs on it until the switch below, and only
 * this thread takes from that cache); then, under the lock, it is DONE,
 * and its joiner (any worker's task) is woken.  From that moment another
 * worker may reap the record: nothing here touches t after.
 */
static void finish_crew(struct weft_task *t)
{
	struct weft_rt *rt = t->rt;
	struct weft__stack *s = t->stack;
	struct weft__crew *crew = t->crew;
	int service = t->service, detached;
	struct weft_task *joiner;

	bound_add(rt, -1);
	if (!service)
		rt->tasks.live--;
	weft__stack_put(&rt->stacks, s, 1);
	task_lock(t);
	t->stack = NULL;
	weft__task_state_set(t, WEFT__DONE);
	joiner = t->joiner;
	detached = t->detached;
	if (!joiner)
		atomic_store_explicit(&t->finished, 1, memory_order_release);
	task_unlock(t);
	if (detached)
		task_free(rt, t);
	else if (joiner)
		weft__wake_done(joiner, &t->finished);
	if (!service)
		weft__crew_task_ended(crew);
	weft__sched_leave(rt, s);
}

/* fn has returned: wake whoever waits, and leave the stack for good. */
static void finish(struct weft_task *t)
{
	struct weft_rt *rt = t->rt;
	struct weft__stack *s = t->stack;
	struct weft__tasks *ts = &rt->tasks;

	if (t->crew) {
		finish_crew(t);
		return;
	}
	weft__task_state_set(t, WEFT__DONE);
	if (t->joiner)
		weft__unpark(rt, t->joiner, 0);
	/* A task from before the runtime joined a crew is counted there. */
	if (!t->service && rt->worker.crew)
		weft__crew_task_ended(rt->worker.crew);
	else if (!t->service && --ts->unfinished == 0) {
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
	struct weft__stack *s = NULL;
	struct weft__crew *crew;
	int movable;

	if (!fn || weft__attr_read(attr, &a) == -1)
		return weft__fail_null(EINVAL);
	if (!(rt = weft__rt_get()) || weft__rt_spawn_ready(rt) == -1)
		return NULL;
	crew = rt->worker.crew;
	/* weft's own tasks serve their runtime: they never move. */
	movable = crew && !a.local && !service;
	if (!(t = task_alloc(rt)))
		return weft__fail_null(ENOMEM);
	t->want_size = a.stack_size;
	t->want_guard = a.guard;
	/* A task that may move gets its stack where it first runs. */
	if (!movable && !(s = stack_for(rt, t))) {
		task_free(rt, t);
		return weft__fail_null(ENOMEM);
	}
	/* t->crew is what the record held before: NULL, or this crew (a
	 * record never leaves its crew), so the lock choice is right. */
	handle_lock(t);
	t->rt = rt;                   /* a record may come from another worker */
	t->stack = s;
	t->crew = crew;
	t->fresh = (unsigned char)movable;
	t->id = new_id(&rt->tasks);
	atomic_store_explicit(&t->finished, 0, memory_order_relaxed);
	__atomic_store_n(&t->cancelled, 0, __ATOMIC_RELAXED);
	handle_unlock(t);
	t->fn = fn;
	t->arg = arg;
	t->result = NULL;
	t->joiner = NULL;
	t->timer.idx = 0;
	t->wake_err = 0;
	t->scope_deadline = INT64_MAX;
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
		rt->tasks.spawned++;
		if (crew)
			weft__crew_task_begun(crew);
		else
			rt->tasks.unfinished++;
		if (!movable)
			rt->tasks.live++;
	}
	if (movable) {
		weft__task_state_set(t, WEFT__READY);
		weft__crew_push(rt, t);
		return t;
	}
	if (crew)
		bound_add(rt, 1);
	weft__sched_ready(rt, t);
	return t;
}

int weft__task_bind(struct weft_rt *rt, struct weft_task *t)
{
	struct weft__stack *s = stack_for(rt, t);

	if (!s)
		return -1;
	task_lock(t);
	t->rt = rt;
	t->stack = s;
	t->fresh = 0;
	task_unlock(t);
	bound_add(rt, 1);
	if (!t->service)
		rt->tasks.live++;
	return 0;
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

/*
 * A handle that names a live task the caller may act on: one of its own
 * runtime, or any task of its crew.
 */
static struct weft_rt *own_task(const weft_task *t)
{
	struct weft_rt *rt = weft__rt_peek();

	if (!t || !rt || task_stale(t))
		return NULL;
	if (t->crew ? t->crew != rt->worker.crew : t->rt != rt)
		return NULL;
	return rt;
}

/* Taken by a joiner or a group, or detached: not joinable. */
static int task_claimed(struct weft_task *t)
{
	int claimed;

	handle_lock(t);
	claimed = t->detached || t->joiner || t->adopted;
	handle_unlock(t);
	return claimed;
}

int weft__task_joinable(struct weft_rt *rt, struct weft_task *t)
{
	if (!rt || own_task(t) != rt)
		return EINVAL;
	if (t == weft__self(rt))
		return EDEADLK;
	return task_claimed(t) ? EINVAL : 0;
}

int weft__task_done(struct weft_task *t)
{
	return t->crew ? task_finished(t) : t->state == WEFT__DONE;
}

int weft__task_parked(const struct weft_task *t)
{
	return weft__task_state(t) == WEFT__PARKED;
}

void weft__task_set_joiner(struct weft_task *t, struct weft_task *joiner)
{
	handle_lock(t);
	t->joiner = joiner;
	handle_unlock(t);
}

void weft__task_adopt(struct weft_task *t)
{
	handle_lock(t);
	t->adopted = 1;
	handle_unlock(t);
}

void weft__task_reap(struct weft_rt *rt, struct weft_task *t, void **result)
{
	if (result)
		*result = t->result;
	reap(rt, t, 0);
}

/* A crew's task: it may run on another worker, whose finish_crew wakes
 * us from there (a wait another thread ends: SHARED). */
static int task_wait_crew(struct weft_rt *rt, struct weft_task *t, int flags)
{
	struct weft_task *self = weft__self(rt);
	int err = 0;

	weft__task_set_joiner(t, self);
	weft__wait_note(rt, WEFT__WAIT_JOIN, NULL, (int64_t)t->id, 0);
	while (!task_finished(t) &&
	    !(err = weft__park_until(rt, INT64_MAX, flags | WEFT__PARK_SHARED)))
		;
	weft__task_set_joiner(t, NULL);
	return err;
}

/* Wait for t to finish; flags as for weft__park_until. */
int weft__task_wait(struct weft_rt *rt, struct weft_task *t, int flags)
{
	int err = 0;

	if (t->crew)
		return task_wait_crew(rt, t, flags);
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

/* A crew's task: whichever of finish_crew and detach comes second (the
 * lock orders them) frees the record. */
static int detach_crew(struct weft_rt *rt, struct weft_task *t)
{
	int done;

	task_lock(t);
	if (t->detached || t->joiner || t->adopted) {
		task_unlock(t);
		return weft__fail(EINVAL);
	}
	t->detached = 1;
	done = task_finished(t);
	task_unlock(t);
	if (done)
		task_free(rt, t);
	return 0;
}

int weft_detach(weft_task *t)
{
	struct weft_rt *rt = own_task(t);

	if (!rt)
		return weft__fail(EINVAL);
	if (t->crew)
		return detach_crew(rt, t);
	if (t->detached || t->joiner || t->adopted)
		return weft__fail(EINVAL);
	t->detached = 1;
	if (t->state == WEFT__DONE)
		reap(rt, t, 0);
	return 0;
}

/* A cancellation for a task that runs on another worker: interrupts its
 * wait there, if it is still the same task (ids are never reused). */
struct cancel_msg {
	struct weft__msg msg;
	struct weft_task *task;
	uint64_t id;
};

static void cancel_run(struct weft__msg *m, struct weft_rt *rt)
{
	struct cancel_msg *cm = weft__container_of(m, struct cancel_msg, msg);
	struct weft_task *t = cm->task;
	int same;

	if (rt) {
		task_lock(t);
		same = t->id == cm->id && !task_finished(t);
		task_unlock(t);
		/* Same task, started here: it cannot finish while we run. */
		if (same)
			weft__interrupt(rt, t, ECANCELED);
	}
	free(cm);
}

static int cancel_crew(struct weft_rt *rt, struct weft_task *t)
{
	struct weft_rt *owner;
	struct cancel_msg *cm;
	int fresh;

	if (!(cm = weft__malloc(sizeof(*cm))))
		return weft__fail(ENOMEM);
	task_lock(t);
	if (task_finished(t)) {
		task_unlock(t);
		free(cm);
		return 0;
	}
	__atomic_store_n(&t->cancelled, 1, __ATOMIC_SEQ_CST);
	fresh = t->fresh;
	owner = t->rt;
	cm->task = t;
	cm->id = t->id;
	task_unlock(t);
	/* Not started: its first wait sees the flag. */
	if (fresh || owner == rt) {
		free(cm);
		if (!fresh)
			weft__interrupt(rt, t, ECANCELED);
		return 0;
	}
	cm->msg.run = cancel_run;
	weft__mailbox_post(owner, &cm->msg);
	return 0;
}

int weft_cancel(weft_task *t)
{
	struct weft_rt *rt = own_task(t);

	if (!rt)
		return weft__fail(EINVAL);
	if (t->crew)
		return cancel_crew(rt, t);
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
	if (rt->worker.crew)
		return (err = weft__crew_run(rt)) ? weft__fail(err) : 0;
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

/*
 * Scheduler: the run queue, switching, park and unpark.  See scheduler.h.
 */
#include "base/compiler.h"
#include "base/error.h"

#include <string.h>

#include "base/clock.h"
#include "core/crew.h"
#include "core/loop.h"
#include "core/runtime.h"

/* Dispatches between two looks at timers and I/O while the queue is busy. */
#define FAIRNESS_TICKS 64u

void weft__sched_init(struct weft_rt *rt)
{
	struct weft__sched *s = &rt->sched;

	memset(s, 0, sizeof(*s));
	s->main_stack.kind = WEFT__STACK_THREAD;
	s->main_stack.low_sp = 0;
	weft__ctx_init_thread(&s->main_stack.ctx);
	weft__task_init_static(&s->main_task, rt);
	s->main_task.stack = &s->main_stack;
	weft__task_state_set(&s->main_task, WEFT__RUNNING);
	s->main_stack.task = &s->main_task;
	rt->view.main_task = &s->main_task;
	rt->view.current = &s->main_task;
	rt->view.clock = weft_now();
}

void weft__sched_forked(struct weft_rt *rt)
{
	struct weft__sched *s = &rt->sched;

	memset(&s->runq, 0, sizeof(s->runq));
	s->external = 0;
	s->shared = 0;
}

void weft__sched_ready(struct weft_rt *rt, struct weft_task *t)
{
	weft__task_state_set(t, WEFT__READY);
	weft__queue_push(&rt->sched.runq, &t->node);
}

void weft__unpark(struct weft_rt *rt, struct weft_task *t, int err)
{
	/* Two wake-ups can race (an fd and the deadline): the first wins. */
	if (t->state != WEFT__PARKED)
		return;
	t->wake_err = err;
	weft__sched_ready(rt, t);
}

void weft__interrupt(struct weft_rt *rt, struct weft_task *t, int err)
{
	if (!t->nointr)
		weft__unpark(rt, t, err);
}

/* ---- wake-ups from other threads --------------------------------------- */

void weft__wake_done(struct weft_task *t, atomic_int *done)
{
	struct weft_rt *owner = t->rt;

	if (owner == weft__tls_rt) {
		atomic_store_explicit(done, 1, memory_order_release);
		weft__unpark(owner, t, 0);
		return;
	}
	/* Say we are coming before t can see done: its thread then waits
	 * for us before it frees its runtime (runtime.c). */
	atomic_fetch_add(&owner->loop.posting, 1);
	atomic_store_explicit(done, 1, memory_order_release);
	/* One wake-up on its way is enough; a stale one is harmless. */
	if (!atomic_exchange(&t->wake_posted, 1))
		weft__mailbox_post(owner, &t->wake_msg);
	atomic_fetch_sub(&owner->loop.posting, 1);
}

void weft__sched_wake_msg(struct weft__msg *m, struct weft_rt *rt)
{
	struct weft_task *t = weft__container_of(m, struct weft_task, wake_msg);

	if (!rt)
		return;                 /* the runtime is going away */
	atomic_store(&t->wake_posted, 0);
	weft__unpark(rt, t, 0);
}

/* ---- switching ---------------------------------------------------------- */

/* The next task to run, or NULL: a crew's runtime also takes fresh
 * tasks, its own or other workers' (crew.c). */
static struct weft_task *next_ready(struct weft_rt *rt)
{
	struct weft__qnode *n;

	if (weft__unlikely(rt->worker.crew != NULL))
		return weft__crew_next(rt);
	n = weft__queue_pop(&rt->sched.runq);
	return n ? weft__container_of(n, struct weft_task, node) : NULL;
}

/* Switch from the context on stack from to the next ready task. */
static void switch_away(struct weft_rt *rt, struct weft__stack *from)
{
	struct weft__sched *s = &rt->sched;
	struct weft_task *next;

	/* A queue that never empties must not starve sleepers, I/O and
	 * other threads' wake-ups. */
	uint64_t ticks = atomic_load_explicit(&s->progress,
	    memory_order_relaxed) + 1;

	atomic_store_explicit(&s->progress, ticks, memory_order_relaxed);
	if (weft__unlikely(ticks % FAIRNESS_TICKS == 0))
		weft__loop_step(rt, 0);
	while (!(next = next_ready(rt)))
		weft__loop_step(rt, 1);
	weft__task_state_set(next, WEFT__RUNNING);
	rt->view.current = next;
	if (next->stack == from)
		return;
	s->switches++;
	weft__stack_switch_out(from);
	weft__ctx_switch(&from->ctx, &next->stack->ctx, &s->boot);
}

int weft__interrupted(struct weft_task *self)
{
	if (__atomic_load_n(&self->cancelled, __ATOMIC_RELAXED))
		return ECANCELED;
	if (self->scope_deadline != INT64_MAX &&
	    self->scope_deadline <= weft_now())
		return ETIMEDOUT;
	return 0;
}

/* Arm self's timer for the earlier of wake_at and, unless the wait is
 * uninterruptible, its deadline.  0 or an errno. */
static int arm_timer(struct weft_rt *rt, struct weft_task *self,
    int64_t wake_at, int flags)
{
	int64_t at = wake_at;
	int at_err = 0;

	if (!(flags & WEFT__PARK_NOINTR) && self->scope_deadline < at) {
		at = self->scope_deadline;
		at_err = ETIMEDOUT;
	}
	if (at == INT64_MAX)
		return 0;
	/* A passed deadline fails at once.  A wake time already past
	 * (callers check it) just fires on the next loop step. */
	if (at_err && at <= weft_now())
		return at_err;
	self->timer.key = at;
	self->timer_err = at_err;
	return weft__heap_add(&rt->loop.timers, &self->timer) == -1 ? ENOMEM : 0;
}

int weft__park_until(struct weft_rt *rt, int64_t wake_at, int flags)
{
	struct weft__sched *s = &rt->sched;
	struct weft_task *self = rt->view.current;
	unsigned shared = (flags & WEFT__PARK_SHARED) == WEFT__PARK_SHARED;
	int err;

	if (!(flags & WEFT__PARK_NOINTR) &&
	    __atomic_load_n(&self->cancelled, __ATOMIC_RELAXED))
		return ECANCELED;
	/* Something outside the run queue ends the wait: the loop will have
	 * to sleep in the poller for it. */
	if ((flags & WEFT__PARK_EXTERNAL) && weft__unlikely(!rt->loop.poller) &&
	    !weft__loop_poller(rt))
		return errno;
	if ((err = arm_timer(rt, self, wake_at, flags)))
		return err;
	self->nointr = (unsigned char)(flags & WEFT__PARK_NOINTR);
	weft__task_state_set(self, WEFT__PARKED);
	if (weft__unlikely(flags & WEFT__PARK_EXTERNAL)) {
		s->external++;
		s->shared += shared;
	}
	switch_away(rt, self->stack);
	if (weft__unlikely(flags & WEFT__PARK_EXTERNAL)) {
		s->external--;
		s->shared -= shared;
	}
	self->nointr = 0;
	if (weft__heap_contains(&self->timer))
		weft__heap_remove(&rt->loop.timers, &self->timer);
	return self->wake_err;
}

void weft__yield(struct weft_rt *rt)
{
	struct weft_task *self = rt->view.current;

	weft__sched_ready(rt, self);
	switch_away(rt, self->stack);
}

void weft__sched_leave(struct weft_rt *rt, struct weft__stack *s)
{
	switch_away(rt, s);
}

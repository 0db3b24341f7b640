/*
 * Scheduler: run queue, park/unpark, and the loop step that waits in the
 * poller when nothing is ready.  See sched.h for the shape.
 */
#include "weft_int.h"

#include <string.h>

#include "runtime.h"

/* Dispatches between two looks at timers and I/O while the queue is busy. */
#define FAIRNESS_TICKS 64u

int weft__sched_init(struct weft__sched *s, struct weft_rt *rt)
{
	memset(s, 0, sizeof(*s));
	s->main_stack.kind = WEFT__STACK_THREAD;
	s->main_stack.low_sp = 0;
	weft__ctx_init_thread(&s->main_stack.ctx);
	s->main_task.stack = &s->main_stack;
	s->main_task.rt = rt;
	s->main_task.state = WEFT__RUNNING;
	s->main_task.scope_deadline = INT64_MAX;
	s->main_stack.task = &s->main_task;
	s->current = &s->main_task;
	return weft__ctx_boot_init(&s->boot);
}

void weft__sched_ready(struct weft_rt *rt, struct weft_task *t)
{
	struct weft__sched *s = &rt->sched;

	t->state = WEFT__READY;
	t->next = NULL;
	if (s->rq_tail)
		s->rq_tail->next = t;
	else
		s->rq_head = t;
	s->rq_tail = t;
}

static struct weft_task *rq_pop(struct weft__sched *s)
{
	struct weft_task *t = s->rq_head;

	if (t) {
		s->rq_head = t->next;
		if (!s->rq_head)
			s->rq_tail = NULL;
	}
	return t;
}

void weft__unpark(struct weft_rt *rt, struct weft_task *t, int err)
{
	/* Two wake-ups can race (an fd and the deadline): the first wins. */
	if (t->state != WEFT__PARKED)
		return;
	t->wake_err = err;
	weft__sched_ready(rt, t);
}

/*
 * Nothing is ready, no timer is pending and no fd is watched: no task of
 * this runtime can ever run again.  Only main can be told, since main is
 * parked (in weft_join or weft_run) whenever no task runs.
 */
static void deadlock(struct weft_rt *rt)
{
	struct weft_task *main_task = &rt->sched.main_task;

	if (main_task->state == WEFT__PARKED && !main_task->nointr)
		weft__unpark(rt, main_task, EDEADLK);
}

/* Look at (or wait for, when block) the poller and the timers once. */
static void loop_step(struct weft_rt *rt, int block)
{
	int64_t next = weft__timer_next(&rt->timers), now, timeout = 0;
	struct weft_task *t;

	if (next == INT64_MAX && rt->sched.external == 0) {
		if (block)
			deadlock(rt);
		return;
	}
	if (block) {
		if (next == INT64_MAX) {
			timeout = -1;
		} else {
			now = weft_now();
			timeout = next > now ? next - now : 0;
		}
	}
	if (timeout != 0 || rt->sched.external) {
		weft__poller_wait(&rt->poller, timeout);
		weft__pool_collect(rt);
	}
	if (next != INT64_MAX) {
		now = weft_now();
		while ((t = weft__timer_pop_due(&rt->timers, now)))
			weft__unpark(rt, t, t->timer_err);
	}
}

/* Switch from the context on stack from to the next ready task. */
static void switch_away(struct weft_rt *rt, struct weft__stack *from)
{
	struct weft__sched *s = &rt->sched;
	struct weft_task *next;

	/* A queue that never empties must not starve sleepers and I/O. */
	if (weft__unlikely(++s->ticks % FAIRNESS_TICKS == 0))
		loop_step(rt, 0);
	while (!(next = rq_pop(s)))
		loop_step(rt, 1);
	next->state = WEFT__RUNNING;
	s->current = next;
	if (next->stack == from)
		return;
	s->switches++;
	weft__stack_switch_out(from);
	weft__ctx_switch(&from->ctx, &next->stack->ctx, &s->boot);
}

int weft__interrupted(struct weft_task *self)
{
	if (self->cancelled)
		return ECANCELED;
	if (self->scope_deadline != INT64_MAX &&
	    self->scope_deadline <= weft_now())
		return ETIMEDOUT;
	return 0;
}

int weft__park_until(struct weft_rt *rt, int64_t wake_at, int flags)
{
	struct weft_task *self = rt->sched.current;
	int64_t at = wake_at;
	int at_err = 0;

	if (!(flags & WEFT__PARK_NOINTR)) {
		if (self->cancelled)
			return ECANCELED;
		if (self->scope_deadline < at) {
			at = self->scope_deadline;
			at_err = ETIMEDOUT;
		}
	}
	if (at != INT64_MAX) {
		if (at <= weft_now())
			return at_err;
		self->timer_at = at;
		self->timer_err = at_err;
		if (weft__timer_add(&rt->timers, self) == -1)
			return ENOMEM;
	}
	self->nointr = (unsigned char)(flags & WEFT__PARK_NOINTR);
	self->state = WEFT__PARKED;
	switch_away(rt, self->stack);
	self->nointr = 0;
	if (self->timer_idx)
		weft__timer_remove(&rt->timers, self);
	return self->wake_err;
}

void weft__yield(struct weft_rt *rt)
{
	struct weft_task *self = rt->sched.current;

	weft__sched_ready(rt, self);
	switch_away(rt, self->stack);
}

void weft__sched_leave(struct weft_rt *rt, struct weft__stack *s)
{
	switch_away(rt, s);
}

struct weft__stack *weft__sched_running_stack(void)
{
	struct weft_rt *rt = weft__tls_rt;

	if (!rt || !weft__in_task(&rt->sched))
		return NULL;
	return rt->sched.current->stack;
}

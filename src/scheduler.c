/*
 * Scheduler: run queue, park/unpark, and the loop step that waits in the
 * poller when nothing is ready.  See sched.h for the shape.
 */
#include "weft_int.h"

#include <string.h>

#include "runtime.h"

/* Dispatches between two looks at timers and I/O while the queue is busy. */
#define FAIRNESS_TICKS 64u
/* How long an idle loop spins for a wake-up from another thread before it
 * sleeps in the kernel, when its tasks wait on shared objects. */
#define REMOTE_SPIN_NS 50000

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
 * parked whenever no task runs; returns whether it was.
 */
static int deadlock(struct weft_rt *rt)
{
	struct weft_task *main_task = &rt->sched.main_task;

	if (main_task->state != WEFT__PARKED || main_task->nointr)
		return 0;
	weft__unpark(rt, main_task, EDEADLK);
	return 1;
}

/* ---- wake-ups from other threads --------------------------------------- */

void weft__wake(struct weft_task *t)
{
	struct weft_rt *owner = t->rt;
	struct weft_task *head;

	if (owner == weft__tls_rt) {
		weft__unpark(owner, t, 0);
		return;
	}
	if (atomic_exchange(&t->remote_pending, 1))
		return;                 /* one is on its way already */
	head = atomic_load(&owner->sched.remote);
	do
		t->remote_next = head;
	while (!atomic_compare_exchange_weak(&owner->sched.remote, &head, t));
	weft__poller_wake(&owner->poller);
}

/* Make the tasks other threads woke ready, in the order they were woken. */
static int remote_collect(struct weft_rt *rt)
{
	struct weft_task *t, *next, *fifo = NULL;

	if (!atomic_load_explicit(&rt->sched.remote, memory_order_relaxed))
		return 0;
	t = atomic_exchange(&rt->sched.remote, NULL);
	for (; t; t = next) {
		next = t->remote_next;
		t->remote_next = fifo;
		fifo = t;
	}
	for (t = fifo; t; t = next) {
		next = t->remote_next;
		atomic_store(&t->remote_pending, 0);
		weft__unpark(rt, t, 0);
	}
	return 1;
}

/*
 * Before sleeping in the kernel, spin a little for a wake-up from another
 * thread: a peer that answers within microseconds then costs no system
 * call on either side (wake_pending tells wakers not to write the eventfd
 * while we look).  Returns whether something arrived.
 */
/* Did another thread leave something for this loop? */
static int remote_work(struct weft_rt *rt)
{
	return atomic_load(&rt->sched.remote) != NULL ||
	    atomic_load(&rt->pool.done) != NULL;
}

static int remote_spin(struct weft_rt *rt)
{
	struct weft__poller *p = &rt->poller;
	int64_t until = weft_now() + REMOTE_SPIN_NS;
	unsigned i = 0;
	int got = 0;

	atomic_store(&p->wake_pending, 1);
	while (!(got = remote_work(rt))) {
		weft__cpu_relax();
		if (++i % 64 == 0 && weft_now() >= until)
			break;
	}
	/* From here a waker must write the eventfd; look once more after
	 * saying so, or a wake-up between the two would be lost. */
	atomic_store(&p->wake_pending, 0);
	return got || remote_work(rt);
}

/* ---- the loop step ------------------------------------------------------ */

/* Look at (or wait for, when block) the poller and the timers once. */
static void loop_step(struct weft_rt *rt, int block)
{
	struct weft__sched *s = &rt->sched;
	int64_t next = weft__timer_next(&rt->timers), now, timeout = 0;
	int polled = s->external > s->sync_waits;  /* fds, pool, fetch */
	struct weft_task *t;

	if (remote_collect(rt) && block)
		return;
	if (block) {
		/* Nothing can wake a task.  If main cannot be told either
		 * (it waits uninterruptibly), sleep rather than spin. */
		if (next == INT64_MAX && s->external == 0 && deadlock(rt))
			return;
		if (next == INT64_MAX) {
			timeout = -1;
		} else {
			now = weft_now();
			timeout = next > now ? next - now : 0;
		}
		if (timeout != 0 && s->sync_waits && remote_spin(rt)) {
			weft__pool_collect(rt);
			remote_collect(rt);
			return;
		}
	}
	if (timeout != 0 || polled) {
		weft__poller_wait(&rt->poller, timeout);
		weft__pool_collect(rt);
		remote_collect(rt);
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

	/* A queue that never empties must not starve sleepers, I/O and
	 * other threads' wake-ups. */
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
		/* A passed deadline fails at once.  A wake time already
		 * past (callers check it) just fires on the next loop step. */
		if (at_err && at <= weft_now())
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

/*
 * The scheduler: the run queue, the running task, and park/unpark — the one
 * waiting primitive every blocking-looking call is built on.
 *
 * There is no scheduler context.  A task that parks switches straight to the
 * next ready task; when none is ready, the parking context itself waits in
 * the poller (on its own stack) until a timer or an fd makes one ready.  The
 * thread's own stack (plain main) takes part as the "main task", so a
 * weft_join from main is the same park as a join from a task.
 */
#ifndef WEFT_SCHEDULER_H
#define WEFT_SCHEDULER_H

#include "context.h"
#include "stack.h"
#include "task.h"

struct weft__sched {
	struct weft_task *current;
	struct weft_task *rq_head, *rq_tail;   /* FIFO run queue */
	uint64_t switches;
	unsigned ticks;                        /* dispatches, for fairness */
	unsigned external;                     /* waits an fd, the pool or
	                                          another thread will end */
	unsigned sync_waits;                   /* of which on shared objects */
	_Atomic(struct weft_task *) remote;    /* woken by other threads */
	struct weft_task main_task;            /* the thread's own stack */
	struct weft__stack main_stack;
	struct weft__ctx_boot boot;
};

int weft__sched_init(struct weft__sched *s, struct weft_rt *rt);

/* Is the caller a task (not the thread's own stack)? */
static inline int weft__in_task(const struct weft__sched *s)
{
	return s->current != &s->main_task;
}

/* Put t at the tail of the run queue. */
void weft__sched_ready(struct weft_rt *rt, struct weft_task *t);

/*
 * Suspend the calling task (or main) until weft__unpark, and return the
 * error given there: 0, or why the wait ended early.  Every wait in weft
 * goes through here, so every wait honours the same rules:
 *   - a cancelled task does not wait: ECANCELED at once, or as soon as
 *     weft_cancel is called while it waits;
 *   - the task's deadline (weft_deadline_push) ends the wait: ETIMEDOUT,
 *     at once if it is already past;
 *   - wake_at (INT64_MAX: none) ends the wait with 0 (a sleep's end);
 *   - EDEADLK: nothing can ever wake any task of this runtime (main only).
 * WEFT__PARK_NOINTR ignores cancellation and the deadline once parked: for
 * waits that must run to their end (I/O into the caller's buffer).
 */
#define WEFT__PARK_NOINTR 1
int weft__park_until(struct weft_rt *rt, int64_t wake_at, int flags);
static inline int weft__park(struct weft_rt *rt)
{
	return weft__park_until(rt, INT64_MAX, 0);
}

/* Would a wait of the calling task end at once?  0, ECANCELED, ETIMEDOUT. */
int weft__interrupted(struct weft_task *self);

/* Make a parked t ready; a task not parked is left alone.  Owner thread
 * only.  A wait must tolerate being woken for nothing: it checks what it
 * waits for and parks again. */
void weft__unpark(struct weft_rt *rt, struct weft_task *t, int err);

/* Wake t from any thread: directly on its own thread, else through its
 * runtime's remote queue and eventfd. */
void weft__wake(struct weft_task *t);

/* Let every ready task run, then come back (the task stays ready). */
void weft__yield(struct weft_rt *rt);

/*
 * The context on stack s has no task any more (it finished): switch away.
 * Returns when s is bound to a new task and scheduled.
 */
void weft__sched_leave(struct weft_rt *rt, struct weft__stack *s);

#endif /* WEFT_SCHEDULER_H */

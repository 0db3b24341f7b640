/*
 * The scheduler: the run queue, the running task, and park/unpark — the one
 * waiting primitive every blocking-looking call is built on (declared in
 * core.h for the layers above).
 *
 * There is no scheduler context.  A task that parks switches straight to the
 * next ready task; when none is ready, the parking context itself runs the
 * loop (loop.c) on its own stack until a timer, an fd or a message makes one
 * ready.  The thread's own stack (plain main) takes part as the "main task",
 * so a weft_join from main is the same park as a join from a task.
 */
#ifndef WEFT_CORE_SCHEDULER_H
#define WEFT_CORE_SCHEDULER_H

#include "base/queue.h"
#include "core/context.h"
#include "core/core.h"
#include "core/stack.h"
#include "core/task.h"

struct weft__sched {
	struct weft__queue runq;               /* FIFO of READY tasks */
	uint64_t switches;
	/* Every park, yield and finish: counts dispatches for fairness,
	 * and the watchdog (another thread) reads it to tell a task that
	 * holds the thread.  Only this thread writes it, so relaxed plain
	 * loads and stores do. */
	_Atomic uint64_t progress;
	unsigned external;                     /* parked in EXTERNAL waits */
	unsigned shared;                       /* of which SHARED */
	struct weft_task main_task;            /* the thread's own stack */
	struct weft__stack main_stack;
	struct weft__ctx_boot boot;
};

/* Set up rt's scheduler with the thread's stack as the running context. */
void weft__sched_init(struct weft_rt *rt);

/* In the child of fork(2): nothing is queued or waits outside. */
void weft__sched_forked(struct weft_rt *rt);

/* Put t at the tail of the run queue. */
void weft__sched_ready(struct weft_rt *rt, struct weft_task *t);

/* The context on stack s has no task any more (it finished): switch away.
 * Returns when s is bound to a new task and scheduled. */
void weft__sched_leave(struct weft_rt *rt, struct weft__stack *s);

/* A task's wake_msg arriving from another thread (weft__wake_done). */
void weft__sched_wake_msg(struct weft__msg *m, struct weft_rt *rt);

#endif /* WEFT_CORE_SCHEDULER_H */

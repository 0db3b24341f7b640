/*
 * Wait queues for objects shared between threads (mutex, condition,
 * semaphore, wait group, channel).
 *
 * An object has a spin lock, held only for a few instructions and never
 * across a park, and FIFO queues of waiters.  A waiter lives on the waiting
 * task's stack.  Whoever satisfies it (under the object's lock) fills in
 * its result, sets done, and wakes its task with weft__wake, which works
 * from any thread.  After setting done the waker never touches the waiter
 * again: the task may return and its stack frame go away at once.
 */
#ifndef WEFT_WAITQ_H
#define WEFT_WAITQ_H

#include <sched.h>
#include <stdatomic.h>

#include "weft_int.h"

struct weft_task;
struct weft__select;

typedef atomic_int weft__spin;

static inline void weft__spin_lock(weft__spin *l)
{
	unsigned n = 0;

	if (weft__one_thread()) {
		atomic_store_explicit(l, 1, memory_order_relaxed);
		return;
	}
	while (atomic_exchange_explicit(l, 1, memory_order_acquire)) {
		while (atomic_load_explicit(l, memory_order_relaxed)) {
			/* The holder may have been preempted: let it run. */
			if (++n % 128 == 0)
				sched_yield();
			else
				weft__cpu_relax();
		}
	}
}

static inline void weft__spin_unlock(weft__spin *l)
{
	atomic_store_explicit(l, 0, memory_order_release);
}

struct weft__waiter {
	struct weft__waiter *next, *prev;
	struct weft_task *task;
	atomic_int done;              /* set last by the waker */
	int err;                      /* what the waker reports (EPIPE) */
	void *elem;                   /* channels: value to take or fill */
	struct weft__select *sel;     /* a select waiting on several objects */
	int index;                    /* its case in the select */
	unsigned char queued;
};

struct weft__waitq {
	struct weft__waiter *head, *tail;
};

/* Wake t from any thread (scheduler.c). */
void weft__wake(struct weft_task *t);

/* The queue operations are on every channel operation's path: inline. */
static inline void weft__waitq_push(struct weft__waitq *q,
    struct weft__waiter *w)
{
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
	w->queued = 1;
}

static inline void weft__waitq_remove(struct weft__waitq *q,
    struct weft__waiter *w)
{
	if (!w->queued)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	w->queued = 0;
}

static inline struct weft__waiter *weft__waitq_pop(struct weft__waitq *q)
{
	struct weft__waiter *w = q->head;

	if (w)
		weft__waitq_remove(q, w);
	return w;
}

/* Prepare w for the calling task. */
static inline void weft__waiter_init(struct weft__waiter *w,
    struct weft_task *self)
{
	w->next = w->prev = NULL;
	w->task = self;
	atomic_init(&w->done, 0);
	w->err = 0;
	w->elem = NULL;
	w->sel = NULL;
	w->index = 0;
	w->queued = 0;
}

/* Satisfy w with err (0 or EPIPE) and wake its task; w is gone after. */
static inline void weft__waiter_done(struct weft__waiter *w, int err)
{
	struct weft_task *t = w->task;   /* read before done: see above */

	w->err = err;
	atomic_store_explicit(&w->done, 1, memory_order_release);
	weft__wake(t);
}

/*
 * Called with *lk held and w queued on q: release lk and park until w is
 * done (returns w->err), or until the deadline or a cancellation ends the
 * wait first (returns ETIMEDOUT or ECANCELED, w no longer queued).  A wait
 * satisfied at the same moment as it timed out counts as satisfied.
 */
int weft__waitq_wait(struct weft_rt *rt, struct weft__waiter *w,
    struct weft__waitq *q, weft__spin *lk, int flags);

#endif /* WEFT_WAITQ_H */

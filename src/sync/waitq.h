/*
 * Wait queues for objects shared between threads (mutex, condition,
 * semaphore, wait group, channel).
 *
 * An object has a spin lock, held only for a few instructions and never
 * across a park, and FIFO queues of waiters.  A waiter lives on the waiting
 * task's stack.  Whoever satisfies it (under the object's lock) fills in
 * its result, sets done and wakes its task with weft__wake_done, which
 * works from any thread.  After setting done the waker never touches the
 * waiter again: the task may return and its stack frame go away at once
 * (and its thread exit: weft__wake_done keeps the runtime meanwhile).
 *
 * A waiter that belongs to a weft_select waits on several objects at once;
 * all its waiters point to one select token, and only whoever claims the
 * token may satisfy one of them (weft__waitq_take does that).
 */
#ifndef WEFT_SYNC_WAITQ_H
#define WEFT_SYNC_WAITQ_H

#include <stdatomic.h>
#include <string.h>

#include "base/compiler.h"
#include "base/error.h"
#include "base/list.h"
#include "base/sys.h"
#include "core/core.h"

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
				weft__sys_sched_yield();
			else
				weft__cpu_relax();
		}
	}
}

static inline void weft__spin_unlock(weft__spin *l)
{
	atomic_store_explicit(l, 0, memory_order_release);
}

/* The token of one weft_select: which of its cases fired. */
#define WEFT__SELECT_OPEN   (-1)
#define WEFT__SELECT_GIVEUP (-2)
struct weft__select {
	atomic_int fired;             /* OPEN, GIVEUP, or the case's index */
};

/* Claim sel for case index; whoever succeeds fires that case, alone. */
static inline int weft__select_claim(struct weft__select *sel, int index)
{
	int open = WEFT__SELECT_OPEN;

	return atomic_compare_exchange_strong(&sel->fired, &open, index);
}

struct weft__waiter {
	struct weft__link link;       /* in the object's queue */
	struct weft_task *task;
	atomic_int done;              /* set last by the waker */
	int err;                      /* what the waker reports (EPIPE) */
	void *elem;                   /* channels: value to take or fill */
	struct weft__select *sel;     /* a select waiting on several objects */
	int index;                    /* its case in the select */
	unsigned char handoff;        /* mutex: hand it over, no retry */
	struct weft_rt *rt;           /* mutex: the waiting task's runtime */
};

struct weft__waitq {
	struct weft__list list;       /* all zeroes: empty */
};

static inline int weft__waitq_empty(const struct weft__waitq *q)
{
	return weft__list_empty(&q->list);
}

/* The queue operations are on every channel operation's path: inline. */
static inline void weft__waitq_push(struct weft__waitq *q,
    struct weft__waiter *w)
{
	weft__list_push_back(&q->list, &w->link);
}

/* Take w off q; nothing happens if it is not queued. */
static inline void weft__waitq_remove(struct weft__waitq *q,
    struct weft__waiter *w)
{
	weft__list_remove(&q->list, &w->link);
}

/* The longest waiter, dequeued (or NULL). */
static inline struct weft__waiter *weft__waitq_pop(struct weft__waitq *q)
{
	struct weft__link *l = weft__list_pop_front(&q->list);

	return l ? weft__container_of(l, struct weft__waiter, link) : NULL;
}

/* The longest waiter that may still be satisfied, dequeued: a select's
 * waiter only if its select is claimed for it. */
static inline struct weft__waiter *weft__waitq_take(struct weft__waitq *q)
{
	struct weft__waiter *w;

	while ((w = weft__waitq_pop(q)))
		if (!w->sel || weft__select_claim(w->sel, w->index))
			return w;
	return NULL;
}

/* Prepare w for the calling task. */
static inline void weft__waiter_init(struct weft__waiter *w,
    struct weft_task *self)
{
	weft__link_init(&w->link);
	w->task = self;
	atomic_init(&w->done, 0);
	w->err = 0;
	w->elem = NULL;
	w->sel = NULL;
	w->index = 0;
	w->handoff = 0;
}

/* Satisfy w with err (0 or EPIPE) and wake its task; w is gone after. */
static inline void weft__waiter_done(struct weft__waiter *w, int err)
{
	w->err = err;
	weft__wake_done(w->task, &w->done);
}

static inline int weft__waiter_is_done(struct weft__waiter *w)
{
	return atomic_load_explicit(&w->done, memory_order_acquire);
}

/* weft_mutex_init and the like: zero the caller's storage (a zeroed
 * object is ready to use); 0, or -1 and EINVAL for NULL. */
static inline int weft__sync_zero(void *obj, size_t size)
{
	if (!obj)
		return weft__fail(EINVAL);
	memset(obj, 0, size);
	return 0;
}

/* weft_cond_destroy and the like: mark the object destroyed unless tasks
 * wait on it; 0, or -1 and EBUSY (EINVAL: destroyed already). */
static inline int weft__sync_retire(weft__spin *lk, struct weft__waitq *q,
    atomic_int *destroyed)
{
	int busy;

	if (atomic_load(destroyed))
		return weft__fail(EINVAL);
	weft__spin_lock(lk);
	busy = !weft__waitq_empty(q);
	if (!busy)
		atomic_store(destroyed, 1);
	weft__spin_unlock(lk);
	return busy ? weft__fail(EBUSY) : 0;
}

/* The caller of a sync operation: the running task, or the thread's own
 * stack (its runtime made if need be); NULL and errno. */
static inline struct weft_task *weft__sync_caller(struct weft_rt **rtp)
{
	struct weft_rt *rt = weft__rt_get();

	if (rtp)
		*rtp = rt;
	return rt ? weft__self(rt) : NULL;
}

/*
 * Called with *lk held and w queued on q: release lk and park until w is
 * done (returns w->err), or until the deadline or a cancellation ends the
 * wait first (returns ETIMEDOUT or ECANCELED, w no longer queued).  A wait
 * satisfied at the same moment as it timed out counts as satisfied.
 */
int weft__waitq_wait(struct weft_rt *rt, struct weft__waiter *w,
    struct weft__waitq *q, weft__spin *lk, int flags);

#endif /* WEFT_SYNC_WAITQ_H */

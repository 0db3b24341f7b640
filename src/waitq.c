/*
 * Wait queues: see waitq.h.
 */
#include "weft_int.h"

#include "runtime.h"
#include "waitq.h"

void weft__waitq_push(struct weft__waitq *q, struct weft__waiter *w)
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

void weft__waitq_remove(struct weft__waitq *q, struct weft__waiter *w)
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

struct weft__waiter *weft__waitq_pop(struct weft__waitq *q)
{
	struct weft__waiter *w = q->head;

	if (w)
		weft__waitq_remove(q, w);
	return w;
}

void weft__waiter_init(struct weft__waiter *w, struct weft_task *self)
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

void weft__waiter_done(struct weft__waiter *w, int err)
{
	struct weft_task *t = w->task;   /* read before done: see waitq.h */

	w->err = err;
	atomic_store_explicit(&w->done, 1, memory_order_release);
	weft__wake(t);
}

int weft__waitq_wait(struct weft_rt *rt, struct weft__waiter *w,
    struct weft__waitq *q, weft__spin *lk, int flags)
{
	int err;

	rt->sched.external++;
	rt->sched.sync_waits++;
	weft__spin_unlock(lk);
	for (;;) {
		err = weft__park_until(rt, INT64_MAX, flags);
		if (atomic_load_explicit(&w->done, memory_order_acquire)) {
			err = w->err;
			break;
		}
		if (!err)
			continue;       /* woken for nothing: wait on */
		weft__spin_lock(lk);
		if (atomic_load_explicit(&w->done, memory_order_acquire)) {
			err = w->err;
		} else {
			weft__waitq_remove(q, w);
		}
		weft__spin_unlock(lk);
		break;
	}
	rt->sched.sync_waits--;
	rt->sched.external--;
	return err;
}

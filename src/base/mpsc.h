/*
 * The one multi-producer single-consumer queue: any thread pushes, one
 * thread (the owner) takes everything at once, oldest first.
 *
 * Producers push onto a lock-free stack with compare-and-swap; the consumer
 * swaps the whole stack out and reverses it.  No node is ever popped alone,
 * so the ABA problem of lock-free stacks cannot arise.
 */
#ifndef WEFT_BASE_MPSC_H
#define WEFT_BASE_MPSC_H

#include <stdatomic.h>
#include <stddef.h>

#include "base/queue.h"

struct weft__mpsc {
	_Atomic(struct weft__qnode *) top;
};

/* Any thread. */
static inline void weft__mpsc_push(struct weft__mpsc *q,
    struct weft__qnode *n)
{
	struct weft__qnode *top = atomic_load_explicit(&q->top,
	    memory_order_relaxed);

	do
		n->next = top;
	while (!atomic_compare_exchange_weak_explicit(&q->top, &top, n,
	    memory_order_release, memory_order_relaxed));
}

/* A cheap look, owner only: may something be queued? */
static inline int weft__mpsc_maybe_full(struct weft__mpsc *q)
{
	return atomic_load_explicit(&q->top, memory_order_relaxed) != NULL;
}

/* A look that orders with the producers (for a wake-up protocol). */
static inline int weft__mpsc_full(struct weft__mpsc *q)
{
	return atomic_load(&q->top) != NULL;
}

/* Owner only: everything queued, as a list oldest first (NULL-ended). */
static inline struct weft__qnode *weft__mpsc_take(struct weft__mpsc *q)
{
	struct weft__qnode *n, *next, *fifo = NULL;

	if (!weft__mpsc_maybe_full(q))
		return NULL;
	n = atomic_exchange_explicit(&q->top, NULL, memory_order_acquire);
	for (; n; n = next) {
		next = n->next;
		n->next = fifo;
		fifo = n;
	}
	return fifo;
}

#endif /* WEFT_BASE_MPSC_H */

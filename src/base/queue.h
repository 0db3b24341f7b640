/*
 * The one singly linked queue, used both ways: FIFO (push at the tail, pop
 * at the head: the run queue, the pool's jobs) and LIFO (push at the head:
 * free lists and caches, where the most recently freed is the warmest).
 * All zeroes is an empty queue.  A node lives inside the object it queues.
 */
#ifndef WEFT_BASE_QUEUE_H
#define WEFT_BASE_QUEUE_H

#include <stddef.h>

struct weft__qnode {
	struct weft__qnode *next;
};

struct weft__queue {
	struct weft__qnode *head, *tail;
};

static inline int weft__queue_empty(const struct weft__queue *q)
{
	return q->head == NULL;
}

/* FIFO: n goes last. */
static inline void weft__queue_push(struct weft__queue *q,
    struct weft__qnode *n)
{
	n->next = NULL;
	if (q->tail)
		q->tail->next = n;
	else
		q->head = n;
	q->tail = n;
}

/* LIFO: n goes first. */
static inline void weft__queue_push_front(struct weft__queue *q,
    struct weft__qnode *n)
{
	n->next = q->head;
	q->head = n;
	if (!q->tail)
		q->tail = n;
}

static inline struct weft__qnode *weft__queue_pop(struct weft__queue *q)
{
	struct weft__qnode *n = q->head;

	if (n) {
		q->head = n->next;
		if (!q->head)
			q->tail = NULL;
	}
	return n;
}

#endif /* WEFT_BASE_QUEUE_H */

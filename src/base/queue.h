/*
 * The one singly linked queue, in its two shapes: FIFO (struct
 * weft__queue: push at the tail, pop at the head: the run queue, the
 * pool's jobs) and LIFO (struct weft__lifo: free lists and caches, where
 * the most recently freed is the warmest, and no tail needs keeping).
 * Both take the same node, which lives inside the object it queues; all
 * zeroes is empty.
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

struct weft__lifo {
	struct weft__qnode *top;
};

static inline int weft__lifo_empty(const struct weft__lifo *l)
{
	return l->top == NULL;
}

static inline void weft__lifo_push(struct weft__lifo *l,
    struct weft__qnode *n)
{
	n->next = l->top;
	l->top = n;
}

static inline struct weft__qnode *weft__lifo_pop(struct weft__lifo *l)
{
	struct weft__qnode *n = l->top;

	if (n)
		l->top = n->next;
	return n;
}

#endif /* WEFT_BASE_QUEUE_H */

/*
 * The timer heap: a binary min-heap of nodes ordered by a 64-bit key (a
 * deadline).  A node lives inside the object it orders and remembers its
 * index, so it can leave early in O(log n).
 */
#ifndef WEFT_BASE_HEAP_H
#define WEFT_BASE_HEAP_H

#include <stddef.h>
#include <stdint.h>

struct weft__heap_node {
	int64_t key;
	size_t idx;                 /* position in the heap; 0: not in it */
};

struct weft__heap {
	struct weft__heap_node **v; /* v[1..len]; slot 0 unused */
	size_t len;
	size_t cap;
};

void weft__heap_init(struct weft__heap *h);
void weft__heap_term(struct weft__heap *h);
/* Room for n nodes, so that adding up to n never allocates; 0, or -1 and
 * ENOMEM. */
int weft__heap_reserve(struct weft__heap *h, size_t n);
/* Insert n with n->key set.  -1 and ENOMEM if the heap cannot grow. */
int weft__heap_add(struct weft__heap *h, struct weft__heap_node *n);
/* Remove n if it is in the heap. */
void weft__heap_remove(struct weft__heap *h, struct weft__heap_node *n);
/* Take out the node with the smallest key if that key is <= now. */
struct weft__heap_node *weft__heap_pop_due(struct weft__heap *h, int64_t now);

static inline int weft__heap_contains(const struct weft__heap_node *n)
{
	return n->idx != 0;
}

/* The smallest key, or INT64_MAX when the heap is empty. */
static inline int64_t weft__heap_min(const struct weft__heap *h)
{
	return h->len ? h->v[1]->key : INT64_MAX;
}

#endif /* WEFT_BASE_HEAP_H */

/*
 * The timer heap.  Deadlines of tasks spawned together arrive in increasing
 * order, so an insertion usually stops at the first comparison.
 */
#include "base/compiler.h"
#include "base/error.h"
#include "base/alloc.h"

#include <stdlib.h>

#include "base/heap.h"

void weft__heap_init(struct weft__heap *h)
{
	h->v = NULL;
	h->len = 0;
	h->cap = 0;
}

void weft__heap_term(struct weft__heap *h)
{
	free(h->v);
	weft__heap_init(h);
}

static void place(struct weft__heap *h, size_t i, struct weft__heap_node *n)
{
	h->v[i] = n;
	n->idx = i;
}

static void sift_up(struct weft__heap *h, size_t i, struct weft__heap_node *n)
{
	while (i > 1 && h->v[i / 2]->key > n->key) {
		place(h, i, h->v[i / 2]);
		i /= 2;
	}
	place(h, i, n);
}

static void sift_down(struct weft__heap *h, size_t i,
    struct weft__heap_node *n)
{
	size_t child;

	while ((child = 2 * i) <= h->len) {
		if (child < h->len && h->v[child + 1]->key < h->v[child]->key)
			child++;
		if (h->v[child]->key >= n->key)
			break;
		place(h, i, h->v[child]);
		i = child;
	}
	place(h, i, n);
}

int weft__heap_reserve(struct weft__heap *h, size_t n)
{
	size_t cap = h->cap ? h->cap : 256;
	struct weft__heap_node **v;

	while (cap < n + 2)                 /* slot 0 unused, one spare */
		cap *= 2;
	if (cap == h->cap)
		return 0;
	if (!(v = weft__realloc(h->v, cap * sizeof(*v))))
		return weft__fail(ENOMEM);
	h->v = v;
	h->cap = cap;
	return 0;
}

int weft__heap_add(struct weft__heap *h, struct weft__heap_node *n)
{
	if (h->len + 1 >= h->cap && weft__heap_reserve(h, h->len + 1) == -1)
		return -1;
	sift_up(h, ++h->len, n);
	return 0;
}

void weft__heap_remove(struct weft__heap *h, struct weft__heap_node *n)
{
	size_t i = n->idx;
	struct weft__heap_node *last;

	if (i == 0)
		return;
	n->idx = 0;
	last = h->v[h->len--];
	if (last == n)
		return;
	/* The last entry fills the hole and moves whichever way it must. */
	if (i > 1 && h->v[i / 2]->key > last->key)
		sift_up(h, i, last);
	else
		sift_down(h, i, last);
}

struct weft__heap_node *weft__heap_pop_due(struct weft__heap *h, int64_t now)
{
	struct weft__heap_node *n;

	if (!h->len || h->v[1]->key > now)
		return NULL;
	n = h->v[1];
	weft__heap_remove(h, n);
	return n;
}

/*
 * The one intrusive doubly linked list.
 *
 * A node (struct weft__link) lives inside the object it links; the list
 * head is two pointers, and all zeroes is an empty list, so lists inside
 * objects that callers zero (weft_mutex storage) need no initialiser.  A
 * node that is not on a list points to itself, so removing it twice, or
 * removing one never added, is harmless: weft__link_init before first use.
 */
#ifndef WEFT_BASE_LIST_H
#define WEFT_BASE_LIST_H

#include <stddef.h>

struct weft__link {
	struct weft__link *next, *prev;
};

struct weft__list {
	struct weft__link *first, *last;
};

static inline void weft__link_init(struct weft__link *n)
{
	n->next = n->prev = n;
}

static inline int weft__link_linked(const struct weft__link *n)
{
	return n->next != n;
}

static inline int weft__list_empty(const struct weft__list *l)
{
	return l->first == NULL;
}

/* Put n on l just after prev (NULL: first). */
static inline void weft__list_insert_after(struct weft__list *l,
    struct weft__link *prev, struct weft__link *n)
{
	struct weft__link *next = prev ? prev->next : l->first;

	n->prev = prev;
	n->next = next;
	*(prev ? &prev->next : &l->first) = n;
	*(next ? &next->prev : &l->last) = n;
}

static inline void weft__list_push_back(struct weft__list *l,
    struct weft__link *n)
{
	weft__list_insert_after(l, l->last, n);
}

static inline void weft__list_push_front(struct weft__list *l,
    struct weft__link *n)
{
	weft__list_insert_after(l, NULL, n);
}

/* Take n off l; nothing happens if n is on no list. */
static inline void weft__list_remove(struct weft__list *l,
    struct weft__link *n)
{
	if (!weft__link_linked(n))
		return;
	if (n->prev)
		n->prev->next = n->next;
	else
		l->first = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		l->last = n->prev;
	weft__link_init(n);
}

static inline struct weft__link *weft__list_pop_front(struct weft__list *l)
{
	struct weft__link *n = l->first;

	if (n)
		weft__list_remove(l, n);
	return n;
}

/* Every node of l, first to last; the body may not remove pos. */
#define weft__list_each(pos, l) \
	for ((pos) = (l)->first; (pos); (pos) = (pos)->next)

/* The same, where the body may remove or free pos. */
#define weft__list_each_safe(pos, tmp, l) \
	for ((pos) = (l)->first; (pos) && ((tmp) = (pos)->next, 1); \
	    (pos) = (tmp))

#endif /* WEFT_BASE_LIST_H */

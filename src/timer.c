/*
 * Timer heap.  Deadlines of tasks spawned together arrive in increasing
 * order, so an insertion usually stops at the first comparison.
 */
#include "weft_int.h"

#include <stdlib.h>

#include "task.h"
#include "timer.h"

void weft__timers_init(struct weft__timers *tm)
{
	tm->heap = NULL;
	tm->len = 0;
	tm->cap = 0;
}

void weft__timers_term(struct weft__timers *tm)
{
	free(tm->heap);
	weft__timers_init(tm);
}

static void place(struct weft__timers *tm, size_t i, struct weft_task *t)
{
	tm->heap[i] = t;
	t->timer_idx = i;
}

static void sift_up(struct weft__timers *tm, size_t i, struct weft_task *t)
{
	while (i > 1 && tm->heap[i / 2]->timer_at > t->timer_at) {
		place(tm, i, tm->heap[i / 2]);
		i /= 2;
	}
	place(tm, i, t);
}

static void sift_down(struct weft__timers *tm, size_t i, struct weft_task *t)
{
	size_t child;

	while ((child = 2 * i) <= tm->len) {
		if (child < tm->len &&
		    tm->heap[child + 1]->timer_at < tm->heap[child]->timer_at)
			child++;
		if (tm->heap[child]->timer_at >= t->timer_at)
			break;
		place(tm, i, tm->heap[child]);
		i = child;
	}
	place(tm, i, t);
}

int weft__timer_add(struct weft__timers *tm, struct weft_task *t)
{
	if (tm->len + 1 >= tm->cap) {
		size_t cap = tm->cap ? tm->cap * 2 : 256;
		struct weft_task **h = realloc(tm->heap, cap * sizeof(*h));

		if (!h)
			return weft__fail(ENOMEM);
		tm->heap = h;
		tm->cap = cap;
	}
	sift_up(tm, ++tm->len, t);
	return 0;
}

void weft__timer_remove(struct weft__timers *tm, struct weft_task *t)
{
	size_t i = t->timer_idx;
	struct weft_task *last;

	if (i == 0)
		return;
	t->timer_idx = 0;
	last = tm->heap[tm->len--];
	if (last == t)
		return;
	/* The last entry fills the hole and moves whichever way it must. */
	if (i > 1 && tm->heap[i / 2]->timer_at > last->timer_at)
		sift_up(tm, i, last);
	else
		sift_down(tm, i, last);
}

int64_t weft__timer_next(const struct weft__timers *tm)
{
	return tm->len ? tm->heap[1]->timer_at : INT64_MAX;
}

struct weft_task *weft__timer_pop_due(struct weft__timers *tm, int64_t now)
{
	struct weft_task *t;

	if (!tm->len || tm->heap[1]->timer_at > now)
		return NULL;
	t = tm->heap[1];
	weft__timer_remove(tm, t);
	return t;
}

/*
 * The timer heap: tasks ordered by deadline (a binary min-heap of task
 * pointers; each task remembers its index so it can leave early).
 */
#ifndef WEFT_TIMER_H
#define WEFT_TIMER_H

#include <stddef.h>
#include <stdint.h>

struct weft_task;

struct weft__timers {
	struct weft_task **heap;   /* heap[1..len]; slot 0 unused */
	size_t len;
	size_t cap;
};

void weft__timers_init(struct weft__timers *tm);
void weft__timers_term(struct weft__timers *tm);
/* Insert t with t->timer_at set.  -1 and ENOMEM if the heap cannot grow. */
int weft__timer_add(struct weft__timers *tm, struct weft_task *t);
/* Remove t if it is in the heap. */
void weft__timer_remove(struct weft__timers *tm, struct weft_task *t);
/* The earliest deadline, or INT64_MAX when empty. */
int64_t weft__timer_next(const struct weft__timers *tm);
/* Pop the earliest task if its deadline is <= now, else NULL. */
struct weft_task *weft__timer_pop_due(struct weft__timers *tm, int64_t now);

#endif /* WEFT_TIMER_H */

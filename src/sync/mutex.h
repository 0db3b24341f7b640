/*
 * The mutex's layout, shared with the condition variable (cond.c), which
 * checks ownership and re-locks uninterruptibly.
 */
#ifndef WEFT_SYNC_MUTEX_H
#define WEFT_SYNC_MUTEX_H

#include "sync/waitq.h"

struct weft__mutex {
	atomic_uint state;            /* LOCKED, WAITERS, DESTROYED bits */
	weft__spin lk;
	_Atomic(struct weft_task *) owner;
	struct weft__waitq q;
};

static inline struct weft__mutex *weft__mutex_of(weft_mutex *m)
{
	return (struct weft__mutex *)(void *)m;
}

/* weft_mutex_lock with park flags (WEFT__PARK_NOINTR: a wait no deadline
 * or cancellation ends); 0, or -1 and errno. */
int weft__mutex_lock(weft_mutex *m, int flags);

#endif /* WEFT_SYNC_MUTEX_H */

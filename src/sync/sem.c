/*
 * Counting semaphore.
 *
 * sem_post hands its unit straight to the longest waiter, so a task that
 * comes later cannot take it first: FIFO, no starvation.
 */
#include "base/compiler.h"
#include "base/error.h"

#include <limits.h>
#include <string.h>

#include "sync/waitq.h"

struct sem {
	atomic_int count;
	weft__spin lk;
	atomic_int destroyed;
	struct weft__waitq q;
};

_Static_assert(sizeof(struct sem) <= sizeof(weft_sem), "weft_sem size");

int weft_sem_init(weft_sem *sm, unsigned value)
{
	struct sem *s = (struct sem *)sm;

	if (!s || value > INT_MAX)
		return weft__fail(EINVAL);
	memset(sm, 0, sizeof(*sm));
	atomic_init(&s->count, (int)value);
	return 0;
}

int weft_sem_destroy(weft_sem *sm)
{
	struct sem *s = (struct sem *)sm;

	if (!s)
		return weft__fail(EINVAL);
	return weft__sync_retire(&s->lk, &s->q, &s->destroyed);
}

/* Take a unit if there is one. */
static int take(struct sem *s)
{
	int c = atomic_load(&s->count);

	while (c > 0)
		if (atomic_compare_exchange_weak(&s->count, &c, c - 1))
			return 1;
	return 0;
}

int weft_sem_wait(weft_sem *sm)
{
	struct sem *s = (struct sem *)sm;
	struct weft__waiter w;
	struct weft_task *self;
	struct weft_rt *rt;
	int err;

	if (!s || atomic_load(&s->destroyed))
		return weft__fail(EINVAL);
	if (take(s))
		return 0;
	if (!(self = weft__sync_caller(&rt)))
		return -1;
	if ((err = weft__interrupted(self)))
		return weft__fail(err);
	weft__spin_lock(&s->lk);
	if (take(s)) {
		weft__spin_unlock(&s->lk);
		return 0;
	}
	weft__waiter_init(&w, self);
	weft__waitq_push(&s->q, &w);
	weft__wait_note(rt, WEFT__WAIT_SEM, s, 0, 0);
	return weft__result(weft__waitq_wait(rt, &w, &s->q, &s->lk, 0));
}

int weft_sem_trywait(weft_sem *sm)
{
	struct sem *s = (struct sem *)sm;

	if (!s || atomic_load(&s->destroyed))
		return weft__fail(EINVAL);
	return take(s) ? 0 : weft__fail(EAGAIN);
}

int weft_sem_post(weft_sem *sm)
{
	struct sem *s = (struct sem *)sm;
	struct weft__waiter *w;
	int err = 0;

	if (!s || atomic_load(&s->destroyed))
		return weft__fail(EINVAL);
	/* Under the lock: a waiter queues itself only after finding the
	 * count at 0 under the same lock, so it cannot miss this unit. */
	weft__spin_lock(&s->lk);
	if ((w = weft__waitq_pop(&s->q)))
		weft__waiter_done(w, 0);
	else if (atomic_load(&s->count) == INT_MAX)
		err = EOVERFLOW;
	else
		atomic_fetch_add(&s->count, 1);
	weft__spin_unlock(&s->lk);
	return err ? weft__fail(err) : 0;
}

int weft_sem_getvalue(weft_sem *sm, int *value)
{
	struct sem *s = (struct sem *)sm;

	if (!s || !value || atomic_load(&s->destroyed))
		return weft__fail(EINVAL);
	*value = atomic_load(&s->count);
	return 0;
}

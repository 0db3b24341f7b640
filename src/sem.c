/*
 * Counting semaphore and wait group.
 *
 * sem_post hands its unit straight to the longest waiter, so a task that
 * comes later cannot take it first: FIFO, no starvation.
 */
#include "weft_int.h"

#include <limits.h>
#include <string.h>

#include "runtime.h"
#include "waitq.h"

struct sem {
	atomic_int count;
	weft__spin lk;
	atomic_int destroyed;
	struct weft__waitq q;
};

struct waitgroup {
	weft__spin lk;
	long count;
	struct weft__waitq q;
};

_Static_assert(sizeof(struct sem) <= sizeof(weft_sem), "weft_sem size");
_Static_assert(sizeof(struct waitgroup) <= sizeof(weft_waitgroup),
    "weft_waitgroup size");

/* ---- semaphore ---------------------------------------------------------- */

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
	int busy;

	if (!s || atomic_load(&s->destroyed))
		return weft__fail(EINVAL);
	weft__spin_lock(&s->lk);
	busy = s->q.head != NULL;
	if (!busy)
		atomic_store(&s->destroyed, 1);
	weft__spin_unlock(&s->lk);
	return busy ? weft__fail(EBUSY) : 0;
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
	struct weft_rt *rt;
	int err;

	if (!s || atomic_load(&s->destroyed))
		return weft__fail(EINVAL);
	if (take(s))
		return 0;
	if (!(rt = weft__rt_get()))
		return -1;
	if ((err = weft__interrupted(rt->sched.current)))
		return weft__fail(err);
	weft__spin_lock(&s->lk);
	if (take(s)) {
		weft__spin_unlock(&s->lk);
		return 0;
	}
	weft__waiter_init(&w, rt->sched.current);
	weft__waitq_push(&s->q, &w);
	err = weft__waitq_wait(rt, &w, &s->q, &s->lk, 0);
	return err ? weft__fail(err) : 0;
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

/* ---- wait group --------------------------------------------------------- */

int weft_waitgroup_init(weft_waitgroup *wg)
{
	if (!wg)
		return weft__fail(EINVAL);
	memset(wg, 0, sizeof(*wg));
	return 0;
}

int weft_waitgroup_add(weft_waitgroup *g, int delta)
{
	struct waitgroup *wg = (struct waitgroup *)g;
	struct weft__waiter *w;

	if (!wg)
		return weft__fail(EINVAL);
	weft__spin_lock(&wg->lk);
	if (wg->count + delta < 0) {
		weft__spin_unlock(&wg->lk);
		return weft__fail(EINVAL);
	}
	wg->count += delta;
	if (wg->count == 0)
		while ((w = weft__waitq_pop(&wg->q)))
			weft__waiter_done(w, 0);
	weft__spin_unlock(&wg->lk);
	return 0;
}

int weft_waitgroup_done(weft_waitgroup *wg)
{
	return weft_waitgroup_add(wg, -1);
}

int weft_waitgroup_wait(weft_waitgroup *g)
{
	struct waitgroup *wg = (struct waitgroup *)g;
	struct weft__waiter w;
	struct weft_rt *rt;
	int err;

	if (!wg)
		return weft__fail(EINVAL);
	if (!(rt = weft__rt_get()))
		return -1;
	weft__spin_lock(&wg->lk);
	if (wg->count == 0) {
		weft__spin_unlock(&wg->lk);
		return 0;
	}
	if ((err = weft__interrupted(rt->sched.current))) {
		weft__spin_unlock(&wg->lk);
		return weft__fail(err);
	}
	weft__waiter_init(&w, rt->sched.current);
	weft__waitq_push(&wg->q, &w);
	err = weft__waitq_wait(rt, &w, &wg->q, &wg->lk, 0);
	return err ? weft__fail(err) : 0;
}

/*
 * Task-aware condition variable, used with a weft_mutex.
 */
#include "base/compiler.h"
#include "base/error.h"

#include <string.h>

#include "sync/mutex.h"

struct cond {
	weft__spin lk;
	atomic_int destroyed;
	struct weft__waitq q;
};

_Static_assert(sizeof(struct cond) <= sizeof(weft_cond), "weft_cond size");

int weft_cond_init(weft_cond *c)
{
	return weft__sync_zero(c, sizeof(*c));
}

int weft_cond_destroy(weft_cond *cv)
{
	struct cond *c = (struct cond *)cv;

	if (!c)
		return weft__fail(EINVAL);
	return weft__sync_retire(&c->lk, &c->q, &c->destroyed);
}

int weft_cond_wait(weft_cond *cv, weft_mutex *mu)
{
	struct cond *c = (struct cond *)cv;
	struct weft__mutex *m = weft__mutex_of(mu);
	struct weft__waiter w;
	struct weft_rt *rt;
	struct weft_task *self;
	int err;

	if (!c || !m || atomic_load(&c->destroyed) || !(self = weft__sync_caller(&rt)))
		return weft__fail(EINVAL);
	if (atomic_load_explicit(&m->owner, memory_order_relaxed) != self)
		return weft__fail(EPERM);
	if ((err = weft__interrupted(self)))
		return weft__fail(err);
	weft__waiter_init(&w, self);
	/* Queue before letting go of the mutex: a signal sent by whoever
	 * takes it next finds us. */
	weft__spin_lock(&c->lk);
	weft__waitq_push(&c->q, &w);
	weft_mutex_unlock(mu);
	weft__wait_note(rt, WEFT__WAIT_COND, c, 0, 0);
	err = weft__waitq_wait(rt, &w, &c->q, &c->lk, 0);
	/* Whatever happened, return holding the mutex: this wait ignores
	 * deadline and cancellation, and fails only if m was destroyed. */
	weft__mutex_lock(mu, WEFT__PARK_NOINTR);
	return err ? weft__fail(err) : 0;
}

/* Wake the longest waiter, or all of them. */
static int wake(weft_cond *cv, int all)
{
	struct cond *c = (struct cond *)cv;
	struct weft__waiter *w;

	if (!c || atomic_load(&c->destroyed))
		return weft__fail(EINVAL);
	weft__spin_lock(&c->lk);
	while ((w = weft__waitq_pop(&c->q))) {
		weft__waiter_done(w, 0);
		if (!all)
			break;
	}
	weft__spin_unlock(&c->lk);
	return 0;
}

int weft_cond_signal(weft_cond *c)
{
	return wake(c, 0);
}

int weft_cond_broadcast(weft_cond *c)
{
	return wake(c, 1);
}

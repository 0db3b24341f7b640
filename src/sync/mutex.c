/*
 * Task-aware mutex.
 *
 * The mutex word takes the uncontended lock and unlock with one atomic
 * compare-and-swap each.  When tasks wait, unlock hands the mutex straight
 * to the longest waiter (it stays locked throughout), so waiters are served
 * in FIFO order and nobody can barge in front of them.
 */
#include "base/compiler.h"
#include "base/error.h"

#include <string.h>

#include "sync/mutex.h"

#define LOCKED 1u
#define WAITERS 2u
#define DESTROYED 4u

_Static_assert(sizeof(struct weft__mutex) <= sizeof(weft_mutex),
    "weft_mutex size");

int weft_mutex_init(weft_mutex *m)
{
	return weft__sync_zero(m, sizeof(*m));
}

int weft_mutex_destroy(weft_mutex *mu)
{
	struct weft__mutex *m = weft__mutex_of(mu);
	unsigned expect = 0;

	if (!m)
		return weft__fail(EINVAL);
	if (atomic_compare_exchange_strong(&m->state, &expect, DESTROYED))
		return 0;
	return weft__fail(expect & DESTROYED ? EINVAL : EBUSY);
}

/* Take the mutex if it is free; under m->lk or not. */
static int take(struct weft__mutex *m, struct weft_task *self)
{
	unsigned s = atomic_load(&m->state);

	while (!(s & (LOCKED | DESTROYED)))
		if (atomic_compare_exchange_weak(&m->state, &s, s | LOCKED)) {
			atomic_store_explicit(&m->owner, self,
			    memory_order_relaxed);
			return 1;
		}
	return 0;
}

static int lock_slow(struct weft__mutex *m, struct weft_rt *rt,
    struct weft_task *self, int flags)
{
	struct weft__waiter w;
	unsigned s;
	int err;

	weft__spin_lock(&m->lk);
	for (;;) {
		if (take(m, self)) {
			weft__spin_unlock(&m->lk);
			return 0;
		}
		s = atomic_load(&m->state);
		if (s & DESTROYED) {
			weft__spin_unlock(&m->lk);
			return EINVAL;
		}
		/* Say there are waiters before queueing, so that the
		 * holder's unlock takes the slow path and finds us. */
		if (atomic_compare_exchange_weak(&m->state, &s, s | WAITERS))
			break;
	}
	weft__waiter_init(&w, self);
	weft__waitq_push(&m->q, &w);
	/* The owner may be another thread's task: the note keeps where it
	 * is, and only the dump, reading safely, looks inside. */
	weft__wait_note(rt, WEFT__WAIT_MUTEX, m, 0, (int64_t)(uintptr_t)
	    atomic_load_explicit(&m->owner, memory_order_relaxed));
	err = weft__waitq_wait(rt, &w, &m->q, &m->lk, flags);
	/* Done means unlock handed it over: owner is set to us. */
	return err;
}

int weft__mutex_lock(weft_mutex *mu, int flags)
{
	struct weft__mutex *m = weft__mutex_of(mu);
	struct weft_rt *rt;
	struct weft_task *self;
	unsigned expect = 0;
	int err;

	if (!m || !(self = weft__sync_caller(&rt)))
		return weft__fail(m ? errno : EINVAL);
	if (weft__one_thread()) {
		expect = atomic_load_explicit(&m->state, memory_order_relaxed);
		if (expect == 0) {
			atomic_store_explicit(&m->state, LOCKED,
			    memory_order_relaxed);
			atomic_store_explicit(&m->owner, self,
			    memory_order_relaxed);
			return 0;
		}
	} else if (weft__likely(atomic_compare_exchange_strong_explicit(
	    &m->state, &expect, LOCKED, memory_order_acquire,
	    memory_order_relaxed))) {
		atomic_store_explicit(&m->owner, self, memory_order_relaxed);
		return 0;
	}
	if (expect & DESTROYED)
		return weft__fail(EINVAL);
	if (atomic_load_explicit(&m->owner, memory_order_relaxed) == self)
		return weft__fail(EDEADLK);
	err = lock_slow(m, rt, self, flags);
	return err ? weft__fail(err) : 0;
}

int weft_mutex_lock(weft_mutex *m)
{
	return weft__mutex_lock(m, 0);
}

int weft_mutex_trylock(weft_mutex *mu)
{
	struct weft__mutex *m = weft__mutex_of(mu);
	struct weft_task *self;

	if (!m || !(self = weft__sync_caller(NULL)))
		return weft__fail(EINVAL);
	if (take(m, self))
		return 0;
	return weft__fail(atomic_load(&m->state) & DESTROYED ? EINVAL : EBUSY);
}

int weft_mutex_unlock(weft_mutex *mu)
{
	struct weft__mutex *m = weft__mutex_of(mu);
	struct weft__waiter *w;
	unsigned expect = LOCKED;

	if (!m || (atomic_load(&m->state) & DESTROYED))
		return weft__fail(EINVAL);
	if (atomic_load_explicit(&m->owner, memory_order_relaxed) != weft__sync_caller(NULL) ||
	    !(atomic_load(&m->state) & LOCKED))
		return weft__fail(EPERM);
	atomic_store_explicit(&m->owner, NULL, memory_order_relaxed);
	if (weft__one_thread()) {
		if (atomic_load_explicit(&m->state, memory_order_relaxed) ==
		    LOCKED) {
			atomic_store_explicit(&m->state, 0,
			    memory_order_relaxed);
			return 0;
		}
	} else if (weft__likely(atomic_compare_exchange_strong_explicit(
	    &m->state, &expect, 0, memory_order_release,
	    memory_order_relaxed))) {
		return 0;
	}
	weft__spin_lock(&m->lk);
	w = weft__waitq_pop(&m->q);
	if (w) {
		/* Hand over: it stays locked, now by the waiter. */
		atomic_store_explicit(&m->owner, w->task, memory_order_relaxed);
		if (weft__waitq_empty(&m->q))
			atomic_fetch_and(&m->state, ~WAITERS);
		weft__waiter_done(w, 0);
	} else {
		/* The waiters gave up (deadline, cancellation). */
		atomic_fetch_and(&m->state, ~(LOCKED | WAITERS));
	}
	weft__spin_unlock(&m->lk);
	return 0;
}

/*
 * Task-aware mutex.
 *
 * The mutex word takes the uncontended lock and unlock with one atomic
 * compare-and-swap each.  When tasks wait, unlock treats two kinds of
 * waiter differently:
 *   - one on the unlocker's own thread gets the mutex handed over (it
 *     stays locked throughout): waking it costs nothing, and the tasks
 *     of one thread are served in FIFO order, nobody barging in;
 *   - one on another thread (another worker, another runtime) is told
 *     to try again, and the mutex is released: handing over would keep
 *     it locked for the whole cross-thread wake-up (microseconds), a
 *     convoy in which both threads mostly wait.  Whoever runs may take
 *     it meanwhile, as with a pthread mutex; beaten to it, the waiter
 *     backs off (below).  One that has waited past STARVE_NS gets it
 *     handed over after all, so nobody starves.
 * A lock that finds the mutex held does not spin: spinning on the word
 * while its holder relocks it makes both cores trade its cache line at
 * every operation (measured: a fifth of the throughput; bench_workers).
 */
#include "base/compiler.h"
#include "base/error.h"

#include <string.h>

#include "sync/mutex.h"

#define LOCKED 1u
#define WAITERS 2u
#define DESTROYED 4u

/* A waiter from another thread waits at most about this long before
 * the mutex is handed to it. */
#define STARVE_NS 1000000
/* Beaten to the mutex after a wake-up, such a waiter sleeps this long
 * (doubling each time) before it tries again, off the queue. */
#define BACKOFF_NS 20000

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

/* Queue and park once; 0 (ours, handed over), EAGAIN (try again), or
 * why the wait ended. */
static int wait_once(struct weft__mutex *m, struct weft_rt *rt,
    struct weft_task *self, int flags, int retry, int starving)
{
	struct weft__waiter w;
	unsigned s;

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
		/* Let go between our try and this look: try again (queued
		 * on a free mutex, nobody's unlock would ever wake us). */
		if (!(s & LOCKED))
			continue;
		/* Say there are waiters before queueing, so that the
		 * holder's unlock takes the slow path and finds us. */
		if (atomic_compare_exchange_weak(&m->state, &s, s | WAITERS))
			break;
	}
	weft__waiter_init(&w, self);
	w.handoff = (unsigned char)starving;
	w.rt = rt;
	/* Told to try again and beaten to it: first in line again. */
	if (retry)
		weft__list_push_front(&m->q.list, &w.link);
	else
		weft__waitq_push(&m->q, &w);
	/* The owner may be another thread's task: the note keeps where it
	 * is, and only the dump, reading safely, looks inside. */
	weft__wait_note(rt, WEFT__WAIT_MUTEX, m, 0, (int64_t)(uintptr_t)
	    atomic_load_explicit(&m->owner, memory_order_relaxed));
	return weft__waitq_wait(rt, &w, &m->q, &m->lk, flags);
}

/*
 * Woken to try again and beaten to it (the holder took it back at once),
 * a waiter sleeps a while off the queue instead of queueing for the next
 * unlock: the holder then locks and unlocks without a wake-up each time,
 * as a pthread mutex's holder does while its waiter sleeps in the
 * kernel.  Past STARVE_NS it queues to be handed the mutex.
 */
static int lock_slow(struct weft__mutex *m, struct weft_rt *rt,
    struct weft_task *self, int flags)
{
	int64_t since = 0, backoff = BACKOFF_NS, now;
	int err, retry = 0;

	for (;;) {
		err = wait_once(m, rt, self, flags, retry,
		    since && weft_now() - since >= STARVE_NS);
		if (err != EAGAIN)
			return err;     /* 0: handed over, owner set to us */
		if (take(m, self))
			return 0;
		now = weft_now();
		if (!since)
			since = now;
		if (now - since < STARVE_NS) {
			weft__wait_note(rt, WEFT__WAIT_MUTEX, m, 0, 0);
			if ((err = weft__park_until(rt, now + backoff,
			    flags & WEFT__PARK_NOINTR)))
				return err;
			if (take(m, self))
				return 0;
			backoff = backoff * 2 < STARVE_NS ? backoff * 2 :
			    STARVE_NS;
		}
		retry = 1;
	}
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
	if ((w = weft__waitq_pop(&m->q))) {
		unsigned left = weft__waitq_empty(&m->q) ? WAITERS : 0;

		if (w->handoff || w->rt == weft__rt_peek()) {
			/* Hand over: it stays locked, now by the waiter. */
			atomic_store_explicit(&m->owner, w->task,
			    memory_order_relaxed);
			if (left)
				atomic_fetch_and(&m->state, ~left);
			weft__waiter_done(w, 0);
		} else {
			atomic_fetch_and(&m->state, ~(LOCKED | left));
			weft__waiter_done(w, EAGAIN);
		}
	} else {
		/* The waiters gave up (deadline, cancellation). */
		atomic_fetch_and(&m->state, ~(LOCKED | WAITERS));
	}
	weft__spin_unlock(&m->lk);
	return 0;
}

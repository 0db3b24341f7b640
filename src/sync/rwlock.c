/*
 * Readers-writer lock.
 *
 * One FIFO queue holds waiting readers and writers alike.  A reader gets
 * in at once only while no writer holds the lock and nobody waits, so a
 * waiting writer is never overtaken by readers that come after it: no
 * writer starves.  Unlock hands the lock to the head of the queue: a
 * writer alone, or every reader up to the next writer.  All of it under
 * the spin lock: a read-mostly lock's cost is two short critical sections.
 */
#include "base/compiler.h"
#include "base/error.h"

#include <string.h>

#include "sync/waitq.h"

struct rwlock {
	weft__spin lk;
	atomic_int destroyed;
	int readers;                  /* holding it to read */
	struct weft_task *writer;     /* holding it to write */
	struct weft__waitq q;         /* waiter index: 1 writer, 0 reader */
};

_Static_assert(sizeof(struct rwlock) <= sizeof(weft_rwlock),
    "weft_rwlock size");

static struct rwlock *rw_of(weft_rwlock *l)
{
	return (struct rwlock *)(void *)l;
}

int weft_rwlock_init(weft_rwlock *l)
{
	return weft__sync_zero(l, sizeof(*l));
}

int weft_rwlock_destroy(weft_rwlock *l)
{
	struct rwlock *r = rw_of(l);
	int busy;

	if (!r || atomic_load(&r->destroyed))
		return weft__fail(EINVAL);
	weft__spin_lock(&r->lk);
	busy = r->readers || r->writer || !weft__waitq_empty(&r->q);
	if (!busy)
		atomic_store(&r->destroyed, 1);
	weft__spin_unlock(&r->lk);
	return busy ? weft__fail(EBUSY) : 0;
}

/* Under r->lk: may self take it now, as a writer or a reader? */
static int can_take(const struct rwlock *r, int writer)
{
	if (r->writer || !weft__waitq_empty(&r->q))
		return 0;
	return !writer || r->readers == 0;
}

static void take(struct rwlock *r, struct weft_task *self, int writer)
{
	if (writer)
		r->writer = self;
	else
		r->readers++;
}

/* Under r->lk: hand the lock to the head of the queue, as far as it can
 * go: one writer, or the readers before the next writer. */
static void grant(struct rwlock *r)
{
	struct weft__waiter *w;

	while (!r->writer && !weft__waitq_empty(&r->q)) {
		w = weft__container_of(r->q.list.first, struct weft__waiter,
		    link);
		if (w->index && r->readers)
			return;
		weft__waitq_remove(&r->q, w);
		take(r, w->task, w->index);
		weft__waiter_done(w, 0);
	}
}

static int lock(weft_rwlock *l, int writer, int may_wait)
{
	struct rwlock *r = rw_of(l);
	struct weft__waiter w;
	struct weft_task *self;
	struct weft_rt *rt;
	int err;

	if (!r || !(self = weft__sync_caller(&rt)))
		return weft__fail(r ? errno : EINVAL);
	weft__spin_lock(&r->lk);
	err = atomic_load(&r->destroyed) ? EINVAL :
	    r->writer == self ? EDEADLK : 0;
	if (err) {
		weft__spin_unlock(&r->lk);
		return weft__fail(err);
	}
	if (can_take(r, writer)) {
		take(r, self, writer);
		weft__spin_unlock(&r->lk);
		return 0;
	}
	if (!may_wait) {
		weft__spin_unlock(&r->lk);
		return weft__fail(EBUSY);
	}
	weft__waiter_init(&w, self);
	w.index = writer;
	weft__waitq_push(&r->q, &w);
	weft__wait_note(rt, WEFT__WAIT_RWLOCK, r, writer, 0);
	if ((err = weft__waitq_wait(rt, &w, &r->q, &r->lk, 0))) {
		/* A writer that gave up may have held back readers. */
		weft__spin_lock(&r->lk);
		grant(r);
		weft__spin_unlock(&r->lk);
		return weft__fail(err);
	}
	return 0;
}

int weft_rwlock_rdlock(weft_rwlock *l)
{
	return lock(l, 0, 1);
}

int weft_rwlock_wrlock(weft_rwlock *l)
{
	return lock(l, 1, 1);
}

int weft_rwlock_tryrdlock(weft_rwlock *l)
{
	return lock(l, 0, 0);
}

int weft_rwlock_trywrlock(weft_rwlock *l)
{
	return lock(l, 1, 0);
}

int weft_rwlock_unlock(weft_rwlock *l)
{
	struct rwlock *r = rw_of(l);
	struct weft_task *self;

	if (!r || atomic_load(&r->destroyed) || !(self = weft__sync_caller(NULL)))
		return weft__fail(EINVAL);
	weft__spin_lock(&r->lk);
	if (r->writer == self) {
		r->writer = NULL;
	} else if (!r->writer && r->readers > 0) {
		r->readers--;
	} else {
		weft__spin_unlock(&r->lk);
		return weft__fail(EPERM);
	}
	grant(r);
	weft__spin_unlock(&r->lk);
	return 0;
}

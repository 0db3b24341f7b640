/*
 * Wait queues: see waitq.h.
 */
#include "weft_int.h"

#include "runtime.h"
#include "waitq.h"

int weft__waitq_wait(struct weft_rt *rt, struct weft__waiter *w,
    struct weft__waitq *q, weft__spin *lk, int flags)
{
	int err;

	rt->sched.external++;
	rt->sched.sync_waits++;
	weft__spin_unlock(lk);
	for (;;) {
		err = weft__park_until(rt, INT64_MAX, flags);
		if (atomic_load_explicit(&w->done, memory_order_acquire)) {
			err = w->err;
			break;
		}
		if (!err)
			continue;       /* woken for nothing: wait on */
		weft__spin_lock(lk);
		if (atomic_load_explicit(&w->done, memory_order_acquire)) {
			err = w->err;
		} else {
			weft__waitq_remove(q, w);
		}
		weft__spin_unlock(lk);
		break;
	}
	rt->sched.sync_waits--;
	rt->sched.external--;
	return err;
}

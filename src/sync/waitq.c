/*
 * Wait queues: see waitq.h.
 */
#include "base/compiler.h"

#include "sync/waitq.h"

int weft__waitq_wait(struct weft_rt *rt, struct weft__waiter *w,
    struct weft__waitq *q, weft__spin *lk, int flags)
{
	int err;

	weft__spin_unlock(lk);
	for (;;) {
		err = weft__park(rt, flags | WEFT__PARK_SHARED);
		if (weft__waiter_is_done(w))
			return w->err;
		if (!err)
			continue;       /* woken for nothing: wait on */
		weft__spin_lock(lk);
		if (weft__waiter_is_done(w))
			err = w->err;
		else
			weft__waitq_remove(q, w);
		weft__spin_unlock(lk);
		return err;
	}
}

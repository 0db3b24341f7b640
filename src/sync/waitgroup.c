/*
 * Wait group: wait until a count of outstanding jobs comes back to zero.
 */
#include "base/compiler.h"
#include "base/error.h"

#include <string.h>

#include "sync/waitq.h"

struct waitgroup {
	weft__spin lk;
	long count;
	struct weft__waitq q;
};

_Static_assert(sizeof(struct waitgroup) <= sizeof(weft_waitgroup),
    "weft_waitgroup size");

int weft_waitgroup_init(weft_waitgroup *wg)
{
	return weft__sync_zero(wg, sizeof(*wg));
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
	struct weft_task *self;
	struct weft_rt *rt;
	int err;

	if (!wg)
		return weft__fail(EINVAL);
	if (!(self = weft__sync_caller(&rt)))
		return -1;
	weft__spin_lock(&wg->lk);
	if (wg->count == 0) {
		weft__spin_unlock(&wg->lk);
		return 0;
	}
	if ((err = weft__interrupted(self))) {
		weft__spin_unlock(&wg->lk);
		return weft__fail(err);
	}
	weft__waiter_init(&w, self);
	weft__waitq_push(&wg->q, &w);
	weft__wait_note(rt, WEFT__WAIT_WAITGROUP, wg, 0, 0);
	return weft__result(weft__waitq_wait(rt, &w, &wg->q, &wg->lk, 0));
}

/*
 * weft_select: wait for the first of several cases, of any kind
 * (select_kinds.c).
 *
 * The locks of every case that has one are all taken (in address order,
 * so two selects cannot deadlock) while select looks for a case that can
 * be done at once and, if there is none, starts watching those cases.
 * Every wait record points to one shared token; whoever satisfies one
 * first claims the token, so exactly one case fires.  Cases whose kind has
 * a ready check are claimed by the select itself when it wakes.
 */
#include "base/compiler.h"
#include "base/error.h"
#include "base/alloc.h"

#include <stdlib.h>

#include "base/clock.h"
#include "sync/select.h"

#define LOCAL_CASES 8

/* Give each case its kind and check its arguments; 0 or an errno. */
static int validate(struct weft_rt *rt, const struct weft_select_case *c,
    struct weft__selwait *p, size_t n)
{
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		if (!(p[i].kind = weft__select_kind(c[i].op)))
			return EINVAL;
		if ((err = p[i].kind->check(rt, &c[i])))
			return err;
	}
	return 0;
}

/* ---- the locks of the set ----------------------------------------------- */

static int by_address(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(weft__spin *const *)a;
	uintptr_t y = (uintptr_t)*(weft__spin *const *)b;

	return x < y ? -1 : x > y;
}

/* The distinct locks of the set, sorted; returns how many. */
static size_t locks_of(const struct weft_select_case *c,
    const struct weft__selwait *p, size_t n, weft__spin **out)
{
	size_t i, k = 0, j = 0;

	for (i = 0; i < n; i++)
		if (p[i].kind->lock)
			out[k++] = p[i].kind->lock(&c[i]);
	qsort(out, k, sizeof(*out), by_address);
	for (i = 0; i < k; i++)
		if (i == 0 || out[i] != out[j - 1])
			out[j++] = out[i];
	return j;
}

static void lock_all(weft__spin **l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		weft__spin_lock(l[i]);
}

static void unlock_all(weft__spin **l, size_t n)
{
	while (n)
		weft__spin_unlock(l[--n]);
}

/* ---- waiting ------------------------------------------------------------ */

/* Start watching the cases that have a lock (locked) or the others. */
static void watch(struct weft_rt *rt, struct weft_select_case *c,
    struct weft__selwait *p, size_t n, int locked)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!p[i].kind->lock == !locked)
			p[i].kind->watch(rt, &c[i], &p[i]);
}

static void unwatch(struct weft_rt *rt, struct weft_select_case *c,
    struct weft__selwait *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i].watching)
			p[i].kind->unwatch(rt, &c[i], &p[i]);
}

/* A case the select checks itself, ready now and claimed: its index. */
static int claim_ready(struct weft__select *sel, struct weft_select_case *c,
    struct weft__selwait *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!p[i].kind->ready || !p[i].kind->ready(&c[i]))
			continue;
		return weft__select_claim(sel, (int)i) ? (int)i : -1;
	}
	return -1;
}

/* Park until a case fires or the wait ends; the fired index or -errno. */
static int wait_cases(struct weft_rt *rt, struct weft__select *sel,
    struct weft_select_case *c, struct weft__selwait *p, size_t n,
    int64_t wake_at)
{
	int k, err, how = WEFT__PARK_SHARED;
	size_t i;

	/* A descriptor among the cases is the outside world, not only
	 * other threads: the deadlock check must count it so. */
	for (i = 0; i < n; i++)
		if (c[i].op == WEFT_SELECT_READ || c[i].op == WEFT_SELECT_WRITE)
			how = WEFT__PARK_EXTERNAL;
	weft__wait_note(rt, WEFT__WAIT_SELECT, NULL, (int64_t)n, 0);
	for (;;) {
		k = atomic_load(&sel->fired);
		if (k < 0)
			k = claim_ready(sel, c, p, n);
		if (k >= 0)
			break;
		err = weft__park_until(rt, wake_at, how);
		if (atomic_load(&sel->fired) >= 0)
			continue;
		if (!err && (wake_at == INT64_MAX || weft_now() < wake_at))
			continue;       /* woken for a case: look again */
		if (weft__select_claim(sel, WEFT__SELECT_GIVEUP)) {
			k = -(err ? err : ETIMEDOUT);
			break;
		}
	}
	/* A case its waker completes, perhaps on another thread: wait
	 * until the hand-over is done (a wait another thread ends). */
	while (k >= 0 && !p[k].kind->ready && !weft__waiter_is_done(&p[k].w))
		weft__park(rt, WEFT__PARK_NOINTR | WEFT__PARK_SHARED);
	return k;
}

/* Look for a case that fires at once (locks held); its index or -1. */
static int try_all(struct weft_rt *rt, struct weft_select_case *c,
    struct weft__selwait *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i].kind->try(rt, &c[i]))
			return (int)i;
	return -1;
}

static void records_init(struct weft_task *self, struct weft__select *sel,
    struct weft__selwait *p, size_t n)
{
	size_t i;

	atomic_init(&sel->fired, WEFT__SELECT_OPEN);
	for (i = 0; i < n; i++) {
		weft__waiter_init(&p[i].w, self);
		p[i].w.sel = sel;
		p[i].w.index = (int)i;
		p[i].watching = 0;
	}
}

int weft_select(struct weft_select_case *c, size_t n, int timeout_ms)
{
	struct weft_rt *rt = weft__rt_get();
	struct weft__selwait local[LOCAL_CASES], *p = local;
	weft__spin *lkl[LOCAL_CASES], **lk = lkl;
	struct weft__select sel;
	size_t i, nl;
	int k = -1, err;

	if (!c || n == 0 || n > INT32_MAX)
		return weft__fail(EINVAL);
	if (!rt)
		return -1;
	if (n > LOCAL_CASES && (!(p = weft__calloc(n, sizeof(*p))) ||
	    !(lk = weft__calloc(n, sizeof(*lk))))) {
		free(p);
		return weft__fail(ENOMEM);
	}
	if ((err = validate(rt, c, p, n)))
		goto out;
	for (i = 0; i < n; i++)
		c[i].err = 0;
	nl = locks_of(c, p, n, lk);
	lock_all(lk, nl);
	k = try_all(rt, c, p, n);
	if (k < 0) {
		err = timeout_ms == 0 ? ETIMEDOUT :
		    weft__interrupted(weft__self(rt));
		if (!err) {
			records_init(weft__self(rt), &sel, p, n);
			watch(rt, c, p, n, 1);
		}
	}
	unlock_all(lk, nl);
	if (k < 0 && !err) {
		watch(rt, c, p, n, 0);
		k = wait_cases(rt, &sel, c, p, n,
		    weft__deadline_after_ms(timeout_ms));
		unwatch(rt, c, p, n);
		if (k >= 0)
			p[k].kind->fired(rt, &c[k], &p[k]);
		else
			err = -k;
	}
out:
	if (p != local) {
		free(p);
		free(lk);
	}
	return err ? weft__fail(err) : k;
}

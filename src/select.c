/*
 * weft_select: wait for the first of several channel operations, fd
 * readiness conditions and task completions.
 *
 * The channels involved are all locked (in address order, so two selects
 * cannot deadlock) while select looks for a ready case and, if there is
 * none, queues a waiter on each channel.  Every waiter points to one
 * shared token; whoever satisfies one first claims the token, so exactly
 * one case fires.  fd and task cases are watched on this thread and
 * checked, and claimed, when the select wakes.
 */
#include "weft_int.h"

#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "chan.h"
#include "runtime.h"

#define LOCAL_CASES 8

struct pending {
	struct weft__waiter w;        /* channel cases */
	struct weft__fdwait fw;       /* fd cases */
	int watching;
};

static int is_chan_op(int op)
{
	return op == WEFT_SELECT_SEND || op == WEFT_SELECT_RECV;
}

static int is_fd_op(int op)
{
	return op == WEFT_SELECT_READ || op == WEFT_SELECT_WRITE;
}

static int validate(struct weft_rt *rt, const struct weft_select_case *c,
    size_t n)
{
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		if (is_chan_op(c[i].op)) {
			if (!weft__chan_ok(c[i].chan) || !c[i].elem)
				return EINVAL;
		} else if (is_fd_op(c[i].op)) {
			if (c[i].fd < 0)
				return EINVAL;
		} else if (c[i].op == WEFT_SELECT_JOIN) {
			if ((err = weft__task_joinable(rt, c[i].task)))
				return err;
		} else {
			return EINVAL;
		}
	}
	return 0;
}

/* ---- locking every channel of the set ----------------------------------- */

static int by_address(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(weft_chan *const *)a;
	uintptr_t y = (uintptr_t)*(weft_chan *const *)b;

	return x < y ? -1 : x > y;
}

/* The distinct channels of the set, sorted; returns how many. */
static size_t chans_of(const struct weft_select_case *c, size_t n,
    weft_chan **out)
{
	size_t i, k = 0, j = 0;

	for (i = 0; i < n; i++)
		if (is_chan_op(c[i].op))
			out[k++] = c[i].chan;
	qsort(out, k, sizeof(*out), by_address);
	for (i = 0; i < k; i++)
		if (i == 0 || out[i] != out[j - 1])
			out[j++] = out[i];
	return j;
}

static void lock_all(weft_chan **ch, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		weft__spin_lock(&ch[i]->lk);
}

static void unlock_all(weft_chan **ch, size_t n)
{
	while (n)
		weft__spin_unlock(&ch[--n]->lk);
}

/* ---- trying cases ------------------------------------------------------- */

static short poll_events(int op)
{
	return op == WEFT_SELECT_READ ? POLLIN : POLLOUT;
}

static int fd_ready(const struct weft_select_case *c)
{
	struct pollfd p = { .fd = c->fd, .events = poll_events(c->op) };

	return poll(&p, 1, 0) == 1;
}

/* Channel case i with its channel locked: 1 if it fired. */
static int try_chan(struct weft_select_case *c)
{
	int err = c->op == WEFT_SELECT_SEND ?
	    weft__chan_send_locked(c->chan, c->elem) :
	    weft__chan_recv_locked(c->chan, c->elem);

	if (err == EAGAIN)
		return 0;
	c->err = err;
	return 1;
}

/* fd or task case: 1 if it fired (a task case joins the task). */
static int try_local(struct weft_rt *rt, struct weft_select_case *c)
{
	if (is_fd_op(c->op))
		return fd_ready(c);
	if (c->task->state != WEFT__DONE)
		return 0;
	weft__task_reap(rt, c->task, &c->result);
	return 1;
}

/* ---- waiting ------------------------------------------------------------ */

static void watch(struct weft_rt *rt, struct weft__select *sel,
    struct weft_select_case *c, struct pending *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		weft__waiter_init(&p[i].w, rt->sched.current);
		p[i].watching = 0;
		if (is_chan_op(c[i].op)) {
			p[i].w.sel = sel;
			p[i].w.index = (int)i;
			p[i].w.elem = c[i].elem;
			weft__waitq_push(c[i].op == WEFT_SELECT_SEND ?
			    &c[i].chan->sendq : &c[i].chan->recvq, &p[i].w);
		}
	}
}

static void watch_local(struct weft_rt *rt, struct weft_select_case *c,
    struct pending *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (is_fd_op(c[i].op)) {
			p[i].watching = weft__fd_watch(rt, c[i].fd,
			    c[i].op == WEFT_SELECT_READ ? EPOLLIN : EPOLLOUT,
			    &p[i].fw) == 0;
		} else if (c[i].op == WEFT_SELECT_JOIN) {
			c[i].task->joiner = rt->sched.current;
			p[i].watching = 1;
		}
	}
}

static void unwatch(struct weft_rt *rt, struct weft_select_case *c,
    struct pending *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (is_chan_op(c[i].op)) {
			weft__spin_lock(&c[i].chan->lk);
			weft__waitq_remove(c[i].op == WEFT_SELECT_SEND ?
			    &c[i].chan->sendq : &c[i].chan->recvq, &p[i].w);
			weft__spin_unlock(&c[i].chan->lk);
		} else if (p[i].watching && is_fd_op(c[i].op)) {
			weft__fd_unwatch(rt, c[i].fd, &p[i].fw);
		} else if (p[i].watching) {
			c[i].task->joiner = NULL;
		}
	}
}

/* A local case ready now, claimed: its index, or -1. */
static int claim_local(struct weft__select *sel, struct weft_select_case *c,
    size_t n)
{
	size_t i;
	int open;

	for (i = 0; i < n; i++) {
		if (is_chan_op(c[i].op))
			continue;
		if (is_fd_op(c[i].op) ? !fd_ready(&c[i]) :
		    c[i].task->state != WEFT__DONE)
			continue;
		open = -1;
		if (!atomic_compare_exchange_strong(&sel->fired, &open, (int)i))
			return -1;
		return (int)i;
	}
	return -1;
}

/* Park until a case fires or the wait ends; the fired index or -errno. */
static int wait_cases(struct weft_rt *rt, struct weft__select *sel,
    struct weft_select_case *c, struct pending *p, size_t n, int64_t wake_at)
{
	int k, err, open;

	rt->sched.external++;
	rt->sched.sync_waits++;
	for (;;) {
		k = atomic_load(&sel->fired);
		if (k < 0)
			k = claim_local(sel, c, n);
		if (k >= 0)
			break;
		err = weft__park_until(rt, wake_at, 0);
		if (atomic_load(&sel->fired) >= 0)
			continue;
		if (!err && (wake_at == INT64_MAX || weft_now() < wake_at))
			continue;       /* woken for a case: look again */
		open = -1;
		if (atomic_compare_exchange_strong(&sel->fired, &open, -2)) {
			k = -(err ? err : ETIMEDOUT);
			break;
		}
	}
	/* A channel case fired on another thread's side: wait until the
	 * value has been handed over. */
	while (k >= 0 && is_chan_op(c[k].op) &&
	    !atomic_load_explicit(&p[k].w.done, memory_order_acquire))
		weft__park_until(rt, INT64_MAX, WEFT__PARK_NOINTR);
	rt->sched.sync_waits--;
	rt->sched.external--;
	return k;
}

int weft_select(struct weft_select_case *c, size_t n, int timeout_ms)
{
	struct weft_rt *rt = weft__rt_get();
	struct pending local[LOCAL_CASES], *p = local;
	weft_chan *chl[LOCAL_CASES], **ch = chl;
	struct weft__select sel;
	size_t i, nch;
	int k = -1, err;

	if (!c || n == 0 || n > INT32_MAX)
		return weft__fail(EINVAL);
	if (!rt)
		return -1;
	if ((err = validate(rt, c, n)))
		return weft__fail(err);
	if (n > LOCAL_CASES && (!(p = calloc(n, sizeof(*p))) ||
	    !(ch = calloc(n, sizeof(*ch))))) {
		free(p);
		return weft__fail(ENOMEM);
	}
	for (i = 0; i < n; i++)
		c[i].err = 0;
	nch = chans_of(c, n, ch);
	lock_all(ch, nch);
	for (i = 0; i < n && k < 0; i++)
		if (is_chan_op(c[i].op) ? try_chan(&c[i]) : try_local(rt, &c[i]))
			k = (int)i;
	if (k < 0) {
		err = timeout_ms == 0 ? ETIMEDOUT :
		    weft__interrupted(rt->sched.current);
		if (!err) {
			atomic_init(&sel.fired, -1);
			watch(rt, &sel, c, p, n);
		}
	}
	unlock_all(ch, nch);
	if (k < 0 && !err) {
		watch_local(rt, c, p, n);
		k = wait_cases(rt, &sel, c, p, n, timeout_ms < 0 ? INT64_MAX :
		    weft_now() + (int64_t)timeout_ms * 1000000);
		unwatch(rt, c, p, n);
		if (k >= 0 && is_chan_op(c[k].op))
			c[k].err = p[k].w.err;
		else if (k >= 0 && c[k].op == WEFT_SELECT_JOIN)
			weft__task_reap(rt, c[k].task, &c[k].result);
		else if (k < 0)
			err = -k;
	}
	if (p != local) {
		free(p);
		free(ch);
	}
	return k >= 0 ? k : weft__fail(err);
}

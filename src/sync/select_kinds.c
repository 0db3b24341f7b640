/*
 * The kinds of weft_select case (see select.h):
 *   channel send/receive  queued on the channel like any sender or
 *                         receiver; the other side claims the select's
 *                         token and completes the case, on any thread;
 *   fd readiness          watched through the runtime's fd table, checked
 *                         with poll(2) when the select wakes;
 *   task completion       the select becomes the task's joiner; the task
 *                         is reaped when its case fires.
 */
#include "base/compiler.h"
#include "base/error.h"

#include <poll.h>

#include "base/sys.h"
#include "core/core.h"
#include "sync/chan.h"
#include "sync/select.h"

/* ---- channels ----------------------------------------------------------- */

static struct weft__waitq *chan_queue(const struct weft_select_case *c)
{
	return c->op == WEFT_SELECT_SEND ? &c->chan->sendq : &c->chan->recvq;
}

static int chan_check(struct weft_rt *rt, const struct weft_select_case *c)
{
	(void)rt;
	return weft__chan_ok(c->chan) && c->elem ? 0 : EINVAL;
}

static weft__spin *chan_lock(const struct weft_select_case *c)
{
	return &c->chan->lk;
}

static int chan_try(struct weft_rt *rt, struct weft_select_case *c)
{
	int err = c->op == WEFT_SELECT_SEND ?
	    weft__chan_send_locked(c->chan, c->elem) :
	    weft__chan_recv_locked(c->chan, c->elem);

	(void)rt;
	if (err == EAGAIN)
		return 0;
	c->err = err;
	return 1;
}

static void chan_watch(struct weft_rt *rt, struct weft_select_case *c,
    struct weft__selwait *p)
{
	(void)rt;
	p->w.elem = c->elem;
	weft__waitq_push(chan_queue(c), &p->w);
	p->watching = 1;
}

static void chan_unwatch(struct weft_rt *rt, struct weft_select_case *c,
    struct weft__selwait *p)
{
	(void)rt;
	weft__spin_lock(&c->chan->lk);
	weft__waitq_remove(chan_queue(c), &p->w);
	weft__spin_unlock(&c->chan->lk);
}

static void chan_fired(struct weft_rt *rt, struct weft_select_case *c,
    struct weft__selwait *p)
{
	(void)rt;
	c->err = p->w.err;
}

static const struct weft__select_kind chan_kind = {
	chan_check, chan_lock, chan_try, chan_watch, chan_unwatch, NULL,
	chan_fired
};

/* ---- fd readiness ------------------------------------------------------- */

static int fd_check(struct weft_rt *rt, const struct weft_select_case *c)
{
	(void)rt;
	return c->fd >= 0 ? 0 : EINVAL;
}

/* poll(2)'s answer for c's descriptor; 0: nothing yet. */
static short fd_revents(const struct weft_select_case *c)
{
	struct pollfd p = { .fd = c->fd,
	    .events = c->op == WEFT_SELECT_READ ? POLLIN : POLLOUT };

	return weft__sys_poll(&p, 1, 0) == 1 ? p.revents : 0;
}

static int fd_ready(struct weft_select_case *c)
{
	return fd_revents(c) != 0;
}

/* A descriptor that is not open fires at once, with EBADF. */
static int fd_try(struct weft_rt *rt, struct weft_select_case *c)
{
	short r = fd_revents(c);

	(void)rt;
	if (r & POLLNVAL)
		c->err = EBADF;
	return r != 0;
}

/* A descriptor that cannot be watched (a regular file) is always ready:
 * the select finds it so when it looks, before parking. */
static void fd_watch(struct weft_rt *rt, struct weft_select_case *c,
    struct weft__selwait *p)
{
	p->u.fd.e = weft__fd_get(rt, c->fd);
	p->watching = p->u.fd.e && weft__fd_watch(rt, p->u.fd.e,
	    c->op == WEFT_SELECT_READ ? WEFT__EV_IN : WEFT__EV_OUT,
	    &p->u.fd.wait) == 0;
}

static void fd_unwatch(struct weft_rt *rt, struct weft_select_case *c,
    struct weft__selwait *p)
{
	(void)rt;
	(void)c;
	weft__fd_unwatch(p->u.fd.e, &p->u.fd.wait);
}

static void fd_fired(struct weft_rt *rt, struct weft_select_case *c,
    struct weft__selwait *p)
{
	(void)rt;
	(void)p;
	if (fd_revents(c) & POLLNVAL)
		c->err = EBADF;
}

static const struct weft__select_kind fd_kind = {
	fd_check, NULL, fd_try, fd_watch, fd_unwatch, fd_ready, fd_fired
};

/* ---- task completion ---------------------------------------------------- */

static int join_check(struct weft_rt *rt, const struct weft_select_case *c)
{
	return weft__task_joinable(rt, c->task);
}

static int join_ready(struct weft_select_case *c)
{
	return weft__task_done(c->task);
}

static int join_try(struct weft_rt *rt, struct weft_select_case *c)
{
	if (!join_ready(c))
		return 0;
	weft__task_reap(rt, c->task, &c->result);
	return 1;
}

static void join_watch(struct weft_rt *rt, struct weft_select_case *c,
    struct weft__selwait *p)
{
	weft__task_set_joiner(c->task, weft__self(rt));
	p->watching = 1;
}

static void join_unwatch(struct weft_rt *rt, struct weft_select_case *c,
    struct weft__selwait *p)
{
	(void)rt;
	(void)p;
	weft__task_set_joiner(c->task, NULL);
}

static void join_fired(struct weft_rt *rt, struct weft_select_case *c,
    struct weft__selwait *p)
{
	(void)p;
	weft__task_reap(rt, c->task, &c->result);
}

static const struct weft__select_kind join_kind = {
	join_check, NULL, join_try, join_watch, join_unwatch, join_ready,
	join_fired
};

const struct weft__select_kind *weft__select_kind(int op)
{
	switch (op) {
	case WEFT_SELECT_SEND:
	case WEFT_SELECT_RECV:
		return &chan_kind;
	case WEFT_SELECT_READ:
	case WEFT_SELECT_WRITE:
		return &fd_kind;
	case WEFT_SELECT_JOIN:
		return &join_kind;
	}
	return NULL;
}

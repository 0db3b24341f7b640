/*
 * weft_poll: poll(2) that parks the calling task on every descriptor of
 * the set at once.
 */
#include "base/compiler.h"
#include "base/error.h"
#include "base/alloc.h"

#include <poll.h>
#include <stdlib.h>

#include "base/clock.h"
#include "base/sys.h"
#include "io/fd.h"
#include "io/io.h"

_Static_assert(WEFT__EV_IN == POLLIN && WEFT__EV_PRI == POLLPRI &&
    WEFT__EV_OUT == POLLOUT && WEFT__EV_RDHUP == POLLRDHUP,
    "the poller's events are poll(2)'s");

/* The events of poll(2) that can be waited for, as the poller's. */
static uint32_t poll_events(short ev)
{
	return (uint16_t)ev & (WEFT__EV_IN | WEFT__EV_PRI | WEFT__EV_OUT |
	    WEFT__EV_RDHUP);
}

/* poll(2) outside a task, cut short by main's deadline. */
static int poll_outside(struct weft_rt *rt, struct pollfd *fds, nfds_t n,
    int timeout)
{
	int64_t deadline = weft__main_deadline(rt), left;
	int ms = timeout, r;

	if (deadline == INT64_MAX)
		return weft__sys_poll(fds, n, timeout);
	left = deadline - weft_now();
	if (left <= 0)
		return weft__fail(ETIMEDOUT);
	if (timeout < 0 || weft__ms_ceil(left) < timeout)
		ms = weft__ms_ceil(left);
	r = weft__sys_poll(fds, n, ms);
	if (r == 0 && ms != timeout)
		return weft__fail(ETIMEDOUT);
	return r;
}

/*
 * Park on every fd of the set until one is ready or wake_at passes; 0 or
 * an errno.  A descriptor the poller refuses (a regular file, /dev/null)
 * is ready at once for what poll(2) calls ready and never for the rest
 * (POLLPRI, POLLRDHUP, no events): it is not watched, and the wait is for
 * the others or the time.
 */
static int poll_park(struct weft_rt *rt, struct pollfd *fds, nfds_t n,
    struct weft__fdwait *ws, int64_t wake_at)
{
	struct weft__fd *e;
	nfds_t i, linked;
	int err = 0, watched = 0;

	for (linked = 0; linked < n; linked++) {
		if (fds[linked].fd < 0)
			continue;
		if (!(e = weft__fd_get(rt, fds[linked].fd))) {
			err = errno;
			break;
		}
		if (weft__fd_watch(rt, e, poll_events(fds[linked].events),
		    &ws[linked]) == 0)
			watched = 1;
		else if (errno != EPERM) {
			err = errno;
			break;
		}
	}
	if (!err)
		err = weft__park_until(rt, wake_at,
		    watched ? WEFT__PARK_EXTERNAL : 0);
	for (i = 0; i < linked; i++)
		if (fds[i].fd >= 0)
			weft__fd_unwatch(weft__fd_peek(rt, fds[i].fd), &ws[i]);
	return err;
}

int weft__poll_until(struct pollfd *fds, nfds_t nfds, int64_t wake_at)
{
	struct weft_rt *rt = weft__rt_peek();
	struct weft__fdwait local[8], *ws = local;
	int r, err;

	r = weft__sys_poll(fds, nfds, 0);
	if (r != 0 || wake_at <= weft_now())
		return r;
	if ((err = weft__interrupted(weft__self(rt))))
		return weft__fail(err);
	if (nfds > 8 && !(ws = weft__calloc(nfds, sizeof(*ws))))
		return weft__fail(ENOMEM);
	weft__wait_note(rt, WEFT__WAIT_POLL, NULL, (int64_t)nfds,
	    nfds ? fds[0].fd : -1);
	for (;;) {
		err = poll_park(rt, fds, nfds, ws, wake_at);
		r = weft__sys_poll(fds, nfds, 0);
		if (r != 0)
			break;
		if (err > 0) {
			r = weft__fail(err);
			break;
		}
		if (err == 0 && wake_at != INT64_MAX && weft_now() >= wake_at)
			break;
	}
	if (ws != local)
		free(ws);
	return r;
}

int weft_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	struct weft_rt *rt = weft__rt_peek();

	if (!fds && nfds)
		return weft__fail(EINVAL);
	if (!rt || !weft__in_task(rt))
		return poll_outside(rt, fds, nfds, timeout);
	if (timeout == 0)
		return weft__sys_poll(fds, nfds, 0);
	return weft__poll_until(fds, nfds, weft__deadline_after_ms(timeout));
}

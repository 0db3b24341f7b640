/*
 * epoll backend of the poller.
 *
 * weft's event bits have epoll's values (checked below), so they pass
 * through.  The waits go through sys, which uses epoll_pwait2 where the
 * kernel has it, so a sleep of 300 us waits 300 us; elsewhere epoll_wait's
 * milliseconds are rounded up, never down, so no timer fires early.
 * Other threads wake a wait through an eventfd in the set.
 */
#include "base/compiler.h"
#include "base/error.h"
#include "base/alloc.h"

#include <stdlib.h>
#include <sys/epoll.h>

#include "base/sys.h"
#include "core/poller.h"

#define MAX_EVENTS 256

_Static_assert(WEFT__EV_IN == EPOLLIN && WEFT__EV_PRI == EPOLLPRI &&
    WEFT__EV_OUT == EPOLLOUT && WEFT__EV_ERR == EPOLLERR &&
    WEFT__EV_HUP == EPOLLHUP && WEFT__EV_RDHUP == EPOLLRDHUP &&
    WEFT__EV_ONESHOT == EPOLLONESHOT && WEFT__EV_ET == EPOLLET,
    "weft's events are epoll's");

struct weft__poller {
	int fd;                          /* the epoll instance */
	int wakefd;                      /* eventfd other threads write */
	uint64_t changes;                /* epoll_ctl calls (weft_stats) */
	struct weft__pollsrc wake_src;
	struct epoll_event events[MAX_EVENTS];
};

static void wake_drain(struct weft__pollsrc *src, uint32_t events)
{
	struct weft__poller *p =
	    weft__container_of(src, struct weft__poller, wake_src);
	uint64_t n;

	(void)events;
	if (weft__sys_read(p->wakefd, &n, sizeof(n)) < 0)
		n = 0; /* EAGAIN: already drained */
}

struct weft__poller *weft__poller_create(void)
{
	struct weft__poller *p = weft__malloc(sizeof(*p));
	struct epoll_event ev;
	int err;

	if (!p)
		return weft__fail_null(ENOMEM);
	p->wake_src.ready = wake_drain;
	p->changes = 0;
	p->fd = weft__sys_epoll_create();
	p->wakefd = weft__sys_eventfd();
	if (p->fd == -1 || p->wakefd == -1)
		goto fail;
	ev.events = EPOLLIN;
	ev.data.ptr = &p->wake_src;
	if (weft__sys_epoll_ctl(p->fd, EPOLL_CTL_ADD, p->wakefd, &ev) == -1)
		goto fail;
	return p;
fail:
	err = errno == EMFILE || errno == ENFILE ? errno : ENOMEM;
	weft__poller_destroy(p);
	return weft__fail_null(err);
}

void weft__poller_destroy(struct weft__poller *p)
{
	int err = errno;

	if (!p)
		return;
	if (p->fd != -1)
		weft__sys_close(p->fd);
	if (p->wakefd != -1)
		weft__sys_close(p->wakefd);
	free(p);
	errno = err;
}

int weft__poller_set(struct weft__poller *p, int fd, uint32_t events,
    struct weft__pollsrc *src)
{
	struct epoll_event ev;

	ev.events = events;
	ev.data.ptr = src;
	p->changes++;
	if (weft__sys_epoll_ctl(p->fd, EPOLL_CTL_MOD, fd, &ev) == 0)
		return 0;
	/* Not registered, or registered for a file this fd number no
	 * longer names (closed with close(2) and reused): add it. */
	if (errno != ENOENT)
		return -1;
	return weft__sys_epoll_ctl(p->fd, EPOLL_CTL_ADD, fd, &ev);
}

uint64_t weft__poller_changes(const struct weft__poller *p)
{
	return p->changes;
}

int weft__poller_del(struct weft__poller *p, int fd)
{
	p->changes++;
	if (weft__sys_epoll_ctl(p->fd, EPOLL_CTL_DEL, fd, NULL) == 0)
		return 0;
	/* Closed already, or never registered: nothing to remove. */
	return errno == EBADF || errno == ENOENT ? 0 : -1;
}

int weft__poller_wait(struct weft__poller *p, int64_t timeout_ns)
{
	int i, n = weft__sys_epoll_wait(p->fd, p->events, MAX_EVENTS,
	    timeout_ns);

	if (n == -1)
		return errno == EINTR ? 0 : -1;
	for (i = 0; i < n; i++) {
		struct weft__pollsrc *src = p->events[i].data.ptr;

		src->ready(src, p->events[i].events);
	}
	return n;
}

void weft__poller_wake(struct weft__poller *p)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is full: a wake-up is pending anyway. */
	if (weft__sys_write(p->wakefd, &one, sizeof(one)) < 0)
		return;
}

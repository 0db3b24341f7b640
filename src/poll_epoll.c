/*
 * epoll backend of the poller.
 *
 * epoll_pwait2 takes a timespec, so a sleep of 300 µs waits 300 µs; where
 * the kernel lacks it (before Linux 5.11) epoll_wait's milliseconds are
 * rounded up, never down, so no timer fires early.
 */
#include "weft_int.h"

#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "poller.h"

#define MAX_EVENTS 256

static void wake_drain(struct weft__pollsrc *src, uint32_t events)
{
	struct weft__poller *p = (struct weft__poller *)
	    ((char *)src - offsetof(struct weft__poller, wake_src));
	uint64_t n;

	(void)events;
	/* Drain first, then allow new writes: the other order loses a
	 * wake-up written between the two and drained unseen. */
	if (read(p->wakefd, &n, sizeof(n)) < 0)
		n = 0; /* EAGAIN: already drained */
	atomic_store(&p->wake_pending, 0);
}

int weft__poller_init(struct weft__poller *p)
{
	struct epoll_event ev;

	p->no_pwait2 = 0;
	atomic_init(&p->wake_pending, 0);
	p->wake_src.ready = wake_drain;
	p->events = malloc(MAX_EVENTS * sizeof(struct epoll_event));
	p->fd = epoll_create1(EPOLL_CLOEXEC);
	p->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!p->events || p->fd == -1 || p->wakefd == -1)
		goto fail;
	ev.events = EPOLLIN;
	ev.data.ptr = &p->wake_src;
	if (epoll_ctl(p->fd, EPOLL_CTL_ADD, p->wakefd, &ev) == -1)
		goto fail;
	return 0;
fail:
	weft__poller_term(p);
	return weft__fail(errno == EMFILE || errno == ENFILE ? errno : ENOMEM);
}

void weft__poller_term(struct weft__poller *p)
{
	int err = errno;

	if (p->fd != -1)
		close(p->fd);
	if (p->wakefd != -1)
		close(p->wakefd);
	free(p->events);
	p->fd = p->wakefd = -1;
	p->events = NULL;
	errno = err;
}

int weft__poller_set(struct weft__poller *p, int fd, uint32_t events,
    struct weft__pollsrc *src)
{
	struct epoll_event ev;

	ev.events = events;
	ev.data.ptr = src;
	if (epoll_ctl(p->fd, EPOLL_CTL_MOD, fd, &ev) == 0)
		return 0;
	/* Not registered, or registered for a file this fd number no
	 * longer names (closed with close(2) and reused): add it. */
	if (errno != ENOENT)
		return -1;
	return epoll_ctl(p->fd, EPOLL_CTL_ADD, fd, &ev);
}

int weft__poller_del(struct weft__poller *p, int fd)
{
	if (epoll_ctl(p->fd, EPOLL_CTL_DEL, fd, NULL) == 0)
		return 0;
	/* Closed already, or never registered: nothing to remove. */
	return errno == EBADF || errno == ENOENT ? 0 : -1;
}

static int wait_ms(struct weft__poller *p, int64_t timeout_ns)
{
	int ms;

	if (timeout_ns < 0)
		ms = -1;
	else if (timeout_ns > (int64_t)INT32_MAX * 1000000)
		ms = INT32_MAX;
	else
		ms = (int)((timeout_ns + 999999) / 1000000);
	return epoll_wait(p->fd, p->events, MAX_EVENTS, ms);
}

static int wait_events(struct weft__poller *p, int64_t timeout_ns)
{
#ifdef HAVE_EPOLL_PWAIT2
	struct timespec ts;
	int n;

	if (!p->no_pwait2) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		n = epoll_pwait2(p->fd, p->events, MAX_EVENTS,
		    timeout_ns < 0 ? NULL : &ts, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		p->no_pwait2 = 1;
	}
#endif
	return wait_ms(p, timeout_ns);
}

int weft__poller_wait(struct weft__poller *p, int64_t timeout_ns)
{
	struct epoll_event *ev = p->events;
	int i, n = wait_events(p, timeout_ns);

	if (n == -1)
		return errno == EINTR ? 0 : -1;
	for (i = 0; i < n; i++) {
		struct weft__pollsrc *src = ev[i].data.ptr;

		src->ready(src, ev[i].events);
	}
	return n;
}

void weft__poller_wake(struct weft__poller *p)
{
	uint64_t one = 1;

	if (atomic_exchange(&p->wake_pending, 1))
		return;
	if (write(p->wakefd, &one, sizeof(one)) < 0)
		atomic_store(&p->wake_pending, 0);
}

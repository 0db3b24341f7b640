/*
 * The poller: readiness of file descriptors and a wake-up that other
 * threads can trigger, behind a small interface so the loop does not care
 * which kernel mechanism is compiled in (epoll today: poll_epoll.c).
 */
#ifndef WEFT_POLLER_H
#define WEFT_POLLER_H

#include <stdatomic.h>
#include <stdint.h>

/* Something registered with the poller; told which events fired. */
struct weft__pollsrc {
	void (*ready)(struct weft__pollsrc *src, uint32_t events);
};

struct weft__poller {
	int fd;                          /* the epoll instance */
	int wakefd;                      /* eventfd other threads write */
	atomic_int wake_pending;         /* a write is on its way: skip more */
	struct weft__pollsrc wake_src;
	int no_pwait2;                   /* kernel lacks epoll_pwait2 */
	void *events;                    /* buffer for one wait */
};

int weft__poller_init(struct weft__poller *p);
void weft__poller_term(struct weft__poller *p);
/* Register fd for events (EPOLLIN, EPOLLOUT, EPOLLONESHOT, ...), or
 * change them; -1 and errno (EPERM: a regular file, which is always ready). */
int weft__poller_set(struct weft__poller *p, int fd, uint32_t events,
    struct weft__pollsrc *src);
/* Unregister fd; an fd already closed is not an error. */
int weft__poller_del(struct weft__poller *p, int fd);
/*
 * Wait at most timeout_ns (-1: no limit, 0: just look) and tell the ready
 * sources.  Never returns early by less than the clock's own resolution:
 * the fallback to millisecond waits rounds up.
 */
int weft__poller_wait(struct weft__poller *p, int64_t timeout_ns);
/* Make a wait in progress on the poller's thread return; any thread. */
void weft__poller_wake(struct weft__poller *p);

#endif /* WEFT_POLLER_H */

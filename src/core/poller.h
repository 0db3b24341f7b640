/*
 * The poller: readiness of file descriptors and a wake-up that other
 * threads can trigger, behind a small interface so that nothing above it
 * knows which kernel mechanism is compiled in.  epoll is the one backend
 * today (poll_epoll.c); another (io_uring, kqueue) is one more file that
 * implements these six functions.
 *
 * Events are weft's own bits.  They have poll(2)'s values, so a backend
 * built on poll or epoll can pass them through unchanged.
 */
#ifndef WEFT_CORE_POLLER_H
#define WEFT_CORE_POLLER_H

#include <stdint.h>

#define WEFT__EV_IN      0x0001u
#define WEFT__EV_PRI     0x0002u
#define WEFT__EV_OUT     0x0004u
#define WEFT__EV_ERR     0x0008u   /* reported always, never asked for */
#define WEFT__EV_HUP     0x0010u   /* reported always, never asked for */
#define WEFT__EV_RDHUP   0x2000u
#define WEFT__EV_ONESHOT 0x40000000u  /* disarm after one report */
#define WEFT__EV_ET      0x80000000u  /* report changes, not states */

/* Something registered with the poller; told which events fired. */
struct weft__pollsrc {
	void (*ready)(struct weft__pollsrc *src, uint32_t events);
};

struct weft__poller;

/* A new poller; NULL and errno (EMFILE, ENFILE, ENOMEM). */
struct weft__poller *weft__poller_create(void);
void weft__poller_destroy(struct weft__poller *p);
/* Register fd for events, or change them; -1 and errno (EPERM: the file
 * cannot be polled, as a regular file, which is always ready). */
int weft__poller_set(struct weft__poller *p, int fd, uint32_t events,
    struct weft__pollsrc *src);
/* Unregister fd; an fd already closed is not an error. */
int weft__poller_del(struct weft__poller *p, int fd);
/* How many registrations, changes and removals p has made (weft_stats). */
uint64_t weft__poller_changes(const struct weft__poller *p);
/*
 * Wait at most timeout_ns (-1: no limit, 0: just look) and tell the ready
 * sources.  Never returns early by less than the clock's own resolution.
 * Returns how many sources fired, or -1 and errno.
 */
int weft__poller_wait(struct weft__poller *p, int64_t timeout_ns);
/* Make a wait in progress (or the next one) return; any thread. */
void weft__poller_wake(struct weft__poller *p);

#endif /* WEFT_CORE_POLLER_H */

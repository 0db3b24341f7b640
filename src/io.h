/*
 * File-descriptor waits: the per-runtime table of fds that tasks wait on.
 *
 * Each fd a task has waited on gets an entry: what kind of file it is,
 * whether weft made it non-blocking, and the tasks parked on it.  The
 * entry is registered with the poller one-shot, re-armed for each wait, so
 * an fd number closed and reused can never deliver the old file's events.
 */
#ifndef WEFT_IO_H
#define WEFT_IO_H

#include <stddef.h>
#include <stdint.h>

#include "poller.h"

struct weft__fd;
struct weft_rt;
struct weft_task;

/* A task waiting for readiness of an fd. */
struct weft__fdwait {
	struct weft__fdwait *next, *prev;
	struct weft_task *task;
	uint32_t events;              /* EPOLLIN, EPOLLOUT, ... */
};

struct weft__io {
	struct weft__fd **fds;        /* indexed by fd number */
	size_t nfds;
};

void weft__io_init(struct weft__io *io);
void weft__io_term(struct weft__io *io);

/* Wake the calling task (by weft__unpark) when fd has events; the caller
 * parks, then calls weft__fd_unwatch.  -1 and errno (EPERM: a regular
 * file, always ready). */
int weft__fd_watch(struct weft_rt *rt, int fd, uint32_t events,
    struct weft__fdwait *w);
void weft__fd_unwatch(struct weft_rt *rt, int fd, struct weft__fdwait *w);

#endif /* WEFT_IO_H */

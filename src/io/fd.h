/*
 * File-descriptor readiness: the per-runtime table of fds that tasks wait
 * on (a runtime part, made by the first wait of a task on an fd).
 *
 * Each fd a task has waited on gets an entry: what kind of file it is,
 * whether weft made it non-blocking, and the tasks parked on it.
 *
 * The entry is registered with the poller once, at the first wait, for
 * every event and edge-triggered: a wait then costs no system call.  An
 * edge wakes the tasks parked for it; one that comes while nobody waits
 * is not lost, since every wait first tries its operation (or polls) and
 * parks only when that finds the file not ready, and any later change
 * of the file is a new edge.  Entries forget their registration when weft
 * learns the number names another file (weft_close, accept, a change of
 * kind, ENOTSOCK, and close(2) under libweft-hook); a registration the
 * kernel still holds for the old file (a dup of it lives on) may deliver
 * its events to the entry, which is only a spurious wake-up.  See
 * weft_close(3) for a socket closed with close(2) behind weft's back.
 */
#ifndef WEFT_IO_FD_H
#define WEFT_IO_FD_H

#include <stdint.h>
#include <sys/types.h>

#include "base/list.h"
#include "core/core.h"

/*
 * What an fd number names, as far as weft last looked.  The number can be
 * closed with close(2) and reused behind weft's back, so nothing here is
 * trusted to avoid blocking the thread:
 *   sockets are always tried with MSG_DONTWAIT, whatever their flags;
 *   pipes, FIFOs and terminals are never made non-blocking, since their
 *   open file description is often shared with other processes (stdin,
 *   a pipe from the parent): a task waits until poll(2) says ready, then
 *   asks no more than the kernel can do at once (io.c, shared_op); they
 *   are checked with fstat on every call, like files;
 *   other pollable files (eventfd, ...) get O_NONBLOCK checked on every
 *   call (one fcntl), and set if it is missing;
 *   files are checked with fstat on every call (they go to the pool).
 */
enum weft__fd_kind {
	WEFT__FD_UNKNOWN = 0,
	WEFT__FD_SOCKET,  /* pollable; MSG_DONTWAIT works */
	WEFT__FD_PIPE,    /* pipe or FIFO: pollable, flags left alone */
	WEFT__FD_TTY,     /* terminal: pollable, flags left alone */
	WEFT__FD_OTHER,   /* eventfd, timerfd, other devices: pollable */
	WEFT__FD_FILE     /* regular file, directory, block device */
};

struct weft__fd {
	struct weft__pollsrc src;     /* what the poller hands back */
	struct weft_rt *rt;
	struct weft__poller *poller;
	int fd;
	unsigned char kind;
	unsigned char nb_set;         /* weft turned O_NONBLOCK on */
	unsigned char registered;     /* known to the poller */
	unsigned char stream;         /* a SOCK_STREAM socket */
	unsigned char ended;          /* an end or an error was reported */
	uint32_t edges;               /* reports from the poller, counted */
	ino_t ino;                    /* the file, as fstat last saw it */
	dev_t dev;
	/* Events known not ready: a stream read that came back short
	 * emptied the socket, so the next read parks without trying first;
	 * the next edge clears it. */
	uint32_t drained;
	struct weft__list waiters;    /* struct weft__fdwait */
};

/* A task waiting for readiness of an fd. */
struct weft__fdwait {
	struct weft__link link;
	struct weft_task *task;
	uint32_t events;              /* WEFT__EV_IN, WEFT__EV_OUT, ... */
};

/* The entry for fd, made if needed; NULL and errno (EBADF, ENOMEM, or
 * the poller's EMFILE when the table is made). */
struct weft__fd *weft__fd_get(struct weft_rt *rt, int fd);
/* The entry for fd if there is one (rt may be NULL). */
struct weft__fd *weft__fd_peek(struct weft_rt *rt, int fd);

/* Make sure e->kind is right for the file the number names now, and a
 * pollable non-socket non-blocking; 0, or -1 and errno. */
int weft__fd_learn(struct weft__fd *e);
/* The same without setting O_NONBLOCK (libc's promises, io.h). */
int weft__fd_learn_kind(struct weft__fd *e);
/* O_NONBLOCK on e's file, set by weft if it was missing. */
int weft__fd_nonblock(struct weft__fd *e);
/* The number names another file now, or none: start afresh. */
void weft__fd_forget(struct weft__fd *e);
/* e's number is being closed: wake its waiters with EBADF, forget it. */
void weft__fd_closing(struct weft__fd *e);
/* The same for fd in the calling thread's table, if it is there, and the
 * process-wide record of its O_NONBLOCK (weft_close, close(2) hooked). */
void weft__fd_closing_number(int fd);

/* Park the calling task until e is ready for events; 0 or an errno.  why
 * is the wait's kind for the dump (core.h, WEFT__WAIT_READ...). */
int weft__fd_wait(struct weft_rt *rt, struct weft__fd *e, uint32_t events,
    unsigned why);
/* The same, also ending with 0 at wake_at (INT64_MAX: never). */
int weft__fd_wait_until(struct weft_rt *rt, struct weft__fd *e,
    uint32_t events, unsigned why, int64_t wake_at);
/*
 * The same, trusting e's registration: no system call.  For a wait right
 * after the operation itself found e not ready (io.c), the hot path.  The
 * others (and weft__fd_watch) register again each time (MOD, or ADD for a
 * number closed with close(2) and reused), so that poll, select and the
 * like see a new file under an old number.  A trusting wait that has no
 * report for a second registers again too, then waits on: a socket closed
 * with close(2) behind weft's back, whose number a new socket took, costs
 * that second, once, instead of the whole wait.
 */
int weft__fd_wait_edge(struct weft_rt *rt, struct weft__fd *e,
    uint32_t events, unsigned why, int64_t wake_at);

/*
 * Which descriptors weft turned O_NONBLOCK on, for the whole process: the
 * flag belongs to the open file description, not to a thread, and the
 * caller of libweft-hook must still see its own flags (fcntl F_GETFL) and
 * its own blocking behaviour outside tasks.  Set by weft__fd_nonblock,
 * cleared when weft learns the number names another file or closes it,
 * and by the hook when the caller sets O_NONBLOCK itself.  Numbers past
 * WEFT__NB_MAX_FD are not recorded (weft leaves those blocking in libc
 * mode).  Safe from any thread.
 */
#define WEFT__NB_MAX_FD (1 << 22)
int weft__fd_nb_owned(int fd);
/* 0, or -1 and errno (ENOMEM; EMFILE past WEFT__NB_MAX_FD). */
int weft__fd_nb_own(int fd, int owned);

/* Wake the calling task (weft__unpark) when e has events; the caller
 * parks, then calls weft__fd_unwatch.  -1 and errno (EPERM: a regular
 * file, always ready). */
int weft__fd_watch(struct weft_rt *rt, struct weft__fd *e, uint32_t events,
    struct weft__fdwait *w);
void weft__fd_unwatch(struct weft__fd *e, struct weft__fdwait *w);

#endif /* WEFT_IO_FD_H */

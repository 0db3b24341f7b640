/*
 * The fd table and readiness.  See fd.h.
 */
#include "base/compiler.h"
#include "base/error.h"
#include "base/alloc.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>

#include "base/sys.h"
#include "io/fd.h"

struct fdtab {
	struct weft__fd **fds;        /* indexed by fd number */
	size_t nfds;
	struct weft__poller *poller;
};

static int fdtab_init(void *part, struct weft_rt *rt)
{
	struct fdtab *t = part;

	t->poller = weft__loop_poller(rt);
	return t->poller ? 0 : -1;
}

static void fdtab_term(void *part)
{
	struct fdtab *t = part;
	size_t i;

	for (i = 0; i < t->nfds; i++)
		free(t->fds[i]);
	free(t->fds);
}

static const struct weft__part_type fdtab_type = {
	/* The table is the thread's own: the child may free it. */
	WEFT__PART_FD, sizeof(struct fdtab), fdtab_init, fdtab_term, fdtab_term
};

static void fd_ready(struct weft__pollsrc *src, uint32_t events);

struct weft__fd *weft__fd_peek(struct weft_rt *rt, int fd)
{
	struct fdtab *t = weft__rt_part_peek(rt, WEFT__PART_FD);

	if (!t || fd < 0 || (size_t)fd >= t->nfds)
		return NULL;
	return t->fds[fd];
}

/* Room for fd in t's array. */
static int fdtab_grow(struct fdtab *t, int fd)
{
	size_t n = t->nfds ? t->nfds : 64;
	struct weft__fd **v;

	while (n <= (size_t)fd)
		n *= 2;
	if (!(v = weft__realloc(t->fds, n * sizeof(*v))))
		return weft__fail(ENOMEM);
	memset(v + t->nfds, 0, (n - t->nfds) * sizeof(*v));
	t->fds = v;
	t->nfds = n;
	return 0;
}

struct weft__fd *weft__fd_get(struct weft_rt *rt, int fd)
{
	struct fdtab *t;
	struct weft__fd *e;

	if (fd < 0)
		return weft__fail_null(EBADF);
	if (!(t = weft__rt_part(rt, &fdtab_type)))
		return NULL;
	/* A number past the table grows it: only for an open descriptor,
	 * so a stray number is EBADF at once, not a huge table. */
	if ((size_t)fd >= t->nfds && (weft__sys_fcntl(fd, F_GETFD, 0) == -1 ||
	    fdtab_grow(t, fd) == -1))
		return NULL;
	if ((e = t->fds[fd]))
		return e;
	if (!(e = weft__calloc(1, sizeof(*e))))
		return weft__fail_null(ENOMEM);
	e->src.ready = fd_ready;
	e->rt = rt;
	e->poller = t->poller;
	e->fd = fd;
	t->fds[fd] = e;
	return e;
}

void weft__fd_forget(struct weft__fd *e)
{
	if (e->nb_set)
		weft__fd_nb_own(e->fd, 0);
	if (e->registered)
		weft__poller_del(e->poller, e->fd);
	e->kind = WEFT__FD_UNKNOWN;
	e->nb_set = 0;
	e->registered = 0;
	e->armed = 0;
}

static int kind_of(int fd, const struct stat *st)
{
	struct termios tio;

	if (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode) || S_ISBLK(st->st_mode))
		return WEFT__FD_FILE;
	if (S_ISSOCK(st->st_mode))
		return WEFT__FD_SOCKET;
	if (S_ISFIFO(st->st_mode))
		return WEFT__FD_PIPE;
	if (S_ISCHR(st->st_mode) && weft__sys_ioctl(fd, TCGETS, &tio) == 0)
		return WEFT__FD_TTY;
	return WEFT__FD_OTHER;
}

/* ---- O_NONBLOCK set by weft, process-wide --------------------------------- */

/* Pages of one byte per fd, made at the first number that needs one and
 * kept until exit: a byte is read with one load, from any thread. */
#define NB_PAGE_BITS 12
#define NB_PAGE (1 << NB_PAGE_BITS)
static _Atomic(atomic_uchar *) nb_pages[WEFT__NB_MAX_FD / NB_PAGE];

int weft__fd_nb_owned(int fd)
{
	atomic_uchar *page;

	if (fd < 0 || fd >= WEFT__NB_MAX_FD)
		return 0;
	page = atomic_load_explicit(&nb_pages[fd >> NB_PAGE_BITS],
	    memory_order_acquire);
	return page && atomic_load_explicit(&page[fd & (NB_PAGE - 1)],
	    memory_order_relaxed);
}

int weft__fd_nb_own(int fd, int owned)
{
	_Atomic(atomic_uchar *) *slot;
	atomic_uchar *page, *none = NULL;

	if (fd < 0 || fd >= WEFT__NB_MAX_FD)
		return owned ? weft__fail(EMFILE) : 0;
	slot = &nb_pages[fd >> NB_PAGE_BITS];
	if (!(page = atomic_load_explicit(slot, memory_order_acquire))) {
		if (!owned)
			return 0;
		if (!(page = weft__calloc(NB_PAGE, sizeof(*page))))
			return -1;
		if (!atomic_compare_exchange_strong_explicit(slot, &none, page,
		    memory_order_acq_rel, memory_order_acquire)) {
			free(page);
			page = none;
		}
	}
	atomic_store_explicit(&page[fd & (NB_PAGE - 1)], (unsigned char)owned,
	    memory_order_relaxed);
	return 0;
}

int weft__fd_nonblock(struct weft__fd *e)
{
	int fl = weft__sys_fcntl(e->fd, F_GETFL, 0);

	if (fl == -1)
		return -1;
	if (fl & O_NONBLOCK)
		return 0;
	if (weft__fd_nb_own(e->fd, 1) == -1 ||
	    weft__sys_fcntl(e->fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	e->nb_set = 1;
	return 0;
}

int weft__fd_learn(struct weft__fd *e)
{
	if (weft__fd_learn_kind(e) == -1)
		return -1;
	return e->kind == WEFT__FD_OTHER ? weft__fd_nonblock(e) : 0;
}

int weft__fd_learn_kind(struct weft__fd *e)
{
	struct stat st;
	int kind;

	/* Only a socket and a file weft made non-blocking prove what they
	 * are at each call (ENOTSOCK, EAGAIN); the rest is looked at again,
	 * since the number may name another file now. */
	if (e->kind != WEFT__FD_SOCKET &&
	    !(e->kind == WEFT__FD_OTHER && e->nb_set)) {
		if (weft__sys_fstat(e->fd, &st) == -1)
			return -1;
		kind = kind_of(e->fd, &st);
		if (e->kind != kind)
			weft__fd_forget(e);
		e->kind = (unsigned char)kind;
	}
	return 0;
}

/* ---- waiting ------------------------------------------------------------ */

static struct weft__fdwait *waiter_of(struct weft__link *l)
{
	return weft__container_of(l, struct weft__fdwait, link);
}

static uint32_t parked_events(const struct weft__fd *e)
{
	const struct weft__link *l;
	uint32_t ev = 0;

	weft__list_each(l, &e->waiters) {
		const struct weft__fdwait *w = waiter_of((struct weft__link *)l);

		if (weft__task_parked(w->task))
			ev |= w->events;
	}
	return ev;
}

/* Arm the one-shot registration for everything parked waiters want. */
static int fd_arm(struct weft__fd *e, uint32_t want)
{
	uint32_t ev = e->armed | want;

	if (e->armed && (ev == e->armed))
		return 0;
	if (weft__poller_set(e->poller, e->fd, ev | WEFT__EV_ONESHOT,
	    &e->src) == -1)
		return -1;
	e->registered = 1;
	e->armed = ev ? ev : WEFT__EV_ERR;
	return 0;
}

/* The poller saw events on e: wake whoever they concern. */
static void fd_ready(struct weft__pollsrc *src, uint32_t events)
{
	struct weft__fd *e = weft__container_of(src, struct weft__fd, src);
	struct weft__link *l;
	uint32_t rest;

	e->armed = 0;                 /* one-shot: disarmed now */
	weft__list_each(l, &e->waiters) {
		struct weft__fdwait *w = waiter_of(l);

		if (events & (w->events | WEFT__EV_ERR | WEFT__EV_HUP))
			weft__unpark(e->rt, w->task, 0);
	}
	if ((rest = parked_events(e)) != 0)
		fd_arm(e, rest);
}

int weft__fd_watch(struct weft_rt *rt, struct weft__fd *e, uint32_t events,
    struct weft__fdwait *w)
{
	w->task = weft__self(rt);
	w->events = events;
	weft__list_push_front(&e->waiters, &w->link);
	if (fd_arm(e, events) == -1) {
		int err = errno;

		weft__fd_unwatch(e, w);
		return weft__fail(err);
	}
	return 0;
}

void weft__fd_unwatch(struct weft__fd *e, struct weft__fdwait *w)
{
	weft__list_remove(&e->waiters, &w->link);
	/* Nobody waits: forget what is armed, so the next wait re-arms.
	 * A wait that ended without an event (deadline, cancellation) left
	 * a registration the kernel drops if the fd is closed with close(2)
	 * and its number reused; re-arming finds that out (ENOENT, ADD). */
	if (weft__list_empty(&e->waiters))
		e->armed = 0;
}

int weft__fd_wait(struct weft_rt *rt, struct weft__fd *e, uint32_t events,
    unsigned why)
{
	return weft__fd_wait_until(rt, e, events, why, INT64_MAX);
}

int weft__fd_wait_until(struct weft_rt *rt, struct weft__fd *e,
    uint32_t events, unsigned why, int64_t wake_at)
{
	struct weft__fdwait w;
	int err = weft__interrupted(weft__self(rt));

	if (err)
		return err;
	if (weft__fd_watch(rt, e, events, &w) == -1)
		return errno;
	weft__wait_note(rt, why, NULL, e->fd, 0);
	err = weft__park_until(rt, wake_at, WEFT__PARK_EXTERNAL);
	weft__fd_unwatch(e, &w);
	return err;
}

void weft__fd_closing(struct weft__fd *e)
{
	struct weft__link *l;

	weft__list_each(l, &e->waiters)
		weft__unpark(e->rt, waiter_of(l)->task, EBADF);
	weft__fd_forget(e);
}

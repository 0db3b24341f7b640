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
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>

#include "base/clock.h"
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
	e->stream = 0;
	e->ended = 0;
	e->drained = 0;
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

/* Does a short read prove the socket empty?  Only of a byte stream. */
static int socket_is_stream(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	return weft__sys_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
	    type == SOCK_STREAM;
}

int weft__fd_learn_kind(struct weft__fd *e)
{
	struct stat st;
	int kind;

	/* Only a socket proves what it is at each call (ENOTSOCK); the rest
	 * is looked at again, since the number may name another file now. */
	if (e->kind != WEFT__FD_SOCKET) {
		if (weft__sys_fstat(e->fd, &st) == -1)
			return -1;
		kind = kind_of(e->fd, &st);
		/* Another file under the number (closed with close(2) and
		 * reused): its registration is not the old one's. */
		if (e->kind != kind || e->ino != st.st_ino ||
		    e->dev != st.st_dev)
			weft__fd_forget(e);
		e->kind = (unsigned char)kind;
		e->ino = st.st_ino;
		e->dev = st.st_dev;
		if (kind == WEFT__FD_SOCKET)
			e->stream = socket_is_stream(e->fd);
	}
	return 0;
}

/* ---- waiting ------------------------------------------------------------ */

static struct weft__fdwait *waiter_of(struct weft__link *l)
{
	return weft__container_of(l, struct weft__fdwait, link);
}

/* Every event weft may wait for, edge-triggered: registered once. */
#define FD_EVENTS (WEFT__EV_IN | WEFT__EV_PRI | WEFT__EV_OUT | \
	WEFT__EV_RDHUP | WEFT__EV_ET)

/* Register e once; validate: again, MOD or ADD, in case the number was
 * closed with close(2) and reused by a file the poller does not know. */
static int fd_register(struct weft__fd *e, int validate)
{
	if (e->registered && !validate)
		return 0;
	if (weft__poller_set(e->poller, e->fd, FD_EVENTS, &e->src) == -1)
		return -1;
	e->registered = 1;
	return 0;
}

/* The poller saw events on e: wake whoever they concern. */
static void fd_ready(struct weft__pollsrc *src, uint32_t events)
{
	struct weft__fd *e = weft__container_of(src, struct weft__fd, src);
	struct weft__link *l;

	/* A change: what was drained may have something now.  An end or an
	 * error stays: a read must go on to see it. */
	if (events & (WEFT__EV_ERR | WEFT__EV_HUP | WEFT__EV_RDHUP))
		e->ended = 1;
	e->drained &= ~events;
	e->edges++;
	weft__list_each(l, &e->waiters) {
		struct weft__fdwait *w = waiter_of(l);

		if (events & (w->events | WEFT__EV_ERR | WEFT__EV_HUP))
			weft__unpark(e->rt, w->task, 0);
	}
}

static int fd_watch(struct weft_rt *rt, struct weft__fd *e, uint32_t events,
    struct weft__fdwait *w, int validate)
{
	w->task = weft__self(rt);
	w->events = events;
	/* Unlinked, so that unwatching a failed watch does nothing. */
	weft__link_init(&w->link);
	if (fd_register(e, validate) == -1)
		return -1;
	weft__list_push_front(&e->waiters, &w->link);
	return 0;
}

int weft__fd_watch(struct weft_rt *rt, struct weft__fd *e, uint32_t events,
    struct weft__fdwait *w)
{
	return fd_watch(rt, e, events, w, 1);
}

void weft__fd_unwatch(struct weft__fd *e, struct weft__fdwait *w)
{
	weft__list_remove(&e->waiters, &w->link);
}

int weft__fd_wait(struct weft_rt *rt, struct weft__fd *e, uint32_t events,
    unsigned why)
{
	return weft__fd_wait_until(rt, e, events, why, INT64_MAX);
}

/* How long a trusting wait goes without a report before it registers
 * again (fd.h). */
#define TRUST_NS (1000 * WEFT__NS_PER_MS)

static int fd_wait(struct weft_rt *rt, struct weft__fd *e, uint32_t events,
    unsigned why, int64_t wake_at, int validate)
{
	struct weft__fdwait w;
	int err = weft__interrupted(weft__self(rt));
	int64_t check = INT64_MAX;
	uint32_t edges = e->edges;

	if (err)
		return err;
	if (fd_watch(rt, e, events, &w, validate) == -1)
		return errno;
	weft__wait_note(rt, why, NULL, e->fd, 0);
	if (!validate)
		check = weft__add_ns(weft__clock_cached(rt), TRUST_NS);
	err = weft__park_until(rt, check < wake_at ? check : wake_at,
	    WEFT__PARK_EXTERNAL);
	if (!err && check < wake_at && e->edges == edges &&
	    weft_now() >= check) {
		/* Nothing for a second: make sure the poller knows the
		 * file the number names now, then wait on. */
		if (fd_register(e, 1) == -1)
			err = errno;
		else
			err = weft__park_until(rt, wake_at,
			    WEFT__PARK_EXTERNAL);
	}
	weft__fd_unwatch(e, &w);
	return err;
}

int weft__fd_wait_until(struct weft_rt *rt, struct weft__fd *e,
    uint32_t events, unsigned why, int64_t wake_at)
{
	return fd_wait(rt, e, events, why, wake_at, 1);
}

int weft__fd_wait_edge(struct weft_rt *rt, struct weft__fd *e,
    uint32_t events, unsigned why, int64_t wake_at)
{
	return fd_wait(rt, e, events, why, wake_at, 0);
}

void weft__fd_closing(struct weft__fd *e)
{
	struct weft__link *l;

	weft__list_each(l, &e->waiters)
		weft__unpark(e->rt, waiter_of(l)->task, EBADF);
	weft__fd_forget(e);
}

void weft__fd_closing_number(int fd)
{
	struct weft__fd *e = weft__fd_peek(weft__rt_peek(), fd);

	if (e)
		weft__fd_closing(e);
	else
		weft__fd_nb_own(fd, 0);
}

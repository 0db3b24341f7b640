/*
 * I/O with POSIX signatures that park only the calling task.
 *
 * Inside a task each call tries the operation on the non-blocking fd; on
 * EAGAIN it parks until the poller says the fd is ready, then tries again.
 * Regular files, which are always "ready" yet may block on the disk, go
 * through the offload pool instead.  Outside a task the calls are the POSIX
 * ones, except that an fd weft made non-blocking is waited on with poll(2),
 * so the caller still sees blocking behaviour.
 */
#include "weft_int.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime.h"

/*
 * What an fd number names, as far as weft last looked.  The number can be
 * closed with close(2) and reused behind weft's back, so nothing here is
 * trusted to avoid blocking the thread:
 *   sockets are always tried with MSG_DONTWAIT, whatever their flags;
 *   other pollable files (pipes, ttys, ...) get O_NONBLOCK checked on
 *   every call (one fcntl), and set if it is missing;
 *   files are checked with fstat on every call (they go to the pool).
 */
enum fd_kind {
	FD_UNKNOWN = 0,
	FD_SOCKET,        /* epoll works; MSG_DONTWAIT works */
	FD_OTHER,         /* pipe, tty, eventfd...: epoll works */
	FD_FILE           /* regular file, directory, block device */
};

struct weft__fd {
	struct weft__pollsrc src;     /* what the poller hands back */
	struct weft_rt *rt;
	int fd;
	unsigned char kind;
	unsigned char nb_set;         /* weft turned O_NONBLOCK on */
	unsigned char registered;     /* known to the poller */
	uint32_t armed;               /* events of the one-shot registration */
	struct weft__fdwait *waiters;
};

void weft__io_init(struct weft__io *io)
{
	io->fds = NULL;
	io->nfds = 0;
}

void weft__io_term(struct weft__io *io)
{
	size_t i;

	for (i = 0; i < io->nfds; i++)
		free(io->fds[i]);
	free(io->fds);
	weft__io_init(io);
}

/* ---- the fd table ------------------------------------------------------- */

static void fd_ready(struct weft__pollsrc *src, uint32_t events);

static struct weft__fd *fd_peek(struct weft_rt *rt, int fd)
{
	if (!rt || fd < 0 || (size_t)fd >= rt->io.nfds)
		return NULL;
	return rt->io.fds[fd];
}

static struct weft__fd *fd_get(struct weft_rt *rt, int fd)
{
	struct weft__io *io = &rt->io;
	struct weft__fd *e;

	if (fd < 0)
		return weft__fail_null(EBADF);
	if ((size_t)fd >= io->nfds) {
		size_t n = io->nfds ? io->nfds : 64;
		struct weft__fd **t;

		while (n <= (size_t)fd)
			n *= 2;
		if (!(t = realloc(io->fds, n * sizeof(*t))))
			return weft__fail_null(ENOMEM);
		memset(t + io->nfds, 0, (n - io->nfds) * sizeof(*t));
		io->fds = t;
		io->nfds = n;
	}
	if ((e = io->fds[fd]))
		return e;
	if (!(e = calloc(1, sizeof(*e))))
		return weft__fail_null(ENOMEM);
	e->src.ready = fd_ready;
	e->rt = rt;
	e->fd = fd;
	io->fds[fd] = e;
	return e;
}

/* The fd number now names another file, or none: start afresh. */
static void fd_forget(struct weft__fd *e)
{
	if (e->registered)
		weft__poller_del(&e->rt->poller, e->fd);
	e->kind = FD_UNKNOWN;
	e->nb_set = 0;
	e->registered = 0;
	e->armed = 0;
}

static int kind_of(const struct stat *st)
{
	if (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode) || S_ISBLK(st->st_mode))
		return FD_FILE;
	return S_ISSOCK(st->st_mode) ? FD_SOCKET : FD_OTHER;
}

/* O_NONBLOCK on e's file, set by weft if it was missing. */
static int fd_nonblock(struct weft__fd *e)
{
	int fl = fcntl(e->fd, F_GETFL);

	if (fl == -1)
		return -1;
	if (fl & O_NONBLOCK)
		return 0;
	if (fcntl(e->fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	e->nb_set = 1;
	return 0;
}

/* Make sure e->kind is right for the file the number names now. */
static int fd_learn(struct weft__fd *e)
{
	struct stat st;

	if (e->kind == FD_UNKNOWN || e->kind == FD_FILE) {
		if (fstat(e->fd, &st) == -1)
			return -1;
		if (e->kind != kind_of(&st))
			fd_forget(e);
		e->kind = (unsigned char)kind_of(&st);
	}
	return e->kind == FD_OTHER ? fd_nonblock(e) : 0;
}

/* ---- waiting ------------------------------------------------------------ */

static uint32_t parked_events(const struct weft__fd *e)
{
	const struct weft__fdwait *w;
	uint32_t ev = 0;

	for (w = e->waiters; w; w = w->next)
		if (w->task->state == WEFT__PARKED)
			ev |= w->events;
	return ev;
}

/* Arm the one-shot registration for everything parked waiters want. */
static int fd_arm(struct weft__fd *e, uint32_t want)
{
	uint32_t ev = e->armed | want;

	if (e->armed && (ev == e->armed))
		return 0;
	if (weft__poller_set(&e->rt->poller, e->fd, ev | EPOLLONESHOT,
	    &e->src) == -1)
		return -1;
	e->registered = 1;
	e->armed = ev ? ev : EPOLLERR;
	return 0;
}

/* The poller saw events on e: wake whoever they concern. */
static void fd_ready(struct weft__pollsrc *src, uint32_t events)
{
	struct weft__fd *e = (struct weft__fd *)src;
	struct weft__fdwait *w;
	uint32_t rest;

	e->armed = 0;                 /* one-shot: disarmed now */
	for (w = e->waiters; w; w = w->next)
		if (events & (w->events | EPOLLERR | EPOLLHUP))
			weft__unpark(e->rt, w->task, 0);
	if ((rest = parked_events(e)) != 0)
		fd_arm(e, rest);
}

static void waiter_link(struct weft__fd *e, struct weft__fdwait *w,
    struct weft_task *t, uint32_t events)
{
	w->task = t;
	w->events = events;
	w->prev = NULL;
	w->next = e->waiters;
	if (e->waiters)
		e->waiters->prev = w;
	e->waiters = w;
}

static void waiter_unlink(struct weft__fd *e, struct weft__fdwait *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		e->waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	/* Nobody waits: forget what is armed, so the next wait re-arms.
	 * A wait that ended without an event (deadline, cancellation) left
	 * a registration the kernel drops if the fd is closed with close(2)
	 * and its number reused; re-arming finds that out (ENOENT, ADD). */
	if (!e->waiters)
		e->armed = 0;
}

/* Park the calling task until e is ready for events; 0 or an errno. */
static int fd_wait(struct weft_rt *rt, struct weft__fd *e, uint32_t events)
{
	struct weft__fdwait w;
	int err = weft__interrupted(rt->sched.current);

	if (err)
		return err;
	waiter_link(e, &w, rt->sched.current, events);
	if (fd_arm(e, events) == -1) {
		err = errno;
		waiter_unlink(e, &w);
		return err;
	}
	rt->sched.external++;
	err = weft__park(rt);
	rt->sched.external--;
	waiter_unlink(e, &w);
	return err;
}

int weft__fd_watch(struct weft_rt *rt, int fd, uint32_t events,
    struct weft__fdwait *w)
{
	struct weft__fd *e = fd_get(rt, fd);

	if (!e)
		return -1;
	waiter_link(e, w, rt->sched.current, events);
	if (fd_arm(e, events) == -1) {
		waiter_unlink(e, w);
		return -1;
	}
	return 0;
}

void weft__fd_unwatch(struct weft_rt *rt, int fd, struct weft__fdwait *w)
{
	waiter_unlink(rt->io.fds[fd], w);
}

/* Outside a task: wait with poll(2), within main's deadline. */
static int block_on(struct weft_rt *rt, int fd, short events)
{
	int64_t deadline = rt->sched.main_task.scope_deadline, left;
	struct pollfd p = { .fd = fd, .events = events, .revents = 0 };
	int ms, n;

	for (;;) {
		ms = -1;
		if (deadline != INT64_MAX) {
			left = deadline - weft_now();
			if (left <= 0)
				return weft__fail(ETIMEDOUT);
			ms = left > (int64_t)INT32_MAX * 1000000 ? INT32_MAX :
			    (int)((left + 999999) / 1000000);
		}
		n = poll(&p, 1, ms);
		if (n > 0)
			return 0;
		if (n == -1 && errno != EINTR)
			return -1;
	}
}

/* ---- one operation ------------------------------------------------------ */

enum op { OP_READ, OP_WRITE, OP_RECV, OP_SEND, OP_ACCEPT };

struct io_op {
	enum op op;
	int fd;
	void *buf;
	size_t len;
	int flags;
	struct sockaddr *addr;
	socklen_t *addrlen;
};

/* One try; dontwait (a socket, in a task) makes it never block. */
static ssize_t attempt(const struct io_op *o, int dontwait)
{
	int f = dontwait ? MSG_DONTWAIT : 0;

	switch (o->op) {
	case OP_READ:
		return dontwait ? recv(o->fd, o->buf, o->len, f) :
		    read(o->fd, o->buf, o->len);
	case OP_WRITE:
		return dontwait ? send(o->fd, o->buf, o->len, f) :
		    write(o->fd, o->buf, o->len);
	case OP_RECV:
		return recv(o->fd, o->buf, o->len, o->flags | f);
	case OP_SEND:
		return send(o->fd, o->buf, o->len, o->flags | f);
	case OP_ACCEPT:
		return accept(o->fd, o->addr, o->addrlen);
	}
	return weft__fail(EINVAL);
}

static int would_block(ssize_t r)
{
	return r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static uint32_t op_events(const struct io_op *o)
{
	return o->op == OP_WRITE || o->op == OP_SEND ? EPOLLOUT : EPOLLIN;
}

/* Regular-file I/O runs on the pool: the disk may block, epoll can't tell. */
static void *file_job(void *arg)
{
	const struct io_op *o = arg;

	return (void *)(intptr_t)attempt(o, 0);
}

static ssize_t file_op(struct weft_rt *rt, struct io_op *o)
{
	void *r;
	int err, fn_errno;

	err = weft__offload(rt, file_job, o, &r, &fn_errno,
	    WEFT__PARK_NOINTR, NULL);
	if (err)
		return weft__fail(err);
	if ((intptr_t)r < 0)
		errno = fn_errno;
	return (ssize_t)(intptr_t)r;
}

/* Outside a task: the POSIX call, waiting with poll if weft set O_NONBLOCK. */
static ssize_t op_outside(struct weft_rt *rt, const struct io_op *o)
{
	struct weft__fd *e = fd_peek(rt, o->fd);
	ssize_t r;

	for (;;) {
		r = attempt(o, 0);
		if (!would_block(r) || !e || !e->nb_set)
			return r;
		if (block_on(rt, o->fd, op_events(o) == EPOLLOUT ? POLLOUT :
		    POLLIN) == -1)
			return -1;
	}
}

/* Run o until it makes progress once (or fails), parking as needed. */
static ssize_t op_once(struct io_op *o)
{
	struct weft_rt *rt = weft__rt_peek();
	struct weft__fd *e;
	ssize_t r;
	int err;

	if (!rt || !weft__in_task(&rt->sched))
		return op_outside(rt, o);
	if (!(e = fd_get(rt, o->fd)) || fd_learn(e) == -1)
		return -1;
	if (e->kind == FD_FILE && (o->op == OP_READ || o->op == OP_WRITE))
		return file_op(rt, o);
	/* accept has no MSG_DONTWAIT: the listening socket must be
	 * non-blocking itself. */
	if (o->op == OP_ACCEPT && e->kind == FD_SOCKET && fd_nonblock(e) == -1)
		return -1;
	for (;;) {
		r = attempt(o, e->kind == FD_SOCKET);
		if (r == -1 && errno == ENOTSOCK && e->kind == FD_SOCKET) {
			/* The number names another file now. */
			fd_forget(e);
			if (fd_learn(e) == -1)
				return -1;
			continue;
		}
		if (!would_block(r))
			return r;
		if ((err = fd_wait(rt, e, op_events(o))))
			return weft__fail(err);
	}
}

/* write(2) and send(2) on a blocking fd write everything: so do these. */
static ssize_t op_all(struct io_op *o)
{
	const char *start = o->buf;
	size_t done = 0, len = o->len;
	ssize_t r;

	do {
		o->buf = (char *)start + done;
		o->len = len - done;
		r = op_once(o);
		if (r < 0)
			return done ? (ssize_t)done : -1;
		done += (size_t)r;
	} while (done < len);
	return (ssize_t)done;
}

/* ---- the calls ---------------------------------------------------------- */

ssize_t weft_read(int fd, void *buf, size_t count)
{
	struct io_op o = { .op = OP_READ, .fd = fd, .buf = buf, .len = count };

	return op_once(&o);
}

ssize_t weft_write(int fd, const void *buf, size_t count)
{
	struct io_op o = { .op = OP_WRITE, .fd = fd, .buf = (void *)buf,
	    .len = count };

	return op_all(&o);
}

ssize_t weft_recv(int fd, void *buf, size_t len, int flags)
{
	struct io_op o = { .op = OP_RECV, .fd = fd, .buf = buf, .len = len,
	    .flags = flags };

	return op_once(&o);
}

ssize_t weft_send(int fd, const void *buf, size_t len, int flags)
{
	struct io_op o = { .op = OP_SEND, .fd = fd, .buf = (void *)buf,
	    .len = len, .flags = flags };

	return op_all(&o);
}

int weft_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	struct io_op o = { .op = OP_ACCEPT, .fd = fd, .addr = addr,
	    .addrlen = addrlen };
	struct weft__fd *e;
	int nfd = (int)op_once(&o);

	/* A new file under a number weft may have seen before. */
	if (nfd >= 0 && (e = fd_peek(weft__rt_peek(), nfd)))
		fd_forget(e);
	return nfd;
}

/* A non-blocking connect in progress: wait, then ask how it went. */
static int connect_finish(struct weft_rt *rt, struct weft__fd *e, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int err, soerr = 0;

	/* Until the socket is writable the connection is still underway. */
	do {
		if (e)
			err = fd_wait(rt, e, EPOLLOUT);
		else
			err = block_on(rt, fd, POLLOUT) == -1 ? errno : 0;
		if (err)
			return weft__fail(err);
	} while (poll(&p, 1, 0) == 0);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
		return -1;
	return soerr ? weft__fail(soerr) : 0;
}

int weft_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	struct weft_rt *rt = weft__rt_peek();
	struct weft__fd *e = NULL;

	if (rt && weft__in_task(&rt->sched)) {
		if (!(e = fd_get(rt, fd)) || fd_learn(e) == -1 ||
		    fd_nonblock(e) == -1)
			return -1;
	} else if (!(e = fd_peek(rt, fd)) || !e->nb_set) {
		return connect(fd, addr, addrlen);
	}
	if (connect(fd, addr, addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EAGAIN)
		return -1;
	return connect_finish(rt, weft__in_task(&rt->sched) ? e : NULL, fd);
}

int weft_close(int fd)
{
	struct weft__fd *e = fd_peek(weft__rt_peek(), fd);
	struct weft__fdwait *w;

	if (e) {
		for (w = e->waiters; w; w = w->next)
			weft__unpark(e->rt, w->task, EBADF);
		fd_forget(e);
	}
	return close(fd);
}

/* ---- poll --------------------------------------------------------------- */

static uint32_t poll_to_epoll(short ev)
{
	uint32_t r = 0;

	if (ev & POLLIN)
		r |= EPOLLIN;
	if (ev & POLLPRI)
		r |= EPOLLPRI;
	if (ev & POLLOUT)
		r |= EPOLLOUT;
	if (ev & POLLRDHUP)
		r |= EPOLLRDHUP;
	return r;
}

/* poll(2) outside a task, cut short by main's deadline. */
static int poll_outside(struct weft_rt *rt, struct pollfd *fds, nfds_t n,
    int timeout)
{
	int64_t deadline = rt ? rt->sched.main_task.scope_deadline : INT64_MAX;
	int64_t left;
	int ms = timeout, r;

	if (deadline == INT64_MAX)
		return poll(fds, n, timeout);
	left = deadline - weft_now();
	if (left <= 0)
		return weft__fail(ETIMEDOUT);
	if (left < (int64_t)INT32_MAX * 1000000 &&
	    (timeout < 0 || (left + 999999) / 1000000 < timeout))
		ms = (int)((left + 999999) / 1000000);
	r = poll(fds, n, ms);
	if (r == 0 && ms != timeout)
		return weft__fail(ETIMEDOUT);
	return r;
}

/* Park on every fd of the set until one is ready or wake_at passes. */
static int poll_park(struct weft_rt *rt, struct pollfd *fds, nfds_t n,
    struct weft__fdwait *ws, int64_t wake_at)
{
	struct weft_task *self = rt->sched.current;
	struct weft__fd *e;
	nfds_t i, linked;
	int err = 0;

	for (linked = 0; linked < n; linked++) {
		if (fds[linked].fd < 0)
			continue;
		if (!(e = fd_get(rt, fds[linked].fd))) {
			err = errno;
			break;
		}
		waiter_link(e, &ws[linked], self,
		    poll_to_epoll(fds[linked].events));
		if (fd_arm(e, ws[linked].events) == -1) {
			/* Regular files are always ready: look again. */
			waiter_unlink(e, &ws[linked]);
			err = -1;
			break;
		}
	}
	if (!err) {
		rt->sched.external++;
		err = weft__park_until(rt, wake_at, 0);
		rt->sched.external--;
	}
	for (i = 0; i < linked; i++)
		if (fds[i].fd >= 0)
			waiter_unlink(rt->io.fds[fds[i].fd], &ws[i]);
	return err;
}

int weft_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	struct weft_rt *rt = weft__rt_peek();
	struct weft__fdwait local[8], *ws = local;
	int64_t wake_at;
	int r, err;

	if (!fds && nfds)
		return weft__fail(EINVAL);
	if (!rt || !weft__in_task(&rt->sched))
		return poll_outside(rt, fds, nfds, timeout);
	r = poll(fds, nfds, 0);
	if (r != 0 || timeout == 0)
		return r;
	if ((err = weft__interrupted(rt->sched.current)))
		return weft__fail(err);
	if (nfds > 8 && !(ws = calloc(nfds, sizeof(*ws))))
		return weft__fail(ENOMEM);
	wake_at = timeout < 0 ? INT64_MAX :
	    weft_now() + (int64_t)timeout * 1000000;
	for (;;) {
		err = poll_park(rt, fds, nfds, ws, wake_at);
		r = poll(fds, nfds, 0);
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

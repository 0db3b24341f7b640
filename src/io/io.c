/*
 * I/O with POSIX signatures that park only the calling task.
 *
 * Inside a task each call tries the operation on the non-blocking fd; on
 * EAGAIN it parks until the poller says the fd is ready (fd.c), then tries
 * again.  Regular files, which are always "ready" yet may block on the
 * disk, go through the offload pool instead.  Outside a task the calls are
 * the POSIX ones, except that an fd weft made non-blocking is waited on
 * with poll(2), so the caller still sees blocking behaviour.
 */
#include "base/compiler.h"
#include "base/error.h"
#include "base/alloc.h"

#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "base/clock.h"
#include "base/sys.h"
#include "io/fd.h"
#include "io/io.h"
#include "io/pool.h"

/* How long a task's weft_accept waits when no descriptor is left. */
#define ACCEPT_BACKOFF_NS (20 * WEFT__NS_PER_MS)

/* Outside a task: wait with poll(2), within main's deadline (a file
 * ready already is ready, even past it). */
static int block_on(struct weft_rt *rt, int fd, short events)
{
	int64_t deadline = weft__main_deadline(rt), left;
	struct pollfd p = { .fd = fd, .events = events, .revents = 0 };
	int ms, n;

	for (;;) {
		ms = -1;
		if (deadline != INT64_MAX) {
			left = deadline - weft_now();
			ms = left > 0 ? weft__ms_ceil(left) : 0;
		}
		n = weft__sys_poll(&p, 1, ms);
		if (n > 0)
			return 0;
		if (n == 0 && ms >= 0 && weft_now() >= deadline)
			return weft__fail(ETIMEDOUT);
		if (n == -1 && errno != EINTR)
			return -1;
	}
}

/* ---- one operation ------------------------------------------------------ */

/* readv and writev on a socket in a task: the message form, which takes
 * MSG_DONTWAIT and MSG_NOSIGNAL. */
static struct msghdr iov_msg(const struct weft__io_op *o)
{
	struct msghdr m;

	memset(&m, 0, sizeof(m));
	m.msg_iov = (struct iovec *)o->iov;
	m.msg_iovlen = (size_t)o->iovcnt;
	return m;
}

/*
 * One try; dontwait (a socket, in a task) makes it never block.  Writes
 * never raise SIGPIPE: a peer gone is EPIPE (MSG_NOSIGNAL on sockets).
 */
static ssize_t attempt(const struct weft__io_op *o, int dontwait)
{
	int f = dontwait ? MSG_DONTWAIT : 0;
	/* SIGPIPE: never from weft's calls; as libc's from the hook's. */
	int nosig = o->libc ? 0 : MSG_NOSIGNAL;

	switch (o->op) {
	case WEFT__IO_READ:
		return dontwait ? weft__sys_recv(o->fd, o->buf, o->len, f) :
		    weft__sys_read(o->fd, o->buf, o->len);
	case WEFT__IO_WRITE:
		if (dontwait)
			return weft__sys_send(o->fd, o->buf, o->len, f | nosig);
		return o->libc ? weft__sys_write(o->fd, o->buf, o->len) :
		    weft__sys_write_nosigpipe(o->fd, o->buf, o->len);
	case WEFT__IO_RECV:
		return weft__sys_recv(o->fd, o->buf, o->len, o->flags | f);
	case WEFT__IO_SEND:
		return weft__sys_send(o->fd, o->buf, o->len,
		    o->flags | f | nosig);
	case WEFT__IO_ACCEPT:
		return weft__sys_accept4(o->fd, o->addr, o->addrlen, o->flags);
	case WEFT__IO_READV:
		if (dontwait) {
			struct msghdr m = iov_msg(o);

			return weft__sys_recvmsg(o->fd, &m, f);
		}
		return weft__sys_readv(o->fd, o->iov, o->iovcnt);
	case WEFT__IO_WRITEV:
		if (dontwait) {
			struct msghdr m = iov_msg(o);

			return weft__sys_sendmsg(o->fd, &m, f | nosig);
		}
		return o->libc ? weft__sys_writev(o->fd, o->iov, o->iovcnt) :
		    weft__sys_writev_nosigpipe(o->fd, o->iov, o->iovcnt);
	case WEFT__IO_RECVFROM:
		return weft__sys_recvfrom(o->fd, o->buf, o->len, o->flags | f,
		    o->addr, o->addrlen);
	case WEFT__IO_SENDTO:
		return weft__sys_sendto(o->fd, o->buf, o->len,
		    o->flags | f | nosig, o->addr, o->dstlen);
	case WEFT__IO_RECVMSG:
		return weft__sys_recvmsg(o->fd, o->msg, o->flags | f);
	case WEFT__IO_SENDMSG:
		return weft__sys_sendmsg(o->fd, o->msg, o->flags | f | nosig);
	}
	return weft__fail(EINVAL);
}

static int would_block(ssize_t r)
{
	return r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static uint32_t op_events(const struct weft__io_op *o)
{
	switch (o->op) {
	case WEFT__IO_WRITE: case WEFT__IO_SEND: case WEFT__IO_WRITEV:
	case WEFT__IO_SENDTO: case WEFT__IO_SENDMSG:
		return WEFT__EV_OUT;
	default:
		return WEFT__EV_IN;
	}
}

/* What the dump says a task waits for. */
static unsigned op_why(const struct weft__io_op *o)
{
	if (o->op == WEFT__IO_ACCEPT)
		return WEFT__WAIT_ACCEPT;
	return op_events(o) == WEFT__EV_OUT ? WEFT__WAIT_WRITE :
	    WEFT__WAIT_READ;
}

/* Regular-file I/O runs on the pool: the disk may block, epoll can't tell. */
static void *file_job(void *arg)
{
	const struct weft__io_op *o = arg;

	return (void *)(intptr_t)attempt(o, 0);
}

static ssize_t file_op(struct weft_rt *rt, struct weft__io_op *o)
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

/*
 * Outside a task: the POSIX call.  It waits with poll(2) first when main
 * has a deadline (so the deadline ends the wait), and again whenever the
 * fd turns out non-blocking because weft set O_NONBLOCK.
 */
static ssize_t op_outside(struct weft_rt *rt, const struct weft__io_op *o)
{
	struct weft__fd *e = weft__fd_peek(rt, o->fd);
	short ev = op_events(o) == WEFT__EV_OUT ? POLLOUT : POLLIN;
	ssize_t r;

	if (weft__main_deadline(rt) != INT64_MAX &&
	    block_on(rt, o->fd, ev) == -1)
		return -1;
	for (;;) {
		r = attempt(o, 0);
		if (!would_block(r) || !e || !e->nb_set)
			return r;
		if (block_on(rt, o->fd, ev) == -1)
			return -1;
	}
}

/*
 * accept(2) found no descriptor left.  The connection stays queued, so a
 * loop that retries at once would hold the thread at full speed while the
 * tasks that would close descriptors never run: park a moment first, then
 * report it (or the deadline, or the cancellation, if either comes first).
 */
static ssize_t accept_backoff(int err)
{
	if (weft_sleep_ns(ACCEPT_BACKOFF_NS) == -1)
		return -1;
	return weft__fail(err);
}

/* ---- libc's promises (io.h) ---------------------------------------------- */

/* Did the caller ask this call not to wait: MSG_DONTWAIT, or O_NONBLOCK
 * on the descriptor that weft did not set? */
static int caller_nonblock(const struct weft__io_op *o)
{
	int fl;

	if (o->op != WEFT__IO_ACCEPT && (o->flags & MSG_DONTWAIT))
		return 1;
	fl = weft__sys_fcntl(o->fd, F_GETFL, 0);
	return fl != -1 && (fl & O_NONBLOCK) && !weft__fd_nb_owned(o->fd);
}

/* The end of a socket's wait that SO_RCVTIMEO or SO_SNDTIMEO sets. */
static int64_t socket_timeout(const struct weft__io_op *o)
{
	struct timeval tv = { 0, 0 };
	socklen_t len = sizeof(tv);
	int name = op_events(o) == WEFT__EV_OUT ? SO_SNDTIMEO : SO_RCVTIMEO;

	if (weft__sys_getsockopt(o->fd, SOL_SOCKET, name, &tv, &len) == -1 ||
	    (tv.tv_sec == 0 && tv.tv_usec == 0))
		return INT64_MAX;
	return weft__add_ns(weft_now(), (int64_t)tv.tv_sec * WEFT__NS_PER_S +
	    (int64_t)tv.tv_usec * 1000);
}

/*
 * o found its descriptor not ready.  In weft mode it waits.  In libc mode
 * it waits only where the caller's blocking call would: -1 and EAGAIN for
 * a non-blocking caller, or once the socket's timeout has passed.  The
 * flags and the timeout are read at the first wait of the call, not before,
 * so a call that finds its descriptor ready costs no more than weft's.
 */
static int may_wait(struct weft__io_op *o, const struct weft__fd *e)
{
	if (!o->libc)
		return 0;
	if (!o->timed) {
		if (caller_nonblock(o))
			return weft__fail(EAGAIN);
		o->timed = 1;
		o->wake_at = e->kind == WEFT__FD_SOCKET ? socket_timeout(o) :
		    INT64_MAX;
	}
	if (o->wake_at != INT64_MAX && weft_now() >= o->wake_at)
		return weft__fail(EAGAIN);
	return 0;
}

/* Park until e is ready for o, or o's timeout; 0, or -1 and errno. */
static int wait_for(struct weft_rt *rt, struct weft__fd *e,
    struct weft__io_op *o)
{
	int err;

	if (may_wait(o, e) == -1)
		return -1;
	err = weft__fd_wait_edge(rt, e, op_events(o), op_why(o),
	    o->libc ? o->wake_at : INT64_MAX);
	return err ? weft__fail(err) : 0;
}

/*
 * A read of a byte stream that came back short emptied the socket: the
 * next read would fail with EAGAIN, so it parks without trying, until the
 * socket's next edge (fd.h).  This spares the system call that only finds
 * the socket empty, one per message in a request-response exchange.
 */
static void note_short_read(const struct weft__io_op *o, struct weft__fd *e,
    ssize_t r)
{
	if (e->stream && r > 0 && (size_t)r < o->len &&
	    (o->op == WEFT__IO_READ || o->op == WEFT__IO_RECV ||
	    o->op == WEFT__IO_RECVFROM) &&
	    !(o->flags & (MSG_PEEK | MSG_WAITALL)))
		e->drained |= WEFT__EV_IN;
}

/* Is o a read that would find its socket empty?  Not in libc mode, where
 * a caller's non-blocking read must try (and see the data an edge not yet
 * polled announces). */
static int drained(const struct weft__io_op *o, const struct weft__fd *e)
{
	return !o->libc && e->kind == WEFT__FD_SOCKET && !e->ended &&
	    o->op != WEFT__IO_ACCEPT && op_events(o) == WEFT__EV_IN &&
	    (e->drained & WEFT__EV_IN);
}

static int learn(const struct weft__io_op *o, struct weft__fd *e)
{
	return o->libc ? weft__fd_learn_kind(e) : weft__fd_learn(e);
}

/* ---- pipes, FIFOs and terminals ------------------------------------------ */

/*
 * How much the kernel takes or gives at once, without waiting, once
 * poll(2) said the file is ready; 0 for no limit.
 *   A pipe read returns what is there: no limit.
 *   A terminal read in raw mode may wait for VMIN bytes: what FIONREAD
 *   says is there.
 *   A pipe with a free slot takes PIPE_BUF bytes at once, an empty one
 *   its whole size; a terminal, PIPE_BUF (it may still hold the thread
 *   while it drains a slow line).
 */
static size_t shared_limit(const struct weft__fd *e, int out)
{
	int n = 0;

	if (!out) {
		if (e->kind == WEFT__FD_TTY &&
		    weft__sys_ioctl(e->fd, FIONREAD, &n) == 0 && n > 0)
			return (size_t)n;
		return 0;
	}
	if (e->kind == WEFT__FD_PIPE &&
	    weft__sys_ioctl(e->fd, FIONREAD, &n) == 0 && n == 0 &&
	    (n = weft__sys_fcntl(e->fd, F_GETPIPE_SZ, 0)) > PIPE_BUF)
		return (size_t)n;
	return PIPE_BUF;
}

/* o asking for no more than limit bytes (a prefix of its buffers). */
static ssize_t attempt_limited(const struct weft__io_op *o, size_t limit)
{
	struct weft__io_op c = *o;
	struct iovec v[16];
	size_t total = 0;
	int i;

	if (!limit)
		return attempt(o, 0);
	if (o->op == WEFT__IO_READ || o->op == WEFT__IO_WRITE) {
		c.len = o->len < limit ? o->len : limit;
		return attempt(&c, 0);
	}
	for (i = 0; i < o->iovcnt && i < 16 && total < limit; i++) {
		v[i] = o->iov[i];
		if (v[i].iov_len > limit - total)
			v[i].iov_len = limit - total;
		total += v[i].iov_len;
	}
	c.iov = v;
	c.iovcnt = i;
	return attempt(&c, 0);
}

/*
 * A pipe, FIFO or terminal.  Its open file description may be shared
 * with other processes (stdin, a pipe from the parent), where O_NONBLOCK
 * would show and stay: so weft never sets it.  A task waits until
 * poll(2) says ready instead, then asks only what the kernel does at
 * once.  Only another process taking the data (or the room) between the
 * two can make the call hold the thread, until more comes.
 */
static ssize_t shared_op(struct weft_rt *rt, struct weft__fd *e,
    struct weft__io_op *o)
{
	int out = op_events(o) == WEFT__EV_OUT;
	struct pollfd p = { .fd = o->fd, .events = out ? POLLOUT : POLLIN };
	ssize_t r;
	int n;

	for (;;) {
		p.revents = 0;
		n = weft__sys_poll(&p, 1, 0);
		if (n == -1 && errno != EINTR)
			return -1;
		if (n == 1) {
			r = attempt_limited(o, shared_limit(e, out));
			if (!would_block(r))
				return r;
		}
		if (wait_for(rt, e, o) == -1)
			return -1;
	}
}

static int is_read_or_write(enum weft__io_kind op)
{
	return op == WEFT__IO_READ || op == WEFT__IO_WRITE ||
	    op == WEFT__IO_READV || op == WEFT__IO_WRITEV;
}

/* Run o until it makes progress once (or fails), parking as needed. */
ssize_t weft__io_once(struct weft__io_op *o)
{
	struct weft_rt *rt = weft__rt_peek();
	struct weft__fd *e;
	ssize_t r;

	if (!rt || !weft__in_task(rt))
		return op_outside(rt, o);
	if (!(e = weft__fd_get(rt, o->fd)) || learn(o, e) == -1)
		return -1;
	if (e->kind == WEFT__FD_FILE && is_read_or_write(o->op))
		return file_op(rt, o);
	if ((e->kind == WEFT__FD_PIPE || e->kind == WEFT__FD_TTY ||
	    (o->libc && e->kind == WEFT__FD_OTHER)) && is_read_or_write(o->op))
		return shared_op(rt, e, o);
	/* accept has no MSG_DONTWAIT: the listening socket must be
	 * non-blocking itself (in libc mode, unless the caller wants it
	 * to be: then one try is all there is). */
	if (o->op == WEFT__IO_ACCEPT && e->kind == WEFT__FD_SOCKET) {
		if (o->libc && caller_nonblock(o))
			return attempt(o, 0);
		if (weft__fd_nonblock(e) == -1)
			return -1;
	}
	for (;;) {
		if (drained(o, e) && wait_for(rt, e, o) == -1)
			return -1;
		r = attempt(o, e->kind == WEFT__FD_SOCKET);
		if (r == -1 && errno == ENOTSOCK && e->kind == WEFT__FD_SOCKET) {
			/* The number names another file now. */
			weft__fd_forget(e);
			if (learn(o, e) == -1)
				return -1;
			continue;
		}
		if (o->op == WEFT__IO_ACCEPT && r == -1 &&
		    (errno == EMFILE || errno == ENFILE))
			return accept_backoff(errno);
		if (!would_block(r)) {
			note_short_read(o, e, r);
			return r;
		}
		if (wait_for(rt, e, o) == -1)
			return -1;
	}
}

/* write(2) and send(2) on a blocking fd write everything: so do these
 * (and recv with MSG_WAITALL reads everything, up to the end). */
ssize_t weft__io_all(struct weft__io_op *o)
{
	const char *start = o->buf;
	size_t done = 0, len = o->len;
	ssize_t r;

	do {
		o->buf = (char *)start + done;
		o->len = len - done;
		r = weft__io_once(o);
		if (r <= 0)
			return done ? (ssize_t)done : r;
		done += (size_t)r;
	} while (done < len);
	return (ssize_t)done;
}

/* What readv(2) and writev(2) take: iovcnt from 0 to IOV_MAX. */
static int iov_ok(const struct iovec *iov, int iovcnt)
{
	return iovcnt >= 0 && iovcnt <= IOV_MAX && (iov || !iovcnt);
}

/* writev(2) on a blocking fd writes everything: so does this, moving
 * along a copy of iov as parts are written. */
ssize_t weft__io_writev_all(struct weft__io_op *o, const struct iovec *iov,
    int iovcnt)
{
	struct iovec local[16], *v = local;
	size_t total = 0, done = 0;
	ssize_t r = 0;
	int i, first = 0;

	if (!iov_ok(iov, iovcnt))
		return weft__fail(EINVAL);
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > (size_t)SSIZE_MAX - total)
			return weft__fail(EINVAL);
		total += iov[i].iov_len;
	}
	if (iovcnt > (int)(sizeof(local) / sizeof(local[0])) &&
	    !(v = weft__malloc((size_t)iovcnt * sizeof(*v))))
		return -1;
	if (iovcnt)
		memcpy(v, iov, (size_t)iovcnt * sizeof(*v));
	do {
		o->iov = v + first;
		o->iovcnt = iovcnt - first;
		if ((r = weft__io_once(o)) < 0)
			break;
		done += (size_t)r;
		while (first < iovcnt && (size_t)r >= v[first].iov_len)
			r -= (ssize_t)v[first++].iov_len;
		if (first < iovcnt) {
			v[first].iov_base = (char *)v[first].iov_base + r;
			v[first].iov_len -= (size_t)r;
		}
	} while (done < total);
	if (v != local)
		free(v);
	if (r < 0)
		return done ? (ssize_t)done : -1;
	return (ssize_t)done;
}

/* ---- the calls ---------------------------------------------------------- */

ssize_t weft_read(int fd, void *buf, size_t count)
{
	struct weft__io_op o = { .op = WEFT__IO_READ, .fd = fd, .buf = buf, .len = count };

	return weft__io_once(&o);
}

ssize_t weft_write(int fd, const void *buf, size_t count)
{
	struct weft__io_op o = { .op = WEFT__IO_WRITE, .fd = fd, .buf = (void *)buf,
	    .len = count };

	return weft__io_all(&o);
}

ssize_t weft_recv(int fd, void *buf, size_t len, int flags)
{
	struct weft__io_op o = { .op = WEFT__IO_RECV, .fd = fd, .buf = buf, .len = len,
	    .flags = flags };

	return weft__io_once(&o);
}

ssize_t weft_send(int fd, const void *buf, size_t len, int flags)
{
	struct weft__io_op o = { .op = WEFT__IO_SEND, .fd = fd, .buf = (void *)buf,
	    .len = len, .flags = flags };

	return weft__io_all(&o);
}

ssize_t weft_readv(int fd, const struct iovec *iov, int iovcnt)
{
	struct weft__io_op o = { .op = WEFT__IO_READV, .fd = fd, .iov = iov,
	    .iovcnt = iovcnt };

	if (!iov_ok(iov, iovcnt))
		return weft__fail(EINVAL);
	return weft__io_once(&o);
}

ssize_t weft_writev(int fd, const struct iovec *iov, int iovcnt)
{
	struct weft__io_op o = { .op = WEFT__IO_WRITEV, .fd = fd };

	return weft__io_writev_all(&o, iov, iovcnt);
}

ssize_t weft_recvfrom(int fd, void *buf, size_t len, int flags,
    struct sockaddr *src, socklen_t *srclen)
{
	struct weft__io_op o = { .op = WEFT__IO_RECVFROM, .fd = fd, .buf = buf,
	    .len = len, .flags = flags, .addr = src, .addrlen = srclen };

	return weft__io_once(&o);
}

ssize_t weft_sendto(int fd, const void *buf, size_t len, int flags,
    const struct sockaddr *dst, socklen_t dstlen)
{
	struct weft__io_op o = { .op = WEFT__IO_SENDTO, .fd = fd, .buf = (void *)buf,
	    .len = len, .flags = flags, .addr = (struct sockaddr *)dst,
	    .dstlen = dstlen };

	return weft__io_all(&o);
}

ssize_t weft_recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct weft__io_op o = { .op = WEFT__IO_RECVMSG, .fd = fd, .msg = msg,
	    .flags = flags };

	if (!msg)
		return weft__fail(EINVAL);
	return weft__io_once(&o);
}

ssize_t weft_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct weft__io_op o = { .op = WEFT__IO_SENDMSG, .fd = fd,
	    .msg = (struct msghdr *)msg, .flags = flags };

	if (!msg)
		return weft__fail(EINVAL);
	return weft__io_once(&o);
}

int weft_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	struct weft__io_op o = { .op = WEFT__IO_ACCEPT, .fd = fd, .addr = addr,
	    .addrlen = addrlen };
	struct weft__fd *e;
	int nfd = (int)weft__io_once(&o);

	/* A new file under a number weft may have seen before. */
	if (nfd >= 0 && (e = weft__fd_peek(weft__rt_peek(), nfd)))
		weft__fd_forget(e);
	return nfd;
}

/* A non-blocking connect in progress: wait, then ask how it went.  At
 * wake_at (SO_SNDTIMEO, libc mode) it is still underway: EINPROGRESS. */
static int connect_finish(struct weft_rt *rt, struct weft__fd *e, int fd,
    int64_t wake_at)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int err, soerr = 0;

	/* Until the socket is writable the connection is still underway. */
	for (;;) {
		if (e)
			err = weft__fd_wait_until(rt, e, WEFT__EV_OUT,
			    WEFT__WAIT_CONNECT, wake_at);
		else
			err = block_on(rt, fd, POLLOUT) == -1 ? errno : 0;
		if (err)
			return weft__fail(err);
		if (weft__sys_poll(&p, 1, 0) != 0)
			break;
		if (wake_at != INT64_MAX && weft_now() >= wake_at)
			return weft__fail(EINPROGRESS);
	}
	if (weft__sys_getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
		return -1;
	return soerr ? weft__fail(soerr) : 0;
}

int weft__io_connect(int fd, const struct sockaddr *addr, socklen_t addrlen,
    int libc)
{
	struct weft__io_op o = { .op = WEFT__IO_SEND, .fd = fd,
	    .libc = (unsigned char)libc };
	struct weft_rt *rt = weft__rt_peek();
	struct weft__fd *e = NULL;
	int64_t wake_at = INT64_MAX;

	if (rt && weft__in_task(rt)) {
		if (!(e = weft__fd_get(rt, fd)) || learn(&o, e) == -1)
			return -1;
		/* The caller's own non-blocking connect: EINPROGRESS. */
		if (libc && caller_nonblock(&o))
			return weft__sys_connect(fd, addr, addrlen);
		if (weft__fd_nonblock(e) == -1)
			return -1;
		if (libc)
			wake_at = socket_timeout(&o);
	} else if (!(e = weft__fd_peek(rt, fd)) || !e->nb_set) {
		return weft__sys_connect(fd, addr, addrlen);
	}
	if (weft__sys_connect(fd, addr, addrlen) == 0)
		return 0;
	/* EALREADY: a connect of the caller's, interrupted and restarted
	 * (libc mode), is still underway: wait for it as the kernel does. */
	if (errno != EINPROGRESS && errno != EAGAIN &&
	    !(libc && errno == EALREADY))
		return -1;
	return connect_finish(rt, weft__in_task(rt) ? e : NULL, fd, wake_at);
}

int weft_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	return weft__io_connect(fd, addr, addrlen, 0);
}

int weft_close(int fd)
{
	weft__fd_closing_number(fd);
	return weft__sys_close(fd);
}


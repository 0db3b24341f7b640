/*
 * libweft's half of libweft-hook: the interposed calls made of weft's own
 * machinery, with libc's promises (io/io.h) and libc's way with signals
 * (hook.h).  The other half, the definitions of read, poll and the rest,
 * is interpose.c, in the library of its own.
 */
#include "base/compiler.h"
#include "base/error.h"

#include <limits.h>
#include <string.h>

#include "base/clock.h"
#include "base/list.h"
#include "base/sys.h"
#include "core/core.h"
#include "hook/hook.h"
#include "io/fd.h"
#include "io/io.h"
#include "io/pool.h"

/* ---- signals -------------------------------------------------------------- */

/* Handlers without SA_RESTART that ran on this thread. */
static __thread unsigned norestart_count
    __attribute__((tls_model("initial-exec")));

/* The interposed calls of a runtime that are waiting: a signal ends them. */
struct calls {
	struct weft__list waiting;     /* struct call */
};

static int calls_init(void *part, struct weft_rt *rt)
{
	(void)part;
	(void)rt;
	return 0;
}

static void calls_term(void *part)
{
	(void)part;
}

/* The child of fork(2) keeps only the forking context, whose calls have
 * all returned: the list names tasks the child does not have. */
static void calls_forked(void *part)
{
	struct calls *c = part;

	c->waiting.first = c->waiting.last = NULL;
}

static const struct weft__part_type calls_type = {
	WEFT__PART_HOOK, sizeof(struct calls), calls_init, calls_term,
	calls_forked
};

/* One interposed call in progress. */
struct call {
	struct weft__link link;
	struct weft_task *task;
	struct calls *calls;
	unsigned norestart;            /* norestart_count at the start */
};

/* The loop saw handlers run: end every interposed wait of the thread. */
static void on_signal(struct weft_rt *rt)
{
	struct calls *c = weft__rt_part_peek(rt, WEFT__PART_HOOK);
	struct weft__link *l;

	if (!c)
		return;
	weft__list_each(l, &c->waiting)
		weft__interrupt(rt, weft__container_of(l, struct call,
		    link)->task, EINTR);
}

void weft__hook_signalled(int restart)
{
	int saved = errno;

	if (!restart)
		norestart_count++;
	/* Any thread's handler may be the first: the loops read it. */
	__atomic_store_n(&weft__loop_on_signal, on_signal, __ATOMIC_RELAXED);
	weft__signal_noted();
	errno = saved;
}

/* Start c in the calling task; -1 and errno if the runtime's list cannot
 * be made (ENOMEM). */
static int call_begin(struct call *c)
{
	struct weft_rt *rt = weft__rt_peek();

	if (!(c->calls = weft__rt_part(rt, &calls_type)))
		return -1;
	c->task = weft__self(rt);
	c->norestart = norestart_count;
	weft__link_init(&c->link);
	weft__list_push_back(&c->calls->waiting, &c->link);
	return 0;
}

static void call_end(struct call *c)
{
	weft__list_remove(&c->calls->waiting, &c->link);
}

/* A call ended with EINTR: does libc's restart it?  Only if every handler
 * that ran had SA_RESTART (signal(7)); the caller knows whether its kind
 * of call is ever restarted. */
static int restarts(const struct call *c, ssize_t r)
{
	return r == -1 && errno == EINTR && norestart_count == c->norestart;
}

/* ---- descriptors ---------------------------------------------------------- */

int weft__hook_in_task(void)
{
	struct weft_rt *rt = weft__rt_peek();

	return rt && weft__in_task(rt);
}

int weft__hook_nb_owned(int fd)
{
	return weft__fd_nb_owned(fd);
}

void weft__hook_nb_set(int fd, int owned)
{
	weft__fd_nb_own(fd, owned);
}

int weft__hook_outside_wait(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	/* As a blocking call with SA_RESTART: a handler does not end it. */
	while ((n = weft__sys_poll(&p, 1, -1)) == -1 && errno == EINTR)
		;
	return n == -1 ? -1 : 0;
}

void weft__hook_closing(int fd)
{
	weft__fd_closing_number(fd);
}

void weft__hook_fresh(int fd)
{
	struct weft__fd *e = weft__fd_peek(weft__rt_peek(), fd);

	if (e)
		weft__fd_forget(e);
	weft__fd_nb_own(fd, 0);
}

/*
 * o with libc's promises, restarted as libc restarts it after a handler
 * with SA_RESTART: unless a socket timeout is set (signal(7)).  all: until
 * the whole buffer is moved (a blocking write, recv with MSG_WAITALL).
 */
static ssize_t run(struct weft__io_op *o, int all)
{
	const struct iovec *iov = o->iov;   /* writev moves o->iov along */
	int iovcnt = o->iovcnt;
	struct call c;
	ssize_t r;

	o->libc = 1;
	if (call_begin(&c) == -1)
		return -1;
	do
		r = !all ? weft__io_once(o) :
		    o->op == WEFT__IO_WRITEV ?
		    weft__io_writev_all(o, iov, iovcnt) : weft__io_all(o);
	while (restarts(&c, r) && !(o->timed && o->wake_at != INT64_MAX));
	call_end(&c);
	return r;
}

ssize_t weft__hook_read(int fd, void *buf, size_t n)
{
	struct weft__io_op o = { .op = WEFT__IO_READ, .fd = fd, .buf = buf,
	    .len = n };

	return run(&o, 0);
}

ssize_t weft__hook_write(int fd, const void *buf, size_t n)
{
	struct weft__io_op o = { .op = WEFT__IO_WRITE, .fd = fd,
	    .buf = (void *)buf, .len = n };

	return run(&o, 1);
}

ssize_t weft__hook_readv(int fd, const struct iovec *iov, int iovcnt)
{
	struct weft__io_op o = { .op = WEFT__IO_READV, .fd = fd, .iov = iov,
	    .iovcnt = iovcnt };

	if (iovcnt < 0 || iovcnt > IOV_MAX)
		return weft__fail(EINVAL);
	return run(&o, 0);
}

ssize_t weft__hook_writev(int fd, const struct iovec *iov, int iovcnt)
{
	struct weft__io_op o = { .op = WEFT__IO_WRITEV, .fd = fd, .iov = iov,
	    .iovcnt = iovcnt };

	return run(&o, 1);
}

ssize_t weft__hook_recvfrom(int fd, void *buf, size_t n, int flags,
    struct sockaddr *src, socklen_t *srclen)
{
	struct weft__io_op o = { .op = WEFT__IO_RECVFROM, .fd = fd,
	    .buf = buf, .len = n, .flags = flags, .addr = src,
	    .addrlen = srclen };

	/* MSG_WAITALL: until n bytes, the end, or an error (what came
	 * before an error is returned, as the kernel does). */
	if ((flags & MSG_WAITALL) && !(flags & MSG_DONTWAIT) && n) {
		o.flags &= ~MSG_WAITALL;
		return run(&o, 1);
	}
	return run(&o, 0);
}

ssize_t weft__hook_sendto(int fd, const void *buf, size_t n, int flags,
    const struct sockaddr *dst, socklen_t dstlen)
{
	struct weft__io_op o = { .op = WEFT__IO_SENDTO, .fd = fd,
	    .buf = (void *)buf, .len = n, .flags = flags,
	    .addr = (struct sockaddr *)dst, .dstlen = dstlen };

	return run(&o, !(flags & MSG_DONTWAIT));
}

ssize_t weft__hook_recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct weft__io_op o = { .op = WEFT__IO_RECVMSG, .fd = fd, .msg = msg,
	    .flags = flags };

	return run(&o, 0);
}

ssize_t weft__hook_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct weft__io_op o = { .op = WEFT__IO_SENDMSG, .fd = fd,
	    .msg = (struct msghdr *)msg, .flags = flags };

	return run(&o, 0);
}

int weft__hook_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen,
    int flags)
{
	struct weft__io_op o = { .op = WEFT__IO_ACCEPT, .fd = fd, .addr = addr,
	    .addrlen = addrlen, .flags = flags };
	int nfd = (int)run(&o, 0);

	if (nfd >= 0)
		weft__hook_fresh(nfd);
	return nfd;
}

int weft__hook_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct call c;
	int r;

	if (call_begin(&c) == -1)
		return -1;
	/* A restarted connect waits for the one underway (EALREADY). */
	do
		r = weft__io_connect(fd, addr, len, 1);
	while (restarts(&c, r));
	call_end(&c);
	return r;
}

/* ---- waits ---------------------------------------------------------------- */

int weft__hook_poll(struct pollfd *fds, nfds_t n, int64_t timeout_ns)
{
	struct call c;
	int64_t wake_at = timeout_ns < 0 ? INT64_MAX :
	    weft__add_ns(weft_now(), timeout_ns);
	int r;

	if (!fds && n)
		return weft__fail(EFAULT);
	/* A timeout of 0 never parks, and needs no signal bookkeeping. */
	if (timeout_ns == 0)
		return weft__sys_poll(fds, n, 0);
	if (call_begin(&c) == -1)
		return -1;
	r = weft__poll_until(fds, n, wake_at);
	call_end(&c);
	return r;
}

int weft__hook_sleep(int64_t ns, int64_t *left)
{
	int64_t end = weft__add_ns(weft_now(), ns), now;
	struct call c;
	int r;

	if (call_begin(&c) == -1)
		return -1;
	r = weft_sleep_until(end);
	call_end(&c);
	if (r == -1 && left) {
		int err = errno;

		now = weft_now();
		*left = end > now ? end - now : 0;
		errno = err;
	}
	return r;
}

/* ---- names ---------------------------------------------------------------- */

struct nameinfo {
	const struct sockaddr *sa;
	socklen_t salen, hostlen, servlen;
	char *host, *serv;
	int flags;
};

static void *nameinfo_job(void *arg)
{
	struct nameinfo *q = arg;

	return (void *)(intptr_t)weft__sys_getnameinfo(q->sa, q->salen,
	    q->host, q->hostlen, q->serv, q->servlen, q->flags);
}

int weft__hook_getnameinfo(const struct sockaddr *sa, socklen_t salen,
    char *host, socklen_t hostlen, char *serv, socklen_t servlen, int flags)
{
	struct nameinfo q = { sa, salen, hostlen, servlen, host, serv, flags };
	void *r;
	int err, fn_errno = 0;

	/* The job writes into the caller's buffers: it runs to its end. */
	err = weft__offload(weft__rt_peek(), nameinfo_job, &q, &r, &fn_errno,
	    WEFT__PARK_NOINTR, NULL);
	if (err) {
		errno = err;
		return EAI_SYSTEM;
	}
	if ((int)(intptr_t)r == EAI_SYSTEM)
		errno = fn_errno;
	return (int)(intptr_t)r;
}

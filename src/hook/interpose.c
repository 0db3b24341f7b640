/*
 * libweft-hook: libc's blocking calls, defined again so that inside a weft
 * task they park only the task (weft-hook(7)).
 *
 * This file is the whole of libweft-hook.so.  Linked before libc, or
 * preloaded, its definitions come first in the symbol search, so the
 * program's calls and every library's calls (libpq, libcurl, ...) land
 * here.  Each one asks weft__hook_in_task: in a task it calls libweft's
 * libc-mode version (hook/hook.h); anywhere else it calls the next
 * definition, libc's own, found with dlsym(RTLD_NEXT).  libweft never
 * calls these names itself (its system calls are raw: base/sys.h), so
 * nothing here can recurse.
 *
 * Outside a task there is one difference to see: a descriptor weft made
 * non-blocking (a listening socket a task accepted on, a socket a task
 * connected) still behaves as blocking for the caller that made it so:
 * the call waits with poll(2) and tries again, and fcntl(F_GETFL) does not
 * show weft's O_NONBLOCK.
 */
/* Our definitions must not meet the fortified inline ones. */
#undef _FORTIFY_SOURCE
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "weft.h"
#include "hook/hook.h"

#define HOOK_API __attribute__((visibility("default")))
#define NS_PER_S INT64_C(1000000000)

/* ---- libc's definitions ---------------------------------------------------- */

static void *next_definition(const char *name, void **slot)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p) {
		/* Without libc's own call there is nothing sane to do. */
		fprintf(stderr, "libweft-hook: no definition of %s after "
		    "this library: %s\n", name, dlerror());
		abort();
	}
	__atomic_store_n(slot, p, __ATOMIC_RELAXED);
	return p;
}

/* libc's definition of name, looked up at its first use: a library's
 * constructor may call read before this library's constructors run. */
#define LIBC(name) \
	(__extension__({ \
		__typeof__(&name) f_ = __atomic_load_n(&libc_##name, \
		    __ATOMIC_RELAXED); \
		f_ ? f_ : (__typeof__(&name))next_definition(#name, \
		    (void **)&libc_##name); \
	}))
#define LIBC_SLOT(name) static __typeof__(&name) libc_##name

LIBC_SLOT(read); LIBC_SLOT(write); LIBC_SLOT(readv); LIBC_SLOT(writev);
LIBC_SLOT(recv); LIBC_SLOT(recvfrom); LIBC_SLOT(recvmsg);
LIBC_SLOT(send); LIBC_SLOT(sendto); LIBC_SLOT(sendmsg);
LIBC_SLOT(accept4); LIBC_SLOT(connect);
LIBC_SLOT(poll); LIBC_SLOT(ppoll); LIBC_SLOT(select); LIBC_SLOT(pselect);
LIBC_SLOT(epoll_wait); LIBC_SLOT(epoll_pwait);
LIBC_SLOT(sleep); LIBC_SLOT(usleep); LIBC_SLOT(nanosleep);
LIBC_SLOT(clock_nanosleep);
LIBC_SLOT(getaddrinfo); LIBC_SLOT(getnameinfo);
LIBC_SLOT(close); LIBC_SLOT(dup); LIBC_SLOT(dup2); LIBC_SLOT(dup3);
LIBC_SLOT(fcntl); LIBC_SLOT(ioctl); LIBC_SLOT(socket); LIBC_SLOT(socketpair);
LIBC_SLOT(sigaction);

/*
 * Outside a task: call, and if it found a descriptor weft made
 * non-blocking not ready, wait as the caller's blocking call would and
 * call again.  A caller's own MSG_DONTWAIT is left alone.
 */
#define OUTSIDE(fd, events, dontwait, call) \
	do { \
		__typeof__(call) r_; \
		for (;;) { \
			r_ = (call); \
			if (r_ != -1 || (errno != EAGAIN && \
			    errno != EWOULDBLOCK) || (dontwait) || \
			    !weft__hook_nb_owned(fd)) \
				return r_; \
			if (weft__hook_outside_wait((fd), (events)) == -1) \
				return -1; \
		} \
	} while (0)

/* ---- descriptor I/O ---------------------------------------------------------- */

HOOK_API ssize_t read(int fd, void *buf, size_t n)
{
	if (weft__hook_in_task())
		return weft__hook_read(fd, buf, n);
	OUTSIDE(fd, POLLIN, 0, LIBC(read)(fd, buf, n));
}

HOOK_API ssize_t write(int fd, const void *buf, size_t n)
{
	if (weft__hook_in_task())
		return weft__hook_write(fd, buf, n);
	OUTSIDE(fd, POLLOUT, 0, LIBC(write)(fd, buf, n));
}

HOOK_API ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
	if (weft__hook_in_task())
		return weft__hook_readv(fd, iov, iovcnt);
	OUTSIDE(fd, POLLIN, 0, LIBC(readv)(fd, iov, iovcnt));
}

HOOK_API ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	if (weft__hook_in_task())
		return weft__hook_writev(fd, iov, iovcnt);
	OUTSIDE(fd, POLLOUT, 0, LIBC(writev)(fd, iov, iovcnt));
}

HOOK_API ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	if (weft__hook_in_task())
		return weft__hook_recvfrom(fd, buf, n, flags, NULL, NULL);
	OUTSIDE(fd, POLLIN, flags & MSG_DONTWAIT,
	    LIBC(recv)(fd, buf, n, flags));
}

HOOK_API ssize_t recvfrom(int fd, void *buf, size_t n, int flags,
    struct sockaddr *src, socklen_t *srclen)
{
	if (weft__hook_in_task())
		return weft__hook_recvfrom(fd, buf, n, flags, src, srclen);
	OUTSIDE(fd, POLLIN, flags & MSG_DONTWAIT,
	    LIBC(recvfrom)(fd, buf, n, flags, src, srclen));
}

HOOK_API ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	if (weft__hook_in_task())
		return weft__hook_recvmsg(fd, msg, flags);
	OUTSIDE(fd, POLLIN, flags & MSG_DONTWAIT,
	    LIBC(recvmsg)(fd, msg, flags));
}

HOOK_API ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	if (weft__hook_in_task())
		return weft__hook_sendto(fd, buf, n, flags, NULL, 0);
	OUTSIDE(fd, POLLOUT, flags & MSG_DONTWAIT,
	    LIBC(send)(fd, buf, n, flags));
}

HOOK_API ssize_t sendto(int fd, const void *buf, size_t n, int flags,
    const struct sockaddr *dst, socklen_t dstlen)
{
	if (weft__hook_in_task())
		return weft__hook_sendto(fd, buf, n, flags, dst, dstlen);
	OUTSIDE(fd, POLLOUT, flags & MSG_DONTWAIT,
	    LIBC(sendto)(fd, buf, n, flags, dst, dstlen));
}

HOOK_API ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (weft__hook_in_task())
		return weft__hook_sendmsg(fd, msg, flags);
	OUTSIDE(fd, POLLOUT, flags & MSG_DONTWAIT,
	    LIBC(sendmsg)(fd, msg, flags));
}

/* The fortified forms (_FORTIFY_SOURCE) check the buffer, then call the
 * plain ones: here, so that a fortified program is interposed too. */
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen,
    int flags, struct sockaddr *src, socklen_t *srclen);
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);

/* What glibc's fortified calls do when the buffer is smaller than asked. */
static void __attribute__((noreturn)) overflow(const char *call)
{
	fprintf(stderr, "*** buffer overflow detected ***: %s\n", call);
	abort();
}

HOOK_API ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (n > buflen)
		overflow("read");
	return read(fd, buf, n);
}

HOOK_API ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen,
    int flags)
{
	if (n > buflen)
		overflow("recv");
	return recv(fd, buf, n, flags);
}

HOOK_API ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen,
    int flags, struct sockaddr *src, socklen_t *srclen)
{
	if (n > buflen)
		overflow("recvfrom");
	return recvfrom(fd, buf, n, flags, src, srclen);
}

/* ---- connections -------------------------------------------------------------- */

HOOK_API int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen,
    int flags)
{
	int nfd;

	if (weft__hook_in_task())
		return weft__hook_accept4(fd, addr, addrlen, flags);
	for (;;) {
		nfd = LIBC(accept4)(fd, addr, addrlen, flags);
		if (nfd >= 0) {
			weft__hook_fresh(nfd);
			return nfd;
		}
		if ((errno != EAGAIN && errno != EWOULDBLOCK) ||
		    !weft__hook_nb_owned(fd))
			return -1;
		if (weft__hook_outside_wait(fd, POLLIN) == -1)
			return -1;
	}
}

HOOK_API int accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	return accept4(fd, addr, addrlen, 0);
}

HOOK_API int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	socklen_t errlen = sizeof(int);
	int r, soerr = 0;

	if (weft__hook_in_task())
		return weft__hook_connect(fd, addr, len);
	r = LIBC(connect)(fd, addr, len);
	if (r == 0 || errno != EINPROGRESS || !weft__hook_nb_owned(fd))
		return r;
	/* The caller's socket is blocking to the caller: wait it out. */
	if (weft__hook_outside_wait(fd, POLLOUT) == -1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &errlen) == -1)
		return -1;
	if (soerr) {
		errno = soerr;
		return -1;
	}
	return 0;
}

HOOK_API int socket(int domain, int type, int protocol)
{
	int fd = LIBC(socket)(domain, type, protocol);

	if (fd >= 0)
		weft__hook_fresh(fd);
	return fd;
}

HOOK_API int socketpair(int domain, int type, int protocol, int sv[2])
{
	int r = LIBC(socketpair)(domain, type, protocol, sv);

	if (r == 0) {
		weft__hook_fresh(sv[0]);
		weft__hook_fresh(sv[1]);
	}
	return r;
}

/* ---- descriptors and their flags -------------------------------------------- */

HOOK_API int close(int fd)
{
	weft__hook_closing(fd);
	return LIBC(close)(fd);
}

/* A duplicate shares the open file description, and so weft's flag. */
static int duplicated(int oldfd, int newfd)
{
	if (newfd >= 0)
		weft__hook_nb_set(newfd, weft__hook_nb_owned(oldfd));
	return newfd;
}

HOOK_API int dup(int oldfd)
{
	return duplicated(oldfd, LIBC(dup)(oldfd));
}

HOOK_API int dup2(int oldfd, int newfd)
{
	if (oldfd != newfd && fcntl(oldfd, F_GETFD) != -1)
		weft__hook_closing(newfd);
	return duplicated(oldfd, LIBC(dup2)(oldfd, newfd));
}

HOOK_API int dup3(int oldfd, int newfd, int flags)
{
	if (oldfd != newfd && fcntl(oldfd, F_GETFD) != -1)
		weft__hook_closing(newfd);
	return duplicated(oldfd, LIBC(dup3)(oldfd, newfd, flags));
}

/*
 * fcntl: O_NONBLOCK that weft set is not the caller's, so F_GETFL does not
 * show it and F_SETFL does not take it away; a caller that sets O_NONBLOCK
 * makes it its own.
 */
static int fcntl_hooked(int fd, int cmd, void *arg)
{
	int r, fl;

	switch (cmd) {
	case F_GETFL:
		r = LIBC(fcntl)(fd, cmd);
		if (r != -1 && (r & O_NONBLOCK) && weft__hook_nb_owned(fd))
			r &= ~O_NONBLOCK;
		return r;
	case F_SETFL:
		fl = (int)(intptr_t)arg;
		if (fl & O_NONBLOCK)
			weft__hook_nb_set(fd, 0);
		else if (weft__hook_nb_owned(fd))
			fl |= O_NONBLOCK;
		return LIBC(fcntl)(fd, cmd, fl);
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		return duplicated(fd, LIBC(fcntl)(fd, cmd, arg));
	default:
		return LIBC(fcntl)(fd, cmd, arg);
	}
}

HOOK_API int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_hooked(fd, cmd, arg);
}

/* The same call under glibc's other name. */
HOOK_API int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

HOOK_API int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == FIONBIO && arg) {
		if (*(const int *)arg)
			weft__hook_nb_set(fd, 0);
		else if (weft__hook_nb_owned(fd))
			return 0;       /* blocking to the caller already */
	}
	return LIBC(ioctl)(fd, req, arg);
}

/* ---- waiting for descriptors ------------------------------------------------- */

HOOK_API int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (weft__hook_in_task())
		return weft__hook_poll(fds, n, timeout < 0 ? -1 :
		    (int64_t)timeout * 1000000);
	return LIBC(poll)(fds, n, timeout);
}

HOOK_API int __poll_chk(struct pollfd *fds, nfds_t n, int timeout,
    size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		overflow("poll");
	return poll(fds, n, timeout);
}

/* A struct timespec as a timeout in ns: -1 for none, -2 if invalid. */
static int64_t timespec_ns(const struct timespec *ts)
{
	if (!ts)
		return -1;
	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= NS_PER_S)
		return -2;
	if (ts->tv_sec >= INT64_MAX / NS_PER_S)
		return -1;
	return (int64_t)ts->tv_sec * NS_PER_S + ts->tv_nsec;
}

/* In a task the signal mask of ppoll, pselect and epoll_pwait is not
 * applied: the thread's mask is every task's (weft-hook(7)). */
HOOK_API int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
    const sigset_t *mask)
{
	int64_t ns;

	if (!weft__hook_in_task())
		return LIBC(ppoll)(fds, n, tmo, mask);
	if ((ns = timespec_ns(tmo)) == -2) {
		errno = EINVAL;
		return -1;
	}
	return weft__hook_poll(fds, n, ns);
}

/* select and pselect in a task: the sets as a poll set. */
static int select_task(int nfds, fd_set *rd, fd_set *wr, fd_set *ex,
    int64_t ns, int64_t *left)
{
	struct pollfd local[64], *p = local;
	int64_t start = 0;
	int i, k = 0, n = 0, r;
	short ev;

	if (nfds < 0 || nfds > FD_SETSIZE) {
		errno = EINVAL;
		return -1;
	}
	if (nfds > 64 && !(p = calloc((size_t)nfds, sizeof(*p))))
		return -1;
	for (i = 0; i < nfds; i++) {
		ev = (short)((rd && FD_ISSET(i, rd) ? POLLIN : 0) |
		    (wr && FD_ISSET(i, wr) ? POLLOUT : 0) |
		    (ex && FD_ISSET(i, ex) ? POLLPRI : 0));
		if (ev)
			p[k++] = (struct pollfd){ .fd = i, .events = ev };
	}
	if (left)
		start = weft_now();
	r = weft__hook_poll(p, (nfds_t)k, ns);
	if (left && ns >= 0) {
		int64_t spent = weft_now() - start;

		*left = spent < ns ? ns - spent : 0;
	}
	for (i = 0; r > 0 && i < k; i++) {
		if (p[i].revents & POLLNVAL) {
			errno = EBADF;
			r = -1;
		}
	}
	if (r >= 0) {
		if (rd)
			FD_ZERO(rd);
		if (wr)
			FD_ZERO(wr);
		if (ex)
			FD_ZERO(ex);
		for (i = 0; i < k; i++) {
			short got = p[i].revents;

			if (rd && (p[i].events & POLLIN) &&
			    (got & (POLLIN | POLLHUP | POLLERR))) {
				FD_SET(p[i].fd, rd);
				n++;
			}
			if (wr && (p[i].events & POLLOUT) &&
			    (got & (POLLOUT | POLLERR))) {
				FD_SET(p[i].fd, wr);
				n++;
			}
			if (ex && (p[i].events & POLLPRI) && (got & POLLPRI)) {
				FD_SET(p[i].fd, ex);
				n++;
			}
		}
		r = n;
	}
	if (p != local) {
		int err = errno;

		free(p);
		errno = err;
	}
	return r;
}

HOOK_API int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex,
    struct timeval *tv)
{
	int64_t ns = -1, left = 0;
	int r;

	if (!weft__hook_in_task())
		return LIBC(select)(nfds, rd, wr, ex, tv);
	if (tv) {
		if (tv->tv_sec < 0 || tv->tv_usec < 0 ||
		    tv->tv_usec >= 1000000) {
			errno = EINVAL;
			return -1;
		}
		ns = (int64_t)tv->tv_sec * NS_PER_S + tv->tv_usec * 1000;
	}
	r = select_task(nfds, rd, wr, ex, ns, &left);
	/* Linux leaves the time not slept in *tv. */
	if (tv && r != -1) {
		tv->tv_sec = (time_t)(left / NS_PER_S);
		tv->tv_usec = (suseconds_t)(left % NS_PER_S / 1000);
	}
	return r;
}

HOOK_API int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex,
    const struct timespec *tmo, const sigset_t *mask)
{
	int64_t ns;

	if (!weft__hook_in_task())
		return LIBC(pselect)(nfds, rd, wr, ex, tmo, mask);
	if ((ns = timespec_ns(tmo)) == -2) {
		errno = EINVAL;
		return -1;
	}
	return select_task(nfds, rd, wr, ex, ns, NULL);
}

/*
 * A library's own epoll set: in a task, wait until its epoll descriptor is
 * readable (it is when events are ready) through weft's poller, then take
 * the events with a zero timeout.  Its edge-triggered and one-shot entries
 * keep their meaning: only epoll_wait consumes them.
 */
static int epoll_task(int epfd, struct epoll_event *ev, int max, int timeout)
{
	int64_t end = timeout < 0 ? INT64_MAX : weft_now() +
	    (int64_t)timeout * 1000000, now;
	struct pollfd p;
	int r;

	for (;;) {
		r = LIBC(epoll_wait)(epfd, ev, max, 0);
		if (r != 0 || timeout == 0)
			return r;
		now = weft_now();
		if (end != INT64_MAX && now >= end)
			return 0;
		p = (struct pollfd){ .fd = epfd, .events = POLLIN };
		if (weft__hook_poll(&p, 1, end == INT64_MAX ? -1 :
		    end - now) == -1)
			return -1;
	}
}

HOOK_API int epoll_wait(int epfd, struct epoll_event *ev, int max,
    int timeout)
{
	if (!weft__hook_in_task())
		return LIBC(epoll_wait)(epfd, ev, max, timeout);
	return epoll_task(epfd, ev, max, timeout);
}

HOOK_API int epoll_pwait(int epfd, struct epoll_event *ev, int max,
    int timeout, const sigset_t *mask)
{
	if (!weft__hook_in_task())
		return LIBC(epoll_pwait)(epfd, ev, max, timeout, mask);
	return epoll_task(epfd, ev, max, timeout);
}

/* ---- sleeping ------------------------------------------------------------------ */

HOOK_API int nanosleep(const struct timespec *req, struct timespec *rem)
{
	int64_t ns, left = 0;
	int r;

	if (!weft__hook_in_task())
		return LIBC(nanosleep)(req, rem);
	if (!req) {
		errno = EFAULT;
		return -1;
	}
	if ((ns = timespec_ns(req)) == -2) {
		errno = EINVAL;
		return -1;
	}
	r = weft__hook_sleep(ns < 0 ? INT64_MAX : ns, &left);
	if (r == -1 && errno == EINTR && rem) {
		rem->tv_sec = (time_t)(left / NS_PER_S);
		rem->tv_nsec = (long)(left % NS_PER_S);
	}
	return r;
}

/* The clocks a task's sleep can stand for: their time flows as weft's. */
static int sleepable_clock(clockid_t clk)
{
	return clk == CLOCK_MONOTONIC || clk == CLOCK_REALTIME ||
	    clk == CLOCK_BOOTTIME || clk == CLOCK_TAI;
}

HOOK_API int clock_nanosleep(clockid_t clk, int flags,
    const struct timespec *req, struct timespec *rem)
{
	int64_t ns, left = 0;
	int saved = errno, r;
	struct timespec now;

	if (!weft__hook_in_task() || !sleepable_clock(clk))
		return LIBC(clock_nanosleep)(clk, flags, req, rem);
	if (!req)
		return EFAULT;
	if ((ns = timespec_ns(req)) == -2)
		return EINVAL;
	if (flags & TIMER_ABSTIME) {
		if (clock_gettime(clk, &now) == -1)
			return errno;
		ns = ns < 0 ? INT64_MAX : ns - ((int64_t)now.tv_sec * NS_PER_S +
		    now.tv_nsec);
		if (ns < 0)
			ns = 0;
	}
	r = weft__hook_sleep(ns < 0 ? INT64_MAX : ns, &left) == 0 ? 0 : errno;
	if (r == EINTR && rem && !(flags & TIMER_ABSTIME)) {
		rem->tv_sec = (time_t)(left / NS_PER_S);
		rem->tv_nsec = (long)(left % NS_PER_S);
	}
	errno = saved;
	return r;
}

HOOK_API unsigned sleep(unsigned seconds)
{
	int64_t left = 0;

	if (!weft__hook_in_task())
		return LIBC(sleep)(seconds);
	if (weft__hook_sleep((int64_t)seconds * NS_PER_S, &left) == 0)
		return 0;
	/* Cut short (a signal, the deadline, a cancellation): the seconds
	 * left, rounded up as glibc does not leave a partial one out. */
	return (unsigned)((left + NS_PER_S - 1) / NS_PER_S);
}

HOOK_API int usleep(useconds_t us)
{
	if (!weft__hook_in_task())
		return LIBC(usleep)(us);
	return weft__hook_sleep((int64_t)us * 1000, NULL);
}

/* ---- names ------------------------------------------------------------------- */

HOOK_API int getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	if (!weft__hook_in_task())
		return LIBC(getaddrinfo)(node, service, hints, res);
	return weft_getaddrinfo(node, service, hints, res);
}

HOOK_API int getnameinfo(const struct sockaddr *sa, socklen_t salen,
    char *host, socklen_t hostlen, char *serv, socklen_t servlen, int flags)
{
	if (!weft__hook_in_task())
		return LIBC(getnameinfo)(sa, salen, host, hostlen, serv,
		    servlen, flags);
	return weft__hook_getnameinfo(sa, salen, host, hostlen, serv, servlen,
	    flags);
}

/* ---- signals ------------------------------------------------------------------ */

/*
 * Each caught signal runs the trampoline, which tells weft that a handler
 * ran (so the thread's interposed waits end as libc's would, hook.h) and
 * then runs the caller's handler.  The caller's handler and flags are
 * kept here, two copies per signal, and the index of the current one is
 * switched once the new copy is whole: a handler that runs meanwhile sees
 * either the old or the new, never half of each.
 */
struct caught {
	void *fn;                     /* sa_handler or sa_sigaction */
	int flags;                    /* the caller's sa_flags */
};

static struct caught caught[NSIG][2];
static int caught_cur[NSIG];

static void trampoline(int sig, siginfo_t *info, void *uc)
{
	const struct caught *c = &caught[sig][__atomic_load_n(&caught_cur[sig],
	    __ATOMIC_ACQUIRE)];

	weft__hook_signalled((c->flags & SA_RESTART) != 0);
	if (c->flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))c->fn)(sig, info, uc);
	else if (c->fn)
		((void (*)(int))c->fn)(sig);
}

static int is_function(const struct sigaction *act)
{
	return act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN;
}

HOOK_API int sigaction(int sig, const struct sigaction *act,
    struct sigaction *old)
{
	struct sigaction mine, prev;
	struct caught was = { NULL, 0 };
	int r, next;

	if (sig <= 0 || sig >= NSIG)
		return LIBC(sigaction)(sig, act, old);
	was = caught[sig][__atomic_load_n(&caught_cur[sig], __ATOMIC_ACQUIRE)];
	if (act && is_function(act)) {
		next = !__atomic_load_n(&caught_cur[sig], __ATOMIC_ACQUIRE);
		caught[sig][next].fn = (act->sa_flags & SA_SIGINFO) ?
		    (void *)act->sa_sigaction : (void *)act->sa_handler;
		caught[sig][next].flags = act->sa_flags;
		__atomic_store_n(&caught_cur[sig], next, __ATOMIC_RELEASE);
		mine = *act;
		mine.sa_sigaction = trampoline;
		mine.sa_flags |= SA_SIGINFO;
		act = &mine;
	}
	r = LIBC(sigaction)(sig, act, &prev);
	if (r == 0 && old) {
		*old = prev;
		if ((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction ==
		    trampoline) {
			old->sa_flags = was.flags;
			if (was.flags & SA_SIGINFO)
				old->sa_sigaction = (void (*)(int, siginfo_t *,
				    void *))was.fn;
			else
				old->sa_handler = (void (*)(int))was.fn;
		}
	}
	return r;
}

HOOK_API void (*signal(int sig, void (*handler)(int)))(int)
{
	struct sigaction sa, old;

	/* glibc's signal: BSD semantics. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	if (sig > 0 && sig < NSIG)
		sigaddset(&sa.sa_mask, sig);
	sa.sa_flags = SA_RESTART;
	if (sigaction(sig, &sa, &old) == -1)
		return SIG_ERR;
	return old.sa_handler;
}

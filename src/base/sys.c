/*
 * sys: see sys.h.  The raw system calls go through syscall(2), which sets
 * errno like the libc functions do.
 */
#include "base/compiler.h"
#include "base/error.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/fault.h"
#include "base/sys.h"

ssize_t weft__sys_read(int fd, void *buf, size_t n)
{
	return syscall(SYS_read, fd, buf, n);
}

ssize_t weft__sys_write(int fd, const void *buf, size_t n)
{
	return syscall(SYS_write, fd, buf, n);
}

ssize_t weft__sys_readv(int fd, const struct iovec *iov, int n)
{
	return syscall(SYS_readv, fd, iov, n);
}

ssize_t weft__sys_writev(int fd, const struct iovec *iov, int n)
{
	return syscall(SYS_writev, fd, iov, n);
}

/*
 * writev(2) that fails with EPIPE instead of raising SIGPIPE, leaving the
 * process's disposition alone: SIGPIPE is blocked in this thread for the
 * call, and the one the call raised, if any, taken back before unblocking.
 * One that was pending already stays pending.
 */
ssize_t weft__sys_writev_nosigpipe(int fd, const struct iovec *iov, int n)
{
	static const struct timespec now = { 0, 0 };
	sigset_t pipe_only, old, pending;
	ssize_t r;
	int err;

	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	if (sigpending(&pending) == -1 ||
	    pthread_sigmask(SIG_BLOCK, &pipe_only, &old) != 0)
		return weft__sys_writev(fd, iov, n);
	r = weft__sys_writev(fd, iov, n);
	err = errno;
	if (r == -1 && err == EPIPE && !sigismember(&pending, SIGPIPE))
		while (sigtimedwait(&pipe_only, NULL, &now) == -1 &&
		    errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return r;
}

ssize_t weft__sys_write_nosigpipe(int fd, const void *buf, size_t n)
{
	struct iovec one = { (void *)buf, n };

	return weft__sys_writev_nosigpipe(fd, &one, 1);
}

ssize_t weft__sys_recvfrom(int fd, void *buf, size_t n, int flags,
    struct sockaddr *src, socklen_t *srclen)
{
	return syscall(SYS_recvfrom, fd, buf, n, flags, src, srclen);
}

ssize_t weft__sys_sendto(int fd, const void *buf, size_t n, int flags,
    const struct sockaddr *dst, socklen_t dstlen)
{
	return syscall(SYS_sendto, fd, buf, n, flags, dst, dstlen);
}

ssize_t weft__sys_recvmsg(int fd, struct msghdr *msg, int flags)
{
	return syscall(SYS_recvmsg, fd, msg, flags);
}

ssize_t weft__sys_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	return syscall(SYS_sendmsg, fd, msg, flags);
}

ssize_t weft__sys_recv(int fd, void *buf, size_t n, int flags)
{
	return syscall(SYS_recvfrom, fd, buf, n, flags, NULL, NULL);
}

ssize_t weft__sys_send(int fd, const void *buf, size_t n, int flags)
{
	return syscall(SYS_sendto, fd, buf, n, flags, NULL, 0);
}

int weft__sys_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen,
    int flags)
{
	return (int)syscall(SYS_accept4, fd, addr, addrlen, flags);
}

int weft__sys_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	return (int)syscall(SYS_connect, fd, addr, len);
}

int weft__sys_close(int fd)
{
#if defined(__SANITIZE_THREAD__)
	/* ThreadSanitizer keeps its own table of descriptors, told by its
	 * close interceptor: a number closed behind its back and reused on
	 * another thread would look like a race.  (A TSan build is never
	 * used with libweft-hook, whose close this would reach.) */
	return close(fd);
#else
	return (int)syscall(SYS_close, fd);
#endif
}

int weft__sys_fcntl(int fd, int cmd, long arg)
{
	return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

int weft__sys_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
	struct timespec ts = weft__timespec((int64_t)timeout_ms *
	    WEFT__NS_PER_MS);

	return (int)syscall(SYS_ppoll, fds, n, timeout_ms < 0 ? NULL : &ts,
	    NULL, (size_t)8);
}

int weft__sys_getsockopt(int fd, int level, int name, void *val,
    socklen_t *len)
{
	return getsockopt(fd, level, name, val, len);
}

int weft__sys_fstat(int fd, struct stat *st)
{
	return fstat(fd, st);
}

int weft__sys_ioctl(int fd, unsigned long req, void *arg)
{
	return (int)syscall(SYS_ioctl, fd, req, arg);
}

int weft__sys_pipe(int fds[2])
{
	return (int)syscall(SYS_pipe2, fds, O_CLOEXEC);
}

ssize_t weft__sys_process_vm_readv(const struct iovec *local,
    const struct iovec *remote)
{
	return syscall(SYS_process_vm_readv, (long)getpid(), local, 1UL,
	    remote, 1UL, 0UL);
}

ssize_t weft__sys_read_file(const char *path, char *buf, size_t size)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd == -1)
		return -1;
	n = size ? weft__sys_read(fd, buf, size - 1) : -1;
	weft__sys_close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

int weft__sys_thread_count(void)
{
	char buf[1024], *p;
	int field;

	if (weft__sys_read_file("/proc/self/stat", buf, sizeof(buf)) <= 0)
		return -1;
	/* The command name may hold spaces: count fields after its ')'. */
	if (!(p = strrchr(buf, ')')))
		return -1;
	for (field = 2; *p && field < 20; p++)
		if (*p == ' ')
			field++;
	return *p ? atoi(p) : -1;
}

pid_t weft__sys_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

int weft__sys_socket(int domain, int type, int protocol)
{
	return (int)syscall(SYS_socket, domain, type, protocol);
}

int weft__sys_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	return (int)syscall(SYS_bind, fd, addr, len);
}

int weft__sys_listen(int fd, int backlog)
{
	return (int)syscall(SYS_listen, fd, backlog);
}

int weft__sys_setsockopt(int fd, int level, int name, const void *val,
    socklen_t len)
{
	return (int)syscall(SYS_setsockopt, fd, level, name, val, len);
}

int weft__sys_sleep_until(int64_t at)
{
	struct timespec ts = weft__timespec(at);
	long r;

	do
		r = syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC,
		    TIMER_ABSTIME, &ts, NULL);
	while (r == -1 && errno == EINTR);
	return r == 0 ? 0 : -1;
}

int weft__sys_nap_until(int64_t at)
{
	struct timespec ts = weft__timespec(at);

	return (int)syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME,
	    &ts, NULL) == 0 ? 0 : -1;
}

int weft__sys_sched_yield(void)
{
	return (int)syscall(SYS_sched_yield);
}

int weft__sys_epoll_create(void)
{
	if (weft__fault(WEFT__FAULT_EPOLL))
		return weft__fail(EMFILE);
	return (int)syscall(SYS_epoll_create1, O_CLOEXEC);
}

int weft__sys_epoll_ctl(int epfd, int op, int fd, void *event)
{
	if (weft__fault(WEFT__FAULT_EPOLL))
		return weft__fail(ENOMEM);
	return (int)syscall(SYS_epoll_ctl, epfd, op, fd, event);
}

/* epoll_pwait2 came with Linux 5.11; ask once, remember a refusal. */
static _Atomic int no_pwait2;

int weft__sys_epoll_wait(int epfd, void *events, int max, int64_t timeout_ns)
{
#ifdef SYS_epoll_pwait2
	struct timespec ts = weft__timespec(timeout_ns);
	long n;

	if (!no_pwait2) {
		n = syscall(SYS_epoll_pwait2, epfd, events, max,
		    timeout_ns < 0 ? NULL : &ts, NULL, (size_t)8);
		if (n >= 0 || errno != ENOSYS)
			return (int)n;
		no_pwait2 = 1;
	}
#endif
	return (int)syscall(SYS_epoll_pwait, epfd, events, max,
	    weft__ms_ceil(timeout_ns), NULL, (size_t)8);
}

int weft__sys_eventfd(void)
{
	if (weft__fault(WEFT__FAULT_EVENTFD))
		return weft__fail(EMFILE);
	return (int)syscall(SYS_eventfd2, 0, O_NONBLOCK | O_CLOEXEC);
}

void *weft__sys_mmap(size_t len, int prot, int flags)
{
	if (weft__fault(WEFT__FAULT_MMAP))
		return (errno = ENOMEM, MAP_FAILED);
	return mmap(NULL, len, prot, flags, -1, 0);
}

int weft__sys_munmap(void *p, size_t len)
{
	return munmap(p, len);
}

int weft__sys_mprotect(void *p, size_t len, int prot)
{
	if (weft__fault(WEFT__FAULT_MMAP))
		return weft__fail(ENOMEM);
	return mprotect(p, len, prot);
}

int weft__sys_madvise(void *p, size_t len, int advice)
{
	if (weft__fault(WEFT__FAULT_MMAP))
		return weft__fail(ENOMEM);
	return madvise(p, len, advice);
}

ssize_t weft__sys_madvise_ranges(const struct iovec *iov, size_t n,
    int advice)
{
#if defined(SYS_process_madvise) && defined(SYS_pidfd_open)
	long pidfd, r;
	int err;

	if (weft__fault(WEFT__FAULT_MMAP))
		return weft__fail(ENOMEM);
	pidfd = syscall(SYS_pidfd_open, (long)getpid(), 0L);
	if (pidfd == -1)
		return -1;
	r = syscall(SYS_process_madvise, pidfd, iov, n, advice, 0UL);
	err = errno;
	weft__sys_close((int)pidfd);
	errno = err;
	return r;
#else
	(void)iov;
	(void)n;
	(void)advice;
	return weft__fail(ENOSYS);
#endif
}

int weft__sys_sigaltstack(const stack_t *ss, stack_t *old)
{
	if (weft__fault(WEFT__FAULT_SIGNAL))
		return weft__fail(ENOMEM);
	return sigaltstack(ss, old);
}

int weft__sys_sigaction(int sig, const struct sigaction *sa,
    struct sigaction *old)
{
	return sigaction(sig, sa, old);
}

pid_t weft__sys_waitpid(pid_t pid, int *status, int options)
{
	return (pid_t)syscall(SYS_wait4, pid, status, options, NULL);
}

int weft__sys_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	return weft__fail(ENOSYS);
#endif
}

int weft__sys_signalfd(const sigset_t *set)
{
	return signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int weft__sys_getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	return getaddrinfo(node, service, hints, res);
}

int weft__sys_getnameinfo(const struct sockaddr *sa, socklen_t salen,
    char *host, socklen_t hostlen, char *serv, socklen_t servlen, int flags)
{
	return getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
}

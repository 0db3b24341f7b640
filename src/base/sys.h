/*
 * sys: every system call weft makes, behind one wrapper each.
 *
 * libweft-hook (the drop-in layer) interposes libc's blocking calls, so
 * that plain read() in a task parks the task.  weft's own calls must never
 * land there: a park inside the poller or the pool would recurse.  So the
 * calls a hook can interpose (I/O, waits, descriptor changes) are made here
 * as raw system calls, which no symbol interposition can reach; the others
 * pass straight to libc.  Nothing else in src/ calls these libc functions
 * by name (HACKING: "adding a system call").
 *
 * Each wrapper has the libc function's signature and meaning: -1 and errno
 * on failure.
 */
#ifndef WEFT_BASE_SYS_H
#define WEFT_BASE_SYS_H

#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Descriptor I/O (raw system calls). */
ssize_t weft__sys_read(int fd, void *buf, size_t n);
ssize_t weft__sys_write(int fd, const void *buf, size_t n);
ssize_t weft__sys_readv(int fd, const struct iovec *iov, int n);
ssize_t weft__sys_writev(int fd, const struct iovec *iov, int n);
/* write and writev failing with EPIPE where they would raise SIGPIPE. */
ssize_t weft__sys_write_nosigpipe(int fd, const void *buf, size_t n);
ssize_t weft__sys_writev_nosigpipe(int fd, const struct iovec *iov, int n);
ssize_t weft__sys_recvfrom(int fd, void *buf, size_t n, int flags,
    struct sockaddr *src, socklen_t *srclen);
ssize_t weft__sys_sendto(int fd, const void *buf, size_t n, int flags,
    const struct sockaddr *dst, socklen_t dstlen);
ssize_t weft__sys_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t weft__sys_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t weft__sys_recv(int fd, void *buf, size_t n, int flags);
ssize_t weft__sys_send(int fd, const void *buf, size_t n, int flags);
int weft__sys_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen,
    int flags);
int weft__sys_connect(int fd, const struct sockaddr *addr, socklen_t len);
int weft__sys_close(int fd);
int weft__sys_fcntl(int fd, int cmd, long arg);
/* poll(2) with a timeout in ms (negative: none). */
int weft__sys_poll(struct pollfd *fds, nfds_t n, int timeout_ms);
int weft__sys_getsockopt(int fd, int level, int name, void *val,
    socklen_t *len);
int weft__sys_fstat(int fd, struct stat *st);
int weft__sys_ioctl(int fd, unsigned long req, void *arg);
/* pipe2 with O_CLOEXEC. */
int weft__sys_pipe(int fds[2]);
/* Copy from our own address space; EFAULT where it is not mapped. */
ssize_t weft__sys_process_vm_readv(const struct iovec *local,
    const struct iovec *remote);
pid_t weft__sys_gettid(void);
/* Threads in the process now (/proc/self/stat); -1 if unknown. */
int weft__sys_thread_count(void);
/* The start of a small file (under /proc), NUL-terminated; its length,
 * or -1 and errno. */
ssize_t weft__sys_read_file(const char *path, char *buf, size_t size);

/* Making sockets (dial.c). */
int weft__sys_socket(int domain, int type, int protocol);
int weft__sys_bind(int fd, const struct sockaddr *addr, socklen_t len);
int weft__sys_listen(int fd, int backlog);
int weft__sys_setsockopt(int fd, int level, int name, const void *val,
    socklen_t len);

/* Sleep the thread until the CLOCK_MONOTONIC time at (ns); restarts after
 * signal handlers.  0, or -1 and errno. */
int weft__sys_sleep_until(int64_t at);
/* The same, but a signal handler that runs ends it early: -1 and EINTR. */
int weft__sys_nap_until(int64_t at);
int weft__sys_sched_yield(void);

/* The poller's kernel objects (raw system calls). */
int weft__sys_epoll_create(void);
int weft__sys_epoll_ctl(int epfd, int op, int fd, void *event);
/* epoll_pwait2 when the kernel has it (timeout_ns < 0: none), else
 * epoll_wait with the timeout rounded up to milliseconds. */
int weft__sys_epoll_wait(int epfd, void *events, int max, int64_t timeout_ns);
int weft__sys_eventfd(void);

/* Memory and signals (libc). */
void *weft__sys_mmap(size_t len, int prot, int flags);
int weft__sys_munmap(void *p, size_t len);
int weft__sys_mprotect(void *p, size_t len, int prot);
int weft__sys_madvise(void *p, size_t len, int advice);
/* madvise over n ranges of this process in one call (process_madvise on a
 * pidfd of our own, opened and closed here, so a forked child never acts
 * on its parent): the bytes advised, or -1 and errno (ENOSYS, EINVAL where
 * the kernel takes not this advice that way). */
ssize_t weft__sys_madvise_ranges(const struct iovec *iov, size_t n,
    int advice);
int weft__sys_sigaltstack(const stack_t *ss, stack_t *old);
int weft__sys_sigaction(int sig, const struct sigaction *sa,
    struct sigaction *old);

/* Child processes and signals: wait4 with no usage, pidfd_open (ENOSYS
 * where the kernel lacks it), a non-blocking close-on-exec signalfd. */
pid_t weft__sys_waitpid(pid_t pid, int *status, int options);
int weft__sys_pidfd_open(pid_t pid);
int weft__sys_signalfd(const sigset_t *set);

/* Name resolution (libc; runs on pool threads, where a hook forwards). */
int weft__sys_getnameinfo(const struct sockaddr *sa, socklen_t salen,
    char *host, socklen_t hostlen, char *serv, socklen_t servlen, int flags);
int weft__sys_getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res);

#endif /* WEFT_BASE_SYS_H */

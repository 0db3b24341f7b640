/*
 * The private interface between libweft and libweft-hook (weft-hook(7)).
 *
 * libweft-hook is the small library that defines read, poll, sleep and the
 * rest (interpose.c).  It holds no state of its own: inside a task it calls
 * these, which libweft exports for it alone (the weft__hook_ prefix is in
 * libweft's export list and in no installed header; both libraries are
 * built and installed together).  Each call has the libc function's
 * signature and promises (io/io.h, "libc's promises"); a caller must be a
 * task (weft__hook_in_task), except where a comment says otherwise.
 *
 * Signals: libweft-hook installs its own handler in front of the caller's
 * (sigaction, signal), which calls weft__hook_signalled.  A handler that
 * runs on a thread ends the interposed waits parked there, as the signal
 * would end the blocking call in libc: sleeps, poll, select and epoll_wait
 * always (EINTR; sleeps give the time left), reads, writes, accept and
 * connect unless every handler that ran had SA_RESTART (then the wait goes
 * on).  Waits that must run to their end (a regular file on the pool) are
 * not ended.
 */
#ifndef WEFT_HOOK_HOOK_H
#define WEFT_HOOK_HOOK_H

#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#define WEFT__HOOK_ABI __attribute__((visibility("default")))

/* Any thread.  Is the caller a task of this thread's runtime? */
WEFT__HOOK_ABI int weft__hook_in_task(void);

/* Any thread, and from a signal handler: a handler ran on this thread;
 * restart is its SA_RESTART. */
WEFT__HOOK_ABI void weft__hook_signalled(int restart);

/*
 * Any thread.  Which descriptors weft made non-blocking behind the
 * caller's back (io/fd.h): their O_NONBLOCK is hidden from fcntl, and a
 * call outside a task that finds one not ready waits as the caller's
 * blocking call would (weft__hook_outside_wait: 0 when ready, or -1 and
 * errno).  weft__hook_nb_set records fd's flag as weft's (a duplicate of
 * a descriptor weft made non-blocking) or as the caller's (owned 0: the
 * caller set O_NONBLOCK itself).
 */
WEFT__HOOK_ABI int weft__hook_nb_owned(int fd);
WEFT__HOOK_ABI void weft__hook_nb_set(int fd, int owned);
WEFT__HOOK_ABI int weft__hook_outside_wait(int fd, short events);

/* Any thread.  fd is about to be closed (close, dup2's target), or names
 * a new file (socket, accept): forget what weft knew of the number. */
WEFT__HOOK_ABI void weft__hook_closing(int fd);
WEFT__HOOK_ABI void weft__hook_fresh(int fd);

/* Descriptor I/O, in a task. */
WEFT__HOOK_ABI ssize_t weft__hook_read(int fd, void *buf, size_t n);
WEFT__HOOK_ABI ssize_t weft__hook_write(int fd, const void *buf, size_t n);
WEFT__HOOK_ABI ssize_t weft__hook_readv(int fd, const struct iovec *iov,
    int iovcnt);
WEFT__HOOK_ABI ssize_t weft__hook_writev(int fd, const struct iovec *iov,
    int iovcnt);
WEFT__HOOK_ABI ssize_t weft__hook_recvfrom(int fd, void *buf, size_t n,
    int flags, struct sockaddr *src, socklen_t *srclen);
WEFT__HOOK_ABI ssize_t weft__hook_sendto(int fd, const void *buf, size_t n,
    int flags, const struct sockaddr *dst, socklen_t dstlen);
WEFT__HOOK_ABI ssize_t weft__hook_recvmsg(int fd, struct msghdr *msg,
    int flags);
WEFT__HOOK_ABI ssize_t weft__hook_sendmsg(int fd, const struct msghdr *msg,
    int flags);
WEFT__HOOK_ABI int weft__hook_accept4(int fd, struct sockaddr *addr,
    socklen_t *addrlen, int flags);
WEFT__HOOK_ABI int weft__hook_connect(int fd, const struct sockaddr *addr,
    socklen_t len);

/* poll(2) in a task until timeout_ns from now (negative: none); EINTR
 * when a handler runs. */
WEFT__HOOK_ABI int weft__hook_poll(struct pollfd *fds, nfds_t n,
    int64_t timeout_ns);

/* A sleep of ns in a task: 0, or -1 and errno (EINTR, ETIMEDOUT,
 * ECANCELED) with *left the time not slept (left may be NULL). */
WEFT__HOOK_ABI int weft__hook_sleep(int64_t ns, int64_t *left);

/* getnameinfo on the offload pool, in a task (libc's return values). */
WEFT__HOOK_ABI int weft__hook_getnameinfo(const struct sockaddr *sa,
    socklen_t salen, char *host, socklen_t hostlen, char *serv,
    socklen_t servlen, int flags);

#endif /* WEFT_HOOK_HOOK_H */

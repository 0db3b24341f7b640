/*
 * One I/O operation on a descriptor, run until it makes progress, parking
 * the calling task while it cannot: what weft_read and its kin are made
 * of (io.c), and what libweft-hook's read and its kin are made of
 * (src/hook/), which ask for libc's promises instead of weft's.
 *
 * weft's promises (libc == 0): the call waits whatever the descriptor's
 * flags, and may turn O_NONBLOCK on where it needs it (a listening socket,
 * an eventfd).
 *
 * libc's promises (libc == 1), for code that was written for the blocking
 * calls and must not notice the difference:
 *   - a descriptor the caller made non-blocking (O_NONBLOCK that weft did
 *     not set, read afresh when the call would wait) fails with EAGAIN at
 *     once, as do calls given MSG_DONTWAIT;
 *   - SO_RCVTIMEO and SO_SNDTIMEO (read afresh when the call would wait)
 *     end the wait with EAGAIN, or the count moved so far;
 *   - weft never turns O_NONBLOCK on a descriptor but a listening or
 *     connecting socket, whose flag fd.h's table records so the hook can
 *     hide it; anything else is waited for with poll(2) first;
 *   - recv with MSG_WAITALL waits for the whole length;
 *   - a write to a peer gone raises SIGPIPE as libc's does (weft's own
 *     calls never raise it: EPIPE).
 * Both ways the task's deadline and cancellation end a wait (ETIMEDOUT,
 * ECANCELED).
 */
#ifndef WEFT_IO_IO_H
#define WEFT_IO_IO_H

#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

enum weft__io_kind {
	WEFT__IO_READ, WEFT__IO_WRITE, WEFT__IO_RECV, WEFT__IO_SEND,
	WEFT__IO_ACCEPT, WEFT__IO_READV, WEFT__IO_WRITEV, WEFT__IO_RECVFROM,
	WEFT__IO_SENDTO, WEFT__IO_RECVMSG, WEFT__IO_SENDMSG
};

struct weft__io_op {
	enum weft__io_kind op;
	int fd;
	void *buf;
	size_t len;
	int flags;                    /* recv/send flags; accept4's flags */
	struct sockaddr *addr;        /* accept, recvfrom: out; sendto: in */
	socklen_t *addrlen;
	socklen_t dstlen;             /* sendto */
	const struct iovec *iov;      /* readv, writev */
	int iovcnt;
	struct msghdr *msg;           /* recvmsg, sendmsg */
	unsigned char libc;           /* libc's promises, not weft's */
	unsigned char timed;          /* wake_at is set (libc mode) */
	int64_t wake_at;              /* SO_RCVTIMEO/SO_SNDTIMEO's end */
};

/* Until o makes progress once (a count, 0 at the end) or fails. */
ssize_t weft__io_once(struct weft__io_op *o);
/* Until o's whole buffer is moved, as write(2) on a blocking fd does, or
 * the end (0) comes. */
ssize_t weft__io_all(struct weft__io_op *o);
/* The same for writev: every byte of iov. */
ssize_t weft__io_writev_all(struct weft__io_op *o, const struct iovec *iov,
    int iovcnt);
/* connect(2) that parks the calling task until it is done; in libc mode a
 * caller's non-blocking socket gets EINPROGRESS, and SO_SNDTIMEO ends the
 * wait with EINPROGRESS (the connection still underway), as on Linux. */
int weft__io_connect(int fd, const struct sockaddr *addr, socklen_t len,
    int libc);

/* poll(2) in a task, until wake_at (weft_now; INT64_MAX: no end). */
int weft__poll_until(struct pollfd *fds, nfds_t nfds, int64_t wake_at);

#endif /* WEFT_IO_IO_H */

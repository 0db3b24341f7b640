/*
 * Waiting for child processes and signals in a task: weft_waitpid parks
 * on a pidfd (Linux 5.3), weft_sigwait on a signalfd, so only the calling
 * task waits.  Where there is no descriptor to wait on (any child, a
 * stopped or continued child, a kernel without pidfd, no descriptor
 * left), weft_waitpid looks again at growing intervals, 1 ms up to
 * 20 ms.  Outside a task both are the POSIX calls.
 */
#include "base/compiler.h"
#include "base/error.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#include "base/sys.h"
#include "io/fd.h"

#define POLL_FIRST_NS ((int64_t)1000000)
#define POLL_MAX_NS ((int64_t)20000000)

/* Park until fd is readable, then close it; 0 or an errno. */
static int wait_readable(struct weft_rt *rt, int fd, unsigned why)
{
	struct weft__fd *e = weft__fd_get(rt, fd);
	int err = e ? weft__fd_wait(rt, e, WEFT__EV_IN, why) : errno;

	if (e)
		weft__fd_forget(e);
	weft__sys_close(fd);
	return err;
}

/* No descriptor to wait on: look again after a growing pause. */
static pid_t waitpid_polling(pid_t pid, int *status, int options)
{
	int64_t pause = POLL_FIRST_NS;
	pid_t r;

	while ((r = weft__sys_waitpid(pid, status, options | WNOHANG)) == 0) {
		if (weft_sleep_ns(pause) == -1)
			return -1;
		pause = pause * 2 < POLL_MAX_NS ? pause * 2 : POLL_MAX_NS;
	}
	return r;
}

pid_t weft_waitpid(pid_t pid, int *wstatus, int options)
{
	struct weft_rt *rt = weft__rt_peek();
	pid_t r;
	int fd, err;

	if (!rt || !weft__in_task(rt) || (options & WNOHANG))
		return weft__sys_waitpid(pid, wstatus, options);
	/* A pidfd says only that the child ended. */
	if (pid <= 0 || (options & (WUNTRACED | WCONTINUED)))
		return waitpid_polling(pid, wstatus, options);
	for (;;) {
		if ((r = weft__sys_waitpid(pid, wstatus, options | WNOHANG)) != 0)
			return r;                 /* done, or ECHILD and such */
		/* ESRCH: reaped elsewhere meanwhile, waitpid says so.  No
		 * pidfd (old kernel, no descriptor left): poll instead. */
		if ((fd = weft__sys_pidfd_open(pid)) == -1)
			return errno == ESRCH ?
			    weft__sys_waitpid(pid, wstatus, options) :
			    waitpid_polling(pid, wstatus, options);
		if ((err = wait_readable(rt, fd, WEFT__WAIT_WAITPID)))
			return weft__fail(err);
	}
}

int weft_sigwait(const sigset_t *set, int *sig)
{
	struct weft_rt *rt = weft__rt_peek();
	struct signalfd_siginfo si;
	int fd, err;

	if (!set || !sig)
		return errno = EINVAL;
	if (!rt || !weft__in_task(rt))
		return sigwait(set, sig);
	for (;;) {
		if ((fd = weft__sys_signalfd(set)) == -1)
			return errno;
		/* A signal already pending is read at once. */
		if (weft__sys_read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			weft__sys_close(fd);
			*sig = (int)si.ssi_signo;
			return 0;
		}
		if ((err = wait_readable(rt, fd, WEFT__WAIT_SIGWAIT)))
			return errno = err;
	}
}

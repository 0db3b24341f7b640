/*
 * What the environment asks for when the library loads:
 *   WEFT_DUMP_SIGNAL=USR1   that signal writes weft_dump to stderr and
 *                           the program goes on;
 *   WEFT_WATCHDOG_MS=N      a task that holds its thread N ms without
 *                           parking is reported once, with the thread's
 *                           backtrace at that moment;
 *   WEFT_DEADLOCK_REPORT=0  no "all tasks are asleep" report.
 *
 * Each switch set starts one small thread of weft's own, which reads the
 * runtimes through core/debug.h, never touching what their threads hold:
 * it works while every runtime's thread is stuck in a plain blocking call
 * or a loop that never parks.  With none set, nothing here runs.
 */
#include "base/compiler.h"
#include "base/error.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/sys.h"
#include "base/unwind.h"
#include "api/dump.h"
#include "core/debug.h"

/* The watchdog interrupts a thread with this to take its backtrace: its
 * default action is to ignore it, and few programs use it (Go's runtime
 * chose it for the same reasons). */
#define WATCHDOG_SIGNAL SIGURG
#define WATCHDOG_FRAMES 32
#define MAX_WATCHED 256

/* ---- the signal dump ----------------------------------------------------- */

static int dump_pipe[2] = { -1, -1 };

/* Any thread: wake the watcher.  write(2) is async-signal-safe. */
static void on_dump_signal(int sig)
{
	int err = errno;
	char c = (char)sig;

	if (weft__sys_write(dump_pipe[1], &c, 1) < 0)
		(void)0;              /* the pipe is full: a dump is coming */
	errno = err;
}

static void *dump_watcher(void *arg)
{
	int sig = (int)(intptr_t)arg;
	sigset_t one;
	char c;

	weft__debug_own_thread(1);
	/* The loading thread blocked the signal for the threads it makes;
	 * this one takes it. */
	sigemptyset(&one);
	sigaddset(&one, sig);
	pthread_sigmask(SIG_UNBLOCK, &one, NULL);
	for (;;) {
		ssize_t n = weft__sys_read(dump_pipe[0], &c, 1);

		if (n == 1)
			weft__dump_write(2, 0, NULL, "weft dump on a signal");
		else if (n == 0 || (errno != EINTR && errno != EAGAIN))
			break;
	}
	weft__debug_own_thread(-1);
	return NULL;
}

/* "USR1", "SIGUSR1", "10": a signal number, or 0. */
static int parse_signal(const char *s)
{
	char *end;
	long n;
	int i;

	if (!s || !*s)
		return 0;
	n = strtol(s, &end, 10);
	if (*end == '\0')
		return n > 0 && n < NSIG ? (int)n : 0;
	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	for (i = 1; i < NSIG; i++) {
		const char *name = sigabbrev_np(i);

		if (name && strcmp(name, s) == 0)
			return i;
	}
	return 0;
}

static void warn(const char *what, const char *value)
{
	struct weft__out o;

	weft__out_init(&o, 2);
	weft__out_printf(&o, "weft: %s=%s ignored: %s\n", what, value,
	    strerror(errno));
	weft__out_flush(&o);
}

static void start_dump_signal(const char *value)
{
	int sig = parse_signal(value);
	struct sigaction sa;
	pthread_t th;
	sigset_t one;

	if (!sig || sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV ||
	    sig == SIGBUS || sig == WATCHDOG_SIGNAL) {
		errno = EINVAL;
		warn("WEFT_DUMP_SIGNAL", value);
		return;
	}
	/* The handler's end never blocks: a full pipe has a dump coming. */
	if (weft__sys_pipe(dump_pipe) == -1 ||
	    weft__sys_fcntl(dump_pipe[1], F_SETFL, O_NONBLOCK) == -1) {
		warn("WEFT_DUMP_SIGNAL", value);
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_dump_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&one);
	sigaddset(&one, sig);
	/* Blocked here, so the threads made from now on leave it to the
	 * watcher and their plain calls are not cut short by it. */
	if (weft__sys_sigaction(sig, &sa, NULL) == -1 ||
	    pthread_sigmask(SIG_BLOCK, &one, NULL) != 0 ||
	    (errno = pthread_create(&th, NULL, dump_watcher,
	    (void *)(intptr_t)sig)) != 0) {
		warn("WEFT_DUMP_SIGNAL", value);
		return;
	}
	pthread_detach(th);
}

/* ---- the watchdog -------------------------------------------------------- */

static int64_t watchdog_ns;

/* One backtrace taken at a time: the watchdog asks (1), the handler takes
 * it (2, then 3 when written), or the watchdog gives up waiting (0). */
static struct {
	atomic_int state;
	uintptr_t pcs[WATCHDOG_FRAMES];
	int n;
} grab;

/* What the program had for the signal: called for signals not ours. */
static struct sigaction watchdog_old;

static void on_watchdog_signal(int sig, siginfo_t *si, void *uc)
{
	int want = 1, err = errno;

	if (!atomic_compare_exchange_strong(&grab.state, &want, 2)) {
		if (watchdog_old.sa_flags & SA_SIGINFO) {
			if (watchdog_old.sa_sigaction)
				watchdog_old.sa_sigaction(sig, si, uc);
		} else if (watchdog_old.sa_handler != SIG_DFL &&
		    watchdog_old.sa_handler != SIG_IGN) {
			watchdog_old.sa_handler(sig);
		}
		return;
	}
	grab.n = weft__unwind_signal(uc, grab.pcs, WATCHDOG_FRAMES);
	atomic_store(&grab.state, 3);
	errno = err;
}

/*
 * A thread blocked in a system call: where it stands, from /proc, which
 * gives its stack and instruction pointers.  Reading them there instead
 * of interrupting the thread leaves its call alone (a plain sleep(3)
 * would end early).  0, or -1 when the thread runs or /proc cannot say.
 */
static int syscall_regs(pid_t tid, struct weft__regs *r)
{
	char path[64], buf[512], *p = buf, *end;
	unsigned long v[9];
	int i;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	/* "running", or "-1 sp pc" (not in a call): no. */
	if (weft__sys_read_file(path, buf, sizeof(buf)) <= 0 ||
	    *buf < '0' || *buf > '9')
		return -1;
	/* The call, its six arguments, the stack and instruction pointers. */
	for (i = 0; i < 9; i++) {
		v[i] = strtoul(p, &end, 0);
		if (end == p)
			return -1;
		p = end;
	}
	memset(r, 0, sizeof(*r));
	r->sp = (uintptr_t)v[7];
	r->ip = (uintptr_t)v[8];
	return 0;
}

struct watched {
	const void *rt;
	uint64_t progress;
	int64_t since;
	int reported;
	int seen;
};

static struct watched watched[MAX_WATCHED];

static struct watched *watched_slot(const void *rt)
{
	struct watched *free_slot = NULL;
	int i;

	for (i = 0; i < MAX_WATCHED; i++) {
		if (watched[i].rt == rt)
			return &watched[i];
		if (!watched[i].rt && !free_slot)
			free_slot = &watched[i];
	}
	if (free_slot) {
		memset(free_slot, 0, sizeof(*free_slot));
		free_slot->rt = rt;
		free_slot->progress = UINT64_MAX;
	}
	return free_slot;
}

/* Write where r's thread stands: from /proc if it is blocked in a system
 * call, else by interrupting it. */
static void report_hog(const struct weft__rt_view_dbg *r, int64_t held)
{
	uintptr_t pcs[WATCHDOG_FRAMES];
	struct weft__regs regs;
	struct weft__out o;
	int i, state = 0, n = -1;

	weft__out_init(&o, 2);
	weft__out_printf(&o, "weft watchdog: task %" PRIu64 "%s%s%s has held "
	    "thread %d for %" PRId64 " ms without parking; the thread now:\n",
	    r->current_id, r->current_name[0] ? " \"" : "", r->current_name,
	    r->current_name[0] ? "\"" : "", (int)r->tid,
	    (int64_t)(held / WEFT__NS_PER_MS));
	/* Said before anything can go wrong, or the program end. */
	weft__out_flush(&o);
	if (syscall_regs(r->tid, &regs) == 0) {
		n = weft__unwind(&regs, pcs, WATCHDOG_FRAMES);
	} else {
		atomic_store(&grab.state, 1);
		if (pthread_kill(r->thread, WATCHDOG_SIGNAL) == 0) {
			for (i = 0; i < 500 &&
			    (state = atomic_load(&grab.state)) != 3; i++)
				weft__sys_sleep_until(weft_now() +
				    WEFT__NS_PER_MS);
		}
		if (state == 3) {
			n = grab.n;
			memcpy(pcs, grab.pcs, (size_t)n * sizeof(pcs[0]));
		}
		atomic_store(&grab.state, 0);
	}
	if (n >= 0)
		weft__dump_pcs(&o, pcs, n, 0, "    ");
	else
		weft__out_printf(&o, "    (the thread did not answer)\n");
	weft__out_flush(&o);
}

static void watch_rt(const struct weft__rt_view_dbg *r, void *arg)
{
	int64_t now = *(const int64_t *)arg;
	struct watched *w = watched_slot(r->rt);

	if (!w)
		return;
	w->seen = 1;
	if (!r->task_running || r->progress != w->progress) {
		w->progress = r->progress;
		w->since = now;
		w->reported = 0;
		return;
	}
	if (!w->reported && now - w->since >= watchdog_ns) {
		w->reported = 1;
		report_hog(r, now - w->since);
	}
}

static void *watchdog(void *arg)
{
	int64_t period = watchdog_ns / 4, now;
	int i;

	(void)arg;
	weft__debug_own_thread(1);
	if (period < 2 * WEFT__NS_PER_MS)
		period = 2 * WEFT__NS_PER_MS;
	for (;;) {
		weft__sys_sleep_until(weft_now() + period);
		now = weft_now();
		for (i = 0; i < MAX_WATCHED; i++)
			watched[i].seen = 0;
		weft__debug_walk(0, watch_rt, NULL, &now);
		/* Forget the runtimes that are gone. */
		for (i = 0; i < MAX_WATCHED; i++)
			if (!watched[i].seen)
				watched[i].rt = NULL;
	}
	return NULL;
}

static void start_watchdog(const char *value)
{
	char *end;
	long ms = strtol(value, &end, 10);
	struct sigaction sa;
	pthread_t th;
	sigset_t all, old;

	if (*value == '\0' || *end != '\0' || ms <= 0) {
		errno = EINVAL;
		warn("WEFT_WATCHDOG_MS", value);
		return;
	}
	/* Its signal handler walks the hog's stack and may open nothing. */
	(void)weft__unwind_load();
	watchdog_ns = (int64_t)ms * WEFT__NS_PER_MS;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_watchdog_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (weft__sys_sigaction(WATCHDOG_SIGNAL, &sa, &watchdog_old) == -1) {
		warn("WEFT_WATCHDOG_MS", value);
		return;
	}
	/* The watchdog takes no signal itself. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	errno = pthread_create(&th, NULL, watchdog, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (errno) {
		warn("WEFT_WATCHDOG_MS", value);
		return;
	}
	pthread_detach(th);
}

/* ---- the deadlock report ------------------------------------------------- */

static void report_deadlock(void)
{
	struct weft__regs here;

	WEFT__REGS_HERE(&here);
	weft__dump_write(2, 0, &here,
	    "weft: all tasks are asleep - deadlock!");
}

/* ---- at load ------------------------------------------------------------- */

/* Referred to by core/runtime.c, so that a static link, which takes only
 * the objects something refers to, takes this one and its constructor. */
const int weft__watch_linked = 1;

__attribute__((constructor)) static void watch_init(void)
{
	const char *v;

	v = getenv("WEFT_DEADLOCK_REPORT");
	if (!v || strcmp(v, "0") != 0)
		weft__debug_on_deadlock = report_deadlock;
	if ((v = getenv("WEFT_DUMP_SIGNAL")) && *v)
		start_dump_signal(v);
	if ((v = getenv("WEFT_WATCHDOG_MS")) && *v)
		start_watchdog(v);
}

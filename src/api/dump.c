/*
 * weft_dump: every task of every runtime, what it waits for and where, in
 * words a person reads.  The signal dump, the deadlock report and the
 * watchdog (watch.c) write through the same writer.
 */
#include "base/compiler.h"
#include "base/error.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/saferead.h"
#include "base/sys.h"
#include "base/unwind.h"
#include "api/dump.h"
#include "core/debug.h"

#define MAX_FRAMES 32

/* ---- a buffered writer to a descriptor ----------------------------------- */

void weft__out_init(struct weft__out *o, int fd)
{
	o->fd = fd;
	o->len = 0;
	o->err = 0;
}

void weft__out_flush(struct weft__out *o)
{
	size_t done = 0;
	ssize_t w;

	while (done < o->len && !o->err) {
		/* A reader gone is EPIPE, not a signal that ends us. */
		w = weft__sys_write_nosigpipe(o->fd, o->buf + done,
		    o->len - done);
		if (w > 0) {
			done += (size_t)w;
		} else if (w == -1 && errno == EAGAIN) {
			/* A non-blocking descriptor: wait for room, a while. */
			struct pollfd p = { .fd = o->fd, .events = POLLOUT };

			if (weft__sys_poll(&p, 1, 5000) != 1)
				o->err = EAGAIN;
		} else if (w == 0 || errno != EINTR) {
			o->err = w == 0 ? EIO : errno;
		}
	}
	o->len = 0;
}

void weft__out_printf(struct weft__out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, sizeof(o->buf) - o->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < sizeof(o->buf) - o->len) {
			o->len += (size_t)n;
			return;
		}
		if (o->len == 0) {    /* longer than the buffer: cut it */
			o->len = sizeof(o->buf) - 1;
			weft__out_flush(o);
			return;
		}
		weft__out_flush(o);
	}
}

/* ---- one task ------------------------------------------------------------ */

static void seconds(char *buf, size_t size, int64_t ns)
{
	if (ns < 0)
		ns = 0;
	snprintf(buf, size, "%" PRId64 ".%03" PRId64 " s",
	    (int64_t)(ns / WEFT__NS_PER_S),
	    (int64_t)(ns % WEFT__NS_PER_S / WEFT__NS_PER_MS));
}

/* What a parked task waits for, from its note. */
static void describe_wait(const struct weft__wait_note *n, int64_t now,
    char *buf, size_t size)
{
	char s[320], t[32];
	uint64_t id;

	switch (n->kind) {
	case WEFT__WAIT_SLEEP:
		seconds(t, sizeof(t), n->a - now);
		snprintf(buf, size, "sleep, %s left", t);
		return;
	case WEFT__WAIT_READ:
		snprintf(buf, size, "read on fd %" PRId64, n->a);
		return;
	case WEFT__WAIT_WRITE:
		snprintf(buf, size, "write on fd %" PRId64, n->a);
		return;
	case WEFT__WAIT_ACCEPT:
		snprintf(buf, size, "accept on fd %" PRId64, n->a);
		return;
	case WEFT__WAIT_CONNECT:
		snprintf(buf, size, "connect on fd %" PRId64, n->a);
		return;
	case WEFT__WAIT_POLL:
		snprintf(buf, size, "poll on %" PRId64 " fds (the first fd %"
		    PRId64 ")", n->a, n->b);
		return;
	case WEFT__WAIT_CHAN_SEND:
	case WEFT__WAIT_CHAN_RECV:
		snprintf(buf, size, "channel %s on %p (length %" PRId64 ", "
		    "capacity %" PRId64 ")", n->kind == WEFT__WAIT_CHAN_SEND ?
		    "send" : "receive", n->obj, n->a, n->b);
		return;
	case WEFT__WAIT_SELECT:
		snprintf(buf, size, "select over %" PRId64 " cases", n->a);
		return;
	case WEFT__WAIT_MUTEX:
		id = weft__debug_task_id((const void *)(uintptr_t)n->b);
		if (id)
			snprintf(buf, size, "mutex %p, held by task %" PRIu64,
			    n->obj, id);
		else
			snprintf(buf, size, "mutex %p, held outside tasks",
			    n->obj);
		return;
	case WEFT__WAIT_RWLOCK:
		snprintf(buf, size, "rwlock %p, to %s", n->obj,
		    n->a ? "write" : "read");
		return;
	case WEFT__WAIT_COND:
		snprintf(buf, size, "condition variable %p", n->obj);
		return;
	case WEFT__WAIT_SEM:
		snprintf(buf, size, "semaphore %p", n->obj);
		return;
	case WEFT__WAIT_WAITGROUP:
		snprintf(buf, size, "wait group %p", n->obj);
		return;
	case WEFT__WAIT_GROUP:
		snprintf(buf, size, "group %p (%" PRId64 " members)", n->obj,
		    n->a);
		return;
	case WEFT__WAIT_JOIN:
		if (n->a)
			snprintf(buf, size, "join of task %" PRId64, n->a);
		else
			snprintf(buf, size, "weft_run, for every task");
		return;
	case WEFT__WAIT_FETCH:
		if (!n->obj || weft__safe_string(s, 256, n->obj) == -1)
			strcpy(s, "?");
		snprintf(buf, size, "fetch of %s", s);
		return;
	case WEFT__WAIT_OFFLOAD:
		weft__symbolize((uintptr_t)n->obj, s, sizeof(s));
		snprintf(buf, size, "offloaded %s", s);
		return;
	case WEFT__WAIT_WAITPID:
		snprintf(buf, size, "a child process, pidfd %" PRId64, n->a);
		return;
	case WEFT__WAIT_SIGWAIT:
		snprintf(buf, size, "a signal, signalfd %" PRId64, n->a);
		return;
	default:
		snprintf(buf, size, "something weft did not note");
	}
}

static const char *state_words(int state)
{
	switch (state) {
	case WEFT__VIEW_READY: return "ready";
	case WEFT__VIEW_RUNNING: return "running";
	case WEFT__VIEW_PARKED: return "parked";
	case WEFT__VIEW_DONE: return "finished, not yet joined";
	default: return "left behind by fork";
	}
}

/* Is pc in the object that holds weft itself? */
static int in_weft(uintptr_t pc)
{
	static Dl_info self;
	Dl_info di;

	if (!self.dli_fbase && !dladdr((void *)weft_dump, &self))
		return 0;
	return dladdr((void *)pc, &di) && di.dli_fbase == self.dli_fbase;
}

/*
 * weft's own frames first (the switch, the park, the wait queue) say
 * nothing to the reader: start at the weft call the task made, the last
 * of them.  Where weft is linked into the program itself, the first frame
 * named as a public call.  And stop at the frame that started the task.
 */
static void frames_to_show(const uintptr_t *pcs, char names[][160], int n,
    int *first, int *end)
{
	int i;

	*first = 0;
	*end = n;
	for (i = 0; i < n; i++) {
		if (strncmp(names[i], "ctx_start+", 10) == 0) {
			*end = i + 1;
			break;
		}
	}
	for (i = 0; i < *end && in_weft(pcs[i]); i++)
		;
	if (i > 0 && i < *end) {
		*first = i - 1;
		return;
	}
	for (i = 0; i < *end; i++) {
		if (strncmp(names[i], "weft_", 5) == 0 &&
		    strncmp(names[i], "weft__", 6) != 0) {
			*first = i;
			return;
		}
	}
}

void weft__dump_pcs(struct weft__out *o, const uintptr_t *pcs, int n,
    int skip_weft, const char *indent)
{
	char names[MAX_FRAMES][160];
	int i, first, end;

	if (n > MAX_FRAMES)
		n = MAX_FRAMES;
	for (i = 0; i < n; i++)
		weft__symbolize(pcs[i], names[i], sizeof(names[i]));
	frames_to_show(pcs, names, n, &first, &end);
	if (!skip_weft)
		first = 0;
	for (i = first; i < end; i++)
		weft__out_printf(o, "%s#%d %s\n", indent, i - first, names[i]);
	if (n == 0)
		weft__out_printf(o, "%s(no frames found)\n", indent);
}

void weft__dump_backtrace(struct weft__out *o, const struct weft__regs *r,
    const char *indent)
{
	uintptr_t pcs[MAX_FRAMES];

	weft__dump_pcs(o, pcs, weft__unwind(r, pcs, MAX_FRAMES), 1, indent);
}

struct dump_ctx {
	struct weft__out *out;
	const struct weft__regs *caller;  /* the calling context's, or NULL */
	int64_t now;
	unsigned runtimes, tasks;
};

static void dump_rt(const struct weft__rt_view_dbg *r, void *arg)
{
	struct dump_ctx *d = arg;

	d->runtimes++;
	weft__out_printf(d->out, "\nthread %d%s: main and %" PRIu64 " tasks\n",
	    (int)r->tid, r->is_caller ? " (the caller's)" : "", r->tasks);
}

static void dump_task(const struct weft__rt_view_dbg *r,
    const struct weft__task_view *v, void *arg)
{
	struct dump_ctx *d = arg;
	struct weft__out *o = d->out;
	char what[400], t[32], at[160];
	const struct weft__regs *regs = v->has_regs ? &v->regs : NULL;

	d->tasks++;
	if (v->is_main)
		weft__out_printf(o, "  main (the thread's own stack): %s",
		    state_words(v->state));
	else
		weft__out_printf(o, "  task %" PRIu64 "%s%s%s%s: %s", v->id,
		    v->name[0] ? " \"" : "", v->name, v->name[0] ? "\"" : "",
		    v->service ? " (weft's own)" : "", state_words(v->state));
	if (v->state == WEFT__VIEW_PARKED && v->note.kind != WEFT__WAIT_NONE) {
		describe_wait(&v->note, d->now, what, sizeof(what));
		seconds(t, sizeof(t), d->now - v->note.since);
		weft__out_printf(o, " for %s: %s", t, what);
	}
	if (v->cancelled)
		weft__out_printf(o, ", cancelled");
	if (v->deadline != INT64_MAX) {
		seconds(t, sizeof(t), v->deadline - d->now);
		weft__out_printf(o, ", deadline in %s", t);
	}
	weft__out_printf(o, "\n");
	if (!v->is_main) {
		weft__symbolize((uintptr_t)v->entry, what, sizeof(what));
		weft__symbolize((uintptr_t)v->spawn_pc, at, sizeof(at));
		weft__out_printf(o, "    runs %s, spawned at %s; stack %zu KiB, "
		    "deepest use seen %zu KiB\n", what, at, v->stack_size / 1024,
		    (v->stack_used + 1023) / 1024);
	}
	/* The current context's saved registers are old: it runs, or it
	 * runs the loop, or it is the caller. */
	if (v->is_main ? r->current_main :
	    !r->current_main && v->id == r->current_id)
		regs = r->is_caller ? d->caller : r->idle ? &r->idle_regs : NULL;
	if (regs)
		weft__dump_backtrace(o, regs, "    ");
	else if (v->state == WEFT__VIEW_RUNNING)
		weft__out_printf(o, "    (running on its thread now: no "
		    "backtrace)\n");
}

int weft__dump_write(int fd, int own_only, const struct weft__regs *caller,
    const char *headline)
{
	struct weft__out o;
	struct dump_ctx d = { &o, caller, weft__coarse_now(), 0, 0 };

	weft__out_init(&o, fd);
	weft__out_printf(&o, "%s (pid %d, backtraces by %s)\n", headline,
	    (int)getpid(), weft__unwind_method());
	weft__debug_walk(own_only, dump_rt, dump_task, &d);
	weft__out_printf(&o, "end of weft dump: %u threads, %u contexts "
	    "(main and tasks)\n", d.runtimes, d.tasks);
	weft__out_flush(&o);
	return o.err ? weft__fail(o.err) : 0;
}

int weft_dump(int fd)
{
	struct weft__regs here;

	if (fd < 0)
		return weft__fail(EBADF);
	if (weft__sys_fcntl(fd, F_GETFL, 0) == -1)
		return -1;
	WEFT__REGS_HERE(&here);
	return weft__dump_write(fd, 0, &here, "weft dump");
}

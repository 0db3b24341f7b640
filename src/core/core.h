/*
 * What the layers above core (io, sync, api) may use of it: the calling
 * thread's runtime, the current task, parking and waking, the loop's
 * poller and mailbox, the runtime's room for their own per-thread parts,
 * and a few task operations.  Nothing above core sees struct weft_rt or
 * struct weft_task's fields (core/runtime.h and core/task.h are core's
 * own); `make check` (tests/layers.sh) holds every file to that.
 */
#ifndef WEFT_CORE_CORE_H
#define WEFT_CORE_CORE_H

#include <stdatomic.h>

#include "base/compiler.h"
#include "base/error.h"
#include "base/queue.h"
#include "core/poller.h"

struct weft_rt;

/* ---- the runtime ---------------------------------------------------------- */

/*
 * The first member of every struct weft_rt: what the inline accessors
 * below read.  The scheduler keeps current up to date.
 */
struct weft__rt_view {
	struct weft_task *current;    /* running task, or main_task */
	struct weft_task *main_task;  /* stands for the thread's own stack */
	int64_t clock;                /* weft_now at the loop's last step */
};

/*
 * Initial-exec TLS: one load, no __tls_get_addr call, and safe to read
 * from a signal handler.  A task never changes thread, so a cached
 * address of it stays right across switches.
 */
extern __thread struct weft_rt *weft__tls_rt
    __attribute__((tls_model("initial-exec")));

/* Make the calling thread's runtime: a cheap identity (no descriptor, no
 * signal stack); the rest is made when first needed.  NULL and ENOMEM. */
struct weft_rt *weft__rt_create(void);

/* The calling thread's runtime, created on first use; NULL and errno. */
static inline struct weft_rt *weft__rt_get(void)
{
	struct weft_rt *rt = weft__tls_rt;

	return weft__likely(rt != NULL) ? rt : weft__rt_create();
}

/* The runtime if the thread has one; never creates it. */
static inline struct weft_rt *weft__rt_peek(void)
{
	return weft__tls_rt;
}

/* The running task, or the main task standing for the thread's stack. */
static inline struct weft_task *weft__self(struct weft_rt *rt)
{
	return ((const struct weft__rt_view *)(const void *)rt)->current;
}

/* Is the caller a task (not the thread's own stack)? */
static inline int weft__in_task(struct weft_rt *rt)
{
	const struct weft__rt_view *v = (const void *)rt;

	return v->current != v->main_task;
}

/* weft_now as the loop last read it: no clock read, and never ahead. */
static inline int64_t weft__clock_cached(struct weft_rt *rt)
{
	return ((const struct weft__rt_view *)(const void *)rt)->clock;
}

/* The deadline of the thread's own stack (weft_deadline_push outside any
 * task), which bounds blocking calls made outside tasks; INT64_MAX for
 * none or when rt is NULL. */
int64_t weft__main_deadline(struct weft_rt *rt);

/*
 * Room in the runtime for a layer above: one slot per part, made by the
 * first weft__rt_part call for it on the thread (init gets zeroed memory
 * of size bytes), and ended by term, highest slot first, when the thread's
 * runtime goes away.
 *
 * In the child of fork(2) the runtime drops its parts, to be made anew at
 * their next use: forked, when set, frees what the child alone owns and
 * must touch nothing the parent still uses (no bytes on a shared
 * connection, no lock another thread may have held).  A part without it
 * is kept as it was and never used again.
 */
enum weft__part_id {
	WEFT__PART_FD,          /* io/fd.c: descriptors tasks wait on */
	WEFT__PART_POOL,        /* io/pool.c: the offload pool */
	WEFT__PART_FETCH,       /* io/fetch_driver.c: libcurl's multi handle */
	WEFT__PART_HOOK,        /* hook/hook.c: interposed waits a signal ends */
	WEFT__PART_MAX
};

struct weft__part_type {
	enum weft__part_id id;
	size_t size;
	int (*init)(void *part, struct weft_rt *rt);   /* 0, or -1 and errno */
	void (*term)(void *part);
	void (*forked)(void *part);                     /* may be NULL */
};

/* The part, made now if it does not exist yet; NULL and errno. */
void *weft__rt_part(struct weft_rt *rt, const struct weft__part_type *type);
/* The part if it exists (rt may be NULL). */
void *weft__rt_part_peek(struct weft_rt *rt, enum weft__part_id id);

/* ---- waiting -------------------------------------------------------------- */

/*
 * How a park waits, said once at the park; the scheduler keeps the counts
 * that deadlock detection and the idle loop need.
 *   NOINTR    ignore cancellation and the deadline once parked: for waits
 *             that must run to their end (I/O into the caller's buffer);
 *   EXTERNAL  something outside the run queue ends it: an fd, the pool, a
 *             transfer, another thread (so it is not a deadlock, and the
 *             loop keeps looking at the poller);
 *   SHARED    an object shared between threads ends it (an EXTERNAL wait
 *             after which the idle loop spins a little before sleeping).
 */
#define WEFT__PARK_NOINTR   1
#define WEFT__PARK_EXTERNAL 2
#define WEFT__PARK_SHARED   (4 | WEFT__PARK_EXTERNAL)

/*
 * Suspend the calling task (or main) until weft__unpark, and return the
 * error given there: 0, or why the wait ended early.  Every wait in weft
 * goes through here, so every wait honours the same rules:
 *   - a cancelled task does not wait: ECANCELED at once, or as soon as
 *     weft_cancel is called while it waits;
 *   - the task's deadline (weft_deadline_push) ends the wait: ETIMEDOUT,
 *     at once if it is already past;
 *   - wake_at (INT64_MAX: none) ends the wait with 0 (a sleep's end);
 *   - EDEADLK: nothing can ever wake any task of this runtime (main only);
 *   - EMFILE, ENFILE, ENOMEM: an EXTERNAL wait needed the loop's poller
 *     and it could not be made (the first such wait of a thread).
 * A wait must tolerate being woken for nothing: it checks what it waits
 * for and parks again.
 */
int weft__park_until(struct weft_rt *rt, int64_t wake_at, int flags);

static inline int weft__park(struct weft_rt *rt, int flags)
{
	return weft__park_until(rt, INT64_MAX, flags);
}

/* Make a parked t ready with err as its park's result; a task not parked
 * is left alone.  t's own thread only. */
void weft__unpark(struct weft_rt *rt, struct weft_task *t, int err);

/*
 * Complete a wait of t from any thread: set *done (with release order)
 * and wake t, directly on its own thread, else through its runtime's
 * mailbox.  t may see *done, return and let its thread exit at once: its
 * runtime stays until this call has finished with it.
 */
void weft__wake_done(struct weft_task *t, atomic_int *done);

/* Like weft__unpark, but a task parked NOINTR is left alone. */
void weft__interrupt(struct weft_rt *rt, struct weft_task *t, int err);

/* Let every ready task run, then come back (the task stays ready). */
void weft__yield(struct weft_rt *rt);

/* Would a wait of the calling task end at once?  0, ECANCELED, ETIMEDOUT. */
int weft__interrupted(struct weft_task *self);

/* ---- the loop ------------------------------------------------------------- */

/* The runtime's poller, made by the first call; NULL and errno. */
struct weft__poller *weft__loop_poller(struct weft_rt *rt);

/*
 * A message for a runtime from any thread: the only way anything crosses
 * into a runtime.  The loop runs run(m, rt) on the runtime's thread, in the
 * order messages were posted; when the runtime goes away with messages
 * still queued, it runs run(m, NULL): free what m owns.  m may be posted
 * again once run has started.
 */
struct weft__msg {
	struct weft__qnode node;
	void (*run)(struct weft__msg *m, struct weft_rt *rt);
};

void weft__mailbox_post(struct weft_rt *rt, struct weft__msg *m);

/*
 * Signal handlers (libweft-hook's): a handler that runs on a thread calls
 * weft__signal_noted (async-signal-safe: one thread-local increment).  The
 * thread's loop, back from its wait in the poller or the clock (which the
 * handler cut short), then calls weft__loop_on_signal(rt) if it is set:
 * the hook ends the waits that a signal interrupts in libc.  Set once,
 * before any task waits.
 */
void weft__signal_noted(void);
extern void (*weft__loop_on_signal)(struct weft_rt *rt);

/* ---- tasks ---------------------------------------------------------------- */

/* 0 if the calling task may join t, else EINVAL or EDEADLK. */
int weft__task_joinable(struct weft_rt *rt, struct weft_task *t);
/* Park until t is done (as its one joiner); 0 or why the wait ended. */
int weft__task_wait(struct weft_rt *rt, struct weft_task *t, int flags);
/* Take a finished t's result and free it. */
void weft__task_reap(struct weft_rt *rt, struct weft_task *t, void **result);
/* Has t's function returned? */
int weft__task_done(struct weft_task *t);
/* Is t parked? */
int weft__task_parked(const struct weft_task *t);
/* Wake joiner (NULL: nobody) when t finishes. */
void weft__task_set_joiner(struct weft_task *t, struct weft_task *joiner);
/* t belongs to a group from now on: it can no longer be joined, detached
 * or watched by anyone else. */
void weft__task_adopt(struct weft_task *t);
/* Spawn an internal task: weft_run does not wait for it and weft_stats
 * does not count it (the fetch driver).  NULL and errno. */
struct weft_task *weft__spawn_service(void *(*fn)(void *), void *arg,
    const weft_attr *attr);
/* Keep msg (copied; NULL or "" clears it) as t's weft_errmsg. */
void weft__task_set_errmsg(struct weft_task *t, const char *msg);

/* ---- what a wait is for, and the view of tasks the dump takes ------------ */

/*
 * Every wait says what it waits for before it parks (one call, a few
 * stores); weft_dump and the debugger's scripts read it.  obj, a and b by
 * kind:
 *   SLEEP          a: the wake time (weft_now)
 *   READ, WRITE, ACCEPT, CONNECT: a: the fd
 *   POLL           a: the number of fds, b: the first fd
 *   CHAN_SEND, CHAN_RECV: obj: the channel, a: its length, b: capacity
 *   SELECT         a: the number of cases
 *   MUTEX          obj: the mutex, b: the owner (a struct weft_task *
 *                  of any thread: weft__debug_task_id reads its id)
 *   RWLOCK, COND, SEM, WAITGROUP, GROUP: obj: the object
 *   JOIN           a: the task id joined
 *   FETCH          obj: the URL (a string that lives while the wait does)
 *   OFFLOAD        obj: the function run on the pool
 *   WAITPID        a: the pidfd
 *   SIGWAIT        a: the signalfd
 */
enum weft__wait_kind {
	WEFT__WAIT_NONE, WEFT__WAIT_SLEEP, WEFT__WAIT_READ, WEFT__WAIT_WRITE,
	WEFT__WAIT_ACCEPT, WEFT__WAIT_CONNECT, WEFT__WAIT_POLL,
	WEFT__WAIT_CHAN_SEND, WEFT__WAIT_CHAN_RECV, WEFT__WAIT_SELECT,
	WEFT__WAIT_MUTEX, WEFT__WAIT_RWLOCK, WEFT__WAIT_COND, WEFT__WAIT_SEM,
	WEFT__WAIT_WAITGROUP, WEFT__WAIT_JOIN, WEFT__WAIT_GROUP,
	WEFT__WAIT_FETCH, WEFT__WAIT_OFFLOAD, WEFT__WAIT_WAITPID,
	WEFT__WAIT_SIGWAIT
};

struct weft__wait_note {
	unsigned char kind;
	const void *obj;
	int64_t a, b;
	int64_t since;                /* weft_now when the wait began */
};

/*
 * The calling task (or main) is about to wait for kind.  A task starts
 * with its note (task.h), so this is a few stores and no call.  The time
 * is the loop's last reading, not a new one: a wait began no earlier than
 * that, and later by at most the time tasks ran without the loop.
 */
static inline void weft__wait_note(struct weft_rt *rt, unsigned kind,
    const void *obj, int64_t a, int64_t b)
{
	const struct weft__rt_view *v = (const void *)rt;
	struct weft__wait_note *n = (struct weft__wait_note *)(void *)v->current;

	n->kind = (unsigned char)kind;
	n->obj = obj;
	n->a = a;
	n->b = b;
	n->since = v->clock;
}

/* A task's spawn site and entry, when a layer above spawns for the user
 * (a group's member runs the user's function through its own). */
void weft__task_set_origin(struct weft_task *t, const void *spawn_pc,
    const void *entry);

/* ---- settings and statistics (for api/) --------------------------------- */

/* weft_set_stack_size and weft_set_guard for the calling thread: the value
 * checked first (EINVAL), then the runtime made if need be. */
int weft__rt_set_stack_default(size_t size);
int weft__rt_set_guard_default(int guard);
/* Fill st with rt's counters. */
void weft__rt_stats(struct weft_rt *rt, struct weft_stats *st);

#endif /* WEFT_CORE_CORE_H */

/*
 * Tasks: what a weft_task handle points to (core's own; the layers above
 * use the functions of core/core.h).
 *
 * Task structures come from a per-runtime pool and are never returned to
 * malloc while the runtime lives, so a stale handle (joined twice, say) reads
 * valid memory whose state says FREE instead of faulting.
 */
#ifndef WEFT_CORE_TASK_H
#define WEFT_CORE_TASK_H

#include <stdatomic.h>

#include "base/compiler.h"
#include "base/heap.h"
#include "base/queue.h"
#include "core/core.h"

struct weft__stack;

enum weft__task_state {
	WEFT__FREE = 0,    /* in the pool */
	WEFT__READY,       /* in the run queue */
	WEFT__RUNNING,     /* the current task */
	WEFT__PARKED,      /* waiting for weft__unpark */
	WEFT__DONE,        /* returned, waiting to be joined */
	WEFT__GONE         /* left behind by fork(2): never runs again */
};

struct weft_task {
	/* What spawn, park and switch touch comes first, in two cache
	 * lines; the note must stay first (core.h's weft__wait_note). */
	struct weft__wait_note note;  /* what the last wait was for (dump) */
	struct weft__qnode node;      /* run queue, or the pool's free list */
	struct weft__stack *stack;
	struct weft_rt *rt;
	int wake_err;                 /* what weft__park returns */
	unsigned char state;
	unsigned char detached;
	unsigned char adopted;        /* a group's member */
	unsigned char service;        /* internal: not waited for, not counted */
	unsigned char cancelled;      /* weft_cancel: every wait fails */
	unsigned char nointr;         /* parked in a wait that must run to its end */
	void *(*fn)(void *);
	void *arg;
	void *result;
	uint64_t id;
	struct weft_task *joiner;     /* task parked waiting for this one */
	int64_t scope_deadline;       /* weft_deadline_push; INT64_MAX: none */
	struct weft__heap_node timer; /* in the loop's timer heap while parked */
	int timer_err;                /* what the park returns if the timer ends it */
	const void *spawn_pc;         /* weft_spawn's caller */
	const void *entry;            /* the user's function */
	char *errmsg;                 /* weft_errmsg: detail of the last failure */
	struct weft__msg wake_msg;    /* a wake-up from another thread */
	atomic_uchar wake_posted;     /* wake_msg is in the mailbox */
	/*
	 * A crew's task (weft_set_workers) can be joined, detached and
	 * cancelled from any worker: joiner, detached, adopted, fresh, rt,
	 * stack and id change under lock, and finished says "returned" to
	 * every thread.  crew is NULL for a task of a runtime alone, which
	 * keeps the plain single-thread protocol.
	 */
	struct weft__crew *crew;
	atomic_uchar lock;
	unsigned char fresh;          /* crew: not started, no stack yet */
	atomic_int finished;          /* crew: fn has returned */
	size_t want_size;             /* crew: stack to bind (0: default) */
	int want_guard;
	char name[WEFT_NAME_MAX];
};

/* state is read from other threads (a crew's handles, the dump): every
 * write is atomic, so those reads race with nothing. */
static inline void weft__task_state_set(struct weft_task *t, unsigned s)
{
	__atomic_store_n(&t->state, (unsigned char)s, __ATOMIC_RELAXED);
}

static inline unsigned weft__task_state(const struct weft_task *t)
{
	return __atomic_load_n(&t->state, __ATOMIC_RELAXED);
}

/* Tasks come in chunks of this many (task.c); a chunk lives as long as
 * its runtime. */
#define WEFT__TASK_CHUNK 64u

struct weft__task_chunk {
	struct weft__task_chunk *next;
	struct weft_task tasks[WEFT__TASK_CHUNK];
};

struct weft__tasks {
	struct weft__lifo free;       /* the pool */
	struct weft__task_chunk *chunks;
	size_t nchunks;
	uint64_t live;                /* spawned, not yet reaped */
	uint64_t unfinished;          /* spawned, fn not yet returned */
	uint64_t spawned;
	uint64_t bound;               /* crew: tasks bound here, not returned */
	uint64_t id_next, id_end;     /* block of ids this runtime may use */
	struct weft_task *run_waiter; /* parked in weft_run */
};

void weft__tasks_init(struct weft__tasks *ts);
void weft__tasks_term(struct weft_rt *rt);
/*
 * In the child of fork(2), called from self, the forking context (a task
 * or main): every other unfinished task, main included, is GONE — never
 * run, its handle invalid, its stack kept mapped until the runtime ends,
 * since objects it waited on may still point into it.  Finished tasks
 * stay joinable.
 */
void weft__tasks_forked(struct weft_rt *rt, struct weft_task *self);
/* Make t (zeroed) a task of rt that can be woken from any thread. */
void weft__task_init_static(struct weft_task *t, struct weft_rt *rt);
/* A crew's fresh task first runs on rt: give it a stack there; 0, or -1
 * and ENOMEM (it stays fresh). */
int weft__task_bind(struct weft_rt *rt, struct weft_task *t);

#endif /* WEFT_CORE_TASK_H */

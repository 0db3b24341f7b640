/*
 * Tasks: what a weft_task handle points to.
 *
 * Task structures come from a per-runtime pool and are never returned to
 * malloc while the runtime lives, so a stale handle (joined twice, say) reads
 * valid memory whose state says FREE instead of faulting.
 */
#ifndef WEFT_TASK_H
#define WEFT_TASK_H

#include "weft_int.h"

#include <stdatomic.h>

struct weft__stack;

enum weft__task_state {
	WEFT__FREE = 0,    /* in the pool */
	WEFT__READY,       /* in the run queue */
	WEFT__RUNNING,     /* the current task */
	WEFT__PARKED,      /* waiting for weft__unpark */
	WEFT__DONE         /* returned, waiting to be joined */
};

struct weft_task {
	struct weft_task *next;       /* run queue, or pool free list */
	struct weft__stack *stack;
	struct weft_rt *rt;
	void *(*fn)(void *);
	void *arg;
	void *result;
	uint64_t id;
	int64_t timer_at;             /* timer heap key */
	size_t timer_idx;             /* position in the heap, 0 = not in it */
	int timer_err;                /* what the park returns if the timer ends it */
	int64_t scope_deadline;       /* weft_deadline_push; INT64_MAX: none */
	struct weft_task *joiner;     /* task parked in weft_join on this one */
	int wake_err;                 /* what weft__park returns */
	unsigned char state;
	unsigned char detached;
	unsigned char cancelled;      /* weft_cancel: every wait fails */
	unsigned char nointr;         /* parked in a wait that must run to its end */
	char *errmsg;                 /* weft_errmsg: detail of the last failure */
	struct weft_group *group;     /* the group it belongs to, if any */
	struct weft_task *remote_next;  /* in its runtime's remote wake queue */
	atomic_uchar remote_pending;    /* a wake from another thread is queued */
	char name[WEFT_NAME_MAX];
};

struct weft__task_chunk;

struct weft__tasks {
	struct weft_task *free;       /* pool */
	struct weft__task_chunk *chunks;
	uint64_t live;                /* spawned, not yet reaped */
	uint64_t unfinished;          /* spawned, fn not yet returned */
	uint64_t spawned;
	uint64_t id_next, id_end;     /* block of ids this runtime may use */
	struct weft_task *run_waiter; /* parked in weft_run */
};

/* 0 if the calling task may join t, else EINVAL or EDEADLK. */
int weft__task_joinable(struct weft_rt *rt, struct weft_task *t);
/* Park until t is done (as its one joiner); 0 or why the wait ended. */
int weft__task_wait(struct weft_rt *rt, struct weft_task *t, int flags);
/* Take a finished t's result and free it. */
void weft__task_reap(struct weft_rt *rt, struct weft_task *t, void **result);

void weft__tasks_init(struct weft__tasks *ts);
void weft__tasks_term(struct weft__tasks *ts, struct weft_rt *rt);

#endif /* WEFT_TASK_H */

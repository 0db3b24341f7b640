/*
 * Workers: a crew of runtimes, one per OS thread, that share fresh tasks
 * (weft_set_workers(3)).  Only core includes this header.
 *
 * The rule everything here keeps: a task that has started never changes
 * thread (glibc's __errno_location is declared const, so a compiler keeps
 * &errno, and any __thread address, across calls).  What moves is a fresh
 * task: a record with no stack yet.  A spawn on a worker puts it on that
 * worker's fresh queue; a worker with nothing to run takes its own fresh
 * tasks, then steals half of another worker's; the stack is bound where
 * the task first runs (task.c, weft__task_bind).
 *
 * Sleeping.  A worker about to sleep in its poller says so (asleep, and
 * the crew's count of sleepers), then looks once more at every fresh
 * queue (sleeping no longer than until it may steal what it sees there);
 * a spawner pushes, then looks at the count and kicks one sleeper.
 * Both sides store before they load (sequentially consistent), so a fresh
 * task is never left while a worker sleeps.
 *
 * A crew lasts until the process exits: its runtimes are never destroyed,
 * so a task record may move from one runtime's pool to another's without
 * ever pointing at freed memory.
 */
#ifndef WEFT_CORE_CREW_H
#define WEFT_CORE_CREW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "base/queue.h"
#include "core/core.h"

/* A worker count beyond any machine we expect; WEFT_WORKERS too. */
#define WEFT__WORKERS_MAX 256u

struct weft__crew;

/* A runtime's place in its crew (struct weft_rt's worker member). */
struct weft__worker {
	struct weft__crew *crew;      /* NULL: the runtime is alone */
	unsigned index;
	atomic_int lock;              /* the fresh queue's */
	struct weft__queue fresh;     /* tasks not yet started */
	atomic_uint nfresh;           /* its length, read by thieves */
	atomic_int asleep;            /* in the loop's wait, or going there */
	_Atomic int64_t handed_at;    /* a spawner gave us a task: no theft */
	/* Nothing to run: in the loop, spinning or asleep, or not started.
	 * Such a worker takes its fresh tasks itself: no theft. */
	atomic_int looking;
	atomic_int departed;          /* its thread has exited */
	unsigned turn;                /* alternates the run and fresh queues */
	unsigned victim;              /* where the last steal looked first */
	/* weft_run on this thread: parked until the crew has no task. */
	_Atomic(struct weft_task *) run_waiter;
	atomic_int run_woken;
};

struct weft__crew {
	unsigned n;
	_Atomic uint64_t unfinished;  /* every worker's, spawned, not returned */
	atomic_uint sleepers;         /* workers with asleep set */
	/* Start-up: workers register, then wait for go (or failed). */
	pthread_mutex_t start_lock;
	pthread_cond_t start_cond;
	unsigned registered;
	int go, failed, err;
	_Atomic(struct weft_rt *) rt[];  /* [0]: the caller of set_workers */
};

/* The task to run next on a crew's runtime: its run queue, its fresh
 * queue (alternately, so neither starves), then a steal; NULL when none. */
struct weft_task *weft__crew_next(struct weft_rt *rt);

/* A fresh task spawned on rt: queue it, and kick a sleeping worker. */
void weft__crew_push(struct weft_rt *rt, struct weft_task *t);

/* rt's loop is about to sleep for *timeout ns (-1: no end): 1 if fresh
 * work is there to take (do not sleep); else rt is marked asleep until
 * weft__crew_awake, and *timeout cut to when work it sees may be stolen. */
int weft__crew_idle(struct weft_rt *rt, int64_t *timeout);
void weft__crew_awake(struct weft_rt *rt);

/* A task of the crew was spawned (count it) or returned (uncount it;
 * the last one wakes weft_run on every worker). */
void weft__crew_task_begun(struct weft__crew *c);
void weft__crew_task_ended(struct weft__crew *c);

/* weft_run on a crew's runtime: park until no task of the crew is left. */
int weft__crew_run(struct weft_rt *rt);

/* The thread of a crew's runtime has exited (worker 0's may): nothing
 * is placed there any more, its fresh tasks go to the others. */
void weft__crew_departed(struct weft_rt *rt);

/* In the child of fork(2): the runtime is alone again. */
void weft__crew_forked(struct weft_rt *rt);

#endif /* WEFT_CORE_CREW_H */

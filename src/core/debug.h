/*
 * What a debugger needs of core: every runtime of the process, each task
 * as a copy (struct weft__task_view), and the state the watchdog samples.
 * api/dump.c and api/watch.c read it; like core.h, it shows no structure
 * of core's own.
 *
 * The runtimes are in one registry, under one lock; a runtime leaves it
 * before it is freed, so while the lock is held every runtime seen stays.
 * Task structures are never freed while their runtime lives.  What a walk
 * reads of another thread's tasks may change under it: it reads task
 * fields as they stand and everything they point to (stacks, wait
 * objects) with base/saferead.h, so a stale value makes a wrong line,
 * never a fault.
 */
#ifndef WEFT_CORE_DEBUG_H
#define WEFT_CORE_DEBUG_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/list.h"
#include "base/unwind.h"
#include "core/core.h"
#include "weft.h"

enum weft__view_state {
	WEFT__VIEW_READY, WEFT__VIEW_RUNNING, WEFT__VIEW_PARKED,
	WEFT__VIEW_DONE, WEFT__VIEW_GONE
};

struct weft__task_view {
	uint64_t id;
	char name[WEFT_NAME_MAX];
	int state;                    /* enum weft__view_state */
	int is_main;                  /* the thread's own stack */
	int service;                  /* weft's own (the fetch driver) */
	int cancelled;
	int64_t deadline;             /* INT64_MAX: none */
	struct weft__wait_note note;  /* meaningful when PARKED */
	const void *spawn_pc, *entry;
	size_t stack_size, stack_used;  /* 0 for the thread's own stack */
	int has_regs;                 /* regs hold its suspended context */
	struct weft__regs regs;
};

struct weft__rt_view_dbg {
	const void *rt;
	pid_t tid;                    /* the thread's kernel id */
	pthread_t thread;
	int is_caller;                /* the calling thread's own */
	uint64_t progress;            /* see struct weft__sched */
	int task_running;             /* a task (not main) runs, not idle */
	int idle;                     /* asleep in the loop, on current's stack */
	struct weft__regs idle_regs;  /* where, when idle */
	int current_main;             /* the current context is main */
	uint64_t current_id;          /* the current task's */
	char current_name[WEFT_NAME_MAX];
	uint64_t tasks;               /* spawned and not reaped */
};

/*
 * Walk every runtime (only the caller's when own_only) with the registry
 * locked: on_rt for each, then on_task for main and each task of it.
 * Either may be NULL.  Tasks of the calling thread that are parked or
 * ready have their registers; the running one has none (the caller takes
 * its own).
 */
void weft__debug_walk(int own_only,
    void (*on_rt)(const struct weft__rt_view_dbg *, void *),
    void (*on_task)(const struct weft__rt_view_dbg *,
	const struct weft__task_view *, void *),
    void *arg);

/* The id of a task of any thread, read safely (0 if unreadable: the
 * thread's own stack's id, too). */
uint64_t weft__debug_task_id(const void *task);

/* How many threads have a runtime now. */
unsigned weft__debug_runtimes(void);

/* weft's own threads (pool workers, the watchers) come and go: they
 * cannot wake a task by themselves, so the deadlock check leaves them out
 * of the process's threads. */
void weft__debug_own_thread(int delta);
int weft__debug_own_threads(void);

/* The registry (the gdb script reads it by this name). */
extern struct weft__list weft__registry;

/* Registry upkeep (runtime.c). */
void weft__debug_register(struct weft_rt *rt);
void weft__debug_unregister(struct weft_rt *rt);
/* In the child of fork(2): rt, the forking thread's, is the only one. */
void weft__debug_forked(struct weft_rt *rt);

/* A report that everything is asleep (the deadlock report, loop.c):
 * hook set by api/dump.c; NULL writes nothing. */
extern void (*weft__debug_on_deadlock)(void);

/* Defined by api/watch.c; runtime.c refers to it so that a static link
 * keeps the environment switches. */
extern const int weft__watch_linked;

#endif /* WEFT_CORE_DEBUG_H */

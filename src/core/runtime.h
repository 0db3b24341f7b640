/*
 * The per-thread runtime: one struct made of each core module's part, plus
 * room for the parts of the layers above (core.h: weft__rt_part).  Only
 * core includes this header.
 *
 * It is made in stages, each at its first need:
 *   identity  the first weft call on the thread: the main task, empty
 *             queues, no system call beyond the allocation;
 *   spawning  the first spawn: the boot context, the overflow handler and
 *             this thread's alternate signal stack (weft__rt_spawn_ready);
 *   poller    the first wait for something outside the run queue: the
 *             epoll instance and its eventfd (weft__loop_poller);
 *   parts     io's fd table, pool and fetch, each at its first use.
 * It is destroyed when the thread exits (a pthread key destructor); the
 * main thread's lives until the process exits.
 */
#ifndef WEFT_CORE_RUNTIME_H
#define WEFT_CORE_RUNTIME_H

#include <pthread.h>
#include <sys/types.h>

#include "base/list.h"
#include "core/core.h"
#include "core/crew.h"
#include "core/loop.h"
#include "core/scheduler.h"
#include "core/stack.h"
#include "core/task.h"

struct weft_rt {
	struct weft__rt_view view;   /* first: read by core.h's accessors */
	struct weft__sched sched;
	struct weft__tasks tasks;
	struct weft__stacks stacks;
	struct weft__loop loop;
	struct weft__worker worker;  /* crew.h: its place among workers */
	unsigned char spawn_ready;   /* the spawning stage is done */
	void *altstack;              /* signal stack we installed, if any */
	void *parts[WEFT__PART_MAX];
	const struct weft__part_type *part_types[WEFT__PART_MAX];
	struct weft__link dbg_link;  /* in debug.c's registry */
	pid_t tid;                   /* the thread's, for reports */
	pthread_t thread;
};

/* Make the spawning stage if it is not made yet; 0, or -1 and errno. */
int weft__rt_spawn_ready_slow(struct weft_rt *rt);

static inline int weft__rt_spawn_ready(struct weft_rt *rt)
{
	return weft__likely(rt->spawn_ready) ? 0 :
	    weft__rt_spawn_ready_slow(rt);
}

#endif /* WEFT_CORE_RUNTIME_H */

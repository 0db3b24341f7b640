/*
 * The per-thread runtime: one struct made of each module's part, created by
 * the first weft call on a thread and destroyed when the thread exits.
 * Nothing here is shared between threads.
 */
#ifndef WEFT_RUNTIME_H
#define WEFT_RUNTIME_H

#include "fetch.h"
#include "io.h"
#include "pool.h"
#include "poller.h"
#include "scheduler.h"
#include "stack.h"
#include "task.h"
#include "timer.h"

struct weft_rt {
	struct weft__sched sched;
	struct weft__tasks tasks;
	struct weft__stacks stacks;
	struct weft__timers timers;
	struct weft__poller poller;
	struct weft__io io;
	struct weft__pool pool;
	struct weft__fetcher *fetcher;  /* created by the first weft_fetch */
	void *altstack;             /* signal stack we installed, if any */
};

/*
 * Initial-exec TLS: one load, no __tls_get_addr call, and safe to read
 * from the overflow signal handler.  Tasks never migrate between threads,
 * so a cached address of it stays right across switches.
 */
extern __thread struct weft_rt *weft__tls_rt
    __attribute__((tls_model("initial-exec")));

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

#endif /* WEFT_RUNTIME_H */

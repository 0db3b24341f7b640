/*
 * Creating and destroying the per-thread runtime, stage by stage.  See
 * runtime.h.
 */
#include "base/compiler.h"
#include "base/error.h"
#include "base/alloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/sys.h"
#include "core/debug.h"
#include "core/overflow.h"
#include "core/runtime.h"

__thread struct weft_rt *weft__tls_rt
    __attribute__((tls_model("initial-exec")));

static pthread_key_t rt_key;
static pthread_once_t rt_key_once = PTHREAD_ONCE_INIT;
static int rt_key_err;

static void parts_term(struct weft_rt *rt)
{
	int id;

	/* The layers above first, highest first: fetch uses the pool and
	 * the fd table's poller, the pool posts to the mailbox. */
	for (id = WEFT__PART_MAX - 1; id >= 0; id--) {
		if (!rt->parts[id])
			continue;
		rt->part_types[id]->term(rt->parts[id]);
		free(rt->parts[id]);
		rt->parts[id] = NULL;
	}
}

static void rt_destroy(void *p)
{
	struct weft_rt *rt = p;

	weft__tls_rt = NULL;
	/* A crew lasts until the process exits (crew.h): its runtimes hold
	 * records of each other's tasks.  Still registered, so reachable. */
	if (rt->worker.crew) {
		weft__crew_departed(rt);
		return;
	}
	weft__debug_unregister(rt);
	/* A task of ours saw its wait done while the other thread was still
	 * posting the wake-up: let that thread finish with us first. */
	while (atomic_load(&rt->loop.posting))
		weft__sys_sched_yield();
	parts_term(rt);
	weft__loop_discard_mail(&rt->loop);
	weft__tasks_term(rt);
	weft__stacks_term(&rt->stacks);
	weft__loop_term(&rt->loop);
	weft__overflow_thread_term(rt->altstack);
	free(rt);
}

/* ---- fork --------------------------------------------------------------- */

/*
 * The child of fork(2) has one thread, the caller.  Its runtime, if it has
 * one, must stop sharing the parent's epoll instance and eventfd (each
 * process would take the other's events), forget pool threads and libcurl
 * connections it does not have, and keep only the forking context:
 * weft(7), FORK.  Everything is made anew at its next use.
 */

/* Parts that cannot be freed in the child (core.h), still reachable so
 * that a leak checker does not report them. */
struct kept_part {
	struct kept_part *next;
	void *part;
};
static struct kept_part *kept_parts;

static void parts_forked(struct weft_rt *rt)
{
	struct kept_part *k;
	int id;

	for (id = WEFT__PART_MAX - 1; id >= 0; id--) {
		void *part = rt->parts[id];

		if (!part)
			continue;
		rt->parts[id] = NULL;
		if (rt->part_types[id]->forked) {
			rt->part_types[id]->forked(part);
			free(part);
		} else if ((k = weft__malloc(sizeof(*k)))) {
			k->part = part;
			k->next = kept_parts;
			kept_parts = k;
		}
	}
}

static void rt_forked(void)
{
	struct weft_rt *rt = weft__tls_rt;
	int err = errno;

	if (!rt)
		return;               /* a thread without a runtime forked */
	weft__debug_forked(rt);
	parts_forked(rt);
	weft__loop_forked(&rt->loop);
	weft__sched_forked(rt);
	weft__crew_forked(rt);
	weft__tasks_forked(rt, rt->view.current);
	errno = err;
}

static void rt_key_create(void)
{
	rt_key_err = pthread_key_create(&rt_key, rt_destroy);
	if (!rt_key_err)
		rt_key_err = pthread_atfork(NULL, NULL, rt_forked);
}

struct weft_rt *weft__rt_create(void)
{
	struct weft_rt *rt;

	pthread_once(&rt_key_once, rt_key_create);
	if (rt_key_err)
		return weft__fail_null(rt_key_err);
	if (!(rt = weft__calloc(1, sizeof(*rt))))
		return weft__fail_null(ENOMEM);
	weft__link_init(&rt->dbg_link);
	weft__sched_init(rt);
	weft__tasks_init(&rt->tasks);
	weft__stacks_init(&rt->stacks);
	weft__loop_init(&rt->loop);
	/* Room in the timer heap for main's waits (task.c makes it for
	 * the tasks): no wait fails for want of memory. */
	if (weft__heap_reserve(&rt->loop.timers, 1) == -1 ||
	    pthread_setspecific(rt_key, rt) != 0) {
		rt_destroy(rt);
		return weft__fail_null(ENOMEM);
	}
	weft__tls_rt = rt;
	weft__debug_register(rt);
	(void)*(const volatile int *)&weft__watch_linked;
	return rt;
}

int weft__rt_spawn_ready_slow(struct weft_rt *rt)
{
	if (weft__ctx_boot_init(&rt->sched.boot) == -1 ||
	    weft__overflow_thread_init(&rt->altstack) == -1)
		return weft__fail(errno ? errno : ENOMEM);
	rt->spawn_ready = 1;
	return 0;
}

int64_t weft__main_deadline(struct weft_rt *rt)
{
	return rt ? rt->sched.main_task.scope_deadline : INT64_MAX;
}

/* ---- the parts of the layers above -------------------------------------- */

void *weft__rt_part(struct weft_rt *rt, const struct weft__part_type *type)
{
	void *part = rt->parts[type->id];

	if (weft__likely(part != NULL))
		return part;
	if (!(part = weft__calloc(1, type->size)))
		return weft__fail_null(ENOMEM);
	if (type->init(part, rt) == -1) {
		int err = errno;

		free(part);
		return weft__fail_null(err);
	}
	rt->part_types[type->id] = type;
	rt->parts[type->id] = part;
	return part;
}

void *weft__rt_part_peek(struct weft_rt *rt, enum weft__part_id id)
{
	return rt ? rt->parts[id] : NULL;
}

/* ---- settings and statistics -------------------------------------------- */

int weft__rt_set_stack_default(size_t size)
{
	struct weft_rt *rt;

	if (!weft__stack_size_ok(size))
		return weft__fail(EINVAL);
	if (!(rt = weft__rt_get()))
		return -1;
	rt->stacks.default_size = weft__page_round(size);
	return 0;
}

int weft__rt_set_guard_default(int guard)
{
	struct weft_rt *rt;

	if (guard < WEFT_GUARD_AUTO || guard > WEFT_GUARD_CANARY)
		return weft__fail(EINVAL);
	if (!(rt = weft__rt_get()))
		return -1;
	rt->stacks.default_guard = guard;
	return 0;
}

void weft__rt_stats(struct weft_rt *rt, struct weft_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->tasks_live = rt->tasks.live;
	st->tasks_spawned = rt->tasks.spawned;
	st->switches = rt->sched.switches;
	st->stacks_guarded = rt->stacks.nguarded;
	st->stacks_canary = rt->stacks.ncanary;
	st->stacks_cached = rt->stacks.ncached;
	st->arenas = rt->stacks.narenas;
	st->arenas_resting = rt->stacks.nresting;
	st->guard_budget = weft__stack_guard_budget();
	st->poller_changes = rt->loop.poller ?
	    weft__poller_changes(rt->loop.poller) : 0;
}

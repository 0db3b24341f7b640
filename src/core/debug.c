/*
 * The registry of runtimes and the copies of tasks the dump and the
 * watchdog read.  See debug.h.
 */
#include "base/compiler.h"
#include "base/error.h"

#include <pthread.h>
#include <string.h>

#include "base/list.h"
#include "base/saferead.h"
#include "base/sys.h"
#include "core/debug.h"
#include "core/runtime.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
/* Not static: the debugger's script (share/weft-gdb.py) starts here. */
struct weft__list weft__registry;            /* zero: empty */
static unsigned registry_count;

void (*weft__debug_on_deadlock)(void);

static atomic_int own_threads;

void weft__debug_own_thread(int delta)
{
	atomic_fetch_add(&own_threads, delta);
}

int weft__debug_own_threads(void)
{
	return atomic_load(&own_threads);
}

void weft__debug_register(struct weft_rt *rt)
{
	rt->tid = weft__sys_gettid();
	rt->thread = pthread_self();
	pthread_mutex_lock(&registry_lock);
	weft__list_push_back(&weft__registry, &rt->dbg_link);
	registry_count++;
	pthread_mutex_unlock(&registry_lock);
}

void weft__debug_unregister(struct weft_rt *rt)
{
	/* Neighbours' links change under the lock: look at ours there. */
	pthread_mutex_lock(&registry_lock);
	if (weft__link_linked(&rt->dbg_link)) {
		weft__list_remove(&weft__registry, &rt->dbg_link);
		registry_count--;
	}
	pthread_mutex_unlock(&registry_lock);
}

void weft__debug_forked(struct weft_rt *rt)
{
	/* The other threads are not in the child, and one of them may
	 * have held the lock. */
	pthread_mutex_init(&registry_lock, NULL);
	weft__registry.first = weft__registry.last = NULL;
	weft__link_init(&rt->dbg_link);
	weft__list_push_back(&weft__registry, &rt->dbg_link);
	registry_count = 1;
	rt->tid = weft__sys_gettid();
	rt->thread = pthread_self();
}

uint64_t weft__debug_task_id(const void *task)
{
	uint64_t id = 0;

	if (task)
		weft__safe_read(&id, &((const struct weft_task *)task)->id,
		    sizeof(id));
	return id;
}

unsigned weft__debug_runtimes(void)
{
	unsigned n;

	pthread_mutex_lock(&registry_lock);
	n = registry_count;
	pthread_mutex_unlock(&registry_lock);
	return n;
}

/* ---- copies ------------------------------------------------------------- */

static int view_state(unsigned char state)
{
	switch (state) {
	case WEFT__READY: return WEFT__VIEW_READY;
	case WEFT__RUNNING: return WEFT__VIEW_RUNNING;
	case WEFT__PARKED: return WEFT__VIEW_PARKED;
	case WEFT__DONE: return WEFT__VIEW_DONE;
	default: return WEFT__VIEW_GONE;
	}
}

/* The task at t as it stands; -1 if it is free (or unreadable). */
static int task_copy(const struct weft_task *t, struct weft_task *copy)
{
	if (weft__safe_read(copy, t, sizeof(*copy)) == -1 ||
	    copy->state == WEFT__FREE)
		return -1;
	return 0;
}

static void view_make(const struct weft_task *tc, int is_main,
    struct weft__task_view *v)
{
	struct weft__stack st;

	memset(v, 0, sizeof(*v));
	v->id = tc->id;
	memcpy(v->name, tc->name, sizeof(v->name));
	v->name[sizeof(v->name) - 1] = '\0';
	v->state = view_state(tc->state);
	v->is_main = is_main;
	v->service = tc->service;
	v->cancelled = tc->cancelled;
	v->deadline = tc->scope_deadline;
	v->note = tc->note;
	v->spawn_pc = tc->spawn_pc;
	v->entry = tc->entry;
	if (!tc->stack || weft__safe_read(&st, tc->stack, sizeof(st)) == -1)
		return;
	if (st.kind != WEFT__STACK_THREAD) {
		v->stack_size = (size_t)((uintptr_t)tc->stack -
		    (uintptr_t)st.lo);
		if (st.low_sp && st.low_sp < (uintptr_t)tc->stack)
			v->stack_used = (size_t)((uintptr_t)tc->stack -
			    st.low_sp);
	}
	/* A suspended context has its registers saved; a running one (or
	 * one never entered) has none to show. */
	if ((tc->state == WEFT__PARKED || tc->state == WEFT__READY ||
	    tc->state == WEFT__GONE) && !st.ctx.fresh)
		v->has_regs = weft__ctx_saved_regs(&st.ctx, &v->regs) == 0;
}

static void rt_view(const struct weft_rt *rt, struct weft__rt_view_dbg *r)
{
	struct weft_task *cur = NULL, copy;

	memset(r, 0, sizeof(*r));
	r->rt = rt;
	r->tid = rt->tid;
	r->thread = rt->thread;
	r->is_caller = rt == weft__tls_rt;
	r->progress = atomic_load_explicit(&rt->sched.progress,
	    memory_order_relaxed);
	r->idle = atomic_load_explicit(&rt->loop.idle, memory_order_relaxed);
	if (r->idle)
		weft__safe_read(&r->idle_regs, &rt->loop.idle_regs,
		    sizeof(r->idle_regs));
	weft__safe_read(&cur, &rt->view.current, sizeof(cur));
	r->current_main = !cur || cur == &rt->sched.main_task;
	if (!r->current_main && weft__safe_read(&copy, cur, sizeof(copy)) == 0) {
		r->task_running = !r->idle;
		r->current_id = copy.id;
		memcpy(r->current_name, copy.name, sizeof(r->current_name));
		r->current_name[sizeof(r->current_name) - 1] = '\0';
	}
	weft__safe_read(&r->tasks, &rt->tasks.live, sizeof(r->tasks));
}

static void walk_tasks(struct weft_rt *rt, const struct weft__rt_view_dbg *r,
    void (*on_task)(const struct weft__rt_view_dbg *,
	const struct weft__task_view *, void *), void *arg)
{
	struct weft__task_chunk *c = NULL, *next;
	struct weft_task copy;
	struct weft__task_view v;
	unsigned i;

	if (task_copy(&rt->sched.main_task, &copy) == 0) {
		view_make(&copy, 1, &v);
		on_task(r, &v, arg);
	}
	weft__safe_read(&c, &rt->tasks.chunks, sizeof(c));
	for (; c; c = next) {
		for (i = 0; i < WEFT__TASK_CHUNK; i++) {
			if (task_copy(&c->tasks[i], &copy) == -1)
				continue;
			view_make(&copy, 0, &v);
			on_task(r, &v, arg);
		}
		if (weft__safe_read(&next, &c->next, sizeof(next)) == -1)
			break;
	}
}

void weft__debug_walk(int own_only,
    void (*on_rt)(const struct weft__rt_view_dbg *, void *),
    void (*on_task)(const struct weft__rt_view_dbg *,
	const struct weft__task_view *, void *),
    void *arg)
{
	struct weft__link *l;
	struct weft__rt_view_dbg r;

	pthread_mutex_lock(&registry_lock);
	weft__list_each(l, &weft__registry) {
		struct weft_rt *rt = weft__container_of(l, struct weft_rt,
		    dbg_link);

		if (own_only && rt != weft__tls_rt)
			continue;
		rt_view(rt, &r);
		if (on_rt)
			on_rt(&r, arg);
		if (on_task)
			walk_tasks(rt, &r, on_task, arg);
	}
	pthread_mutex_unlock(&registry_lock);
}

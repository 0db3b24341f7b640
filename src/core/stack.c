/*
 * Task stacks.
 *
 * Every stack is a slot of an arena: one mapping that holds many stacks,
 * so creating and freeing stacks seldom costs a system call.  Two kinds of
 * arena, chosen per task by the guard policy:
 *
 *  guarded  [guard | stack ..... desc][guard | stack ..... desc] ...
 *           a guard page below each slot, made when the slot is first
 *           carved, turns an overflow into a SIGSEGV that the handler here
 *           reports.  On Linux 6.13 and later the guard is a guard region
 *           (madvise MADV_GUARD_INSTALL): a marker in the page tables that
 *           does not split the mapping, so guarded stacks are unlimited.
 *           Before that it is a PROT_NONE page (mprotect), each splits the
 *           mapping, so a guarded stack costs two of the process's kernel
 *           mappings, and Linux allows 65530 by default: see the budget.
 *
 *  canary   [lead page | stack ..... desc|c][stack ..... desc|c] ...
 *           no guard pages: the whole arena is one mapping.  The top word
 *           of each slot (c) is the canary of the slot above it, checked
 *           whenever that slot's task switches out.  It shares a page with
 *           the lower slot's descriptor, resident anyway, so it costs no
 *           memory of its own; slot 0's canary sits in the lead page.
 *
 * The descriptor (struct weft__stack) lives at the top of its stack.  Pages
 * are committed only when touched (MAP_NORESERVE), so a sleeping task costs
 * about the one page holding its descriptor and first frames.
 *
 * A stack whose task has finished still holds a suspended context in the
 * task loop (task.c); the cache keeps such stacks so that the next spawn
 * resumes that context instead of building a new one.  Past the cache a
 * stack goes back to its arena.  An arena with no stack in use rests, still
 * mapped and first in line for new stacks, and is unmapped once it has
 * rested REST_NS: the loop looks (weft__stacks_tidy).  Unmapping it at once
 * made a burst of tasks pay for freeing its pages inside the burst, and
 * the next burst pay again for faulting them in, which on a VM costs more
 * than the tasks' own work.  A stack is never unmapped by the code running
 * on it: weft__stack_put with running set leaves it as a zombie, destroyed
 * on the next call.
 */
#include "base/compiler.h"
#include "base/error.h"
#include "base/alloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/sys.h"
#include "core/stack.h"

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define VALGRIND_STACK_REGISTER(lo, hi) 0u
#define VALGRIND_STACK_DEREGISTER(id) ((void)(id))
#define RUNNING_ON_VALGRIND 0
#endif

#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_NOACCESS(p, n) ((void)(p), (void)(n))
#define VALGRIND_MAKE_MEM_UNDEFINED(p, n) ((void)(p), (void)(n))
#endif

/*
 * Under Memcheck a slot's stack is accessible only while a task may run
 * on it: an arena is mapped inaccessible, a slot is opened when carved or
 * handed out again, and closed, all but its descriptor, when it goes
 * back.  Memcheck reads every accessible byte for pointers when a process
 * ends, and 33 MB arenas kept resting made that scan take seconds; a
 * stray access to a free slot is reported too.  No-ops elsewhere.
 */
#define VG_OPEN(p, n) VALGRIND_MAKE_MEM_UNDEFINED(p, n)
#define VG_CLOSE(p, n) VALGRIND_MAKE_MEM_NOACCESS(p, n)

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102   /* Linux 6.13 */
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23   /* Linux 5.14 */
#endif

#define CANARY_SLOTS 256u        /* stacks per canary arena */
#define GUARDED_SLOTS 256u       /* stacks per guarded arena */
#define CACHE_MAX 64u
#define REST_NS 1000000000       /* an empty arena stays mapped this long */
#define SLOT_TOP_RESERVE 64u     /* top of a canary slot: the canary above */
#define POPULATE_MAX 64u         /* top pages committed in one call */

struct weft__arena {
	struct weft__link room;            /* in the list of arenas with room */
	struct weft__link all;             /* in the list of every arena */
	char *base;                        /* first slot */
	char *map;                         /* the mapping */
	size_t len;
	size_t size;                       /* stack size asked for */
	size_t slot_size;                  /* size plus guard page, if any */
	size_t guard;                      /* guard bytes below each slot */
	unsigned nslots;
	unsigned carved;                   /* slots handed out at least once */
	unsigned populated;                /* slots whose top page is in */
	unsigned inuse;
	unsigned char guards_in;           /* every slot's guard region is in */
	struct weft__lifo free;            /* freed slots, descriptors intact */
	struct weft__link rest;            /* in the list of resting arenas */
	int64_t rest_since;                /* when its last stack came back */
};

/* ---- the process-wide mapping budget ------------------------------------ */

/*
 * The kernel's mapping limit is per process, so this is the one piece of
 * state shared by all runtimes: an atomic count against a limit read once,
 * and whether guard regions exist, probed once.
 */
static pthread_once_t budget_once = PTHREAD_ONCE_INIT;
static uint64_t guard_budget;
static _Atomic uint64_t guarded_in_use;
static int guard_regions;

/* Can this kernel make guard regions?  WEFT_GUARD_REGIONS=0 says don't. */
static int probe_guard_regions(void)
{
	const char *env = getenv("WEFT_GUARD_REGIONS");
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *p;
	int ok;

	if (env && strcmp(env, "0") == 0)
		return 0;
	p = weft__sys_mmap(2 * page, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
	if (p == MAP_FAILED)
		return 0;
	ok = weft__sys_madvise(p, page, MADV_GUARD_INSTALL) == 0;
	weft__sys_munmap(p, 2 * page);
	return ok;
}

static void budget_init(void)
{
	unsigned long limit = 65530;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "re");

	guard_regions = probe_guard_regions();

	if (f) {
		if (fscanf(f, "%lu", &limit) != 1)
			limit = 65530;
		fclose(f);
	}
	/* A quarter stays for the program's own mappings; two per stack. */
	guard_budget = (limit - limit / 4) / 2;
}

static int guard_reserve(void)
{
	if (atomic_fetch_add_explicit(&guarded_in_use, 1,
	    memory_order_relaxed) < guard_budget)
		return 1;
	atomic_fetch_sub_explicit(&guarded_in_use, 1, memory_order_relaxed);
	return 0;
}

static void guard_unreserve(void)
{
	atomic_fetch_sub_explicit(&guarded_in_use, 1, memory_order_relaxed);
}

uint64_t weft__stack_guard_budget(void)
{
	uint64_t used;

	pthread_once(&budget_once, budget_init);
	if (guard_regions)
		return UINT64_MAX;
	used = atomic_load_explicit(&guarded_in_use, memory_order_relaxed);
	return used < guard_budget ? guard_budget - used : 0;
}

/* ---- sizes -------------------------------------------------------------- */

static size_t page_size(void)
{
	static _Atomic size_t page;
	size_t p = atomic_load_explicit(&page, memory_order_relaxed);

	if (!p) {
		p = (size_t)sysconf(_SC_PAGESIZE);
		atomic_store_explicit(&page, p, memory_order_relaxed);
	}
	return p;
}

size_t weft__page_round(size_t n)
{
	size_t p = page_size();

	return (n + p - 1) & ~(p - 1);
}

int weft__stack_size_ok(size_t size)
{
	return size >= WEFT_STACK_MIN && size <= ((size_t)1 << 40);
}

/* The descriptor sits at the top; frames grow down from just below it. */
static struct weft__stack *descriptor_below(char *top)
{
	uintptr_t d = (uintptr_t)top - sizeof(struct weft__stack);

	return (struct weft__stack *)(d & ~(uintptr_t)63);
}

/* ---- one stack ---------------------------------------------------------- */

static int prepare(struct weft__stack *s, void (*entry)(void *))
{
	size_t usable = (size_t)((char *)s - s->lo);

	s->task = NULL;
	s->node.next = NULL;
	s->low_sp = UINTPTR_MAX;
	UNPOISON(s->lo, usable);
	VG_OPEN(s->lo, usable);
	s->vg_id = VALGRIND_STACK_REGISTER(s->lo, (char *)s - 1);
	if (weft__ctx_prepare(&s->ctx, s->lo, usable, entry, s) == -1) {
		VALGRIND_STACK_DEREGISTER(s->vg_id);
		return -1;
	}
	return 0;
}

/* a has room again: first in line for the next stack of its size. */
static void arena_list(struct weft__stacks *st, struct weft__arena *a)
{
	if (!weft__link_linked(&a->room))
		weft__list_push_front(&st->arenas, &a->room);
}

/*
 * One advice for the same range of n slots from slot first on, in one
 * process_madvise: the range starts off bytes into each slot and is len
 * long.  0 when the kernel took it all.  A kernel that refuses the call
 * or the advice (ENOSYS, EINVAL, EPERM, EBADF) sets *refused, and the
 * caller's fallback is used from then on; a passing failure (memory)
 * does not.
 */
static int slots_advise(const struct weft__arena *a, unsigned first,
    unsigned n, size_t off, size_t len, int advice, _Atomic int *refused)
{
	struct iovec *v;
	ssize_t r;
	unsigned i;

	if (atomic_load_explicit(refused, memory_order_relaxed))
		return -1;
	/* Not on the stack: a spawning task's may be small. */
	if (!(v = weft__malloc(n * sizeof(*v))))
		return -1;
	for (i = 0; i < n; i++) {
		v[i].iov_base = a->base + (size_t)(first + i) * a->slot_size +
		    off;
		v[i].iov_len = len;
	}
	r = weft__sys_madvise_ranges(v, n, advice);
	free(v);
	if (r == (ssize_t)(n * len))
		return 0;
	if (r == -1 && (errno == ENOSYS || errno == EINVAL ||
	    errno == EPERM || errno == EBADF))
		atomic_store_explicit(refused, 1, memory_order_relaxed);
	return -1;
}

/* process_madvise refused guard regions once: one call per slot then. */
static _Atomic int no_batched_guards;

/*
 * Install the guard regions of every slot of a new arena in one system
 * call, rather than one call per slot as each is carved: 100,000 tasks
 * made 100,000 madvise calls.  Where the kernel refuses it, slots get
 * theirs one by one, as before.
 */
static void arena_guards_in(struct weft__arena *a)
{
	if (guard_regions && a->guard && !a->guards_in &&
	    slots_advise(a, 0, a->nslots, 0, a->guard, MADV_GUARD_INSTALL,
	    &no_batched_guards) == 0)
		a->guards_in = 1;
}

static struct weft__arena *arena_new(struct weft__stacks *st, size_t size,
    int guarded)
{
	struct weft__arena *a = weft__calloc(1, sizeof(*a));
	size_t lead;

	if (!a)
		return NULL;
	weft__link_init(&a->room);
	weft__link_init(&a->all);
	weft__link_init(&a->rest);
	a->size = size;
	a->guard = guarded ? st->page : 0;
	a->slot_size = size + a->guard;
	a->nslots = guarded ? GUARDED_SLOTS : CANARY_SLOTS;
	lead = guarded ? 0 : st->page;
	a->len = lead + (size_t)a->nslots * a->slot_size;
	a->map = weft__sys_mmap(a->len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK);
	if (a->map == MAP_FAILED) {
		free(a);
		return NULL;
	}
	VG_CLOSE(a->map, a->len);
	/* A huge page would commit 2 MiB where a task touches 4 KiB. */
	weft__sys_madvise(a->map, a->len, MADV_NOHUGEPAGE);
	a->base = a->map + lead;
	arena_guards_in(a);
	st->narenas++;
	weft__list_push_front(&st->all_arenas, &a->all);
	arena_list(st, a);
	return a;
}

static void arena_wake(struct weft__stacks *st, struct weft__arena *a)
{
	if (weft__link_linked(&a->rest)) {
		weft__list_remove(&st->resting, &a->rest);
		st->nresting--;
	}
}

static void arena_free(struct weft__stacks *st, struct weft__arena *a)
{
	arena_wake(st, a);
	weft__list_remove(&st->arenas, &a->room);
	weft__list_remove(&st->all_arenas, &a->all);
	weft__sys_munmap(a->map, a->len);
	st->narenas--;
	free(a);
}

static int arena_has_room(const struct weft__arena *a)
{
	return !weft__lifo_empty(&a->free) || a->carved < a->nslots;
}

/* Where slot i's descriptor goes: the top of the stack, below the
 * canary of the slot above in a canary arena. */
static struct weft__stack *slot_descriptor(const struct weft__arena *a,
    unsigned i)
{
	char *lo = a->base + (size_t)i * a->slot_size + a->guard;

	return descriptor_below(lo + a->size -
	    (a->guard ? 0 : SLOT_TOP_RESERVE));
}

/* process_madvise refused to populate once: slots fault their pages in. */
static _Atomic int no_populate;

/*
 * Commit the top pages of slots i onwards, the ones their tasks touch
 * first, in one system call, before carving slot i writes its
 * descriptor.  Faulting a fresh page in costs about twice what
 * committing it this way does on a VM (12 us against 6.5 here), and a
 * sleeping task holds that one page.  The batch is as large as the
 * slots carved so far (1, 1, 2, 4, ... up to POPULATE_MAX), so an arena
 * never holds more committed pages ahead of its tasks than in use.  On
 * any failure the pages are faulted in as before.
 */
static void arena_populate(struct weft__arena *a, unsigned i, size_t page)
{
	unsigned n = i ? i : 1;
	/* The same offset in every slot: they are all alike. */
	size_t top = ((uintptr_t)slot_descriptor(a, 0) & ~(uintptr_t)(page -
	    1)) - (uintptr_t)a->base;

	if (i < a->populated)
		return;
	if (n > POPULATE_MAX)
		n = POPULATE_MAX;
	if (n > a->nslots - i)
		n = a->nslots - i;
	a->populated = i + n;
	(void)slots_advise(a, i, n, top, page, MADV_POPULATE_WRITE,
	    &no_populate);
}

/* Lay out slot number i of a: guard page, descriptor, canary. */
static struct weft__stack *arena_carve(struct weft__stacks *st,
    struct weft__arena *a, unsigned i)
{
	char *slot = a->base + (size_t)i * a->slot_size;
	char *lo = slot + a->guard;
	struct weft__stack *s;

	if (a->guard && !a->guards_in && (guard_regions ?
	    weft__sys_madvise(slot, a->guard, MADV_GUARD_INSTALL) :
	    weft__sys_mprotect(slot, a->guard, PROT_NONE)) == -1)
		return NULL;
	arena_populate(a, i, st->page);
	VG_OPEN(lo, a->size);
	s = slot_descriptor(a, i);
	s->lo = lo;
	s->size = a->size;
	s->arena = a;
	s->kind = a->guard ? WEFT__STACK_GUARDED : WEFT__STACK_ARENA;
	/* Canary: the word just below the slot, in the lower slot's top
	 * reserve or in the lead page. */
	s->canary = a->guard ? NULL : (uint64_t *)lo - 1;
	if (s->canary)
		VG_OPEN(s->canary, sizeof(*s->canary));
	return s;
}

/* A free slot of a with a fresh context. */
static struct weft__stack *arena_take(struct weft__stacks *st,
    struct weft__arena *a, void (*entry)(void *))
{
	struct weft__qnode *n = weft__lifo_pop(&a->free);
	struct weft__stack *s;

	if (n) {
		s = weft__container_of(n, struct weft__stack, node);
	} else {
		s = arena_carve(st, a, a->carved);
		if (!s)
			return NULL;
		a->carved++;
	}
	if (s->canary)
		*s->canary = weft__canary_value(s->canary);
	if (prepare(s, entry) == -1) {
		weft__lifo_push(&a->free, &s->node);
		return NULL;
	}
	if (a->inuse++ == 0)
		arena_wake(st, a);
	if (!arena_has_room(a))
		weft__list_remove(&st->arenas, &a->room);
	return s;
}

static struct weft__stack *stack_new(struct weft__stacks *st, size_t size,
    int guarded, void (*entry)(void *))
{
	struct weft__arena *a = NULL;
	struct weft__link *l;
	struct weft__stack *s;

	weft__list_each(l, &st->arenas) {
		a = weft__container_of(l, struct weft__arena, room);
		if (a->size == size && !a->guard == !guarded)
			break;
		a = NULL;
	}
	if (!a && !(a = arena_new(st, size, guarded)))
		return NULL;
	s = arena_take(st, a, entry);
	if (!s) {
		if (a->inuse == 0)
			arena_free(st, a);
		return NULL;
	}
	if (guarded)
		st->nguarded++;
	else
		st->ncanary++;
	return s;
}

/* The boundary below which a stack's pages can be given back: the top
 * ones hold the descriptor and the suspended context's frames, with a page
 * of margin. */
static uintptr_t keep_from(const struct weft__stacks *st,
    const struct weft__stack *s)
{
	return ((uintptr_t)s - st->page) & ~(uintptr_t)(st->page - 1);
}

/*
 * Did the task reach below the kept pages?  The lowest stack pointer seen at
 * switches says so when the task went deep and then switched; for depth
 * reached between two switches, look at the page just below the kept ones:
 * frames that went deeper passed through it and left something there.
 * Reading it when it was never touched maps the shared zero page once and
 * costs no memory; later looks are plain loads.
 */
static int went_deep(const struct weft__stacks *st,
    const struct weft__stack *s)
{
	uintptr_t keep = keep_from(st, s);
	const volatile uint64_t *probe;
	size_t i, step = st->page / sizeof(uint64_t) / 8;

	/* Valgrind rightly calls a read below a stack's pointer invalid. */
	if (s->low_sp < keep || st->under_valgrind)
		return 1;
	if (keep - st->page < (uintptr_t)s->lo)
		return 0;
	probe = (const volatile uint64_t *)(keep - st->page);
	for (i = 0; i < 8; i++)
		if (probe[i * step + step - 1])
			return 1;
	return 0;
}

/* Give back the pages below the kept ones. */
static void give_back_pages(struct weft__stacks *st, struct weft__stack *s)
{
	uintptr_t keep = keep_from(st, s);

	if (keep > (uintptr_t)s->lo)
		weft__sys_madvise(s->lo, keep - (uintptr_t)s->lo,
		    MADV_DONTNEED);
	s->low_sp = UINTPTR_MAX;
}

/* Return s to its arena; its suspended context is abandoned. */
static void destroy(struct weft__stacks *st, struct weft__stack *s)
{
	struct weft__arena *a = s->arena;

	VALGRIND_STACK_DEREGISTER(s->vg_id);
	weft__ctx_release(&s->ctx);
	if (s->kind == WEFT__STACK_GUARDED) {
		st->nguarded--;
		if (!guard_regions)
			guard_unreserve();
	} else {
		st->ncanary--;
	}
	/* No probe here: faulting in the zero page under each of thousands
	 * of freed stacks would cost more than it saves. */
	if (s->low_sp < keep_from(st, s))
		give_back_pages(st, s);
	VG_CLOSE(s->lo, (size_t)((char *)s - s->lo));
	weft__lifo_push(&a->free, &s->node);
	arena_list(st, a);
	if (--a->inuse == 0) {
		a->rest_since = weft_now();
		weft__list_push_back(&st->resting, &a->rest);
		st->nresting++;
	}
}

void weft__stacks_tidy_slow(struct weft__stacks *st, int64_t now,
    int64_t *timeout)
{
	struct weft__arena *a;
	int64_t due;

	while (!weft__list_empty(&st->resting)) {
		a = weft__container_of(st->resting.first, struct weft__arena,
		    rest);
		due = weft__add_ns(a->rest_since, REST_NS);
		if (due > now) {
			if (timeout && *timeout != 0 &&
			    (*timeout < 0 || *timeout > due - now))
				*timeout = due - now;
			return;
		}
		arena_free(st, a);
	}
}

/* Does the caller run on s?  A worker binds a fresh task's stack
 * (crew.c) while still on the one its last task finished on. */
static int running_on(const struct weft__stack *s)
{
	const char *here = __builtin_frame_address(0);

	return here >= s->lo && here < (const char *)s;
}

static void reap_zombie(struct weft__stacks *st)
{
	if (st->zombie && !running_on(st->zombie)) {
		destroy(st, st->zombie);
		st->zombie = NULL;
	}
}

/* ---- the interface ------------------------------------------------------ */

int weft__stacks_init(struct weft__stacks *st)
{
	/* No system call here: the guard budget is read at the first
	 * guarded stack, so a runtime that never spawns never pays it. */
	memset(st, 0, sizeof(*st));
	st->page = page_size();
	st->max_cached = CACHE_MAX;
	st->default_size = weft__page_round(WEFT_STACK_DEFAULT);
	st->default_guard = WEFT_GUARD_AUTO;
	st->under_valgrind = RUNNING_ON_VALGRIND != 0;
	return 0;
}

void weft__stacks_term(struct weft__stacks *st)
{
	struct weft__qnode *n;

	reap_zombie(st);
	while ((n = weft__lifo_pop(&st->cache)))
		destroy(st, weft__container_of(n, struct weft__stack, node));
	st->ncached = 0;
	/* Arenas still holding stacks of tasks that never finished. */
	while (!weft__list_empty(&st->all_arenas))
		arena_free(st, weft__container_of(st->all_arenas.first,
		    struct weft__arena, all));
}

static int kind_fits(const struct weft__stack *s, int guard)
{
	return guard == WEFT_GUARD_AUTO ||
	    (guard == WEFT_GUARD_PAGE) == (s->kind == WEFT__STACK_GUARDED);
}

/* A new guarded stack, within the mapping budget if guards cost mappings. */
static struct weft__stack *guarded_new(struct weft__stacks *st, size_t size,
    int must, void (*entry)(void *))
{
	struct weft__stack *s;

	pthread_once(&budget_once, budget_init);
	if (guard_regions)
		return stack_new(st, size, 1, entry);
	if (must)
		atomic_fetch_add_explicit(&guarded_in_use, 1,
		    memory_order_relaxed);
	else if (!guard_reserve())
		return NULL;
	s = stack_new(st, size, 1, entry);
	if (!s)
		guard_unreserve();
	return s;
}

struct weft__stack *weft__stack_get(struct weft__stacks *st, size_t size,
    int guard, void (*entry)(void *))
{
	struct weft__qnode *n = st->cache.top;
	struct weft__stack *s;

	reap_zombie(st);
	s = n ? weft__container_of(n, struct weft__stack, node) : NULL;
	if (s && s->size == size && kind_fits(s, guard)) {
		weft__lifo_pop(&st->cache);
		st->ncached--;
		s->node.next = NULL;
		return s;
	}
	if (guard != WEFT_GUARD_CANARY) {
		s = guarded_new(st, size, guard == WEFT_GUARD_PAGE, entry);
		if (s || guard == WEFT_GUARD_PAGE)
			return s ? s : weft__fail_null(ENOMEM);
	}
	s = stack_new(st, size, 0, entry);
	return s ? s : weft__fail_null(ENOMEM);
}

void weft__stack_put(struct weft__stacks *st, struct weft__stack *s,
    int running)
{
	if (st->zombie != s)
		reap_zombie(st);
	/* A running stack keeps naming its (finished) task until it switches
	 * out, so a canary found broken then still says whose it was. */
	if (!running)
		s->task = NULL;
	if (s->size == st->default_size && st->ncached < st->max_cached) {
		if (went_deep(st, s))
			give_back_pages(st, s);
		weft__lifo_push(&st->cache, &s->node);
		st->ncached++;
		return;
	}
	if (running)
		st->zombie = s;
	else
		destroy(st, s);
}

void weft__stack_discard(struct weft__stacks *st, struct weft__stack *s)
{
	destroy(st, s);
}

/* ---- overflow --------------------------------------------------------- */

int weft__stack_guard_hit(const struct weft__stack *s, const void *addr)
{
	const char *a = addr;

	return s->kind == WEFT__STACK_GUARDED && a >= s->lo - s->arena->guard &&
	    a < s->lo;
}

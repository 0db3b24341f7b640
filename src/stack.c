/*
 * Task stacks.
 *
 * Two kinds, chosen per task by the guard policy:
 *
 *  guarded  [guard page | stack ............ | descriptor]
 *           its own mapping; the PROT_NONE page below turns an overflow into
 *           a SIGSEGV that the handler here reports.  Costs two kernel
 *           mappings, and Linux allows 65530 per process by default.
 *
 *  arena    [lead page | slot 0 | slot 1 | ... ]  one mapping, many stacks
 *           Each slot's top word guards the slot above it: it holds the
 *           canary of that slot, checked whenever its task switches out.
 *           The canary shares a page with the lower slot's descriptor,
 *           which is resident anyway, so it costs no memory of its own.
 *
 * Pages are committed only when touched (MAP_NORESERVE), so a task that
 * sleeps costs about the one page holding its descriptor and first frames.
 *
 * A stack whose task has finished still holds a suspended context in the
 * task loop (task.c); the cache keeps such stacks so that the next spawn
 * resumes that context instead of building a new one.  A stack is never
 * unmapped by the code running on it: stack_put with running set leaves it
 * as a zombie, destroyed on the next call.
 */
#include "weft_int.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "stack.h"
#include "task.h"

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define VALGRIND_STACK_REGISTER(lo, hi) 0u
#define VALGRIND_STACK_DEREGISTER(id) ((void)(id))
#endif

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define ARENA_SLOTS 256u
#define CACHE_MAX 64u
#define SLOT_TOP_RESERVE 64u     /* top of a slot: the canary of the slot above */
#define ALTSTACK_SIZE (64u * 1024u)

struct weft__arena {
	struct weft__arena *next, *prev;   /* list of arenas with room */
	char *base;
	size_t len;
	size_t slot_size;
	unsigned carved;                   /* slots handed out at least once */
	unsigned inuse;
	unsigned char listed;
	struct weft__stack *free;          /* freed slots, descriptors intact */
};

/* ---- the process-wide mapping budget ------------------------------------ */

/*
 * The kernel's mapping limit is per process, so this is the one piece of
 * state shared by all runtimes: an atomic count against a limit read once.
 */
static pthread_once_t budget_once = PTHREAD_ONCE_INIT;
static uint64_t guard_budget;
static _Atomic uint64_t guarded_in_use;

static void budget_init(void)
{
	unsigned long limit = 65530;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "re");

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
	s->next = NULL;
	s->low_sp = UINTPTR_MAX;
	UNPOISON(s->lo, usable);
	s->vg_id = VALGRIND_STACK_REGISTER(s->lo, (char *)s - 1);
	if (weft__ctx_prepare(&s->ctx, s->lo, usable, entry, s) == -1) {
		VALGRIND_STACK_DEREGISTER(s->vg_id);
		return -1;
	}
	return 0;
}

static struct weft__stack *guarded_new(struct weft__stacks *st, size_t size,
    void (*entry)(void *))
{
	size_t page = st->page;
	struct weft__stack *s;
	char *map;

	map = mmap(NULL, page + size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (map == MAP_FAILED)
		return NULL;
	if (mprotect(map, page, PROT_NONE) == -1) {
		munmap(map, page + size);
		return NULL;
	}
	s = descriptor_below(map + page + size);
	s->map = map;
	s->lo = map + page;
	s->size = size;
	s->canary = NULL;
	s->arena = NULL;
	s->kind = WEFT__STACK_GUARDED;
	if (prepare(s, entry) == -1) {
		munmap(map, page + size);
		return NULL;
	}
	st->nguarded++;
	return s;
}

static void arena_list(struct weft__stacks *st, struct weft__arena *a)
{
	if (a->listed)
		return;
	a->prev = NULL;
	a->next = st->arenas;
	if (st->arenas)
		st->arenas->prev = a;
	st->arenas = a;
	a->listed = 1;
}

static void arena_unlist(struct weft__stacks *st, struct weft__arena *a)
{
	if (!a->listed)
		return;
	if (a->prev)
		a->prev->next = a->next;
	else
		st->arenas = a->next;
	if (a->next)
		a->next->prev = a->prev;
	a->listed = 0;
}

static struct weft__arena *arena_new(struct weft__stacks *st, size_t size)
{
	struct weft__arena *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->slot_size = size;
	a->len = st->page + (size_t)ARENA_SLOTS * size;
	a->base = mmap(NULL, a->len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (a->base == MAP_FAILED) {
		free(a);
		return NULL;
	}
	st->narenas++;
	arena_list(st, a);
	return a;
}

static void arena_free(struct weft__stacks *st, struct weft__arena *a)
{
	arena_unlist(st, a);
	munmap(a->base, a->len);
	st->narenas--;
	free(a);
}

static int arena_has_room(const struct weft__arena *a)
{
	return a->free || a->carved < ARENA_SLOTS;
}

/* A slot of a, its descriptor and canary written, context not prepared. */
static struct weft__stack *arena_take(struct weft__stacks *st,
    struct weft__arena *a)
{
	struct weft__stack *s = a->free;
	char *slot;

	if (s) {
		a->free = s->next;
	} else {
		slot = a->base + st->page + (size_t)a->carved++ * a->slot_size;
		s = descriptor_below(slot + a->slot_size - SLOT_TOP_RESERVE);
		s->lo = slot;
		s->size = a->slot_size;
		s->map = NULL;
		s->arena = a;
		s->kind = WEFT__STACK_ARENA;
		/* The word just below the slot: the lower slot's top, or the
		 * lead page for slot 0. */
		s->canary = (uint64_t *)slot - 1;
	}
	*s->canary = weft__canary_value(s->canary);
	a->inuse++;
	if (!arena_has_room(a))
		arena_unlist(st, a);
	return s;
}

static struct weft__stack *arena_stack_new(struct weft__stacks *st,
    size_t size, void (*entry)(void *))
{
	struct weft__arena *a;
	struct weft__stack *s;

	for (a = st->arenas; a; a = a->next)
		if (a->slot_size == size && arena_has_room(a))
			break;
	if (!a && !(a = arena_new(st, size)))
		return NULL;
	s = arena_take(st, a);
	if (prepare(s, entry) == -1) {
		a->inuse--;
		s->next = a->free;
		a->free = s;
		arena_list(st, a);
		return NULL;
	}
	st->ncanary++;
	return s;
}

/*
 * Give back the pages a task used below the top ones, which hold the
 * descriptor and the suspended context's frames (kept: a page of margin).
 * The lowest stack pointer seen at switches tells whether there is
 * anything to give back; depth reached between two switches is not seen,
 * and stays resident until the stack is unmapped.
 */
static void give_back_pages(struct weft__stacks *st, struct weft__stack *s)
{
	uintptr_t keep = ((uintptr_t)s - st->page) & ~(uintptr_t)(st->page - 1);

	if (s->low_sp >= keep)
		return;
	if (keep > (uintptr_t)s->lo)
		madvise(s->lo, keep - (uintptr_t)s->lo, MADV_DONTNEED);
	s->low_sp = UINTPTR_MAX;
}

static void destroy(struct weft__stacks *st, struct weft__stack *s)
{
	struct weft__arena *a = s->arena;

	VALGRIND_STACK_DEREGISTER(s->vg_id);
	if (s->kind == WEFT__STACK_GUARDED) {
		st->nguarded--;
		guard_unreserve();
		munmap(s->map, st->page + s->size);
		return;
	}
	st->ncanary--;
	if (--a->inuse == 0) {
		arena_free(st, a);
		return;
	}
	give_back_pages(st, s);
	s->next = a->free;
	a->free = s;
	arena_list(st, a);
}

static void reap_zombie(struct weft__stacks *st)
{
	if (st->zombie) {
		destroy(st, st->zombie);
		st->zombie = NULL;
	}
}

/* ---- the interface ------------------------------------------------------ */

int weft__stacks_init(struct weft__stacks *st)
{
	memset(st, 0, sizeof(*st));
	pthread_once(&budget_once, budget_init);
	st->page = page_size();
	st->max_cached = CACHE_MAX;
	st->default_size = weft__page_round(WEFT_STACK_DEFAULT);
	st->default_guard = WEFT_GUARD_AUTO;
	return 0;
}

void weft__stacks_term(struct weft__stacks *st)
{
	struct weft__stack *s;

	reap_zombie(st);
	while ((s = st->cache)) {
		st->cache = s->next;
		destroy(st, s);
	}
	st->ncached = 0;
}

static int kind_fits(const struct weft__stack *s, int guard)
{
	return guard == WEFT_GUARD_AUTO ||
	    (guard == WEFT_GUARD_PAGE) == (s->kind == WEFT__STACK_GUARDED);
}

struct weft__stack *weft__stack_get(struct weft__stacks *st, size_t size,
    int guard, void (*entry)(void *))
{
	struct weft__stack *s = st->cache;

	reap_zombie(st);
	if (s && s->size == size && kind_fits(s, guard)) {
		st->cache = s->next;
		st->ncached--;
		s->next = NULL;
		return s;
	}
	if (guard != WEFT_GUARD_CANARY &&
	    (guard == WEFT_GUARD_PAGE || guard_reserve())) {
		if (guard == WEFT_GUARD_PAGE)
			atomic_fetch_add_explicit(&guarded_in_use, 1,
			    memory_order_relaxed);
		s = guarded_new(st, size, entry);
		if (s)
			return s;
		guard_unreserve();
		if (guard == WEFT_GUARD_PAGE)
			return weft__fail_null(ENOMEM);
	}
	s = arena_stack_new(st, size, entry);
	return s ? s : weft__fail_null(ENOMEM);
}

void weft__stack_put(struct weft__stacks *st, struct weft__stack *s,
    int running)
{
	if (st->zombie != s)
		reap_zombie(st);
	s->task = NULL;
	if (s->size == st->default_size && st->ncached < st->max_cached) {
		give_back_pages(st, s);
		s->next = st->cache;
		st->cache = s;
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

/* ---- overflow ----------------------------------------------------------- */

/* Async-signal-safe formatting: no stdio in a signal handler. */
static char *put_str(char *p, char *end, const char *s)
{
	while (*s && p < end)
		*p++ = *s++;
	return p;
}

static char *put_num(char *p, char *end, uint64_t v, unsigned base)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n && p < end)
		*p++ = tmp[--n];
	return p;
}

void weft__stack_overflow(struct weft__stack *s, const char *how,
    const void *addr)
{
	char buf[256], *p = buf, *end = buf + sizeof(buf) - 1;
	const struct weft_task *t = s->task;

	p = put_str(p, end, "weft: task ");
	p = put_num(p, end, t ? t->id : 0, 10);
	p = put_str(p, end, " \"");
	p = put_str(p, end, t ? t->name : "");
	p = put_str(p, end, "\" overflowed its ");
	p = put_num(p, end, s->size, 10);
	p = put_str(p, end, "-byte stack (");
	p = put_str(p, end, how);
	if (addr) {
		p = put_str(p, end, " 0x");
		p = put_num(p, end, (uintptr_t)addr, 16);
	}
	p = put_str(p, end, ")\n");
	if (write(STDERR_FILENO, buf, (size_t)(p - buf)) < 0)
		p = buf; /* nothing more to do: we are about to abort */
	abort();
}

static struct sigaction previous_segv;
static pthread_once_t segv_once = PTHREAD_ONCE_INIT;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	struct weft__stack *s = weft__sched_running_stack();
	char *addr = si->si_addr;

	(void)sig;
	(void)uc;
	if (s && s->kind == WEFT__STACK_GUARDED && addr >= s->map &&
	    addr < s->lo)
		weft__stack_overflow(s, "guard page hit at", addr);
	/* Not ours: return with the previous disposition back in place, so
	 * the faulting instruction faults again and is handled as before. */
	sigaction(SIGSEGV, &previous_segv, NULL);
}

static void segv_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &previous_segv);
}

int weft__stack_thread_init(void **altstack)
{
	stack_t ss, old;

	*altstack = NULL;
	pthread_once(&segv_once, segv_install);
	/* The handler runs on the faulting thread: it needs its own
	 * alternate stack, since the task's stack is what overflowed.
	 * Keep one the application set up. */
	if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE))
		return 0;
	ss.ss_sp = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ss.ss_sp == MAP_FAILED)
		return -1;
	ss.ss_size = ALTSTACK_SIZE;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL) == -1) {
		munmap(ss.ss_sp, ALTSTACK_SIZE);
		return -1;
	}
	*altstack = ss.ss_sp;
	return 0;
}

void weft__stack_thread_term(void *altstack)
{
	stack_t ss;

	if (!altstack)
		return;
	memset(&ss, 0, sizeof(ss));
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
	munmap(altstack, ALTSTACK_SIZE);
}

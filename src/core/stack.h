/*
 * Task stacks: mmap'd, protected against overflow, cached for reuse.
 *
 * A stack's descriptor lives in the top bytes of the stack itself, in the
 * page the task touches first anyway, so a stack costs no separate
 * allocation and a sleeping task little more than that one page.
 */
#ifndef WEFT_CORE_STACK_H
#define WEFT_CORE_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/list.h"
#include "base/queue.h"
#include "core/context.h"
#include "core/overflow.h"

struct weft_task;
struct weft__arena;

enum weft__stack_kind {
	WEFT__STACK_THREAD,   /* the thread's own stack (never allocated here) */
	WEFT__STACK_GUARDED,  /* arena slot with a PROT_NONE page below */
	WEFT__STACK_ARENA     /* arena slot with a canary below */
};

struct weft__stack {
	struct weft__ctx ctx;        /* saved context of whatever runs here */
	struct weft_task *task;      /* task bound to this stack, if any */
	struct weft__qnode node;     /* in the cache or an arena's free list */
	struct weft__arena *arena;   /* the mapping this stack is carved from */
	char *lo;                    /* lowest usable byte */
	size_t size;                 /* bytes asked for, descriptor included */
	uintptr_t low_sp;            /* lowest stack pointer seen at a switch */
	uint64_t *canary;            /* WEFT__STACK_ARENA: word just below lo */
	unsigned vg_id;              /* Valgrind stack id */
	unsigned char kind;
};

struct weft__stacks {
	struct weft__lifo cache;     /* stacks ready for reuse */
	size_t ncached;
	size_t max_cached;
	struct weft__stack *zombie;  /* released while still running on it */
	struct weft__list arenas;    /* arenas with a free slot */
	struct weft__list all_arenas;
	struct weft__list resting;   /* arenas with no stack in use, oldest
	                                first */
	uint64_t nresting;
	size_t page;
	size_t default_size;         /* runtime default, page-rounded */
	int default_guard;
	int under_valgrind;
	uint64_t nguarded, ncanary, narenas;
};

int weft__stacks_init(struct weft__stacks *st);
void weft__stacks_term(struct weft__stacks *st);

/*
 * A stack of size bytes (0: the default) under guard policy, with a fresh
 * context that will call entry(stack) when first switched to, unless it
 * comes from the cache (its context then still sits in entry's loop).
 * NULL and errno ENOMEM on failure.
 */
struct weft__stack *weft__stack_get(struct weft__stacks *st, size_t size,
    int guard, void (*entry)(void *));

/*
 * Give a stack back.  running says the caller is executing on it: it is then
 * never unmapped before the next call into this module.
 */
void weft__stack_put(struct weft__stacks *st, struct weft__stack *s,
    int running);

/* Drop a stack whose context holds frames that will never resume. */
void weft__stack_discard(struct weft__stacks *st, struct weft__stack *s);

/* The canary of an arena stack depends on its address, so a word copied
 * from elsewhere never passes for it. */
static inline uint64_t weft__canary_value(const uint64_t *where)
{
	return (uint64_t)(uintptr_t)where * 0x9e3779b97f4a7c15ull;
}

/* Is addr in the guard page below s? */
int weft__stack_guard_hit(const struct weft__stack *s, const void *addr);

/*
 * Called each time a task's context switches out: note how deep the stack
 * went (so caching it knows which pages to give back) and check the canary.
 */
static inline void weft__stack_switch_out(struct weft__stack *s)
{
	char here;
	uintptr_t sp = (uintptr_t)&here;

	if (sp < s->low_sp)
		s->low_sp = sp;
	if (s->canary && weft__unlikely(*s->canary != weft__canary_value(s->canary)))
		weft__overflow_report(s, "canary overwritten, seen at switch",
		    NULL);
}

/*
 * Unmap the arenas that have had no stack in use for a while (stack.c).
 * With timeout (the loop's wait, ns, -1 for none), cut it to end when the
 * next one is due, so a loop with nothing else to do still gives the
 * memory back.
 */
void weft__stacks_tidy_slow(struct weft__stacks *st, int64_t now,
    int64_t *timeout);
static inline void weft__stacks_tidy(struct weft__stacks *st, int64_t now,
    int64_t *timeout)
{
	if (st->nresting)
		weft__stacks_tidy_slow(st, now, timeout);
}

/* The process-wide guard-page budget still available. */
uint64_t weft__stack_guard_budget(void);

/* Round n up to a multiple of the page size. */
size_t weft__page_round(size_t n);

/* Parse a size for a runtime or a task: EINVAL below WEFT_STACK_MIN. */
int weft__stack_size_ok(size_t size);

#endif /* WEFT_CORE_STACK_H */

/*
 * Execution contexts and the switch between them.
 *
 * This is the one place that knows how a switch is made, so it can be
 * measured and tuned alone.  Two builds:
 *   default   makecontext prepares a fresh context and setcontext enters it
 *             once; every later switch is _setjmp/_longjmp, which does not
 *             save the signal mask (no system call per switch);
 *   WEFT_SWITCH_UCONTEXT   swapcontext for every switch (plain POSIX path,
 *             kept buildable for platforms where longjmp between stacks is
 *             not allowed, e.g. with CET shadow stacks).
 */
#ifndef WEFT_CONTEXT_H
#define WEFT_CONTEXT_H

#include <setjmp.h>
#include <ucontext.h>

struct weft__ctx {
#ifdef WEFT_SWITCH_UCONTEXT
	ucontext_t uc;
#else
	jmp_buf jb;
#endif
	void (*entry)(void *);   /* run on first entry; never returns */
	void *entry_arg;
	void *stack_lo;          /* lowest byte of the context's stack */
	size_t stack_size;       /* 0 when unknown (the thread's own stack) */
	unsigned char fresh;     /* prepared but never entered */
	void *asan_fake;         /* ASan fake stack of the suspended context */
};

/* Per-runtime scratch for entering fresh contexts (unused by ucontext). */
struct weft__ctx_boot {
	ucontext_t uc;
};

int weft__ctx_boot_init(struct weft__ctx_boot *boot);

/* Make c start at entry(arg) on [lo, lo + size) when first switched to. */
int weft__ctx_prepare(struct weft__ctx *c, void *lo, size_t size,
    void (*entry)(void *), void *arg);

/* Describe the context of the thread's own stack. */
void weft__ctx_init_thread(struct weft__ctx *c);

/*
 * Save the running context in from and resume to.  Returns when someone
 * switches back to from.  boot is the runtime's scratch, used only when to
 * is fresh.
 */
void weft__ctx_switch(struct weft__ctx *from, struct weft__ctx *to,
    struct weft__ctx_boot *boot);

#endif /* WEFT_CONTEXT_H */

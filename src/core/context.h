/*
 * Execution contexts and the switch between them.
 *
 * This is the one place that knows how a switch is made, so it can be
 * measured and tuned alone (bench/bench_switch).  In every build makecontext
 * prepares a fresh context on its stack.  Then, by configure --with-switch:
 *   asm       (default on x86-64) setcontext enters it once; every later
 *             switch saves the callee-saved registers and the stack pointer
 *             and loads the other context's: about ten instructions.
 *   jmp       setcontext enters it once; later switches are _setjmp and
 *             _longjmp, which skip the signal mask but go through glibc's
 *             pointer mangling and cleanup-handler walk.
 *   ucontext  swapcontext for every switch: the plain POSIX path, one
 *             signal-mask system call per switch; kept for platforms where
 *             jumping between stacks is not allowed (CET shadow stacks).
 * Only ucontext carries the signal mask with a task; with asm and jmp the
 * mask, like the floating-point environment, belongs to the thread.
 */
#ifndef WEFT_CORE_CONTEXT_H
#define WEFT_CORE_CONTEXT_H

#include <setjmp.h>
#include <ucontext.h>

struct weft__ctx {
#if defined(WEFT_SWITCH_UCONTEXT)
	ucontext_t uc;
#elif defined(WEFT_SWITCH_JMP)
	jmp_buf jb;
#else
	void *sp;                /* saved stack pointer; registers are on the stack */
#endif
	void (*entry)(void *);   /* run on first entry; never returns */
	void *entry_arg;
	void *stack_lo;          /* lowest byte of the context's stack */
	size_t stack_size;       /* 0 when unknown (the thread's own stack) */
	unsigned char fresh;     /* prepared but never entered */
	void *asan_fake;         /* ASan fake stack of the suspended context */
	void *tsan_fiber;        /* ThreadSanitizer's fiber for this context */
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

/* c will never run again: drop what sanitizers keep for it. */
void weft__ctx_release(struct weft__ctx *c);

/*
 * Save the running context in from and resume to.  Returns when someone
 * switches back to from.  boot is the runtime's scratch, used only when to
 * is fresh.
 */
void weft__ctx_switch(struct weft__ctx *from, struct weft__ctx *to,
    struct weft__ctx_boot *boot);

/*
 * The registers c was suspended with, for a backtrace (base/unwind.h):
 * read with safe reads, since c may be another thread's.  0, or -1 when
 * the switch keeps them out of reach (jmp mangles them).
 */
struct weft__regs;
int weft__ctx_saved_regs(const struct weft__ctx *c, struct weft__regs *r);

#endif /* WEFT_CORE_CONTEXT_H */

/*
 * Backtraces of stacks that are not running: a parked task's saved
 * registers, or the context a signal interrupted.  With libunwind
 * (configure finds its header; the library is opened at the first walk)
 * the walk follows the DWARF call-frame information
 * every object carries; without it, frame pointers, which only code built
 * with -fno-omit-frame-pointer keeps.  Memory is read with saferead.h, so
 * a stack that changes or goes away under the walk ends it, never the
 * process.
 */
#ifndef WEFT_BASE_UNWIND_H
#define WEFT_BASE_UNWIND_H

#include <stddef.h>
#include <stdint.h>

/* The registers a walk starts from: where execution stands and the
 * callee-saved ones (x86-64). */
struct weft__regs {
	uintptr_t ip, sp, bp, bx, r12, r13, r14, r15;
};

/* The registers where this macro stands, for a walk of the caller's own
 * stack made while the function that used it has not returned. */
#if defined(__x86_64__)
#define WEFT__REGS_HERE(r) __asm__ volatile( \
	"leaq 0(%%rip), %%rax\n\t" \
	"movq %%rax, 0(%0)\n\t" \
	"movq %%rsp, 8(%0)\n\t" \
	"movq %%rbp, 16(%0)\n\t" \
	"movq %%rbx, 24(%0)\n\t" \
	"movq %%r12, 32(%0)\n\t" \
	"movq %%r13, 40(%0)\n\t" \
	"movq %%r14, 48(%0)\n\t" \
	"movq %%r15, 56(%0)" : : "r"(r) : "rax", "memory")
#else
/* Elsewhere no walk is made: no registers, no frames. */
#define WEFT__REGS_HERE(r) memset((r), 0, sizeof(*(r)))
#endif

/* Walk from r; at most max return addresses into pcs (pcs[0] is r->ip);
 * the count. */
int weft__unwind(const struct weft__regs *r, uintptr_t *pcs, int max);

/* Walk the context a signal handler got (its third argument), from inside
 * the handler; async-signal-safe. */
int weft__unwind_signal(void *ucontext, uintptr_t *pcs, int max);

/* "function+0xoff" or "object+0xoff" for pc, into buf. */
void weft__symbolize(uintptr_t pc, char *buf, size_t size);

/* Open libunwind now, outside any signal handler, so that a later
 * weft__unwind_signal can use it: 0, or -1 when walks follow frame
 * pointers (built without it, not installed, a static program). */
int weft__unwind_load(void);

/* "libunwind" or "frame pointers". */
const char *weft__unwind_method(void);

#endif /* WEFT_BASE_UNWIND_H */

/*
 * Context switching.  See context.h for the two builds.
 *
 * _FORTIFY_SOURCE must be off in this file: it redirects _longjmp to
 * __longjmp_chk, which aborts when the target stack pointer lies below the
 * current one ("longjmp causes uninitialized stack frame") — exactly what a
 * switch to another task's stack looks like half of the time.
 */
#undef _FORTIFY_SOURCE

#include "base/compiler.h"

#include <stdint.h>
#include <stdlib.h>
#include <ucontext.h>

#include "base/saferead.h"
#include "base/unwind.h"
#include "core/context.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define WEFT_ASAN 1
#endif

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define WEFT_TSAN 1
#endif

/*
 * Tell AddressSanitizer that the next instructions move to another stack,
 * so it neither reports false positives nor loses track of fake frames.
 */
static inline void asan_leave(struct weft__ctx *from, struct weft__ctx *to)
{
#ifdef WEFT_ASAN
	__sanitizer_start_switch_fiber(&from->asan_fake, to->stack_lo,
	    to->stack_size);
#else
	(void)from;
	(void)to;
#endif
#ifdef WEFT_TSAN
	/* ThreadSanitizer: the thread now runs to's fiber, and what from
	 * did happens before what to does (flags 0: synchronise). */
	__tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
}

static inline void asan_arrive(struct weft__ctx *self)
{
#ifdef WEFT_ASAN
	__sanitizer_finish_switch_fiber(self->asan_fake, NULL, NULL);
#else
	(void)self;
#endif
}

/* The context we came from, for the first entry's ASan bookkeeping. */
static __thread struct weft__ctx *entering_from;

/*
 * makecontext passes int arguments only, so the context pointer travels in
 * two halves (a pointer in one int would be truncated on LP64).
 */
static void ctx_start(unsigned int hi, unsigned int lo)
{
	struct weft__ctx *c =
	    (struct weft__ctx *)(((uintptr_t)hi << 32) | (uintptr_t)lo);

#ifdef WEFT_ASAN
	struct weft__ctx *from = entering_from;
	const void *bottom;
	size_t size;

	__sanitizer_finish_switch_fiber(NULL, &bottom, &size);
	if (from->stack_size == 0) {
		from->stack_lo = (void *)bottom;
		from->stack_size = size;
	}
#endif
	entering_from = NULL;
	c->entry(c->entry_arg);
	abort(); /* entry functions never return: they switch away for good */
}

static void make(ucontext_t *uc, struct weft__ctx *c)
{
	uintptr_t p = (uintptr_t)c;

	uc->uc_stack.ss_sp = c->stack_lo;
	uc->uc_stack.ss_size = c->stack_size;
	uc->uc_link = NULL;
	makecontext(uc, (void (*)(void))ctx_start, 2,
	    (unsigned int)(p >> 32), (unsigned int)(p & 0xffffffffu));
}

int weft__ctx_boot_init(struct weft__ctx_boot *boot)
{
	/* One getcontext per runtime; every fresh entry reuses it. */
	return getcontext(&boot->uc) == 0 ? 0 : -1;
}

int weft__ctx_prepare(struct weft__ctx *c, void *lo, size_t size,
    void (*entry)(void *), void *arg)
{
	c->entry = entry;
	c->entry_arg = arg;
	c->stack_lo = lo;
	c->stack_size = size;
	c->asan_fake = NULL;
	c->fresh = 1;
#ifdef WEFT_TSAN
	if (!c->tsan_fiber && !(c->tsan_fiber = __tsan_create_fiber(0)))
		return -1;
#endif
#ifdef WEFT_SWITCH_UCONTEXT
	if (getcontext(&c->uc) == -1)
		return -1;
	make(&c->uc, c);
#endif
	return 0;
}

void weft__ctx_init_thread(struct weft__ctx *c)
{
	c->entry = NULL;
	c->entry_arg = NULL;
	c->stack_lo = NULL;
	c->stack_size = 0;
	c->asan_fake = NULL;
	c->fresh = 0;
#ifdef WEFT_TSAN
	c->tsan_fiber = __tsan_get_current_fiber();
#else
	c->tsan_fiber = NULL;
#endif
}

void weft__ctx_release(struct weft__ctx *c)
{
#ifdef WEFT_TSAN
	if (c->tsan_fiber)
		__tsan_destroy_fiber(c->tsan_fiber);
#endif
	c->tsan_fiber = NULL;
}

#if defined(WEFT_SWITCH_UCONTEXT)

void weft__ctx_switch(struct weft__ctx *from, struct weft__ctx *to,
    struct weft__ctx_boot *boot)
{
	(void)boot;
	entering_from = from;
	to->fresh = 0;
	asan_leave(from, to);
	swapcontext(&from->uc, &to->uc);
	asan_arrive(from);
}

#elif defined(WEFT_SWITCH_JMP)

void weft__ctx_switch(struct weft__ctx *from, struct weft__ctx *to,
    struct weft__ctx_boot *boot)
{
	asan_leave(from, to);
	if (_setjmp(from->jb) == 0) {
		if (weft__likely(!to->fresh))
			_longjmp(to->jb, 1);
		/* First entry.  setcontext installs the signal mask and
		 * floating-point state saved in the context: take them as
		 * they are now, so entering a task changes neither. */
		to->fresh = 0;
		entering_from = from;
		getcontext(&boot->uc);
		make(&boot->uc, to);
		setcontext(&boot->uc);
		abort();
	}
	asan_arrive(from);
}

#else /* asm, x86-64 System V */

/*
 * ctx_swap(&from->sp, to->sp): push the callee-saved registers, store the
 * stack pointer, load the other one, pop its registers, return into it.
 * Everything else is caller-saved across the call by the ABI.  The return
 * lands at the same call site in the other context, so the CPU's return
 * predictor stays right when two tasks run the same code.
 *
 * ctx_boot(&from->sp, regs): save like ctx_swap, then enter the fresh
 * context that makecontext laid out, loading the registers it prepared
 * (stack pointer, rbx, the two argument registers) and jumping to its
 * start.  That is what setcontext does minus the signal-mask system call
 * and the floating-point environment, which stay the thread's.
 */
void weft__ctx_swap(void **save, void *load);
struct boot_regs {
	uint64_t rsp, rbx, rdi, rsi, rip;
};
void weft__ctx_boot(void **save, const struct boot_regs *regs);

/* Both entry points start alike: push what the callee must preserve and
 * store the stack pointer in *save (rdi). */
#define SAVE_CALLEE_SAVED \
	"	pushq %rbp\n" \
	"	pushq %rbx\n" \
	"	pushq %r12\n" \
	"	pushq %r13\n" \
	"	pushq %r14\n" \
	"	pushq %r15\n" \
	"	movq %rsp, (%rdi)\n"

__asm__(
	".text\n"
	".p2align 4\n"
	".globl weft__ctx_swap\n"
	".hidden weft__ctx_swap\n"
	".type weft__ctx_swap,@function\n"
	"weft__ctx_swap:\n"
	SAVE_CALLEE_SAVED
	"	movq %rsi, %rsp\n"
	"	popq %r15\n"
	"	popq %r14\n"
	"	popq %r13\n"
	"	popq %r12\n"
	"	popq %rbx\n"
	"	popq %rbp\n"
	"	ret\n"
	".size weft__ctx_swap, .-weft__ctx_swap\n"
	".p2align 4\n"
	".globl weft__ctx_boot\n"
	".hidden weft__ctx_boot\n"
	".type weft__ctx_boot,@function\n"
	"weft__ctx_boot:\n"
	SAVE_CALLEE_SAVED
	"	movq 0(%rsi), %rsp\n"
	"	movq 8(%rsi), %rbx\n"
	"	movq 16(%rsi), %rdi\n"
	"	movq 32(%rsi), %rax\n"
	"	movq 24(%rsi), %rsi\n"
	"	jmp *%rax\n"
	".size weft__ctx_boot, .-weft__ctx_boot\n");

void weft__ctx_switch(struct weft__ctx *from, struct weft__ctx *to,
    struct weft__ctx_boot *boot)
{
	asan_leave(from, to);
	if (weft__likely(!to->fresh)) {
		weft__ctx_swap(&from->sp, to->sp);
	} else {
		const greg_t *g = boot->uc.uc_mcontext.gregs;
		struct boot_regs r;

		to->fresh = 0;
		entering_from = from;
		make(&boot->uc, to);
		r.rsp = (uint64_t)g[REG_RSP];
		r.rbx = (uint64_t)g[REG_RBX];
		r.rdi = (uint64_t)g[REG_RDI];
		r.rsi = (uint64_t)g[REG_RSI];
		r.rip = (uint64_t)g[REG_RIP];
		weft__ctx_boot(&from->sp, &r);
	}
	asan_arrive(from);
}

#endif

/* ---- the registers of a suspended context ----------------------------- */

#if defined(WEFT_SWITCH_UCONTEXT) && defined(__x86_64__)

int weft__ctx_saved_regs(const struct weft__ctx *c, struct weft__regs *r)
{
	const greg_t *g = c->uc.uc_mcontext.gregs;

	r->ip = (uintptr_t)g[REG_RIP];
	r->sp = (uintptr_t)g[REG_RSP];
	r->bp = (uintptr_t)g[REG_RBP];
	r->bx = (uintptr_t)g[REG_RBX];
	r->r12 = (uintptr_t)g[REG_R12];
	r->r13 = (uintptr_t)g[REG_R13];
	r->r14 = (uintptr_t)g[REG_R14];
	r->r15 = (uintptr_t)g[REG_R15];
	return 0;
}

#elif defined(WEFT_SWITCH_JMP) || defined(WEFT_SWITCH_UCONTEXT)

int weft__ctx_saved_regs(const struct weft__ctx *c, struct weft__regs *r)
{
	(void)c;
	(void)r;
	return -1;      /* glibc mangles what jmp_buf keeps; not x86-64 */
}

#else

/* weft__ctx_swap left, from c->sp up: r15, r14, r13, r12, rbx, rbp and
 * the return address into weft__ctx_switch. */
int weft__ctx_saved_regs(const struct weft__ctx *c, struct weft__regs *r)
{
	uintptr_t w[7];

	if (!c->sp || weft__safe_read(w, c->sp, sizeof(w)) == -1)
		return -1;
	r->r15 = w[0];
	r->r14 = w[1];
	r->r13 = w[2];
	r->r12 = w[3];
	r->bx = w[4];
	r->bp = w[5];
	r->ip = w[6];
	r->sp = (uintptr_t)c->sp + sizeof(w);
	return 0;
}

#endif

/*
 * bench_switch — ns per context switch.
 *
 *   weft         two tasks yielding to each other; one switch per weft_yield
 *   swapcontext  raw swapcontext ping-pong between two ucontext contexts
 *   setjmp       a makecontext context entered once, then _setjmp/_longjmp
 *                ping-pong (what weft's --with-switch=jmp build does)
 *
 * Usage: bench_switch [yields]   (default 10,000,000 weft yields; the
 * swapcontext baseline makes a tenth as many switches since each one is a
 * system call).  Every figure is the best of several runs (11 for weft,
 * BENCH_REPS for the baselines).
 *
 * _FORTIFY_SOURCE would turn _longjmp into __longjmp_chk, which aborts when
 * jumping to another stack; the setjmp baseline needs it off, before any
 * include (PITFALLS.md section 2).
 */
#undef _FORTIFY_SOURCE

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#include "weft.h"
#include "bench.h"

#define DEFAULT_YIELDS 10000000L

/* The switch this build of the library uses (configure --with-switch). */
#if defined(WEFT_SWITCH_UCONTEXT)
#define SWITCH_KIND "ucontext"
#elif defined(WEFT_SWITCH_JMP)
#define SWITCH_KIND "jmp"
#elif defined(HAVE_CONFIG_H)
#define SWITCH_KIND "asm"
#else
#define SWITCH_KIND "(unknown)"
#endif

#define TARGET_RATIO 0.06
#define WEFT_REPS 11      /* a run takes ~50 ms: more runs, less noise */

/* ---- weft: two tasks yielding ------------------------------------------- */

static void *
yielder(void *arg)
{
	long n = *(const long *)arg;

	for (long i = 0; i < n; i++)
		weft_yield();
	return NULL;
}

/* ns per weft_yield with two tasks taking turns; *per_yield gets the
 * library's own count of context switches per weft_yield. */
static double
weft_switch_ns(long yields, double *per_yield)
{
	long each = yields / 2;
	struct weft_stats s0, s1;
	weft_task *a, *b;
	int64_t t0, t1;

	weft_stats(&s0);
	t0 = bench_now();
	a = weft_spawn(yielder, &each);
	b = weft_spawn(yielder, &each);
	if (a == NULL || b == NULL || weft_join(a, NULL) != 0 ||
	    weft_join(b, NULL) != 0) {
		perror("weft");
		exit(1);
	}
	t1 = bench_now();
	weft_stats(&s1);
	*per_yield = (double)(s1.switches - s0.switches) / (double)(each * 2);
	return (double)(t1 - t0) / (double)(each * 2);
}

/* ---- baseline: makecontext entry, then _setjmp/_longjmp ------------------ */

static jmp_buf jb_main, jb_co;
static ucontext_t sj_uc_main, sj_uc_co;

static void
sj_entry(void)
{
	for (;;) {
		if (_setjmp(jb_co) == 0)
			_longjmp(jb_main, 1);
	}
}

/* One round trip: main -> co -> main, two switches.  Kept out of line so
 * the loop counter of the caller is not live across _setjmp. */
static __attribute__((noinline)) void
sj_round_trip(void)
{
	if (_setjmp(jb_main) == 0)
		_longjmp(jb_co, 1);
}

/* Makes the context and enters it once with swapcontext; the new context
 * saves its jmp_buf and _longjmps back.  Out of line because gcc treats a
 * function calling getcontext or _setjmp as returning twice. */
static __attribute__((noinline)) void
sj_setup(void)
{
	static char *stack;

	if (stack != NULL)
		return;
	stack = malloc(BENCH_UC_STACK);
	if (stack == NULL) {
		perror("malloc");
		exit(1);
	}
	getcontext(&sj_uc_co);
	sj_uc_co.uc_stack.ss_sp = stack;
	sj_uc_co.uc_stack.ss_size = BENCH_UC_STACK;
	sj_uc_co.uc_link = NULL;
	makecontext(&sj_uc_co, sj_entry, 0);
	if (_setjmp(jb_main) == 0)
		swapcontext(&sj_uc_main, &sj_uc_co);
}

static double
setjmp_switch_ns(long switches, int reps)
{
	long rounds = switches / 2;
	double best = 1e30;

	sj_setup();
	for (int r = 0; r < reps; r++) {
		int64_t t0 = bench_now();
		for (long i = 0; i < rounds; i++)
			sj_round_trip();
		int64_t t1 = bench_now();
		best = bench_min(best, (double)(t1 - t0) / (double)(rounds * 2));
	}
	return best;
}

int
main(int argc, char **argv)
{
	long yields = DEFAULT_YIELDS;
	double weft = 1e30, per_yield = 0, uc, sj;

	if (argc > 2) {
		fprintf(stderr, "usage: %s [yields]\n", argv[0]);
		return 2;
	}
	if (argc == 2)
		yields = bench_arg_count(argv[0], argv[1]);
	if (yields < 20)
		yields = 20;

	weft_switch_ns(yields / 10, &per_yield); /* warm up */
	for (int r = 0; r < WEFT_REPS; r++)
		weft = bench_min(weft, weft_switch_ns(yields, &per_yield));
	uc = bench_swapcontext_ns(yields / 10, BENCH_REPS);
	sj = setjmp_switch_ns(yields, BENCH_REPS);

	printf("switch: %ld weft yields, %ld swapcontext, %ld setjmp switches; "
	    "best of %d/%d/%d\n", yields, yields / 10, yields, WEFT_REPS,
	    BENCH_REPS, BENCH_REPS);
	printf("switch: weft %.1f ns  swapcontext %.1f ns  setjmp %.1f ns  "
	    "ratio weft/swapcontext %.3f (target <= %.2f: %s)\n",
	    weft, uc, sj, weft / uc, TARGET_RATIO,
	    weft / uc <= TARGET_RATIO ? "met" : "MISSED");
	printf("switch: library built with --with-switch=%s; weft/setjmp %.2f, "
	    "setjmp/swapcontext %.3f\n", SWITCH_KIND, weft / sj, sj / uc);
	printf("switch: weft makes %.2f context switches per weft_yield "
	    "(weft_stats)\n", per_yield);
	return 0;
}

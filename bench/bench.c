/*
 * Helpers shared by the weft benchmarks (declared in bench.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

#include "bench.h"

int64_t
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double
bench_min(double a, double b)
{
	return a < b ? a : b;
}

/* ---- baseline: swapcontext between two ucontext contexts --------------- */

static ucontext_t uc_main, uc_co;

/* The second context: swaps straight back, forever.  It never returns, so
 * uc_link is never used; the bench abandons it when done. */
static void
uc_entry(void)
{
	for (;;)
		swapcontext(&uc_co, &uc_main);
}

/* Makes the second context and enters it once.  Kept apart from the
 * timing loop: gcc treats a function calling getcontext like one calling
 * setjmp and would warn that its locals may be clobbered. */
static void
uc_setup(void)
{
	static char *stack;

	if (stack != NULL)
		return;
	stack = malloc(BENCH_UC_STACK);
	if (stack == NULL) {
		perror("malloc");
		exit(1);
	}
	getcontext(&uc_co);
	uc_co.uc_stack.ss_sp = stack;
	uc_co.uc_stack.ss_size = BENCH_UC_STACK;
	uc_co.uc_link = NULL;
	makecontext(&uc_co, uc_entry, 0);
	swapcontext(&uc_main, &uc_co); /* warm up */
}

/*
 * ns per swapcontext call: the main context and one makecontext context
 * swap with each other until `switches` swapcontext calls were made (each
 * round trip is two).  Best of `reps` runs.
 */
double
bench_swapcontext_ns(long switches, int reps)
{
	double best = 1e30;
	long rounds = switches / 2;

	uc_setup();
	for (int r = 0; r < reps; r++) {
		int64_t t0 = bench_now();
		for (long i = 0; i < rounds; i++)
			swapcontext(&uc_main, &uc_co);
		int64_t t1 = bench_now();
		best = bench_min(best, (double)(t1 - t0) / (double)(rounds * 2));
	}
	return best;
}

/* ---- /proc/self/status ------------------------------------------------ */

/* Value of a "Key:   123 kB" line of /proc/self/status in bytes; -1 if the
 * file or the key is missing. */
long long
bench_status_bytes(const char *key)
{
	char line[256];
	size_t len = strlen(key);
	long long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, key, len) == 0 && line[len] == ':') {
			kb = strtoll(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

/* A positive count from argv, or exit with a usage message. */
long
bench_arg_count(const char *prog, const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end != '\0' || v <= 0) {
		fprintf(stderr, "%s: not a positive count: %s\n", prog, s);
		exit(2);
	}
	return v;
}

void
bench_die(const char *what)
{
	perror(what);
	exit(1);
}

void
bench_die_err(const char *what, int err)
{
	errno = err;
	bench_die(what);
}

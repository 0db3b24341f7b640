/*
 * bench_spawn — ns per spawn+join of an empty task.
 *
 *   weft         weft_spawn + weft_join of a task that returns at once, from
 *                main (join drives the scheduler) and from inside a task;
 *                the stack comes from the cache after the first spawn
 *   pthread      pthread_create + pthread_join of an empty thread
 *   swapcontext  one raw swapcontext switch, the unit the target is set in
 *
 * Usage: bench_spawn [spawns]   (default 1,000,000; the pthread baseline
 * runs a tenth as many).  Every figure is the best of a few runs: 11 for
 * weft, 3 for pthread, 5 for swapcontext.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"
#include "bench.h"

#define DEFAULT_SPAWNS 1000000L
#define WEFT_REPS 11      /* a loop takes ~40 ms: more runs, less noise */
#define PTHREAD_REPS 3
#define TARGET_RATIO 0.25

static void *
empty(void *arg)
{
	return arg;
}

static void
spawn_join(void)
{
	weft_task *t = weft_spawn(empty, NULL);

	if (t == NULL || weft_join(t, NULL) != 0) {
		perror("weft_spawn/weft_join");
		exit(1);
	}
}

static double
weft_spawn_ns(long n)
{
	int64_t t0 = bench_now();

	for (long i = 0; i < n; i++)
		spawn_join();
	return (double)(bench_now() - t0) / (double)n;
}

/* The same loop run by a task: join parks the caller instead of driving
 * the scheduler from the thread's own stack. */
static void *
spawner(void *arg)
{
	double *ns = arg;
	long n = (long)*ns;

	*ns = weft_spawn_ns(n);
	return NULL;
}

static double
weft_spawn_in_task_ns(long n)
{
	double ns = (double)n;
	weft_task *t = weft_spawn(spawner, &ns);

	if (t == NULL || weft_join(t, NULL) != 0) {
		perror("weft_spawn/weft_join");
		exit(1);
	}
	return ns;
}

static double
pthread_spawn_ns(long n)
{
	int64_t t0 = bench_now();

	for (long i = 0; i < n; i++) {
		pthread_t th;
		int e = pthread_create(&th, NULL, empty, NULL);

		if (e == 0)
			e = pthread_join(th, NULL);
		if (e != 0) {
			fprintf(stderr, "pthread: %s\n", strerror(e));
			exit(1);
		}
	}
	return (double)(bench_now() - t0) / (double)n;
}

int
main(int argc, char **argv)
{
	long n = DEFAULT_SPAWNS;
	double w = 1e30, wt = 1e30, pt = 1e30, uc;
	struct weft_stats s0, s1;

	if (argc > 2) {
		fprintf(stderr, "usage: %s [spawns]\n", argv[0]);
		return 2;
	}
	if (argc == 2)
		n = bench_arg_count(argv[0], argv[1]);

	spawn_join(); /* the first spawn maps the stack; later ones reuse it */
	weft_stats(&s0);
	for (int r = 0; r < WEFT_REPS; r++) {
		w = bench_min(w, weft_spawn_ns(n));
		wt = bench_min(wt, weft_spawn_in_task_ns(n));
	}
	weft_stats(&s1);
	for (int r = 0; r < PTHREAD_REPS; r++)
		pt = bench_min(pt, pthread_spawn_ns(n / 10 > 0 ? n / 10 : 1));
	uc = bench_swapcontext_ns(1000000, BENCH_REPS);

	printf("spawn: %ld weft spawn+join, %ld pthread create+join; "
	    "best of %d/%d/%d\n", n, n / 10 > 0 ? n / 10 : 1, WEFT_REPS,
	    PTHREAD_REPS, BENCH_REPS);
	printf("spawn: weft %.1f ns (from a task %.1f ns)  pthread %.1f ns  "
	    "swapcontext switch %.1f ns\n", w, wt, pt, uc);
	printf("spawn: ratio weft/swapcontext %.3f (target <= %.2f: %s)  "
	    "weft/pthread %.4f\n", w / uc, TARGET_RATIO,
	    w / uc <= TARGET_RATIO ? "met" : "MISSED", w / pt);
	printf("spawn: from a task: ratio weft/swapcontext %.3f  "
	    "weft/pthread %.4f\n", wt / uc, wt / pt);
	printf("spawn: %.2f context switches per spawn+join; stacks held "
	    "after the loops: %llu guarded + %llu canary, %llu cached "
	    "(weft_stats)\n",
	    (double)(s1.switches - s0.switches) /
	    (double)(n * 2 * WEFT_REPS + WEFT_REPS),
	    (unsigned long long)s1.stacks_guarded,
	    (unsigned long long)s1.stacks_canary,
	    (unsigned long long)s1.stacks_cached);
	return 0;
}

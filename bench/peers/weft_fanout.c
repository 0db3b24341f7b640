/*
 * weft_fanout: the weft side of the fanout workload of bench/peers.
 * TASKS tasks (default 1000) each run ITERS iterations (default 590000,
 * ~1 ms at -O2 on the 2-core machine the table was made on) of the integer
 * loop below, spawned from main, then joined.  go/fanout.go and
 * tokio/src/bin/fanout.rs run the same loop on the same seeds, so the
 * three print the same checksum.
 *
 *   weft_fanout [ITERS [TASKS [WORKERS]]]    (WORKERS: default 2)
 *
 * Prints "wall_ms X" for spawn-all-then-join-all (the crew is made
 * before: thread creation is not timed, as Tokio's runtime is built and
 * Go's started before theirs) and "checksum X", the sum of the results,
 * which also keeps the compiler from dropping the loop.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "weft.h"

struct job {
	long iters;
	uint64_t seed, out;
};

/* A multiply-add and a shift-xor, each step using the last: no
 * vectorising, no closed form.  The same in Go and Rust. */
static uint64_t crunch(uint64_t x, long iters)
{
	for (long i = 0; i < iters; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		x ^= x >> 29;
	}
	return x;
}

static void *work(void *arg)
{
	struct job *j = arg;

	j->out = crunch(j->seed, j->iters);
	return NULL;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 590000;
	long n = argc > 2 ? atol(argv[2]) : 1000, i;
	long workers = argc > 3 ? atol(argv[3]) : 2;
	struct job *jobs = calloc((size_t)n, sizeof(*jobs));
	weft_task **t = calloc((size_t)n, sizeof(*t));
	uint64_t sum = 0;
	int64_t start;

	if (!jobs || !t || iters < 0 || n <= 0 || workers <= 0)
		return 2;
	if (weft_set_workers((unsigned)workers) != 0) {
		perror("weft_fanout: weft_set_workers");
		return 1;
	}
	start = weft_now();
	for (i = 0; i < n; i++) {
		jobs[i].iters = iters;
		jobs[i].seed = (uint64_t)i + 1;
		if (!(t[i] = weft_spawn(work, &jobs[i]))) {
			perror("weft_spawn");
			return 1;
		}
	}
	for (i = 0; i < n; i++)
		weft_join(t[i], NULL);
	printf("wall_ms %.1f\n", (double)(weft_now() - start) / 1e6);
	for (i = 0; i < n; i++)
		sum += jobs[i].out;
	printf("checksum %llu\n", (unsigned long long)sum);
	free(jobs);
	free(t);
	return 0;
}

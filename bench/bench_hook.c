/*
 * bench_hook: what libweft-hook costs (weft-hook(7)).
 *
 *   - in a task, a 1-byte read(2) from a socket with data ready: the
 *     interposed read against weft_read (goal: at most 1.2x);
 *   - outside any task, the same read: interposed against libc's own
 *     read, reached past the hook (goal: a few ns more at most).
 *
 * Linked with libweft-hook, so the plain name read is the interposed one.
 * Each figure is the best of BENCH_REPS runs of 64 KiB single-byte reads
 * from a socket filled beforehand (the fill is not timed).
 */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "weft.h"
#include "bench.h"

#define FILL 65536

/* libweft's private interface to the hook (src/hook/hook.h): the test
 * every interposed call makes first. */
int weft__hook_in_task(void);

static int sv[2];
static ssize_t (*libc_read)(int, void *, size_t);

/* Put FILL bytes in the socket, past any hook. */
static void fill(void)
{
	static char block[4096];
	size_t done = 0;
	long n;

	while (done < FILL) {
		n = syscall(SYS_write, sv[1], block, sizeof(block));
		if (n <= 0) {
			perror("fill");
			exit(1);
		}
		done += (size_t)n;
	}
}

enum which { HOOKED, WEFT, LIBC };

/* ns per 1-byte read, best of BENCH_REPS. */
static double per_read(enum which w)
{
	double best = 1e30;
	char c;
	int rep, i;
	int64_t t0;

	for (rep = 0; rep < BENCH_REPS; rep++) {
		fill();
		t0 = bench_now();
		for (i = 0; i < FILL; i++) {
			ssize_t r = w == HOOKED ? read(sv[0], &c, 1) :
			    w == WEFT ? weft_read(sv[0], &c, 1) :
			    libc_read(sv[0], &c, 1);

			if (r != 1) {
				perror("read");
				exit(1);
			}
		}
		best = bench_min(best, (double)(bench_now() - t0) / FILL);
	}
	return best;
}

static double in_task[2];

static void *measure_in_task(void *arg)
{
	(void)arg;
	in_task[WEFT] = per_read(WEFT);
	in_task[HOOKED] = per_read(HOOKED);
	in_task[WEFT] = bench_min(in_task[WEFT], per_read(WEFT));
	return NULL;
}

/* ns for the hook's own decision outside a task: the call into libweft
 * and its thread-local load (what the interposed read adds to libc's). */
static double decision_ns(void)
{
	double best = 1e30;
	long i, n = 10 * 1000 * 1000, sum = 0;
	int rep;
	int64_t t0;

	for (rep = 0; rep < BENCH_REPS; rep++) {
		t0 = bench_now();
		for (i = 0; i < n; i++) {
			sum += weft__hook_in_task();
			__asm__ volatile("" ::: "memory");
		}
		best = bench_min(best, (double)(bench_now() - t0) / (double)n);
	}
	return sum ? -1 : best;
}

int main(void)
{
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	double hooked_out, libc_out;
	int size = 1 << 20, i;
	weft_task *t;

	if (!libc || !(libc_read = (ssize_t (*)(int, void *, size_t))
	    dlsym(libc, "read"))) {
		fprintf(stderr, "bench_hook: libc's read not found\n");
		return 1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		perror("socketpair");
		return 1;
	}
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	/* Interleaved, the best of each: the system call's own cost moves
	 * with the machine's load by more than the hook adds. */
	libc_out = hooked_out = 1e30;
	for (i = 0; i < 4; i++) {
		libc_out = bench_min(libc_out, per_read(LIBC));
		hooked_out = bench_min(hooked_out, per_read(HOOKED));
	}
	if (!(t = weft_spawn(measure_in_task, NULL)) || weft_join(t, NULL)) {
		perror("weft_spawn");
		return 1;
	}
	printf("bench_hook: a 1-byte read from a ready socket, ns per call "
	    "(best of %d x %d)\n", BENCH_REPS, FILL);
	printf("  in a task:      interposed read %7.1f   weft_read %7.1f"
	    "   ratio %.2fx (goal <= 1.2x)\n", in_task[HOOKED], in_task[WEFT],
	    in_task[HOOKED] / in_task[WEFT]);
	printf("  outside a task: interposed read %7.1f   libc read %7.1f"
	    "   +%.1f ns\n", hooked_out, libc_out, hooked_out - libc_out);
	printf("  outside a task, the hook's own test alone: %.1f ns "
	    "(the rest of the difference is the system call's noise)\n",
	    decision_ns());
	return 0;
}

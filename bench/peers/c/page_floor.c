/*
 * page_floor: the price of one fresh page per task, for the sleepers row
 * of bench/peers: N pages touched (default 100000), one near the top of
 * each 132 KiB slot of a new mapping (weft's default stack and its guard
 * page), in a fresh process, as a sleeping task's stack is.  Whatever
 * runs N tasks on stacks of their own pays at least this.
 *
 *   page_floor [N]         prints wall_ms for the touching alone
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define SLOT (132u * 1024)

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000, i;
	size_t len;
	char *p;
	double t0;

	if (n <= 0) {
		fprintf(stderr, "usage: page_floor [N]\n");
		return 2;
	}
	len = (size_t)n * SLOT;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		perror("page_floor: mmap");
		return 1;
	}
	t0 = now_ms();
	for (i = 0; i < n; i++)
		((volatile char *)p)[(size_t)(i + 1) * SLOT - 64] = 1;
	printf("wall_ms %.1f\n", now_ms() - t0);
	return 0;
}

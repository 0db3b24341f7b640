/*
 * weft_sleepers: N tasks (default 100000) each sleeping 100 ms, spawned
 * then joined, in a fresh process.  Prints "wall_ms X" for main's part,
 * and the peak RSS per task.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "weft.h"

static void *nap(void *arg)
{
	(void)arg;
	weft_sleep(100);
	return NULL;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000, i;
	weft_task **t = calloc((size_t)n, sizeof(*t));
	int64_t start = weft_now();
	struct rusage ru;

	if (!t)
		return 1;
	for (i = 0; i < n; i++)
		if (!(t[i] = weft_spawn(nap, NULL))) {
			perror("weft_spawn");
			return 1;
		}
	for (i = 0; i < n; i++)
		weft_join(t[i], NULL);
	printf("wall_ms %.1f\n", (double)(weft_now() - start) / 1e6);
	getrusage(RUSAGE_SELF, &ru);
	printf("maxrss_per_task_b %.0f\n", ru.ru_maxrss * 1024.0 / (double)n);
	free(t);
	return 0;
}

/*
 * Two tasks sleep 2 s and 3 s.  Both are spawned, then joined: they sleep
 * at the same time, so the program ends after about 3 s, not 5.
 */
#include <stdint.h>
#include <stdio.h>
#include <weft.h>

struct job {
	const char *name;
	int64_t ms;
};

static double seconds_since(int64_t start)
{
	return (double)(weft_now() - start) / 1e9;
}

static int64_t start;

static void *perform_task(void *arg)
{
	const struct job *job = arg;

	printf("%5.2f s  %s started, sleeping %lld ms\n", seconds_since(start),
	    job->name, (long long)job->ms);
	weft_sleep(job->ms);
	printf("%5.2f s  %s completed\n", seconds_since(start), job->name);
	return (void *)job->name;
}

int main(void)
{
	static const struct job jobs[] = { { "Task 1", 2000 }, { "Task 2", 3000 } };
	weft_task *tasks[2];
	void *result;
	int i;

	start = weft_now();
	for (i = 0; i < 2; i++) {
		tasks[i] = weft_spawn(perform_task, (void *)&jobs[i]);
		if (!tasks[i]) {
			perror("weft_spawn");
			return 1;
		}
	}
	for (i = 0; i < 2; i++) {
		if (weft_join(tasks[i], &result) == -1) {
			perror("weft_join");
			return 1;
		}
		printf("%5.2f s  joined %s\n", seconds_since(start),
		    (const char *)result);
	}
	printf("both done in %.2f s (sequentially it would take 5 s)\n",
	    seconds_since(start));
	return 0;
}

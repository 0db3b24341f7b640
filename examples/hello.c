/*
 * The smallest weft program: one task prints, sleeps two seconds without
 * blocking the thread's other tasks, and prints again.
 */
#include <stdio.h>
#include <weft.h>

static void *perform_task(void *arg)
{
	printf("%s started\n", (const char *)arg);
	weft_sleep(2000);
	printf("%s completed\n", (const char *)arg);
	return NULL;
}

int main(void)
{
	weft_task *task = weft_spawn(perform_task, "Task 1");

	if (!task) {
		perror("weft_spawn");
		return 1;
	}
	if (weft_join(task, NULL) == -1) {
		perror("weft_join");
		return 1;
	}
	return 0;
}

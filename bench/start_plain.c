/* bench_start's baseline: a plain C program that sleeps 1 ms. */
#include <time.h>

int main(void)
{
	struct timespec ms = { 0, 1000000 };

	return nanosleep(&ms, NULL);
}

/*
 * The monotonic clock.
 */
#include "base/compiler.h"

#include <time.h>

#include "base/clock.h"

int64_t weft_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * WEFT__NS_PER_S + ts.tv_nsec;
}

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

/* The same clock to the last tick (a few ms), without reading the time
 * stamp counter: cheap enough to note when every wait began. */
int64_t weft__coarse_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * WEFT__NS_PER_S + ts.tv_nsec;
}

/*
 * The clock: weft_now (CLOCK_MONOTONIC, in nanoseconds) and the conversions
 * every caller of a system call with a timeout needs, written once.
 */
#ifndef WEFT_BASE_CLOCK_H
#define WEFT_BASE_CLOCK_H

#include <limits.h>
#include <stdint.h>
#include <time.h>

#include "weft.h"

#define WEFT__NS_PER_MS 1000000ll
#define WEFT__NS_PER_S 1000000000ll

/*
 * A wait of ns nanoseconds as a system call's milliseconds: rounded up, so
 * a wait never ends before its time; negative means no limit (-1); clamped
 * to INT_MAX.
 */
/* CLOCK_MONOTONIC to the last scheduler tick: cheaper than weft_now. */
int64_t weft__coarse_now(void);

static inline int weft__ms_ceil(int64_t ns)
{
	if (ns < 0)
		return -1;
	if (ns > (int64_t)INT_MAX * WEFT__NS_PER_MS)
		return INT_MAX;
	return (int)((ns + WEFT__NS_PER_MS - 1) / WEFT__NS_PER_MS);
}

/* now + ns, saturating at INT64_MAX (no deadline) instead of overflowing. */
static inline int64_t weft__add_ns(int64_t now, int64_t ns)
{
	return ns > INT64_MAX - now ? INT64_MAX : now + ns;
}

/* A poll(2)-style timeout in ms (negative: none) as an absolute deadline. */
static inline int64_t weft__deadline_after_ms(int timeout_ms)
{
	if (timeout_ms < 0)
		return INT64_MAX;
	return weft__add_ns(weft_now(), (int64_t)timeout_ms * WEFT__NS_PER_MS);
}

/* Nanoseconds as a timespec (an absolute time or a duration). */
static inline struct timespec weft__timespec(int64_t ns)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ns / WEFT__NS_PER_S);
	ts.tv_nsec = (long)(ns % WEFT__NS_PER_S);
	return ts;
}

#endif /* WEFT_BASE_CLOCK_H */

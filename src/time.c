/*
 * Time: the monotonic clock and sleeping.  Inside a task a sleep is a timer
 * in the heap and a park; outside one it sleeps the thread.
 */
#include "weft_int.h"

#include <time.h>

#include "runtime.h"

#define NS_PER_S 1000000000ll

int64_t weft_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* Absolute sleep of the whole thread, restarted after signal handlers. */
static int thread_sleep_until(int64_t deadline)
{
	struct timespec ts;
	int err;

	ts.tv_sec = deadline / NS_PER_S;
	ts.tv_nsec = deadline % NS_PER_S;
	do
		err = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	while (err == EINTR);
	return err ? weft__fail(err) : 0;
}

/* Park the calling task until deadline; now is the clock read already. */
static int sleep_until(int64_t deadline, int64_t now)
{
	struct weft_rt *rt = weft__rt_peek();
	struct weft_task *self;
	int err;

	if (!rt || !weft__in_task(&rt->sched))
		return thread_sleep_until(deadline);
	if (deadline <= now) {
		weft__yield(rt);
		return 0;
	}
	self = rt->sched.current;
	self->deadline = deadline;
	if (weft__timer_add(&rt->timers, self) == -1)
		return -1;
	err = weft__park(rt);
	if (err) {
		weft__timer_remove(&rt->timers, self);
		return weft__fail(err);
	}
	return 0;
}

int weft_sleep_until(int64_t deadline)
{
	if (deadline < 0)
		return weft__fail(EINVAL);
	return sleep_until(deadline, weft_now());
}

int weft_sleep_ns(int64_t ns)
{
	int64_t now = weft_now();

	if (ns < 0)
		return weft__fail(EINVAL);
	/* now + ns, saturating instead of overflowing */
	return sleep_until(ns > INT64_MAX - now ? INT64_MAX : now + ns, now);
}

int weft_sleep(int64_t ms)
{
	if (ms < 0)
		return weft__fail(EINVAL);
	if (ms > INT64_MAX / 1000000)
		return weft_sleep_until(INT64_MAX);
	return weft_sleep_ns(ms * 1000000);
}

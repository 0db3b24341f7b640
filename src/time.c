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

/*
 * Absolute sleep of the whole thread, restarted after signal handlers;
 * cut short with ETIMEDOUT by main's deadline.
 */
static int thread_sleep_until(struct weft_rt *rt, int64_t deadline)
{
	int64_t scope = rt ? rt->sched.main_task.scope_deadline : INT64_MAX;
	int64_t until = scope < deadline ? scope : deadline;
	struct timespec ts;
	int err;

	ts.tv_sec = until / NS_PER_S;
	ts.tv_nsec = until % NS_PER_S;
	do
		err = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	while (err == EINTR);
	if (err)
		return weft__fail(err);
	return until < deadline ? weft__fail(ETIMEDOUT) : 0;
}

/* Park the calling task until deadline; now is the clock read already. */
static int sleep_until(int64_t deadline, int64_t now)
{
	struct weft_rt *rt = weft__rt_peek();
	int err;

	if (!rt || !weft__in_task(&rt->sched))
		return thread_sleep_until(rt, deadline);
	if (deadline <= now) {
		weft__yield(rt);
		return 0;
	}
	/* Parks can end for nothing (a stale wake-up from another thread):
	 * never return before the deadline. */
	do
		err = weft__park_until(rt, deadline, 0);
	while (!err && weft_now() < deadline);
	return err ? weft__fail(err) : 0;
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

/* ---- deadlines ---------------------------------------------------------- */

int64_t weft_deadline_push(int64_t deadline)
{
	struct weft_rt *rt;
	struct weft_task *self;
	int64_t saved;

	if (deadline < 0)
		return weft__fail(EINVAL);
	if (!(rt = weft__rt_get()))
		return -1;
	self = rt->sched.current;
	saved = self->scope_deadline;
	if (deadline < saved)
		self->scope_deadline = deadline;
	return saved;
}

int weft_deadline_pop(int64_t saved)
{
	struct weft_rt *rt;

	if (saved < 0)
		return weft__fail(EINVAL);
	if (!(rt = weft__rt_get()))
		return -1;
	rt->sched.current->scope_deadline = saved;
	return 0;
}

int64_t weft_deadline(void)
{
	struct weft_rt *rt = weft__rt_peek();

	return rt ? rt->sched.current->scope_deadline : WEFT_NO_DEADLINE;
}

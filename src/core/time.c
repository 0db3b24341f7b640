/*
 * Sleeping and deadlines.  Inside a task a sleep is a timer in the loop's
 * heap and a park; outside one it sleeps the thread.  A deadline belongs to
 * the running task (or to main), and every park honours it.
 */
#include "base/compiler.h"
#include "base/error.h"

#include "base/clock.h"
#include "base/sys.h"
#include "core/runtime.h"

/* Sleep the whole thread until deadline, cut short with ETIMEDOUT by
 * main's deadline. */
static int thread_sleep_until(struct weft_rt *rt, int64_t deadline)
{
	int64_t scope = weft__main_deadline(rt);
	int64_t until = scope < deadline ? scope : deadline;

	if (weft__sys_sleep_until(until) == -1)
		return -1;
	return until < deadline ? weft__fail(ETIMEDOUT) : 0;
}

/* Park the calling task until deadline; now is the clock read already. */
static int sleep_until(int64_t deadline, int64_t now)
{
	struct weft_rt *rt = weft__rt_peek();
	int err;

	if (!rt || !weft__in_task(rt))
		return thread_sleep_until(rt, deadline);
	if (deadline <= now) {
		weft__yield(rt);
		return 0;
	}
	/* Parks can end for nothing (a stale wake-up from another thread):
	 * never return before the deadline. */
	weft__wait_note(rt, WEFT__WAIT_SLEEP, NULL, deadline, 0);
	do
		err = weft__park_until(rt, deadline, 0);
	while (!err && weft_now() < deadline);
	return weft__result(err);
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
	return sleep_until(weft__add_ns(now, ns), now);
}

int weft_sleep(int64_t ms)
{
	if (ms < 0)
		return weft__fail(EINVAL);
	if (ms > INT64_MAX / WEFT__NS_PER_MS)
		return weft_sleep_until(INT64_MAX);
	return weft_sleep_ns(ms * WEFT__NS_PER_MS);
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
	self = weft__self(rt);
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
	weft__self(rt)->scope_deadline = saved;
	return 0;
}

int64_t weft_deadline(void)
{
	struct weft_rt *rt = weft__rt_peek();

	return rt ? weft__self(rt)->scope_deadline : WEFT_NO_DEADLINE;
}

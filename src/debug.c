/*
 * Introspection: version and statistics.
 */
#include "weft_int.h"

#include <string.h>

#include "runtime.h"

unsigned weft_version(void)
{
	return WEFT_VERSION_NUMBER;
}

const char *weft_version_string(void)
{
	return WEFT_VERSION_STRING;
}

int weft_stats(struct weft_stats *st)
{
	struct weft_rt *rt;

	if (!st)
		return weft__fail(EINVAL);
	if (!(rt = weft__rt_get()))
		return -1;
	memset(st, 0, sizeof(*st));
	st->tasks_live = rt->tasks.live;
	st->tasks_spawned = rt->tasks.spawned;
	st->switches = rt->sched.switches;
	st->stacks_guarded = rt->stacks.nguarded;
	st->stacks_canary = rt->stacks.ncanary;
	st->stacks_cached = rt->stacks.ncached;
	st->arenas = rt->stacks.narenas;
	st->guard_budget = weft__stack_guard_budget();
	return 0;
}

int weft_set_stack_size(size_t size)
{
	struct weft_rt *rt;

	if (!weft__stack_size_ok(size))
		return weft__fail(EINVAL);
	if (!(rt = weft__rt_get()))
		return -1;
	rt->stacks.default_size = weft__page_round(size);
	return 0;
}

int weft_set_guard(int guard)
{
	struct weft_rt *rt;

	if (guard < WEFT_GUARD_AUTO || guard > WEFT_GUARD_CANARY)
		return weft__fail(EINVAL);
	if (!(rt = weft__rt_get()))
		return -1;
	rt->stacks.default_guard = guard;
	return 0;
}

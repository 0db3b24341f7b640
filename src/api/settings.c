/*
 * Settings of the calling thread's runtime: default stack size and guard
 * policy, and the offload pool's size.  Arguments are checked before the
 * runtime is looked up, so a bad one is EINVAL whatever else happens.
 */
#include "base/compiler.h"
#include "base/error.h"

#include "core/core.h"
#include "io/pool.h"

int weft_set_stack_size(size_t size)
{
	struct weft_rt *rt;

	if (size < WEFT_STACK_MIN)
		return weft__fail(EINVAL);
	if (!(rt = weft__rt_get()))
		return -1;
	return weft__rt_set_stack_default(rt, size);
}

int weft_set_guard(int guard)
{
	struct weft_rt *rt;

	if (guard < WEFT_GUARD_AUTO || guard > WEFT_GUARD_CANARY)
		return weft__fail(EINVAL);
	if (!(rt = weft__rt_get()))
		return -1;
	return weft__rt_set_guard_default(rt, guard);
}

int weft_set_pool_size(unsigned threads)
{
	struct weft_rt *rt;

	if (threads == 0)
		return weft__fail(EINVAL);
	if (!(rt = weft__rt_get()))
		return -1;
	return weft__pool_set_size(rt, threads);
}

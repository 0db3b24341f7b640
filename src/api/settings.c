/*
 * Settings of the calling thread's runtime: default stack size and guard
 * policy, and the offload pool's size.  Arguments are checked before the
 * runtime is looked up, so a bad one is EINVAL whatever else happens.
 */
#include "base/compiler.h"
#include "base/error.h"

#include "core/core.h"
#include "io/pool.h"

/* The calling thread's runtime, for a setting whose value is valid. */
static struct weft_rt *runtime_for(int valid)
{
	return valid ? weft__rt_get() : weft__fail_null(EINVAL);
}

int weft_set_stack_size(size_t size)
{
	struct weft_rt *rt = runtime_for(size >= WEFT_STACK_MIN);

	return rt ? weft__rt_set_stack_default(rt, size) : -1;
}

int weft_set_guard(int guard)
{
	struct weft_rt *rt = runtime_for(guard >= WEFT_GUARD_AUTO &&
	    guard <= WEFT_GUARD_CANARY);

	return rt ? weft__rt_set_guard_default(rt, guard) : -1;
}

int weft_set_pool_size(unsigned threads)
{
	struct weft_rt *rt = runtime_for(threads != 0);

	return rt ? weft__pool_set_size(rt, threads) : -1;
}

/*
 * Settings of the calling thread's runtime: default stack size and guard
 * policy, and the offload pool's size.  The layer that owns each setting
 * checks the value (EINVAL) before the runtime is looked up.
 */
#include "base/compiler.h"

#include "core/core.h"
#include "io/pool.h"

int weft_set_stack_size(size_t size)
{
	return weft__rt_set_stack_default(size);
}

int weft_set_guard(int guard)
{
	return weft__rt_set_guard_default(guard);
}

int weft_set_pool_size(unsigned threads)
{
	return weft__pool_set_size(threads);
}

/*
 * weft_stats: counters of the calling thread's runtime.
 */
#include "base/compiler.h"
#include "base/error.h"

#include "core/core.h"

int weft_stats(struct weft_stats *st)
{
	struct weft_rt *rt;

	if (!st)
		return weft__fail(EINVAL);
	if (!(rt = weft__rt_get()))
		return -1;
	weft__rt_stats(rt, st);
	return 0;
}

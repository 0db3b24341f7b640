/*
 * Memory from the C library, through the failure-injection point
 * (fault.h).  weft calls these, never malloc and friends by name
 * (tests/layers.sh checks), so a fault-injection build can make any of
 * its allocations fail.  free() is called directly.
 */
#ifndef WEFT_BASE_ALLOC_H
#define WEFT_BASE_ALLOC_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"

static inline int weft__alloc_fails(void)
{
	if (!weft__fault(WEFT__FAULT_ALLOC))
		return 0;
	errno = ENOMEM;
	return 1;
}

static inline void *weft__malloc(size_t n)
{
	return weft__alloc_fails() ? NULL : malloc(n);
}

static inline void *weft__calloc(size_t n, size_t size)
{
	return weft__alloc_fails() ? NULL : calloc(n, size);
}

static inline void *weft__realloc(void *p, size_t n)
{
	return weft__alloc_fails() ? NULL : realloc(p, n);
}

static inline char *weft__strdup(const char *s)
{
	return weft__alloc_fails() ? NULL : strdup(s);
}

#endif /* WEFT_BASE_ALLOC_H */

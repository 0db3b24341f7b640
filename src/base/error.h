/*
 * The one error convention: a failing call returns -1 (or NULL) and sets
 * errno, and each function's man page lists the errno values it can set.
 * Internally, functions that park return 0 or an errno value instead, so
 * that errno, which a task switch may clobber, is set once at the boundary.
 */
#ifndef WEFT_BASE_ERROR_H
#define WEFT_BASE_ERROR_H

#include <errno.h>
#include <stddef.h>

/* Set errno and return -1. */
static inline int weft__fail(int err)
{
	errno = err;
	return -1;
}

/* Set errno and return NULL. */
static inline void *weft__fail_null(int err)
{
	errno = err;
	return NULL;
}

/* 0 becomes -1 with errno err; anything else is returned as it is. */
static inline int weft__result(int err)
{
	return err ? weft__fail(err) : 0;
}

#endif /* WEFT_BASE_ERROR_H */

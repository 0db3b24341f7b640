/*
 * Failure injection for tests: a build configured with
 * --enable-fault-injection can make the Nth allocation, mapping, poller
 * call, thread creation or libcurl handle of the calling thread fail, as
 * if the system had run out (tests/test_fault.c walks N = 1, 2, 3, ...).
 * Every place weft gets such a resource asks weft__fault first; in a
 * normal build that is a constant 0 and the compiler removes it.
 */
#ifndef WEFT_BASE_FAULT_H
#define WEFT_BASE_FAULT_H

#include "config.h"

enum weft__fault_kind {
	WEFT__FAULT_ALLOC   = 1 << 0,  /* malloc, calloc, realloc, strdup */
	WEFT__FAULT_MMAP    = 1 << 1,  /* mmap, mprotect, madvise */
	WEFT__FAULT_EPOLL   = 1 << 2,  /* epoll_create1, epoll_ctl */
	WEFT__FAULT_EVENTFD = 1 << 3,
	WEFT__FAULT_THREAD  = 1 << 4,  /* pthread_create */
	WEFT__FAULT_SIGNAL  = 1 << 5,  /* sigaltstack; not sigaction, which
	                                  cannot fail for a valid handler */
	WEFT__FAULT_CURL    = 1 << 6   /* curl_easy_init, curl_multi_init,
	                                  curl_slist_append */
};

#ifdef WEFT_FAULT_INJECTION
/* Should this call of kind fail?  Counts the calls of the armed kinds. */
int weft__fault(enum weft__fault_kind kind);

/* The test's controls (exported from a fault-injection build only):
 * fail the nth call (from 1) of any kind in mask made by the calling
 * thread from now on, once; hits says whether it came. */
__attribute__((visibility("default")))
void weft__fault_arm(unsigned mask, unsigned long nth);
__attribute__((visibility("default")))
void weft__fault_disarm(void);
__attribute__((visibility("default")))
int weft__fault_hits(void);
#else
static inline int weft__fault(enum weft__fault_kind kind)
{
	(void)kind;
	return 0;
}
#endif

#endif /* WEFT_BASE_FAULT_H */

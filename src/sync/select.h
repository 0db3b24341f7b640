/*
 * weft_select's seam: a generic wait record per case, and the operations
 * each kind of case (channel send/receive, fd readiness, task completion)
 * provides.  select.c knows no kind; select_kinds.c has them all.  A new
 * selectable kind is a new struct weft__select_kind there, plus a member
 * of the union below if it needs wait state of its own.
 */
#ifndef WEFT_SYNC_SELECT_H
#define WEFT_SYNC_SELECT_H

#include "io/fd.h"
#include "sync/waitq.h"

struct weft__select_kind;

/* The wait record of one case, on the selecting task's stack. */
struct weft__selwait {
	const struct weft__select_kind *kind;
	struct weft__waiter w;        /* task, select token and case index;
	                                 queued on a shared object, or not */
	int watching;                 /* watch succeeded: unwatch undoes it */
	union {
		struct {
			struct weft__fd *e;
			struct weft__fdwait wait;
		} fd;
	} u;
};

struct weft__select_kind {
	/* Are c's arguments valid for the calling task?  0 or an errno. */
	int (*check)(struct weft_rt *rt, const struct weft_select_case *c);
	/* The lock to hold while trying and watching c, or NULL for none.
	 * select takes every case's lock at once, in address order. */
	weft__spin *(*lock)(const struct weft_select_case *c);
	/* Do c now if it can be done without waiting: 1 (it fired), or 0. */
	int (*try)(struct weft_rt *rt, struct weft_select_case *c);
	/* Start waiting for c (under its lock, if it has one). */
	void (*watch)(struct weft_rt *rt, struct weft_select_case *c,
	    struct weft__selwait *p);
	/* Stop waiting for c (its lock not held). */
	void (*unwatch)(struct weft_rt *rt, struct weft_select_case *c,
	    struct weft__selwait *p);
	/* Is c ready now?  NULL for kinds whose waker claims the select
	 * token and completes the case itself (p->w.done). */
	int (*ready)(struct weft_select_case *c);
	/* c fired after a wait: finish it (its result, its error). */
	void (*fired)(struct weft_rt *rt, struct weft_select_case *c,
	    struct weft__selwait *p);
};

/* The kind of a case's op, or NULL when there is no such op. */
const struct weft__select_kind *weft__select_kind(int op);

#endif /* WEFT_SYNC_SELECT_H */

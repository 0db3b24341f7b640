/*
 * The loop: what the scheduler runs when no task is ready.  It owns the
 * three sources of wake-ups — the timer heap, the poller, and the mailbox
 * that every other thread posts to — and turns each into weft__unpark.
 *
 * The poller is made at the first park that needs it (an EXTERNAL wait),
 * so a thread that only sleeps, joins or locks uncontended mutexes never
 * opens a descriptor: without a poller the loop sleeps until the next
 * timer with clock_nanosleep.
 */
#ifndef WEFT_CORE_LOOP_H
#define WEFT_CORE_LOOP_H

#include <stdatomic.h>

#include "base/heap.h"
#include "base/unwind.h"
#include "base/mpsc.h"
#include "core/core.h"

struct weft__loop {
	struct weft__heap timers;        /* parked tasks with a wake time */
	struct weft__poller *poller;     /* NULL until the first need */
	struct weft__mpsc mailbox;       /* struct weft__msg from any thread */
	/* 1 while a poller wake-up is written and not yet seen, while the
	 * loop spins looking at the mailbox, or while there is no poller:
	 * posters then need not write. */
	atomic_int wake_pending;
	/* Other threads between marking a wait of ours done and the end of
	 * their wake-up: the runtime is not freed while this is not 0. */
	atomic_int posting;
	/* 1 while the thread sleeps in the poller or the clock: no task
	 * runs (read by the watchdog). */
	atomic_uchar idle;
	struct weft__regs idle_regs;    /* the sleeping context's */
	int64_t lonely_next;            /* loop.c: nothing_can_wake */
	unsigned char deadlock_said;    /* loop.c: deadlock */
	unsigned signals_seen;          /* loop.c: weft__signal_noted's count */
	int64_t spin_ns;                /* loop.c: mail_spin's budget */
	unsigned spin_skips;            /* loop.c: idle steps without a spin */
};

void weft__loop_init(struct weft__loop *l);
/* Run every queued message with rt NULL (they free what they own). */
void weft__loop_discard_mail(struct weft__loop *l);
void weft__loop_term(struct weft__loop *l);
/* In the child of fork(2): drop the messages of threads the child lacks,
 * every timer, and our references to the parent's epoll instance and
 * eventfd; the next external wait makes a poller of the child's own. */
void weft__loop_forked(struct weft__loop *l);

/* Wake rt's loop if it sleeps in its poller (any thread; the mailbox's
 * wake_pending protocol). */
void weft__loop_kick(struct weft_rt *rt);

/* Look at (or, when block, wait for) the timers, the mailbox and the
 * poller once, making ready whatever they end.  The scheduler calls it. */
void weft__loop_step(struct weft_rt *rt, int block);

#endif /* WEFT_CORE_LOOP_H */

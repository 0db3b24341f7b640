/*
 * The loop step, the mailbox and the idle spin.  See loop.h.
 *
 * The mailbox wake-up protocol.  A poster pushes its message, then writes
 * the poller's wake-up only if it turns wake_pending from 0 to 1.  The loop
 * sets wake_pending back to 0 after each poller wait and only then drains
 * the mailbox: a message pushed before the reset is drained now, one pushed
 * after it finds 0 and writes.  While the loop spins for messages, or
 * while there is no poller, wake_pending stays 1 and posters write nothing.
 */
#include "base/compiler.h"
#include "base/error.h"

#include "base/clock.h"
#include "base/sys.h"
#include "core/crew.h"
#include "core/loop.h"
#include "core/debug.h"
#include "core/runtime.h"

/* The longest an idle loop spins for a message from another thread before
 * it sleeps in the kernel, when its tasks wait on shared objects; spins
 * shorter than MAIL_SPIN_MIN_NS are not tried; a loop that stopped
 * spinning tries again after MAIL_SPIN_RETRY idle steps. */
#define MAIL_SPIN_NS 50000
#define MAIL_SPIN_MIN_NS 1000
#define MAIL_SPIN_RETRY 32

void weft__loop_init(struct weft__loop *l)
{
	weft__heap_init(&l->timers);
	l->poller = NULL;
	atomic_init(&l->mailbox.top, NULL);
	atomic_init(&l->wake_pending, 1);
	atomic_init(&l->posting, 0);
	l->spin_ns = MAIL_SPIN_NS;
	l->spin_skips = 0;
}

void weft__loop_term(struct weft__loop *l)
{
	weft__heap_term(&l->timers);
	weft__poller_destroy(l->poller);
	l->poller = NULL;
}

struct weft__poller *weft__loop_poller(struct weft_rt *rt)
{
	struct weft__loop *l = &rt->loop;

	if (weft__likely(l->poller != NULL))
		return l->poller;
	if (!(l->poller = weft__poller_create()))
		return NULL;
	/* From now on posters write; the next step drains what came
	 * before (seq_cst: the poller is visible to whoever reads 0). */
	atomic_store(&l->wake_pending, 0);
	return l->poller;
}

/* ---- the mailbox -------------------------------------------------------- */

void weft__mailbox_post(struct weft_rt *rt, struct weft__msg *m)
{
	struct weft__loop *l = &rt->loop;

	weft__mpsc_push(&l->mailbox, &m->node);
	if (!atomic_exchange(&l->wake_pending, 1))
		weft__poller_wake(l->poller);
}

void weft__loop_kick(struct weft_rt *rt)
{
	struct weft__loop *l = &rt->loop;

	if (!atomic_exchange(&l->wake_pending, 1))
		weft__poller_wake(l->poller);
}

/* Run what other threads posted, oldest first, with rt (NULL: the
 * runtime is going away); returns whether there was any. */
static int mail_run(struct weft__loop *l, struct weft_rt *rt)
{
	struct weft__qnode *n = weft__mpsc_take(&l->mailbox), *next;
	int any = n != NULL;

	for (; n; n = next) {
		struct weft__msg *m = weft__container_of(n, struct weft__msg,
		    node);

		next = n->next;       /* m may be posted again once run */
		m->run(m, rt);
	}
	return any;
}

static int mail_drain(struct weft_rt *rt)
{
	return mail_run(&rt->loop, rt);
}

void weft__loop_discard_mail(struct weft__loop *l)
{
	mail_run(l, NULL);
}

/*
 * Before sleeping in the kernel, spin a little for a message: a peer that
 * answers within microseconds then costs no system call on either side
 * (wake_pending tells posters not to write while we look).  Returns
 * whether something arrived.
 *
 * The spin must pay for itself.  Each one that ends empty halves the
 * next; each that is answered doubles it, up to MAIL_SPIN_NS.  When the
 * cores are contended (a busy process beside), the peer is slow to run
 * and answer, spins end empty, and the loop soon sleeps at once,
 * leaving the core to whoever can use it; it tries a short spin again
 * now and then (bench_workers --busy).
 */
static int mail_spin(struct weft_rt *rt)
{
	struct weft__loop *l = &rt->loop;
	int64_t until;
	unsigned i = 0;
	int got;

	if (l->spin_ns < MAIL_SPIN_MIN_NS) {
		if (++l->spin_skips < MAIL_SPIN_RETRY)
			return 0;
		l->spin_skips = 0;
		l->spin_ns = MAIL_SPIN_MIN_NS;
	}
	until = weft_now() + l->spin_ns;
	atomic_store(&l->wake_pending, 1);
	/* A worker also stops for a fresh task another worker gave it. */
	while (!(got = weft__mpsc_full(&l->mailbox) ||
	    (rt->worker.crew && atomic_load_explicit(&rt->worker.nfresh,
	    memory_order_relaxed)))) {
		weft__cpu_relax();
		if (++i % 64 == 0 && weft_now() >= until)
			break;
	}
	/* From here a poster must write; look once more after saying so,
	 * or a message between the two would be missed. */
	atomic_store(&l->wake_pending, 0);
	got = got || weft__mpsc_full(&l->mailbox);
	if (got)
		l->spin_ns = l->spin_ns * 2 < MAIL_SPIN_NS ? l->spin_ns * 2 :
		    MAIL_SPIN_NS;
	else
		l->spin_ns /= 2;
	return got;
}

void weft__loop_forked(struct weft__loop *l)
{
	mail_run(l, NULL);
	atomic_store(&l->posting, 0);
	while (weft__heap_pop_due(&l->timers, INT64_MAX))
		;
	weft__poller_destroy(l->poller);
	l->poller = NULL;
	atomic_store(&l->wake_pending, 1);
}

/* ---- the step ----------------------------------------------------------- */

/* How often a runtime whose waits only another thread can end looks
 * again whether such a thread is left. */
#define LONELY_RECHECK_NS (1000 * WEFT__NS_PER_MS)

/*
 * Nothing is ready and no timer is pending; every wait left, if any, is
 * on an object shared between threads (a mutex, a channel...).  Can
 * anything end them?  Not when no wait is external at all, nor when this
 * is the only thread with a runtime and the process has no thread but it
 * and weft's own.  Other threads are looked for once a second at most
 * (*timeout then bounds the sleep, to look again).
 */
static int nothing_can_wake(struct weft_rt *rt, int64_t *timeout)
{
	struct weft__loop *l = &rt->loop;
	int64_t now = rt->view.clock;
	int n;

	if (rt->sched.external == 0)
		return 1;
	/* Others were there a moment ago: look again later, not at every
	 * sleep (a "yes" is never kept: a thread may come at any time). */
	if (now < l->lonely_next) {
		*timeout = l->lonely_next - now;
		return 0;
	}
	*timeout = LONELY_RECHECK_NS;
	n = weft__debug_runtimes() == 1 ? weft__sys_thread_count() : -1;
	if (n > 0 && n - 1 - weft__debug_own_threads() <= 0)
		return 1;
	l->lonely_next = now + LONELY_RECHECK_NS;
	return 0;
}

/*
 * No task of this runtime can ever run again.  Say so (the report of
 * api/dump.c, unless turned off), then tell main, which is parked
 * whenever no task runs, unless its wait cannot be cut short; returns
 * whether it was told.
 */
static int deadlock(struct weft_rt *rt)
{
	struct weft_task *main_task = &rt->sched.main_task;
	struct weft__loop *l = &rt->loop;

	/* Once for each deadlock, though the loop comes back to it. */
	if (!l->deadlock_said && weft__debug_on_deadlock)
		weft__debug_on_deadlock();
	l->deadlock_said = 1;
	if (main_task->state != WEFT__PARKED || main_task->nointr)
		return 0;
	l->deadlock_said = 0;
	weft__unpark(rt, main_task, EDEADLK);
	return 1;
}

/* Handlers that ran on this thread (weft__signal_noted). */
static __thread unsigned signals_noted __attribute__((tls_model("initial-exec")));

void (*weft__loop_on_signal)(struct weft_rt *rt);

void weft__signal_noted(void)
{
	signals_noted++;
}

/* Tell the hook of handlers run since the loop last looked; whether
 * there were any. */
static int signals_check(struct weft_rt *rt)
{
	struct weft__loop *l = &rt->loop;
	void (*on_signal)(struct weft_rt *);

	if (weft__likely(signals_noted == l->signals_seen))
		return 0;
	on_signal = __atomic_load_n(&weft__loop_on_signal, __ATOMIC_RELAXED);
	l->signals_seen = signals_noted;
	if (on_signal)
		on_signal(rt);
	return 1;
}

/* Wait for the poller (or, without one, the next timer) for timeout_ns. */
static void wait_events(struct weft_rt *rt, int64_t timeout_ns)
{
	struct weft__loop *l = &rt->loop;

	/* A handler that ran while tasks did interrupts waits now, and
	 * the tasks it made ready run before the loop sleeps. */
	if (signals_check(rt))
		timeout_ns = 0;

	if (timeout_ns) {
		/* Where this context stands, for a dump taken meanwhile. */
		WEFT__REGS_HERE(&l->idle_regs);
		atomic_store_explicit(&l->idle, 1, memory_order_relaxed);
	}
	if (l->poller) {
		weft__poller_wait(l->poller, timeout_ns);
		atomic_store(&l->wake_pending, 0);
	} else if (timeout_ns > 0) {
		weft__sys_nap_until(weft__add_ns(weft_now(), timeout_ns));
	} else if (timeout_ns < 0) {
		/* No timer, nothing external, and main waits where it
		 * cannot be told: nothing will ever happen.  Sleep. */
		weft__sys_nap_until(INT64_MAX);
	}
	if (timeout_ns)
		atomic_store_explicit(&l->idle, 0, memory_order_relaxed);
	signals_check(rt);
	mail_drain(rt);
}

static void fire_timers(struct weft_rt *rt)
{
	int64_t now = weft_now();
	struct weft__heap_node *n;

	while ((n = weft__heap_pop_due(&rt->loop.timers, now))) {
		struct weft_task *t = weft__container_of(n, struct weft_task,
		    timer);

		weft__unpark(rt, t, t->timer_err);
	}
}

void weft__loop_step(struct weft_rt *rt, int block)
{
	struct weft__sched *s = &rt->sched;
	struct weft__loop *l = &rt->loop;
	int64_t next = weft__heap_min(&l->timers), timeout = 0, now;
	int asleep = 0;

	/* The time waits note as their start (core.h): read here, where the
	 * loop looks anyway, not at each park. */
	rt->view.clock = weft_now();
	if (mail_drain(rt) && block)
		return;
	if (block) {
		if (next == INT64_MAX) {
			timeout = -1;
			/* Among workers, another one can always end a
			 * wait: no deadlock is ever declared. */
			if (s->external == s->shared && !rt->worker.crew &&
			    nothing_can_wake(rt, &timeout)) {
				if (deadlock(rt))
					return;
			} else {
				l->deadlock_said = 0;
			}
		} else {
			l->deadlock_said = 0;
			now = rt->view.clock;
			timeout = next > now ? next - now : 0;
		}
		if (timeout != 0 && s->shared && mail_spin(rt)) {
			mail_drain(rt);
			return;
		}
		/* A worker sleeps only when no fresh task waits anywhere. */
		if (timeout != 0 && rt->worker.crew) {
			if (weft__crew_idle(rt, &timeout))
				return;
			asleep = 1;
		}
	}
	/* Arenas that have rested long enough go back to the system; a
	 * loop about to sleep wakes when the next one is due. */
	weft__stacks_tidy(&rt->stacks, rt->view.clock, block ? &timeout : NULL);
	/* Without blocking, look at the poller only for fds, the pool and
	 * fetch: shared objects come through the mailbox, drained above. */
	if (timeout != 0 || s->external > s->shared)
		wait_events(rt, timeout);
	if (asleep)
		weft__crew_awake(rt);
	if (next != INT64_MAX)
		fire_timers(rt);
}

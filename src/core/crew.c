/*
 * Workers: weft_set_workers, the fresh queues, stealing, and sleeping.
 * See crew.h.
 */
#include "base/compiler.h"
#include "base/error.h"
#include "base/alloc.h"
#include "base/fault.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/sys.h"
#include "core/runtime.h"

/* A worker's fresh tasks are not stolen for this long after one was
 * placed there: it is waking up, or finishing what it runs, to take
 * them. */
#define HANDED_NS 1000000

/* A fresh task that cannot have a stack (ENOMEM) is tried again after. */
#define BIND_RETRY_NS (10 * WEFT__NS_PER_MS)

static void fresh_lock(struct weft__worker *w)
{
	while (atomic_exchange_explicit(&w->lock, 1, memory_order_acquire))
		while (atomic_load_explicit(&w->lock, memory_order_relaxed))
			weft__cpu_relax();
}

static void fresh_unlock(struct weft__worker *w)
{
	atomic_store_explicit(&w->lock, 0, memory_order_release);
}

static struct weft_rt *crew_rt(struct weft__crew *c, unsigned i)
{
	return atomic_load_explicit(&c->rt[i], memory_order_acquire);
}

/* ---- the fresh queues ------------------------------------------------- */

/* Count v out of the sleepers if it is one (the waker, or v itself on
 * waking: whoever clears asleep counts); whether it was. */
static int wake_claim(struct weft__crew *c, struct weft_rt *v)
{
	if (!atomic_load(&v->worker.asleep) ||
	    !atomic_exchange(&v->worker.asleep, 0))
		return 0;
	atomic_fetch_sub(&c->sleepers, 1);
	return 1;
}

/* Claim a sleeping worker other than skip, to be kicked; NULL if none
 * sleeps. */
static struct weft_rt *claim_sleeper(struct weft__crew *c, unsigned skip)
{
	unsigned k;
	struct weft_rt *v;

	for (k = 1; k < c->n; k++)
		if ((v = crew_rt(c, (skip + k) % c->n)) && wake_claim(c, v))
			return v;
	return NULL;
}

/*
 * From when a thief may take w's fresh tasks: never (INT64_MAX) when
 * there are none, or when w is looking for work itself (in its loop,
 * spinning, asleep, or not started: it takes them, however late the
 * kernel runs it); else HANDED_NS after the last one placed there.
 */
static int64_t stealable_at(struct weft__worker *w)
{
	if (!atomic_load(&w->nfresh) || atomic_load(&w->looking))
		return INT64_MAX;
	return atomic_load_explicit(&w->handed_at, memory_order_relaxed) +
	    HANDED_NS;
}

static void fresh_add(struct weft__worker *w, struct weft_task *t)
{
	fresh_lock(w);
	weft__queue_push(&w->fresh, &t->node);
	atomic_fetch_add(&w->nfresh, 1);
	fresh_unlock(w);
}

/* What a worker has to do: the tasks started or bound there, and its
 * fresh ones. */
static uint64_t load_of(struct weft_rt *v)
{
	return __atomic_load_n(&v->tasks.bound, __ATOMIC_RELAXED) +
	    atomic_load_explicit(&v->worker.nfresh, memory_order_relaxed);
}

/* The worker with the least to do; the spawner's own on a tie.  The
 * spawner is busy itself: a task is counted among the bound, the
 * thread's own stack (main) is added here. */
static struct weft_rt *least_loaded(struct weft__crew *c, struct weft_rt *rt)
{
	struct weft_rt *best = rt, *v;
	uint64_t least = load_of(rt) + !weft__in_task(rt), l;
	unsigned i;

	for (i = 0; i < c->n; i++) {
		if (!(v = crew_rt(c, i)) || v == rt ||
		    atomic_load_explicit(&v->worker.departed,
		    memory_order_relaxed))
			continue;
		if ((l = load_of(v)) < least) {
			least = l;
			best = v;
		}
	}
	return best;
}

/*
 * Placement: a started task never moves, so where a fresh task goes
 * decides where it lives.  It goes to the worker with the least to do
 * (the connections of an acceptor spread over the workers), which is
 * kicked if it sleeps.  Thieves leave alone a worker that is looking
 * for work (it will take its fresh tasks itself, however late the
 * kernel runs it) and one given a task in the last HANDED_NS; they take
 * what waits behind a worker busy with a long task.
 */
void weft__crew_push(struct weft_rt *rt, struct weft_task *t)
{
	struct weft__worker *w = &rt->worker;
	struct weft__crew *c = w->crew;
	struct weft_rt *v = least_loaded(c, rt);

	/* The clock now, not the loop's last reading: a task that ran
	 * long since would make it look old, and free to steal.  A task
	 * kept at home is stamped too: a spawner busy accepting must not
	 * see every task it keeps taken at once by an idle worker. */
	atomic_store_explicit(&v->worker.handed_at, weft_now(),
	    memory_order_relaxed);
	fresh_add(&v->worker, t);
	/* Sequentially consistent after the count: see crew.h, Sleeping. */
	if (v != rt) {
		if (wake_claim(c, v))
			weft__loop_kick(v);
		return;
	}
	/* Ours; for a second one waiting here a sleeper wakes, to take it
	 * if we have not by HANDED_NS (weft__crew_idle). */
	if (atomic_load(&w->nfresh) > 1 && atomic_load(&c->sleepers) &&
	    (v = claim_sleeper(c, w->index)))
		weft__loop_kick(v);
}

/* Take up to max tasks off w's fresh queue into *out (max 0: a thief's
 * half, if stealable_at allows by now); how many. */
static unsigned fresh_take(struct weft__worker *w, struct weft__queue *out,
    unsigned max, int64_t now)
{
	struct weft__qnode *n;
	unsigned got = 0;

	if (!atomic_load_explicit(&w->nfresh, memory_order_relaxed))
		return 0;
	if (max == 0 && now < stealable_at(w))
		return 0;
	fresh_lock(w);
	if (max == 0)                 /* a thief: half, rounded up */
		max = (atomic_load_explicit(&w->nfresh,
		    memory_order_relaxed) + 1) / 2;
	while (got < max && (n = weft__queue_pop(&w->fresh))) {
		weft__queue_push(out, n);
		got++;
	}
	atomic_fetch_sub(&w->nfresh, got);
	fresh_unlock(w);
	return got;
}

/* Half of another worker's fresh tasks: the first to run, the rest put
 * on our own fresh queue (still fresh: others may steal them on). */
static struct weft_task *steal(struct weft_rt *rt)
{
	struct weft__worker *w = &rt->worker;
	struct weft__crew *c = w->crew;
	struct weft__queue got = { NULL, NULL };
	struct weft__qnode *first, *n;
	unsigned k, i, moved = 0;
	struct weft_rt *v;

	for (k = 0; k < c->n; k++) {
		i = (w->victim + k) % c->n;
		if (i == w->index || !(v = crew_rt(c, i)))
			continue;
		if (fresh_take(&v->worker, &got, 0, weft__clock_cached(rt))) {
			w->victim = i;
			break;
		}
	}
	if (!(first = weft__queue_pop(&got)))
		return NULL;
	if (!weft__queue_empty(&got)) {
		fresh_lock(w);
		while ((n = weft__queue_pop(&got))) {
			weft__queue_push(&w->fresh, n);
			moved++;
		}
		atomic_fetch_add(&w->nfresh, moved);
		fresh_unlock(w);
	}
	return weft__container_of(first, struct weft_task, node);
}

static struct weft_task *fresh_next(struct weft_rt *rt)
{
	struct weft__queue one = { NULL, NULL };
	struct weft_task *t = NULL;

	if (fresh_take(&rt->worker, &one, 1, 0))
		t = weft__container_of(weft__queue_pop(&one), struct weft_task,
		    node);
	return t ? t : steal(rt);
}

/* What to run next, or NULL; looking says which (crew.h). */
static struct weft_task *next_of(struct weft_rt *rt)
{
	struct weft__worker *w = &rt->worker;
	struct weft__qnode *n;
	struct weft_task *t;

	/* Every other dispatch looks at the fresh queue first, so neither a
	 * busy run queue nor a flood of spawns starves the other. */
	if ((w->turn++ & 1) == 0 ||
	    !atomic_load_explicit(&w->nfresh, memory_order_relaxed)) {
		if ((n = weft__queue_pop(&rt->sched.runq)))
			return weft__container_of(n, struct weft_task, node);
	}
	if ((t = fresh_next(rt))) {
		if (weft__task_bind(rt, t) == 0)
			return t;
		/* No stack for it now: back on our queue, and wait a
		 * little before trying again (weft_set_workers(3)). */
		fresh_add(w, t);
		weft__sys_nap_until(weft__add_ns(weft_now(), BIND_RETRY_NS));
	}
	n = weft__queue_pop(&rt->sched.runq);
	return n ? weft__container_of(n, struct weft_task, node) : NULL;
}

struct weft_task *weft__crew_next(struct weft_rt *rt)
{
	struct weft__worker *w = &rt->worker;
	struct weft_task *t = next_of(rt);
	int looking = t == NULL;

	if (atomic_load_explicit(&w->looking, memory_order_relaxed) != looking)
		atomic_store(&w->looking, looking);
	return t;
}

/* ---- sleeping ----------------------------------------------------------- */

/* When rt has fresh work: 0 (now: its own, or another worker's it may
 * steal), the time it may steal some, or INT64_MAX. */
static int64_t work_at(struct weft_rt *rt)
{
	struct weft__crew *c = rt->worker.crew;
	int64_t at = INT64_MAX, when;
	struct weft_rt *v;
	unsigned i;

	if (atomic_load(&rt->worker.nfresh))
		return 0;
	for (i = 0; i < c->n; i++)
		if ((v = crew_rt(c, i)) && v != rt &&
		    (when = stealable_at(&v->worker)) < at)
			at = when;
	return at;
}

int weft__crew_idle(struct weft_rt *rt, int64_t *timeout)
{
	struct weft__worker *w = &rt->worker;
	int64_t at, now;

	atomic_store(&w->asleep, 1);
	atomic_fetch_add(&w->crew->sleepers, 1);
	if ((at = work_at(rt)) == INT64_MAX)
		return 0;
	now = weft_now();
	if (at > now) {
		/* Only tasks we may not steal yet: sleep until we may. */
		if (*timeout < 0 || *timeout > at - now)
			*timeout = at - now;
		return 0;
	}
	weft__crew_awake(rt);
	return 1;
}

void weft__crew_awake(struct weft_rt *rt)
{
	wake_claim(rt->worker.crew, rt);
}

/* ---- counting, and weft_run ------------------------------------------- */

void weft__crew_task_begun(struct weft__crew *c)
{
	atomic_fetch_add(&c->unfinished, 1);
}

void weft__crew_task_ended(struct weft__crew *c)
{
	struct weft_task *waiter;
	struct weft_rt *v;
	unsigned i;

	if (atomic_fetch_sub(&c->unfinished, 1) != 1)
		return;
	for (i = 0; i < c->n; i++) {
		if (!(v = crew_rt(c, i)))
			continue;
		waiter = atomic_exchange(&v->worker.run_waiter, NULL);
		if (waiter)
			weft__wake_done(waiter, &v->worker.run_woken);
	}
}

int weft__crew_run(struct weft_rt *rt)
{
	struct weft__worker *w = &rt->worker;
	struct weft__crew *c = w->crew;
	int err;

	while (atomic_load(&c->unfinished)) {
		atomic_store(&w->run_woken, 0);
		atomic_store(&w->run_waiter, weft__self(rt));
		/* Say we wait, then look: the last task's end finds us, or
		 * we find its count (both sequentially consistent). */
		if (!atomic_load(&c->unfinished)) {
			atomic_store(&w->run_waiter, NULL);
			break;
		}
		weft__wait_note(rt, WEFT__WAIT_JOIN, NULL, 0, 0);
		err = weft__park(rt, WEFT__PARK_SHARED);
		atomic_store(&w->run_waiter, NULL);
		if (err)
			return err;
	}
	return 0;
}

void weft__crew_departed(struct weft_rt *rt)
{
	struct weft__worker *w = &rt->worker;
	struct weft_rt *v;

	/* Nothing is placed here any more, and what waits here is free to
	 * steal at once: nobody will run it otherwise. */
	atomic_store(&w->departed, 1);
	atomic_store(&w->handed_at, 0);
	atomic_store(&w->looking, 0);
	if (atomic_load(&w->nfresh) && (v = claim_sleeper(w->crew, w->index)))
		weft__loop_kick(v);
}

/* ---- fork --------------------------------------------------------------- */

void weft__crew_forked(struct weft_rt *rt)
{
	struct weft__worker *w = &rt->worker;

	/* The other workers are not in the child; the fresh tasks left
	 * here never started, and tasks.c's fork pass makes them GONE. */
	w->crew = NULL;
	w->index = 0;
	atomic_store(&w->lock, 0);
	memset(&w->fresh, 0, sizeof(w->fresh));
	atomic_store(&w->nfresh, 0);
	atomic_store(&w->asleep, 0);
	atomic_store(&w->run_waiter, NULL);
}

/* ---- the worker threads ------------------------------------------------- */

struct start {
	struct weft__crew *crew;
	unsigned index;
	struct weft_rt *founder;      /* worker 0: its stack settings */
};

/* A new worker's runtime, made whole before the crew may use it. */
static struct weft_rt *worker_rt(const struct start *st)
{
	struct weft_rt *rt = weft__rt_get();

	if (!rt || weft__rt_spawn_ready(rt) == -1 || !weft__loop_poller(rt))
		return NULL;
	rt->stacks.default_size = st->founder->stacks.default_size;
	rt->stacks.default_guard = st->founder->stacks.default_guard;
	rt->worker.crew = st->crew;
	rt->worker.index = st->index;
	/* Not running yet: what is placed here waits for us. */
	atomic_store(&rt->worker.looking, 1);
	rt->worker.victim = (st->index + 1) % st->crew->n;
	return rt;
}

static void *worker_main(void *arg)
{
	struct start st = *(struct start *)arg;
	struct weft__crew *c = st.crew;
	struct weft_rt *rt;
	int go;

	free(arg);
	rt = worker_rt(&st);
	pthread_mutex_lock(&c->start_lock);
	if (rt)
		atomic_store(&c->rt[st.index], rt);
	else if (!c->err)
		c->err = errno ? errno : ENOMEM;
	c->registered++;
	pthread_cond_broadcast(&c->start_cond);
	while (!c->go && !c->failed)
		pthread_cond_wait(&c->start_cond, &c->start_lock);
	go = c->go && rt;
	pthread_mutex_unlock(&c->start_lock);
	if (!go) {
		if (rt)
			rt->worker.crew = NULL;   /* destroyed as the thread ends */
		return NULL;
	}
	/* This thread's own stack waits for ever, outside the poller's
	 * count of shared waits: the loop beneath runs the crew's tasks. */
	for (;;)
		weft__park(rt, WEFT__PARK_EXTERNAL | WEFT__PARK_NOINTR);
	return NULL;
}

/* Block every signal a process sends in workers: they go to the
 * program's own threads.  Faults stay deliverable (overflow.c), and
 * SIGURG, which the watchdog sends a thread to read its stack
 * (api/watch.c). */
static void worker_sigmask(sigset_t *set)
{
	sigfillset(set);
	sigdelset(set, SIGURG);
	sigdelset(set, SIGSEGV);
	sigdelset(set, SIGBUS);
	sigdelset(set, SIGFPE);
	sigdelset(set, SIGILL);
	sigdelset(set, SIGTRAP);
	sigdelset(set, SIGABRT);
	sigdelset(set, SIGSYS);
}

/* Start worker i's thread; 0 or an errno. */
static int start_worker(struct weft__crew *c, unsigned i, pthread_t *th,
    struct weft_rt *founder)
{
	struct start *st = weft__malloc(sizeof(*st));
	sigset_t set, old;
	char name[16];
	int err;

	if (!st)
		return ENOMEM;
	st->crew = c;
	st->index = i;
	st->founder = founder;
	worker_sigmask(&set);
	pthread_sigmask(SIG_SETMASK, &set, &old);
	err = weft__fault(WEFT__FAULT_THREAD) ? EAGAIN :
	    pthread_create(th, NULL, worker_main, st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		free(st);
		return err;
	}
	snprintf(name, sizeof(name), "weft-worker-%u", i % 1000u);
	pthread_setname_np(*th, name);
	return 0;
}

/* WEFT_WORKERS, else one worker per online CPU; 0 and EINVAL for a
 * malformed variable. */
static unsigned workers_default(void)
{
	const char *env = getenv("WEFT_WORKERS");
	char *end;
	unsigned long v;
	long cpus;

	if (env && *env) {
		errno = 0;
		v = strtoul(env, &end, 10);
		if (errno || *end || v == 0 || v > WEFT__WORKERS_MAX ||
		    *env == '-' || *env == '+') {
			errno = EINVAL;
			return 0;
		}
		return (unsigned)v;
	}
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 1)
		return 1;
	return cpus > (long)WEFT__WORKERS_MAX ? WEFT__WORKERS_MAX :
	    (unsigned)cpus;
}

static void crew_free(struct weft__crew *c)
{
	pthread_mutex_destroy(&c->start_lock);
	pthread_cond_destroy(&c->start_cond);
	free(c);
}

/* Start n-1 threads and wait until each has its runtime; 0 or an errno
 * (then every started thread is told to end, and is joined). */
static int crew_start(struct weft__crew *c, struct weft_rt *founder)
{
	pthread_t *th = weft__calloc(c->n, sizeof(*th));
	unsigned i, started = 1;
	int err = 0;

	if (!th)
		return ENOMEM;
	for (i = 1; i < c->n && !err; i++)
		if (!(err = start_worker(c, i, &th[i], founder)))
			started++;
	pthread_mutex_lock(&c->start_lock);
	while (c->registered < started - 1)
		pthread_cond_wait(&c->start_cond, &c->start_lock);
	if (!err)
		err = c->err;
	if (err)
		c->failed = 1;
	else
		c->go = 1;
	pthread_cond_broadcast(&c->start_cond);
	pthread_mutex_unlock(&c->start_lock);
	for (i = 1; i < started; i++) {
		if (err)
			pthread_join(th[i], NULL);
		else
			pthread_detach(th[i]);
	}
	free(th);
	return err;
}

int weft_set_workers(unsigned n)
{
	struct weft_rt *rt = weft__rt_get();
	struct weft__crew *c;
	int err;

	if (!rt)
		return -1;
	if (n == 0 && !(n = workers_default()))
		return weft__fail(EINVAL);
	if (n > WEFT__WORKERS_MAX)
		return weft__fail(EINVAL);
	if (rt->worker.crew)
		return n == rt->worker.crew->n ? 0 : weft__fail(EBUSY);
	if (n == 1)
		return 0;
	if (weft__rt_spawn_ready(rt) == -1 || !weft__loop_poller(rt))
		return -1;
	if (!(c = weft__calloc(1, sizeof(*c) + n * sizeof(c->rt[0]))))
		return weft__fail(ENOMEM);
	c->n = n;
	pthread_mutex_init(&c->start_lock, NULL);
	pthread_cond_init(&c->start_cond, NULL);
	atomic_store(&c->rt[0], rt);
	if ((err = crew_start(c, rt))) {
		crew_free(c);
		return weft__fail(err);
	}
	/* Tasks spawned before stay here, counted with the crew's. */
	atomic_store(&c->unfinished, rt->tasks.unfinished);
	rt->tasks.unfinished = 0;
	rt->worker.index = 0;
	rt->worker.victim = 1;
	rt->worker.crew = c;
	return 0;
}

int weft_worker(void)
{
	struct weft_rt *rt = weft__rt_peek();

	return rt && rt->worker.crew ? (int)rt->worker.index : 0;
}

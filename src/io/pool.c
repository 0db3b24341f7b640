/*
 * The offload pool.  See pool.h.
 *
 * Ownership of a job: the caller allocates it and parks.  When the job's
 * message comes back through the mailbox, the loop marks it finished and
 * wakes the caller, who frees it.  A caller that stops waiting (deadline,
 * cancellation) clears job->waiter and leaves; the message then frees the
 * job.  Both sides run on the runtime's own thread, so no lock is needed
 * there.
 */
#include "base/compiler.h"
#include "base/error.h"
#include "base/alloc.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "base/queue.h"
#include "core/core.h"
#include "core/debug.h"
#include "io/pool.h"

#define DEFAULT_THREADS 4u
#define MAX_THREADS 1024u

struct pool {
	pthread_mutex_t lock;            /* guards the queue and the counts */
	pthread_cond_t work;
	struct weft__queue jobs;         /* not yet started */
	unsigned nthreads, idle, running, max_threads;
	int stopping;
	pthread_t *threads;
	unsigned cap_threads;
};

struct job {
	struct weft__qnode node;       /* in the pool's queue */
	struct weft__msg msg;          /* back to the runtime when done */
	void *(*fn)(void *);
	void *arg;
	void *result;
	int fn_errno;
	int finished;                  /* collected by the loop */
	struct weft_task *waiter;      /* NULL once abandoned */
	void (*discard)(void *arg, void *result);
	struct weft_rt *rt;
};

static struct job *job_of(struct weft__qnode *n)
{
	return weft__container_of(n, struct job, node);
}

static int pool_init(void *part, struct weft_rt *rt)
{
	struct pool *p = part;

	(void)rt;
	p->max_threads = DEFAULT_THREADS;
	if (pthread_mutex_init(&p->lock, NULL) != 0)
		return weft__fail(ENOMEM);
	if (pthread_cond_init(&p->work, NULL) != 0) {
		pthread_mutex_destroy(&p->lock);
		return weft__fail(ENOMEM);
	}
	return 0;
}

/* Nobody waits for j any more: free it and what it owns. */
static void job_drop(struct job *j)
{
	if (j->discard)
		j->discard(j->arg, j->result);
	free(j);
}

static void pool_term(void *part)
{
	struct pool *p = part;
	struct weft__qnode *n;
	unsigned i;

	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	/* Running jobs finish first: they may use what their caller gave. */
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	while ((n = weft__queue_pop(&p->jobs)))   /* never started */
		job_drop(job_of(n));
	/* Finished jobs wait in the mailbox: the runtime discards them. */
	free(p->threads);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
}

static const struct weft__part_type pool_type = {
	/* In a child of fork the threads are gone and the lock may be held
	 * for good: the part is kept, unused. */
	WEFT__PART_POOL, sizeof(struct pool), pool_init, pool_term, NULL
};

/* A finished job, back on its runtime's thread (rt NULL: the runtime is
 * going away). */
static void job_arrived(struct weft__msg *m, struct weft_rt *rt)
{
	struct job *j = weft__container_of(m, struct job, msg);

	if (rt && j->waiter) {
		j->finished = 1;
		weft__unpark(rt, j->waiter, 0);
	} else {
		job_drop(j);
	}
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	struct job *j;

	weft__debug_own_thread(1);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		/* The limit can shrink: threads past it wait here. */
		while ((weft__queue_empty(&p->jobs) ||
		    p->running >= p->max_threads) && !p->stopping) {
			p->idle++;
			pthread_cond_wait(&p->work, &p->lock);
			p->idle--;
		}
		if (p->stopping)
			break;
		p->running++;
		j = job_of(weft__queue_pop(&p->jobs));
		pthread_mutex_unlock(&p->lock);
		errno = 0;
		j->result = j->fn(j->arg);
		j->fn_errno = errno;
		weft__mailbox_post(j->rt, &j->msg);
		pthread_mutex_lock(&p->lock);
		p->running--;
		if (!weft__queue_empty(&p->jobs))
			pthread_cond_signal(&p->work);
	}
	pthread_mutex_unlock(&p->lock);
	weft__debug_own_thread(-1);
	return NULL;
}

/* Another worker, if every one is busy and the limit allows.  Caller
 * holds the lock.  Signals go to the application's threads, not here. */
static int grow(struct pool *p)
{
	sigset_t all, old;
	int err;

	if (p->idle > 0 || p->nthreads >= p->max_threads)
		return 0;
	if (p->nthreads == p->cap_threads) {
		unsigned cap = p->cap_threads ? 2 * p->cap_threads : 8;
		pthread_t *t = weft__realloc(p->threads, cap * sizeof(*t));

		if (!t)
			return p->nthreads ? 0 : ENOMEM;
		p->threads = t;
		p->cap_threads = cap;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = weft__fault(WEFT__FAULT_THREAD) ? EAGAIN :
	    pthread_create(&p->threads[p->nthreads], NULL, worker, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return p->nthreads ? 0 : err;  /* the others will get to it */
	p->nthreads++;
	return 0;
}

static int submit(struct pool *p, struct job *j)
{
	int err;

	pthread_mutex_lock(&p->lock);
	err = grow(p);
	if (!err) {
		weft__queue_push(&p->jobs, &j->node);
		pthread_cond_signal(&p->work);
	}
	pthread_mutex_unlock(&p->lock);
	return err;
}

int weft__offload(struct weft_rt *rt, void *(*fn)(void *), void *arg,
    void **result, int *fn_errno, int flags,
    void (*discard)(void *arg, void *result))
{
	struct weft_task *self = weft__self(rt);
	struct pool *p = NULL;
	struct job *j = NULL;
	int err = weft__interrupted(self);

	/* The job comes back through the mailbox: the loop must be able to
	 * sleep in the poller for it, so fail now if it cannot be made. */
	if (!err && (!(p = weft__rt_part(rt, &pool_type)) ||
	    !weft__loop_poller(rt)))
		err = errno;
	if (!err && !(j = weft__calloc(1, sizeof(*j))))
		err = ENOMEM;
	if (!err) {
		j->msg.run = job_arrived;
		j->fn = fn;
		j->arg = arg;
		j->waiter = self;
		j->discard = discard;
		j->rt = rt;
		err = submit(p, j);
	}
	if (err) {
		/* Whoever gave a discard gave arg away: keep the promise. */
		free(j);
		if (discard)
			discard(arg, NULL);
		return err;
	}
	weft__wait_note(rt, WEFT__WAIT_OFFLOAD, (const void *)fn, 0, 0);
	do
		err = weft__park(rt, flags | WEFT__PARK_EXTERNAL);
	while (!j->finished && (!err || (flags & WEFT__PARK_NOINTR)));
	if (!j->finished) {
		j->waiter = NULL;      /* the loop frees it when it comes back */
		return err;
	}
	*result = j->result;
	if (fn_errno)
		*fn_errno = j->fn_errno;
	free(j);
	return 0;
}

/* ---- public ------------------------------------------------------------- */

int weft_blocking(void *(*fn)(void *), void *arg, void **result)
{
	struct weft_rt *rt;
	void *r;
	int err;

	if (!fn)
		return weft__fail(EINVAL);
	rt = weft__rt_peek();
	if (!rt || !weft__in_task(rt)) {
		r = fn(arg);
		if (result)
			*result = r;
		return 0;
	}
	err = weft__offload(rt, fn, arg, &r, NULL, 0, NULL);
	if (err)
		return weft__fail(err);
	if (result)
		*result = r;
	return 0;
}

int weft__pool_set_size(unsigned threads)
{
	struct weft_rt *rt;
	struct pool *p;

	if (threads == 0 || threads > MAX_THREADS)
		return weft__fail(EINVAL);
	if (!(rt = weft__rt_get()) || !(p = weft__rt_part(rt, &pool_type)))
		return -1;
	pthread_mutex_lock(&p->lock);
	p->max_threads = threads;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

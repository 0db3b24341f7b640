/*
 * The offload pool.  See pool.h.
 *
 * Ownership of a job: the caller allocates it and parks.  When the loop
 * collects a finished job it marks it finished and wakes the caller, who
 * frees it.  A caller that stops waiting (deadline, cancellation) clears
 * job->waiter and leaves; the loop then frees the job when it comes back.
 * Both sides run on the runtime's own thread, so no lock is needed there.
 */
#include "weft_int.h"

#include <signal.h>
#include <stdlib.h>

#include "runtime.h"

#define DEFAULT_THREADS 4u
#define MAX_THREADS 1024u

struct weft__job {
	struct weft__job *next;
	void *(*fn)(void *);
	void *arg;
	void *result;
	int fn_errno;
	int finished;                  /* collected by the loop */
	struct weft_task *waiter;      /* NULL once abandoned */
	void (*discard)(void *arg, void *result);
	struct weft_rt *rt;
};

void weft__pool_init(struct weft__pool *p)
{
	p->head = p->tail = NULL;
	p->nthreads = p->idle = p->running = 0;
	p->max_threads = DEFAULT_THREADS;
	p->stopping = 0;
	p->started = 0;
	p->threads = NULL;
	p->cap_threads = 0;
	atomic_init(&p->done, NULL);
}

/* Nobody waits for j any more: free it and what it owns. */
static void job_drop(struct weft__job *j)
{
	if (j->discard)
		j->discard(j->arg, j->result);
	free(j);
}

void weft__pool_term(struct weft__pool *p)
{
	struct weft__job *j;
	unsigned i;

	if (!p->started)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	/* Running jobs finish first: they may use what their caller gave. */
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	while ((j = p->head)) {         /* never started */
		p->head = j->next;
		job_drop(j);
	}
	j = atomic_exchange(&p->done, NULL);
	while (j) {
		struct weft__job *next = j->next;

		job_drop(j);
		j = next;
	}
	free(p->threads);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	p->started = 0;
}

/* Lock-free push: workers of this runtime's pool are the only writers. */
static void push_done(struct weft__pool *p, struct weft__job *j)
{
	struct weft__job *head = atomic_load(&p->done);

	do
		j->next = head;
	while (!atomic_compare_exchange_weak(&p->done, &head, j));
}

static void *worker(void *arg)
{
	struct weft_rt *rt = arg;
	struct weft__pool *p = &rt->pool;
	struct weft__job *j;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		/* The limit can shrink: threads past it wait here. */
		while ((!p->head || p->running >= p->max_threads) &&
		    !p->stopping) {
			p->idle++;
			pthread_cond_wait(&p->work, &p->lock);
			p->idle--;
		}
		if (p->stopping)
			break;
		p->running++;
		j = p->head;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->lock);
		errno = 0;
		j->result = j->fn(j->arg);
		j->fn_errno = errno;
		push_done(p, j);
		weft__poller_wake(&rt->poller);
		pthread_mutex_lock(&p->lock);
		p->running--;
		if (p->head)
			pthread_cond_signal(&p->work);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static int pool_start(struct weft__pool *p)
{
	if (p->started)
		return 0;
	if (pthread_mutex_init(&p->lock, NULL) != 0)
		return ENOMEM;
	if (pthread_cond_init(&p->work, NULL) != 0) {
		pthread_mutex_destroy(&p->lock);
		return ENOMEM;
	}
	p->started = 1;
	return 0;
}

/* Another worker, if every one is busy and the limit allows.  Caller
 * holds the lock.  Signals go to the application's threads, not here. */
static int grow(struct weft_rt *rt)
{
	struct weft__pool *p = &rt->pool;
	sigset_t all, old;
	int err;

	if (p->idle > 0 || p->nthreads >= p->max_threads)
		return 0;
	if (p->nthreads == p->cap_threads) {
		unsigned cap = p->cap_threads ? 2 * p->cap_threads : 8;
		pthread_t *t = realloc(p->threads, cap * sizeof(*t));

		if (!t)
			return p->nthreads ? 0 : ENOMEM;
		p->threads = t;
		p->cap_threads = cap;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&p->threads[p->nthreads], NULL, worker, rt);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return p->nthreads ? 0 : err;  /* the others will get to it */
	p->nthreads++;
	return 0;
}

static int submit(struct weft_rt *rt, struct weft__job *j)
{
	struct weft__pool *p = &rt->pool;
	int err = pool_start(p);

	if (err)
		return err;
	pthread_mutex_lock(&p->lock);
	err = grow(rt);
	if (!err) {
		j->next = NULL;
		if (p->tail)
			p->tail->next = j;
		else
			p->head = j;
		p->tail = j;
		pthread_cond_signal(&p->work);
	}
	pthread_mutex_unlock(&p->lock);
	return err;
}

void weft__pool_collect(struct weft_rt *rt)
{
	struct weft__job *j, *next, *fifo = NULL;

	if (!atomic_load_explicit(&rt->pool.done, memory_order_relaxed))
		return;
	j = atomic_exchange(&rt->pool.done, NULL);
	for (; j; j = next) {          /* the stack is newest first */
		next = j->next;
		j->next = fifo;
		fifo = j;
	}
	for (j = fifo; j; j = next) {
		next = j->next;
		rt->sched.external--;
		if (j->waiter) {
			j->finished = 1;
			weft__unpark(rt, j->waiter, 0);
		} else {
			job_drop(j);
		}
	}
}

int weft__offload(struct weft_rt *rt, void *(*fn)(void *), void *arg,
    void **result, int *fn_errno, int flags,
    void (*discard)(void *arg, void *result))
{
	struct weft_task *self = rt->sched.current;
	struct weft__job *j = NULL;
	int err = weft__interrupted(self);

	if (!err && !(j = calloc(1, sizeof(*j))))
		err = ENOMEM;
	if (!err) {
		j->fn = fn;
		j->arg = arg;
		j->waiter = self;
		j->discard = discard;
		j->rt = rt;
		err = submit(rt, j);
	}
	if (err) {
		/* Whoever gave a discard gave arg away: keep the promise. */
		free(j);
		if (discard)
			discard(arg, NULL);
		return err;
	}
	rt->sched.external++;
	do
		err = weft__park_until(rt, INT64_MAX, flags);
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
	if (!rt || !weft__in_task(&rt->sched)) {
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

int weft_set_pool_size(unsigned threads)
{
	struct weft_rt *rt;

	if (threads == 0 || threads > MAX_THREADS)
		return weft__fail(EINVAL);
	if (!(rt = weft__rt_get()))
		return -1;
	if (rt->pool.started)
		pthread_mutex_lock(&rt->pool.lock);
	rt->pool.max_threads = threads;
	if (rt->pool.started) {
		pthread_cond_broadcast(&rt->pool.work);
		pthread_mutex_unlock(&rt->pool.lock);
	}
	return 0;
}

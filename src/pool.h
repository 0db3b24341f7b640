/*
 * The offload pool: a few pthreads per runtime for calls that can only
 * block (getaddrinfo, regular-file I/O, user functions).  A task hands a job
 * over and parks; the worker runs it, pushes it on a lock-free completion
 * stack and writes the runtime's eventfd; the loop collects it and wakes
 * the task.  Pool threads never touch tasks or the runtime otherwise.
 */
#ifndef WEFT_POOL_H
#define WEFT_POOL_H

#include <pthread.h>
#include <stdatomic.h>

struct weft_rt;
struct weft_task;
struct weft__job;

struct weft__pool {
	pthread_mutex_t lock;            /* guards the queue and the counts */
	pthread_cond_t work;
	struct weft__job *head, *tail;   /* jobs not yet started */
	unsigned nthreads, idle, running, max_threads;
	int stopping;
	int started;                     /* lock and cond initialised */
	pthread_t *threads;
	unsigned cap_threads;
	_Atomic(struct weft__job *) done;  /* finished, not yet collected */
};

void weft__pool_init(struct weft__pool *p);
void weft__pool_term(struct weft__pool *p);

/*
 * Run fn(arg) on the pool and park until it returns.  On success, *result
 * gets fn's value and *fn_errno the errno fn left.  Returns 0 or an errno:
 * with WEFT__PARK_NOINTR the wait lasts until fn returns; otherwise a
 * deadline or cancellation abandons the job.  With a discard, arg is
 * handed over: whenever the call fails, discard frees arg and fn's result
 * (NULL if fn never ran), now or when the abandoned job ends.
 */
int weft__offload(struct weft_rt *rt, void *(*fn)(void *), void *arg,
    void **result, int *fn_errno, int flags,
    void (*discard)(void *arg, void *result));

/* Wake the tasks whose jobs finished (the loop calls this). */
void weft__pool_collect(struct weft_rt *rt);

#endif /* WEFT_POOL_H */

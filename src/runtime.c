/*
 * Creating and destroying the per-thread runtime.
 *
 * The first weft call on a thread creates it; a pthread key destructor
 * destroys it when the thread exits.  The main thread's runtime lives until
 * the process exits.
 */
#include "weft_int.h"

#include <pthread.h>
#include <stdlib.h>

#include "runtime.h"

__thread struct weft_rt *weft__tls_rt
    __attribute__((tls_model("initial-exec")));

static pthread_key_t rt_key;
static pthread_once_t rt_key_once = PTHREAD_ONCE_INIT;
static int rt_key_err;

static void rt_destroy(void *p)
{
	struct weft_rt *rt = p;

	weft__tls_rt = NULL;
	weft__fetch_term(rt->fetcher);
	weft__pool_term(&rt->pool);
	weft__tasks_term(&rt->tasks, rt);
	weft__stacks_term(&rt->stacks);
	weft__timers_term(&rt->timers);
	weft__io_term(&rt->io);
	weft__poller_term(&rt->poller);
	weft__stack_thread_term(rt->altstack);
	free(rt);
}

static void rt_key_create(void)
{
	rt_key_err = pthread_key_create(&rt_key, rt_destroy);
}

struct weft_rt *weft__rt_create(void)
{
	struct weft_rt *rt;

	pthread_once(&rt_key_once, rt_key_create);
	if (rt_key_err)
		return weft__fail_null(rt_key_err);
	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return weft__fail_null(ENOMEM);
	rt->poller.fd = rt->poller.wakefd = -1;
	weft__tasks_init(&rt->tasks);
	weft__timers_init(&rt->timers);
	weft__io_init(&rt->io);
	weft__pool_init(&rt->pool);
	if (weft__sched_init(&rt->sched, rt) == -1 ||
	    weft__stacks_init(&rt->stacks) == -1 ||
	    weft__poller_init(&rt->poller) == -1 ||
	    weft__stack_thread_init(&rt->altstack) == -1 ||
	    pthread_setspecific(rt_key, rt) != 0) {
		int err = errno ? errno : ENOMEM;

		rt_destroy(rt);
		return weft__fail_null(err);
	}
	weft__tls_rt = rt;
	return rt;
}

/*
 * The offload pool: a few pthreads per runtime (a runtime part, made by
 * the first offload) for calls that can only block (getaddrinfo,
 * regular-file I/O, user functions).  A task hands a job over and parks;
 * a pool thread runs it and posts it back to the runtime's mailbox, where
 * the loop wakes the task.  Pool threads never touch tasks or the runtime
 * otherwise.
 */
#ifndef WEFT_IO_POOL_H
#define WEFT_IO_POOL_H

struct weft_rt;

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

/* Let the calling thread's pool run at most threads jobs at once (the
 * value checked first: EINVAL); 0, or -1 and errno. */
int weft__pool_set_size(unsigned threads);

#endif /* WEFT_IO_POOL_H */

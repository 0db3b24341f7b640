/*
 * What the benchmarks that use weft between threads share (bench_weft.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "bench_weft.h"

void
bench_pingpong_lead(struct bench_pingpong *p)
{
	long total = p->warm + p->rounds;
	int v, w;

	for (long i = 0; i < total; i++) {
		if (i == p->warm)
			p->t0 = bench_now();
		v = (int)i;
		if (weft_chan_send(p->ping, &v) != 0 ||
		    weft_chan_recv(p->pong, &w) != 0)
			bench_die("weft_chan_send/recv (lead)");
		if (w != v) {
			fprintf(stderr, "ping-pong: sent %d, got %d back\n", v, w);
			exit(1);
		}
	}
	p->t1 = bench_now();
}

void
bench_pingpong_echo(struct bench_pingpong *p)
{
	long total = p->warm + p->rounds;
	int v;

	for (long i = 0; i < total; i++)
		if (weft_chan_recv(p->ping, &v) != 0 ||
		    weft_chan_send(p->pong, &v) != 0)
			bench_die("weft_chan_recv/send (echo)");
}

struct side {
	void *(*fn)(void *);
	void *arg;
};

/* A thread of its own runtime: spawn the task, join it. */
static void *
side_main(void *arg)
{
	struct side *s = arg;
	weft_task *t = weft_spawn(s->fn, s->arg);

	if (t == NULL || weft_join(t, NULL) != 0)
		bench_die("weft_spawn/weft_join (thread)");
	return NULL;
}

void
bench_threads2(void *(*fn_a)(void *), void *a, void *(*fn_b)(void *),
    void *b, int weft)
{
	struct side sa = { fn_a, a }, sb = { fn_b, b };
	pthread_t ta, tb;
	int err;

	if ((err = pthread_create(&ta, NULL, weft ? side_main : fn_a,
	    weft ? (void *)&sa : a)) != 0 ||
	    (err = pthread_create(&tb, NULL, weft ? side_main : fn_b,
	    weft ? (void *)&sb : b)) != 0)
		bench_die_err("pthread_create", err);
	if ((err = pthread_join(ta, NULL)) != 0 ||
	    (err = pthread_join(tb, NULL)) != 0)
		bench_die_err("pthread_join", err);
}

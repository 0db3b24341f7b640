/*
 * What the benchmarks that use weft between threads share (bench_sync,
 * bench_workers).  Defined in bench_weft.c.
 */
#ifndef WEFT_BENCH_WEFT_H
#define WEFT_BENCH_WEFT_H

#include <stdint.h>

#include "weft.h"

/* The channel ping-pong: a lead sends a number and waits for it back
 * from an echo, over two unbuffered weft channels. */
struct bench_pingpong {
	weft_chan *ping, *pong;
	long warm, rounds;            /* untimed, then timed round trips */
	int64_t t0, t1;               /* the timed rounds, bench_now() */
};

/* The two sides' loops; each exits the process with a message if a
 * channel call fails or a number comes back changed. */
void bench_pingpong_lead(struct bench_pingpong *p);
void bench_pingpong_echo(struct bench_pingpong *p);

/* Run fn_a(a) and fn_b(b) on two new threads, together, and join both;
 * with weft, each runs as a task of its thread's own runtime. */
void bench_threads2(void *(*fn_a)(void *), void *a,
    void *(*fn_b)(void *), void *b, int weft);

#endif /* WEFT_BENCH_WEFT_H */

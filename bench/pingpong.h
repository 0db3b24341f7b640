/*
 * The channel ping-pong two benchmarks share (bench_sync, bench_workers):
 * a lead sends a number and waits for it back from an echo, over two
 * unbuffered weft channels.  Defined in pingpong.c.
 */
#ifndef WEFT_BENCH_PINGPONG_H
#define WEFT_BENCH_PINGPONG_H

#include <stdint.h>

#include "weft.h"

struct bench_pingpong {
	weft_chan *ping, *pong;
	long warm, rounds;            /* untimed, then timed round trips */
	int64_t t0, t1;               /* the timed rounds, bench_now() */
};

/* The two sides' loops; each exits the process with a message if a
 * channel call fails or a number comes back changed. */
void bench_pingpong_lead(struct bench_pingpong *p);
void bench_pingpong_echo(struct bench_pingpong *p);

#endif /* WEFT_BENCH_PINGPONG_H */

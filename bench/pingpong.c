/*
 * The channel ping-pong (pingpong.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "pingpong.h"

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

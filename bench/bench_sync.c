/*
 * bench_sync — channels and mutexes, against weft's own switch and pthreads.
 *
 *   chan, same thread   two tasks: A sends an int on an unbuffered channel,
 *                       B receives it and sends it back on a second one,
 *                       A receives it: ns per round trip, beside the ns of
 *                       one weft_yield switch (two tasks yielding) measured
 *                       in the same run; and a producer task feeding a
 *                       consumer task through a channel of capacity 1024,
 *                       messages/s
 *   chan, two threads   the same ping-pong between a task on thread A and a
 *                       task on thread B (each thread runs its own runtime:
 *                       the thread spawns its task and joins it), beside
 *                       the classic pthread ping-pong (a turn variable under
 *                       a mutex, each side waiting on its condvar until it
 *                       is its turn); and the capacity-1024 flow across the
 *                       two threads, messages/s
 *   mutex               uncontended lock+unlock, weft_mutex beside
 *                       pthread_mutex; and 100 tasks of one thread each
 *                       looping lock; yield; unlock: ns per pair
 *
 * glibc (and weft, through __libc_single_threaded) uses no atomic
 * instructions while the process has one thread, for good once a second
 * thread has been created.  So the program runs in two phases: first
 * single-threaded, then after starting an idle thread that blocks on a
 * pipe read for the rest of the run.  The same-thread figures are given
 * for both phases; the cross-thread ones exist in the second only.
 *
 * Usage: bench_sync [rounds]   (default 1,000,000 same-thread round trips;
 * the other loops are sized from it).  Every figure is the best of several
 * runs (11 for the same-thread loops, BENCH_REPS for the cross-thread
 * ones); figures that are compared are measured in alternating runs.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef HAVE_SYS_SINGLE_THREADED_H
#include <sys/single_threaded.h>
#endif

#include "weft.h"
#include "bench.h"
#include "bench_weft.h"

#define DEFAULT_ROUNDS 1000000L
#define LOCAL_REPS 11         /* same-thread loops take ~50 ms: more runs */
#define REMOTE_REPS BENCH_REPS
#define BUF_CAP 1024
#define CONTENDERS 100

#define TARGET_PINGPONG 6.0   /* round trip / yield switch */
#define TARGET_REMOTE 0.1     /* weft / pthread round trip across threads */
#define TARGET_MUTEX 2.0      /* weft / pthread uncontended lock+unlock */



static const char *
verdict(double ratio, double target)
{
	return ratio <= target ? "met" : "missed";
}

/* What glibc (and so weft) believes about the process. */
static const char *
threading_state(void)
{
#ifdef HAVE_SYS_SINGLE_THREADED_H
	return __libc_single_threaded ? "__libc_single_threaded = 1" :
	    "__libc_single_threaded = 0";
#else
	return "no <sys/single_threaded.h>: atomics always";
#endif
}

static weft_chan *
chan_create(size_t capacity)
{
	weft_chan *ch = weft_chan_create(sizeof(int), capacity);

	if (ch == NULL)
		bench_die("weft_chan_create");
	return ch;
}

static void
spawn_join2(void *(*fa)(void *), void *a, void *(*fb)(void *), void *b)
{
	weft_task *ta = weft_spawn(fa, a);
	weft_task *tb = weft_spawn(fb, b);

	if (ta == NULL || tb == NULL || weft_join(ta, NULL) != 0 ||
	    weft_join(tb, NULL) != 0)
		bench_die("weft_spawn/weft_join");
}

/* ---- two threads starting together -------------------------------------- */

static void
barrier_wait(pthread_barrier_t *bar)
{
	int err;

	if (bar == NULL)
		return;
	err = pthread_barrier_wait(bar);
	if (err != 0 && err != PTHREAD_BARRIER_SERIAL_THREAD)
		bench_die_err("pthread_barrier_wait", err);
}

static void
barrier_init(pthread_barrier_t *bar)
{
	int err = pthread_barrier_init(bar, NULL, 2);

	if (err != 0)
		bench_die_err("pthread_barrier_init", err);
}

/* ---- weft_yield switch ---------------------------------------------------- */

static void *
yielder(void *arg)
{
	long n = *(const long *)arg;

	for (long i = 0; i < n; i++)
		weft_yield();
	return NULL;
}

/* ns per weft_yield, two tasks taking turns (one switch per yield). */
static double
yield_ns(long yields)
{
	long each = yields / 2;
	int64_t t0 = bench_now();

	spawn_join2(yielder, &each, yielder, &each);
	return (double)(bench_now() - t0) / (double)(each * 2);
}

/* ---- channel ping-pong (one thread or two) -------------------------------- */

struct pingpong {
	struct bench_pingpong pp;
	pthread_barrier_t *bar;       /* two threads: start together */
};

static void *
pp_lead(void *arg)
{
	struct pingpong *p = arg;

	barrier_wait(p->bar);
	bench_pingpong_lead(&p->pp);
	return NULL;
}

static void *
pp_echo(void *arg)
{
	struct pingpong *p = arg;

	barrier_wait(p->bar);
	bench_pingpong_echo(&p->pp);
	return NULL;
}

/* ns per round trip; remote: the two tasks on two threads. */
static double
pingpong_ns(long rounds, int remote)
{
	struct pingpong p;
	pthread_barrier_t bar;

	memset(&p, 0, sizeof p);
	p.pp.ping = chan_create(0);
	p.pp.pong = chan_create(0);
	p.pp.warm = rounds / 10;
	p.pp.rounds = rounds;
	if (remote) {
		barrier_init(&bar);
		p.bar = &bar;
		bench_threads2(pp_lead, &p, pp_echo, &p, 1);
		pthread_barrier_destroy(&bar);
	} else {
		spawn_join2(pp_lead, &p, pp_echo, &p);
	}
	weft_chan_destroy(p.pp.ping);
	weft_chan_destroy(p.pp.pong);
	return (double)(p.pp.t1 - p.pp.t0) / (double)rounds;
}

/* ---- baseline: pthread mutex + condvar ping-pong -------------------------- */

struct turn {
	pthread_mutex_t mu;
	pthread_cond_t cv[2];
	int turn;                     /* whose turn: 0 lead, 1 echo */
	long warm, rounds;
	pthread_barrier_t bar;
	int64_t t0, t1;
};

static void
turn_lock(struct turn *t)
{
	int err = pthread_mutex_lock(&t->mu);

	if (err != 0)
		bench_die_err("pthread_mutex_lock", err);
}

static void
turn_unlock(struct turn *t)
{
	int err = pthread_mutex_unlock(&t->mu);

	if (err != 0)
		bench_die_err("pthread_mutex_unlock", err);
}

/* With the mutex held: wait until it is side's turn. */
static void
turn_await(struct turn *t, int side)
{
	int err;

	while (t->turn != side)
		if ((err = pthread_cond_wait(&t->cv[side], &t->mu)) != 0)
			bench_die_err("pthread_cond_wait", err);
}

/* With the mutex held: hand the turn to the other side. */
static void
turn_give(struct turn *t, int side)
{
	int err;

	t->turn = !side;
	if ((err = pthread_cond_signal(&t->cv[!side])) != 0)
		bench_die_err("pthread_cond_signal", err);
}

static void *
turn_lead(void *arg)
{
	struct turn *t = arg;
	long total = t->warm + t->rounds;

	barrier_wait(&t->bar);
	for (long i = 0; i < total; i++) {
		if (i == t->warm)
			t->t0 = bench_now();
		turn_lock(t);
		turn_give(t, 0);
		turn_await(t, 0);
		turn_unlock(t);
	}
	t->t1 = bench_now();
	return NULL;
}

static void *
turn_echo(void *arg)
{
	struct turn *t = arg;
	long total = t->warm + t->rounds;

	barrier_wait(&t->bar);
	for (long i = 0; i < total; i++) {
		turn_lock(t);
		turn_await(t, 1);
		turn_give(t, 1);
		turn_unlock(t);
	}
	return NULL;
}

static double
pthread_pingpong_ns(long rounds)
{
	struct turn t;

	memset(&t, 0, sizeof t);
	if (pthread_mutex_init(&t.mu, NULL) != 0 ||
	    pthread_cond_init(&t.cv[0], NULL) != 0 ||
	    pthread_cond_init(&t.cv[1], NULL) != 0)
		bench_die("pthread_mutex_init/pthread_cond_init");
	barrier_init(&t.bar);
	t.turn = 0;
	t.warm = rounds / 10;
	t.rounds = rounds;
	bench_threads2(turn_lead, &t, turn_echo, &t, 0);
	pthread_barrier_destroy(&t.bar);
	pthread_cond_destroy(&t.cv[0]);
	pthread_cond_destroy(&t.cv[1]);
	pthread_mutex_destroy(&t.mu);
	return (double)(t.t1 - t.t0) / (double)rounds;
}

/* ---- buffered channel flow (one thread or two) ---------------------------- */

struct flow {
	weft_chan *ch;
	long warm, n;                 /* untimed, then timed messages */
	pthread_barrier_t *bar;
	int64_t t0, t1;
};

static void *
flow_producer(void *arg)
{
	struct flow *f = arg;
	long total = f->warm + f->n;

	barrier_wait(f->bar);
	for (long i = 0; i < total; i++) {
		int v = (int)i;

		if (weft_chan_send(f->ch, &v) != 0)
			bench_die("weft_chan_send (producer)");
	}
	return NULL;
}

static void *
flow_consumer(void *arg)
{
	struct flow *f = arg;
	long total = f->warm + f->n;
	int v;

	barrier_wait(f->bar);
	for (long i = 0; i < total; i++) {
		if (i == f->warm)
			f->t0 = bench_now();
		if (weft_chan_recv(f->ch, &v) != 0)
			bench_die("weft_chan_recv (consumer)");
		if (v != (int)i) {
			fprintf(stderr, "flow: expected %d, got %d\n", (int)i, v);
			exit(1);
		}
	}
	f->t1 = bench_now();
	return NULL;
}

/* Messages per second through a channel of capacity BUF_CAP. */
static double
flow_rate(long n, int remote)
{
	struct flow f;
	pthread_barrier_t bar;

	memset(&f, 0, sizeof f);
	f.ch = chan_create(BUF_CAP);
	f.warm = n / 10;
	f.n = n;
	if (remote) {
		barrier_init(&bar);
		f.bar = &bar;
		bench_threads2(flow_producer, &f, flow_consumer, &f, 1);
		pthread_barrier_destroy(&bar);
	} else {
		spawn_join2(flow_producer, &f, flow_consumer, &f);
	}
	weft_chan_destroy(f.ch);
	return (double)n * 1e9 / (double)(f.t1 - f.t0);
}

/* ---- mutexes ------------------------------------------------------------ */

/* ns per uncontended weft_mutex_lock + weft_mutex_unlock (from main). */
static double
weft_mutex_ns(long n)
{
	weft_mutex m = WEFT_MUTEX_INITIALIZER;
	int64_t t0 = bench_now();

	for (long i = 0; i < n; i++)
		if (weft_mutex_lock(&m) != 0 || weft_mutex_unlock(&m) != 0)
			bench_die("weft_mutex_lock/unlock");
	return (double)(bench_now() - t0) / (double)n;
}

static double
pthread_mutex_ns(long n)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	int64_t t0 = bench_now();

	for (long i = 0; i < n; i++)
		if (pthread_mutex_lock(&m) != 0 || pthread_mutex_unlock(&m) != 0)
			bench_die("pthread_mutex_lock/unlock");
	return (double)(bench_now() - t0) / (double)n;
}

struct contend {
	weft_mutex m;
	long iters;
};

static void *
contender(void *arg)
{
	struct contend *c = arg;

	for (long i = 0; i < c->iters; i++) {
		if (weft_mutex_lock(&c->m) != 0)
			bench_die("weft_mutex_lock (contended)");
		weft_yield();
		if (weft_mutex_unlock(&c->m) != 0)
			bench_die("weft_mutex_unlock (contended)");
	}
	return NULL;
}

/* ns per lock/unlock pair, CONTENDERS tasks of this thread on one mutex. */
static double
contended_ns(long pairs)
{
	static struct contend c;
	weft_task *t[CONTENDERS];
	int64_t t0;

	memset(&c, 0, sizeof c);
	if (weft_mutex_init(&c.m) != 0)
		bench_die("weft_mutex_init");
	c.iters = pairs / CONTENDERS;
	if (c.iters < 1)
		c.iters = 1;
	t0 = bench_now();
	for (int i = 0; i < CONTENDERS; i++)
		if ((t[i] = weft_spawn(contender, &c)) == NULL)
			bench_die("weft_spawn");
	for (int i = 0; i < CONTENDERS; i++)
		if (weft_join(t[i], NULL) != 0)
			bench_die("weft_join");
	if (weft_mutex_destroy(&c.m) != 0)
		bench_die("weft_mutex_destroy");
	return (double)(bench_now() - t0) / (double)(c.iters * CONTENDERS);
}

/* ---- the idle second thread ---------------------------------------------- */

static int idle_pipe[2];

static void *
idle_main(void *arg)
{
	char c;

	(void)arg;
	while (read(idle_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/* ---- the figures of one phase --------------------------------------------- */

struct sizes {
	long yields, rounds, flow, mutex, pairs, remote, pthread, rflow;
};

static void
same_thread(const struct sizes *z, const char *phase)
{
	double y = 1e30, pp = 1e30, rate = 0;

	yield_ns(z->yields / 10);                 /* warm up */
	pingpong_ns(z->rounds / 10, 0);
	for (int r = 0; r < LOCAL_REPS; r++) {
		y = bench_min(y, yield_ns(z->yields));
		pp = bench_min(pp, pingpong_ns(z->rounds, 0));
	}
	printf("chan: same-thread unbuffered round trip %.1f ns, yield switch "
	    "%.1f ns, ratio %.1f (target <= %.0f: %s) [%s]\n", pp, y, pp / y,
	    TARGET_PINGPONG, verdict(pp / y, TARGET_PINGPONG), phase);

	for (int r = 0; r < LOCAL_REPS; r++) {
		double v = flow_rate(z->flow, 0);

		if (v > rate)
			rate = v;
	}
	printf("chan: same-thread buffered (capacity %d) %.1f M messages/s "
	    "(%.2f ns/message) [%s]\n", BUF_CAP, rate / 1e6, 1e9 / rate,
	    phase);
}

static void
mutexes(const struct sizes *z, const char *phase)
{
	double w = 1e30, p = 1e30, c = 1e30;

	weft_mutex_ns(z->mutex / 10);             /* warm up */
	pthread_mutex_ns(z->mutex / 10);
	for (int r = 0; r < LOCAL_REPS; r++) {
		w = bench_min(w, weft_mutex_ns(z->mutex));
		p = bench_min(p, pthread_mutex_ns(z->mutex));
	}
	printf("mutex: uncontended lock+unlock weft %.2f ns, pthread %.2f ns, "
	    "ratio %.2f (target <= %.0f: %s) [%s]\n", w, p, w / p,
	    TARGET_MUTEX, verdict(w / p, TARGET_MUTEX), phase);

	for (int r = 0; r < LOCAL_REPS; r++)
		c = bench_min(c, contended_ns(z->pairs));
	printf("mutex: %d tasks of one thread looping lock; yield; unlock: "
	    "%.1f ns per lock/unlock pair [%s]\n", CONTENDERS, c, phase);
}

static void
cross_thread(const struct sizes *z)
{
	double w = 1e30, p = 1e30, rate = 0;

	pingpong_ns(z->remote / 10, 1);           /* warm up */
	pthread_pingpong_ns(z->pthread / 10);
	for (int r = 0; r < REMOTE_REPS; r++) {
		w = bench_min(w, pingpong_ns(z->remote, 1));
		p = bench_min(p, pthread_pingpong_ns(z->pthread));
	}
	printf("chan: cross-thread unbuffered round trip weft %.1f ns, pthread "
	    "mutex+condvar %.1f ns, ratio %.3f (target <= %.1f: %s)\n", w, p,
	    w / p, TARGET_REMOTE, verdict(w / p, TARGET_REMOTE));

	for (int r = 0; r < REMOTE_REPS; r++) {
		double v = flow_rate(z->rflow, 1);

		if (v > rate)
			rate = v;
	}
	printf("chan: cross-thread buffered (capacity %d) %.1f M messages/s "
	    "(%.2f ns/message)\n", BUF_CAP, rate / 1e6, 1e9 / rate);
}

int
main(int argc, char **argv)
{
	long rounds = DEFAULT_ROUNDS;
	struct sizes z;
	pthread_t idle;
	int err;

	if (argc > 2) {
		fprintf(stderr, "usage: %s [rounds]\n", argv[0]);
		return 2;
	}
	if (argc == 2)
		rounds = bench_arg_count(argv[0], argv[1]);
	if (rounds < 1000)
		rounds = 1000;
	z.rounds = rounds;                 /* same-thread round trips */
	z.yields = rounds * 4;
	z.flow = rounds * 10;              /* same-thread buffered messages */
	z.mutex = rounds * 10;             /* uncontended lock+unlock */
	z.pairs = rounds / 2;              /* contended lock/unlock pairs */
	z.remote = rounds / 5;             /* cross-thread weft round trips */
	z.pthread = rounds / 100;          /* pthread condvar round trips */
	z.rflow = rounds * 2;              /* cross-thread buffered messages */

	printf("sync: %ld same-thread round trips, %ld yields, %ld buffered "
	    "messages, %ld mutex lock+unlock, %ld contended pairs; best of %d\n",
	    z.rounds, z.yields, z.flow, z.mutex, z.pairs, LOCAL_REPS);
	printf("sync: cross-thread: %ld weft round trips, %ld pthread round "
	    "trips, %ld buffered messages; best of %d\n", z.remote, z.pthread,
	    z.rflow, REMOTE_REPS);

	/* Phase 1: the process has one thread. */
	printf("sync: phase 1, one thread (%s)\n", threading_state());
	same_thread(&z, "1 thread");
	mutexes(&z, "1 thread");

	/* Phase 2: an idle second thread exists for the rest of the run. */
	if (pipe(idle_pipe) != 0)
		bench_die("pipe");
	if ((err = pthread_create(&idle, NULL, idle_main, NULL)) != 0)
		bench_die_err("pthread_create", err);
	printf("sync: phase 2, an idle second thread blocked on a pipe read "
	    "(%s)\n", threading_state());
	mutexes(&z, "2 threads");
	same_thread(&z, "2 threads");
	cross_thread(&z);

	close(idle_pipe[1]);
	if ((err = pthread_join(idle, NULL)) != 0)
		bench_die_err("pthread_join", err);
	close(idle_pipe[0]);
	return 0;
}

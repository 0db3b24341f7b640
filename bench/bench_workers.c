/*
 * bench_workers — a crew of two workers (weft_set_workers(2)): what it buys
 * on CPU-bound tasks, and what crossing from one worker to the other costs.
 *
 *   fan-out      1,000 tasks each running a fixed integer loop of ~1 ms,
 *                spawned from main, then joined: wall ms with one worker
 *                (measured first, before weft_set_workers, while the
 *                process has one thread) beside two workers.  The loop's
 *                iteration count is calibrated once at start so that one
 *                call takes ~1 ms on this machine, and that same count is
 *                used in every run (bench/peers/{weft_fanout.c,go/fanout.go,
 *                tokio/src/bin/fanout.rs} run the same loop).  Inside the
 *                crew, the same tasks spawned local (weft_attr_setlocal:
 *                all on worker 0) alternate with the two-worker runs, so a
 *                slow spell of the machine falls on both
 *   spawn+join   a task on worker 0 spawns an empty task and joins it.
 *                "Started on worker 1": the spawner spins until the task
 *                has started, so that worker 0 is busy and only worker 1
 *                can take the task (the spawn wakes it); this is the whole
 *                cost of a task crossing to the other worker and its
 *                result coming back.  Beside it: the same loop with the
 *                task spawned local (it stays on worker 0), with the
 *                default placement (the spawner joins at once: whichever
 *                worker gets there first runs it; the share that ran on
 *                worker 1 is printed), and without a crew (before
 *                weft_set_workers)
 *   chan         a task on worker 0 and one on worker 1 ping-pong an int
 *                over two unbuffered channels: ns per round trip, beside
 *                the same two tasks both on worker 0, and beside two
 *                threads outside the crew, each with a runtime of its own
 *                (what a program had to do before workers)
 *   mutex        a task on worker 0 and one on worker 1 each loop
 *                lock; increment a shared counter; unlock on one
 *                weft_mutex: ops/s (an op is one lock+unlock), beside two
 *                pthreads doing the same on one pthread_mutex_t
 *   --busy       the chan figures across workers and between two threads
 *                again while a forked child spins on a core: the two
 *                workers (or threads) then share two cores with a third
 *                runnable thread
 *
 * How a task gets onto a worker: worker 0 is main's thread, so a task that
 * main spawns local (weft_attr_setlocal) starts and stays on worker 0.  For
 * worker 1, main spawns a trampoline task (not local) and spins, holding
 * worker 0, until the trampoline has started: only worker 1 can have taken
 * it.  The trampoline checks weft_worker(); should it have started on
 * worker 0 after all, it does nothing and main tries again (the number of
 * such retries is printed).  A started task never changes thread, so the
 * task then runs on worker 1 until it returns.
 *
 * Usage: bench_workers [--busy] [rounds]   (default 100,000: chan round
 * trips across workers and spawn+joins are half of it, round trips on one
 * worker all of it, mutex ops twice it per side).  Every figure is the
 * median of several runs, 5 by default, run alternately with the figures
 * it is compared with: the cross-worker figures hang on wake-ups of a
 * sleeping worker whose cost varies from run to run, and the median is what
 * a program sees, where the minimum would be the luckiest run.  A watchdog
 * (SIGALRM) ends a part that hangs, naming it.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft.h"
#include "bench.h"
#include "bench_weft.h"

#define DEFAULT_ROUNDS 100000L
#define REPS 5                   /* runs per figure; the median is printed */
#define TASKS 1000               /* fan-out tasks */
#define TASK_NS 1000000.0        /* what one task's loop is calibrated to */
#define CAL_ITERS 1000000L       /* iterations of one calibration call */
#define CAL_REPS 9
#define WORKERS 2
#define TARGET_FANOUT 0.55       /* 2 workers / 1 worker, wall time */
#define WATCHDOG_S 120           /* one part of the bench, at most */
#define STR_(x) #x
#define STR(x) STR_(x)
#define PLACE_SPIN_NS 1000000000LL  /* wait for worker 1 to take a task */
#define PLACE_TRIES 100
#define SJ_SPIN_NS 100000000LL   /* spawn+join: wait for worker 1, at most */

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif



static const char *
verdict(double ratio, double target)
{
	return ratio <= target ? "met" : "MISSED";
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(const double *v, int n)
{
	double s[64];

	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* ---- watchdog: a part that hangs is named, not waited for ---------------- */

static const char *volatile part = "start";

static void
on_alarm(int sig)
{
	static const char msg[] = "bench_workers: no end after "
	    STR(WATCHDOG_S) " s in: ";
	const char *p = part;

	(void)sig;
	if (write(2, msg, sizeof msg - 1) >= 0 &&
	    write(2, p, strlen(p)) >= 0)
		(void)!write(2, "\n", 1);
	_exit(3);
}

static void
set_part(const char *name)
{
	part = name;
	alarm(WATCHDOG_S);
}

/* ---- the CPU-bound loop --------------------------------------------------- */

/* A multiply-add and a shift-xor, each step using the last: the compiler
 * can neither vectorise the loop nor compute its end in closed form.  The
 * peers of bench/peers/fanout run exactly this loop. */
static uint64_t
crunch(uint64_t x, long iters)
{
	for (long i = 0; i < iters; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		x ^= x >> 29;
	}
	return x;
}

static volatile uint64_t sink;

/* Iterations of crunch taking TASK_NS here: the median of CAL_REPS timed
 * calls of CAL_ITERS, scaled. */
static long
calibrate(void)
{
	double ns[CAL_REPS];

	sink += crunch(1, CAL_ITERS); /* warm up: clock speed, caches */
	for (int r = 0; r < CAL_REPS; r++) {
		int64_t t0 = bench_now();

		sink += crunch((uint64_t)r + 1, CAL_ITERS);
		ns[r] = (double)(bench_now() - t0);
	}
	return (long)((double)CAL_ITERS * TASK_NS / median(ns, CAL_REPS));
}

/* ---- fan-out ------------------------------------------------------------ */

struct job {
	long iters;
	uint64_t seed, out;
};

static void *
fan_task(void *arg)
{
	struct job *j = arg;

	j->out = crunch(j->seed, j->iters);
	return NULL;
}

/* Wall ms of spawning TASKS tasks from main, then joining them; *sum gets
 * the sum of their results (the same in every run, or a task ran wrong). */
static double
fanout_ms(long iters, int local, uint64_t *sum)
{
	static struct job jobs[TASKS];
	static weft_task *t[TASKS];
	weft_attr attr;
	int64_t t0;
	uint64_t s = 0;

	weft_attr_init(&attr);
	if (weft_attr_setlocal(&attr, local) != 0)
		bench_die("weft_attr_setlocal");
	t0 = bench_now();
	for (int i = 0; i < TASKS; i++) {
		jobs[i].iters = iters;
		jobs[i].seed = (uint64_t)i + 1;
		jobs[i].out = 0;
		if ((t[i] = weft_spawn_attr(fan_task, &jobs[i], &attr)) == NULL)
			bench_die("weft_spawn_attr (fan-out)");
	}
	for (int i = 0; i < TASKS; i++)
		if (weft_join(t[i], NULL) != 0)
			bench_die("weft_join (fan-out)");
	t0 = bench_now() - t0;
	for (int i = 0; i < TASKS; i++)
		s += jobs[i].out;
	*sum = s;
	return (double)t0 / 1e6;
}

static uint64_t fan_sum;

static void
check_sum(uint64_t s)
{
	if (fan_sum == 0)
		fan_sum = s;
	else if (s != fan_sum) {
		fprintf(stderr, "bench_workers: fan-out checksum %016llx, "
		    "earlier runs %016llx: a task ran wrong\n",
		    (unsigned long long)s, (unsigned long long)fan_sum);
		exit(1);
	}
}

/* ---- starting a task on worker 1 ------------------------------------------ */

struct place {
	void *(*fn)(void *);
	void *arg;
	atomic_int where;       /* 0 waiting, worker + 1 once started, -1 given up */
};

static long misplaced;        /* trampolines that started on worker 0 */

static void *
trampoline(void *arg)
{
	struct place *p = arg;
	int w = weft_worker(), expect = 0;

	if (!atomic_compare_exchange_strong(&p->where, &expect, w + 1) ||
	    w != 1)
		return NULL;
	return p->fn(p->arg);
}

/* Spawn fn(arg) from main so that it starts, and so stays, on worker 1;
 * p must outlive the task. */
static weft_task *
start_on_1(struct place *p, void *(*fn)(void *), void *arg)
{
	for (int tries = 0; tries < PLACE_TRIES; tries++) {
		int64_t t0 = bench_now();
		weft_task *t;
		int w, expect = 0;

		p->fn = fn;
		p->arg = arg;
		atomic_store(&p->where, 0);
		if ((t = weft_spawn(trampoline, p)) == NULL)
			bench_die("weft_spawn (trampoline)");
		/* Worker 0 is held here, so only worker 1 can start it. */
		while ((w = atomic_load(&p->where)) == 0 &&
		    bench_now() - t0 < PLACE_SPIN_NS)
			cpu_relax();
		if (w == 2)
			return t;
		if (w == 0 &&
		    atomic_compare_exchange_strong(&p->where, &expect, -1))
			fprintf(stderr, "bench_workers: worker 1 did not start "
			    "a task within 1 s of its spawn\n");
		else if (expect == 2)
			return t;     /* started on worker 1 as we gave up */
		misplaced++;
		if (weft_join(t, NULL) != 0)
			bench_die("weft_join (trampoline)");
	}
	fprintf(stderr, "bench_workers: no task started on worker 1 in %d "
	    "tries\n", PLACE_TRIES);
	exit(1);
}

/* Spawn fn(arg) from main so that it starts and stays on worker 0. */
static weft_task *
start_on_0(void *(*fn)(void *), void *arg)
{
	weft_attr attr;
	weft_task *t;

	weft_attr_init(&attr);
	if (weft_attr_setlocal(&attr, 1) != 0)
		bench_die("weft_attr_setlocal");
	if ((t = weft_spawn_attr(fn, arg, &attr)) == NULL)
		bench_die("weft_spawn_attr (local)");
	return t;
}

static void
join(weft_task *t)
{
	if (weft_join(t, NULL) != 0)
		bench_die("weft_join");
}

/* Tasks that must be on a given worker say so when they are not. */
static void
expect_worker(int w, const char *who)
{
	if (weft_worker() != w) {
		fprintf(stderr, "bench_workers: %s runs on worker %d, not %d\n",
		    who, weft_worker(), w);
		exit(1);
	}
}

/* ---- spawn+join ----------------------------------------------------------- */

enum sj_mode { SJ_CROSS, SJ_DEFAULT, SJ_LOCAL };

struct sj {
	long n;
	enum sj_mode mode;
	long on_1;              /* spawned tasks that ran on worker 1 */
	long late;              /* SJ_CROSS: worker 1 took > SJ_SPIN_NS */
	double ns;
};

static atomic_int sj_where;   /* worker + 1 of the last spawned task */

static void *
sj_empty(void *arg)
{
	atomic_store_explicit(&sj_where, weft_worker() + 1,
	    memory_order_release);
	return arg;
}

/* Runs on worker 0: n spawn+join of an empty task. */
static void *
sj_loop(void *arg)
{
	struct sj *s = arg;
	weft_attr attr;
	int64_t t0;

	expect_worker(0, "the spawn+join loop");
	weft_attr_init(&attr);
	if (weft_attr_setlocal(&attr, s->mode == SJ_LOCAL) != 0)
		bench_die("weft_attr_setlocal");
	s->on_1 = s->late = 0;
	t0 = bench_now();
	for (long i = 0; i < s->n; i++) {
		weft_task *t;

		atomic_store_explicit(&sj_where, 0, memory_order_relaxed);
		if ((t = weft_spawn_attr(sj_empty, NULL, &attr)) == NULL)
			bench_die("weft_spawn_attr (spawn+join)");
		if (s->mode == SJ_CROSS) {
			int64_t w0 = bench_now();

			while (atomic_load_explicit(&sj_where,
			    memory_order_acquire) == 0)
				if (bench_now() - w0 > SJ_SPIN_NS) {
					s->late++;
					break;
				}
		}
		join(t);
		if (atomic_load_explicit(&sj_where, memory_order_relaxed) == 2)
			s->on_1++;
	}
	s->ns = (double)(bench_now() - t0) / (double)s->n;
	return NULL;
}

static void
spawn_join(struct sj *s, long n, enum sj_mode mode)
{
	s->n = n;
	s->mode = mode;
	join(start_on_0(sj_loop, s));
}

/* ---- channel ping-pong ---------------------------------------------------- */

struct pingpong {
	struct bench_pingpong pp;
	int lead_w, echo_w;           /* workers the two must be on, or -1 */
};

static void *
pp_lead(void *arg)
{
	struct pingpong *p = arg;

	if (p->lead_w >= 0)
		expect_worker(p->lead_w, "the ping-pong lead");
	bench_pingpong_lead(&p->pp);
	return NULL;
}

static void *
pp_echo(void *arg)
{
	struct pingpong *p = arg;

	if (p->echo_w >= 0)
		expect_worker(p->echo_w, "the ping-pong echo");
	bench_pingpong_echo(&p->pp);
	return NULL;
}

enum pp_where { PP_CROSS, PP_SAME, PP_THREADS };

/* ns per round trip. */
static double
pingpong_ns(long rounds, enum pp_where where)
{
	struct pingpong p;
	struct place pl;
	weft_task *echo, *lead;

	memset(&p, 0, sizeof p);
	if ((p.pp.ping = weft_chan_create(sizeof(int), 0)) == NULL ||
	    (p.pp.pong = weft_chan_create(sizeof(int), 0)) == NULL)
		bench_die("weft_chan_create");
	p.pp.warm = rounds / 10;
	p.pp.rounds = rounds;
	p.lead_w = p.echo_w = -1;
	if (where == PP_THREADS) {
		/* Two threads outside the crew, each with a runtime of
		 * its own. */
		bench_threads2(pp_lead, &p, pp_echo, &p, 1);
	} else {
		p.lead_w = 0;
		p.echo_w = where == PP_CROSS ? 1 : 0;
		echo = where == PP_CROSS ? start_on_1(&pl, pp_echo, &p) :
		    start_on_0(pp_echo, &p);
		lead = start_on_0(pp_lead, &p);
		join(lead);
		join(echo);
	}
	weft_chan_destroy(p.pp.ping);
	weft_chan_destroy(p.pp.pong);
	return (double)(p.pp.t1 - p.pp.t0) / (double)rounds;
}

/* ---- contended mutex -------------------------------------------------------- */

struct contend {
	weft_mutex wm;
	pthread_mutex_t pm;
	long n;                       /* lock+unlock per side */
	long count;                   /* the shared counter */
	atomic_int ready;
	int64_t t0[2], t1[2];
};

struct contender {
	struct contend *c;
	int side;
};

/* Both sides start their loops together: each spins (on a worker, or a
 * core, of its own) until the other has come. */
static void
start_together(struct contend *c)
{
	atomic_fetch_add(&c->ready, 1);
	while (atomic_load(&c->ready) < 2)
		cpu_relax();
}

static void *
weft_contender(void *arg)
{
	struct contender *k = arg;
	struct contend *c = k->c;

	expect_worker(k->side, "a mutex contender");
	start_together(c);
	c->t0[k->side] = bench_now();
	for (long i = 0; i < c->n; i++) {
		if (weft_mutex_lock(&c->wm) != 0)
			bench_die("weft_mutex_lock");
		c->count++;
		if (weft_mutex_unlock(&c->wm) != 0)
			bench_die("weft_mutex_unlock");
	}
	c->t1[k->side] = bench_now();
	return NULL;
}

static void *
pthread_contender(void *arg)
{
	struct contender *k = arg;
	struct contend *c = k->c;
	int err;

	start_together(c);
	c->t0[k->side] = bench_now();
	for (long i = 0; i < c->n; i++) {
		if ((err = pthread_mutex_lock(&c->pm)) != 0)
			bench_die_err("pthread_mutex_lock", err);
		c->count++;
		if ((err = pthread_mutex_unlock(&c->pm)) != 0)
			bench_die_err("pthread_mutex_unlock", err);
	}
	c->t1[k->side] = bench_now();
	return NULL;
}

/* Lock+unlock per second, the two sides together. */
static double
contend_rate(long n, int weft)
{
	static struct contend c;
	struct contender k0 = { &c, 0 }, k1 = { &c, 1 };
	struct place pl;
	int64_t t0, t1;
	int err;

	memset(&c, 0, sizeof c);
	if (weft_mutex_init(&c.wm) != 0)
		bench_die("weft_mutex_init");
	if ((err = pthread_mutex_init(&c.pm, NULL)) != 0)
		bench_die_err("pthread_mutex_init", err);
	c.n = n;
	if (weft) {
		weft_task *b = start_on_1(&pl, weft_contender, &k1);

		join(start_on_0(weft_contender, &k0));
		join(b);
	} else {
		pthread_t ta, tb;

		if ((err = pthread_create(&ta, NULL, pthread_contender,
		    &k0)) != 0 || (err = pthread_create(&tb, NULL,
		    pthread_contender, &k1)) != 0)
			bench_die_err("pthread_create", err);
		if ((err = pthread_join(ta, NULL)) != 0 ||
		    (err = pthread_join(tb, NULL)) != 0)
			bench_die_err("pthread_join", err);
	}
	if (c.count != 2 * n) {
		fprintf(stderr, "bench_workers: %s mutex: counter %ld after "
		    "2 x %ld increments under the lock\n",
		    weft ? "weft" : "pthread", c.count, n);
		exit(1);
	}
	weft_mutex_destroy(&c.wm);
	pthread_mutex_destroy(&c.pm);
	t0 = c.t0[0] < c.t0[1] ? c.t0[0] : c.t0[1];
	t1 = c.t1[0] > c.t1[1] ? c.t1[0] : c.t1[1];
	return (double)(2 * n) * 1e9 / (double)(t1 - t0);
}

/* ---- a busy process beside the crew --------------------------------------- */

static pid_t
start_spinner(void)
{
	pid_t pid = fork();

	if (pid < 0)
		bench_die("fork");
	if (pid == 0) {
		volatile unsigned long spin = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			spin++;
	}
	return pid;
}

static void
stop_spinner(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int
main(int argc, char **argv)
{
	long rounds = DEFAULT_ROUNDS, iters, n_sj, n_pp, n_mx;
	double one[REPS], two[REPS], loc[REPS];
	double sj_x[REPS], sj_d[REPS], sj_l[REPS], sj_0[REPS];
	double pp_x[REPS], pp_s[REPS], pp_t[REPS], mx_w[REPS], mx_p[REPS];
	double w1_share = 0, one_ms, two_ms;
	long sj_on1 = 0, sj_late = 0, sj_total = 0;
	struct sj s;
	uint64_t sum;
	int busy = 0, a = 1;

	if (a < argc && strcmp(argv[a], "--busy") == 0) {
		busy = 1;
		a++;
	}
	if (argc - a > 1 || (a < argc && argv[a][0] == '-')) {
		fprintf(stderr, "usage: %s [--busy] [rounds]\n", argv[0]);
		return 2;
	}
	if (a < argc)
		rounds = bench_arg_count(argv[0], argv[a]);
	if (rounds < 1000)
		rounds = 1000;
	n_sj = rounds / 2;
	n_pp = rounds / 2;
	n_mx = rounds * 2;
	signal(SIGALRM, on_alarm);

	/* Phase 1: no crew, one thread. */
	set_part("calibration");
	iters = calibrate();
	printf("workers: fan-out %d tasks of %ld loop iterations each (~1 ms "
	    "here, calibrated); %ld spawn+join, %ld round trips across "
	    "workers, %ld mutex ops per side; median of %d\n", TASKS, iters,
	    n_sj, n_pp, n_mx, REPS);
	set_part("fan-out, 1 worker (no crew)");
	fanout_ms(iters, 0, &sum); /* warm up: maps the stacks */
	check_sum(sum);
	for (int r = 0; r < REPS; r++) {
		one[r] = fanout_ms(iters, 0, &sum);
		check_sum(sum);
	}
	set_part("spawn+join, no crew");
	for (int r = 0; r < REPS; r++) {
		spawn_join(&s, n_sj, SJ_LOCAL);
		sj_0[r] = s.ns;
	}

	/* Phase 2: the crew. */
	set_part("weft_set_workers(2)");
	if (weft_set_workers(WORKERS) != 0)
		bench_die("weft_set_workers");
	expect_worker(0, "main");

	set_part("fan-out, 2 workers");
	fanout_ms(iters, 0, &sum);
	check_sum(sum);
	for (int r = 0; r < REPS; r++) {
		set_part("fan-out, 2 workers");
		two[r] = fanout_ms(iters, 0, &sum);
		check_sum(sum);
		set_part("fan-out, local tasks in the crew");
		loc[r] = fanout_ms(iters, 1, &sum);
		check_sum(sum);
	}
	one_ms = median(one, REPS);
	two_ms = median(two, REPS);
	printf("workers: fan-out: 1 worker %.1f ms, %d workers %.1f ms, ratio "
	    "%.3f (target <= %.2f: %s)\n", one_ms, WORKERS, two_ms,
	    two_ms / one_ms, TARGET_FANOUT, verdict(two_ms / one_ms,
	    TARGET_FANOUT));
	printf("workers: fan-out in the crew with every task local to worker "
	    "0: %.1f ms (%d workers / that %.3f); checksum %016llx in every "
	    "run\n", median(loc, REPS), WORKERS, two_ms / median(loc, REPS),
	    (unsigned long long)fan_sum);

	for (int r = 0; r < REPS; r++) {
		set_part("spawn+join started on worker 1");
		spawn_join(&s, n_sj, SJ_CROSS);
		sj_x[r] = s.ns;
		sj_on1 += s.on_1;
		sj_late += s.late;
		sj_total += s.n;
		set_part("spawn+join, default placement");
		spawn_join(&s, n_sj, SJ_DEFAULT);
		sj_d[r] = s.ns;
		w1_share += (double)s.on_1 / (double)s.n / REPS;
		set_part("spawn+join, local");
		spawn_join(&s, n_sj, SJ_LOCAL);
		sj_l[r] = s.ns;
	}
	printf("workers: spawn+join from worker 0, task started on worker 1: "
	    "%.1f ns (%ld of %ld ran on worker 1, %ld waited > 100 ms)\n",
	    median(sj_x, REPS), sj_on1, sj_total, sj_late);
	printf("workers: spawn+join beside it: local %.1f ns, default "
	    "placement %.1f ns (%.1f%% ran on worker 1), no crew %.1f ns; "
	    "started on worker 1 / local %.2f\n", median(sj_l, REPS),
	    median(sj_d, REPS), 100 * w1_share, median(sj_0, REPS),
	    median(sj_x, REPS) / median(sj_l, REPS));

	set_part("chan round trips (warm-up)");
	pingpong_ns(n_pp / 10, PP_CROSS);
	for (int r = 0; r < REPS; r++) {
		set_part("chan round trips across workers");
		pp_x[r] = pingpong_ns(n_pp, PP_CROSS);
		set_part("chan round trips on worker 0");
		pp_s[r] = pingpong_ns(rounds, PP_SAME);
		set_part("chan round trips between two threads outside the crew");
		pp_t[r] = pingpong_ns(n_pp, PP_THREADS);
	}
	printf("workers: chan round trip across workers %.1f ns, both tasks "
	    "on worker 0 %.1f ns, two threads with runtimes of their own "
	    "%.1f ns; across / two threads %.2f\n", median(pp_x, REPS),
	    median(pp_s, REPS), median(pp_t, REPS),
	    median(pp_x, REPS) / median(pp_t, REPS));

	set_part("mutex (warm-up)");
	contend_rate(n_mx / 10, 1);
	contend_rate(n_mx / 10, 0);
	for (int r = 0; r < REPS; r++) {
		set_part("mutex contended by two workers");
		mx_w[r] = contend_rate(n_mx, 1);
		set_part("pthread mutex contended by two threads");
		mx_p[r] = contend_rate(n_mx, 0);
	}
	printf("workers: mutex contended by a task on each worker %.2f M "
	    "ops/s, two pthreads on a pthread_mutex_t %.2f M ops/s, ratio "
	    "weft/pthread %.3f\n", median(mx_w, REPS) / 1e6,
	    median(mx_p, REPS) / 1e6, median(mx_w, REPS) / median(mx_p, REPS));

	if (busy) {
		double bx[REPS], bt[REPS];
		pid_t pid = start_spinner();

		for (int r = 0; r < REPS; r++) {
			set_part("chan round trips across workers, busy "
			    "process beside");
			bx[r] = pingpong_ns(n_pp, PP_CROSS);
			set_part("chan round trips between two threads, busy "
			    "process beside");
			bt[r] = pingpong_ns(n_pp, PP_THREADS);
		}
		stop_spinner(pid);
		printf("workers: --busy: with a spinning process beside, chan "
		    "round trip across workers %.1f ns (quiet x%.2f), two "
		    "threads with runtimes of their own %.1f ns (quiet x%.2f)\n",
		    median(bx, REPS), median(bx, REPS) / median(pp_x, REPS),
		    median(bt, REPS), median(bt, REPS) / median(pp_t, REPS));
	}
	printf("workers: %ld trampolines started on worker 0 and were "
	    "retried\n", misplaced);
	alarm(0);
	return 0;
}

/*
 * The program test_debug runs in a process of its own, since what it
 * tests is read from the environment when libweft loads, or needs a
 * debugger attached.  Modes (argv[1]):
 *   stuck     a task "stuck" sleeps 2 s in plain sleep(3) beside a ticking
 *             task; prints "ready" first, then "slept N went on"
 *   hog       a task "hog" computes for 400 ms without parking
 *   polite    tasks that park often for 400 ms
 *   deadlock  two tasks deadlock on a mutex and a channel, main waits on
 *             a channel: prints "main: <errno name>"
 *   parked    named tasks parked on a pipe, a channel and a mutex; prints
 *             "ready", then waits until stdin closes
 * Built with -fno-omit-frame-pointer so that frame-pointer walks (the
 * fallback without libunwind) see its functions too.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "weft.h"

static volatile unsigned long sink;
static weft_mutex mu = WEFT_MUTEX_INITIALIZER;
static weft_chan *ch;
static int pipe_fds[2];

static int64_t ms_since(int64_t t0)
{
	return (weft_now() - t0) / 1000000;
}

static weft_task *spawn_named(const char *name, void *(*fn)(void *))
{
	weft_attr a;
	weft_task *t;

	weft_attr_init(&a);
	weft_attr_setname(&a, name);
	t = weft_spawn_attr(fn, NULL, &a);
	if (!t) {
		perror("weft_spawn_attr");
		exit(2);
	}
	return t;
}

/* ---- stuck ---------------------------------------------------------------- */

static volatile int stuck_done;

__attribute__((noinline)) static void *stuck_in_plain_sleep(void *arg)
{
	int64_t t0 = weft_now();

	(void)arg;
	printf("ready\n");
	fflush(stdout);
	sleep(2);
	printf("slept %lld ", (long long)(ms_since(t0) / 1000));
	stuck_done = 1;
	return NULL;
}

static void *ticker(void *arg)
{
	(void)arg;
	while (!stuck_done)
		weft_sleep(5);
	return NULL;
}

/* ---- hog and polite ----------------------------------------------------- */

__attribute__((noinline)) static void *compute_without_parking(void *arg)
{
	int64_t t0 = weft_now();
	unsigned long i;

	(void)arg;
	while (ms_since(t0) < 400)
		for (i = 0; i < 100000; i++)
			sink += i;
	return NULL;
}

static void *polite(void *arg)
{
	int64_t t0 = weft_now();
	unsigned long i;

	(void)arg;
	while (ms_since(t0) < 400) {
		for (i = 0; i < 10000; i++)
			sink += i;
		weft_sleep(1);
	}
	return NULL;
}

/* ---- deadlock and parked ------------------------------------------------- */

__attribute__((noinline)) static void *holds_mutex_wants_channel(void *arg)
{
	int x;

	(void)arg;
	weft_mutex_lock(&mu);
	weft_chan_recv(ch, &x);
	weft_mutex_unlock(&mu);
	return NULL;
}

__attribute__((noinline)) static void *wants_mutex(void *arg)
{
	(void)arg;
	weft_sleep(10);
	weft_mutex_lock(&mu);
	weft_mutex_unlock(&mu);
	return NULL;
}

__attribute__((noinline)) static void *reads_the_pipe(void *arg)
{
	char c;

	(void)arg;
	weft_read(pipe_fds[0], &c, 1);
	return NULL;
}

/* Says the others are parked, then waits until the test closes stdin:
 * main meanwhile parks in a join the debugger can see. */
__attribute__((noinline)) static void *keeper(void *arg)
{
	char buf[16];

	(void)arg;
	weft_sleep(50);
	printf("ready\n");
	while (weft_read(0, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	weft_task *a, *b, *c;
	int x = 0, rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(mode, "stuck") == 0) {
		a = spawn_named("stuck", stuck_in_plain_sleep);
		b = spawn_named("ticker", ticker);
		weft_join(a, NULL);
		weft_join(b, NULL);
		printf("went on\n");
		return 0;
	}
	if (strcmp(mode, "hog") == 0 || strcmp(mode, "polite") == 0) {
		if (mode[0] == 'h') {
			a = spawn_named("hog", compute_without_parking);
		} else {
			a = spawn_named("polite", polite);
			weft_join(spawn_named("polite2", polite), NULL);
		}
		weft_join(a, NULL);
		printf("done\n");
		return 0;
	}
	if (strcmp(mode, "deadlock") == 0 || strcmp(mode, "parked") == 0) {
		ch = weft_chan_create(sizeof(int), 0);
		if (!ch || pipe(pipe_fds) != 0)
			return 2;
		a = spawn_named("holder", holds_mutex_wants_channel);
		b = spawn_named("waiter", wants_mutex);
		c = spawn_named("reader", reads_the_pipe);
		if (mode[0] == 'd') {
			/* The reader's pipe would keep it from being a
			 * deadlock: close the write end so it returns. */
			close(pipe_fds[1]);
			weft_join(c, NULL);
			rc = weft_chan_recv(ch, &x);
			printf("main: %s\n", rc == -1 ? strerrorname_np(errno) :
			    "received");
			return 0;
		}
		weft_join(spawn_named("keeper", keeper), NULL);
		return 0;
	}
	fprintf(stderr, "usage: debug_child stuck|hog|polite|deadlock|parked\n");
	return 2;
}

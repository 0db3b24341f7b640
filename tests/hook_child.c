/*
 * Run by tests/test_hook under LD_PRELOAD=libweft-hook.so: a program
 * linked with libweft alone whose tasks call plain usleep and read.  It
 * prints "parallel ok" when 100 sleeps of 200 ms overlapped.
 */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "weft.h"

static int fds[2];

static void *nap(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)usleep(200 * 1000);
}

static void *reader(void *arg)
{
	char c;

	(void)arg;
	return (void *)(intptr_t)read(fds[0], &c, 1);
}

static void *writer(void *arg)
{
	(void)arg;
	usleep(50 * 1000);
	return (void *)(intptr_t)write(fds[1], "w", 1);
}

int main(void)
{
	weft_task *t[100], *r, *w;
	int64_t start = weft_now();
	void *got;
	int i, ok = 1;

	for (i = 0; i < 100; i++)
		if (!(t[i] = weft_spawn(nap, NULL)))
			return 1;
	for (i = 0; i < 100; i++)
		if (weft_join(t[i], &got) != 0 || got != NULL)
			ok = 0;
	if (weft_now() - start > INT64_C(2000000000))
		ok = 0;
	/* A reader spawned first is served by a writer spawned after it:
	 * the read parked only its task. */
	if (pipe(fds) != 0 || !(r = weft_spawn(reader, NULL)) ||
	    !(w = weft_spawn(writer, NULL)) || weft_join(r, &got) != 0 ||
	    (intptr_t)got != 1 || weft_join(w, NULL) != 0)
		ok = 0;
	printf("%s (%.3f s)\n", ok ? "parallel ok" : "serial",
	    (double)(weft_now() - start) / 1e9);
	return ok ? 0 : 1;
}

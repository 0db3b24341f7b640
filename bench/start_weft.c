/* bench_start's subject: a weft program that spawns a task which sleeps
 * 1 ms, and joins it (and, given a URL, fetches it once instead). */
#include <stddef.h>

#include "weft.h"

static void *nap(void *arg)
{
	(void)arg;
	return (void *)(long)weft_sleep(1);
}

static void *fetch(void *url)
{
	weft_response *res = weft_fetch(url, NULL);

	weft_response_free(res);
	return res ? NULL : (void *)1;
}

int main(int argc, char **argv)
{
	weft_task *t = argc > 1 ? weft_spawn(fetch, argv[1]) :
	    weft_spawn(nap, NULL);
	void *r = (void *)1;

	return t && weft_join(t, &r) == 0 && r == NULL ? 0 : 1;
}

/*
 * weft_fetch: the weft side of bench/peers' HTTP workload: N GETs of URL
 * (default 2000), INFLIGHT at a time (default 50): INFLIGHT tasks, each
 * fetching its share one after another, so the runtime's libcurl pool
 * keeps INFLIGHT connections alive.  Prints req_per_s.
 *
 *   weft_fetch URL [N [INFLIGHT]]
 */
#include <stdio.h>
#include <stdlib.h>

#include "weft.h"

static const char *url;

static void *getter(void *arg)
{
	long k = (long)arg, i;

	for (i = 0; i < k; i++) {
		weft_response *res = weft_fetch(url, NULL);

		if (!res || weft_response_status(res) != 200) {
			fprintf(stderr, "weft_fetch: %s\n", weft_errmsg());
			exit(1);
		}
		weft_response_free(res);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 2000;
	long inflight = argc > 3 ? atol(argv[3]) : 50, w;
	weft_task **t;
	int64_t start;

	if (argc < 2 || n <= 0 || inflight <= 0 ||
	    !(t = calloc((size_t)inflight, sizeof(*t))))
		return 2;
	url = argv[1];
	start = weft_now();
	for (w = 0; w < inflight; w++)
		if (!(t[w] = weft_spawn(getter, (void *)(n / inflight +
		    (w < n % inflight)))))
			return 1;
	for (w = 0; w < inflight; w++)
		weft_join(t[w], NULL);
	printf("req_per_s %.0f\n", (double)n / ((double)(weft_now() - start) / 1e9));
	free(t);
	return 0;
}

/*
 * Fetch several URLs at the same time, one task per URL.
 *
 *   fetch_data [url...]        (default http://127.0.0.1:8080/)
 *
 * fetch_data() reads like blocking code, but weft_fetch parks only the
 * task that calls it: while one download waits for the network, the
 * others go on, all on one OS thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

struct page {
	const char *url;
	long status;
	char *body;             /* NULL if the fetch failed */
	size_t size;
};

/* The body of url (NUL-terminated, free() it) and its HTTP status; NULL,
 * with the reason printed, if no response came. */
static char *fetch_data(const char *url, long *status, size_t *size)
{
	weft_response *res = weft_fetch(url, NULL);
	const char *body;
	char *copy;

	if (!res) {
		fprintf(stderr, "%s: %s (%s)\n", url, strerror(errno),
		    weft_errmsg());
		return NULL;
	}
	*status = weft_response_status(res);
	body = weft_response_body(res, size);
	copy = malloc(*size + 1);
	if (copy)
		memcpy(copy, body, *size + 1);
	else
		perror(url);
	weft_response_free(res);
	return copy;
}

static void *fetch_task(void *arg)
{
	struct page *p = arg;

	p->body = fetch_data(p->url, &p->status, &p->size);
	return NULL;
}

int main(int argc, char **argv)
{
	static char *default_urls[] = { "http://127.0.0.1:8080/" };
	char **urls = argc > 1 ? argv + 1 : default_urls;
	int i, n = argc > 1 ? argc - 1 : 1, failed = 0;
	struct page *pages = calloc((size_t)n, sizeof(*pages));
	weft_task **tasks = calloc((size_t)n, sizeof(*tasks));

	if (!pages || !tasks) {
		perror("calloc");
		return 1;
	}
	for (i = 0; i < n; i++) {
		pages[i].url = urls[i];
		tasks[i] = weft_spawn(fetch_task, &pages[i]);
		if (!tasks[i]) {
			perror("weft_spawn");
			return 1;
		}
	}
	for (i = 0; i < n; i++) {
		if (weft_join(tasks[i], NULL) == -1) {
			perror("weft_join");
			return 1;
		}
		if (pages[i].body)
			printf("%3ld  %8zu bytes  %s\n", pages[i].status,
			    pages[i].size, pages[i].url);
		else
			failed = 1;
		free(pages[i].body);
	}
	free(tasks);
	free(pages);
	return failed;
}

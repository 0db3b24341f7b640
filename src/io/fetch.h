/*
 * fetch internals shared by its three files:
 *   fetch_transfer.c  one exchange: the easy handle, its callbacks, the
 *                     mapping of libcurl's results to errno, weft_fetch;
 *   fetch_driver.c    the runtime's multi handle (a runtime part), driven
 *                     through the poller by an internal task;
 *   fetch_response.c  options and what a response holds.
 */
#ifndef WEFT_IO_FETCH_H
#define WEFT_IO_FETCH_H

#include "base/list.h"
#include "io/curl.h"
#include "core/core.h"

struct weft__header {
	char *name;                  /* "name\0value\0" in one allocation */
	char *value;
};

/*
 * A runtime's idle easy handles (fetch_driver.c), reset and ready: a fetch
 * in a task takes one instead of making one, and gives it back at the end.
 * Making and cleaning up a handle was a seventh of a GET's CPU.
 */
struct weft__shelf;

/* One exchange, on the fetching task's stack while it waits. */
struct weft__transfer {
	struct weft__link link;      /* in the driver's transfers in flight */
	CURL *easy;
	struct weft__shelf *shelf;   /* where easy goes back; NULL: freed */
	struct weft_task *task;
	struct weft_fetch_opts opts;
	struct curl_slist *req_headers;
	CURLcode result;
	int done;
	int too_large, aborted, no_memory;
	int head_done;               /* the blank line ending a head came */
	int watch_err;               /* a socket of it could not be watched */
	/* "scheme://host:port" where HTTP/2 may multiplex ("": not), whose
	 * fetches in flight the driver caps (fetch_driver.c). */
	char origin[128];
	char *body;
	size_t body_len, body_cap;
	struct weft__header *headers;
	size_t nheaders, cap_headers;
	char errbuf[CURL_ERROR_SIZE];
	const char *url;             /* the caller's, alive while it waits */
};

struct weft_response {
	long status;
	int http_version;            /* 10, 11, 20, 30 */
	char *url;
	char *body;
	size_t body_len;
	struct weft__header *headers;
	size_t nheaders;
};

/* fetch_response.c */
void weft__headers_free(struct weft__header *h, size_t n);
/* The caller's options, as far as its size says it knows them; 0, or -1
 * and EINVAL with *why saying what is wrong: a size that does not end at
 * a field, a negative limit, a method that is not a token, a line break
 * in a header or the user agent (it would smuggle headers or requests),
 * a body_len past INT64_MAX. */
int weft__fetch_opts_read(const weft_fetch_opts *in,
    struct weft_fetch_opts *o, const char **why);

/* fetch_transfer.c */
void weft__transfer_free(struct weft__transfer *x);
/* The end of every fetch: a response, or NULL with errno and a message
 * (err, msg: why it ended early; 0 and NULL: libcurl's result says). */
weft_response *weft__transfer_finish(struct weft_task *self,
    struct weft__transfer *x, int err, const char *msg);

/* fetch_driver.c: the calling thread's shelf (NULL and errno when its
 * fetch driver cannot be made); a handle from it, or NULL when it has none
 * (the caller makes one); give one back, reset, or free it when full. */
struct weft__shelf *weft__fetch_shelf(struct weft_rt *rt);
CURL *weft__shelf_take(struct weft__shelf *sh);
void weft__shelf_give(struct weft__shelf *sh, CURL *e);

/* fetch_driver.c: inside a task, hand x to the runtime's multi handle
 * and park until it is done. */
weft_response *weft__fetch_parked(struct weft_rt *rt,
    struct weft__transfer *x);

#endif /* WEFT_IO_FETCH_H */

/*
 * fetch: one libcurl multi handle per runtime, driven through the poller
 * and the timer heap by an internal task (see fetch.c).
 */
#ifndef WEFT_FETCH_H
#define WEFT_FETCH_H

struct weft__fetcher;

/* Free the runtime's multi handle and what is left of its transfers. */
void weft__fetch_term(struct weft__fetcher *f);

#endif /* WEFT_FETCH_H */

/*
 * Channel internals shared with select.c.
 */
#ifndef WEFT_CHAN_H
#define WEFT_CHAN_H

#include "waitq.h"

struct weft__select {
	atomic_int fired;            /* -1: open; -2: given up; else the case */
};

struct weft_chan {
	unsigned magic;
	weft__spin lk;
	size_t elem_size, cap;
	char *buf;                   /* ring of cap elements */
	size_t head, count;
	int closed;
	struct weft__waitq sendq, recvq;
};

/* Is ch a live channel? */
int weft__chan_ok(const weft_chan *ch);

/*
 * With ch->lk held: send or receive at once if possible.  0 done, EPIPE
 * closed, EAGAIN it would have to wait.
 */
int weft__chan_send_locked(weft_chan *ch, const void *elem);
int weft__chan_recv_locked(weft_chan *ch, void *elem);

/* A select's waiter may be taken only by whoever claims its select. */
int weft__select_claim(struct weft__waiter *w);

#endif /* WEFT_CHAN_H */

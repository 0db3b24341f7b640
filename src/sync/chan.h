/*
 * Channel internals shared with select's channel cases.
 */
#ifndef WEFT_SYNC_CHAN_H
#define WEFT_SYNC_CHAN_H

#include "sync/waitq.h"

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

#endif /* WEFT_SYNC_CHAN_H */

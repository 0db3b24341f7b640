/*
 * Channels: typed by element size, buffered (a ring of capacity elements)
 * or unbuffered (capacity 0: the sender waits for a receiver and hands the
 * value over directly).  Waiting senders and receivers queue in FIFO order;
 * a value goes from a sender's buffer straight into a receiver's when one
 * is waiting, without passing through the ring.
 */
#include "base/compiler.h"
#include "base/error.h"
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

#include "sync/chan.h"

#define CHAN_MAGIC 0x6368616eu   /* "chan" */

int weft__chan_ok(const weft_chan *ch)
{
	return ch && ch->magic == CHAN_MAGIC;
}

/* Most channels carry an int, a pointer or a small struct: copy those
 * without a call into the C library. */
static inline void copy(void *dst, const void *src, size_t n)
{
	switch (n) {
	case 4:
		memcpy(dst, src, 4);
		break;
	case 8:
		memcpy(dst, src, 8);
		break;
	case 16:
		memcpy(dst, src, 16);
		break;
	default:
		memcpy(dst, src, n);
	}
}

static char *slot(weft_chan *ch, size_t i)
{
	return ch->buf + ((ch->head + i) % ch->cap) * ch->elem_size;
}

int weft__chan_send_locked(weft_chan *ch, const void *elem)
{
	struct weft__waiter *w;

	if (ch->closed)
		return EPIPE;
	if ((w = weft__waitq_take(&ch->recvq))) {
		copy(w->elem, elem, ch->elem_size);
		weft__waiter_done(w, 0);
		return 0;
	}
	if (ch->count < ch->cap) {
		copy(slot(ch, ch->count), elem, ch->elem_size);
		ch->count++;
		return 0;
	}
	return EAGAIN;
}

int weft__chan_recv_locked(weft_chan *ch, void *elem)
{
	struct weft__waiter *w;

	if (ch->count) {
		copy(elem, slot(ch, 0), ch->elem_size);
		ch->head = (ch->head + 1) % ch->cap;
		ch->count--;
		/* Room now: the longest-waiting sender's value moves in. */
		if ((w = weft__waitq_take(&ch->sendq))) {
			copy(slot(ch, ch->count), w->elem, ch->elem_size);
			ch->count++;
			weft__waiter_done(w, 0);
		}
		return 0;
	}
	if ((w = weft__waitq_take(&ch->sendq))) {
		copy(elem, w->elem, ch->elem_size);
		weft__waiter_done(w, 0);
		return 0;
	}
	return ch->closed ? EPIPE : EAGAIN;
}

weft_chan *weft_chan_create(size_t elem_size, size_t capacity)
{
	weft_chan *ch;

	if (elem_size == 0)
		return weft__fail_null(EINVAL);
	if (capacity && elem_size > SIZE_MAX / capacity)
		return weft__fail_null(ENOMEM);
	if (!(ch = weft__calloc(1, sizeof(*ch))))
		return weft__fail_null(ENOMEM);
	if (capacity && !(ch->buf = weft__malloc(elem_size * capacity))) {
		free(ch);
		return weft__fail_null(ENOMEM);
	}
	ch->elem_size = elem_size;
	ch->cap = capacity;
	ch->magic = CHAN_MAGIC;
	return ch;
}

size_t weft_chan_len(weft_chan *ch)
{
	size_t n;

	if (!weft__chan_ok(ch)) {
		errno = EINVAL;
		return 0;
	}
	weft__spin_lock(&ch->lk);
	n = ch->count;
	weft__spin_unlock(&ch->lk);
	return n;
}

size_t weft_chan_cap(weft_chan *ch)
{
	if (!weft__chan_ok(ch)) {
		errno = EINVAL;
		return 0;
	}
	return ch->cap;             /* set at creation, never changed */
}

void weft_chan_destroy(weft_chan *ch)
{
	if (!weft__chan_ok(ch))
		return;
	ch->magic = 0;
	free(ch->buf);
	free(ch);
}

/* With ch->lk held: queue the caller and park until served. */
static __attribute__((noinline)) int wait_turn(weft_chan *ch, void *elem,
    int sending)
{
	struct weft__waitq *q = sending ? &ch->sendq : &ch->recvq;
	struct weft__waiter w;
	struct weft_task *self;
	struct weft_rt *rt;

	/* A cancelled task or a passed deadline: the park says so. */
	if (!(self = weft__sync_caller(&rt))) {
		weft__spin_unlock(&ch->lk);
		return -1;
	}
	weft__waiter_init(&w, self);
	w.elem = elem;
	weft__waitq_push(q, &w);
	weft__wait_note(rt, sending ? WEFT__WAIT_CHAN_SEND : WEFT__WAIT_CHAN_RECV,
	    ch, (int64_t)ch->count, (int64_t)ch->cap);
	return weft__result(weft__waitq_wait(rt, &w, q, &ch->lk, 0));
}

/* Send or receive, parking when it has to wait. */
static inline int transfer(weft_chan *ch, void *elem, int sending,
    int may_wait)
{
	int err;

	if (weft__unlikely(!weft__chan_ok(ch) || !elem))
		return weft__fail(EINVAL);
	weft__spin_lock(&ch->lk);
	err = sending ? weft__chan_send_locked(ch, elem) :
	    weft__chan_recv_locked(ch, elem);
	if (err != EAGAIN || !may_wait) {
		weft__spin_unlock(&ch->lk);
		return err ? weft__fail(err) : 0;
	}
	return wait_turn(ch, elem, sending);
}

int weft_chan_send(weft_chan *ch, const void *elem)
{
	return transfer(ch, (void *)elem, 1, 1);
}

int weft_chan_recv(weft_chan *ch, void *elem)
{
	return transfer(ch, elem, 0, 1);
}

int weft_chan_trysend(weft_chan *ch, const void *elem)
{
	return transfer(ch, (void *)elem, 1, 0);
}

int weft_chan_tryrecv(weft_chan *ch, void *elem)
{
	return transfer(ch, elem, 0, 0);
}

int weft_chan_close(weft_chan *ch)
{
	struct weft__waiter *w;

	if (!weft__chan_ok(ch))
		return weft__fail(EINVAL);
	weft__spin_lock(&ch->lk);
	if (ch->closed) {
		weft__spin_unlock(&ch->lk);
		return weft__fail(EPIPE);
	}
	ch->closed = 1;
	/* Receivers wait only when nothing is buffered: all get EPIPE. */
	while ((w = weft__waitq_take(&ch->recvq)))
		weft__waiter_done(w, EPIPE);
	while ((w = weft__waitq_take(&ch->sendq)))
		weft__waiter_done(w, EPIPE);
	weft__spin_unlock(&ch->lk);
	return 0;
}

/*
 * Channels and select.
 *
 * Channels: send order, capacity, unbuffered rendezvous, close (draining,
 * waking waiters), try-variants, error paths, many producers and consumers
 * (every value exactly once), sends and receives ended by a deadline or a
 * cancellation (the value is neither lost nor duplicated), and traffic
 * between two OS threads.
 *
 * weft_select: array order among ready cases, waiting for a case, timeout,
 * send cases, closed channels, fds, task completion, exactly one case
 * firing, error paths, deadline and cancellation.
 *
 * Order is shown through program state, never by timing.  Waits that a bug
 * could leave hanging run under a long deadline (hang guard).  Each test
 * creates the runtime it uses (Check's fork mode); with CK_FORK=no they
 * share one, so each leaves no task behind.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft.h"
#include "test_util.h"

/* Hang guard: long enough never to fire unless something is lost. */
#define GUARD_NS ((int64_t)30000 * MS_NS)

/* In a task: join t under a hang guard. */
static int guarded_join(weft_task *t, void **r)
{
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);
	int rc = weft_join(t, r);

	weft_deadline_pop(saved);
	return rc;
}

static weft_chan *new_chan(size_t elem_size, size_t capacity)
{
	weft_chan *ch = weft_chan_create(elem_size, capacity);

	ck_assert_msg(ch != NULL, "weft_chan_create(%zu, %zu): errno %d",
	    elem_size, capacity, errno);
	return ch;
}

/* Main parks for ms (a timed wait), running the tasks meanwhile. */
static void main_park_ms(int64_t ms)
{
	weft_chan *idle = new_chan(sizeof(int), 0);
	int64_t saved = weft_deadline_push(weft_now() + ms * MS_NS);
	int v;

	assert_fails(weft_chan_recv(idle, &v), ETIMEDOUT);
	ck_assert_int_eq(weft_deadline_pop(saved), 0);
	weft_chan_destroy(idle);
}

static void make_pipe(int p[2])
{
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
}

/* Select cases. */
static struct weft_select_case sel_case(int op, weft_chan *ch, void *elem)
{
	struct weft_select_case k;

	memset(&k, 0, sizeof(k));
	k.op = op;
	k.chan = ch;
	k.elem = elem;
	k.fd = -1;
	k.err = -7;
	return k;
}

static struct weft_select_case sel_fd(int op, int fd)
{
	struct weft_select_case k = sel_case(op, NULL, NULL);

	k.fd = fd;
	return k;
}

static struct weft_select_case sel_join(weft_task *t)
{
	struct weft_select_case k = sel_case(WEFT_SELECT_JOIN, NULL, NULL);

	k.task = t;
	return k;
}

/* select under a hang guard, timeout -1. */
static int guarded_select(struct weft_select_case *c, size_t n)
{
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);
	int rc = weft_select(c, n, -1);
	int err = errno;

	weft_deadline_pop(saved);
	errno = err;
	return rc;
}

/* ---- order and element copies ------------------------------------------ */

enum { ORDER_N = 1000, ODD_SIZE = 37 };

/* An odd-sized element: every byte is checked. */
struct odd {
	unsigned char b[ODD_SIZE];
};

static void odd_fill(struct odd *e, int seq)
{
	int i;

	for (i = 0; i < ODD_SIZE; i++)
		e->b[i] = (unsigned char)(seq * 31 + i * 7);
	memcpy(e->b, &seq, sizeof(seq));
}

static int odd_seq(const struct odd *e)
{
	struct odd want;
	int seq;

	memcpy(&seq, e->b, sizeof(seq));
	odd_fill(&want, seq);
	return memcmp(&want, e, sizeof(want)) == 0 ? seq : -1;
}

static struct {
	weft_chan *ch;
	int received, out_of_order;
} g_ord;

static void *ord_sender_fn(void *arg)
{
	struct odd e;
	int i;

	(void)arg;
	for (i = 0; i < ORDER_N; i++) {
		odd_fill(&e, i);
		TASK_CHECK(weft_chan_send(g_ord.ch, &e) == 0);
		if (i % 7 == 0)
			TASK_CHECK(weft_yield() == 0);
	}
	return NULL;
}

static void *ord_receiver_fn(void *arg)
{
	struct odd e;
	int i;

	(void)arg;
	for (i = 0; i < ORDER_N; i++) {
		memset(&e, 0, sizeof(e));
		if (weft_chan_recv(g_ord.ch, &e) != 0) {
			TASK_CHECK(!"weft_chan_recv failed");
			break;
		}
		if (odd_seq(&e) != i)
			g_ord.out_of_order++;
		g_ord.received++;
		if (i % 5 == 0)
			TASK_CHECK(weft_yield() == 0);
	}
	return NULL;
}

START_TEST(chan_order)
{
	size_t cap = _i == 0 ? 16 : 0;
	weft_task *s, *r;
	struct odd e;
	int i;

	task_checks_reset();
	memset(&g_ord, 0, sizeof(g_ord));
	g_ord.ch = new_chan(sizeof(struct odd), cap);
	/* Task to task. */
	r = weft_spawn(ord_receiver_fn, NULL);
	s = weft_spawn(ord_sender_fn, NULL);
	ck_assert(r != NULL && s != NULL);
	ck_assert_int_eq(weft_join(s, NULL), 0);
	ck_assert_int_eq(weft_join(r, NULL), 0);
	assert_task_checks_passed();
	ck_assert_int_eq(g_ord.received, ORDER_N);
	ck_assert_int_eq(g_ord.out_of_order, 0);

	/* Task to main: main's recv parks and runs the sender. */
	s = weft_spawn(ord_sender_fn, NULL);
	ck_assert_ptr_nonnull(s);
	for (i = 0; i < ORDER_N; i++) {
		memset(&e, 0, sizeof(e));
		ck_assert_int_eq(weft_chan_recv(g_ord.ch, &e), 0);
		ck_assert_int_eq(odd_seq(&e), i);
	}
	ck_assert_int_eq(weft_join(s, NULL), 0);
	assert_fails(weft_chan_tryrecv(g_ord.ch, &e), EAGAIN);
	assert_task_checks_passed();
	weft_chan_destroy(g_ord.ch);
}
END_TEST

/* ---- capacity ------------------------------------------------------------ */

static struct {
	weft_chan *ch;
	int sent;
} g_cap;

static void *cap_sender_fn(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 10; i++) {
		if (weft_chan_send(g_cap.ch, &i) != 0) {
			TASK_CHECK(!"weft_chan_send failed");
			break;
		}
		g_cap.sent++;
	}
	return NULL;
}

static void *cap_control_fn(void *arg)
{
	size_t cap = P2U(arg), k;
	weft_task *t;
	int i, v;

	/* Alone: the buffer takes exactly `cap` values. */
	for (k = 0; k < cap; k++) {
		v = (int)k + 100;
		TASK_CHECK(weft_chan_trysend(g_cap.ch, &v) == 0);
	}
	v = 999;
	TASK_CHECK_FAILS(weft_chan_trysend(g_cap.ch, &v), EAGAIN);
	for (k = 0; k < cap; k++) {
		v = -1;
		TASK_CHECK(weft_chan_tryrecv(g_cap.ch, &v) == 0 && v == (int)k + 100);
	}
	TASK_CHECK_FAILS(weft_chan_tryrecv(g_cap.ch, &v), EAGAIN);

	/* A sender with no receiver blocks after exactly `cap` sends. */
	t = weft_spawn(cap_sender_fn, NULL);
	TASK_CHECK(t != NULL);
	yield_n(5);
	TASK_CHECK(g_cap.sent == (int)cap);
	v = 999;
	TASK_CHECK_FAILS(weft_chan_trysend(g_cap.ch, &v), EAGAIN);
	/* One out, one more in. */
	v = -1;
	TASK_CHECK(weft_chan_tryrecv(g_cap.ch, &v) == 0 && v == 0);
	yield_n(5);
	TASK_CHECK(g_cap.sent == (int)cap + 1);
	TASK_CHECK_FAILS(weft_chan_trysend(g_cap.ch, &v), EAGAIN);
	for (i = 1; i < 10; i++) {
		v = -1;
		TASK_CHECK(weft_chan_recv(g_cap.ch, &v) == 0 && v == i);
	}
	TASK_CHECK(guarded_join(t, NULL) == 0);
	TASK_CHECK(g_cap.sent == 10);
	TASK_CHECK_FAILS(weft_chan_tryrecv(g_cap.ch, &v), EAGAIN);
	return NULL;
}

START_TEST(chan_capacity)
{
	static const size_t caps[] = { 1, 4 };
	size_t cap = caps[_i];

	task_checks_reset();
	memset(&g_cap, 0, sizeof(g_cap));
	g_cap.ch = new_chan(sizeof(int), cap);
	run_task(cap_control_fn, U2P(cap));
	assert_task_checks_passed();
	weft_chan_destroy(g_cap.ch);
}
END_TEST

/* ---- unbuffered rendezvous ---------------------------------------------- */

static struct {
	weft_chan *ch;
	int send_returned, taken, taken_at_return;
	int recv_returned, got;
} g_rv;

static void *rv_sender_fn(void *arg)
{
	int v = (int)P2U(arg);

	TASK_CHECK(weft_chan_send(g_rv.ch, &v) == 0);
	g_rv.taken_at_return = g_rv.taken;
	g_rv.send_returned = 1;
	return NULL;
}

static void *rv_receiver_fn(void *arg)
{
	int v = -1;

	(void)arg;
	TASK_CHECK(weft_chan_recv(g_rv.ch, &v) == 0);
	g_rv.got = v;
	g_rv.recv_returned = 1;
	return NULL;
}

static void *rv_control_fn(void *arg)
{
	weft_task *t;
	int v = 5;

	(void)arg;
	/* Nobody on the other side. */
	TASK_CHECK_FAILS(weft_chan_trysend(g_rv.ch, &v), EAGAIN);
	TASK_CHECK_FAILS(weft_chan_tryrecv(g_rv.ch, &v), EAGAIN);

	/* A send does not complete while nobody receives, however long. */
	t = weft_spawn(rv_sender_fn, U2P(42));
	TASK_CHECK(t != NULL);
	yield_n(5);
	TASK_CHECK(weft_sleep(50) == 0);
	yield_n(5);
	TASK_CHECK(g_rv.send_returned == 0);
	/* A second tryrecv would find nothing, so take it now. */
	v = -1;
	TASK_CHECK(weft_chan_tryrecv(g_rv.ch, &v) == 0 && v == 42);
	g_rv.taken = 1;
	TASK_CHECK_FAILS(weft_chan_tryrecv(g_rv.ch, &v), EAGAIN);
	TASK_CHECK(guarded_join(t, NULL) == 0);
	TASK_CHECK(g_rv.send_returned == 1 && g_rv.taken_at_return == 1);

	/* A waiting receiver: trysend hands it over. */
	t = weft_spawn(rv_receiver_fn, NULL);
	TASK_CHECK(t != NULL);
	yield_n(3);
	TASK_CHECK(g_rv.recv_returned == 0);
	v = 77;
	TASK_CHECK(weft_chan_trysend(g_rv.ch, &v) == 0);
	TASK_CHECK_FAILS(weft_chan_trysend(g_rv.ch, &v), EAGAIN);
	TASK_CHECK(guarded_join(t, NULL) == 0);
	TASK_CHECK(g_rv.got == 77);

	/* A waiting receiver: a blocking send completes without parking for long. */
	g_rv.recv_returned = 0;
	t = weft_spawn(rv_receiver_fn, NULL);
	TASK_CHECK(t != NULL);
	yield_n(3);
	v = 78;
	TASK_CHECK(weft_chan_send(g_rv.ch, &v) == 0);
	TASK_CHECK(guarded_join(t, NULL) == 0);
	TASK_CHECK(g_rv.got == 78);
	return NULL;
}

START_TEST(chan_unbuffered_rendezvous)
{
	task_checks_reset();
	memset(&g_rv, 0, sizeof(g_rv));
	g_rv.ch = new_chan(sizeof(int), 0);
	run_task(rv_control_fn, NULL);
	assert_task_checks_passed();
	weft_chan_destroy(g_rv.ch);
}
END_TEST

/* ---- close ------------------------------------------------------------- */

START_TEST(chan_close_drains_then_epipe)
{
	weft_chan *ch = new_chan(sizeof(int), 8);
	int i, v;

	for (i = 1; i <= 3; i++)
		ck_assert_int_eq(weft_chan_trysend(ch, &i), 0);
	ck_assert_int_eq(weft_chan_close(ch), 0);
	assert_fails(weft_chan_close(ch), EPIPE);
	v = 9;
	assert_fails(weft_chan_send(ch, &v), EPIPE);
	assert_fails(weft_chan_trysend(ch, &v), EPIPE);
	/* Buffered values still come out, in order. */
	v = -1;
	ck_assert_int_eq(weft_chan_recv(ch, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(weft_chan_tryrecv(ch, &v), 0);
	ck_assert_int_eq(v, 2);
	ck_assert_int_eq(weft_chan_recv(ch, &v), 0);
	ck_assert_int_eq(v, 3);
	v = -1;
	assert_fails(weft_chan_recv(ch, &v), EPIPE);
	assert_fails(weft_chan_tryrecv(ch, &v), EPIPE);
	assert_fails(weft_chan_recv(ch, &v), EPIPE);
	ck_assert_int_eq(v, -1);
	/* Even past the deadline: EPIPE, no wait. */
	{
		int64_t saved = weft_deadline_push(weft_now() - MS_NS);

		assert_fails(weft_chan_recv(ch, &v), EPIPE);
		assert_fails(weft_chan_send(ch, &v), EPIPE);
		ck_assert_int_eq(weft_deadline_pop(saved), 0);
	}
	weft_chan_destroy(ch);

	/* Unbuffered. */
	ch = new_chan(sizeof(int), 0);
	ck_assert_int_eq(weft_chan_close(ch), 0);
	assert_fails(weft_chan_recv(ch, &v), EPIPE);
	assert_fails(weft_chan_send(ch, &v), EPIPE);
	assert_fails(weft_chan_close(ch), EPIPE);
	weft_chan_destroy(ch);
}
END_TEST

enum { CW_N = 3 };

static struct {
	weft_chan *ch;
	int send;               /* waiters send (else receive) */
	int rc[CW_N], err[CW_N], got[CW_N];
	int started;
} g_cw;

static void *cw_waiter_fn(void *arg)
{
	int i = (int)P2U(arg);
	int v = g_cw.send ? 10 + i : -1;
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);

	g_cw.started++;
	errno = 0;
	g_cw.rc[i] = g_cw.send ? weft_chan_send(g_cw.ch, &v) :
	    weft_chan_recv(g_cw.ch, &v);
	g_cw.err[i] = errno;
	g_cw.got[i] = v;
	weft_deadline_pop(saved);
	return NULL;
}

static void *cw_control_fn(void *arg)
{
	weft_task *t[CW_N];
	int i;

	(void)arg;
	for (i = 0; i < CW_N; i++)
		TASK_CHECK((t[i] = weft_spawn(cw_waiter_fn, U2P(i))) != NULL);
	yield_n(3);
	TASK_CHECK(g_cw.started == CW_N);
	for (i = 0; i < CW_N; i++)
		TASK_CHECK(g_cw.rc[i] == 12345);        /* all waiting */
	TASK_CHECK(weft_chan_close(g_cw.ch) == 0);
	for (i = 0; i < CW_N; i++)
		TASK_CHECK(guarded_join(t[i], NULL) == 0);
	return NULL;
}

START_TEST(chan_close_wakes_waiters)
{
	int send = _i & 1, buffered = _i >> 1;
	int i, v;

	task_checks_reset();
	memset(&g_cw, 0, sizeof(g_cw));
	for (i = 0; i < CW_N; i++)
		g_cw.rc[i] = 12345;
	g_cw.send = send;
	g_cw.ch = new_chan(sizeof(int), buffered ? 1 : 0);
	if (send && buffered) {
		/* Full, so the senders wait. */
		v = 1;
		ck_assert_int_eq(weft_chan_trysend(g_cw.ch, &v), 0);
	}
	{
		weft_task *c = weft_spawn(cw_control_fn, NULL);

		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(weft_join(c, NULL), 0);
	}
	for (i = 0; i < CW_N; i++) {
		ck_assert_msg(g_cw.rc[i] == -1 && g_cw.err[i] == EPIPE,
		    "%s waiter %d on a %s channel woken by close: %d errno %d (%s)",
		    send ? "sending" : "receiving", i,
		    buffered ? "buffered" : "unbuffered", g_cw.rc[i], g_cw.err[i],
		    strerror(g_cw.err[i]));
		if (!send)
			ck_assert_int_eq(g_cw.got[i], -1);
	}
	/* The waiting senders' values were not delivered. */
	v = -1;
	if (send && buffered) {
		ck_assert_int_eq(weft_chan_recv(g_cw.ch, &v), 0);
		ck_assert_int_eq(v, 1);
	}
	assert_fails(weft_chan_recv(g_cw.ch, &v), EPIPE);
	assert_task_checks_passed();
	weft_chan_destroy(g_cw.ch);
}
END_TEST

/* ---- waiting senders and receivers are served FIFO ---------------------- */

enum { FQ_N = 12 };

static struct {
	weft_chan *ch;
	int queued[FQ_N], nqueued;
	int got[FQ_N];
	int fillers;            /* values buffered before the senders queued */
} g_fq;

/* Queues in an order unlike spawn order, then receives. */
static void *fq_receiver_fn(void *arg)
{
	int i = (int)P2U(arg), v = -1;

	yield_n((i * 5) % 3);
	g_fq.queued[g_fq.nqueued++] = i;
	TASK_CHECK(weft_chan_recv(g_fq.ch, &v) == 0);
	g_fq.got[i] = v;
	return NULL;
}

/* Queues likewise, then sends its own number. */
static void *fq_sender_fn(void *arg)
{
	int i = (int)P2U(arg);

	yield_n((i * 5) % 3);
	g_fq.queued[g_fq.nqueued++] = i;
	TASK_CHECK(weft_chan_send(g_fq.ch, &i) == 0);
	return NULL;
}

static void *fq_control_fn(void *arg)
{
	int senders = (int)P2U(arg), i, k, v;
	weft_task *t[FQ_N];

	for (i = 0; i < FQ_N; i++)
		TASK_CHECK((t[i] = weft_spawn(senders ? fq_sender_fn :
		    fq_receiver_fn, U2P(i))) != NULL);
	yield_n(4);
	TASK_CHECK(g_fq.nqueued == FQ_N);
	for (k = 0; k < g_fq.fillers; k++) {
		v = 0;
		TASK_CHECK(weft_chan_recv(g_fq.ch, &v) == 0 && v == -100 - k);
	}
	for (k = 0; k < FQ_N; k++) {
		if (senders) {
			/* The k-th value out is from the k-th sender queued. */
			v = -1;
			TASK_CHECK(weft_chan_recv(g_fq.ch, &v) == 0);
			TASK_CHECK(v == g_fq.queued[k]);
		} else {
			/* Value k goes to the k-th receiver queued. */
			TASK_CHECK(weft_chan_send(g_fq.ch, &k) == 0);
		}
	}
	for (i = 0; i < FQ_N; i++)
		TASK_CHECK(guarded_join(t[i], NULL) == 0);
	return NULL;
}

START_TEST(chan_waiters_fifo)
{
	int senders = _i & 1, buffered = _i >> 1, k;
	weft_task *c;

	task_checks_reset();
	memset(&g_fq, 0, sizeof(g_fq));
	g_fq.ch = new_chan(sizeof(int), buffered ? 2 : 0);
	if (senders && buffered) {
		/* Full, so the senders queue; these come out first. */
		for (k = 0; k < 2; k++) {
			int f = -100 - k;

			ck_assert_int_eq(weft_chan_trysend(g_fq.ch, &f), 0);
		}
		g_fq.fillers = 2;
	}
	c = weft_spawn(fq_control_fn, U2P(senders));
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(weft_join(c, NULL), 0);
	assert_task_checks_passed();
	ck_assert_int_ne(g_fq.queued[1], 1);
	if (!senders)
		for (k = 0; k < FQ_N; k++)
			ck_assert_msg(g_fq.got[g_fq.queued[k]] == k,
			    "receiver %d queued %d-th but got value %d",
			    g_fq.queued[k], k, g_fq.got[g_fq.queued[k]]);
	weft_chan_destroy(g_fq.ch);
}
END_TEST

/* ---- error paths -------------------------------------------------------- */

START_TEST(chan_errors)
{
	weft_chan *ch;
	int v = 1;

	assert_fails_null(weft_chan_create(0, 4), EINVAL);
	assert_fails_null(weft_chan_create(0, 0), EINVAL);
	assert_fails_null(weft_chan_create(SIZE_MAX, 2), ENOMEM);
	assert_fails_null(weft_chan_create(SIZE_MAX / 2, 3), ENOMEM);
	assert_fails_null(weft_chan_create(sizeof(int), SIZE_MAX), ENOMEM);

	assert_fails(weft_chan_send(NULL, &v), EINVAL);
	assert_fails(weft_chan_recv(NULL, &v), EINVAL);
	assert_fails(weft_chan_trysend(NULL, &v), EINVAL);
	assert_fails(weft_chan_tryrecv(NULL, &v), EINVAL);
	assert_fails(weft_chan_close(NULL), EINVAL);
	weft_chan_destroy(NULL);

	ch = new_chan(sizeof(int), 2);
	assert_fails(weft_chan_send(ch, NULL), EINVAL);
	assert_fails(weft_chan_trysend(ch, NULL), EINVAL);
	ck_assert_int_eq(weft_chan_trysend(ch, &v), 0);
	assert_fails(weft_chan_recv(ch, NULL), EINVAL);
	assert_fails(weft_chan_tryrecv(ch, NULL), EINVAL);
	/* The value is still there. */
	v = 0;
	ck_assert_int_eq(weft_chan_tryrecv(ch, &v), 0);
	ck_assert_int_eq(v, 1);
	/* Destroy with values still buffered, and open: fine. */
	ck_assert_int_eq(weft_chan_trysend(ch, &v), 0);
	weft_chan_destroy(ch);

	/* A one-byte element; a large one. */
	ch = new_chan(1, 3);
	{
		unsigned char a = 0xab, b = 0;

		ck_assert_int_eq(weft_chan_trysend(ch, &a), 0);
		ck_assert_int_eq(weft_chan_tryrecv(ch, &b), 0);
		ck_assert_uint_eq(b, 0xab);
	}
	weft_chan_destroy(ch);
	ch = new_chan(4096, 2);
	{
		static unsigned char big[4096], out[4096];
		size_t i;

		for (i = 0; i < sizeof(big); i++)
			big[i] = (unsigned char)(i * 13);
		ck_assert_int_eq(weft_chan_trysend(ch, big), 0);
		ck_assert_int_eq(weft_chan_tryrecv(ch, out), 0);
		ck_assert(memcmp(big, out, sizeof(big)) == 0);
	}
	weft_chan_destroy(ch);
}
END_TEST

/* ---- many producers and consumers ---------------------------------------- */

enum { MP_PRODUCERS = 100, MP_CONSUMERS = 100 };

static struct {
	weft_chan *ch;
	int per;                      /* values per producer */
	long received;
	uint64_t sum;
	unsigned char *seen;
	int dup, bad, reorder, send_fail, recv_fail;
	int last[MP_CONSUMERS][MP_PRODUCERS];
} g_mp;

static void *mp_producer_fn(void *arg)
{
	uint32_t p = (uint32_t)P2U(arg), i;
	int64_t saved = weft_deadline_push(weft_now() + 4 * GUARD_NS);

	for (i = 0; i < (uint32_t)g_mp.per; i++) {
		uint32_t v = p * (uint32_t)g_mp.per + i;

		if (weft_chan_send(g_mp.ch, &v) != 0) {
			g_mp.send_fail++;
			break;
		}
		if ((i + p) % 16 == 0)
			TASK_CHECK(weft_yield() == 0);
	}
	weft_deadline_pop(saved);
	return NULL;
}

static void *mp_consumer_fn(void *arg)
{
	int c = (int)P2U(arg);
	int64_t saved = weft_deadline_push(weft_now() + 4 * GUARD_NS);
	uint32_t v;
	int n = 0;

	for (;;) {
		if (weft_chan_recv(g_mp.ch, &v) != 0) {
			if (errno != EPIPE)
				g_mp.recv_fail++;
			break;
		}
		if (v >= (uint32_t)(MP_PRODUCERS * g_mp.per)) {
			g_mp.bad++;
			continue;
		}
		if (g_mp.seen[v]++)
			g_mp.dup++;
		/* Each producer's values reach each consumer in send order. */
		{
			int p = (int)(v / (uint32_t)g_mp.per), i = (int)(v % (uint32_t)g_mp.per);

			if (i < g_mp.last[c][p])
				g_mp.reorder++;
			g_mp.last[c][p] = i + 1;
		}
		g_mp.received++;
		g_mp.sum += v;
		if (++n % 8 == 0)
			TASK_CHECK(weft_yield() == 0);
	}
	weft_deadline_pop(saved);
	return NULL;
}

START_TEST(chan_many_producers_consumers)
{
	static const size_t caps[] = { 0, 1, 64 };
	static weft_task *prod[MP_PRODUCERS], *cons[MP_CONSUMERS];
	uint64_t live0 = live_tasks(), n;
	long i;

	task_checks_reset();
	memset(&g_mp, 0, sizeof(g_mp));
	g_mp.per = under_valgrind() ? 100 : 1000;
	n = (uint64_t)MP_PRODUCERS * (uint64_t)g_mp.per;
	g_mp.seen = calloc(n, 1);
	ck_assert_ptr_nonnull(g_mp.seen);
	g_mp.ch = new_chan(sizeof(uint32_t), caps[_i]);
	for (i = 0; i < MP_CONSUMERS; i++)
		ck_assert_ptr_nonnull(cons[i] = weft_spawn(mp_consumer_fn, U2P(i)));
	for (i = 0; i < MP_PRODUCERS; i++)
		ck_assert_ptr_nonnull(prod[i] = weft_spawn(mp_producer_fn, U2P(i)));
	for (i = 0; i < MP_PRODUCERS; i++)
		ck_assert_int_eq(weft_join(prod[i], NULL), 0);
	ck_assert_int_eq(weft_chan_close(g_mp.ch), 0);
	for (i = 0; i < MP_CONSUMERS; i++)
		ck_assert_int_eq(weft_join(cons[i], NULL), 0);
	assert_task_checks_passed();
	ck_assert_int_eq(g_mp.send_fail, 0);
	ck_assert_int_eq(g_mp.recv_fail, 0);
	ck_assert_int_eq(g_mp.bad, 0);
	ck_assert_int_eq(g_mp.dup, 0);
	ck_assert_int_eq(g_mp.reorder, 0);
	ck_assert_int_eq(g_mp.received, (long)n);
	ck_assert(g_mp.sum == n * (n - 1) / 2);
	for (i = 0; i < (long)n; i++)
		ck_assert_msg(g_mp.seen[i] == 1, "value %ld received %d times", i,
		    g_mp.seen[i]);
	ck_assert_uint_eq(live_tasks(), live0);
	free(g_mp.seen);
	weft_chan_destroy(g_mp.ch);
}
END_TEST

/* ---- deadline and cancellation of send and recv ---------------------------- */

enum { OP_SEND_BUF, OP_SEND_UNBUF, OP_RECV_BUF, OP_RECV_UNBUF, OPS };
enum { M_DEADLINE, M_PAST, M_CANCEL, M_CANCELLED, MODES };

static const char *const op_names[OPS] = {
	"send on a full buffered channel", "send on an unbuffered channel",
	"recv on an empty buffered channel", "recv on an unbuffered channel"
};
static const char *const mode_names[MODES] = {
	"deadline passes while waiting", "deadline already past",
	"cancelled while waiting", "cancelled before"
};

static struct {
	int op, mode;
	weft_chan *ch;
	int parked, finished;
	int rc, err, value;
	int64_t start, deadline, end;
} g_dc;

static void *dc_waiter_fn(void *arg)
{
	int64_t saved;
	int v;

	(void)arg;
	if (g_dc.mode == M_CANCELLED)
		TASK_CHECK(weft_cancel(weft_self()) == 0);
	if (g_dc.mode == M_DEADLINE)
		g_dc.deadline = weft_now() + 100 * MS_NS;
	else if (g_dc.mode == M_PAST)
		g_dc.deadline = weft_now() - MS_NS;
	else
		g_dc.deadline = weft_now() + GUARD_NS;
	saved = weft_deadline_push(g_dc.deadline);
	g_dc.parked = 1;
	g_dc.start = weft_now();
	errno = 0;
	if (g_dc.op == OP_SEND_BUF || g_dc.op == OP_SEND_UNBUF) {
		v = 777;
		g_dc.rc = weft_chan_send(g_dc.ch, &v);
	} else {
		v = -1;
		g_dc.rc = weft_chan_recv(g_dc.ch, &v);
	}
	g_dc.err = errno;
	g_dc.value = v;
	g_dc.end = weft_now();
	g_dc.finished = 1;
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	return NULL;
}

static void *dc_helper_recv_fn(void *arg)
{
	int v = -1;

	(void)arg;
	TASK_CHECK(weft_chan_recv(g_dc.ch, &v) == 0);
	return U2P(v);
}

static void *dc_control_fn(void *arg)
{
	weft_task *w, *h;
	void *r = NULL;
	int v, i;

	(void)arg;
	if (g_dc.op == OP_SEND_BUF)
		for (i = 1; i <= 2; i++)
			TASK_CHECK(weft_chan_trysend(g_dc.ch, &i) == 0);
	w = weft_spawn(dc_waiter_fn, NULL);
	TASK_CHECK(w != NULL);
	if (w == NULL)
		return NULL;
	if (g_dc.mode == M_CANCEL) {
		yield_n(2);
		TASK_CHECK(g_dc.parked && !g_dc.finished);
		TASK_CHECK(weft_cancel(w) == 0);
	}
	TASK_CHECK(guarded_join(w, NULL) == 0);

	/* Nothing happened; nothing lingers. */
	switch (g_dc.op) {
	case OP_SEND_BUF:
		for (i = 1; i <= 2; i++) {
			v = -1;
			TASK_CHECK(weft_chan_tryrecv(g_dc.ch, &v) == 0 && v == i);
		}
		TASK_CHECK_FAILS(weft_chan_tryrecv(g_dc.ch, &v), EAGAIN);
		break;
	case OP_SEND_UNBUF:
		/* No sender is waiting any more: a receiver finds nothing. */
		TASK_CHECK_FAILS(weft_chan_tryrecv(g_dc.ch, &v), EAGAIN);
		break;
	case OP_RECV_BUF:
		v = 5;
		TASK_CHECK(weft_chan_trysend(g_dc.ch, &v) == 0);
		v = -1;
		TASK_CHECK(weft_chan_tryrecv(g_dc.ch, &v) == 0 && v == 5);
		break;
	default:
		/* No receiver is waiting any more: trysend finds nobody. */
		v = 6;
		TASK_CHECK_FAILS(weft_chan_trysend(g_dc.ch, &v), EAGAIN);
		break;
	}
	/* The channel still works both ways. */
	h = weft_spawn(dc_helper_recv_fn, NULL);
	TASK_CHECK(h != NULL);
	yield_n(2);
	v = 8;
	TASK_CHECK(weft_chan_send(g_dc.ch, &v) == 0);
	TASK_CHECK(guarded_join(h, &r) == 0 && P2U(r) == 8);
	return NULL;
}

START_TEST(chan_deadline_and_cancel)
{
	int op = _i / MODES, mode = _i % MODES;
	int want = (mode == M_DEADLINE || mode == M_PAST) ? ETIMEDOUT : ECANCELED;
	int64_t sf = slow_factor();

	task_checks_reset();
	memset(&g_dc, 0, sizeof(g_dc));
	g_dc.op = op;
	g_dc.mode = mode;
	g_dc.rc = 12345;
	g_dc.ch = new_chan(sizeof(int),
	    (op == OP_SEND_BUF) ? 2 : (op == OP_RECV_BUF) ? 3 : 0);
	run_task(dc_control_fn, NULL);
	assert_task_checks_passed();
	ck_assert_msg(g_dc.rc == -1 && g_dc.err == want,
	    "%s, %s: %d errno %d (%s), expected %s", op_names[op],
	    mode_names[mode], g_dc.rc, g_dc.err, strerror(g_dc.err),
	    strerror(want));
	if (op == OP_RECV_BUF || op == OP_RECV_UNBUF)
		ck_assert_int_eq(g_dc.value, -1);
	if (mode == M_DEADLINE) {
		ck_assert_msg(g_dc.end >= g_dc.deadline,
		    "%s returned %lld ns before its deadline", op_names[op],
		    (long long)(g_dc.deadline - g_dc.end));
		ck_assert_int_lt(g_dc.end - g_dc.start, 5000 * MS_NS * sf);
	} else {
		ck_assert_int_lt(g_dc.end - g_dc.start, 2000 * MS_NS * sf);
	}
	weft_chan_destroy(g_dc.ch);
}
END_TEST

/*
 * Hand-off, then cancellation before the waiter runs again.  A trysend that
 * returned 0 to a waiting receiver delivered the value: the receiver must
 * return it, not ECANCELED (the value would be lost).  Likewise a tryrecv
 * that took a waiting sender's value: the send succeeded.  On a buffered
 * channel the value may instead stay buffered, but exists exactly once.
 */
enum { HC_RECV, HC_SEND, HC_SEL_RECV, HC_SEL_SEND, HC_RECV_BUF, HC_KINDS };

static const char *const hc_names[HC_KINDS] = {
	"recv", "send", "select recv", "select send", "buffered recv"
};

static struct {
	int kind;
	weft_chan *ch;
	int parked, rc, err, value;
} g_hc;

static void *hc_waiter_fn(void *arg)
{
	struct weft_select_case k;
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);
	int v = -1;

	(void)arg;
	g_hc.parked = 1;
	errno = 0;
	switch (g_hc.kind) {
	case HC_RECV:
	case HC_RECV_BUF:
		g_hc.rc = weft_chan_recv(g_hc.ch, &v);
		break;
	case HC_SEND:
		v = 43;
		g_hc.rc = weft_chan_send(g_hc.ch, &v);
		break;
	case HC_SEL_RECV:
		k = sel_case(WEFT_SELECT_RECV, g_hc.ch, &v);
		g_hc.rc = weft_select(&k, 1, -1);
		break;
	default:
		v = 43;
		k = sel_case(WEFT_SELECT_SEND, g_hc.ch, &v);
		g_hc.rc = weft_select(&k, 1, -1);
		break;
	}
	g_hc.err = errno;
	g_hc.value = v;
	weft_deadline_pop(saved);
	return NULL;
}

static void *hc_control_fn(void *arg)
{
	int sender = g_hc.kind == HC_SEND || g_hc.kind == HC_SEL_SEND;
	weft_task *w;
	int v;

	(void)arg;
	w = weft_spawn(hc_waiter_fn, NULL);
	TASK_CHECK(w != NULL);
	if (w == NULL)
		return NULL;
	yield_n(2);
	TASK_CHECK(g_hc.parked);
	if (sender) {
		v = -1;
		TASK_CHECK(weft_chan_tryrecv(g_hc.ch, &v) == 0 && v == 43);
	} else {
		v = 42;
		TASK_CHECK(weft_chan_trysend(g_hc.ch, &v) == 0);
	}
	TASK_CHECK(weft_cancel(w) == 0);
	TASK_CHECK(guarded_join(w, NULL) == 0);
	if (g_hc.kind == HC_RECV_BUF && g_hc.rc == -1) {
		/* Gave up: the value must still be in the buffer. */
		TASK_CHECK(g_hc.err == ECANCELED);
		v = -1;
		TASK_CHECK(weft_chan_tryrecv(g_hc.ch, &v) == 0 && v == 42);
	}
	TASK_CHECK_FAILS(weft_chan_tryrecv(g_hc.ch, &v), EAGAIN);
	return NULL;
}

START_TEST(chan_handoff_then_cancel)
{
	int kind = _i;

	task_checks_reset();
	memset(&g_hc, 0, sizeof(g_hc));
	g_hc.kind = kind;
	g_hc.rc = 12345;
	g_hc.ch = new_chan(sizeof(int), kind == HC_RECV_BUF ? 2 : 0);
	run_task(hc_control_fn, NULL);
	assert_task_checks_passed();
	if (kind != HC_RECV_BUF) {
		ck_assert_msg(g_hc.rc == 0,
		    "%s: value handed over, then cancelled: %d errno %d (%s); "
		    "the value was %s", hc_names[kind], g_hc.rc, g_hc.err,
		    strerror(g_hc.err),
		    kind == HC_SEND || kind == HC_SEL_SEND ? "received" : "sent");
		if (kind == HC_RECV || kind == HC_SEL_RECV)
			ck_assert_int_eq(g_hc.value, 42);
	} else if (g_hc.rc == 0) {
		ck_assert_int_eq(g_hc.value, 42);
	}
	weft_chan_destroy(g_hc.ch);
}
END_TEST

/* What needs no wait completes past the deadline or cancelled. */
static void *no_wait_fn(void *arg)
{
	weft_chan *ch = arg;
	int64_t saved = weft_deadline_push(weft_now() - MS_NS);
	int v = 3, round;

	for (round = 0; round < 2; round++) {
		v = 3;
		TASK_CHECK(weft_chan_send(ch, &v) == 0);
		v = -1;
		TASK_CHECK(weft_chan_recv(ch, &v) == 0 && v == 3);
		TASK_CHECK_FAILS(weft_chan_recv(ch, &v),
		    round == 0 ? ETIMEDOUT : ECANCELED);
		TASK_CHECK(weft_cancel(weft_self()) == 0);
	}
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	return U2P(1);
}

START_TEST(chan_no_wait_needed)
{
	weft_chan *ch = new_chan(sizeof(int), 1);

	task_checks_reset();
	ck_assert_uint_eq(P2U(run_task(no_wait_fn, ch)), 1);
	assert_task_checks_passed();
	weft_chan_destroy(ch);
}
END_TEST

/* From main: main's deadline bounds its send and recv. */
START_TEST(chan_main_deadline)
{
	weft_chan *ch = new_chan(sizeof(int), 0);
	int64_t t0 = weft_now(), dl = t0 + 100 * MS_NS;
	int64_t saved = weft_deadline_push(dl);
	int v = 1;

	assert_fails(weft_chan_recv(ch, &v), ETIMEDOUT);
	ck_assert_int_ge(weft_now(), dl);
	assert_fails(weft_chan_send(ch, &v), ETIMEDOUT);
	ck_assert_int_eq(weft_deadline_pop(saved), 0);
	ck_assert_int_lt(weft_now() - t0, 5000 * MS_NS * slow_factor());
	assert_fails(weft_chan_tryrecv(ch, &v), EAGAIN);
	weft_chan_destroy(ch);
}
END_TEST

/* ---- two OS threads -------------------------------------------------------- */

enum { XT_SENDERS = 4, XT_RECEIVERS = 4 };

static struct {
	weft_chan *ch;
	long per;                  /* values per sending task */
	unsigned char *seen;
	pthread_barrier_t go;
} g_xt;

struct xt_side {
	long count, dup, bad, reorder, fails;
	uint64_t sum;
	int close_rc;
	long last[XT_RECEIVERS][XT_SENDERS];
};

static struct xt_side g_xa, g_xb;

static void *xt_send_fn(void *arg)
{
	uint32_t s = (uint32_t)P2U(arg);
	int64_t saved = weft_deadline_push(weft_now() + 6 * GUARD_NS);
	long i;

	for (i = 0; i < g_xt.per; i++) {
		uint32_t v = s * (uint32_t)g_xt.per + (uint32_t)i;

		if (weft_chan_send(g_xt.ch, &v) != 0) {
			g_xa.fails++;
			break;
		}
		g_xa.count++;
	}
	weft_deadline_pop(saved);
	return NULL;
}

static void *xt_recv_fn(void *arg)
{
	int r = (int)P2U(arg);
	int64_t saved = weft_deadline_push(weft_now() + 6 * GUARD_NS);
	uint32_t v;

	for (;;) {
		if (weft_chan_recv(g_xt.ch, &v) != 0) {
			if (errno != EPIPE)
				g_xb.fails++;
			break;
		}
		if (v >= (uint32_t)(XT_SENDERS * g_xt.per)) {
			g_xb.bad++;
			continue;
		}
		if (g_xt.seen[v]++)
			g_xb.dup++;
		{
			long s = (long)(v / (uint32_t)g_xt.per), i = (long)(v % (uint32_t)g_xt.per);

			if (i < g_xb.last[r][s])
				g_xb.reorder++;
			g_xb.last[r][s] = i + 1;
		}
		g_xb.count++;
		g_xb.sum += v;
	}
	weft_deadline_pop(saved);
	return NULL;
}

static void *xt_thread_a(void *arg)
{
	weft_task *t[XT_SENDERS];
	int i;

	(void)arg;
	pthread_barrier_wait(&g_xt.go);
	for (i = 0; i < XT_SENDERS; i++)
		XCHECK((t[i] = weft_spawn(xt_send_fn, U2P(i))) != NULL);
	for (i = 0; i < XT_SENDERS; i++)
		XCHECK(t[i] == NULL || weft_join(t[i], NULL) == 0);
	/* Wakes B's receivers once they drained the buffer. */
	g_xa.close_rc = weft_chan_close(g_xt.ch);
	return NULL;
}

static void *xt_thread_b(void *arg)
{
	weft_task *t[XT_RECEIVERS];
	int i;

	(void)arg;
	pthread_barrier_wait(&g_xt.go);
	for (i = 0; i < XT_RECEIVERS; i++)
		XCHECK((t[i] = weft_spawn(xt_recv_fn, U2P(i))) != NULL);
	for (i = 0; i < XT_RECEIVERS; i++)
		XCHECK(t[i] == NULL || weft_join(t[i], NULL) == 0);
	return NULL;
}

START_TEST(chan_two_threads)
{
	size_t cap = _i == 0 ? 128 : 0;
	long total;
	uint64_t n;
	pthread_t a, b;
	long i;

	atomic_store(&g_xfail_line, 0);
	memset(&g_xa, 0, sizeof(g_xa));
	memset(&g_xb, 0, sizeof(g_xb));
	memset(&g_xt, 0, sizeof(g_xt));
	if (cap > 0)
		total = under_valgrind() ? 20000 : 1000000;
	else
		total = under_valgrind() ? 5000 : 100000;
	g_xt.per = total / XT_SENDERS;
	n = (uint64_t)g_xt.per * XT_SENDERS;
	g_xt.seen = calloc(n, 1);
	ck_assert_ptr_nonnull(g_xt.seen);
	g_xt.ch = new_chan(sizeof(uint32_t), cap);
	ck_assert_int_eq(pthread_barrier_init(&g_xt.go, NULL, 2), 0);
	ck_assert_int_eq(pthread_create(&a, NULL, xt_thread_a, NULL), 0);
	ck_assert_int_eq(pthread_create(&b, NULL, xt_thread_b, NULL), 0);
	ck_assert_int_eq(pthread_join(a, NULL), 0);
	ck_assert_int_eq(pthread_join(b, NULL), 0);
	pthread_barrier_destroy(&g_xt.go);
	assert_xchecks_passed();
	ck_assert_int_eq(g_xa.fails, 0);
	ck_assert_int_eq(g_xa.close_rc, 0);
	ck_assert_int_eq(g_xa.count, (long)n);
	ck_assert_int_eq(g_xb.fails, 0);
	ck_assert_int_eq(g_xb.bad, 0);
	ck_assert_int_eq(g_xb.dup, 0);
	ck_assert_int_eq(g_xb.reorder, 0);
	ck_assert_int_eq(g_xb.count, (long)n);
	ck_assert(g_xb.sum == n * (n - 1) / 2);
	for (i = 0; i < (long)n; i++)
		ck_assert_msg(g_xt.seen[i] == 1, "value %ld received %d times", i,
		    g_xt.seen[i]);
	free(g_xt.seen);
	weft_chan_destroy(g_xt.ch);
}
END_TEST

/*
 * Races between hand-off and timeout across threads: tasks of thread A
 * send distinct values under tiny deadlines (some already past), tasks of
 * thread B receive under tiny deadlines.  Every value whose send succeeded
 * is received exactly once (counting what is left in the buffer); no
 * value whose send failed is ever received.
 */
enum { CR_TASKS = 2 };

static struct {
	weft_chan *ch;
	int iters;
	unsigned char *sent, *got;
	long send_ok, send_to, recv_ok, recv_to, errors_a, errors_b;
	pthread_barrier_t go;
} g_cr;

static void cr_spin(int64_t ns)
{
	int64_t until = weft_now() + ns;

	while (weft_now() < until)
		;
}

static void *cr_send_fn(void *arg)
{
	uint32_t t = (uint32_t)P2U(arg), i;

	for (i = 0; i < (uint32_t)g_cr.iters; i++) {
		uint32_t v = t * (uint32_t)g_cr.iters + i;
		int64_t saved = weft_deadline_push(weft_now() + (i % 4) * 50000);
		int rc = weft_chan_send(g_cr.ch, &v);
		int err = errno;

		weft_deadline_pop(saved);
		if (rc == 0) {
			g_cr.sent[v] = 1;
			g_cr.send_ok++;
		} else if (err == ETIMEDOUT) {
			g_cr.send_to++;
		} else {
			g_cr.errors_a++;
		}
		if (i % 5 == 0)
			cr_spin(30000);
	}
	return NULL;
}

static void *cr_recv_fn(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < g_cr.iters; i++) {
		uint32_t v;
		int64_t saved = weft_deadline_push(weft_now() + (i % 4) * 50000);
		int rc = weft_chan_recv(g_cr.ch, &v);
		int err = errno;

		weft_deadline_pop(saved);
		if (rc == 0) {
			if (v < (uint32_t)(CR_TASKS * g_cr.iters))
				g_cr.got[v]++;
			else
				g_cr.errors_b++;
			g_cr.recv_ok++;
		} else if (err == ETIMEDOUT) {
			g_cr.recv_to++;
		} else {
			g_cr.errors_b++;
		}
		if (i % 7 == 0)
			cr_spin(30000);
	}
	return NULL;
}

static void *cr_thread(void *arg)
{
	int sender = arg == NULL;
	weft_task *t[CR_TASKS];
	int i;

	pthread_barrier_wait(&g_cr.go);
	for (i = 0; i < CR_TASKS; i++)
		XCHECK((t[i] = weft_spawn(sender ? cr_send_fn : cr_recv_fn,
		    U2P(i))) != NULL);
	for (i = 0; i < CR_TASKS; i++)
		XCHECK(t[i] == NULL || weft_join(t[i], NULL) == 0);
	return NULL;
}

START_TEST(chan_cross_thread_timeout_races)
{
	size_t cap = _i == 0 ? 0 : 2;
	pthread_t a, b;
	uint32_t v;
	long n, i, left = 0;

	atomic_store(&g_xfail_line, 0);
	memset(&g_cr, 0, sizeof(g_cr));
	g_cr.iters = under_valgrind() ? 2000 : 20000;
	n = (long)CR_TASKS * g_cr.iters;
	g_cr.sent = calloc((size_t)n, 1);
	g_cr.got = calloc((size_t)n, 1);
	ck_assert(g_cr.sent != NULL && g_cr.got != NULL);
	g_cr.ch = new_chan(sizeof(uint32_t), cap);
	ck_assert_int_eq(pthread_barrier_init(&g_cr.go, NULL, 2), 0);
	ck_assert_int_eq(pthread_create(&a, NULL, cr_thread, NULL), 0);
	ck_assert_int_eq(pthread_create(&b, NULL, cr_thread, U2P(1)), 0);
	ck_assert_int_eq(pthread_join(a, NULL), 0);
	ck_assert_int_eq(pthread_join(b, NULL), 0);
	pthread_barrier_destroy(&g_cr.go);
	assert_xchecks_passed();
	/* What is still buffered counts as received. */
	while (weft_chan_tryrecv(g_cr.ch, &v) == 0) {
		ck_assert_int_lt(v, n);
		g_cr.got[v]++;
		left++;
	}
	ck_assert_int_eq(g_cr.errors_a, 0);
	ck_assert_int_eq(g_cr.errors_b, 0);
	ck_assert_int_le(left, (long)cap);
	ck_assert_int_eq(g_cr.send_ok + g_cr.send_to, n);
	ck_assert_int_eq(g_cr.recv_ok + g_cr.recv_to, n);
	ck_assert_int_eq(g_cr.recv_ok + left, g_cr.send_ok);
	for (i = 0; i < n; i++)
		ck_assert_msg(g_cr.got[i] == g_cr.sent[i],
		    "value %ld: send %s, received %d times", i,
		    g_cr.sent[i] ? "succeeded" : "failed", g_cr.got[i]);
	printf("chan_cross_thread_timeout_races (capacity %zu): %ld sent, %ld "
	    "send timeouts, %ld received, %ld recv timeouts, %ld left\n", cap,
	    g_cr.send_ok, g_cr.send_to, g_cr.recv_ok, g_cr.recv_to, left);
	free(g_cr.sent);
	free(g_cr.got);
	weft_chan_destroy(g_cr.ch);
}
END_TEST

/* ---- select ------------------------------------------------------------- */

START_TEST(select_first_ready_in_array_order)
{
	weft_chan *c0 = new_chan(sizeof(int), 2), *c1 = new_chan(sizeof(int), 2);
	weft_chan *c2 = new_chan(sizeof(int), 2), *full = new_chan(sizeof(int), 1);
	struct weft_select_case k[4];
	int v0 = -1, v1 = -1, v2 = -1, s = 55, v, p[2];

	v = 11;
	ck_assert_int_eq(weft_chan_trysend(c1, &v), 0);
	v = 22;
	ck_assert_int_eq(weft_chan_trysend(c2, &v), 0);
	ck_assert_int_eq(weft_chan_trysend(full, &v), 0);

	/* c0 empty: c1 is the first ready; c2 is left alone. */
	k[0] = sel_case(WEFT_SELECT_RECV, c0, &v0);
	k[1] = sel_case(WEFT_SELECT_RECV, c1, &v1);
	k[2] = sel_case(WEFT_SELECT_RECV, c2, &v2);
	ck_assert_int_eq(weft_select(k, 3, 0), 1);
	ck_assert_int_eq(k[1].err, 0);
	ck_assert_int_eq(v1, 11);
	ck_assert_int_eq(v0, -1);
	ck_assert_int_eq(v2, -1);
	v = -1;
	assert_fails(weft_chan_tryrecv(c1, &v), EAGAIN);

	/* Now c2 is the only ready one. */
	ck_assert_int_eq(weft_select(k, 3, -1), 2);
	ck_assert_int_eq(v2, 22);
	ck_assert_int_eq(k[2].err, 0);

	/* All ready: the first wins, the others keep their values. */
	v = 1;
	ck_assert_int_eq(weft_chan_trysend(c0, &v), 0);
	v = 2;
	ck_assert_int_eq(weft_chan_trysend(c1, &v), 0);
	v = 3;
	ck_assert_int_eq(weft_chan_trysend(c2, &v), 0);
	v0 = v1 = v2 = -1;
	ck_assert_int_eq(weft_select(k, 3, 0), 0);
	ck_assert_int_eq(v0, 1);
	ck_assert_int_eq(v1, -1);
	ck_assert_int_eq(v2, -1);
	/* Reversed array: c2 first. */
	k[3] = k[0];
	k[0] = k[2];
	k[2] = k[3];
	ck_assert_int_eq(weft_select(k, 3, 0), 0);
	ck_assert_int_eq(v2, 3);
	ck_assert_int_eq(weft_chan_tryrecv(c1, &v), 0);
	ck_assert_int_eq(v, 2);

	/* A ready send case ahead of a ready recv case. */
	v = 4;
	ck_assert_int_eq(weft_chan_trysend(c1, &v), 0);
	k[0] = sel_case(WEFT_SELECT_SEND, full, &s);     /* full: not ready */
	k[1] = sel_case(WEFT_SELECT_SEND, c0, &s);
	k[2] = sel_case(WEFT_SELECT_RECV, c1, &v1);
	v1 = -1;
	ck_assert_int_eq(weft_select(k, 3, 0), 1);
	ck_assert_int_eq(k[1].err, 0);
	ck_assert_int_eq(v1, -1);
	ck_assert_int_eq(weft_chan_tryrecv(c0, &v), 0);
	ck_assert_int_eq(v, 55);
	ck_assert_int_eq(weft_chan_tryrecv(c1, &v), 0);
	ck_assert_int_eq(v, 4);

	/* An fd case among channel cases: writable pipe. */
	make_pipe(p);
	k[0] = sel_case(WEFT_SELECT_RECV, c0, &v0);
	k[1] = sel_fd(WEFT_SELECT_READ, p[0]);
	k[2] = sel_fd(WEFT_SELECT_WRITE, p[1]);
	k[3] = sel_case(WEFT_SELECT_SEND, c2, &s);
	ck_assert_int_eq(weft_select(k, 4, 0), 2);
	/* Nothing was sent by the later send case. */
	assert_fails(weft_chan_tryrecv(c2, &v), EAGAIN);
	ck_assert_int_eq(weft_close(p[0]), 0);
	ck_assert_int_eq(weft_close(p[1]), 0);
	ck_assert_int_eq(weft_chan_tryrecv(full, &v), 0);
	ck_assert_int_eq(v, 22);

	weft_chan_destroy(c0);
	weft_chan_destroy(c1);
	weft_chan_destroy(c2);
	weft_chan_destroy(full);
}
END_TEST

static struct {
	weft_chan *c0, *c1;
	int send_rc, delay_ms, value;
} g_sw;

static void *sw_sender_fn(void *arg)
{
	int v = g_sw.value;

	(void)arg;
	TASK_CHECK(weft_sleep(g_sw.delay_ms) == 0);
	g_sw.send_rc = weft_chan_send(g_sw.c1, &v);
	return NULL;
}

static void *sw_select_fn(void *arg)
{
	struct weft_select_case k[2];
	int v0 = -1, v1 = -1, rc;
	weft_task *t;

	(void)arg;
	t = weft_spawn(sw_sender_fn, NULL);
	TASK_CHECK(t != NULL);
	k[0] = sel_case(WEFT_SELECT_RECV, g_sw.c0, &v0);
	k[1] = sel_case(WEFT_SELECT_RECV, g_sw.c1, &v1);
	rc = guarded_select(k, 2);
	TASK_CHECK(rc == 1);
	TASK_CHECK(k[1].err == 0);
	TASK_CHECK(v1 == g_sw.value && v0 == -1);
	TASK_CHECK(guarded_join(t, NULL) == 0);
	TASK_CHECK(g_sw.send_rc == 0);
	TASK_CHECK_FAILS(weft_chan_tryrecv(g_sw.c0, &v0), EAGAIN);
	TASK_CHECK_FAILS(weft_chan_tryrecv(g_sw.c1, &v1), EAGAIN);
	return NULL;
}

START_TEST(select_waits_for_a_case)
{
	size_t cap = _i == 0 ? 0 : 4;

	task_checks_reset();
	memset(&g_sw, 0, sizeof(g_sw));
	g_sw.c0 = new_chan(sizeof(int), cap);
	g_sw.c1 = new_chan(sizeof(int), cap);
	g_sw.send_rc = 12345;
	g_sw.value = 99;
	g_sw.delay_ms = 30;
	run_task(sw_select_fn, NULL);
	assert_task_checks_passed();

	/* From main, which parks and runs the sender. */
	{
		struct weft_select_case k[2];
		int v0 = -1, v1 = -1;
		weft_task *t;

		g_sw.send_rc = 12345;
		g_sw.value = 98;
		g_sw.delay_ms = 10;
		t = weft_spawn(sw_sender_fn, NULL);
		ck_assert_ptr_nonnull(t);
		k[0] = sel_case(WEFT_SELECT_RECV, g_sw.c0, &v0);
		k[1] = sel_case(WEFT_SELECT_RECV, g_sw.c1, &v1);
		ck_assert_int_eq(guarded_select(k, 2), 1);
		ck_assert_int_eq(v1, 98);
		ck_assert_int_eq(weft_join(t, NULL), 0);
		ck_assert_int_eq(g_sw.send_rc, 0);
	}
	assert_task_checks_passed();
	weft_chan_destroy(g_sw.c0);
	weft_chan_destroy(g_sw.c1);
}
END_TEST

START_TEST(select_timeout)
{
	weft_chan *c = new_chan(sizeof(int), 1);
	struct weft_select_case k[2];
	int v = -1, p[2];
	int64_t t0, el, sf = slow_factor(), saved, dl;

	make_pipe(p);
	k[0] = sel_case(WEFT_SELECT_RECV, c, &v);
	k[1] = sel_fd(WEFT_SELECT_READ, p[0]);

	t0 = weft_now();
	assert_fails(weft_select(k, 2, 100), ETIMEDOUT);
	el = weft_now() - t0;
	ck_assert_msg(el >= 100 * MS_NS, "select(100) returned after %lld ns",
	    (long long)el);
	ck_assert_int_lt(el, 5000 * MS_NS * sf);

	/* 0: just look. */
	t0 = weft_now();
	assert_fails(weft_select(k, 2, 0), ETIMEDOUT);
	ck_assert_int_lt(weft_now() - t0, 1000 * MS_NS * sf);
	v = 3;
	ck_assert_int_eq(weft_chan_trysend(c, &v), 0);
	v = -1;
	ck_assert_int_eq(weft_select(k, 2, 0), 0);
	ck_assert_int_eq(v, 3);

	/* The caller's deadline ends the wait before a long timeout. */
	dl = weft_now() + 50 * MS_NS;
	saved = weft_deadline_push(dl);
	t0 = weft_now();
	assert_fails(weft_select(k, 2, 20000), ETIMEDOUT);
	ck_assert_int_ge(weft_now(), dl);
	ck_assert_int_lt(weft_now() - t0, 5000 * MS_NS * sf);
	ck_assert_int_eq(weft_deadline_pop(saved), 0);

	/* Nothing was received by the failed selects. */
	ck_assert_int_eq(weft_chan_trysend(c, &v), 0);
	ck_assert_int_eq(weft_close(p[0]), 0);
	ck_assert_int_eq(weft_close(p[1]), 0);
	weft_chan_destroy(c);
}
END_TEST

/* Send cases that have to wait: a full buffer, an unbuffered channel. */
static struct {
	weft_chan *ch;
	int got[2], ngot;
} g_ss;

static void *ss_receiver_fn(void *arg)
{
	int v = -1;

	(void)arg;
	TASK_CHECK(weft_sleep(20) == 0);
	TASK_CHECK(weft_chan_recv(g_ss.ch, &v) == 0);
	g_ss.got[g_ss.ngot++] = v;
	return NULL;
}

static void *ss_select_fn(void *arg)
{
	size_t cap = P2U(arg);
	struct weft_select_case k[2];
	weft_chan *never = weft_chan_create(sizeof(int), 0);
	int s = 5, v = 1, dummy = -1;
	weft_task *t;

	TASK_CHECK(never != NULL);
	if (cap > 0)
		TASK_CHECK(weft_chan_trysend(g_ss.ch, &v) == 0);    /* full */
	t = weft_spawn(ss_receiver_fn, NULL);
	TASK_CHECK(t != NULL);
	k[0] = sel_case(WEFT_SELECT_RECV, never, &dummy);
	k[1] = sel_case(WEFT_SELECT_SEND, g_ss.ch, &s);
	TASK_CHECK(guarded_select(k, 2) == 1);
	TASK_CHECK(k[1].err == 0);
	TASK_CHECK(guarded_join(t, NULL) == 0);
	if (cap > 0) {
		/* The receiver took the old value; ours went in after it. */
		TASK_CHECK(g_ss.ngot == 1 && g_ss.got[0] == 1);
		v = -1;
		TASK_CHECK(weft_chan_tryrecv(g_ss.ch, &v) == 0 && v == 5);
	} else {
		TASK_CHECK(g_ss.ngot == 1 && g_ss.got[0] == 5);
	}
	TASK_CHECK_FAILS(weft_chan_tryrecv(g_ss.ch, &v), EAGAIN);
	TASK_CHECK(dummy == -1);
	weft_chan_destroy(never);
	return NULL;
}

START_TEST(select_send_case)
{
	size_t cap = (size_t)_i;

	task_checks_reset();
	memset(&g_ss, 0, sizeof(g_ss));
	g_ss.ch = new_chan(sizeof(int), cap);
	run_task(ss_select_fn, U2P(cap));
	assert_task_checks_passed();
	weft_chan_destroy(g_ss.ch);
}
END_TEST

/* Closed channels fire at once with EPIPE; a close wakes a waiting select. */
static weft_chan *g_close_later;

static void *close_later_fn(void *arg)
{
	(void)arg;
	TASK_CHECK(weft_sleep(20) == 0);
	TASK_CHECK(weft_chan_close(g_close_later) == 0);
	return NULL;
}

START_TEST(select_closed_channel)
{
	weft_chan *open = new_chan(sizeof(int), 0);
	weft_chan *closed = new_chan(sizeof(int), 2);
	struct weft_select_case k[2];
	int v = -1, s = 9;
	weft_task *t;

	task_checks_reset();
	ck_assert_int_eq(weft_chan_close(closed), 0);
	k[0] = sel_case(WEFT_SELECT_RECV, open, &v);
	k[1] = sel_case(WEFT_SELECT_RECV, closed, &v);
	ck_assert_int_eq(weft_select(k, 2, -1), 1);
	ck_assert_int_eq(k[1].err, EPIPE);
	ck_assert_int_eq(v, -1);
	k[1] = sel_case(WEFT_SELECT_SEND, closed, &s);
	ck_assert_int_eq(weft_select(k, 2, 0), 1);
	ck_assert_int_eq(k[1].err, EPIPE);
	assert_fails(weft_chan_recv(closed, &v), EPIPE);
	weft_chan_destroy(closed);

	/* Closed with buffered values: they come out first, err 0. */
	closed = new_chan(sizeof(int), 2);
	v = 31;
	ck_assert_int_eq(weft_chan_trysend(closed, &v), 0);
	ck_assert_int_eq(weft_chan_close(closed), 0);
	v = -1;
	k[1] = sel_case(WEFT_SELECT_RECV, closed, &v);
	ck_assert_int_eq(weft_select(k, 2, 0), 1);
	ck_assert_int_eq(k[1].err, 0);
	ck_assert_int_eq(v, 31);
	v = -1;
	k[1].err = -7;
	ck_assert_int_eq(weft_select(k, 2, 0), 1);
	ck_assert_int_eq(k[1].err, EPIPE);
	ck_assert_int_eq(v, -1);
	weft_chan_destroy(closed);

	/* Closed while the select waits, for a recv case and a send case. */
	g_close_later = new_chan(sizeof(int), 0);
	t = weft_spawn(close_later_fn, NULL);
	ck_assert_ptr_nonnull(t);
	k[1] = sel_case(WEFT_SELECT_RECV, g_close_later, &v);
	ck_assert_int_eq(guarded_select(k, 2), 1);
	ck_assert_int_eq(k[1].err, EPIPE);
	ck_assert_int_eq(v, -1);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	weft_chan_destroy(g_close_later);

	g_close_later = new_chan(sizeof(int), 0);
	t = weft_spawn(close_later_fn, NULL);
	ck_assert_ptr_nonnull(t);
	k[1] = sel_case(WEFT_SELECT_SEND, g_close_later, &s);
	ck_assert_int_eq(guarded_select(k, 2), 1);
	ck_assert_int_eq(k[1].err, EPIPE);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	weft_chan_destroy(g_close_later);

	assert_task_checks_passed();
	/* The open channel was never used. */
	assert_fails(weft_chan_tryrecv(open, &v), EAGAIN);
	weft_chan_destroy(open);
}
END_TEST

/* fd cases: readable later, writable at once, hang-up. */
static int g_fd_write;

static void *write_later_fn(void *arg)
{
	(void)arg;
	TASK_CHECK(weft_sleep(30) == 0);
	TASK_CHECK(write(g_fd_write, "x", 1) == 1);
	return NULL;
}

START_TEST(select_fd)
{
	weft_chan *c = new_chan(sizeof(int), 0);
	struct weft_select_case k[2];
	int p[2], v = -1;
	char buf[4];
	weft_task *t;

	task_checks_reset();
	make_pipe(p);
	g_fd_write = p[1];
	k[0] = sel_case(WEFT_SELECT_RECV, c, &v);
	k[1] = sel_fd(WEFT_SELECT_READ, p[0]);
	assert_fails(weft_select(k, 2, 0), ETIMEDOUT);
	t = weft_spawn(write_later_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(guarded_select(k, 2), 1);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	/* Still readable: nothing was read, and 0 just looks. */
	ck_assert_int_eq(weft_select(k, 2, 0), 1);
	ck_assert_int_eq(read(p[0], buf, sizeof(buf)), 1);
	ck_assert_int_eq(buf[0], 'x');
	assert_fails(weft_select(k, 2, 0), ETIMEDOUT);

	/* Writable at once. */
	k[1] = sel_fd(WEFT_SELECT_WRITE, p[1]);
	ck_assert_int_eq(weft_select(k, 2, -1), 1);

	/* Hang-up counts as readable. */
	ck_assert_int_eq(weft_close(p[1]), 0);
	k[1] = sel_fd(WEFT_SELECT_READ, p[0]);
	ck_assert_int_eq(guarded_select(k, 2), 1);
	ck_assert_int_eq(read(p[0], buf, sizeof(buf)), 0);
	ck_assert_int_eq(weft_close(p[0]), 0);
	assert_task_checks_passed();
	weft_chan_destroy(c);
}
END_TEST

/*
 * An fd number reused after a plain close(2) works normally (weft_spec3):
 * a select that waited on the old fd must not leave a stale registration
 * that keeps a select on the new one from ever waking.
 */
START_TEST(select_fd_reused_after_plain_close)
{
	struct weft_select_case k;
	int p[2], q[2], rc, err;
	int64_t saved;
	char buf[4];
	weft_task *t;

	task_checks_reset();
	make_pipe(p);
	k = sel_fd(WEFT_SELECT_READ, p[0]);
	/* Waits (times out): the fd was watched. */
	assert_fails(weft_select(&k, 1, 20), ETIMEDOUT);
	ck_assert_int_eq(close(p[0]), 0);
	ck_assert_int_eq(close(p[1]), 0);
	make_pipe(q);
	/* Same numbers again (lowest free), or the test shows nothing. */
	ck_assert_int_eq(q[0], p[0]);
	g_fd_write = q[1];
	t = weft_spawn(write_later_fn, NULL);
	ck_assert_ptr_nonnull(t);
	k = sel_fd(WEFT_SELECT_READ, q[0]);
	saved = weft_deadline_push(weft_now() + 5000 * MS_NS * slow_factor());
	errno = 0;
	rc = weft_select(&k, 1, -1);
	err = errno;
	ck_assert_int_eq(weft_deadline_pop(saved), 0);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	ck_assert_int_eq(read(q[0], buf, sizeof(buf)), 1);
	ck_assert_int_eq(weft_close(q[0]), 0);
	ck_assert_int_eq(weft_close(q[1]), 0);
	assert_task_checks_passed();
	ck_assert_msg(rc == 0, "select READ on a reused fd (written 30 ms later): "
	    "%d errno %d (%s)", rc, err, strerror(err));
}
END_TEST

/* JOIN cases. */
static void *sleep_value_fn(void *arg)
{
	TASK_CHECK(weft_sleep(30) == 0);
	return arg;
}

static void *value_fn(void *arg)
{
	return arg;
}

/* Returns arg once something arrives on g_gate. */
static weft_chan *g_gate;

static void *gate_fn(void *arg)
{
	int v;

	{
		int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);

		TASK_CHECK(weft_chan_recv(g_gate, &v) == 0);
		weft_deadline_pop(saved);
	}
	return arg;
}

static struct {
	weft_task *target;
	int join_rc;
	void *r;
} g_jn;

static void *joiner_fn(void *arg)
{
	(void)arg;
	g_jn.join_rc = guarded_join(g_jn.target, &g_jn.r);
	return NULL;
}

START_TEST(select_join)
{
	weft_chan *c = new_chan(sizeof(int), 1);
	struct weft_select_case k[2];
	uint64_t live0 = live_tasks();
	weft_task *t, *j;
	int v = -1;
	void *r = NULL;

	task_checks_reset();
	/* Fires when the task finishes; select joins it. */
	t = weft_spawn(sleep_value_fn, U2P(42));
	ck_assert_ptr_nonnull(t);
	k[0] = sel_case(WEFT_SELECT_RECV, c, &v);
	k[1] = sel_join(t);
	k[1].result = U2P(0xdead);
	ck_assert_uint_eq(live_tasks(), live0 + 1);
	ck_assert_int_eq(guarded_select(k, 2), 1);
	ck_assert_uint_eq(P2U(k[1].result), 42);
	/* The handle was consumed. */
	ck_assert_uint_eq(live_tasks(), live0);

	/* Already finished (but not joined): fires at once. */
	t = weft_spawn(value_fn, U2P(43));
	ck_assert_ptr_nonnull(t);
	j = weft_spawn(value_fn, U2P(0));
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(weft_join(j, NULL), 0);       /* t has finished too */
	k[1] = sel_join(t);
	ck_assert_int_eq(weft_select(k, 2, 0), 1);
	ck_assert_uint_eq(P2U(k[1].result), 43);
	ck_assert_uint_eq(live_tasks(), live0);

	/* Another case fires: the task is not joined and stays joinable. */
	g_gate = new_chan(sizeof(int), 4);
	t = weft_spawn(gate_fn, U2P(44));
	ck_assert_ptr_nonnull(t);
	v = 7;
	ck_assert_int_eq(weft_chan_trysend(c, &v), 0);
	v = -1;
	k[1] = sel_join(t);
	ck_assert_int_eq(weft_select(k, 2, -1), 0);
	ck_assert_int_eq(v, 7);
	/* Array order with a finished task: the ready channel first wins. */
	j = weft_spawn(value_fn, U2P(47));
	ck_assert_ptr_nonnull(j);
	main_park_ms(5);
	ck_assert_int_eq(weft_chan_trysend(c, &v), 0);
	k[1] = sel_join(j);
	ck_assert_int_eq(weft_select(k, 2, 0), 0);
	k[0] = sel_join(j);
	k[1] = sel_case(WEFT_SELECT_RECV, c, &v);
	ck_assert_int_eq(weft_chan_trysend(c, &v), 0);
	ck_assert_int_eq(weft_select(k, 2, 0), 0);
	ck_assert_uint_eq(P2U(k[0].result), 47);
	ck_assert_int_eq(weft_chan_tryrecv(c, &v), 0);
	k[0] = sel_case(WEFT_SELECT_RECV, c, &v);
	k[1] = sel_join(t);
	/* A timed-out select leaves it joinable too. */
	assert_fails(weft_select(&k[1], 1, 0), ETIMEDOUT);
	ck_assert_uint_eq(live_tasks(), live0 + 1);
	ck_assert_int_eq(weft_chan_trysend(g_gate, &v), 0);
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), 44);

	/* Being joined by another task: EINVAL. */
	g_jn.target = weft_spawn(gate_fn, U2P(45));
	ck_assert_ptr_nonnull(g_jn.target);
	j = weft_spawn(joiner_fn, NULL);
	ck_assert_ptr_nonnull(j);
	/* Let the joiner start joining. */
	main_park_ms(5);
	k[1] = sel_join(g_jn.target);
	assert_fails(weft_select(k, 2, 0), EINVAL);
	ck_assert_int_eq(weft_chan_trysend(g_gate, &v), 0);
	ck_assert_int_eq(weft_join(j, NULL), 0);
	ck_assert_int_eq(g_jn.join_rc, 0);
	ck_assert_uint_eq(P2U(g_jn.r), 45);

	/* Detached, NULL: EINVAL. */
	t = weft_spawn(sleep_value_fn, U2P(46));
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_detach(t), 0);
	k[1] = sel_join(t);
	assert_fails(weft_select(k, 2, 0), EINVAL);
	k[1] = sel_join(NULL);
	assert_fails(weft_select(k, 2, 0), EINVAL);
	ck_assert_int_eq(weft_run(), 0);
	ck_assert_uint_eq(live_tasks(), live0);
	assert_task_checks_passed();
	weft_chan_destroy(g_gate);
	weft_chan_destroy(c);
}
END_TEST

/* A task of another thread: EINVAL. */
static struct {
	weft_task *task;
	pthread_barrier_t b1, b2;
} g_ft;

static void *foreign_thread(void *arg)
{
	(void)arg;
	g_ft.task = weft_spawn(value_fn, U2P(3));
	pthread_barrier_wait(&g_ft.b1);
	pthread_barrier_wait(&g_ft.b2);
	XCHECK(g_ft.task != NULL && weft_join(g_ft.task, NULL) == 0);
	return NULL;
}

START_TEST(select_join_foreign_task)
{
	struct weft_select_case k;
	pthread_t th;
	int rc, err;

	atomic_store(&g_xfail_line, 0);
	ck_assert_int_eq(pthread_barrier_init(&g_ft.b1, NULL, 2), 0);
	ck_assert_int_eq(pthread_barrier_init(&g_ft.b2, NULL, 2), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, foreign_thread, NULL), 0);
	pthread_barrier_wait(&g_ft.b1);
	k = sel_join(g_ft.task);
	errno = 0;
	rc = weft_select(&k, 1, 0);
	err = errno;
	pthread_barrier_wait(&g_ft.b2);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_msg(rc == -1 && err == EINVAL,
	    "select JOIN of another thread's task: %d errno %d (%s)", rc, err,
	    strerror(err));
	assert_xchecks_passed();
	pthread_barrier_destroy(&g_ft.b1);
	pthread_barrier_destroy(&g_ft.b2);
}
END_TEST

/*
 * Exactly one case fires even when two become ready together: while the
 * select waits on two unbuffered channels, another task does trysend on
 * both without yielding: exactly one trysend finds the select.
 */
enum { ONE_ROUNDS = 1000 };

static struct {
	weft_chan *c0, *c1;
	int try_ok, fired, parked;
	int rc0, rc1;
} g_one;

static void *one_sender_fn(void *arg)
{
	int v0 = 100, v1 = 101;

	(void)arg;
	yield_n(2);
	TASK_CHECK(g_one.parked);
	g_one.rc0 = weft_chan_trysend(g_one.c0, &v0);
	g_one.rc1 = weft_chan_trysend(g_one.c1, &v1);
	g_one.try_ok += (g_one.rc0 == 0) + (g_one.rc1 == 0);
	return NULL;
}

static void *one_select_fn(void *arg)
{
	int round, v0, v1, n, v, bufd = (int)P2U(arg);

	for (round = 0; round < ONE_ROUNDS; round++) {
		struct weft_select_case k[2];
		weft_task *t = weft_spawn(one_sender_fn, NULL);

		TASK_CHECK(t != NULL);
		v0 = v1 = -1;
		k[0] = sel_case(WEFT_SELECT_RECV, g_one.c0, &v0);
		k[1] = sel_case(WEFT_SELECT_RECV, g_one.c1, &v1);
		g_one.parked = 1;
		n = guarded_select(k, 2);
		g_one.parked = 0;
		TASK_CHECK(n == 0 || n == 1);
		TASK_CHECK(guarded_join(t, NULL) == 0);
		if (n == 0)
			TASK_CHECK(v0 == 100 && v1 == -1);
		if (n == 1)
			TASK_CHECK(v1 == 101 && v0 == -1);
		g_one.fired++;
		if (bufd) {
			/* Both trysends went in; the other value is still there. */
			TASK_CHECK(g_one.rc0 == 0 && g_one.rc1 == 0);
			v = -1;
			TASK_CHECK(weft_chan_tryrecv(n == 0 ? g_one.c1 : g_one.c0, &v) == 0);
			TASK_CHECK(v == (n == 0 ? 101 : 100));
			g_one.try_ok--;
		} else {
			/* The first trysend found the select; the second nobody. */
			TASK_CHECK(n == 0 && g_one.rc0 == 0 && g_one.rc1 == -1);
		}
		TASK_CHECK_FAILS(weft_chan_tryrecv(g_one.c0, &v), EAGAIN);
		TASK_CHECK_FAILS(weft_chan_tryrecv(g_one.c1, &v), EAGAIN);
	}
	return NULL;
}

START_TEST(select_exactly_one_fires)
{
	int bufd = _i;

	task_checks_reset();
	memset(&g_one, 0, sizeof(g_one));
	g_one.c0 = new_chan(sizeof(int), bufd ? 1 : 0);
	g_one.c1 = new_chan(sizeof(int), bufd ? 1 : 0);
	run_task(one_select_fn, U2P(bufd));
	assert_task_checks_passed();
	ck_assert_int_eq(g_one.fired, ONE_ROUNDS);
	ck_assert_int_eq(g_one.try_ok, ONE_ROUNDS);
	weft_chan_destroy(g_one.c0);
	weft_chan_destroy(g_one.c1);
}
END_TEST

/* Two waiting receivers on two channels, one select sending to both. */
static struct {
	weft_chan *c0, *c1;
	int got[2], rc[2];
} g_sr2;

static void *sr2_receiver_fn(void *arg)
{
	int i = (int)P2U(arg), v = -1;
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);

	g_sr2.rc[i] = weft_chan_recv(i ? g_sr2.c1 : g_sr2.c0, &v);
	g_sr2.got[i] = v;
	weft_deadline_pop(saved);
	return NULL;
}

static void *sr2_fn(void *arg)
{
	struct weft_select_case k[2];
	weft_task *r0, *r1;
	int s0 = 500, s1 = 501, v = 600;

	(void)arg;
	r0 = weft_spawn(sr2_receiver_fn, U2P(0));
	r1 = weft_spawn(sr2_receiver_fn, U2P(1));
	TASK_CHECK(r0 != NULL && r1 != NULL);
	yield_n(2);
	k[0] = sel_case(WEFT_SELECT_SEND, g_sr2.c0, &s0);
	k[1] = sel_case(WEFT_SELECT_SEND, g_sr2.c1, &s1);
	TASK_CHECK(weft_select(k, 2, 0) == 0);
	TASK_CHECK(guarded_join(r0, NULL) == 0);
	TASK_CHECK(g_sr2.rc[0] == 0 && g_sr2.got[0] == 500);
	/* r1 still waits and got nothing from the select. */
	yield_n(2);
	TASK_CHECK(g_sr2.rc[1] == 12345);
	TASK_CHECK(weft_chan_trysend(g_sr2.c1, &v) == 0);
	TASK_CHECK(guarded_join(r1, NULL) == 0);
	TASK_CHECK(g_sr2.rc[1] == 0 && g_sr2.got[1] == 600);
	return NULL;
}

START_TEST(select_send_to_one_receiver_only)
{
	task_checks_reset();
	memset(&g_sr2, 0, sizeof(g_sr2));
	g_sr2.rc[0] = g_sr2.rc[1] = 12345;
	g_sr2.c0 = new_chan(sizeof(int), 0);
	g_sr2.c1 = new_chan(sizeof(int), 0);
	run_task(sr2_fn, NULL);
	assert_task_checks_passed();
	weft_chan_destroy(g_sr2.c0);
	weft_chan_destroy(g_sr2.c1);
}
END_TEST

/*
 * Across threads: tasks of thread A send on two unbuffered channels while
 * a task of thread B selects on both; every value arrives exactly once.
 */
static struct {
	weft_chan *c[2];
	long per;                 /* values per channel */
	unsigned char *seen;
	long received, dup, bad, a_fail, b_fail;
	long leftover;
} g_xsel;

static void *xsel_send_fn(void *arg)
{
	int ch = (int)P2U(arg);
	int64_t saved = weft_deadline_push(weft_now() + 4 * GUARD_NS);
	long i;

	for (i = 0; i < g_xsel.per; i++) {
		uint32_t v = (uint32_t)(ch * g_xsel.per + i);

		if (weft_chan_send(g_xsel.c[ch], &v) != 0) {
			g_xsel.a_fail++;
			break;
		}
	}
	weft_deadline_pop(saved);
	return NULL;
}

static void *xsel_recv_fn(void *arg)
{
	int64_t saved = weft_deadline_push(weft_now() + 4 * GUARD_NS);
	long total = 2 * g_xsel.per;
	uint32_t v0, v1, v;

	(void)arg;
	while (g_xsel.received < total) {
		struct weft_select_case k[2];
		int n;

		k[0] = sel_case(WEFT_SELECT_RECV, g_xsel.c[0], &v0);
		k[1] = sel_case(WEFT_SELECT_RECV, g_xsel.c[1], &v1);
		n = weft_select(k, 2, -1);
		if (n != 0 && n != 1) {
			g_xsel.b_fail++;
			break;
		}
		v = n == 0 ? v0 : v1;
		if (v >= (uint32_t)total || (long)(v / (uint32_t)g_xsel.per) != n)
			g_xsel.bad++;
		else if (g_xsel.seen[v]++)
			g_xsel.dup++;
		g_xsel.received++;
	}
	weft_deadline_pop(saved);
	return NULL;
}

static void *xsel_thread(void *arg)
{
	weft_task *t[2];
	int i;

	if (arg == NULL) {
		for (i = 0; i < 2; i++)
			XCHECK((t[i] = weft_spawn(xsel_send_fn, U2P(i))) != NULL);
		for (i = 0; i < 2; i++)
			XCHECK(t[i] == NULL || weft_join(t[i], NULL) == 0);
	} else {
		t[0] = weft_spawn(xsel_recv_fn, NULL);
		XCHECK(t[0] != NULL && weft_join(t[0], NULL) == 0);
	}
	return NULL;
}

START_TEST(select_across_threads)
{
	pthread_t a, b;
	uint32_t v;
	long i;

	atomic_store(&g_xfail_line, 0);
	memset(&g_xsel, 0, sizeof(g_xsel));
	g_xsel.per = under_valgrind() ? 2000 : 50000;
	g_xsel.seen = calloc((size_t)(2 * g_xsel.per), 1);
	ck_assert_ptr_nonnull(g_xsel.seen);
	g_xsel.c[0] = new_chan(sizeof(uint32_t), 0);
	g_xsel.c[1] = new_chan(sizeof(uint32_t), 0);
	ck_assert_int_eq(pthread_create(&a, NULL, xsel_thread, NULL), 0);
	ck_assert_int_eq(pthread_create(&b, NULL, xsel_thread, U2P(1)), 0);
	ck_assert_int_eq(pthread_join(a, NULL), 0);
	ck_assert_int_eq(pthread_join(b, NULL), 0);
	assert_xchecks_passed();
	ck_assert_int_eq(g_xsel.a_fail, 0);
	ck_assert_int_eq(g_xsel.b_fail, 0);
	ck_assert_int_eq(g_xsel.bad, 0);
	ck_assert_int_eq(g_xsel.dup, 0);
	ck_assert_int_eq(g_xsel.received, 2 * g_xsel.per);
	for (i = 0; i < 2 * g_xsel.per; i++)
		ck_assert_int_eq(g_xsel.seen[i], 1);
	assert_fails(weft_chan_tryrecv(g_xsel.c[0], &v), EAGAIN);
	assert_fails(weft_chan_tryrecv(g_xsel.c[1], &v), EAGAIN);
	free(g_xsel.seen);
	weft_chan_destroy(g_xsel.c[0]);
	weft_chan_destroy(g_xsel.c[1]);
}
END_TEST

/*
 * One select sending and receiving on the same unbuffered channel does not
 * meet itself; on a buffered one the array order decides.
 */
static weft_chan *g_both;

static void *both_receiver_fn(void *arg)
{
	int v = -1;

	(void)arg;
	TASK_CHECK(weft_sleep(20) == 0);
	TASK_CHECK(weft_chan_recv(g_both, &v) == 0);
	return U2P(v);
}

START_TEST(select_same_channel_both_ways)
{
	struct weft_select_case k[2];
	int s = 71, r = -1, v;
	weft_task *t;
	void *got = NULL;

	task_checks_reset();
	g_both = new_chan(sizeof(int), 0);
	k[0] = sel_case(WEFT_SELECT_SEND, g_both, &s);
	k[1] = sel_case(WEFT_SELECT_RECV, g_both, &r);
	assert_fails(weft_select(k, 2, 0), ETIMEDOUT);
	assert_fails(weft_select(k, 2, 30), ETIMEDOUT);
	ck_assert_int_eq(r, -1);
	/* Another task receives: the send case fires. */
	t = weft_spawn(both_receiver_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(guarded_select(k, 2), 0);
	ck_assert_int_eq(r, -1);
	ck_assert_int_eq(weft_join(t, &got), 0);
	ck_assert_uint_eq(P2U(got), 71);
	weft_chan_destroy(g_both);

	/* Buffered, empty: only the send can go. */
	g_both = new_chan(sizeof(int), 1);
	k[0] = sel_case(WEFT_SELECT_RECV, g_both, &r);
	k[1] = sel_case(WEFT_SELECT_SEND, g_both, &s);
	ck_assert_int_eq(weft_select(k, 2, 0), 1);
	/* Full: only the receive. */
	ck_assert_int_eq(weft_select(k, 2, 0), 0);
	ck_assert_int_eq(r, 71);
	assert_fails(weft_chan_tryrecv(g_both, &v), EAGAIN);
	weft_chan_destroy(g_both);
	assert_task_checks_passed();
}
END_TEST

/*
 * A task of main's thread waits on a channel that only another thread will
 * feed: weft_join and weft_run from main wait for it (no deadlock error:
 * these waits have no deadlock detection).
 */
static struct {
	weft_chan *ch;
	int rc, v;
} g_nd;

static void *nd_recv_fn(void *arg)
{
	(void)arg;
	g_nd.rc = weft_chan_recv(g_nd.ch, &g_nd.v);
	return NULL;
}

static void *nd_feeder_thread(void *arg)
{
	int v = (int)P2U(arg);

	usleep(100000);
	XCHECK(weft_chan_send(g_nd.ch, &v) == 0);
	return NULL;
}

START_TEST(main_waits_for_other_thread)
{
	pthread_t th;
	weft_task *t;
	int64_t saved;

	atomic_store(&g_xfail_line, 0);
	memset(&g_nd, 0, sizeof(g_nd));
	g_nd.ch = new_chan(sizeof(int), 0);
	g_nd.rc = 12345;
	saved = weft_deadline_push(weft_now() + GUARD_NS);
	t = weft_spawn(nd_recv_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(pthread_create(&th, NULL, nd_feeder_thread, U2P(5)), 0);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(g_nd.rc, 0);
	ck_assert_int_eq(g_nd.v, 5);

	g_nd.rc = 12345;
	t = weft_spawn(nd_recv_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_detach(t), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, nd_feeder_thread, U2P(6)), 0);
	ck_assert_int_eq(weft_run(), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(g_nd.rc, 0);
	ck_assert_int_eq(g_nd.v, 6);
	ck_assert_int_eq(weft_deadline_pop(saved), 0);
	assert_xchecks_passed();
	weft_chan_destroy(g_nd.ch);
}
END_TEST

/* Many cases (more than any small fixed array inside): only one fires. */
enum { MANY_CASES = 100 };

static struct {
	weft_chan *ch[MANY_CASES];
	int target;
} g_many;

static void *many_sender_fn(void *arg)
{
	int v = 1000 + g_many.target;

	(void)arg;
	TASK_CHECK(weft_sleep(10) == 0);
	TASK_CHECK(weft_chan_send(g_many.ch[g_many.target], &v) == 0);
	return NULL;
}

START_TEST(select_many_cases)
{
	static struct weft_select_case k[MANY_CASES];
	static int vals[MANY_CASES];
	weft_task *t;
	int i, v;

	task_checks_reset();
	for (i = 0; i < MANY_CASES; i++) {
		g_many.ch[i] = new_chan(sizeof(int), i % 2);
		vals[i] = -1;
		k[i] = sel_case(WEFT_SELECT_RECV, g_many.ch[i], &vals[i]);
	}
	assert_fails(weft_select(k, MANY_CASES, 0), ETIMEDOUT);
	/* The last one ready at once. */
	v = 7;
	ck_assert_int_eq(weft_chan_trysend(g_many.ch[MANY_CASES - 1], &v), 0);
	ck_assert_int_eq(weft_select(k, MANY_CASES, 0), MANY_CASES - 1);
	ck_assert_int_eq(vals[MANY_CASES - 1], 7);
	/* One in the middle becomes ready while the select waits. */
	g_many.target = 58;
	t = weft_spawn(many_sender_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(guarded_select(k, MANY_CASES), 58);
	ck_assert_int_eq(vals[58], 1058);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	for (i = 0; i < MANY_CASES; i++) {
		if (i != 58 && i != MANY_CASES - 1)
			ck_assert_int_eq(vals[i], -1);
		assert_fails(weft_chan_tryrecv(g_many.ch[i], &v), EAGAIN);
		weft_chan_destroy(g_many.ch[i]);
	}
	assert_task_checks_passed();
}
END_TEST

START_TEST(select_errors)
{
	weft_chan *c = new_chan(sizeof(int), 1);
	struct weft_select_case k[2];
	int v = 1;

	ck_assert_int_eq(weft_chan_trysend(c, &v), 0);
	k[0] = sel_case(WEFT_SELECT_RECV, c, &v);
	assert_fails(weft_select(NULL, 1, 0), EINVAL);
	assert_fails(weft_select(NULL, 0, 0), EINVAL);
	assert_fails(weft_select(k, 0, 0), EINVAL);
	assert_fails(weft_select(k, 0, -1), EINVAL);
	/* An unknown op anywhere, even after a ready case. */
	k[1] = sel_case(0, c, &v);
	assert_fails(weft_select(k, 2, 0), EINVAL);
	k[1] = sel_case(99, c, &v);
	assert_fails(weft_select(k, 2, 0), EINVAL);
	k[1] = sel_case(-1, c, &v);
	assert_fails(weft_select(k, 2, 0), EINVAL);
	/* A channel case without its channel. */
	k[1] = sel_case(WEFT_SELECT_RECV, NULL, &v);
	assert_fails(weft_select(k, 2, 0), EINVAL);
	k[1] = sel_case(WEFT_SELECT_SEND, NULL, &v);
	assert_fails(weft_select(k, 2, 0), EINVAL);
	/* Nothing was received by the refused selects. */
	v = -1;
	ck_assert_int_eq(weft_chan_tryrecv(c, &v), 0);
	ck_assert_int_eq(v, 1);
	weft_chan_destroy(c);
}
END_TEST

/* select under the caller's deadline and cancellation. */
enum { SM_DEADLINE, SM_PAST, SM_CANCEL, SM_CANCELLED, SMODES };

static struct {
	int mode, send;
	weft_chan *ch;
	int parked, finished, rc, err, value;
	int64_t start, deadline, end;
} g_sd;

static void *sd_waiter_fn(void *arg)
{
	struct weft_select_case k[2];
	int v, p[2] = { -1, -1 };
	int64_t saved;

	(void)arg;
	TASK_CHECK(pipe2(p, O_CLOEXEC) == 0);
	if (g_sd.mode == SM_CANCELLED)
		TASK_CHECK(weft_cancel(weft_self()) == 0);
	if (g_sd.mode == SM_DEADLINE)
		g_sd.deadline = weft_now() + 100 * MS_NS;
	else if (g_sd.mode == SM_PAST)
		g_sd.deadline = weft_now() - MS_NS;
	else
		g_sd.deadline = weft_now() + GUARD_NS;
	saved = weft_deadline_push(g_sd.deadline);
	v = g_sd.send ? 321 : -1;
	k[0] = sel_case(g_sd.send ? WEFT_SELECT_SEND : WEFT_SELECT_RECV, g_sd.ch, &v);
	k[1] = sel_fd(WEFT_SELECT_READ, p[0]);
	g_sd.parked = 1;
	g_sd.start = weft_now();
	errno = 0;
	g_sd.rc = weft_select(k, 2, -1);
	g_sd.err = errno;
	g_sd.end = weft_now();
	g_sd.value = v;
	g_sd.finished = 1;
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	TASK_CHECK(weft_close(p[0]) == 0);
	TASK_CHECK(weft_close(p[1]) == 0);
	return NULL;
}

static void *sd_control_fn(void *arg)
{
	weft_task *w;
	int v = 5;

	(void)arg;
	w = weft_spawn(sd_waiter_fn, NULL);
	TASK_CHECK(w != NULL);
	if (w == NULL)
		return NULL;
	if (g_sd.mode == SM_CANCEL) {
		yield_n(2);
		TASK_CHECK(g_sd.parked && !g_sd.finished);
		TASK_CHECK(weft_cancel(w) == 0);
	}
	TASK_CHECK(guarded_join(w, NULL) == 0);
	/* The select left nothing behind on the channel. */
	if (g_sd.send)
		TASK_CHECK_FAILS(weft_chan_tryrecv(g_sd.ch, &v), EAGAIN);
	else
		TASK_CHECK_FAILS(weft_chan_trysend(g_sd.ch, &v), EAGAIN);
	return NULL;
}

START_TEST(select_deadline_and_cancel)
{
	int mode = _i % SMODES, send = _i / SMODES;
	int want = (mode == SM_DEADLINE || mode == SM_PAST) ? ETIMEDOUT : ECANCELED;
	int64_t sf = slow_factor();

	task_checks_reset();
	memset(&g_sd, 0, sizeof(g_sd));
	g_sd.mode = mode;
	g_sd.send = send;
	g_sd.rc = 12345;
	g_sd.ch = new_chan(sizeof(int), 0);
	run_task(sd_control_fn, NULL);
	assert_task_checks_passed();
	ck_assert_msg(g_sd.rc == -1 && g_sd.err == want,
	    "select (%s case), mode %d: %d errno %d (%s), expected %s",
	    send ? "send" : "recv", mode, g_sd.rc, g_sd.err, strerror(g_sd.err),
	    strerror(want));
	if (!send)
		ck_assert_int_eq(g_sd.value, -1);
	if (mode == SM_DEADLINE) {
		ck_assert_int_ge(g_sd.end, g_sd.deadline);
		ck_assert_int_lt(g_sd.end - g_sd.start, 5000 * MS_NS * sf);
	} else {
		ck_assert_int_lt(g_sd.end - g_sd.start, 2000 * MS_NS * sf);
	}
	weft_chan_destroy(g_sd.ch);
}
END_TEST

/* A ready case fires past the deadline and when cancelled. */
static void *sel_no_wait_fn(void *arg)
{
	weft_chan *c = arg;
	struct weft_select_case k;
	int v = 4, round;
	int64_t saved = weft_deadline_push(weft_now() - MS_NS);

	for (round = 0; round < 2; round++) {
		TASK_CHECK(weft_chan_trysend(c, &v) == 0);
		k = sel_case(WEFT_SELECT_RECV, c, &v);
		v = -1;
		TASK_CHECK(weft_select(&k, 1, -1) == 0 && v == 4);
		TASK_CHECK_FAILS(weft_select(&k, 1, -1),
		    round == 0 ? ETIMEDOUT : ECANCELED);
		TASK_CHECK(weft_cancel(weft_self()) == 0);
	}
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	return U2P(1);
}

START_TEST(select_no_wait_needed)
{
	weft_chan *c = new_chan(sizeof(int), 1);

	task_checks_reset();
	ck_assert_uint_eq(P2U(run_task(sel_no_wait_fn, c)), 1);
	assert_task_checks_passed();
	weft_chan_destroy(c);
}
END_TEST

/* A descriptor case on a number that is not open fires at once with
 * EBADF, as poll(2) reports POLLNVAL; from main and from a task. */
static void *select_not_open_fn(void *arg)
{
	struct weft_select_case k = sel_fd(WEFT_SELECT_READ, *(int *)arg);
	int r = weft_select(&k, 1, 1000);

	return U2P(r == 0 && k.err == EBADF);
}

START_TEST(select_fd_not_open_is_ebadf)
{
	int fd = unused_fd();
	struct weft_select_case k;

	ck_assert_int_ge(fd, 0);
	k = sel_fd(WEFT_SELECT_WRITE, fd);
	ck_assert_int_eq(weft_select(&k, 1, 1000), 0);
	ck_assert_int_eq(k.err, EBADF);
	ck_assert_uint_eq(P2U(run_task(select_not_open_fn, &fd)), 1);
}
END_TEST

/* ---- length and capacity ---------------------------------------------------------- */

START_TEST(chan_len_and_cap)
{
	weft_chan *ch = weft_chan_create(sizeof(int), 3);
	weft_chan *unbuf = weft_chan_create(sizeof(int), 0);
	int i, v;

	ck_assert_ptr_nonnull(ch);
	ck_assert_ptr_nonnull(unbuf);
	ck_assert_uint_eq(weft_chan_cap(ch), 3);
	ck_assert_uint_eq(weft_chan_len(ch), 0);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(weft_chan_trysend(ch, &i), 0);
		ck_assert_uint_eq(weft_chan_len(ch), (size_t)i + 1);
	}
	assert_fails(weft_chan_trysend(ch, &i), EAGAIN);
	ck_assert_uint_eq(weft_chan_len(ch), 3);
	/* Closed, it keeps what it holds until received. */
	ck_assert_int_eq(weft_chan_close(ch), 0);
	ck_assert_uint_eq(weft_chan_len(ch), 3);
	ck_assert_int_eq(weft_chan_tryrecv(ch, &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_uint_eq(weft_chan_len(ch), 2);
	ck_assert_uint_eq(weft_chan_cap(ch), 3);
	ck_assert_uint_eq(weft_chan_cap(unbuf), 0);
	ck_assert_uint_eq(weft_chan_len(unbuf), 0);
	errno = 0;
	ck_assert_uint_eq(weft_chan_len(NULL), 0);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_uint_eq(weft_chan_cap(NULL), 0);
	ck_assert_int_eq(errno, EINVAL);
	weft_chan_destroy(ch);
	weft_chan_destroy(unbuf);
}
END_TEST

static Suite *chan_suite(void)
{
	Suite *s = suite_create("chan");
	TCase *tc;

	tc = tcase_create("chan");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, chan_order, 0, 2);
	tcase_add_loop_test(tc, chan_capacity, 0, 2);
	tcase_add_test(tc, chan_unbuffered_rendezvous);
	tcase_add_test(tc, chan_close_drains_then_epipe);
	tcase_add_loop_test(tc, chan_close_wakes_waiters, 0, 4);
	tcase_add_loop_test(tc, chan_waiters_fifo, 0, 4);
	tcase_add_test(tc, chan_errors);
	tcase_add_test(tc, chan_len_and_cap);
	tcase_add_loop_test(tc, chan_many_producers_consumers, 0, 3);
	suite_add_tcase(s, tc);

	tc = tcase_create("chan_deadline_cancel");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, chan_deadline_and_cancel, 0, OPS * MODES);
	tcase_add_test(tc, chan_no_wait_needed);
	tcase_add_loop_test(tc, chan_handoff_then_cancel, 0, HC_KINDS);
	tcase_add_test(tc, chan_main_deadline);
	suite_add_tcase(s, tc);

	tc = tcase_create("chan_threads");
	tcase_set_timeout(tc, 240);
	tcase_add_loop_test(tc, chan_two_threads, 0, 2);
	tcase_add_loop_test(tc, chan_cross_thread_timeout_races, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("select");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, select_first_ready_in_array_order);
	tcase_add_test(tc, select_fd_not_open_is_ebadf);
	tcase_add_loop_test(tc, select_waits_for_a_case, 0, 2);
	tcase_add_test(tc, select_timeout);
	tcase_add_loop_test(tc, select_send_case, 0, 2);
	tcase_add_test(tc, select_closed_channel);
	tcase_add_test(tc, select_fd);
	tcase_add_test(tc, select_fd_reused_after_plain_close);
	tcase_add_test(tc, select_join);
	tcase_add_test(tc, select_join_foreign_task);
	tcase_add_loop_test(tc, select_exactly_one_fires, 0, 2);
	tcase_add_test(tc, select_send_to_one_receiver_only);
	tcase_add_test(tc, select_same_channel_both_ways);
	tcase_add_test(tc, select_many_cases);
	tcase_add_test(tc, select_errors);
	tcase_add_loop_test(tc, select_deadline_and_cancel, 0, 2 * SMODES);
	tcase_add_test(tc, select_no_wait_needed);
	suite_add_tcase(s, tc);

	tc = tcase_create("select_threads");
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, select_across_threads);
	tcase_add_test(tc, main_waits_for_other_thread);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(chan_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

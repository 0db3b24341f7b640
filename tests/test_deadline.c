/*
 * Deadlines and cancellation: weft_deadline_push/pop/weft_deadline nesting,
 * every kind of parking call bounded by a deadline (in a task and from
 * main), and weft_cancel of tasks parked in each kind of wait.
 *
 * "Promptly" is shown by ordering, not by timing: a cancelled read returns
 * although nothing was ever written, a cancelled join returns while its
 * target is still blocked, a cancelled weft_blocking returns while its
 * function is still held.  Waits that a bug could leave hanging run under a
 * long deadline (hang guard) so such a bug fails instead of hanging.
 *
 * Each test creates the runtime it uses (Check's fork mode); with
 * CK_FORK=no they share one, so each leaves no task, fd or deadline behind.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "weft.h"
#include "test_util.h"

#define GUARD_NS ((int64_t)10000 * MS_NS)

static void make_pipe(int p[2])
{
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
}

/* A pipe filled to capacity: a write to p[1] must wait.  Returns its size. */
static int make_full_pipe(int p[2])
{
	static char chunk[4096];
	int cap, fl;

	make_pipe(p);
	cap = fcntl(p[1], F_GETPIPE_SZ);
	ck_assert_int_gt(cap, 0);
	fl = fcntl(p[1], F_GETFL);
	ck_assert_int_eq(fcntl(p[1], F_SETFL, fl | O_NONBLOCK), 0);
	while (write(p[1], chunk, sizeof(chunk)) > 0)
		;
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(fcntl(p[1], F_SETFL, fl), 0);
	return cap;
}

/*
 * A listener on 127.0.0.1 with backlog 0 whose one queue slot is taken by a
 * connection nobody accepts: the kernel drops further SYNs, so a connect to
 * it stays in progress (no packet leaves the machine).
 */
struct overflowed {
	int lfd, filler;
	struct sockaddr_in addr;
};

static void overflowed_open(struct overflowed *o)
{
	uint16_t port;

	o->lfd = loopback_socket(0, &port);
	ck_assert_int_ge(o->lfd, 0);
	o->addr = loopback_addr(port);
	o->filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(o->filler, 0);
	ck_assert_int_eq(connect(o->filler, (struct sockaddr *)&o->addr,
	    sizeof(o->addr)), 0);
}

static void overflowed_close(struct overflowed *o)
{
	ck_assert_int_eq(close(o->filler), 0);
	ck_assert_int_eq(close(o->lfd), 0);
}

/* weft_connect to the overflowed listener; -1 and errno kept. */
static int overflowed_connect(const struct overflowed *o)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc, err;

	if (fd < 0)
		return -2;
	errno = 0;
	rc = weft_connect(fd, (const struct sockaddr *)&o->addr, sizeof(o->addr));
	err = errno;
	weft_close(fd);
	errno = err;
	return rc;
}

static void *value_fn(void *arg)
{
	return arg;
}

/* ---- nesting -------------------------------------------------------------- */

/* TASK_CHECKs only, so it serves in a task and from main alike. */
static void check_nesting(void)
{
	int64_t now = weft_now();
	int64_t d10 = now + 10000 * MS_NS, d100 = now + 100 * MS_NS;
	int64_t d20 = now + 20000 * MS_NS, s1, s2, s3, s0;

	TASK_CHECK(weft_deadline() == WEFT_NO_DEADLINE);
	s1 = weft_deadline_push(d10);
	TASK_CHECK(s1 == WEFT_NO_DEADLINE);
	TASK_CHECK(weft_deadline() == d10);
	s2 = weft_deadline_push(d100);
	TASK_CHECK(s2 == d10);
	TASK_CHECK(weft_deadline() == d100);
	/* An inner scope never extends the outer one. */
	s3 = weft_deadline_push(d20);
	TASK_CHECK(s3 == d100);
	TASK_CHECK(weft_deadline() == d100);

	/* Negative arguments: EINVAL, nothing changes. */
	errno = 0;
	TASK_CHECK(weft_deadline_push(-1) == -1 && errno == EINVAL);
	errno = 0;
	TASK_CHECK(weft_deadline_push(INT64_MIN) == -1 && errno == EINVAL);
	TASK_CHECK(weft_deadline() == d100);
	TASK_CHECK_FAILS(weft_deadline_pop(-1), EINVAL);
	TASK_CHECK_FAILS(weft_deadline_pop(INT64_MIN), EINVAL);
	TASK_CHECK(weft_deadline() == d100);

	/* Pops restore exactly. */
	TASK_CHECK(weft_deadline_pop(s3) == 0);
	TASK_CHECK(weft_deadline() == d100);
	TASK_CHECK(weft_deadline_pop(s2) == 0);
	TASK_CHECK(weft_deadline() == d10);
	TASK_CHECK(weft_deadline_pop(s1) == 0);
	TASK_CHECK(weft_deadline() == WEFT_NO_DEADLINE);

	/* 0 is a valid (long past) deadline; WEFT_NO_DEADLINE adds none. */
	s0 = weft_deadline_push(0);
	TASK_CHECK(s0 == WEFT_NO_DEADLINE);
	TASK_CHECK(weft_deadline() == 0);
	TASK_CHECK(weft_deadline_push(d10) == 0);
	TASK_CHECK(weft_deadline() == 0);
	TASK_CHECK(weft_deadline_pop(0) == 0);
	TASK_CHECK(weft_deadline_pop(s0) == 0);
	s0 = weft_deadline_push(WEFT_NO_DEADLINE);
	TASK_CHECK(s0 == WEFT_NO_DEADLINE);
	TASK_CHECK(weft_deadline() == WEFT_NO_DEADLINE);
	TASK_CHECK(weft_deadline_pop(s0) == 0);
	TASK_CHECK(weft_deadline() == WEFT_NO_DEADLINE);
}

static void *nesting_task_fn(void *arg)
{
	(void)arg;
	check_nesting();
	return NULL;
}

/* Deadlines belong to the task that pushed them. */
static int64_t g_own_deadline;
static int g_own_stage;

static void *own_a_fn(void *arg)
{
	int64_t saved;

	(void)arg;
	saved = weft_deadline_push(g_own_deadline);
	g_own_stage = 1;
	TASK_CHECK(weft_yield() == 0);
	/* b ran in between, with its own deadline. */
	TASK_CHECK(g_own_stage == 2);
	TASK_CHECK(weft_deadline() == g_own_deadline);
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	return NULL;
}

static void *own_b_fn(void *arg)
{
	int64_t saved;

	(void)arg;
	TASK_CHECK(g_own_stage == 1);
	TASK_CHECK(weft_deadline() == WEFT_NO_DEADLINE);
	saved = weft_deadline_push(g_own_deadline - 5 * MS_NS);
	g_own_stage = 2;
	TASK_CHECK(weft_yield() == 0);
	TASK_CHECK(weft_deadline() == g_own_deadline - 5 * MS_NS);
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	return NULL;
}

START_TEST(nesting)
{
	weft_task *t, *a, *b;
	int64_t dm, saved;

	task_checks_reset();
	check_nesting();
	assert_task_checks_passed();
	t = weft_spawn(nesting_task_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	assert_task_checks_passed();

	/* Main's deadline is main's; each task has its own. */
	dm = weft_now() + 60000 * MS_NS;
	saved = weft_deadline_push(dm);
	ck_assert(saved == WEFT_NO_DEADLINE);
	g_own_deadline = weft_now() + 30000 * MS_NS;
	g_own_stage = 0;
	a = weft_spawn(own_a_fn, NULL);
	b = weft_spawn(own_b_fn, NULL);
	ck_assert(a != NULL && b != NULL);
	ck_assert_int_eq(weft_join(a, NULL), 0);
	ck_assert_int_eq(weft_join(b, NULL), 0);
	assert_task_checks_passed();
	ck_assert(weft_deadline() == dm);
	ck_assert_int_eq(weft_deadline_pop(saved), 0);
	ck_assert(weft_deadline() == WEFT_NO_DEADLINE);
}
END_TEST

/* ---- sleeps under a deadline ------------------------------------------- */

struct sleep_result {
	int64_t start, deadline, end;
	int rc, err;
	int rc_ns, err_ns, rc_until, err_until;
	int64_t end_ns, deadline_ns, end_until, deadline_until;
	int after_rc;
	int64_t after_elapsed;
};

static struct sleep_result g_sr[2];

static void sleep_under_deadline(struct sleep_result *r)
{
	int64_t saved, t0;

	r->start = weft_now();
	r->deadline = r->start + 100 * MS_NS;
	saved = weft_deadline_push(r->deadline);
	errno = 0;
	r->rc = weft_sleep(2000);
	r->err = errno;
	r->end = weft_now();
	TASK_CHECK(weft_deadline_pop(saved) == 0);

	r->deadline_ns = weft_now() + 50 * MS_NS;
	saved = weft_deadline_push(r->deadline_ns);
	errno = 0;
	r->rc_ns = weft_sleep_ns(2000 * MS_NS);
	r->err_ns = errno;
	r->end_ns = weft_now();
	TASK_CHECK(weft_deadline_pop(saved) == 0);

	r->deadline_until = weft_now() + 50 * MS_NS;
	saved = weft_deadline_push(r->deadline_until);
	errno = 0;
	r->rc_until = weft_sleep_until(r->deadline_until + 2000 * MS_NS);
	r->err_until = errno;
	r->end_until = weft_now();
	TASK_CHECK(weft_deadline_pop(saved) == 0);

	/* Popped: sleeps work again. */
	t0 = weft_now();
	r->after_rc = weft_sleep(10);
	r->after_elapsed = weft_now() - t0;
}

static void *sleep_deadline_fn(void *arg)
{
	(void)arg;
	sleep_under_deadline(&g_sr[1]);
	return NULL;
}

static void assert_sleep_result(const struct sleep_result *r, const char *where)
{
	ck_assert_msg(r->rc == -1 && r->err == ETIMEDOUT,
	    "%s: weft_sleep(2000) under a 100 ms deadline: %d errno %d (%s)",
	    where, r->rc, r->err, strerror(r->err));
	ck_assert_msg(r->end >= r->deadline, "%s: returned before the deadline", where);
	ck_assert_msg(r->end - r->start < 1500 * MS_NS * slow_factor(),
	    "%s: weft_sleep(2000) under a 100 ms deadline took %lld ms", where,
	    (long long)((r->end - r->start) / MS_NS));
	ck_assert_msg(r->rc_ns == -1 && r->err_ns == ETIMEDOUT,
	    "%s: weft_sleep_ns: %d errno %d (%s)", where, r->rc_ns, r->err_ns,
	    strerror(r->err_ns));
	ck_assert(r->end_ns >= r->deadline_ns);
	ck_assert(r->end_ns - r->deadline_ns < 1500 * MS_NS * slow_factor());
	ck_assert_msg(r->rc_until == -1 && r->err_until == ETIMEDOUT,
	    "%s: weft_sleep_until: %d errno %d (%s)", where, r->rc_until,
	    r->err_until, strerror(r->err_until));
	ck_assert(r->end_until >= r->deadline_until);
	ck_assert(r->end_until - r->deadline_until <
	    1500 * MS_NS * slow_factor());
	ck_assert_int_eq(r->after_rc, 0);
	ck_assert_int_ge(r->after_elapsed, 10 * MS_NS);
}

START_TEST(sleep_bounded_by_deadline)
{
	weft_task *t;

	task_checks_reset();
	memset(g_sr, 0, sizeof(g_sr));
	sleep_under_deadline(&g_sr[0]);
	t = weft_spawn(sleep_deadline_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	assert_task_checks_passed();
	assert_sleep_result(&g_sr[0], "main");
	assert_sleep_result(&g_sr[1], "task");
	ck_assert(weft_deadline() == WEFT_NO_DEADLINE);
}
END_TEST

/* ---- a deadline already past ---------------------------------------------- */

static struct {
	int empty[2], full[2], stuffed[2];
	int lfd;
	struct overflowed ov;
	weft_task *sleeper, *finished;
} g_past;

static void *sleep_then_value_fn(void *arg)
{
	return weft_sleep(200) == 0 ? arg : NULL;
}

/* Everything that would wait fails at once; what can complete, does. */
static void *past_deadline_fn(void *arg)
{
	struct pollfd f;
	char buf[16];
	void *r = NULL;
	int64_t t0, saved;

	(void)arg;
	saved = weft_deadline_push(weft_now() - MS_NS);
	TASK_CHECK(weft_deadline() < weft_now());
	t0 = weft_now();
	TASK_CHECK_FAILS(weft_sleep(3000), ETIMEDOUT);
	TASK_CHECK_FAILS(weft_sleep_ns(3000 * MS_NS), ETIMEDOUT);
	TASK_CHECK_FAILS((int)weft_read(g_past.empty[0], buf, sizeof(buf)), ETIMEDOUT);
	TASK_CHECK_FAILS(weft_accept(g_past.lfd, NULL, NULL), ETIMEDOUT);
	TASK_CHECK_FAILS((int)weft_write(g_past.stuffed[1], "x", 1), ETIMEDOUT);
	TASK_CHECK_FAILS(overflowed_connect(&g_past.ov), ETIMEDOUT);
	TASK_CHECK_FAILS(weft_join(g_past.sleeper, &r), ETIMEDOUT);
	TASK_CHECK(r == NULL);
	f.fd = g_past.empty[0];
	f.events = POLLIN;
	TASK_CHECK_FAILS(weft_poll(&f, 1, 3000), ETIMEDOUT);
	TASK_CHECK(weft_now() - t0 < 1000 * MS_NS * slow_factor());

	/* No wait needed: they succeed past the deadline. */
	TASK_CHECK(weft_read(g_past.full[0], buf, sizeof(buf)) == 5);
	TASK_CHECK(memcmp(buf, "ready", 5) == 0);
	TASK_CHECK(weft_write(g_past.empty[1], "z", 1) == 1);
	TASK_CHECK(weft_poll(&f, 1, 3000) == 1 && f.revents == POLLIN);
	TASK_CHECK(weft_read(g_past.empty[0], buf, sizeof(buf)) == 1);
	TASK_CHECK(weft_join(g_past.finished, &r) == 0 && P2U(r) == 11);
	TASK_CHECK(weft_deadline_pop(saved) == 0);

	/* The failed join left the sleeper joinable. */
	TASK_CHECK(weft_join(g_past.sleeper, &r) == 0 && P2U(r) == 22);
	return U2P(1);
}

START_TEST(past_deadline_fails_at_once)
{
	uint64_t live0 = live_tasks();
	weft_task *t;
	void *r = NULL;
	uint16_t port;

	task_checks_reset();
	make_pipe(g_past.empty);
	make_pipe(g_past.full);
	ck_assert_int_eq(write(g_past.full[1], "ready", 5), 5);
	make_full_pipe(g_past.stuffed);
	overflowed_open(&g_past.ov);
	g_past.lfd = loopback_socket(4, &port);
	ck_assert_int_ge(g_past.lfd, 0);
	g_past.finished = weft_spawn(value_fn, U2P(11));
	g_past.sleeper = weft_spawn(sleep_then_value_fn, U2P(22));
	t = weft_spawn(past_deadline_fn, NULL);
	ck_assert(g_past.finished != NULL && g_past.sleeper != NULL && t != NULL);
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), 1);
	assert_task_checks_passed();
	ck_assert_uint_eq(live_tasks(), live0);
	ck_assert_int_eq(weft_close(g_past.empty[0]), 0);
	ck_assert_int_eq(weft_close(g_past.empty[1]), 0);
	ck_assert_int_eq(weft_close(g_past.full[0]), 0);
	ck_assert_int_eq(weft_close(g_past.full[1]), 0);
	ck_assert_int_eq(weft_close(g_past.stuffed[0]), 0);
	ck_assert_int_eq(weft_close(g_past.stuffed[1]), 0);
	ck_assert_int_eq(weft_close(g_past.lfd), 0);
	overflowed_close(&g_past.ov);
}
END_TEST

START_TEST(past_deadline_from_main)
{
	weft_task *s;
	int64_t saved, t0;
	void *r = NULL;

	s = weft_spawn(sleep_then_value_fn, U2P(33));
	ck_assert_ptr_nonnull(s);
	saved = weft_deadline_push(weft_now() - MS_NS);
	t0 = weft_now();
	assert_fails(weft_sleep(3000), ETIMEDOUT);
	assert_fails(weft_join(s, &r), ETIMEDOUT);
	ck_assert_ptr_null(r);
	ck_assert_int_lt(weft_now() - t0, 1000 * MS_NS * slow_factor());
	ck_assert_int_eq(weft_deadline_pop(saved), 0);
	ck_assert_int_eq(weft_join(s, &r), 0);
	ck_assert_uint_eq(P2U(r), 33);
}
END_TEST

/* ---- weft_join under a deadline, from main and from a task ------------- */

struct long_sleeper {
	int rc, err;
	int64_t elapsed;
};

static struct long_sleeper g_ls[2];

/* Sleeps 5 s unless cancelled; returns 77 either way. */
static void *long_sleep_fn(void *arg)
{
	struct long_sleeper *ls = arg;
	int64_t t0 = weft_now();

	errno = 0;
	ls->rc = weft_sleep(5000);
	ls->err = errno;
	ls->elapsed = weft_now() - t0;
	return U2P(77);
}

struct join_bounded {
	int rc, err;
	int64_t deadline, start, end;
	void *r;
	int cancel_rc, join2_rc;
	void *r2;
};

static struct join_bounded g_jb[2];

static void join_with_deadline(struct join_bounded *jb, struct long_sleeper *ls)
{
	weft_task *t = weft_spawn(long_sleep_fn, ls);
	int64_t saved;

	TASK_CHECK(t != NULL);
	if (t == NULL)
		return;
	jb->r = U2P(0xdead);
	jb->start = weft_now();
	jb->deadline = jb->start + 200 * MS_NS;
	saved = weft_deadline_push(jb->deadline);
	errno = 0;
	jb->rc = weft_join(t, &jb->r);
	jb->err = errno;
	jb->end = weft_now();
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	/* Cancel the sleeper so the test need not wait 5 s, and join it. */
	jb->cancel_rc = weft_cancel(t);
	jb->join2_rc = weft_join(t, &jb->r2);
}

static void *join_deadline_fn(void *arg)
{
	(void)arg;
	join_with_deadline(&g_jb[1], &g_ls[1]);
	return NULL;
}

START_TEST(join_bounded_by_deadline)
{
	weft_task *t;
	int k;

	task_checks_reset();
	memset(g_jb, 0, sizeof(g_jb));
	memset(g_ls, 0, sizeof(g_ls));
	join_with_deadline(&g_jb[0], &g_ls[0]);
	t = weft_spawn(join_deadline_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	assert_task_checks_passed();
	for (k = 0; k < 2; k++) {
		const char *where = k ? "task" : "main";
		struct join_bounded *jb = &g_jb[k];

		ck_assert_msg(jb->rc == -1 && jb->err == ETIMEDOUT,
		    "%s: join of a 5 s sleeper under a 200 ms deadline: %d errno %d (%s)",
		    where, jb->rc, jb->err, strerror(jb->err));
		ck_assert_uint_eq(P2U(jb->r), 0xdead);
		ck_assert_msg(jb->end >= jb->deadline, "%s: join returned before its deadline", where);
		ck_assert_msg(jb->end - jb->start < 4500 * MS_NS * slow_factor(),
		    "%s: join under a 200 ms deadline took %lld ms", where,
		    (long long)((jb->end - jb->start) / MS_NS));
		ck_assert_int_eq(jb->cancel_rc, 0);
		ck_assert_int_eq(jb->join2_rc, 0);
		ck_assert_uint_eq(P2U(jb->r2), 77);
		ck_assert_msg(g_ls[k].rc == -1 && g_ls[k].err == ECANCELED,
		    "%s: the cancelled sleeper's weft_sleep: %d errno %d (%s)",
		    where, g_ls[k].rc, g_ls[k].err, strerror(g_ls[k].err));
		ck_assert_int_lt(g_ls[k].elapsed, 4500 * MS_NS * slow_factor());
	}
	ck_assert(weft_deadline() == WEFT_NO_DEADLINE);
}
END_TEST

/* ---- I/O under a deadline that passes while waiting --------------------- */

static struct {
	struct overflowed ov;
	int64_t start, deadline, end;
	int rc, err;
} g_cdl;

static void *connect_deadline_fn(void *arg)
{
	int64_t saved;

	(void)arg;
	g_cdl.start = weft_now();
	g_cdl.deadline = g_cdl.start + 200 * MS_NS;
	saved = weft_deadline_push(g_cdl.deadline);
	g_cdl.rc = overflowed_connect(&g_cdl.ov);
	g_cdl.err = errno;
	g_cdl.end = weft_now();
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	return NULL;
}

START_TEST(connect_bounded_by_deadline)
{
	weft_task *t;

	task_checks_reset();
	memset(&g_cdl, 0, sizeof(g_cdl));
	overflowed_open(&g_cdl.ov);
	t = weft_spawn(connect_deadline_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	assert_task_checks_passed();
	ck_assert_msg(g_cdl.rc == -1 && g_cdl.err == ETIMEDOUT,
	    "weft_connect that cannot complete, 200 ms deadline: %d errno %d (%s)",
	    g_cdl.rc, g_cdl.err, strerror(g_cdl.err));
	ck_assert_int_ge(g_cdl.end, g_cdl.deadline);
	ck_assert_int_lt(g_cdl.end - g_cdl.start, 5000 * MS_NS * slow_factor());
	overflowed_close(&g_cdl.ov);
}
END_TEST

/*
 * A write stopped by the deadline (_i == 0) or a cancel (_i == 1) after
 * some bytes went out returns how many; the error shows on the next call.
 */
static struct {
	int fd, cap, by_cancel, stage;
	const char *buf;
	ssize_t rc, rc2;
	int err, err2;
	weft_task *victim;
} g_pw;

static void *partial_writer_fn(void *arg)
{
	int64_t saved = weft_deadline_push(weft_now() +
	    (g_pw.by_cancel ? GUARD_NS : 100 * MS_NS));

	(void)arg;
	g_pw.stage = 1;
	errno = 0;
	g_pw.rc = weft_write(g_pw.fd, g_pw.buf, 3 * (size_t)g_pw.cap);
	g_pw.err = errno;
	errno = 0;
	g_pw.rc2 = weft_write(g_pw.fd, g_pw.buf, 10);
	g_pw.err2 = errno;
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	return NULL;
}

static void *partial_canceller_fn(void *arg)
{
	(void)arg;
	TASK_CHECK(g_pw.stage == 1);
	TASK_CHECK(weft_cancel(g_pw.victim) == 0);
	return NULL;
}

START_TEST(partial_write_then_error)
{
	static char drain[65536];
	char *buf;
	int p[2], want = _i ? ECANCELED : ETIMEDOUT;
	size_t total = 0;
	ssize_t n;

	task_checks_reset();
	memset(&g_pw, 0, sizeof(g_pw));
	make_pipe(p);
	g_pw.cap = fcntl(p[1], F_GETPIPE_SZ);
	ck_assert_int_gt(g_pw.cap, 0);
	buf = calloc(3, (size_t)g_pw.cap);
	ck_assert_ptr_nonnull(buf);
	g_pw.buf = buf;
	g_pw.fd = p[1];
	g_pw.by_cancel = _i;
	g_pw.victim = weft_spawn(partial_writer_fn, NULL);
	ck_assert_ptr_nonnull(g_pw.victim);
	if (_i) {
		weft_task *c = weft_spawn(partial_canceller_fn, NULL);

		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(weft_join(c, NULL), 0);
	}
	ck_assert_int_eq(weft_join(g_pw.victim, NULL), 0);
	assert_task_checks_passed();
	/* What the pipe holds is what the call reported. */
	ck_assert_int_eq(fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK), 0);
	while ((n = read(p[0], drain, sizeof(drain))) > 0)
		total += (size_t)n;
	ck_assert_msg(g_pw.rc > 0 && g_pw.rc < 3 * g_pw.cap,
	    "interrupted weft_write of %d bytes into a %d-byte pipe: %zd errno %d (%s), "
	    "expected the count written", 3 * g_pw.cap, g_pw.cap, g_pw.rc, g_pw.err,
	    strerror(g_pw.err));
	ck_assert_uint_eq(total, (size_t)g_pw.rc);
	ck_assert_msg(g_pw.rc2 == -1 && g_pw.err2 == want,
	    "the next weft_write: %zd errno %d (%s), expected -1 %s", g_pw.rc2,
	    g_pw.err2, strerror(g_pw.err2), strerror(want));
	ck_assert_int_eq(weft_close(p[0]), 0);
	ck_assert_int_eq(weft_close(p[1]), 0);
	free(buf);
}
END_TEST

/* ---- cancellation of each kind of wait ---------------------------------- */

enum {
	WAIT_READ, WAIT_ACCEPT, WAIT_SLEEP, WAIT_JOIN, WAIT_BLOCKING,
	WAIT_POLL, WAIT_WRITE, WAIT_CONNECT, WAIT_KINDS
};
static const char *const wait_names[WAIT_KINDS] = {
	"weft_read", "weft_accept", "weft_sleep", "weft_join", "weft_blocking",
	"weft_poll", "weft_write", "weft_connect",
};

static atomic_int g_fn_release, g_fn_done;

/* On a pool thread: holds until released (or 20 s pass). */
static void *held_fn(void *arg)
{
	struct timespec ms = { 0, 1000 * 1000 };
	int i;

	for (i = 0; i < 20000 && !atomic_load(&g_fn_release); i++)
		nanosleep(&ms, NULL);
	atomic_store(&g_fn_done, 1);
	return arg;
}

static void *quick_fn(void *arg)
{
	return arg;
}

static struct {
	int kind;
	int empty[2], data[2], held[2], full[2];
	int lfd;
	struct overflowed ov;
	weft_task *victim, *helper;
	int stage;              /* 1: about to wait; 2: returned */
	int rc, err;
	int64_t start, end;
	int helper_done_at_return, fn_done_at_return;
	int cancel_rc, cancel2_rc;
	int helper_done;
} g_cv;

/* Blocks reading the held pipe until main writes to it. */
static void *held_reader_fn(void *arg)
{
	char c;
	ssize_t n = weft_read(g_cv.held[0], &c, 1);

	g_cv.helper_done = 1;
	return n == 1 ? arg : NULL;
}

static int wait_once(int kind)
{
	char buf[8];
	void *r = NULL;

	switch (kind) {
	case WAIT_READ:
		return (int)weft_read(g_cv.empty[0], buf, sizeof(buf));
	case WAIT_ACCEPT:
		return weft_accept(g_cv.lfd, NULL, NULL);
	case WAIT_SLEEP:
		return weft_sleep(5000);
	case WAIT_JOIN:
		return weft_join(g_cv.helper, &r);
	case WAIT_POLL: {
		struct pollfd f = { g_cv.empty[0], POLLIN, 0 };

		return weft_poll(&f, 1, 5000);
	}
	case WAIT_WRITE:
		return (int)weft_write(g_cv.full[1], "x", 1);
	case WAIT_CONNECT:
		return overflowed_connect(&g_cv.ov);
	default:
		return weft_blocking(held_fn, U2P(3), &r);
	}
}

static void *victim_fn(void *arg)
{
	int64_t guard = weft_deadline_push(weft_now() + GUARD_NS), t0;
	char buf[8];
	void *r = NULL;

	(void)arg;
	g_cv.stage = 1;
	g_cv.start = weft_now();
	errno = 0;
	g_cv.rc = wait_once(g_cv.kind);
	g_cv.err = errno;
	g_cv.end = weft_now();
	g_cv.stage = 2;
	g_cv.helper_done_at_return = g_cv.helper_done;
	g_cv.fn_done_at_return = atomic_load(&g_fn_done);

	/* Cancelled for good: whatever would wait fails at once. */
	t0 = weft_now();
	TASK_CHECK_FAILS(weft_sleep(3000), ECANCELED);
	TASK_CHECK_FAILS(weft_sleep_ns(1), ECANCELED);
	TASK_CHECK_FAILS((int)weft_read(g_cv.empty[0], buf, sizeof(buf)), ECANCELED);
	TASK_CHECK_FAILS(weft_blocking(quick_fn, U2P(1), &r), ECANCELED);
	TASK_CHECK(weft_now() - t0 < 1000 * MS_NS * slow_factor());
	/* What needs no wait still works; yield still yields. */
	TASK_CHECK(weft_read(g_cv.data[0], buf, sizeof(buf)) == 2);
	TASK_CHECK(weft_yield() == 0);
	TASK_CHECK(weft_deadline_pop(guard) == 0);
	return U2P(42);
}

static void *canceller_fn(void *arg)
{
	(void)arg;
	/* The victim ran first and is parked in its wait. */
	TASK_CHECK(g_cv.stage == 1);
	g_cv.cancel_rc = weft_cancel(g_cv.victim);
	/* Cancelling again changes nothing. */
	g_cv.cancel2_rc = weft_cancel(g_cv.victim);
	return NULL;
}

/* In a task: wait until the abandoned pool job finished, then let the
 * loop run a while so its completion is handled with the victim gone. */
static void *drain_fn(void *arg)
{
	(void)arg;
	while (!atomic_load(&g_fn_done))
		if (weft_sleep(1) != 0)
			return NULL;
	return weft_sleep(50) == 0 ? U2P(1) : NULL;
}

START_TEST(cancel_each_wait)
{
	uint64_t live0 = live_tasks();
	weft_task *c;
	void *r = NULL;
	uint16_t port;

	task_checks_reset();
	memset(&g_cv, 0, sizeof(g_cv));
	atomic_store(&g_fn_release, 0);
	atomic_store(&g_fn_done, 0);
	g_cv.kind = _i;
	make_pipe(g_cv.empty);
	make_pipe(g_cv.data);
	make_pipe(g_cv.held);
	ck_assert_int_eq(write(g_cv.data[1], "ok", 2), 2);
	make_full_pipe(g_cv.full);
	overflowed_open(&g_cv.ov);
	g_cv.lfd = loopback_socket(4, &port);
	ck_assert_int_ge(g_cv.lfd, 0);
	if (_i == WAIT_JOIN) {
		g_cv.helper = weft_spawn(held_reader_fn, U2P(8));
		ck_assert_ptr_nonnull(g_cv.helper);
	}
	g_cv.victim = weft_spawn(victim_fn, NULL);
	c = weft_spawn(canceller_fn, NULL);
	ck_assert(g_cv.victim != NULL && c != NULL);
	ck_assert_int_eq(weft_join(c, NULL), 0);
	ck_assert_int_eq(weft_join(g_cv.victim, &r), 0);
	/* A cancelled task still runs its code; join returns its value. */
	ck_assert_uint_eq(P2U(r), 42);
	ck_assert_int_eq(g_cv.cancel_rc, 0);
	ck_assert_int_eq(g_cv.cancel2_rc, 0);
	ck_assert_msg(g_cv.rc == -1 && g_cv.err == ECANCELED,
	    "cancelled in %s: %d errno %d (%s), expected -1 ECANCELED",
	    wait_names[_i], g_cv.rc, g_cv.err, strerror(g_cv.err));
	assert_task_checks_passed();
	/* Promptly: before what it waited for could have happened. */
	ck_assert_int_lt(g_cv.end - g_cv.start, 4500 * MS_NS * slow_factor());
	if (_i == WAIT_JOIN) {
		ck_assert_int_eq(g_cv.helper_done_at_return, 0);
		/* The target of the cancelled join is still joinable. */
		ck_assert_int_eq(write(g_cv.held[1], "!", 1), 1);
		ck_assert_int_eq(weft_join(g_cv.helper, &r), 0);
		ck_assert_uint_eq(P2U(r), 8);
	}
	if (_i == WAIT_BLOCKING) {
		weft_task *d;

		ck_assert_int_eq(g_cv.fn_done_at_return, 0);
		atomic_store(&g_fn_release, 1);
		d = weft_spawn(drain_fn, NULL);
		ck_assert_ptr_nonnull(d);
		ck_assert_int_eq(weft_join(d, &r), 0);
		ck_assert_uint_eq(P2U(r), 1);
	}
	ck_assert_uint_eq(live_tasks(), live0);
	ck_assert_int_eq(weft_close(g_cv.empty[0]), 0);
	ck_assert_int_eq(weft_close(g_cv.empty[1]), 0);
	ck_assert_int_eq(weft_close(g_cv.data[0]), 0);
	ck_assert_int_eq(weft_close(g_cv.data[1]), 0);
	ck_assert_int_eq(weft_close(g_cv.held[0]), 0);
	ck_assert_int_eq(weft_close(g_cv.held[1]), 0);
	ck_assert_int_eq(weft_close(g_cv.full[0]), 0);
	ck_assert_int_eq(weft_close(g_cv.full[1]), 0);
	ck_assert_int_eq(weft_close(g_cv.lfd), 0);
	overflowed_close(&g_cv.ov);
}
END_TEST

/* ---- other cancellation cases -------------------------------------------- */

static int g_self_rc[4], g_self_err[4];

static void *self_cancel_fn(void *arg)
{
	(void)arg;
	g_self_rc[0] = weft_cancel(weft_self());
	errno = 0;
	g_self_rc[1] = weft_sleep(1000);
	g_self_err[1] = errno;
	g_self_rc[2] = weft_yield();
	/* Cancellation wins over a deadline that has passed too. */
	{
		int64_t saved = weft_deadline_push(0);

		errno = 0;
		g_self_rc[3] = weft_sleep(10);
		g_self_err[3] = errno;
		weft_deadline_pop(saved);
	}
	return U2P(6);
}

/* Cancelled before it ever ran. */
static void *unstarted_fn(void *arg)
{
	(void)arg;
	errno = 0;
	if (weft_sleep(1000) == -1 && errno == ECANCELED)
		return U2P(7);
	return NULL;
}

START_TEST(cancel_misc)
{
	weft_task *t;
	void *r = NULL;
	int64_t t0;

	assert_fails(weft_cancel(NULL), EINVAL);

	/* A finished, unjoined task: a no-op returning 0. */
	t = weft_spawn(value_fn, U2P(5));
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_run(), 0);
	ck_assert_int_eq(weft_cancel(t), 0);
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), 5);
	/* Joined (freed), nothing spawned since: EINVAL. */
	assert_fails(weft_cancel(t), EINVAL);

	/* A task cancelling itself. */
	memset(g_self_rc, 0x55, sizeof(g_self_rc));
	memset(g_self_err, 0, sizeof(g_self_err));
	t = weft_spawn(self_cancel_fn, NULL);
	ck_assert_ptr_nonnull(t);
	t0 = weft_now();
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), 6);
	ck_assert_int_eq(g_self_rc[0], 0);
	ck_assert_msg(g_self_rc[1] == -1 && g_self_err[1] == ECANCELED,
	    "sleep after self-cancel: %d errno %d (%s)", g_self_rc[1],
	    g_self_err[1], strerror(g_self_err[1]));
	ck_assert_int_eq(g_self_rc[2], 0);
	ck_assert_msg(g_self_rc[3] == -1 && g_self_err[3] == ECANCELED,
	    "cancelled and past its deadline: %d errno %d (%s), expected ECANCELED",
	    g_self_rc[3], g_self_err[3], strerror(g_self_err[3]));
	ck_assert_int_lt(weft_now() - t0, 1000 * MS_NS * slow_factor());

	/* Cancelled before it started. */
	t = weft_spawn(unstarted_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_cancel(t), 0);
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), 7);
}
END_TEST

/* Cancellation wins over a deadline: a parked task with a deadline. */
static struct {
	int stage;
	int rc, err;
	int rc2, err2;
	weft_task *victim;
	int fd;
} g_cd;

static void *deadline_victim_fn(void *arg)
{
	int64_t saved = weft_deadline_push(weft_now() + 300 * MS_NS);
	char buf[4];

	(void)arg;
	g_cd.stage = 1;
	errno = 0;
	g_cd.rc = (int)weft_read(g_cd.fd, buf, sizeof(buf));
	g_cd.err = errno;
	/* Both the deadline (once passed) and the cancel apply now. */
	while (weft_now() <= weft_deadline())
		weft_yield();
	errno = 0;
	g_cd.rc2 = (int)weft_read(g_cd.fd, buf, sizeof(buf));
	g_cd.err2 = errno;
	weft_deadline_pop(saved);
	return NULL;
}

static void *deadline_canceller_fn(void *arg)
{
	(void)arg;
	TASK_CHECK(g_cd.stage == 1);
	TASK_CHECK(weft_cancel(g_cd.victim) == 0);
	return NULL;
}

START_TEST(cancel_beats_deadline)
{
	weft_task *c;
	int p[2];

	task_checks_reset();
	memset(&g_cd, 0, sizeof(g_cd));
	make_pipe(p);
	g_cd.fd = p[0];
	g_cd.victim = weft_spawn(deadline_victim_fn, NULL);
	c = weft_spawn(deadline_canceller_fn, NULL);
	ck_assert(g_cd.victim != NULL && c != NULL);
	ck_assert_int_eq(weft_join(c, NULL), 0);
	ck_assert_int_eq(weft_join(g_cd.victim, NULL), 0);
	assert_task_checks_passed();
	ck_assert_msg(g_cd.rc == -1 && g_cd.err == ECANCELED,
	    "cancelled under a deadline: %d errno %d (%s), expected ECANCELED",
	    g_cd.rc, g_cd.err, strerror(g_cd.err));
	ck_assert_msg(g_cd.rc2 == -1 && g_cd.err2 == ECANCELED,
	    "cancelled and past the deadline: %d errno %d (%s), expected ECANCELED",
	    g_cd.rc2, g_cd.err2, strerror(g_cd.err2));
	ck_assert_int_eq(weft_close(p[0]), 0);
	ck_assert_int_eq(weft_close(p[1]), 0);
}
END_TEST

/* A task of another thread's runtime: EINVAL. */
struct foreign {
	pthread_barrier_t b1, b2;
	weft_task *task;
	int join_rc;
	void *r;
};

static void *sleep_value_fn(void *arg)
{
	return weft_sleep(1) == 0 ? arg : NULL;
}

static void *foreign_thread(void *arg)
{
	struct foreign *f = arg;

	f->task = weft_spawn(sleep_value_fn, U2P(9));
	pthread_barrier_wait(&f->b1);
	pthread_barrier_wait(&f->b2);
	f->join_rc = f->task ? weft_join(f->task, &f->r) : -2;
	return NULL;
}

START_TEST(cancel_foreign_task)
{
	struct foreign f;
	pthread_t th;

	memset(&f, 0, sizeof(f));
	ck_assert_int_eq(pthread_barrier_init(&f.b1, NULL, 2), 0);
	ck_assert_int_eq(pthread_barrier_init(&f.b2, NULL, 2), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, foreign_thread, &f), 0);
	pthread_barrier_wait(&f.b1);
	ck_assert_ptr_nonnull(f.task);
	errno = 0;
	{
		int rc = weft_cancel(f.task), err = errno;

		pthread_barrier_wait(&f.b2);
		ck_assert_int_eq(pthread_join(th, NULL), 0);
		ck_assert_msg(rc == -1 && err == EINVAL,
		    "cancel of another thread's task: %d errno %d (%s), expected EINVAL",
		    rc, err, strerror(err));
	}
	/* And it was not cancelled: its sleep succeeded. */
	ck_assert_int_eq(f.join_rc, 0);
	ck_assert_uint_eq(P2U(f.r), 9);
	pthread_barrier_destroy(&f.b1);
	pthread_barrier_destroy(&f.b2);
}
END_TEST

static Suite *deadline_suite(void)
{
	Suite *s = suite_create("deadline");
	TCase *tc;

	tc = tcase_create("deadlines");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, nesting);
	tcase_add_test(tc, sleep_bounded_by_deadline);
	tcase_add_test(tc, past_deadline_fails_at_once);
	tcase_add_test(tc, past_deadline_from_main);
	tcase_add_test(tc, join_bounded_by_deadline);
	tcase_add_test(tc, connect_bounded_by_deadline);
	tcase_add_loop_test(tc, partial_write_then_error, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("cancel");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, cancel_each_wait, 0, WAIT_KINDS);
	tcase_add_test(tc, cancel_misc);
	tcase_add_test(tc, cancel_beats_deadline);
	tcase_add_test(tc, cancel_foreign_task);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(deadline_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

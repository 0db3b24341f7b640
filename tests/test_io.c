/*
 * I/O: weft_read, weft_write, weft_recv, weft_send, weft_accept,
 * weft_connect, weft_close and weft_poll.  Inside a task they park only the
 * calling task until the fd is ready; outside any task they behave like
 * their POSIX twins.
 *
 * Ordering between tasks is established through program state, never by
 * sleeping and hoping: tasks run in spawn order until they park, so a task
 * spawned after a reader finds the reader parked, and a task that must
 * wait for another's progress parks in short sleeps until a counter moves
 * (await_count).  Waits that could hang if the library lost a wake-up run
 * under a deadline (a hang guard), so such a bug fails the test with
 * ETIMEDOUT instead of hanging it.  Time is only ever bounded generously.
 *
 * Each test creates the runtime it uses (Check runs each test in a fork);
 * with CK_FORK=no the tests share one runtime, so each leaves no task, fd or
 * deadline behind.  Network traffic stays on 127.0.0.1, with servers the
 * tests start on ephemeral ports.
 */
#include "config.h"

#include <check.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/uio.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "weft.h"
#include "test_util.h"

/* Hang guard for waits that must end for another reason first. */
#define GUARD_NS ((int64_t)10000 * MS_NS)

/* splitmix64: a deterministic byte stream per seed. */
static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static void fill_random(unsigned char *buf, size_t n, uint64_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = (unsigned char)next_rand(&seed);
}

/* FNV-1a, continued from h (start with FNV_START). */
#define FNV_START 0xcbf29ce484222325u
static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3u;
	}
	return h;
}

/*
 * In a task: park in 1 ms sleeps until *count >= want; 0, or -1 if that
 * took more than the hang guard (or a sleep failed).
 */
static int await_count(const int *count, int want)
{
	int64_t end = weft_now() + GUARD_NS;

	while (*count < want) {
		if (weft_now() > end || weft_sleep(1) != 0)
			return -1;
	}
	return 0;
}

static void make_pipe(int p[2])
{
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
}

static void make_socketpair(int s[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
}

/* A connected TCP pair over 127.0.0.1, made outside any task. */
static void make_tcp_pair(int s[2])
{
	uint16_t port;
	int l = loopback_socket(4, &port);
	struct sockaddr_in a = loopback_addr(port);

	ck_assert_int_ge(l, 0);
	s[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s[0], 0);
	ck_assert_int_eq(connect(s[0], (struct sockaddr *)&a, sizeof(a)), 0);
	s[1] = accept(l, NULL, NULL);
	ck_assert_int_ge(s[1], 0);
	ck_assert_int_eq(close(l), 0);
}

/* ---- echo server, 1,000 concurrent clients -------------------------------- */

enum { ECHO_CLIENTS = 1000, ECHO_MIN = 2048, ECHO_SPAN = 6144, ECHO_CHUNK = 1024 };

static int g_echo_lfd;
static struct sockaddr_in g_echo_addr;

static struct {
	int accepted;
	int accept_rc, accept_errno;
	int conn_failures, conn_inherited_nonblock;
	int conn_joined;
	uint64_t bytes_echoed;
	weft_task *conn[ECHO_CLIENTS];
} g_srv;

static struct {
	int done;
	uint64_t sum;       /* checksum of what came back */
	size_t len;         /* bytes that came back */
} g_cli[ECHO_CLIENTS];

/* Client i's message: its own length and bytes, its index up front. */
static unsigned char *echo_message(uintptr_t i, size_t *len)
{
	uint64_t seed = 0x5eed0000u + i;
	unsigned char *m;

	*len = ECHO_MIN + (size_t)(next_rand(&seed) % ECHO_SPAN);
	m = malloc(*len);
	if (m == NULL)
		return NULL;
	fill_random(m, *len, seed);
	memcpy(m, &i, sizeof(i));
	return m;
}

static void *echo_conn_fn(void *arg)
{
	int fd = (int)P2U(arg);
	unsigned char buf[1500];
	uint64_t total = 0;
	ssize_t n;

	/* accept's result is as accept(2) returns it: flags not inherited
	 * from the listening socket (which weft made non-blocking). */
	if (fd_nonblocking(fd))
		g_srv.conn_inherited_nonblock++;
	for (;;) {
		n = weft_read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		if (weft_write(fd, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
		total += (uint64_t)n;
	}
	if (n != 0)
		g_srv.conn_failures++;
	if (weft_close(fd) != 0)
		g_srv.conn_failures++;
	return U2P(total);
}

static void *echo_server_fn(void *arg)
{
	int n = (int)P2U(arg), c, i;

	for (;;) {
		weft_task *t;

		errno = 0;
		c = weft_accept(g_echo_lfd, NULL, NULL);
		if (c < 0) {
			g_srv.accept_rc = c;
			g_srv.accept_errno = errno;
			break;
		}
		if (g_srv.accepted >= n) {
			g_srv.conn_failures++;
			close(c);
			continue;
		}
		t = weft_spawn(echo_conn_fn, U2P(c));
		if (t == NULL) {
			g_srv.conn_failures++;
			close(c);
			continue;
		}
		g_srv.conn[g_srv.accepted++] = t;
	}
	for (i = 0; i < g_srv.accepted; i++) {
		void *r = NULL;

		if (weft_join(g_srv.conn[i], &r) == 0) {
			g_srv.conn_joined++;
			g_srv.bytes_echoed += P2U(r);
		}
	}
	return NULL;
}

/* Sends its message in chunks, reading each chunk back before the next. */
static void *echo_client_fn(void *arg)
{
	uintptr_t i = P2U(arg);
	uint64_t seed = 0xc4u + i;
	size_t len, off = 0;
	unsigned char *out = echo_message(i, &len), *in = malloc(len + 1);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unsigned char extra;

	TASK_CHECK(out != NULL && in != NULL && fd >= 0);
	if (out == NULL || in == NULL || fd < 0)
		goto out;
	TASK_CHECK(weft_connect(fd, (struct sockaddr *)&g_echo_addr,
	    sizeof(g_echo_addr)) == 0);
	/* weft_connect in a task leaves the socket non-blocking. */
	TASK_CHECK(fd_nonblocking(fd));
	while (off < len) {
		size_t chunk = 1 + (size_t)(next_rand(&seed) % ECHO_CHUNK), got = 0;

		if (chunk > len - off)
			chunk = len - off;
		if (weft_write(fd, out + off, chunk) != (ssize_t)chunk)
			break;
		while (got < chunk) {
			ssize_t r = weft_read(fd, in + off + got, chunk - got);

			if (r <= 0)
				break;
			got += (size_t)r;
		}
		off += got;
		if (got != chunk)
			break;
	}
	TASK_CHECK(off == len);
	/* Nothing more than was sent comes back: EOF after our shutdown. */
	TASK_CHECK(shutdown(fd, SHUT_WR) == 0);
	TASK_CHECK(weft_read(fd, &extra, 1) == 0);
	g_cli[i].len = off;
	g_cli[i].sum = fnv(FNV_START, in, off);
	TASK_CHECK(off == len && memcmp(in, out, len) == 0);
	g_cli[i].done = 1;
out:
	if (fd >= 0)
		TASK_CHECK(weft_close(fd) == 0);
	free(out);
	free(in);
	return NULL;
}

START_TEST(echo_thousand_clients)
{
	static weft_task *cli[ECHO_CLIENTS];
	uint64_t live0 = live_tasks(), expect_bytes = 0;
	long limit = raise_fd_limit();
	weft_task *srv;
	uint16_t port;
	int n = ECHO_CLIENTS, i;

	/* Two descriptors per client, plus slack. */
	ck_assert_msg(limit >= 2 * n + 64,
	    "RLIMIT_NOFILE hard limit %ld too low for %d clients", limit, n);
	task_checks_reset();
	memset(&g_srv, 0, sizeof(g_srv));
	memset(g_cli, 0, sizeof(g_cli));
	g_echo_lfd = loopback_socket(SOMAXCONN, &port);
	ck_assert_int_ge(g_echo_lfd, 0);
	g_echo_addr = loopback_addr(port);

	srv = weft_spawn(echo_server_fn, U2P(n));
	ck_assert_ptr_nonnull(srv);
	for (i = 0; i < n; i++) {
		cli[i] = weft_spawn(echo_client_fn, U2P(i));
		ck_assert_msg(cli[i] != NULL, "spawn %d: %s", i, strerror(errno));
	}
	for (i = 0; i < n; i++)
		ck_assert_int_eq(weft_join(cli[i], NULL), 0);
	assert_task_checks_passed();

	/* Stop the server: its accept fails with EBADF. */
	ck_assert_int_eq(weft_close(g_echo_lfd), 0);
	ck_assert_int_eq(weft_join(srv, NULL), 0);
	ck_assert_msg(g_srv.accept_rc == -1 && g_srv.accept_errno == EBADF,
	    "server's accept after weft_close: %d errno %d (%s), expected -1 EBADF",
	    g_srv.accept_rc, g_srv.accept_errno, strerror(g_srv.accept_errno));
	ck_assert_int_eq(g_srv.accepted, n);
	ck_assert_int_eq(g_srv.conn_joined, n);
	ck_assert_int_eq(g_srv.conn_failures, 0);
	ck_assert_int_eq(g_srv.conn_inherited_nonblock, 0);

	/* Every byte came back, per client: checksum of the expected bytes. */
	for (i = 0; i < n; i++) {
		size_t len;
		unsigned char *m = echo_message((uintptr_t)i, &len);

		ck_assert_ptr_nonnull(m);
		ck_assert_msg(g_cli[i].done, "client %d did not finish", i);
		ck_assert_uint_eq(g_cli[i].len, len);
		ck_assert_msg(g_cli[i].sum == fnv(FNV_START, m, len),
		    "client %d: checksum of the echo differs", i);
		expect_bytes += len;
		free(m);
	}
	ck_assert_uint_eq(g_srv.bytes_echoed, expect_bytes);
	ck_assert_uint_eq(live_tasks(), live0);
}
END_TEST

/* ---- 16 MiB in one weft_write ------------------------------------------- */

enum { BULK = 16 << 20, BULK_READ = 1000 };

static struct {
	const unsigned char *data;
	int wfd, rfd;
	ssize_t wrote;
	int write_errno;
	int writer_done;
	size_t read_total, read_while_writing;
	int read_rc, read_errno;
	int mismatch;
	uint64_t sum;
} g_bulk;

static void *bulk_writer_fn(void *arg)
{
	(void)arg;
	errno = 0;
	g_bulk.wrote = weft_write(g_bulk.wfd, g_bulk.data, BULK);
	g_bulk.write_errno = errno;
	g_bulk.writer_done = 1;
	/* A socket: weft used MSG_DONTWAIT and left its flags alone. */
	TASK_CHECK(!fd_nonblocking(g_bulk.wfd));
	TASK_CHECK(weft_close(g_bulk.wfd) == 0);
	return NULL;
}

static void *bulk_reader_fn(void *arg)
{
	unsigned char buf[BULK_READ];
	uint64_t h = FNV_START;
	ssize_t r;

	(void)arg;
	for (;;) {
		errno = 0;
		r = weft_read(g_bulk.rfd, buf, sizeof(buf));
		if (r <= 0)
			break;
		if (g_bulk.read_total + (size_t)r > BULK ||
		    memcmp(buf, g_bulk.data + g_bulk.read_total, (size_t)r) != 0)
			g_bulk.mismatch++;
		h = fnv(h, buf, (size_t)r);
		g_bulk.read_total += (size_t)r;
		if (!g_bulk.writer_done)
			g_bulk.read_while_writing += (size_t)r;
	}
	g_bulk.read_rc = (int)r;
	g_bulk.read_errno = errno;
	g_bulk.sum = h;
	TASK_CHECK(!fd_nonblocking(g_bulk.rfd));
	TASK_CHECK(weft_close(g_bulk.rfd) == 0);
	return NULL;
}

/* ---- a wait costs no poller change ------------------------------------------ */

#define PINGS 1000

static void *pinger(void *arg)
{
	int fd = *(int *)arg, i;
	char buf[256];

	for (i = 0; i < PINGS; i++) {
		TASK_CHECK(weft_write(fd, "ping", 4) == 4);
		/* A short read: the next one parks without trying. */
		TASK_CHECK(weft_read(fd, buf, sizeof(buf)) == 4);
	}
	return NULL;
}

static void *ponger(void *arg)
{
	int fd = *(int *)arg, i;
	char buf[256];

	for (i = 0; i < PINGS; i++) {
		TASK_CHECK(weft_read(fd, buf, sizeof(buf)) == 4);
		TASK_CHECK(weft_write(fd, "pong", 4) == 4);
	}
	/* The peer's end, then EOF: a read after a short one still sees
	 * the end (it came with the last data's edge). */
	TASK_CHECK(weft_read(fd, buf, sizeof(buf)) == 0);
	return NULL;
}

/*
 * Each descriptor is registered with the poller once, edge-triggered: a
 * thousand request-response round trips, each parking both tasks, make no
 * more changes to the epoll set than the two registrations (the one-shot
 * scheme it replaced re-armed at every wait: thousands).
 */
START_TEST(waits_make_no_poller_changes)
{
	struct weft_stats before, after;
	weft_task *a, *b;
	int s[2];

	task_checks_reset();
	make_tcp_pair(s);
	ck_assert_ptr_nonnull(a = weft_spawn(pinger, &s[0]));
	ck_assert_ptr_nonnull(b = weft_spawn(ponger, &s[1]));
	weft_yield();
	ck_assert_int_eq(weft_stats(&before), 0);
	ck_assert_int_eq(weft_join(a, NULL), 0);
	ck_assert_int_eq(weft_close(s[0]), 0);
	ck_assert_int_eq(weft_join(b, NULL), 0);
	ck_assert_int_eq(weft_stats(&after), 0);
	assert_task_checks_passed();
	/* Two registrations and the removal at weft_close, give or take. */
	ck_assert_msg(after.poller_changes - before.poller_changes <= 4,
	    "%llu poller changes for %d round trips",
	    (unsigned long long)(after.poller_changes - before.poller_changes),
	    PINGS);
	ck_assert_uint_ge(after.switches - before.switches, 2 * PINGS);
	weft_close(s[1]);
}
END_TEST

/* _i == 0: an AF_UNIX socketpair; _i == 1: TCP over 127.0.0.1. */
START_TEST(write_16mib)
{
	unsigned char *data = malloc(BULK);
	int s[2], small = 64 * 1024;
	weft_task *w, *r;

	ck_assert_ptr_nonnull(data);
	fill_random(data, BULK, 16);
	task_checks_reset();
	memset(&g_bulk, 0, sizeof(g_bulk));
	g_bulk.data = data;
	if (_i == 0)
		make_socketpair(s);
	else
		make_tcp_pair(s);
	/* Small buffers: the write cannot complete without parking. */
	ck_assert_int_eq(setsockopt(s[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	ck_assert_int_eq(setsockopt(s[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	g_bulk.wfd = s[0];
	g_bulk.rfd = s[1];

	w = weft_spawn(bulk_writer_fn, NULL);
	r = weft_spawn(bulk_reader_fn, NULL);
	ck_assert_ptr_nonnull(w);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(weft_join(w, NULL), 0);
	ck_assert_int_eq(weft_join(r, NULL), 0);

	ck_assert_msg(g_bulk.wrote == BULK, "weft_write returned %zd errno %d (%s), expected %d",
	    g_bulk.wrote, g_bulk.write_errno, strerror(g_bulk.write_errno), BULK);
	ck_assert_msg(g_bulk.read_rc == 0, "reader ended with %d errno %d (%s), expected EOF",
	    g_bulk.read_rc, g_bulk.read_errno, strerror(g_bulk.read_errno));
	ck_assert_uint_eq(g_bulk.read_total, BULK);
	ck_assert_int_eq(g_bulk.mismatch, 0);
	ck_assert(g_bulk.sum == fnv(FNV_START, data, BULK));
	/* The reader ran while the writer was inside its one weft_write. */
	ck_assert_uint_gt(g_bulk.read_while_writing, 0);
	assert_task_checks_passed();
	free(data);
}
END_TEST

/* ---- a pipe: short counts, then EOF ----------------------------------- */

static struct {
	int rfd, wfd;
	int stage;              /* reads completed */
	ssize_t rc[3];
	char buf[64];
	size_t len;
	int reader_parked_first;
} g_pipe;

static void *pipe_reader_fn(void *arg)
{
	int k;

	(void)arg;
	for (k = 0; k < 3; k++) {
		ssize_t n = weft_read(g_pipe.rfd, g_pipe.buf + g_pipe.len,
		    sizeof(g_pipe.buf) - 1 - g_pipe.len);

		g_pipe.rc[k] = n;
		if (n > 0)
			g_pipe.len += (size_t)n;
		g_pipe.stage = k + 1;
		if (n <= 0)
			break;
	}
	return NULL;
}

static void *pipe_writer_fn(void *arg)
{
	(void)arg;
	/* The reader ran first and parked on the empty pipe. */
	g_pipe.reader_parked_first = g_pipe.stage == 0;
	TASK_CHECK(weft_write(g_pipe.wfd, "abc", 3) == 3);
	TASK_CHECK(await_count(&g_pipe.stage, 1) == 0);
	TASK_CHECK(weft_write(g_pipe.wfd, "defgh", 5) == 5);
	TASK_CHECK(await_count(&g_pipe.stage, 2) == 0);
	TASK_CHECK(weft_close(g_pipe.wfd) == 0);
	return NULL;
}

START_TEST(pipe_short_reads_and_eof)
{
	int p[2];
	weft_task *r, *w;

	task_checks_reset();
	memset(&g_pipe, 0, sizeof(g_pipe));
	make_pipe(p);
	g_pipe.rfd = p[0];
	g_pipe.wfd = p[1];
	r = weft_spawn(pipe_reader_fn, NULL);
	w = weft_spawn(pipe_writer_fn, NULL);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(weft_join(r, NULL), 0);
	ck_assert_int_eq(weft_join(w, NULL), 0);
	assert_task_checks_passed();
	ck_assert_int_eq(g_pipe.reader_parked_first, 1);
	ck_assert_int_eq(g_pipe.stage, 3);
	ck_assert_int_eq(g_pipe.rc[0], 3);
	ck_assert_int_eq(g_pipe.rc[1], 5);
	ck_assert_int_eq(g_pipe.rc[2], 0);
	g_pipe.buf[g_pipe.len] = '\0';
	ck_assert_str_eq(g_pipe.buf, "abcdefgh");
	ck_assert_int_eq(weft_close(p[0]), 0);
}
END_TEST

/* ---- connect refused ------------------------------------------------------ */

static struct sockaddr_in g_refuse_addr;

static int connect_refused_errno(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc, err;

	if (fd < 0)
		return -1;
	errno = 0;
	rc = weft_connect(fd, (struct sockaddr *)&g_refuse_addr, sizeof(g_refuse_addr));
	err = errno;
	if (weft_close(fd) != 0)
		return -2;
	return rc == -1 ? err : -3;
}

static void *refused_task_fn(void *arg)
{
	(void)arg;
	return U2P(connect_refused_errno());
}

START_TEST(connect_refused)
{
	uint16_t port;
	/* Bound but not listening: the port is ours and refuses connections. */
	int b = loopback_socket(-1, &port);
	weft_task *t;
	void *r = NULL;
	int err;

	ck_assert_int_ge(b, 0);
	g_refuse_addr = loopback_addr(port);
	t = weft_spawn(refused_task_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, &r), 0);
	err = (int)(intptr_t)r;
	ck_assert_msg(err == ECONNREFUSED, "in a task: weft_connect errno %d (%s), expected ECONNREFUSED",
	    err, err > 0 ? strerror(err) : "-");
	err = connect_refused_errno();
	ck_assert_msg(err == ECONNREFUSED, "outside a task: weft_connect errno %d (%s), expected ECONNREFUSED",
	    err, err > 0 ? strerror(err) : "-");
	ck_assert_int_eq(close(b), 0);
}
END_TEST

/* ---- a silent peer under a deadline ------------------------------------- */

struct timed_call {
	int64_t start, deadline, end;
	ssize_t rc;
	int err;
};

static int g_silent_fd, g_silent_lfd;
static struct timed_call g_silent[3];

static void *silent_fn(void *arg)
{
	char buf[16];
	int k;

	(void)arg;
	for (k = 0; k < 3; k++) {
		struct timed_call *c = &g_silent[k];
		int64_t saved;

		c->start = weft_now();
		c->deadline = c->start + 200 * MS_NS;
		saved = weft_deadline_push(c->deadline);
		TASK_CHECK(saved == WEFT_NO_DEADLINE);
		errno = 0;
		if (k == 0)
			c->rc = weft_read(g_silent_fd, buf, sizeof(buf));
		else if (k == 1)
			c->rc = weft_recv(g_silent_fd, buf, sizeof(buf), 0);
		else
			c->rc = weft_accept(g_silent_lfd, NULL, NULL);
		c->err = errno;
		c->end = weft_now();
		TASK_CHECK(weft_deadline_pop(saved) == 0);
	}
	return NULL;
}

static void assert_timed_out(const struct timed_call *c, const char *what)
{
	ck_assert_msg(c->rc == -1 && c->err == ETIMEDOUT,
	    "%s: %zd errno %d (%s), expected -1 ETIMEDOUT", what, c->rc, c->err,
	    strerror(c->err));
	ck_assert_msg(c->end >= c->deadline, "%s: returned %lld ns before its deadline",
	    what, (long long)(c->deadline - c->end));
	ck_assert_msg(c->end - c->start < 5000 * MS_NS * slow_factor(),
	    "%s: took %lld ms for a 200 ms deadline", what,
	    (long long)((c->end - c->start) / MS_NS));
}

START_TEST(silent_peer_deadline)
{
	struct timed_call m;
	int s[2], k;
	int64_t saved;
	uint16_t port;
	weft_task *t;

	task_checks_reset();
	make_tcp_pair(s);
	g_silent_fd = s[0];
	g_silent_lfd = loopback_socket(4, &port);
	ck_assert_int_ge(g_silent_lfd, 0);
	memset(g_silent, 0, sizeof(g_silent));
	t = weft_spawn(silent_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	assert_task_checks_passed();
	assert_timed_out(&g_silent[0], "weft_read");
	assert_timed_out(&g_silent[1], "weft_recv");
	assert_timed_out(&g_silent[2], "weft_accept");

	/* weft_read/recv left the socket's flags alone; weft_accept in a
	 * task made the listening socket non-blocking, so from main the call
	 * waits with poll(2) and honours main's deadline. */
	ck_assert(!fd_nonblocking(s[0]));
	ck_assert(fd_nonblocking(g_silent_lfd));
	m.start = weft_now();
	m.deadline = m.start + 200 * MS_NS;
	saved = weft_deadline_push(m.deadline);
	ck_assert(saved == WEFT_NO_DEADLINE);
	errno = 0;
	m.rc = weft_accept(g_silent_lfd, NULL, NULL);
	m.err = errno;
	m.end = weft_now();
	ck_assert_int_eq(weft_deadline_pop(saved), 0);
	ck_assert(weft_deadline() == WEFT_NO_DEADLINE);
	assert_timed_out(&m, "weft_accept from main");

	for (k = 0; k < 2; k++)
		ck_assert_int_eq(weft_close(s[k]), 0);
	ck_assert_int_eq(weft_close(g_silent_lfd), 0);
}
END_TEST

/* ---- weft_close while tasks wait on the fd ------------------------------ */

enum { CLOSE_WAITERS = 3 };

static struct {
	int fd;
	int use_accept;
	int parked;
	ssize_t rc[CLOSE_WAITERS];
	int err[CLOSE_WAITERS];
	int returned;
	int returned_before_close;
	int close_rc;
} g_cw;

static void *close_waiter_fn(void *arg)
{
	int k = (int)P2U(arg);
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);
	char buf[8];

	g_cw.parked++;
	errno = 0;
	if (g_cw.use_accept)
		g_cw.rc[k] = weft_accept(g_cw.fd, NULL, NULL);
	else
		g_cw.rc[k] = weft_read(g_cw.fd, buf, sizeof(buf));
	g_cw.err[k] = errno;
	g_cw.returned++;
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	return NULL;
}

static void *closer_fn(void *arg)
{
	(void)arg;
	/* Every waiter ran before us and is parked on the fd. */
	TASK_CHECK(g_cw.parked == CLOSE_WAITERS);
	g_cw.returned_before_close = g_cw.returned;
	g_cw.close_rc = weft_close(g_cw.fd);
	return NULL;
}

static void *nop_fn(void *arg)
{
	return arg;
}

/*
 * _i: 0 = readers on a pipe, closed by a task; 1 = acceptors on a
 * listening socket, closed by a task; 2 = readers, closed from main;
 * 3 = acceptors, closed from main.
 */
START_TEST(close_wakes_waiters)
{
	weft_task *t[CLOSE_WAITERS], *c;
	int p[2] = { -1, -1 }, k;
	uint16_t port;

	task_checks_reset();
	memset(&g_cw, 0, sizeof(g_cw));
	g_cw.use_accept = _i & 1;
	if (g_cw.use_accept) {
		g_cw.fd = loopback_socket(4, &port);
		ck_assert_int_ge(g_cw.fd, 0);
	} else {
		make_pipe(p);
		g_cw.fd = p[0];
	}
	for (k = 0; k < CLOSE_WAITERS; k++) {
		t[k] = weft_spawn(close_waiter_fn, U2P(k));
		ck_assert_ptr_nonnull(t[k]);
	}
	if (_i < 2) {
		c = weft_spawn(closer_fn, NULL);
		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(weft_join(c, NULL), 0);
	} else {
		/* Joining a task spawned after the waiters runs them until
		 * they park. */
		c = weft_spawn(nop_fn, NULL);
		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(weft_join(c, NULL), 0);
		ck_assert_int_eq(g_cw.parked, CLOSE_WAITERS);
		g_cw.returned_before_close = g_cw.returned;
		g_cw.close_rc = weft_close(g_cw.fd);
	}
	for (k = 0; k < CLOSE_WAITERS; k++)
		ck_assert_int_eq(weft_join(t[k], NULL), 0);
	assert_task_checks_passed();
	ck_assert_int_eq(g_cw.returned_before_close, 0);
	ck_assert_int_eq(g_cw.close_rc, 0);
	ck_assert(!fd_is_open(g_cw.fd));
	for (k = 0; k < CLOSE_WAITERS; k++)
		ck_assert_msg(g_cw.rc[k] == -1 && g_cw.err[k] == EBADF,
		    "waiter %d: %zd errno %d (%s), expected -1 EBADF", k,
		    g_cw.rc[k], g_cw.err[k], strerror(g_cw.err[k]));
	if (p[1] >= 0)
		ck_assert_int_eq(close(p[1]), 0);
}
END_TEST

/* ---- many waiters on one fd; both directions on one fd ------------------- */

enum { SAME_FD_READERS = 3 };

static struct {
	int fd, wfd;
	int parked, got;
	char seen[SAME_FD_READERS + 1];
	ssize_t rc[SAME_FD_READERS];
	int err[SAME_FD_READERS];
} g_same;

static void *same_fd_reader_fn(void *arg)
{
	int k = (int)P2U(arg);
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);
	char c = 0;

	g_same.parked++;
	errno = 0;
	g_same.rc[k] = weft_read(g_same.fd, &c, 1);
	g_same.err[k] = errno;
	if (g_same.rc[k] == 1)
		g_same.seen[g_same.got] = c;
	g_same.got++;
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	return NULL;
}

static const char same_fd_bytes[] = "abc";

/* Feeds one byte at a time, each after the previous one was taken. */
static void *same_fd_feeder_fn(void *arg)
{
	int k;

	(void)arg;
	TASK_CHECK(g_same.parked == SAME_FD_READERS);
	for (k = 0; k < SAME_FD_READERS; k++) {
		TASK_CHECK(g_same.got == k);
		TASK_CHECK(weft_write(g_same.wfd, &same_fd_bytes[k], 1) == 1);
		TASK_CHECK(await_count(&g_same.got, k + 1) == 0);
	}
	return NULL;
}

START_TEST(many_readers_one_fd)
{
	weft_task *t[SAME_FD_READERS], *f;
	int p[2], k;

	task_checks_reset();
	memset(&g_same, 0, sizeof(g_same));
	make_pipe(p);
	g_same.fd = p[0];
	g_same.wfd = p[1];
	for (k = 0; k < SAME_FD_READERS; k++) {
		t[k] = weft_spawn(same_fd_reader_fn, U2P(k));
		ck_assert_ptr_nonnull(t[k]);
	}
	f = weft_spawn(same_fd_feeder_fn, NULL);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(weft_join(f, NULL), 0);
	for (k = 0; k < SAME_FD_READERS; k++)
		ck_assert_int_eq(weft_join(t[k], NULL), 0);
	assert_task_checks_passed();
	/* Each byte went to exactly one reader, in the order written. */
	for (k = 0; k < SAME_FD_READERS; k++)
		ck_assert_msg(g_same.rc[k] == 1, "reader %d: %zd errno %d (%s)", k,
		    g_same.rc[k], g_same.err[k], strerror(g_same.err[k]));
	ck_assert_str_eq(g_same.seen, "abc");
	ck_assert_int_eq(weft_close(p[0]), 0);
	ck_assert_int_eq(weft_close(p[1]), 0);
}
END_TEST

enum { DUPLEX_BYTES = 1 << 20 };

static struct {
	int fd, peer;
	int reader_stage, writer_stage;
	ssize_t read_rc, write_rc;
	int read_err, write_err;
	char buf[16];
	const unsigned char *data;
	int mismatch;
} g_dx;

static void *duplex_reader_fn(void *arg)
{
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);

	(void)arg;
	g_dx.reader_stage = 1;
	errno = 0;
	g_dx.read_rc = weft_read(g_dx.fd, g_dx.buf, sizeof(g_dx.buf) - 1);
	g_dx.read_err = errno;
	g_dx.reader_stage = 2;
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	return NULL;
}

static void *duplex_writer_fn(void *arg)
{
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);

	(void)arg;
	g_dx.writer_stage = 1;
	errno = 0;
	g_dx.write_rc = weft_write(g_dx.fd, g_dx.data, DUPLEX_BYTES);
	g_dx.write_err = errno;
	g_dx.writer_stage = 2;
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	return NULL;
}

static void *duplex_peer_fn(void *arg)
{
	unsigned char buf[4096];
	size_t total = 0;

	(void)arg;
	/* The reader parked for input, then the writer for output space. */
	TASK_CHECK(g_dx.reader_stage == 1 && g_dx.writer_stage == 1);
	TASK_CHECK(weft_write(g_dx.peer, "ping", 4) == 4);
	TASK_CHECK(await_count(&g_dx.reader_stage, 2) == 0);
	TASK_CHECK(g_dx.writer_stage == 1);
	while (total < DUPLEX_BYTES) {
		ssize_t r = weft_read(g_dx.peer, buf, sizeof(buf));

		if (r <= 0)
			break;
		if (memcmp(buf, g_dx.data + total, (size_t)r) != 0)
			g_dx.mismatch++;
		total += (size_t)r;
	}
	TASK_CHECK(total == DUPLEX_BYTES);
	TASK_CHECK(await_count(&g_dx.writer_stage, 2) == 0);
	return NULL;
}

/* A reader and a writer parked on the same socket, each woken in turn. */
START_TEST(reader_and_writer_one_fd)
{
	unsigned char *data = malloc(DUPLEX_BYTES);
	weft_task *r, *w, *p;
	int s[2], small = 32 * 1024;

	ck_assert_ptr_nonnull(data);
	fill_random(data, DUPLEX_BYTES, 3);
	task_checks_reset();
	memset(&g_dx, 0, sizeof(g_dx));
	g_dx.data = data;
	make_socketpair(s);
	ck_assert_int_eq(setsockopt(s[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	g_dx.fd = s[0];
	g_dx.peer = s[1];
	r = weft_spawn(duplex_reader_fn, NULL);
	w = weft_spawn(duplex_writer_fn, NULL);
	p = weft_spawn(duplex_peer_fn, NULL);
	ck_assert(r != NULL && w != NULL && p != NULL);
	ck_assert_int_eq(weft_join(p, NULL), 0);
	ck_assert_int_eq(weft_join(r, NULL), 0);
	ck_assert_int_eq(weft_join(w, NULL), 0);
	assert_task_checks_passed();
	ck_assert_msg(g_dx.read_rc == 4, "reader: %zd errno %d (%s), expected 4",
	    g_dx.read_rc, g_dx.read_err, strerror(g_dx.read_err));
	g_dx.buf[4] = '\0';
	ck_assert_str_eq(g_dx.buf, "ping");
	ck_assert_msg(g_dx.write_rc == DUPLEX_BYTES, "writer: %zd errno %d (%s)",
	    g_dx.write_rc, g_dx.write_err, strerror(g_dx.write_err));
	ck_assert_int_eq(g_dx.mismatch, 0);
	ck_assert_int_eq(weft_close(s[0]), 0);
	ck_assert_int_eq(weft_close(s[1]), 0);
	free(data);
}
END_TEST

/* ---- an fd number reused after a close ------------------------------------ */

static struct {
	int rfd, wfd;
	int parked, wrote;
	ssize_t rc;
	int err;
	int wrote_before_return;
	char buf[16];
	atomic_int returned, rescued;
} g_ru;

/*
 * If the reader's read(2) blocks the whole thread (an fd weft believes
 * non-blocking but is not), no task can ever write: after 5 s this thread
 * writes instead, so the test fails with a message rather than hanging.
 */
static void *rescuer_thread(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 500 * slow_factor(); i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (atomic_load(&g_ru.returned))
			return NULL;
		nanosleep(&ts, NULL);
	}
	atomic_store(&g_ru.rescued, 1);
	if (write(g_ru.wfd, "rescue", 6) != 6)
		atomic_store(&g_ru.rescued, 2);
	return NULL;
}

static void *reuse_reader_fn(void *arg)
{
	int64_t saved = weft_deadline_push(weft_now() + GUARD_NS);

	(void)arg;
	g_ru.parked = 1;
	errno = 0;
	g_ru.rc = weft_read(g_ru.rfd, g_ru.buf, sizeof(g_ru.buf) - 1);
	g_ru.err = errno;
	g_ru.wrote_before_return = g_ru.wrote;
	atomic_store(&g_ru.returned, 1);
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	return NULL;
}

static void *reuse_writer_fn(void *arg)
{
	const char *msg = arg;

	TASK_CHECK(g_ru.parked == 1);
	/* Let the loop poll a few times before writing: no stale wake-up
	 * may make the reader return early. */
	TASK_CHECK(weft_sleep(20) == 0);
	g_ru.wrote = 1;
	TASK_CHECK(weft_write(g_ru.wfd, msg, strlen(msg)) == (ssize_t)strlen(msg));
	return NULL;
}

/* A reader parks on rfd; a writer then writes msg; the reader gets it. */
static void wait_round(int rfd, int wfd, const char *msg)
{
	weft_task *r, *w;
	pthread_t th;

	memset(&g_ru, 0, sizeof(g_ru));
	atomic_store(&g_ru.returned, 0);
	atomic_store(&g_ru.rescued, 0);
	g_ru.rfd = rfd;
	g_ru.wfd = wfd;
	ck_assert_int_eq(pthread_create(&th, NULL, rescuer_thread, NULL), 0);
	r = weft_spawn(reuse_reader_fn, NULL);
	w = weft_spawn(reuse_writer_fn, (void *)msg);
	ck_assert(r != NULL && w != NULL);
	ck_assert_int_eq(weft_join(r, NULL), 0);
	ck_assert_int_eq(weft_join(w, NULL), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_msg(atomic_load(&g_ru.rescued) == 0,
	    "weft_read on fd %d blocked the whole thread (is the new file "
	    "under that number still blocking? O_NONBLOCK %s)", rfd,
	    fd_nonblocking(rfd) ? "set" : "clear");
	assert_task_checks_passed();
	ck_assert_msg(g_ru.rc == (ssize_t)strlen(msg),
	    "read on fd %d: %zd errno %d (%s), expected %zu", rfd, g_ru.rc,
	    g_ru.err, strerror(g_ru.err), strlen(msg));
	ck_assert_int_eq(g_ru.wrote_before_return, 1);
	g_ru.buf[g_ru.rc] = '\0';
	ck_assert_str_eq(g_ru.buf, msg);
}

/*
 * _i: 0 = weft_close; 1 = plain close(2); 2 = plain close(2) while a dup
 * keeps the old pipe open (its old epoll registration stays in the kernel).
 */
START_TEST(fd_reuse)
{
	int p[2], s[2], keep = -1, old;

	task_checks_reset();
	make_pipe(p);
	old = p[0];
	wait_round(p[0], p[1], "old");
	wait_round(p[0], p[1], "again");
	if (_i == 2) {
		keep = dup(p[0]);
		ck_assert_int_ge(keep, 0);
	}
	if (_i == 0) {
		ck_assert_int_eq(weft_close(p[0]), 0);
		ck_assert_int_eq(weft_close(p[1]), 0);
	} else {
		ck_assert_int_eq(close(p[0]), 0);
		ck_assert_int_eq(close(p[1]), 0);
	}
	/* The lowest free numbers are the pipe's: the new socket gets them. */
	make_socketpair(s);
	ck_assert_msg(s[0] == old, "new socket got fd %d, not the reused %d", s[0], old);
	wait_round(s[0], s[1], "new");
	wait_round(s[0], s[1], "newer");
	/* And the other way round: a pipe where the socket was. */
	ck_assert_int_eq(weft_close(s[0]), 0);
	ck_assert_int_eq(weft_close(s[1]), 0);
	make_pipe(p);
	ck_assert_int_eq(p[0], old);
	wait_round(p[0], p[1], "pipe again");
	ck_assert_int_eq(weft_close(p[0]), 0);
	ck_assert_int_eq(weft_close(p[1]), 0);
	if (keep >= 0)
		ck_assert_int_eq(close(keep), 0);
}
END_TEST

/*
 * A socket closed with plain close(2), its number taken by a new socket:
 * weft's registration of the old one is gone with it, and a read of the
 * new one, which trusts the registration, finds that out after a second
 * without news and registers again (fd.h): the read gets its data, late
 * but not never.
 */
START_TEST(socket_number_reused_after_plain_close)
{
	int s[2], t[2], old;
	int64_t start;

	task_checks_reset();
	make_socketpair(s);
	old = s[0];
	wait_round(s[0], s[1], "first");
	ck_assert_int_eq(close(s[0]), 0);
	ck_assert_int_eq(close(s[1]), 0);
	make_socketpair(t);
	ck_assert_msg(t[0] == old, "new socket got fd %d, not the reused %d",
	    t[0], old);
	start = weft_now();
	wait_round(t[0], t[1], "second");
	ck_assert_int_lt(weft_now() - start, 3000 * MS_NS * slow_factor());
	weft_close(t[0]);
	weft_close(t[1]);
}
END_TEST

/* ---- weft_poll --------------------------------------------------------------- */

static struct {
	int a[2], b[2], c[2];
	int bad;
	int parked;
	int wrote;
	int wrote_before_return;
} g_poll;

#define GARBAGE_REVENTS ((short)(POLLPRI | POLLERR | POLLHUP))

static void poll_set(struct pollfd *f, int fd, short events)
{
	f->fd = fd;
	f->events = events;
	f->revents = GARBAGE_REVENTS;
}

/* Several fds, some ready: only those are reported. */
static void poll_mixed(void)
{
	struct pollfd f[6];

	TASK_CHECK(weft_write(g_poll.a[1], "x", 1) == 1);
	poll_set(&f[0], g_poll.a[0], POLLIN);    /* data: POLLIN */
	poll_set(&f[1], g_poll.b[0], POLLIN);    /* empty: nothing */
	poll_set(&f[2], -1, POLLIN);             /* ignored */
	poll_set(&f[3], g_poll.bad, POLLIN);     /* not open: POLLNVAL */
	poll_set(&f[4], g_poll.b[1], POLLOUT);   /* room: POLLOUT */
	poll_set(&f[5], g_poll.c[0], POLLIN);    /* empty: nothing */
	TASK_CHECK(!fd_is_open(g_poll.bad));
	TASK_CHECK(weft_poll(f, 6, 1000) == 3);
	TASK_CHECK(f[0].revents == POLLIN);
	TASK_CHECK(f[1].revents == 0);
	TASK_CHECK(f[2].revents == 0);
	TASK_CHECK(f[3].revents == POLLNVAL);
	TASK_CHECK(f[4].revents == POLLOUT);
	TASK_CHECK(f[5].revents == 0);
	/* Same with timeout 0 (just look) and -1 (something is ready). */
	f[0].revents = f[1].revents = GARBAGE_REVENTS;
	TASK_CHECK(weft_poll(f, 6, 0) == 3);
	TASK_CHECK(f[0].revents == POLLIN && f[1].revents == 0);
	TASK_CHECK(weft_poll(f, 6, -1) == 3);
	TASK_CHECK(f[0].revents == POLLIN && f[5].revents == 0);
}

/* Nothing ready: the timeout passes; timeout 0 just looks. */
static void poll_timeouts(void)
{
	struct pollfd f[2];
	int64_t t0, el;

	poll_set(&f[0], g_poll.b[0], POLLIN);
	poll_set(&f[1], g_poll.c[0], POLLIN);
	t0 = weft_now();
	TASK_CHECK(weft_poll(f, 2, 150) == 0);
	el = weft_now() - t0;
	TASK_CHECK(el >= 150 * MS_NS);
	TASK_CHECK(el < 5000 * MS_NS * slow_factor());
	TASK_CHECK(f[0].revents == 0 && f[1].revents == 0);

	poll_set(&f[0], g_poll.b[0], POLLIN);
	t0 = weft_now();
	TASK_CHECK(weft_poll(f, 2, 0) == 0);
	TASK_CHECK(weft_now() - t0 < 1000 * MS_NS * slow_factor());
	TASK_CHECK(f[0].revents == 0);

	/* No fds: a plain wait, as poll(2). */
	t0 = weft_now();
	TASK_CHECK(weft_poll(NULL, 0, 30) == 0);
	TASK_CHECK(weft_now() - t0 >= 30 * MS_NS);
	TASK_CHECK_FAILS(weft_poll(NULL, 1, 0), EINVAL);
	TASK_CHECK_FAILS(weft_poll(NULL, 1, 100), EINVAL);
}

/* The task's deadline is earlier than the timeout: ETIMEDOUT.  Later: the
 * timeout wins and the result is 0. */
static void poll_deadlines(void)
{
	struct pollfd f[1];
	int64_t d, saved;
	int rc, err;

	poll_set(&f[0], g_poll.b[0], POLLIN);
	d = weft_now() + 100 * MS_NS;
	saved = weft_deadline_push(d);
	errno = 0;
	rc = weft_poll(f, 1, 5000);
	err = errno;
	TASK_CHECK(rc == -1 && err == ETIMEDOUT);
	TASK_CHECK(weft_now() >= d);
	TASK_CHECK(weft_now() - d < 4000 * MS_NS * slow_factor());
	d = weft_now() + 100 * MS_NS;
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	saved = weft_deadline_push(d);
	TASK_CHECK_FAILS(weft_poll(f, 1, -1), ETIMEDOUT);
	TASK_CHECK(weft_now() >= d);
	TASK_CHECK(weft_deadline_pop(saved) == 0);

	saved = weft_deadline_push(weft_now() + GUARD_NS);
	TASK_CHECK(weft_poll(f, 1, 50) == 0);
	TASK_CHECK(weft_deadline_pop(saved) == 0);
}

static void *poll_main_fn(void *arg)
{
	struct pollfd f[3];
	int64_t saved;

	(void)arg;
	poll_mixed();
	poll_timeouts();
	poll_deadlines();

	/* Wait with no timeout until another task writes to c. */
	poll_set(&f[0], g_poll.b[0], POLLIN);
	poll_set(&f[1], -5, POLLIN);
	poll_set(&f[2], g_poll.c[0], POLLIN);
	saved = weft_deadline_push(weft_now() + GUARD_NS);
	g_poll.parked = 1;
	TASK_CHECK(weft_poll(f, 3, -1) == 1);
	g_poll.wrote_before_return = g_poll.wrote;
	TASK_CHECK(f[0].revents == 0 && f[1].revents == 0);
	TASK_CHECK(f[2].revents == POLLIN);
	TASK_CHECK(weft_deadline_pop(saved) == 0);

	/* Hang-up: the write end is closed. */
	TASK_CHECK(weft_close(g_poll.b[1]) == 0);
	g_poll.b[1] = -1;
	poll_set(&f[0], g_poll.b[0], POLLIN);
	TASK_CHECK(weft_poll(f, 1, 1000) == 1);
	TASK_CHECK((f[0].revents & POLLHUP) != 0);
	return NULL;
}

static void *poll_writer_fn(void *arg)
{
	(void)arg;
	TASK_CHECK(await_count(&g_poll.parked, 1) == 0);
	/* The poller is parked now (it set the flag just before). */
	TASK_CHECK(weft_sleep(20) == 0);
	g_poll.wrote = 1;
	TASK_CHECK(weft_write(g_poll.c[1], "y", 1) == 1);
	return NULL;
}

START_TEST(poll_semantics)
{
	weft_task *p, *w;
	int k;

	task_checks_reset();
	memset(&g_poll, 0, sizeof(g_poll));
	make_pipe(g_poll.a);
	make_pipe(g_poll.b);
	make_pipe(g_poll.c);
	g_poll.bad = unused_fd();
	ck_assert_int_ge(g_poll.bad, 0);
	p = weft_spawn(poll_main_fn, NULL);
	w = weft_spawn(poll_writer_fn, NULL);
	ck_assert(p != NULL && w != NULL);
	ck_assert_int_eq(weft_join(p, NULL), 0);
	ck_assert_int_eq(weft_join(w, NULL), 0);
	assert_task_checks_passed();
	ck_assert_int_eq(g_poll.wrote_before_return, 1);
	for (k = 0; k < 2; k++) {
		ck_assert_int_eq(weft_close(g_poll.a[k]), 0);
		ck_assert_int_eq(weft_close(g_poll.c[k]), 0);
	}
	ck_assert_int_eq(weft_close(g_poll.b[0]), 0);
}
END_TEST

/* ---- regular files and other fds epoll refuses -------------------------- */

enum { FILE_BYTES = (1 << 20) + 17 };

static struct {
	int fd;
	int done;
	int ticks;
} g_file;

static void *file_fn(void *arg)
{
	unsigned char *out = malloc(FILE_BYTES), *in = malloc(FILE_BYTES);
	size_t total = 0;
	ssize_t r;
	int64_t saved;

	(void)arg;
	TASK_CHECK(out != NULL && in != NULL);
	if (out == NULL || in == NULL)
		goto out;
	fill_random(out, FILE_BYTES, 77);
	TASK_CHECK(weft_write(g_file.fd, out, FILE_BYTES) == FILE_BYTES);
	TASK_CHECK(lseek(g_file.fd, 0, SEEK_SET) == 0);
	while ((r = weft_read(g_file.fd, in + total,
	    total + 65536 > FILE_BYTES ? FILE_BYTES - total : 65536)) > 0)
		total += (size_t)r;
	TASK_CHECK(r == 0);
	TASK_CHECK(total == FILE_BYTES);
	TASK_CHECK(memcmp(in, out, FILE_BYTES) == 0);
	/* At end of file: 0 at once. */
	TASK_CHECK(weft_read(g_file.fd, in, 10) == 0);

	/* The deadline is checked before the call starts. */
	TASK_CHECK(lseek(g_file.fd, 0, SEEK_SET) == 0);
	saved = weft_deadline_push(0);
	TASK_CHECK_FAILS(weft_read(g_file.fd, in, 10), ETIMEDOUT);
	TASK_CHECK_FAILS(weft_write(g_file.fd, out, 10), ETIMEDOUT);
	TASK_CHECK(weft_deadline_pop(saved) == 0);
	TASK_CHECK(lseek(g_file.fd, 0, SEEK_CUR) == 0);
out:
	free(out);
	free(in);
	g_file.done = 1;
	return NULL;
}

/* Keeps running (parking) while the file task works. */
static void *ticker_fn(void *arg)
{
	(void)arg;
	while (!g_file.done) {
		if (weft_sleep(1) != 0)
			break;
		g_file.ticks++;
	}
	return NULL;
}

static void *cancelled_file_fn(void *arg)
{
	char buf[8];

	(void)arg;
	TASK_CHECK(weft_cancel(weft_self()) == 0);
	TASK_CHECK_FAILS(weft_read(g_file.fd, buf, sizeof(buf)), ECANCELED);
	TASK_CHECK_FAILS(weft_write(g_file.fd, "zz", 2), ECANCELED);
	return U2P(5);
}

static void *other_unpollable_fn(void *arg)
{
	char buf[8];
	int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	(void)arg;
	TASK_CHECK(dir >= 0 && null >= 0);
	TASK_CHECK_FAILS(weft_read(dir, buf, sizeof(buf)), EISDIR);
	TASK_CHECK(weft_read(null, buf, sizeof(buf)) == 0);
	TASK_CHECK(weft_write(null, "12345", 5) == 5);
	TASK_CHECK(weft_close(dir) == 0);
	TASK_CHECK(weft_close(null) == 0);
	return NULL;
}

START_TEST(regular_file)
{
	const char *tmp = getenv("TMPDIR");
	char path[4096];
	weft_task *f, *t, *c, *o;
	void *r = NULL;
	struct stat st;

	task_checks_reset();
	memset(&g_file, 0, sizeof(g_file));
	snprintf(path, sizeof(path), "%s/weft-io-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	g_file.fd = mkstemp(path);
	ck_assert_int_ge(g_file.fd, 0);
	ck_assert_int_eq(unlink(path), 0);
	f = weft_spawn(file_fn, NULL);
	t = weft_spawn(ticker_fn, NULL);
	ck_assert(f != NULL && t != NULL);
	ck_assert_int_eq(weft_join(f, NULL), 0);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	assert_task_checks_passed();
	ck_assert_int_eq(fstat(g_file.fd, &st), 0);
	ck_assert_int_eq(st.st_size, FILE_BYTES);

	c = weft_spawn(cancelled_file_fn, NULL);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(weft_join(c, &r), 0);
	ck_assert_uint_eq(P2U(r), 5);
	ck_assert_int_eq(fstat(g_file.fd, &st), 0);
	ck_assert_int_eq(st.st_size, FILE_BYTES);

	o = weft_spawn(other_unpollable_fn, NULL);
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(weft_join(o, NULL), 0);
	assert_task_checks_passed();
	ck_assert_int_eq(weft_close(g_file.fd), 0);
}
END_TEST

/* ---- outside any task: the POSIX twins ------------------------------------- */

START_TEST(outside_task_posix)
{
	struct sockaddr_in peer, cl;
	socklen_t plen = sizeof(peer), clen = sizeof(cl);
	struct pollfd f[2];
	int p[2], s[2], l, c, a, bad;
	uint16_t port;
	char buf[64];
	int64_t t0;

	ck_assert_ptr_null(weft_self());

	/* A pipe: short read. */
	make_pipe(p);
	ck_assert_int_eq(weft_write(p[1], "hello", 5), 5);
	ck_assert_int_eq(weft_read(p[0], buf, sizeof(buf)), 5);
	ck_assert_int_eq(memcmp(buf, "hello", 5), 0);

	/* weft_poll: ready, timeout, just look. */
	ck_assert_int_eq(weft_write(p[1], "!", 1), 1);
	f[0].fd = p[0];
	f[0].events = POLLIN;
	f[1].fd = p[1];
	f[1].events = POLLIN;
	f[0].revents = f[1].revents = GARBAGE_REVENTS;
	ck_assert_int_eq(weft_poll(f, 2, 1000), 1);
	ck_assert_int_eq(f[0].revents, POLLIN);
	ck_assert_int_eq(f[1].revents, 0);
	ck_assert_int_eq(weft_read(p[0], buf, sizeof(buf)), 1);
	t0 = weft_now();
	ck_assert_int_eq(weft_poll(f, 1, 60), 0);
	ck_assert_int_ge(weft_now() - t0, 60 * MS_NS);
	ck_assert_int_eq(weft_poll(f, 1, 0), 0);
	assert_fails(weft_poll(NULL, 1, 0), EINVAL);

	/* The caller made it non-blocking: EAGAIN, as read(2). */
	ck_assert_int_eq(fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK), 0);
	assert_fails((int)weft_read(p[0], buf, sizeof(buf)), EAGAIN);

	/* weft_close; closing again: EBADF. */
	ck_assert_int_eq(weft_close(p[0]), 0);
	ck_assert_int_eq(weft_close(p[1]), 0);
	assert_fails(weft_close(p[0]), EBADF);

	/* A socketpair: send, recv with flags passed through. */
	make_socketpair(s);
	ck_assert_int_eq(weft_send(s[0], "peekaboo", 8, MSG_NOSIGNAL), 8);
	ck_assert_int_eq(weft_recv(s[1], buf, 4, MSG_PEEK), 4);
	ck_assert_int_eq(memcmp(buf, "peek", 4), 0);
	ck_assert_int_eq(weft_recv(s[1], buf, sizeof(buf), 0), 8);
	ck_assert_int_eq(memcmp(buf, "peekaboo", 8), 0);
	assert_fails((int)weft_recv(s[1], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	ck_assert_int_eq(weft_close(s[0]), 0);
	ck_assert_int_eq(weft_recv(s[1], buf, sizeof(buf), 0), 0);
	ck_assert_int_eq(weft_close(s[1]), 0);

	/* TCP: connect completes into the backlog, then accept. */
	l = loopback_socket(4, &port);
	ck_assert_int_ge(l, 0);
	peer = loopback_addr(port);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(c, 0);
	ck_assert_int_eq(weft_connect(c, (struct sockaddr *)&peer, sizeof(peer)), 0);
	memset(&peer, 0, sizeof(peer));
	a = weft_accept(l, (struct sockaddr *)&peer, &plen);
	ck_assert_int_ge(a, 0);
	ck_assert_uint_eq(plen, sizeof(peer));
	ck_assert_int_eq(peer.sin_family, AF_INET);
	ck_assert_uint_eq(ntohl(peer.sin_addr.s_addr), INADDR_LOOPBACK);
	ck_assert_int_eq(getsockname(c, (struct sockaddr *)&cl, &clen), 0);
	ck_assert_uint_eq(peer.sin_port, cl.sin_port);
	ck_assert_int_eq(weft_send(c, "tcp", 3, 0), 3);
	ck_assert_int_eq(weft_read(a, buf, sizeof(buf)), 3);
	ck_assert_int_eq(weft_write(a, "back", 4), 4);
	ck_assert_int_eq(weft_recv(c, buf, sizeof(buf), 0), 4);
	ck_assert_int_eq(memcmp(buf, "back", 4), 0);
	/* A listener the caller made non-blocking, nothing pending: EAGAIN. */
	ck_assert_int_eq(fcntl(l, F_SETFL, fcntl(l, F_GETFL) | O_NONBLOCK), 0);
	assert_fails(weft_accept(l, NULL, NULL), EAGAIN);
	ck_assert_int_eq(weft_close(a), 0);
	ck_assert_int_eq(weft_close(c), 0);
	ck_assert_int_eq(weft_close(l), 0);

	/* A descriptor number that is not open: POLLNVAL. */
	bad = unused_fd();
	ck_assert_int_ge(bad, 0);
	f[0].fd = bad;
	f[0].events = POLLIN;
	f[0].revents = 0;
	ck_assert_int_eq(weft_poll(f, 1, 0), 1);
	ck_assert_int_eq(f[0].revents, POLLNVAL);
}
END_TEST

/*
 * ---- O_NONBLOCK -----------------------------------------------------------
 * Pipes, FIFOs and terminals never get it from weft (their description may
 * be shared with other processes); sockets keep their own flags too.  In a
 * task the calls park regardless; outside they block as POSIX's.
 */

enum { NB_BYTES = 256 * 1024 };

static struct {
	int rfd, wfd;
	size_t moved;
	ssize_t wrote;
} g_nb;

static atomic_int g_fed;

static void *nb_reader_fn(void *arg)
{
	char buf[4096];

	(void)arg;
	while (g_nb.moved < NB_BYTES) {
		ssize_t r = weft_read(g_nb.rfd, buf, sizeof(buf));

		if (r <= 0)
			break;
		g_nb.moved += (size_t)r;
	}
	return NULL;
}

static void *nb_writer_fn(void *arg)
{
	static char zeros[NB_BYTES];

	(void)arg;
	g_nb.wrote = weft_write(g_nb.wfd, zeros, NB_BYTES);
	return NULL;
}

/* A plain thread: after a pause, writes "late". */
static void *feeder_thread(void *arg)
{
	int fd = (int)P2U(arg);
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	atomic_store(&g_fed, 1);
	if (write(fd, "late", 4) != 4)
		atomic_store(&g_fed, -1);
	return NULL;
}

/* A plain thread: after a pause, drains NB_BYTES with poll(2) + read(2)
 * (the fd is non-blocking). */
static void *drainer_thread(void *arg)
{
	int fd = (int)P2U(arg);
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	static char buf[8192];
	size_t total = 0;

	nanosleep(&ts, NULL);
	atomic_store(&g_fed, 2);
	while (total < NB_BYTES) {
		struct pollfd f = { fd, POLLIN, 0 };
		ssize_t r;

		if (poll(&f, 1, 10000) != 1)
			break;
		r = read(fd, buf, sizeof(buf));
		if (r > 0)
			total += (size_t)r;
		else if (r == 0 || errno != EAGAIN)
			break;
	}
	return U2P(total);
}

START_TEST(nonblock_flag_and_blocking_outside)
{
	weft_task *r, *w;
	pthread_t th;
	int p[2];
	char buf[16];
	ssize_t n;
	void *drained = NULL;
	int64_t d, saved;

	task_checks_reset();
	memset(&g_nb, 0, sizeof(g_nb));
	make_pipe(p);
	ck_assert(!fd_nonblocking(p[0]) && !fd_nonblocking(p[1]));
	g_nb.rfd = p[0];
	g_nb.wfd = p[1];
	/* The reader parks on the empty pipe, the writer on the full one. */
	r = weft_spawn(nb_reader_fn, NULL);
	w = weft_spawn(nb_writer_fn, NULL);
	ck_assert(r != NULL && w != NULL);
	ck_assert_int_eq(weft_join(w, NULL), 0);
	ck_assert_int_eq(weft_join(r, NULL), 0);
	ck_assert_int_eq(g_nb.wrote, NB_BYTES);
	ck_assert_uint_eq(g_nb.moved, NB_BYTES);
	/* Documented: weft left the flags alone. */
	ck_assert(!fd_nonblocking(p[0]));
	ck_assert(!fd_nonblocking(p[1]));

	/* From main, weft_read still blocks until data comes, not EAGAIN. */
	atomic_store(&g_fed, 0);
	ck_assert_int_eq(pthread_create(&th, NULL, feeder_thread, U2P(p[1])), 0);
	n = weft_read(p[0], buf, sizeof(buf));
	ck_assert_msg(n == 4, "weft_read from main: %zd errno %d (%s), expected 4",
	    n, errno, strerror(errno));
	ck_assert_int_eq(atomic_load(&g_fed), 1);
	ck_assert_int_eq(memcmp(buf, "late", 4), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);

	/* And weft_write writes everything, waiting for room. */
	atomic_store(&g_fed, 0);
	ck_assert_int_eq(pthread_create(&th, NULL, drainer_thread, U2P(p[0])), 0);
	{
		static char ones[NB_BYTES];

		memset(ones, 1, sizeof(ones));
		n = weft_write(p[1], ones, NB_BYTES);
	}
	ck_assert_msg(n == NB_BYTES, "weft_write from main: %zd errno %d (%s)",
	    n, errno, strerror(errno));
	ck_assert_int_eq(atomic_load(&g_fed), 2);
	ck_assert_int_eq(pthread_join(th, &drained), 0);
	ck_assert_uint_eq(P2U(drained), NB_BYTES);

	/* Main's deadline bounds that wait. */
	d = weft_now() + 100 * MS_NS;
	saved = weft_deadline_push(d);
	assert_fails((int)weft_read(p[0], buf, sizeof(buf)), ETIMEDOUT);
	ck_assert_int_ge(weft_now(), d);
	/* Past it, data already there is still read. */
	ck_assert_int_eq(write(p[1], "here", 4), 4);
	ck_assert_int_eq(weft_read(p[0], buf, sizeof(buf)), 4);
	ck_assert_int_eq(weft_deadline_pop(saved), 0);

	/* The caller's own O_NONBLOCK: a task still parks and the flag
	 * stays; main gets EAGAIN, as from read(2). */
	ck_assert_int_eq(fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK), 0);
	wait_round(p[0], p[1], "caller's");
	ck_assert(fd_nonblocking(p[0]));
	assert_fails((int)weft_read(p[0], buf, sizeof(buf)), EAGAIN);
	ck_assert(!fd_nonblocking(p[1]));

	ck_assert_int_eq(weft_close(p[0]), 0);
	ck_assert_int_eq(weft_close(p[1]), 0);
}
END_TEST

/* A weft call on a pipe in a task leaves its flags, waiting or not. */
static void *pipe_no_wait_fn(void *arg)
{
	int *q = arg;
	char c = 0;

	TASK_CHECK(weft_write(q[1], "a", 1) == 1);
	TASK_CHECK(weft_read(q[0], &c, 1) == 1 && c == 'a');
	return NULL;
}

START_TEST(nonblock_first_call_on_pipe)
{
	weft_task *t;
	int q[2];

	task_checks_reset();
	make_pipe(q);
	t = weft_spawn(pipe_no_wait_fn, q);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	assert_task_checks_passed();
	ck_assert(!fd_nonblocking(q[0]));
	ck_assert(!fd_nonblocking(q[1]));
	ck_assert_int_eq(weft_close(q[0]), 0);
	ck_assert_int_eq(weft_close(q[1]), 0);
}
END_TEST

/*
 * Sockets: weft_read/write/recv/send leave their flags alone (MSG_DONTWAIT),
 * so outside a task they stay blocking; in a task they park whatever the
 * flags, even on a socket the caller made non-blocking (which, outside a
 * task, gets EAGAIN).
 */
START_TEST(nonblock_sockets_keep_flags)
{
	pthread_t th;
	char buf[16];
	ssize_t n;
	int s[2];

	task_checks_reset();
	make_socketpair(s);
	wait_round(s[0], s[1], "sock");
	ck_assert(!fd_nonblocking(s[0]));
	ck_assert(!fd_nonblocking(s[1]));

	/* From main, blocking as the POSIX call. */
	atomic_store(&g_fed, 0);
	ck_assert_int_eq(pthread_create(&th, NULL, feeder_thread, U2P(s[1])), 0);
	n = weft_read(s[0], buf, sizeof(buf));
	ck_assert_msg(n == 4, "weft_read from main: %zd errno %d (%s), expected 4",
	    n, errno, strerror(errno));
	ck_assert_int_eq(atomic_load(&g_fed), 1);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert(!fd_nonblocking(s[0]));

	/* The caller's own O_NONBLOCK: a task parks anyway; main gets EAGAIN. */
	ck_assert_int_eq(fcntl(s[0], F_SETFL, fcntl(s[0], F_GETFL) | O_NONBLOCK), 0);
	wait_round(s[0], s[1], "nonblock");
	assert_fails((int)weft_read(s[0], buf, sizeof(buf)), EAGAIN);
	assert_fails((int)weft_recv(s[0], buf, sizeof(buf), 0), EAGAIN);
	ck_assert(fd_nonblocking(s[0]));

	ck_assert_int_eq(weft_close(s[0]), 0);
	ck_assert_int_eq(weft_close(s[1]), 0);
}
END_TEST

/*
 * ---- descriptions shared with another process ------------------------------
 * A child reads a pipe it shares with the parent, and writes to another,
 * inside tasks, while a ticker task runs: the reads and writes park (the
 * ticker gets to run), and the parent, sampling its own ends all along,
 * never sees O_NONBLOCK.
 */

enum { SHARED_BYTES = 200 * 1024, SHARED_TICKS = 3 };

static struct {
	int in, out;                  /* the child's ends */
	int entered, done;
	int ticks;
	size_t got;
} g_sh;

static void *shared_reader(void *arg)
{
	char buf[8192];
	ssize_t r;

	(void)arg;
	g_sh.entered = 1;
	while ((r = weft_read(g_sh.in, buf, sizeof(buf))) > 0)
		g_sh.got += (size_t)r;
	g_sh.done = 1;
	return NULL;
}

/* Ticks while the reader waits; after SHARED_TICKS, tells the parent. */
static void *shared_ticker(void *arg)
{
	(void)arg;
	while (!g_sh.done) {
		if (g_sh.entered && ++g_sh.ticks == SHARED_TICKS &&
		    weft_write(g_sh.out, "r", 1) != 1)
			return NULL;
		weft_sleep(2);
	}
	return NULL;
}

static void shared_child(int in, int out)
{
	weft_task *r, *t;
	char verdict;

	memset(&g_sh, 0, sizeof(g_sh));
	g_sh.in = in;
	g_sh.out = out;
	r = weft_spawn(shared_reader, NULL);
	t = weft_spawn(shared_ticker, NULL);
	if (!r || !t || weft_join(r, NULL) || weft_join(t, NULL))
		_exit(2);
	verdict = g_sh.got == SHARED_BYTES ? 'k' : 'x';
	_exit(weft_write(out, &verdict, 1) == 1 && !fd_nonblocking(in) ? 0 : 3);
}

START_TEST(shared_pipe_keeps_flags_in_parent)
{
	static char data[SHARED_BYTES];
	int down[2], up[2], status = -1, samples = 0;
	size_t sent = 0;
	char c = 0;
	pid_t pid;

	make_pipe(down);
	make_pipe(up);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(down[1]);
		close(up[0]);
		shared_child(down[0], up[1]);
	}
	/* The parent keeps the child's ends open too, and watches them. */
	struct pollfd f = { .fd = up[0], .events = POLLIN, .revents = 0 };

	ck_assert_msg(poll(&f, 1, 10000) == 1,
	    "the child's ticker never ran while its reader waited");
	ck_assert_int_eq(read(up[0], &c, 1), 1);
	ck_assert_int_eq(c, 'r');
	memset(data, 's', sizeof(data));
	while (sent < sizeof(data)) {
		size_t n = sizeof(data) - sent < 1000 ? sizeof(data) - sent : 1000;
		ssize_t w;

		ck_assert(!fd_nonblocking(down[0]) && !fd_nonblocking(up[1]));
		samples++;
		w = write(down[1], data + sent, n);
		ck_assert_int_gt(w, 0);
		sent += (size_t)w;
	}
	close(down[1]);
	f.revents = 0;
	ck_assert_int_eq(poll(&f, 1, 10000), 1);
	ck_assert_int_eq(read(up[0], &c, 1), 1);
	ck_assert_msg(c == 'k', "the child read the wrong amount");
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child status %#x", status);
	/* After: still blocking, as the parent made them. */
	ck_assert(!fd_nonblocking(down[0]) && !fd_nonblocking(up[1]));
	ck_assert_int_gt(samples, 100);
	close(down[0]);
	close(up[0]);
	close(up[1]);
}
END_TEST

/*
 * A terminal: a task reads a line from a pseudo-terminal while another
 * types it on the master side; the slave's flags never change.
 */
static struct {
	int master, slave;
	int flags_seen_nonblock;
	ssize_t n;
	char line[64];
} g_tty;

static void *tty_reader(void *arg)
{
	(void)arg;
	g_tty.n = weft_read(g_tty.slave, g_tty.line, sizeof(g_tty.line) - 1);
	return NULL;
}

static void *tty_typist(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 5; i++) {
		g_tty.flags_seen_nonblock |= fd_nonblocking(g_tty.slave);
		weft_sleep(5);
	}
	TASK_CHECK(weft_write(g_tty.master, "hello\n", 6) == 6);
	return NULL;
}

START_TEST(tty_keeps_flags)
{
	const char *name;

	task_checks_reset();
	memset(&g_tty, 0, sizeof(g_tty));
	g_tty.master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (g_tty.master < 0 || grantpt(g_tty.master) || unlockpt(g_tty.master) ||
	    !(name = ptsname(g_tty.master))) {
		fprintf(stderr, "tty_keeps_flags: skipped, no pseudo-terminals "
		    "(%s)\n", strerror(errno));
		return;
	}
	g_tty.slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	ck_assert_int_ge(g_tty.slave, 0);
	ck_assert(!fd_nonblocking(g_tty.slave));
	run_pair(tty_reader, NULL, tty_typist, NULL);
	assert_task_checks_passed();
	ck_assert_int_eq(g_tty.flags_seen_nonblock, 0);
	ck_assert_msg(g_tty.n == 6, "read %zd errno %d", g_tty.n, errno);
	ck_assert(memcmp(g_tty.line, "hello\n", 6) == 0);
	ck_assert(!fd_nonblocking(g_tty.slave));
	ck_assert_int_eq(weft_close(g_tty.slave), 0);
	ck_assert_int_eq(weft_close(g_tty.master), 0);
}
END_TEST

/*
 * A pipe's number closed with close(2) and taken by a socket: the next
 * socket call in a task must see a socket (and park), not a pipe.
 */
static int g_reused_fd, g_reused_err;

static void *recv_with_deadline(void *arg)
{
	char buf[8];
	int64_t saved = weft_deadline_push(weft_now() + 100 * MS_NS);

	(void)arg;
	errno = 0;
	if (weft_recvfrom(g_reused_fd, buf, sizeof(buf), 0, NULL, NULL) == -1)
		g_reused_err = errno;
	weft_deadline_pop(saved);
	return NULL;
}

START_TEST(pipe_number_reused_by_socket)
{
	int p[2], u;

	task_checks_reset();
	make_pipe(p);
	run_task(pipe_no_wait_fn, p);      /* weft learns: a pipe */
	u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(u, 0);
	ck_assert_int_eq(dup2(u, p[0]), p[0]);   /* closes the pipe's end */
	close(u);
	g_reused_fd = p[0];
	g_reused_err = 0;
	run_task(recv_with_deadline, NULL);
	ck_assert_int_eq(g_reused_err, ETIMEDOUT);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* ---- bad descriptors ------------------------------------------------------ */

/* Number of calls that did not fail as expected. */
static int bad_fd_wrong(void)
{
	int p[2], bad, wrong = 0;
	struct sockaddr_in a = loopback_addr(9);
	char buf[8];

	errno = 0;
	wrong += !(weft_read(-1, buf, sizeof(buf)) == -1 && errno == EBADF);
	errno = 0;
	wrong += !(weft_write(-1, "x", 1) == -1 && errno == EBADF);
	if (pipe2(p, O_CLOEXEC) != 0)
		return 100;
	bad = p[1];
	/* A pipe end is not a socket. */
	errno = 0;
	wrong += !(weft_recv(p[0], buf, sizeof(buf), 0) == -1 && errno == ENOTSOCK);
	errno = 0;
	wrong += !(weft_send(p[1], "x", 1, 0) == -1 && errno == ENOTSOCK);
	wrong += weft_close(p[0]) != 0;
	wrong += weft_close(p[1]) != 0;
	/* Closed: the number is free now. */
	wrong += fd_is_open(bad);
	errno = 0;
	wrong += !(weft_write(bad, "x", 1) == -1 && errno == EBADF);
	errno = 0;
	wrong += !(weft_read(bad, buf, sizeof(buf)) == -1 && errno == EBADF);
	errno = 0;
	wrong += !(weft_send(bad, "x", 1, 0) == -1 && errno == EBADF);
	errno = 0;
	wrong += !(weft_recv(bad, buf, sizeof(buf), 0) == -1 && errno == EBADF);
	errno = 0;
	wrong += !(weft_accept(bad, NULL, NULL) == -1 && errno == EBADF);
	errno = 0;
	wrong += !(weft_connect(bad, (struct sockaddr *)&a, sizeof(a)) == -1 && errno == EBADF);
	errno = 0;
	wrong += !(weft_close(bad) == -1 && errno == EBADF);
	errno = 0;
	wrong += !(weft_close(-1) == -1 && errno == EBADF);
	return wrong;
}

static void *bad_fd_fn(void *arg)
{
	(void)arg;
	return U2P(bad_fd_wrong());
}

START_TEST(bad_fds)
{
	weft_task *t;
	void *r = U2P(99);

	ck_assert_int_eq(bad_fd_wrong(), 0);
	t = weft_spawn(bad_fd_fn, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), 0);
}
END_TEST

/* ---- regressions: unpollable descriptors, stray numbers ----------------- */

struct refused_poll {
	int fd;
	short events;
	int timeout_ms;
	int rc, err;
	int64_t took_ns;
	int done, ticks;
};

/* poll(2) on /dev/null for events it never has: 0 after the timeout. */
static void *refused_poll_fn(void *arg)
{
	struct refused_poll *p = arg;
	struct pollfd f = { .fd = p->fd, .events = p->events };
	int64_t t0 = weft_now();

	errno = 0;
	p->rc = weft_poll(&f, 1, p->timeout_ms);
	p->err = errno;
	p->took_ns = weft_now() - t0;
	p->done = 1;
	return NULL;
}

static void *refused_ticker_fn(void *arg)
{
	struct refused_poll *p = arg;

	while (!p->done && weft_sleep(1) == 0)
		p->ticks++;
	return NULL;
}

START_TEST(poll_unpollable_times_out)
{
	static const short never[] = { POLLPRI, POLLRDHUP, 0 };
	struct refused_poll p;
	int i;

	for (i = 0; i < 3; i++) {
		memset(&p, 0, sizeof(p));
		p.fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		ck_assert_int_ge(p.fd, 0);
		p.events = never[i];
		p.timeout_ms = 60;
		run_pair(refused_poll_fn, &p, refused_ticker_fn, &p);
		ck_assert_msg(p.rc == 0, "events %#x: weft_poll returned %d (%s)",
		    (unsigned)p.events, p.rc, strerror(p.err));
		ck_assert_int_ge(p.took_ns, 60 * MS_NS);
		ck_assert_int_lt(p.took_ns, 5000 * MS_NS * slow_factor());
		/* The poller parked: the ticker ran all along. */
		ck_assert_int_ge(p.ticks, 5);
		close(p.fd);
	}
}
END_TEST

struct mixed_refused {
	int null_fd, pipe[2];
	int rc;
	short revents_null, revents_pipe;
};

static void *mixed_refused_fn(void *arg)
{
	struct mixed_refused *m = arg;
	struct pollfd f[2] = {
		{ .fd = m->null_fd, .events = POLLPRI },
		{ .fd = m->pipe[0], .events = POLLIN },
	};

	m->rc = weft_poll(f, 2, 10000);
	m->revents_null = f[0].revents;
	m->revents_pipe = f[1].revents;
	return NULL;
}

static void *late_writer_fn(void *arg)
{
	struct mixed_refused *m = arg;

	weft_sleep(30);
	return U2P(weft_write(m->pipe[1], "x", 1) == 1);
}

/* An unpollable descriptor in the set does not stop the others waking it. */
START_TEST(poll_unpollable_with_others)
{
	struct mixed_refused m;
	weft_task *a, *b;
	void *ok = NULL;

	memset(&m, 0, sizeof(m));
	m.null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(m.null_fd, 0);
	make_pipe(m.pipe);
	a = weft_spawn(mixed_refused_fn, &m);
	b = weft_spawn(late_writer_fn, &m);
	ck_assert_int_eq(weft_join(a, NULL), 0);
	ck_assert_int_eq(weft_join(b, &ok), 0);
	ck_assert_uint_eq(P2U(ok), 1);
	ck_assert_int_eq(m.rc, 1);
	ck_assert_int_eq(m.revents_null, 0);
	ck_assert_int_eq(m.revents_pipe, POLLIN);
	close(m.null_fd);
	close(m.pipe[0]);
	close(m.pipe[1]);
}
END_TEST

static void *stray_numbers_fn(void *arg)
{
	static const int numbers[] = { 100000000, 1 << 30, INT_MAX };
	struct sockaddr_in a = loopback_addr(9);
	char buf[8];
	size_t i;
	int wrong = 0;

	(void)arg;
	for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		int fd = numbers[i];

		errno = 0;
		wrong += !(weft_read(fd, buf, 1) == -1 && errno == EBADF);
		errno = 0;
		wrong += !(weft_write(fd, "x", 1) == -1 && errno == EBADF);
		errno = 0;
		wrong += !(weft_recv(fd, buf, 1, 0) == -1 && errno == EBADF);
		errno = 0;
		wrong += !(weft_send(fd, "x", 1, 0) == -1 && errno == EBADF);
		errno = 0;
		wrong += !(weft_accept(fd, NULL, NULL) == -1 && errno == EBADF);
		errno = 0;
		wrong += !(weft_connect(fd, (struct sockaddr *)&a, sizeof(a)) ==
		    -1 && errno == EBADF);
	}
	return U2P(wrong);
}

/* A huge number that names no descriptor is EBADF at once: no table
 * grown to its size. */
START_TEST(stray_fd_number_is_ebadf)
{
	long before = rss_kib();
	int64_t t0 = weft_now();
	void *wrong = run_task(stray_numbers_fn, NULL);

	ck_assert_uint_eq(P2U(wrong), 0);
	ck_assert_int_lt(weft_now() - t0, 2000 * MS_NS * slow_factor());
	ck_assert_int_ge(before, 0);
	ck_assert_int_lt(rss_kib() - before, 16 * 1024);
}
END_TEST

/* ---- accept with no descriptor left --------------------------------------- */

struct emfile_accept {
	int lfd, n;
	int rc[4], err[4];
	int64_t took_ns;
	int done, ticks;
};

static void *emfile_acceptor_fn(void *arg)
{
	struct emfile_accept *a = arg;
	int64_t t0 = weft_now();
	int i;

	for (i = 0; i < a->n; i++) {
		errno = 0;
		a->rc[i] = weft_accept(a->lfd, NULL, NULL);
		a->err[i] = errno;
		if (a->rc[i] >= 0)
			close(a->rc[i]);
	}
	a->took_ns = weft_now() - t0;
	a->done = 1;
	return NULL;
}

static void *emfile_ticker_fn(void *arg)
{
	struct emfile_accept *a = arg;

	while (!a->done && weft_sleep(1) == 0)
		a->ticks++;
	return NULL;
}

static void *poll_once_fn(void *arg)
{
	struct pollfd f = { .fd = *(int *)arg, .events = POLLIN };

	return U2P(weft_poll(&f, 1, 1) == 0);
}

static void emfile_pair(void *arg)
{
	run_pair(emfile_acceptor_fn, arg, emfile_ticker_fn, arg);
}

/* A retrying accept loop with no descriptor left lets the others run. */
START_TEST(accept_out_of_descriptors_backs_off)
{
	struct emfile_accept a;
	struct sockaddr_in addr;
	weft_task *t;
	uint16_t port = 0;
	int cfd, i;

	if (under_valgrind())
		return;     /* valgrind keeps descriptors of its own */
	memset(&a, 0, sizeof(a));
	a.n = 4;
	a.lfd = loopback_socket(16, &port);
	ck_assert_int_ge(a.lfd, 0);
	/* The runtime's poller and the listener's entry exist already. */
	ck_assert_uint_eq(P2U(run_task(poll_once_fn, &a.lfd)), 1);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	addr = loopback_addr(port);
	ck_assert_int_eq(connect(cfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	run_without_fds(emfile_pair, &a);

	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(a.rc[i], -1);
		ck_assert_int_eq(a.err[i], EMFILE);
	}
	/* Four waits of 20 ms, and the ticker ran during them. */
	ck_assert_int_ge(a.took_ns, 4 * 20 * MS_NS);
	ck_assert_int_ge(a.ticks, 10);
	/* With descriptors again, the queued connection is accepted. */
	memset(a.rc, 0, sizeof(a.rc));
	a.done = 0;
	a.n = 1;
	ck_assert_ptr_nonnull(t = weft_spawn(emfile_acceptor_fn, &a));
	ck_assert_int_eq(weft_join(t, NULL), 0);
	ck_assert_int_ge(a.rc[0], 0);
	ck_assert_int_eq(weft_close(cfd), 0);
	weft_close(a.lfd);
}
END_TEST

/* ---- vectored and message I/O ------------------------------------------------------- */

#define BIG_IOV (300 * 1024)

struct vec_pair {
	int rfd, wfd;
	char *out, *in;
	size_t total;
	ssize_t wrote, got;
};

/* Writes 5 bytes, nothing, then BIG_IOV: more than a pipe holds, so the
 * write parks and goes on where it stopped. */
static void *vec_writer(void *arg)
{
	struct vec_pair *p = arg;
	struct iovec v[3] = {
		{ p->out, 5 }, { p->out + 5, 0 }, { p->out + 5, p->total - 5 }
	};

	p->wrote = weft_writev(p->wfd, v, 3);
	return NULL;
}

static void *vec_reader(void *arg)
{
	struct vec_pair *p = arg;
	size_t done = 0;

	while (done < p->total) {
		size_t left = p->total - done, half = left / 2;
		struct iovec v[2] = { { p->in + done, half }, { p->in + done + half, left - half } };
		ssize_t r = weft_readv(p->rfd, v, 2);

		if (r <= 0)
			break;
		done += (size_t)r;
	}
	p->got = (ssize_t)done;
	return NULL;
}

static void vec_round(int rfd, int wfd)
{
	struct vec_pair p;
	size_t i;

	p.rfd = rfd;
	p.wfd = wfd;
	p.total = 5 + BIG_IOV;
	p.out = malloc(p.total);
	p.in = calloc(1, p.total);
	ck_assert_ptr_nonnull(p.out);
	ck_assert_ptr_nonnull(p.in);
	for (i = 0; i < p.total; i++)
		p.out[i] = (char)(i * 7 + 3);
	run_pair(vec_writer, &p, vec_reader, &p);
	ck_assert_int_eq(p.wrote, (ssize_t)p.total);
	ck_assert_int_eq(p.got, (ssize_t)p.total);
	ck_assert(memcmp(p.in, p.out, p.total) == 0);
	free(p.out);
	free(p.in);
}

START_TEST(readv_writev_whole)
{
	int fds[2], sv[2];

	ck_assert_int_eq(pipe(fds), 0);
	vec_round(fds[0], fds[1]);
	close(fds[0]);
	close(fds[1]);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	vec_round(sv[0], sv[1]);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(readv_writev_many_and_errors)
{
	enum { N = 100 };
	struct iovec v[N];
	char bytes[N], back[N];
	int fds[2], i;

	ck_assert_int_eq(pipe(fds), 0);
	for (i = 0; i < N; i++) {
		bytes[i] = (char)i;
		v[i].iov_base = &bytes[i];
		v[i].iov_len = 1;
	}
	/* Outside a task: the plain calls, more iovecs than weft keeps on
	 * its stack. */
	ck_assert_int_eq(weft_writev(fds[1], v, N), N);
	for (i = 0; i < N; i++)
		v[i].iov_base = &back[i];
	ck_assert_int_eq(weft_readv(fds[0], v, N), N);
	ck_assert(memcmp(back, bytes, N) == 0);
	assert_fails(weft_readv(fds[0], NULL, 1), EINVAL);
	assert_fails(weft_readv(fds[0], v, -1), EINVAL);
	assert_fails(weft_writev(fds[1], v, IOV_MAX + 1), EINVAL);
	assert_fails(weft_writev(fds[1], NULL, 2), EINVAL);
	ck_assert_int_eq(weft_writev(fds[1], v, 0), 0);
	close(fds[0]);
	signal(SIGPIPE, SIG_DFL);     /* EPIPE, not the end of the test */
	assert_fails(weft_writev(fds[1], v, 3), EPIPE);
	close(fds[1]);
	assert_fails(weft_readv(unused_fd(), v, 1), EBADF);
}
END_TEST

/* A regular file goes through the pool in a task. */
static void *file_vec_task(void *arg)
{
	int fd = (int)P2U(arg);
	char a[] = "hello, ", b[] = "vectors", back[14] = { 0 };
	struct iovec out[2] = { { a, 7 }, { b, 7 } };
	struct iovec in[2] = { { back, 4 }, { back + 4, 10 } };

	if (weft_writev(fd, out, 2) != 14 || lseek(fd, 0, SEEK_SET) != 0 ||
	    weft_readv(fd, in, 2) != 14)
		return U2P(1);
	return U2P(memcmp(back, "hello, vectors", 14) != 0);
}

START_TEST(readv_writev_regular_file)
{
	char path[] = "/tmp/weft-vec-XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(P2U(run_task(file_vec_task, U2P(fd))), 0);
	close(fd);
}
END_TEST

/* ---- UDP: recvfrom and sendto ---------------------------------------------------------- */

static int udp_socket(uint16_t *port)
{
	struct sockaddr_in a = loopback_addr(0);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	*port = local_port(fd);
	ck_assert_uint_ne(*port, 0);
	return fd;
}

struct udp {
	int a, b;
	uint16_t pa, pb;
	char got[32];
	ssize_t n;
	struct sockaddr_in from;
	socklen_t fromlen;
	int late_err;
};

static void *udp_receiver(void *arg)
{
	struct udp *u = arg;

	u->fromlen = sizeof(u->from);
	u->n = weft_recvfrom(u->a, u->got, sizeof(u->got), 0,
	    (struct sockaddr *)&u->from, &u->fromlen);
	return NULL;
}

static void *udp_sender(void *arg)
{
	struct udp *u = arg;
	struct sockaddr_in to = loopback_addr(u->pa);

	yield_n(3);                        /* the receiver parks first */
	TASK_CHECK(weft_sendto(u->b, "datagram", 8, 0, (struct sockaddr *)&to,
	    sizeof(to)) == 8);
	return NULL;
}

static void *udp_deadline(void *arg)
{
	struct udp *u = arg;
	char c;
	int64_t saved = weft_deadline_push(weft_now() + 30 * MS_NS);

	errno = 0;
	if (weft_recvfrom(u->a, &c, 1, 0, NULL, NULL) == -1)
		u->late_err = errno;
	weft_deadline_pop(saved);
	return NULL;
}

START_TEST(udp_recvfrom_sendto)
{
	struct udp u;

	memset(&u, 0, sizeof(u));
	u.a = udp_socket(&u.pa);
	u.b = udp_socket(&u.pb);
	task_checks_reset();
	run_pair(udp_receiver, &u, udp_sender, &u);
	assert_task_checks_passed();
	ck_assert_int_eq(u.n, 8);
	ck_assert(memcmp(u.got, "datagram", 8) == 0);
	ck_assert_uint_eq(u.fromlen, sizeof(struct sockaddr_in));
	ck_assert_uint_eq(ntohs(u.from.sin_port), u.pb);
	/* Nothing comes: the deadline ends the wait. */
	run_task(udp_deadline, &u);
	ck_assert_int_eq(u.late_err, ETIMEDOUT);
	close(u.a);
	close(u.b);
}
END_TEST

/* ---- recvmsg and sendmsg: a descriptor passed ------------------------------------------ */

struct passing {
	int sv[2];
	int received_fd;
	char byte;
};

static void *fd_receiver(void *arg)
{
	struct passing *p = arg;
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } ctl;
	char data;
	struct iovec v = { &data, 1 };
	struct msghdr m;
	struct cmsghdr *c;

	memset(&m, 0, sizeof(m));
	m.msg_iov = &v;
	m.msg_iovlen = 1;
	m.msg_control = ctl.buf;
	m.msg_controllen = sizeof(ctl.buf);
	p->received_fd = -1;
	if (weft_recvmsg(p->sv[0], &m, MSG_CMSG_CLOEXEC) != 1)
		return NULL;
	c = CMSG_FIRSTHDR(&m);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy(&p->received_fd, CMSG_DATA(c), sizeof(int));
	if (p->received_fd >= 0 && weft_read(p->received_fd, &p->byte, 1) != 1)
		p->byte = 0;
	return NULL;
}

static void *fd_sender(void *arg)
{
	struct passing *p = arg;
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } ctl;
	struct iovec v = { "f", 1 };
	struct msghdr m;
	struct cmsghdr *c;
	int pp[2];

	yield_n(3);
	TASK_CHECK(pipe(pp) == 0);
	memset(&m, 0, sizeof(m));
	memset(&ctl, 0, sizeof(ctl));
	m.msg_iov = &v;
	m.msg_iovlen = 1;
	m.msg_control = ctl.buf;
	m.msg_controllen = sizeof(ctl.buf);
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &pp[0], sizeof(int));
	TASK_CHECK(weft_sendmsg(p->sv[1], &m, 0) == 1);
	close(pp[0]);                      /* the receiver has its own now */
	TASK_CHECK(weft_write(pp[1], "z", 1) == 1);
	close(pp[1]);
	return NULL;
}

START_TEST(sendmsg_passes_descriptor)
{
	struct passing p;

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p.sv), 0);
	task_checks_reset();
	run_pair(fd_receiver, &p, fd_sender, &p);
	assert_task_checks_passed();
	ck_assert_int_ge(p.received_fd, 0);
	ck_assert_int_eq(p.byte, 'z');
	close(p.received_fd);
	assert_fails(weft_recvmsg(p.sv[0], NULL, 0), EINVAL);
	assert_fails(weft_sendmsg(p.sv[0], NULL, 0), EINVAL);
	close(p.sv[0]);
	close(p.sv[1]);
}
END_TEST

/* ---- child processes and signals ------------------------------------------------------ */

static atomic_int g_ticks;

/* Counts while the other task waits: the thread was not blocked. */
static void *ticker(void *arg)
{
	int64_t until = weft_now() + (int64_t)P2U(arg) * MS_NS;

	while (weft_now() < until && weft_sleep(2) == 0)
		atomic_fetch_add(&g_ticks, 1);
	return NULL;
}

static pid_t child_exiting(int code, int after_ms)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct timespec ts = { after_ms / 1000, (after_ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
		_exit(code);
	}
	ck_assert_int_gt(pid, 0);
	return pid;
}

struct waited {
	pid_t pid, got;
	int status, err, options;
	int64_t deadline_ms;
};

static void *waitpid_task(void *arg)
{
	struct waited *w = arg;
	int64_t saved = 0;

	if (w->deadline_ms)
		saved = weft_deadline_push(weft_now() + w->deadline_ms * MS_NS);
	errno = 0;
	w->got = weft_waitpid(w->pid, &w->status, w->options);
	w->err = errno;
	if (w->deadline_ms)
		weft_deadline_pop(saved);
	return NULL;
}

START_TEST(waitpid_parks_only_the_task)
{
	struct waited w;

	memset(&w, 0, sizeof(w));
	atomic_store(&g_ticks, 0);
	w.pid = child_exiting(7, 100);
	run_pair(waitpid_task, &w, ticker, U2P(60));
	ck_assert_int_eq(w.got, w.pid);
	ck_assert(WIFEXITED(w.status));
	ck_assert_int_eq(WEXITSTATUS(w.status), 7);
	ck_assert_int_gt(atomic_load(&g_ticks), 3);

	/* Any child: the polling path. */
	memset(&w, 0, sizeof(w));
	w.pid = -1;
	child_exiting(9, 20);
	run_task(waitpid_task, &w);
	ck_assert_int_gt(w.got, 0);
	ck_assert_int_eq(WEXITSTATUS(w.status), 9);
}
END_TEST

START_TEST(waitpid_deadline_and_errors)
{
	struct waited w;
	pid_t pid = child_exiting(0, 10000);

	memset(&w, 0, sizeof(w));
	w.pid = pid;
	w.deadline_ms = 50;
	run_task(waitpid_task, &w);
	ck_assert_int_eq(w.got, -1);
	ck_assert_int_eq(w.err, ETIMEDOUT);
	/* WNOHANG answers at once; then the child goes and is reaped. */
	memset(&w, 0, sizeof(w));
	w.pid = pid;
	w.options = WNOHANG;
	run_task(waitpid_task, &w);
	ck_assert_int_eq(w.got, 0);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	memset(&w, 0, sizeof(w));
	w.pid = pid;
	run_task(waitpid_task, &w);
	ck_assert_int_eq(w.got, pid);
	ck_assert(WIFSIGNALED(w.status));
	/* Not a child of ours. */
	memset(&w, 0, sizeof(w));
	w.pid = pid;
	run_task(waitpid_task, &w);
	ck_assert_int_eq(w.got, -1);
	ck_assert_int_eq(w.err, ECHILD);
	/* Outside a task: the plain call. */
	pid = child_exiting(3, 0);
	ck_assert_int_eq(weft_waitpid(pid, &w.status, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(w.status), 3);
}
END_TEST

struct sigwaited {
	sigset_t set;
	int sig, rc;
	int64_t deadline_ms;
};

static void *sigwait_task(void *arg)
{
	struct sigwaited *s = arg;
	int64_t saved = 0;

	if (s->deadline_ms)
		saved = weft_deadline_push(weft_now() + s->deadline_ms * MS_NS);
	s->rc = weft_sigwait(&s->set, &s->sig);
	if (s->deadline_ms)
		weft_deadline_pop(saved);
	return NULL;
}

static void *raise_later(void *arg)
{
	yield_n(3);                       /* the waiter parks first */
	TASK_CHECK(weft_sleep(5) == 0);
	TASK_CHECK(kill(getpid(), (int)P2U(arg)) == 0);
	return NULL;
}

START_TEST(sigwait_parks_only_the_task)
{
	struct sigwaited s;
	sigset_t old;

	memset(&s, 0, sizeof(s));
	sigemptyset(&s.set);
	sigaddset(&s.set, SIGUSR1);
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &s.set, &old), 0);
	task_checks_reset();
	run_pair(sigwait_task, &s, raise_later, U2P(SIGUSR1));
	assert_task_checks_passed();
	ck_assert_int_eq(s.rc, 0);
	ck_assert_int_eq(s.sig, SIGUSR1);
	/* A signal already pending is taken at once. */
	ck_assert_int_eq(raise(SIGUSR1), 0);
	s.sig = 0;
	run_task(sigwait_task, &s);
	ck_assert_int_eq(s.rc, 0);
	ck_assert_int_eq(s.sig, SIGUSR1);
	/* Nothing comes: the deadline; bad arguments: EINVAL. */
	s.deadline_ms = 30;
	run_task(sigwait_task, &s);
	ck_assert_int_eq(s.rc, ETIMEDOUT);
	ck_assert_int_eq(weft_sigwait(NULL, &s.sig), EINVAL);
	ck_assert_int_eq(weft_sigwait(&s.set, NULL), EINVAL);
	ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}
END_TEST

/* ---- stdio over a socket ------------------------------------------------------------- */

enum { LINES = 200 };

static void *line_writer(void *arg)
{
	FILE *f = weft_fdopen((int)P2U(arg), "w");
	int i;

	TASK_CHECK(f != NULL);
	if (!f)
		return NULL;
	for (i = 0; i < LINES; i++)
		TASK_CHECK(fprintf(f, "line %d of %d\n", i, LINES) > 0);
	TASK_CHECK(fclose(f) == 0);        /* flushes, closes the fd */
	return NULL;
}

static void *line_reader(void *arg)
{
	FILE *f = weft_fdopen((int)P2U(arg), "r");
	char *line = NULL, want[64];
	size_t cap = 0;
	int n = 0;

	TASK_CHECK(f != NULL);
	if (!f)
		return U2P(0);
	while (getline(&line, &cap, f) > 0) {
		snprintf(want, sizeof(want), "line %d of %d\n", n, LINES);
		TASK_CHECK(strcmp(line, want) == 0);
		n++;
	}
	TASK_CHECK(!ferror(f));
	free(line);
	fclose(f);
	return U2P(n);
}

static void *count_reader(void *arg)
{
	*(int *)arg = (int)P2U(line_reader(U2P(((int *)arg)[1])));
	return NULL;
}

START_TEST(fdopen_lines_over_socket)
{
	int sv[2], got[2];
	FILE *f;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	got[0] = -1;
	got[1] = sv[0];
	task_checks_reset();
	run_pair(count_reader, got, line_writer, U2P(sv[1]));
	assert_task_checks_passed();
	ck_assert_int_eq(got[0], LINES);
	ck_assert(!fd_is_open(sv[0]) && !fd_is_open(sv[1]));   /* fclose closed them */
	assert_fails_null(weft_fdopen(-1, "r"), EBADF);
	ck_assert_int_eq(pipe(sv), 0);
	assert_fails_null(weft_fdopen(sv[0], "x"), EINVAL);
	assert_fails_null(weft_fdopen(sv[0], NULL), EINVAL);
	assert_fails_null(weft_fdopen(sv[0], ""), EINVAL);
	assert_fails_null(weft_fdopen(sv[0], "w"), EINVAL);     /* a read end */
	assert_fails_null(weft_fdopen(sv[0], "r+"), EINVAL);
	f = weft_fdopen(sv[1], "we");
	ck_assert_ptr_nonnull(f);
	/* Outside a task: the plain blocking calls. */
	ck_assert_int_ge(fputs("out\n", f), 0);
	ck_assert_int_eq(fclose(f), 0);
	f = weft_fdopen(sv[0], "r");
	ck_assert_ptr_nonnull(f);
	{
		char buf[16];

		ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
		ck_assert_str_eq(buf, "out\n");
		ck_assert_ptr_null(fgets(buf, sizeof(buf), f));
		ck_assert(feof(f));
	}
	ck_assert_int_eq(fclose(f), 0);
}
END_TEST

/* ---- SIGPIPE: a peer gone is EPIPE, never the end of the process ----------------- */

/* SIGPIPE has its default action (death) and is neither blocked nor
 * pending: a write that raised it would end the test process. */
static void sigpipe_default(void)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	ck_assert_int_eq(sigaction(SIGPIPE, &sa, NULL), 0);
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	ck_assert_int_eq(pthread_sigmask(SIG_UNBLOCK, &set, NULL), 0);
}

/* Afterwards: the disposition is still the default, nothing pending. */
static void assert_sigpipe_untouched(void)
{
	struct sigaction sa;
	sigset_t pending;

	ck_assert_int_eq(sigaction(SIGPIPE, NULL, &sa), 0);
	ck_assert_ptr_eq((void *)sa.sa_handler, (void *)SIG_DFL);
	ck_assert_int_eq(sigpending(&pending), 0);
	ck_assert(!sigismember(&pending, SIGPIPE));
}

/* Writes to a pipe without reader and a socket whose peer is closed;
 * arg != NULL: weft_send as well.  Returns how many gave EPIPE. */
static void *broken_writes(void *arg)
{
	int p[2], sv[2], epipe = 0;

	if (pipe(p) != 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return U2P(0);
	close(p[0]);
	close(sv[1]);
	errno = 0;
	epipe += weft_write(p[1], "x", 1) == -1 && errno == EPIPE;
	errno = 0;
	epipe += weft_write(sv[0], "x", 1) == -1 && errno == EPIPE;
	errno = 0;
	epipe += arg && weft_send(sv[0], "x", 1, 0) == -1 && errno == EPIPE;
	close(p[1]);
	close(sv[0]);
	return U2P(epipe);
}

START_TEST(writes_never_raise_sigpipe)
{
	sigpipe_default();
	/* Outside a task, then in one. */
	ck_assert_int_eq(P2U(broken_writes(U2P(1))), 3);
	assert_sigpipe_untouched();
	ck_assert_int_eq(P2U(run_task(broken_writes, U2P(1))), 3);
	assert_sigpipe_untouched();
}
END_TEST

START_TEST(sigpipe_pending_before_stays)
{
	sigset_t set, pending;
	struct timespec zero = { 0, 0 };

	sigpipe_default();
	/* The program blocked SIGPIPE and has one pending: weft's EPIPE
	 * must not take it away. */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
	ck_assert_int_eq(raise(SIGPIPE), 0);
	ck_assert_int_eq(P2U(run_task(broken_writes, NULL)), 2);
	ck_assert_int_eq(sigpending(&pending), 0);
	ck_assert(sigismember(&pending, SIGPIPE));
	ck_assert_int_eq(sigtimedwait(&set, NULL, &zero), SIGPIPE);
	ck_assert_int_eq(pthread_sigmask(SIG_UNBLOCK, &set, NULL), 0);
	assert_sigpipe_untouched();
}
END_TEST

static Suite *io_suite(void)
{
	Suite *s = suite_create("io");
	TCase *tc;

	tc = tcase_create("echo");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, echo_thousand_clients);
	tcase_add_loop_test(tc, write_16mib, 0, 2);
	tcase_add_test(tc, waits_make_no_poller_changes);
	suite_add_tcase(s, tc);

	tc = tcase_create("streams");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, pipe_short_reads_and_eof);
	tcase_add_test(tc, many_readers_one_fd);
	tcase_add_test(tc, reader_and_writer_one_fd);
	tcase_add_test(tc, connect_refused);
	tcase_add_test(tc, silent_peer_deadline);
	suite_add_tcase(s, tc);

	tc = tcase_create("close");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, close_wakes_waiters, 0, 4);
	tcase_add_loop_test(tc, fd_reuse, 0, 3);
	tcase_add_test(tc, socket_number_reused_after_plain_close);
	tcase_add_test(tc, bad_fds);
	tcase_add_test(tc, stray_fd_number_is_ebadf);
	tcase_add_test(tc, accept_out_of_descriptors_backs_off);
	suite_add_tcase(s, tc);

	tc = tcase_create("poll");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, poll_semantics);
	tcase_add_test(tc, poll_unpollable_times_out);
	tcase_add_test(tc, poll_unpollable_with_others);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, regular_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("outside");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, outside_task_posix);
	tcase_add_test(tc, nonblock_flag_and_blocking_outside);
	tcase_add_test(tc, nonblock_first_call_on_pipe);
	tcase_add_test(tc, nonblock_sockets_keep_flags);
	tcase_add_test(tc, shared_pipe_keeps_flags_in_parent);
	tcase_add_test(tc, tty_keeps_flags);
	tcase_add_test(tc, pipe_number_reused_by_socket);
	tcase_add_test(tc, writes_never_raise_sigpipe);
	tcase_add_test(tc, readv_writev_whole);
	tcase_add_test(tc, readv_writev_many_and_errors);
	tcase_add_test(tc, readv_writev_regular_file);
	tcase_add_test(tc, udp_recvfrom_sendto);
	tcase_add_test(tc, sendmsg_passes_descriptor);
	tcase_add_test(tc, waitpid_parks_only_the_task);
	tcase_add_test(tc, waitpid_deadline_and_errors);
	tcase_add_test(tc, sigwait_parks_only_the_task);
	tcase_add_test(tc, fdopen_lines_over_socket);
	tcase_add_test(tc, sigpipe_pending_before_stays);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(io_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

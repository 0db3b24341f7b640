/*
 * libweft-hook: plain libc calls made in tasks park only the task, and
 * every promise of libc is kept.  This program is linked with
 * libweft-hook (the linked form); one test runs tests/hook_child, linked
 * with libweft alone, under LD_PRELOAD (the preload form).
 */
#include "config.h"

#include <check.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "weft.h"
#include "test_util.h"

/* ---- helpers ---------------------------------------------------------------- */

/* A task that counts while others wait: proof that a wait parked only
 * its task.  It stops when *stop is set. */
struct ticker {
	weft_task *task;
	volatile int stop;
	long ticks;
};

static void *tick(void *arg)
{
	struct ticker *t = arg;

	while (!t->stop) {
		t->ticks++;
		weft_sleep(1);
	}
	return NULL;
}

static void ticker_start(struct ticker *t)
{
	memset(t, 0, sizeof(*t));
	t->task = weft_spawn(tick, t);
	ck_assert_ptr_nonnull(t->task);
}

static long ticker_stop(struct ticker *t)
{
	t->stop = 1;
	ck_assert_int_eq(weft_join(t->task, NULL), 0);
	return t->ticks;
}

/* Run fn(arg) in a task and wait for it. */
static void run_in_task(void *(*fn)(void *), void *arg)
{
	weft_task *t;

	ck_assert_ptr_nonnull(t = weft_spawn(fn, arg));
	ck_assert_int_eq(weft_join(t, NULL), 0);
}

/* The kernel's own flags, past the hook's fcntl. */
static int kernel_flags(int fd)
{
	return (int)syscall(SYS_fcntl, fd, F_GETFL, 0);
}

static double secs_since(int64_t start)
{
	return (double)(weft_now() - start) / 1e9;
}

/* ---- sleeping --------------------------------------------------------------- */

static void *usleep_task(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)usleep(200 * 1000);
}

START_TEST(usleep_200_tasks_in_parallel)
{
	weft_task *t[200];
	int64_t start = weft_now();
	void *r;
	int i;

	for (i = 0; i < 200; i++)
		ck_assert_ptr_nonnull(t[i] = weft_spawn(usleep_task, NULL));
	for (i = 0; i < 200; i++) {
		ck_assert_int_eq(weft_join(t[i], &r), 0);
		ck_assert_int_eq((int)(intptr_t)r, 0);
	}
	/* 200 sleeps of 0.2 s one after another would be 40 s. */
	ck_assert_double_ge(secs_since(start), 0.2);
	ck_assert_double_lt(secs_since(start), 2.0 * (double)slow_factor());
}
END_TEST

static void *sleeps_task(void *arg)
{
	struct timespec req = { 0, 30 * 1000000 }, rem, abs;
	int64_t start;

	(void)arg;
	start = weft_now();
	ck_assert_int_eq(nanosleep(&req, &rem), 0);
	ck_assert_int_eq(clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &abs);
	abs.tv_nsec += 30 * 1000000;
	if (abs.tv_nsec >= 1000000000) {
		abs.tv_sec++;
		abs.tv_nsec -= 1000000000;
	}
	ck_assert_int_eq(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs,
	    NULL), 0);
	ck_assert_uint_eq(sleep(0), 0);
	ck_assert_int_ge(weft_now() - start, 90 * MS_NS);
	/* Bad arguments as libc reports them. */
	req.tv_nsec = 1000000000;
	errno = 0;
	ck_assert_int_eq(nanosleep(&req, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL),
	    EINVAL);
	ck_assert_int_eq(errno, 0);
	return NULL;
}

START_TEST(every_sleep_parks_and_checks_its_arguments)
{
	struct ticker tk;

	ticker_start(&tk);
	run_in_task(sleeps_task, NULL);
	/* The ticker ran through the 90 ms of sleeps. */
	ck_assert_int_gt(ticker_stop(&tk), 10);
}
END_TEST

/* ---- pipes ------------------------------------------------------------------- */

struct pipe_pair {
	int fd[2];
	volatile int reader_waiting;
	char got[16];
};

static void *pipe_reader(void *arg)
{
	struct pipe_pair *p = arg;

	p->reader_waiting = 1;
	return (void *)read(p->fd[0], p->got, sizeof(p->got));
}

static void *pipe_writer(void *arg)
{
	struct pipe_pair *p = arg;

	/* The reader is parked in read() before anything is written. */
	ck_assert_int_eq(p->reader_waiting, 1);
	usleep(20 * 1000);
	return (void *)write(p->fd[1], "hello", 5);
}

START_TEST(blocking_pipe_read_served_by_a_writer_task)
{
	struct pipe_pair p;
	weft_task *r, *w;
	void *n;

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(pipe(p.fd), 0);
	ck_assert_ptr_nonnull(r = weft_spawn(pipe_reader, &p));
	ck_assert_ptr_nonnull(w = weft_spawn(pipe_writer, &p));
	ck_assert_int_eq(weft_join(r, &n), 0);
	ck_assert_int_eq((int)(intptr_t)n, 5);
	ck_assert_int_eq(memcmp(p.got, "hello", 5), 0);
	ck_assert_int_eq(weft_join(w, &n), 0);
	ck_assert_int_eq((int)(intptr_t)n, 5);
	/* The pipe is shared with no one, yet weft left its flags alone. */
	ck_assert_int_eq(kernel_flags(p.fd[0]) & O_NONBLOCK, 0);
	close(p.fd[0]);
	close(p.fd[1]);
}
END_TEST

/* ---- poll and select ------------------------------------------------------- */

static void *poll_task(void *arg)
{
	int *fd = arg;
	struct pollfd p = { .fd = fd[0], .events = POLLIN };
	struct timeval tv = { 0, 80 * 1000 };
	int64_t start = weft_now();
	fd_set rd;

	/* Nothing to read: each times out after its time. */
	ck_assert_int_eq(poll(&p, 1, 80), 0);
	ck_assert_int_ge(weft_now() - start, 80 * MS_NS);
	FD_ZERO(&rd);
	FD_SET(fd[0], &rd);
	start = weft_now();
	ck_assert_int_eq(select(fd[0] + 1, &rd, NULL, NULL, &tv), 0);
	ck_assert_int_ge(weft_now() - start, 80 * MS_NS);
	ck_assert(!FD_ISSET(fd[0], &rd));
	/* Readable now: both say so. */
	ck_assert_int_eq(write(fd[1], "x", 1), 1);
	ck_assert_int_eq(poll(&p, 1, -1), 1);
	ck_assert(p.revents & POLLIN);
	FD_SET(fd[0], &rd);
	tv.tv_sec = 5;
	ck_assert_int_eq(select(fd[0] + 1, &rd, NULL, NULL, &tv), 1);
	ck_assert(FD_ISSET(fd[0], &rd));
	/* Linux leaves the time not slept. */
	ck_assert_int_ge(tv.tv_sec, 4);
	return NULL;
}

START_TEST(poll_and_select_time_out_while_others_run)
{
	struct ticker tk;
	int fd[2];

	ck_assert_int_eq(pipe(fd), 0);
	ticker_start(&tk);
	run_in_task(poll_task, fd);
	ck_assert_int_gt(ticker_stop(&tk), 10);
	close(fd[0]);
	close(fd[1]);
}
END_TEST

struct zero_poll {
	struct ticker *tk;
	long before, after;
};

static void *zero_poll_task(void *arg)
{
	struct zero_poll *z = arg;
	struct pollfd p = { .fd = 0, .events = 0 };
	struct timeval tv = { 0, 0 };
	int i;

	z->before = z->tk->ticks;
	for (i = 0; i < 100; i++) {
		ck_assert_int_ge(poll(&p, 1, 0), 0);
		ck_assert_int_eq(select(0, NULL, NULL, NULL, &tv), 0);
	}
	z->after = z->tk->ticks;
	return NULL;
}

START_TEST(poll_and_select_with_timeout_zero_never_park)
{
	struct ticker tk;
	struct zero_poll z = { &tk, 0, 0 };

	ticker_start(&tk);
	weft_yield();
	run_in_task(zero_poll_task, &z);
	ticker_stop(&tk);
	/* No other task ran during 200 calls with a zero timeout. */
	ck_assert_int_eq(z.before, z.after);
}
END_TEST

static void *epoll_task(void *arg)
{
	int *fd = arg, ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET }, out[4];
	int64_t start = weft_now();

	ck_assert_int_ge(ep, 0);
	ev.data.fd = fd[0];
	ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_ADD, fd[0], &ev), 0);
	ck_assert_int_eq(epoll_wait(ep, out, 4, 60), 0);
	ck_assert_int_ge(weft_now() - start, 60 * MS_NS);
	/* The writer task writes while this one waits. */
	ck_assert_int_eq(epoll_wait(ep, out, 4, -1), 1);
	ck_assert_int_eq(out[0].data.fd, fd[0]);
	/* Edge-triggered: the same data is not reported twice. */
	ck_assert_int_eq(epoll_wait(ep, out, 4, 30), 0);
	close(ep);
	return NULL;
}

static void *late_writer(void *arg)
{
	int *fd = arg;

	usleep(120 * 1000);
	return (void *)write(fd[1], "e", 1);
}

START_TEST(a_library_epoll_set_waits_through_weft)
{
	struct ticker tk;
	weft_task *t, *w;
	int fd[2];

	ck_assert_int_eq(pipe(fd), 0);
	ticker_start(&tk);
	ck_assert_ptr_nonnull(t = weft_spawn(epoll_task, fd));
	ck_assert_ptr_nonnull(w = weft_spawn(late_writer, fd));
	ck_assert_int_eq(weft_join(t, NULL), 0);
	ck_assert_int_eq(weft_join(w, NULL), 0);
	ck_assert_int_gt(ticker_stop(&tk), 10);
	close(fd[0]);
	close(fd[1]);
}
END_TEST

/* ---- a socket echo written with plain calls -------------------------------- */

#define ECHO_CLIENTS 20

struct echo {
	int lfd;
	uint16_t port;
	int served;
};

static void *echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[256];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		ck_assert_int_eq(send(fd, buf, (size_t)n, 0), n);
	close(fd);
	return NULL;
}

static void *echo_server(void *arg)
{
	struct echo *e = arg;
	weft_task *t[ECHO_CLIENTS];
	int i, fd;

	for (i = 0; i < ECHO_CLIENTS; i++) {
		ck_assert_int_ge(fd = accept(e->lfd, NULL, NULL), 0);
		ck_assert_ptr_nonnull(t[i] = weft_spawn(echo_conn,
		    (void *)(intptr_t)fd));
	}
	for (i = 0; i < ECHO_CLIENTS; i++)
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
	e->served = ECHO_CLIENTS;
	return NULL;
}

static void *echo_client(void *arg)
{
	struct echo *e = arg;
	struct sockaddr_in a = loopback_addr(e->port);
	char msg[64], back[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0), i;
	ssize_t n, got;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	for (i = 0; i < 50; i++) {
		n = snprintf(msg, sizeof(msg), "message %d from %d", i, fd);
		ck_assert_int_eq(send(fd, msg, (size_t)n, 0), n);
		for (got = 0; got < n; got += (ssize_t)recv(fd, back + got,
		    (size_t)(n - got), 0))
			;
		ck_assert_int_eq(memcmp(msg, back, (size_t)n), 0);
	}
	close(fd);
	return NULL;
}

START_TEST(socket_echo_with_plain_accept_recv_send)
{
	struct echo e = { 0, 0, 0 };
	weft_task *srv, *c[ECHO_CLIENTS];
	int i;

	ck_assert_int_ge(e.lfd = loopback_socket(64, &e.port), 0);
	ck_assert_ptr_nonnull(srv = weft_spawn(echo_server, &e));
	for (i = 0; i < ECHO_CLIENTS; i++)
		ck_assert_ptr_nonnull(c[i] = weft_spawn(echo_client, &e));
	for (i = 0; i < ECHO_CLIENTS; i++)
		ck_assert_int_eq(weft_join(c[i], NULL), 0);
	ck_assert_int_eq(weft_join(srv, NULL), 0);
	ck_assert_int_eq(e.served, ECHO_CLIENTS);
	/* weft made the listener non-blocking for the task that accepted;
	 * the caller, who made it blocking, still sees it blocking. */
	ck_assert(kernel_flags(e.lfd) & O_NONBLOCK);
	ck_assert_int_eq(fcntl(e.lfd, F_GETFL) & O_NONBLOCK, 0);
	close(e.lfd);
}
END_TEST

/* Outside a task, a listener weft made non-blocking still blocks. */
static void *connect_later(void *arg)
{
	struct sockaddr_in a = loopback_addr(*(uint16_t *)arg);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	usleep(100 * 1000);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return (void *)-1;
	return (void *)(intptr_t)fd;
}

static void *accept_nothing(void *arg)
{
	int lfd = *(int *)arg;

	weft_deadline_push(weft_now() + 20 * MS_NS);
	ck_assert_int_eq(accept(lfd, NULL, NULL), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	return NULL;
}

START_TEST(outside_a_task_a_listener_weft_touched_still_blocks)
{
	uint16_t port;
	int lfd = loopback_socket(8, &port), fd;
	pthread_t th;
	void *cfd;

	ck_assert_int_ge(lfd, 0);
	run_in_task(accept_nothing, &lfd);
	ck_assert(kernel_flags(lfd) & O_NONBLOCK);
	ck_assert_int_eq(pthread_create(&th, NULL, connect_later, &port), 0);
	/* Plain accept on the main stack: waits for the client, no EAGAIN. */
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pthread_join(th, &cfd), 0);
	ck_assert_int_ge((int)(intptr_t)cfd, 0);
	/* F_SETFL by the caller keeps weft's flag where weft needs it, and
	 * a caller's O_NONBLOCK becomes the caller's own. */
	ck_assert_int_eq(fcntl(lfd, F_SETFL, 0), 0);
	ck_assert(kernel_flags(lfd) & O_NONBLOCK);
	ck_assert_int_eq(fcntl(lfd, F_SETFL, O_NONBLOCK), 0);
	ck_assert(fcntl(lfd, F_GETFL) & O_NONBLOCK);
	ck_assert_int_eq(accept(lfd, NULL, NULL), -1);
	ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
	close(fd);
	close((int)(intptr_t)cfd);
	close(lfd);
}
END_TEST

/* ---- the caller's promises ------------------------------------------------- */

static void *nonblock_task(void *arg)
{
	int *sv = arg, on = 1;
	char c;

	/* The caller's O_NONBLOCK: EAGAIN at once, no park. */
	ck_assert_int_eq(read(sv[0], &c, 1), -1);
	ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
	ck_assert_int_eq(recv(sv[0], &c, 1, 0), -1);
	ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
	/* MSG_DONTWAIT on a blocking socket: the same. */
	ck_assert_int_eq(recv(sv[1], &c, 1, MSG_DONTWAIT), -1);
	ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
	/* ioctl(FIONBIO) is the caller's too. */
	ck_assert_int_eq(ioctl(sv[1], FIONBIO, &on), 0);
	ck_assert_int_eq(read(sv[1], &c, 1), -1);
	ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
	return NULL;
}

START_TEST(the_callers_nonblocking_descriptor_gets_eagain)
{
	struct ticker tk;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	ticker_start(&tk);
	weft_yield();
	run_in_task(nonblock_task, sv);
	/* Four calls that do not wait: the ticker did not get to run more
	 * than the once it was started. */
	ck_assert_int_le(ticker_stop(&tk), 2);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static void *nonblock_connect_task(void *arg)
{
	uint16_t port = *(uint16_t *)arg;
	struct sockaddr_in a = loopback_addr(port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int r, err = 0;
	socklen_t len = sizeof(err);

	ck_assert_int_ge(fd, 0);
	r = connect(fd, (struct sockaddr *)&a, sizeof(a));
	/* Linux completes a loopback connect at once or says it is under
	 * way; a blocking wait inside connect would be neither. */
	ck_assert(r == 0 || errno == EINPROGRESS);
	ck_assert_int_eq(poll(&p, 1, 5000), 1);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
	ck_assert_int_eq(err, 0);
	ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);
	return NULL;
}

START_TEST(a_nonblocking_connect_stays_nonblocking)
{
	uint16_t port;
	int lfd = loopback_socket(8, &port);

	ck_assert_int_ge(lfd, 0);
	run_in_task(nonblock_connect_task, &port);
	close(lfd);
}
END_TEST

static void *rcvtimeo_task(void *arg)
{
	int *sv = arg;
	struct timeval tv = { 0, 150 * 1000 };
	int64_t start;
	char c;

	ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)), 0);
	start = weft_now();
	ck_assert_int_eq(read(sv[0], &c, 1), -1);
	ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
	ck_assert_int_ge(weft_now() - start, 150 * MS_NS);
	ck_assert_int_lt(weft_now() - start, 150 * MS_NS + 2000 * MS_NS *
	    slow_factor());
	return NULL;
}

START_TEST(so_rcvtimeo_ends_the_wait_with_eagain)
{
	struct ticker tk;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ticker_start(&tk);
	run_in_task(rcvtimeo_task, sv);
	/* The wait parked the task: the ticker ran through it. */
	ck_assert_int_gt(ticker_stop(&tk), 20);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static void *sndtimeo_task(void *arg)
{
	int *sv = arg;
	struct timeval tv = { 0, 100 * 1000 };
	size_t len = 4 << 20;
	char *big = calloc(1, len);
	int64_t start;
	ssize_t n;

	ck_assert_ptr_nonnull(big);
	ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv,
	    sizeof(tv)), 0);
	/* Nobody reads: the buffer fills, and after 100 ms the write ends
	 * with what it moved, as libc's does. */
	start = weft_now();
	n = write(sv[0], big, len);
	ck_assert_int_gt(n, 0);
	ck_assert_int_lt(n, (ssize_t)len);
	ck_assert_int_ge(weft_now() - start, 100 * MS_NS);
	/* The buffer is still full: now nothing moves, EAGAIN. */
	ck_assert_int_eq(send(sv[0], big, len, 0), -1);
	ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
	free(big);
	return NULL;
}

START_TEST(so_sndtimeo_ends_a_full_write_with_its_count)
{
	struct ticker tk;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ticker_start(&tk);
	run_in_task(sndtimeo_task, sv);
	ck_assert_int_gt(ticker_stop(&tk), 20);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static void *waitall_reader(void *arg)
{
	int fd = *(int *)arg;
	char buf[8];

	/* Two writes of four bytes, 20 ms apart: one recv gets all eight,
	 * then the end gives what is left (0). */
	if (recv(fd, buf, sizeof(buf), MSG_WAITALL) != 8 ||
	    memcmp(buf, "abcdefgh", 8) != 0)
		return (void *)1;
	return (void *)(intptr_t)(recv(fd, buf, sizeof(buf), MSG_WAITALL) == 0 ?
	    0 : 2);
}

static void *waitall_writer(void *arg)
{
	int fd = *(int *)arg;

	if (write(fd, "abcd", 4) != 4 || usleep(20 * 1000) != 0 ||
	    write(fd, "efgh", 4) != 4)
		return (void *)1;
	shutdown(fd, SHUT_WR);
	return NULL;
}

START_TEST(recv_waitall_waits_for_the_whole_length)
{
	weft_task *r, *w;
	int sv[2];
	void *rr, *wr;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_ptr_nonnull(r = weft_spawn(waitall_reader, &sv[0]));
	ck_assert_ptr_nonnull(w = weft_spawn(waitall_writer, &sv[1]));
	ck_assert_int_eq(weft_join(r, &rr), 0);
	ck_assert_int_eq(weft_join(w, &wr), 0);
	ck_assert_ptr_null(wr);
	ck_assert_ptr_null(rr);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* ---- deadlines and cancellation -------------------------------------------- */

static void *deadline_task(void *arg)
{
	int *fd = arg;
	struct pollfd p = { .fd = fd[0], .events = POLLIN };
	char c;

	weft_deadline_push(weft_now() + 50 * MS_NS);
	ck_assert_int_eq(read(fd[0], &c, 1), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_eq(poll(&p, 1, -1), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_eq(usleep(1000 * 1000), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	return NULL;
}

static void *cancelled_task(void *arg)
{
	int *fd = arg;
	char c;

	return (void *)(intptr_t)(read(fd[0], &c, 1) == -1 ? errno : 0);
}

START_TEST(deadline_and_cancel_end_interposed_waits)
{
	weft_task *t;
	int fd[2];
	void *r;

	ck_assert_int_eq(pipe(fd), 0);
	run_in_task(deadline_task, fd);
	ck_assert_ptr_nonnull(t = weft_spawn(cancelled_task, fd));
	weft_yield();
	ck_assert_int_eq(weft_cancel(t), 0);
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_int_eq((int)(intptr_t)r, ECANCELED);
	close(fd[0]);
	close(fd[1]);
}
END_TEST

/* ---- signals ------------------------------------------------------------------ */

static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
	(void)sig;
	handled++;
}

/* Install on_usr1 for SIGUSR1 with the given flags. */
static void catch_usr1(int flags)
{
	struct sigaction sa, old;

	handled = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	/* What the caller asks is what it reads back. */
	ck_assert_int_eq(sigaction(SIGUSR1, NULL, &old), 0);
	ck_assert_ptr_eq((void *)old.sa_handler, (void *)on_usr1);
	ck_assert_int_eq(old.sa_flags & (SA_RESTART | SA_SIGINFO), flags);
}

struct kicker {
	pthread_t target;
	int ms;
	int fd;                       /* written after the signal, or -1 */
};

static void *kick(void *arg)
{
	struct kicker *k = arg;

	usleep((useconds_t)k->ms * 1000);
	pthread_kill(k->target, SIGUSR1);
	if (k->fd >= 0) {
		usleep((useconds_t)k->ms * 1000);
		if (write(k->fd, "k", 1) != 1)
			return (void *)-1;
	}
	return NULL;
}

static void *read_one(void *arg)
{
	int fd = *(int *)arg;
	char c;

	return (void *)(intptr_t)(read(fd, &c, 1) == -1 ? -errno : 1);
}

static void *sleep_long(void *arg)
{
	struct timespec req = { 10, 0 }, rem = { 0, 0 };
	long *left_ms = arg;

	if (nanosleep(&req, &rem) == 0)
		return (void *)0;
	*left_ms = rem.tv_sec * 1000 + rem.tv_nsec / 1000000;
	return (void *)(intptr_t)-errno;
}

START_TEST(a_handler_without_sa_restart_interrupts_with_eintr)
{
	struct kicker k = { pthread_self(), 80, -1 };
	pthread_t th;
	weft_task *t, *s;
	long left_ms = 0;
	int fd[2];
	void *r;

	catch_usr1(0);
	ck_assert_int_eq(pipe(fd), 0);
	ck_assert_ptr_nonnull(t = weft_spawn(read_one, &fd[0]));
	ck_assert_ptr_nonnull(s = weft_spawn(sleep_long, &left_ms));
	ck_assert_int_eq(pthread_create(&th, NULL, kick, &k), 0);
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_int_eq((int)(intptr_t)r, -EINTR);
	ck_assert_int_eq(weft_join(s, &r), 0);
	ck_assert_int_eq((int)(intptr_t)r, -EINTR);
	ck_assert_int_gt(left_ms, 5000);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(handled, 1);
	close(fd[0]);
	close(fd[1]);
}
END_TEST

START_TEST(a_handler_with_sa_restart_lets_the_read_go_on)
{
	struct kicker k = { pthread_self(), 80, -1 };
	pthread_t th;
	weft_task *t;
	int fd[2];
	void *r;

	catch_usr1(SA_RESTART);
	ck_assert_int_eq(pipe(fd), 0);
	k.fd = fd[1];
	ck_assert_ptr_nonnull(t = weft_spawn(read_one, &fd[0]));
	ck_assert_int_eq(pthread_create(&th, NULL, kick, &k), 0);
	/* The signal comes at 80 ms, the byte at 160 ms: the read gets it. */
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_int_eq((int)(intptr_t)r, 1);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(handled, 1);
	close(fd[0]);
	close(fd[1]);
}
END_TEST

/* ---- regular files and bad descriptors --------------------------------------- */

static void *file_task(void *arg)
{
	char path[] = "/tmp/weft-hook-file-XXXXXX", buf[16];
	int fd = mkstemp(path), bad = unused_fd();

	(void)arg;
	ck_assert_int_ge(fd, 0);
	unlink(path);
	/* A regular file goes to the pool, as with weft_read. */
	ck_assert_int_eq(write(fd, "on disk", 7), 7);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 7);
	ck_assert_int_eq(memcmp(buf, "on disk", 7), 0);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 0);
	close(fd);
	/* A closed or never-open descriptor: EBADF, as libc says. */
	ck_assert_int_eq(read(fd, buf, 1), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_ge(bad, 0);
	ck_assert_int_eq(write(bad, "x", 1), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(recv(bad, buf, 1, 0), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(close(bad), -1);
	ck_assert_int_eq(errno, EBADF);
	return NULL;
}

START_TEST(regular_files_and_bad_descriptors_as_libc)
{
	run_in_task(file_task, NULL);
}
END_TEST

/* ---- outside tasks, names, preload ---------------------------------------- */

START_TEST(outside_a_task_the_calls_are_libcs)
{
	int fd[2];
	char c;
	int64_t start;

	ck_assert_int_eq(pipe2(fd, O_NONBLOCK), 0);
	ck_assert_int_eq(read(fd[0], &c, 1), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(write(fd[1], "z", 1), 1);
	ck_assert_int_eq(read(fd[0], &c, 1), 1);
	ck_assert_int_eq(c, 'z');
	start = weft_now();
	ck_assert_int_eq(usleep(30 * 1000), 0);
	ck_assert_int_ge(weft_now() - start, 30 * MS_NS);
	close(fd[0]);
	close(fd[1]);
	ck_assert_int_eq(close(fd[0]), -1);
	ck_assert_int_eq(errno, EBADF);
}
END_TEST

static void *resolve_task(void *arg)
{
	struct addrinfo hints, *res = NULL;
	struct sockaddr_in a = loopback_addr(80);
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	(void)arg;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	ck_assert_int_eq(getaddrinfo("localhost", "80", &hints, &res), 0);
	ck_assert_ptr_nonnull(res);
	ck_assert_int_eq(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr,
	    htonl(INADDR_LOOPBACK));
	freeaddrinfo(res);
	ck_assert_int_eq(getnameinfo((struct sockaddr *)&a, sizeof(a), host,
	    sizeof(host), serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV),
	    0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_str_eq(serv, "80");
	return NULL;
}

START_TEST(getaddrinfo_and_getnameinfo_in_a_task)
{
	run_in_task(resolve_task, NULL);
}
END_TEST

START_TEST(the_preload_form_works_too)
{
	char out[256] = "";
	int p[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], 1);
		setenv("LD_PRELOAD", HOOK_SO, 1);
		setenv("LD_LIBRARY_PATH", HOOK_LIBDIR, 1);
		/* An ASan runtime must come first: let it be second. */
		setenv("ASAN_OPTIONS", "verify_asan_link_order=0", 1);
		execl(HOOK_CHILD, HOOK_CHILD, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
		got += n;
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	/* 100 tasks in usleep(200 ms) took about 0.2 s, not 20 s. */
	ck_assert_msg(strstr(out, "parallel ok") != NULL, "child said: %s", out);
}
END_TEST

/* ---- an unmodified library: curl_easy_perform ------------------------------- */

#define CURL_TASKS 20

/* A server on a thread of its own: each request answered after 300 ms. */
struct slow_server {
	int lfd;
	uint16_t port;
	pthread_t th;
};

static void *slow_reply(void *arg)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
	    "Connection: close\r\n\r\nok";
	int fd = (int)(intptr_t)arg;
	char buf[1024];

	if (weft_read(fd, buf, sizeof(buf)) > 0) {
		weft_sleep(300);
		weft_write(fd, reply, sizeof(reply) - 1);
	}
	weft_close(fd);
	return NULL;
}

static void *slow_server_main(void *arg)
{
	struct slow_server *s = arg;
	weft_attr attr;
	int i, fd;

	weft_attr_init(&attr);
	weft_attr_setdetached(&attr, 1);
	for (i = 0; i < CURL_TASKS; i++) {
		if ((fd = weft_accept(s->lfd, NULL, NULL)) < 0)
			break;
		weft_spawn_attr(slow_reply, (void *)(intptr_t)fd, &attr);
	}
	return NULL;
}

/* The thread's own stack waits for the acceptor, then for the detached
 * tasks still replying (weft_run is the thread's, not a task's). */
static void *server_thread(void *arg)
{
	weft_task *t = weft_spawn(slow_server_main, arg);

	if (!t || weft_join(t, NULL) != 0 || weft_run() != 0)
		return (void *)-1;
	return NULL;
}

static size_t discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

static void *curl_task(void *arg)
{
	const char *url = arg;
	CURL *h = curl_easy_init();
	long code = 0;
	CURLcode rc;

	ck_assert_ptr_nonnull(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	ck_assert_msg(rc == CURLE_OK, "curl: %s", curl_easy_strerror(rc));
	ck_assert_int_eq(code, 200);
	return NULL;
}

START_TEST(curl_easy_perform_from_20_tasks_overlaps)
{
	struct slow_server s;
	weft_task *t[CURL_TASKS];
	char url[64];
	void *r;
	int64_t start;
	int i;

	ck_assert_int_eq(curl_global_init(CURL_GLOBAL_DEFAULT), 0);
	ck_assert_int_ge(s.lfd = loopback_socket(64, &s.port), 0);
	ck_assert_int_eq(pthread_create(&s.th, NULL, server_thread, &s), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", s.port);
	start = weft_now();
	for (i = 0; i < CURL_TASKS; i++)
		ck_assert_ptr_nonnull(t[i] = weft_spawn(curl_task, url));
	for (i = 0; i < CURL_TASKS; i++)
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
	/* 20 answers of 0.3 s one after another would be 6 s. */
	ck_assert_double_ge(secs_since(start), 0.3);
	ck_assert_double_lt(secs_since(start), 2.0 * (double)slow_factor());
	ck_assert_int_eq(pthread_join(s.th, &r), 0);
	ck_assert_ptr_null(r);
	close(s.lfd);
	curl_global_cleanup();
}
END_TEST

static Suite *hook_suite(void)
{
	Suite *s = suite_create("hook");
	TCase *tc = tcase_create("hook");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, usleep_200_tasks_in_parallel);
	tcase_add_test(tc, every_sleep_parks_and_checks_its_arguments);
	tcase_add_test(tc, blocking_pipe_read_served_by_a_writer_task);
	tcase_add_test(tc, poll_and_select_time_out_while_others_run);
	tcase_add_test(tc, poll_and_select_with_timeout_zero_never_park);
	tcase_add_test(tc, a_library_epoll_set_waits_through_weft);
	tcase_add_test(tc, socket_echo_with_plain_accept_recv_send);
	tcase_add_test(tc, outside_a_task_a_listener_weft_touched_still_blocks);
	tcase_add_test(tc, the_callers_nonblocking_descriptor_gets_eagain);
	tcase_add_test(tc, a_nonblocking_connect_stays_nonblocking);
	tcase_add_test(tc, so_rcvtimeo_ends_the_wait_with_eagain);
	tcase_add_test(tc, so_sndtimeo_ends_a_full_write_with_its_count);
	tcase_add_test(tc, recv_waitall_waits_for_the_whole_length);
	tcase_add_test(tc, deadline_and_cancel_end_interposed_waits);
	tcase_add_test(tc, a_handler_without_sa_restart_interrupts_with_eintr);
	tcase_add_test(tc, a_handler_with_sa_restart_lets_the_read_go_on);
	tcase_add_test(tc, regular_files_and_bad_descriptors_as_libc);
	tcase_add_test(tc, outside_a_task_the_calls_are_libcs);
	tcase_add_test(tc, getaddrinfo_and_getnameinfo_in_a_task);
	tcase_add_test(tc, the_preload_form_works_too);
	tcase_add_test(tc, curl_easy_perform_from_20_tasks_overlaps);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hook_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

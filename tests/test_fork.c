/*
 * fork(2) with a runtime: the child gets a runtime of its own (poller,
 * eventfd, pool, fetch driver made anew at their next use) holding only
 * the forking context, and the parent goes on unaffected.
 *
 * Children report through a pipe and end with _exit (or, after a fork in
 * a task, by that task returning), so no Check machinery runs in them.
 * The "parent unaffected" checks make both processes wait in their pollers
 * at the same time: a shared epoll instance would let the child take the
 * parent's one-shot events, and the parent's round trips would then stall
 * until their deadline.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft.h"
#include "http_server.h"
#include "test_util.h"

#define ROUND_TRIPS 300
#define CHILD_BUSY_MS 300

/* What a child writes to its report pipe; 0 for "no such step". */
struct report {
	int join_gone;          /* errno of weft_join on a task left behind */
	int cancel_gone;        /* errno of weft_cancel on one */
	int sleep_rc;
	int pipe_rc;            /* 0: a pipe read back through new tasks */
	long blocking;          /* weft_blocking's result */
	uint64_t live;          /* weft_stats' tasks_live */
	int joined_done;        /* result of joining a task finished before */
	int run_rc;             /* weft_run in the child */
	long fetch_status;
	int main_resumed;       /* set when main runs on in the child */
};

static int g_report[2];
static pid_t g_parent;

static void send_report(const struct report *r)
{
	ssize_t n = write(g_report[1], r, sizeof(*r));

	(void)n;
}

/* The parent's report: the child's, or a zeroed one with ok = 0. */
static int read_report(struct report *r)
{
	ssize_t n;

	memset(r, 0, sizeof(*r));
	close(g_report[1]);
	n = read(g_report[0], r, sizeof(*r));
	close(g_report[0]);
	return n == (ssize_t)sizeof(*r);
}

/*
 * A child that ends by exit(3) leaves at once with the same status, before
 * LeakSanitizer's check: that check cannot see main's stack while a task's
 * runs, nor suspend the threads the parent had, and reports false leaks.
 */
static void exit_now(int status, void *arg)
{
	(void)arg;
	_exit(status);
}

static void child_quiet_exit(void)
{
	on_exit(exit_now, NULL);
}

static void open_report(void)
{
	ck_assert_int_eq(pipe(g_report), 0);
	g_parent = getpid();
}

/* The child's exit status, or -1 if it did not exit normally. */
static int reap_child(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The child exited 0 and reported: the tasks left behind are invalid
 * handles, and sleep, I/O and the pool work with `live` tasks alive. */
static void assert_child(pid_t pid, struct report *r, uint64_t live)
{
	ck_assert_int_eq(reap_child(pid), 0);
	ck_assert_msg(read_report(r), "no report from the child");
	ck_assert_int_eq(r->join_gone, EINVAL);
	ck_assert_int_eq(r->cancel_gone, EINVAL);
	ck_assert_int_eq(r->sleep_rc, 0);
	ck_assert_int_eq(r->pipe_rc, 0);
	ck_assert_int_eq(r->blocking, 42);
	ck_assert_uint_eq(r->live, live);
}

static void *sleep_long(void *arg)
{
	(void)arg;
	return U2P(weft_sleep(60000) == -1 ? errno : 0);
}

static void *read_one(void *arg)
{
	char c;

	return U2P(weft_read((int)P2U(arg), &c, 1) == 1 ? c : -errno);
}

static void *write_x(void *arg)
{
	return U2P(weft_write((int)P2U(arg), "x", 1) == 1);
}

static void *forty_two(void *arg)
{
	(void)arg;
	return U2P(42);
}

/* weft_blocking(forty_two)'s result, or -errno. */
static long blocking_42(void)
{
	void *res = NULL;

	if (weft_blocking(forty_two, NULL, &res) != 0)
		return -errno;
	return (long)P2U(res);
}

/* tasks_live without Check (for children); UINT64_MAX on failure. */
static uint64_t live_now(void)
{
	struct weft_stats st;

	return weft_stats(&st) == 0 ? st.tasks_live : UINT64_MAX;
}

/* A pipe read back through a writer task; 0, or an errno. */
static int pipe_round(void)
{
	int p[2], rc = 0;
	char c = 0;
	weft_task *w;

	if (pipe(p) != 0)
		return errno;
	if (!(w = weft_spawn(write_x, U2P(p[1]))))
		rc = errno;
	else if (weft_read(p[0], &c, 1) != 1 || c != 'x')
		rc = errno ? errno : EIO;
	if (w && weft_join(w, NULL) != 0)
		rc = errno;
	close(p[0]);
	close(p[1]);
	return rc;
}

static void *pipe_round_fn(void *arg)
{
	(void)arg;
	return U2P(pipe_round());
}

/* pipe_round in a task of its own (from main, where a read blocks the
 * thread); 0 or an errno. */
static int pipe_round_in_task(void)
{
	weft_task *t = weft_spawn(pipe_round_fn, NULL);
	void *res = NULL;

	if (!t || weft_join(t, &res) != 0)
		return errno;
	return (int)P2U(res);
}

/* Keep the child's loop in its poller for a while, as the parent's is. */
static void child_busy(void)
{
	int p[2];
	struct pollfd pfd;
	int64_t until = weft_now() + (int64_t)CHILD_BUSY_MS * MS_NS;

	if (pipe(p) != 0)
		return;
	pfd.fd = p[0];
	pfd.events = POLLIN;
	while (weft_now() < until)
		weft_poll(&pfd, 1, 5);
	close(p[0]);
	close(p[1]);
}

/* A ping-pong partner: echoes ROUND_TRIPS bytes from fds[0] to fds[1]. */
static void *echo_bytes(void *arg)
{
	int *fds = arg, i;
	char c;

	for (i = 0; i < ROUND_TRIPS; i++)
		if (weft_read(fds[0], &c, 1) != 1 || weft_write(fds[1], &c, 1) != 1)
			return U2P(errno ? errno : EIO);
	return U2P(0);
}

/* ROUND_TRIPS byte round trips through an echo task; 0 or an errno. */
static int round_trips(void)
{
	int a[2], b[2], fds[2], i, rc = 0;
	weft_task *echo;
	void *r = NULL;
	char c;

	ck_assert_int_eq(pipe(a), 0);
	ck_assert_int_eq(pipe(b), 0);
	fds[0] = a[0];
	fds[1] = b[1];
	echo = weft_spawn(echo_bytes, fds);
	if (!echo)
		return errno;
	for (i = 0; i < ROUND_TRIPS && !rc; i++)
		if (weft_write(a[1], "p", 1) != 1 || weft_read(b[0], &c, 1) != 1)
			rc = errno ? errno : EIO;
	if (rc)
		weft_cancel(echo);
	if (weft_join(echo, &r) != 0 || (!rc && P2U(r) != 0))
		rc = rc ? rc : (int)P2U(r);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	return rc;
}

/* ---- fork in a task --------------------------------------------------------------- */

struct forker {
	weft_task *sleeper, *reader;
	int reader_fd;          /* write end of the reader's pipe */
	int parent_rc;          /* round trips in the parent while the child runs */
};

static void *forker_task(void *arg)
{
	struct forker *f = arg;
	struct report r;
	pid_t pid = fork();

	if (pid == -1)
		return U2P(-errno);
	if (pid == 0) {
		child_quiet_exit();
		memset(&r, 0, sizeof(r));
		r.join_gone = weft_join(f->sleeper, NULL) == -1 ? errno : 0;
		r.cancel_gone = weft_cancel(f->reader) == -1 ? errno : 0;
		r.sleep_rc = weft_sleep(5) == -1 ? errno : 0;
		r.pipe_rc = pipe_round();
		r.blocking = blocking_42();
		r.live = live_now();
		child_busy();
		send_report(&r);
		return NULL;    /* the child's last task: it exits 0 */
	}
	/* Parent: the child is busy in its own poller meanwhile. */
	int64_t saved = weft_deadline_push(weft_now() + 20000 * MS_NS * slow_factor());

	f->parent_rc = round_trips();
	weft_deadline_pop(saved);
	weft_write(f->reader_fd, "r", 1);
	return U2P(pid);
}

START_TEST(fork_in_task)
{
	struct forker f;
	struct report r;
	int p[2];
	void *res = NULL;
	weft_task *t;
	pid_t pid;

	open_report();
	ck_assert_int_eq(pipe(p), 0);
	memset(&f, 0, sizeof(f));
	f.reader_fd = p[1];
	f.sleeper = weft_spawn(sleep_long, NULL);
	f.reader = weft_spawn(read_one, U2P(p[0]));
	ck_assert_ptr_nonnull(f.sleeper);
	ck_assert_ptr_nonnull(f.reader);
	t = weft_spawn(forker_task, &f);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, &res), 0);
	if (getpid() != g_parent) {
		/* Main must not run on in the child. */
		memset(&r, 0, sizeof(r));
		r.main_resumed = 1;
		send_report(&r);
		_exit(3);
	}
	pid = (pid_t)(intptr_t)res;
	ck_assert_int_gt(pid, 0);
	/* The parent's own tasks are all still there. */
	ck_assert_int_eq(f.parent_rc, 0);
	ck_assert_int_eq(weft_join(f.reader, &res), 0);
	ck_assert_int_eq((intptr_t)res, 'r');
	ck_assert_int_eq(weft_cancel(f.sleeper), 0);
	ck_assert_int_eq(weft_join(f.sleeper, &res), 0);
	ck_assert_int_eq((intptr_t)res, ECANCELED);


	/* The child ran on its own runtime and exited when its task ended. */
	assert_child(pid, &r, 1);
	ck_assert_int_eq(r.main_resumed, 0);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* ---- fork in main ---------------------------------------------------------------- */

static void *let_others_run(void *arg)
{
	(void)arg;
	yield_n(3);
	return NULL;
}

START_TEST(fork_in_main)
{
	weft_task *sleeper = weft_spawn(sleep_long, NULL);
	weft_task *done = weft_spawn(forty_two, NULL);
	struct report r;
	void *res = NULL;
	pid_t pid;

	open_report();
	ck_assert_ptr_nonnull(sleeper);
	ck_assert_ptr_nonnull(done);
	run_task(let_others_run, NULL);   /* done finishes, sleeper parks */
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		memset(&r, 0, sizeof(r));
		/* A finished task's result carries over; the parked one does
		 * not exist here, so weft_run has nothing to wait for. */
		r.joined_done = weft_join(done, &res) == 0 ? (int)P2U(res) : -errno;
		r.join_gone = weft_join(sleeper, NULL) == -1 ? errno : 0;
		r.cancel_gone = weft_cancel(sleeper) == -1 ? errno : 0;
		r.run_rc = weft_run() == -1 ? errno : 0;
		r.live = live_now();
		r.sleep_rc = weft_sleep(5) == -1 ? errno : 0;
		r.pipe_rc = pipe_round_in_task();
		r.blocking = blocking_42();
		send_report(&r);
		_exit(0);
	}
	assert_child(pid, &r, 0);
	ck_assert_int_eq(r.joined_done, 42);
	ck_assert_int_eq(r.run_rc, 0);
	/* The parent still has both. */
	ck_assert_int_eq(weft_join(done, &res), 0);
	ck_assert_int_eq(P2U(res), 42);
	ck_assert_int_eq(weft_cancel(sleeper), 0);
	ck_assert_int_eq(weft_join(sleeper, &res), 0);
	ck_assert_int_eq(P2U(res), ECANCELED);
}
END_TEST

/* ---- fork on a pool thread (system(3), popen(3) in weft_blocking) ----------------- */

static void *fork_and_wait(void *arg)
{
	int status;
	pid_t pid = fork();

	(void)arg;
	if (pid == 0)
		_exit(7);
	if (pid == -1 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return U2P(-1);
	return U2P(WEXITSTATUS(status));
}

static void *blocking_fork_task(void *arg)
{
	void *res = NULL;

	(void)arg;
	if (weft_blocking(fork_and_wait, NULL, &res) != 0)
		return U2P(-2);
	/* The runtime that offloaded the fork is untouched. */
	if (weft_sleep(1) != 0 || pipe_round() != 0)
		return U2P(-3);
	return res;
}

START_TEST(fork_on_pool_thread)
{
	ck_assert_int_eq((intptr_t)run_task(blocking_fork_task, NULL), 7);
}
END_TEST

/* ---- fetch in the child ----------------------------------------------------------- */

static struct http_server_thread g_st;

/* GET path from the server thread: the status, or -errno. */
static long get_status(const char *path)
{
	char url[128];
	weft_response *res;
	const char *body;
	size_t len;
	long st;

	if (http_server_url(&g_st.srv, path, url, sizeof(url)) != 0)
		return -EINVAL;
	if (!(res = weft_fetch(url, NULL)))
		return -errno;
	st = weft_response_status(res);
	body = weft_response_body(res, &len);
	if (len != 12 || memcmp(body, "hello, weft\n", 12) != 0)
		st = -EPROTO;
	weft_response_free(res);
	return st;
}

static void *fetch_fork_task(void *arg)
{
	struct report r;
	long *parent = arg;
	pid_t pid;

	/* The fetch driver and a kept-alive connection exist before. */
	if ((parent[0] = get_status("/body")) != 200)
		return U2P(-1);
	if ((pid = fork()) == -1)
		return U2P(-errno);
	if (pid == 0) {
		child_quiet_exit();
		memset(&r, 0, sizeof(r));
		r.fetch_status = get_status("/body");
		send_report(&r);
		return NULL;
	}
	parent[1] = get_status("/body");
	return U2P(pid);
}

START_TEST(fetch_in_child)
{
	long parent[2] = { 0, 0 };
	struct report r;
	pid_t pid;

	open_report();
	ck_assert_int_eq(http_server_thread_start(&g_st), 0);
	pid = (pid_t)(intptr_t)run_task(fetch_fork_task, parent);
	if (getpid() != g_parent)
		_exit(3);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(reap_child(pid), 0);
	ck_assert_msg(read_report(&r), "no report from the child");
	ck_assert_int_eq(r.fetch_status, 200);
	ck_assert_int_eq(parent[0], 200);
	ck_assert_int_eq(parent[1], 200);
	ck_assert_int_eq(http_server_thread_stop(&g_st), 0);
	/* Two connections: the parent's, kept alive and reused, and the
	 * child's own (it never touched the parent's). */
	ck_assert_uint_eq(g_st.srv.connections, 2);
	ck_assert_uint_eq(g_st.srv.requests, 3);
}
END_TEST

/* ---- suite ------------------------------------------------------------------------ */

static Suite *fork_suite(void)
{
	Suite *s = suite_create("fork");
	TCase *tc = tcase_create("fork");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, fork_in_task);
	tcase_add_test(tc, fork_in_main);
	tcase_add_test(tc, fork_on_pool_thread);
	tcase_add_test(tc, fetch_in_child);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fork_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

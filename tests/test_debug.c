/*
 * Seeing inside a running program: weft_dump names every task, what it
 * waits for (fd, channel, mutex owner, task joined, URL...) and its
 * function in a backtrace; a signal dumps from a thread stuck in a plain
 * call; the watchdog names a task that holds its thread and only that; a
 * deadlock is reported and main's wait fails with EDEADLK; gdb's
 * commands read the tasks of a live process.
 *
 * What the environment switches on is read when libweft loads, so those
 * tests run tests/debug_child in a process of its own.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft.h"
#include "test_util.h"

/* glibc mangles the registers jmp_buf keeps: with that switch, parked
 * tasks have no backtrace. */
#ifdef WEFT_SWITCH_JMP
#define SWITCH_KEEPS_REGISTERS 0
#else
#define SWITCH_KEEPS_REGISTERS 1
#endif

/* ---- reading what a dump wrote ------------------------------------------- */

/* Everything written to fd (a memfd) so far, NUL-terminated; free it. */
static char *slurp_memfd(int fd)
{
	off_t n = lseek(fd, 0, SEEK_END);
	char *s = malloc((size_t)n + 1);

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(pread(fd, s, (size_t)n, 0), n);
	s[n] = '\0';
	return s;
}

/* The lines of the task named name, up to the next task; a copy. */
static char *task_block(const char *dump, const char *name)
{
	char key[96], *start, *end, *out;

	snprintf(key, sizeof(key), "\"%s\":", name);
	start = strstr(dump, key);
	ck_assert_msg(start != NULL, "no task \"%s\" in the dump:\n%s", name,
	    dump);
	end = strstr(start + 1, "\n  task ");
	if (!end)
		end = start + strlen(start);
	out = strndup(start, (size_t)(end - start));
	ck_assert_ptr_nonnull(out);
	return out;
}

/* Does a frame line ("    #N name+off") of block b name fn? */
static int in_backtrace(const char *b, const char *fn)
{
	const char *line = b;

	while ((line = strstr(line, "\n    #")) != NULL) {
		const char *end = strchr(line + 1, '\n');
		const char *hit = strstr(line, fn);

		if (hit && (!end || hit < end))
			return 1;
		line++;
	}
	return 0;
}

static int by_libunwind(const char *dump)
{
	return strstr(dump, "backtraces by libunwind") != NULL;
}

/* ---- the scenes: one named task parked in each kind of wait -------------- */

static weft_mutex g_mu = WEFT_MUTEX_INITIALIZER;
static weft_mutex g_cond_mu = WEFT_MUTEX_INITIALIZER;
static weft_cond g_cond;
static weft_sem g_sem;
static weft_waitgroup g_wg;
static weft_rwlock g_rw = WEFT_RWLOCK_INITIALIZER;
static weft_chan *g_full, *g_empty;
static weft_group *g_group;
static int g_pipe[2], g_full_pipe[2], g_listener, g_silent;
static weft_task *g_sleeper;
static char g_url[64];
static atomic_int g_release_offload;

static void *scene_sleep(void *a)
{
	(void)a;
	weft_sleep(60000);
	return NULL;
}

static void *scene_read(void *a)
{
	char c;

	(void)a;
	weft_read(g_pipe[0], &c, 1);
	return NULL;
}

static void *scene_write(void *a)
{
	static char big[1 << 20];

	(void)a;
	weft_write(g_full_pipe[1], big, sizeof(big));
	return NULL;
}

static void *scene_accept(void *a)
{
	(void)a;
	weft_accept(g_listener, NULL, NULL);
	return NULL;
}

static void *scene_chan_send(void *a)
{
	int x = 7;

	(void)a;
	weft_chan_send(g_full, &x);
	return NULL;
}

static void *scene_chan_recv(void *a)
{
	int x;

	(void)a;
	weft_chan_recv(g_empty, &x);
	return NULL;
}

static void *scene_mutex_holder(void *a)
{
	(void)a;
	weft_mutex_lock(&g_mu);
	weft_sleep(60000);
	weft_mutex_unlock(&g_mu);
	return NULL;
}

static void *scene_mutex(void *a)
{
	(void)a;
	if (weft_mutex_lock(&g_mu) == 0)
		weft_mutex_unlock(&g_mu);
	return NULL;
}

static void *scene_cond(void *a)
{
	(void)a;
	weft_mutex_lock(&g_cond_mu);
	weft_cond_wait(&g_cond, &g_cond_mu);
	weft_mutex_unlock(&g_cond_mu);
	return NULL;
}

static void *scene_sem(void *a)
{
	(void)a;
	weft_sem_wait(&g_sem);
	return NULL;
}

static void *scene_waitgroup(void *a)
{
	(void)a;
	weft_waitgroup_wait(&g_wg);
	return NULL;
}

static void *scene_rwlock_reader(void *a)
{
	(void)a;
	weft_rwlock_rdlock(&g_rw);
	weft_sleep(60000);
	weft_rwlock_unlock(&g_rw);
	return NULL;
}

static void *scene_rwlock(void *a)
{
	(void)a;
	if (weft_rwlock_wrlock(&g_rw) == 0)
		weft_rwlock_unlock(&g_rw);
	return NULL;
}

static void *scene_join(void *a)
{
	(void)a;
	weft_join(g_sleeper, NULL);
	return NULL;
}

static void *scene_group(void *a)
{
	(void)a;
	weft_group_next(g_group, NULL, NULL);
	return NULL;
}

static void *scene_select(void *a)
{
	struct weft_select_case c[2];
	int x;

	(void)a;
	memset(c, 0, sizeof(c));
	c[0].op = WEFT_SELECT_RECV;
	c[0].chan = g_empty;
	c[0].elem = &x;
	c[1].op = WEFT_SELECT_RECV;
	c[1].chan = g_empty;
	c[1].elem = &x;
	weft_select(c, 2, -1);
	return NULL;
}

static void *scene_fetch(void *a)
{
	weft_response *r;

	(void)a;
	r = weft_fetch(g_url, NULL);
	weft_response_free(r);
	return NULL;
}

static void *offloaded_wait(void *a)
{
	(void)a;
	while (!atomic_load(&g_release_offload))
		usleep(1000);
	return NULL;
}

static void *scene_offload(void *a)
{
	(void)a;
	weft_blocking(offloaded_wait, NULL, NULL);
	return NULL;
}

static void *scene_poll(void *a)
{
	struct pollfd p = { .fd = g_pipe[0], .events = POLLIN };

	(void)a;
	weft_poll(&p, 1, -1);
	return NULL;
}

static void *pause_300ms(void *a)
{
	(void)a;
	weft_sleep(300);
	return NULL;
}

struct scene {
	const char *name;
	void *(*fn)(void *);
	const char *fn_name;
	char want[160];               /* what the dump must say it waits for */
	weft_task *task;
};

static weft_task *spawn_named(const char *name, void *(*fn)(void *))
{
	weft_attr a;
	weft_task *t;

	weft_attr_init(&a);
	weft_attr_setname(&a, name);
	t = weft_spawn_attr(fn, NULL, &a);
	ck_assert_ptr_nonnull(t);
	return t;
}

START_TEST(dump_names_every_wait)
{
	struct scene s[] = {
		{ "sleeper", scene_sleep, "scene_sleep", "sleep,", NULL },
		{ "reader", scene_read, "scene_read", "", NULL },
		{ "writer", scene_write, "scene_write", "", NULL },
		{ "acceptor", scene_accept, "scene_accept", "", NULL },
		{ "sender", scene_chan_send, "scene_chan_send", "", NULL },
		{ "receiver", scene_chan_recv, "scene_chan_recv", "", NULL },
		{ "holder", scene_mutex_holder, "scene_mutex_holder", "sleep,",
		    NULL },
		{ "locker", scene_mutex, "scene_mutex", "", NULL },
		{ "condwaiter", scene_cond, "scene_cond", "condition variable",
		    NULL },
		{ "semwaiter", scene_sem, "scene_sem", "semaphore", NULL },
		{ "wgwaiter", scene_waitgroup, "scene_waitgroup", "wait group",
		    NULL },
		{ "rdholder", scene_rwlock_reader, "scene_rwlock_reader",
		    "sleep,", NULL },
		{ "rwwriter", scene_rwlock, "scene_rwlock", ", to write", NULL },
		{ "joiner", scene_join, "scene_join", "", NULL },
		{ "grouper", scene_group, "scene_group", "group 0x", NULL },
		{ "selector", scene_select, "scene_select",
		    "select over 2 cases", NULL },
		{ "fetcher", scene_fetch, "scene_fetch", "", NULL },
		{ "offloader", scene_offload, "scene_offload",
		    "offloaded offloaded_wait", NULL },
		{ "poller", scene_poll, "scene_poll", "poll on 1 fds", NULL },
	};
	size_t n = sizeof(s) / sizeof(s[0]), i;
	int fill = 0, mfd, x = 1;
	uint16_t port;
	char *dump;

	ck_assert_int_eq(pipe2(g_pipe, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(g_full_pipe, O_CLOEXEC | O_NONBLOCK), 0);
	while (write(g_full_pipe[1], &fill, sizeof(fill)) > 0)
		;
	g_listener = loopback_socket(4, &port);
	ck_assert_int_ge(g_listener, 0);
	/* A server that takes the connection and never answers. */
	g_silent = loopback_socket(4, &port);
	ck_assert_int_ge(g_silent, 0);
	snprintf(g_url, sizeof(g_url), "http://127.0.0.1:%u/never", port);
	g_full = weft_chan_create(sizeof(int), 1);
	g_empty = weft_chan_create(sizeof(int), 3);
	ck_assert(g_full && g_empty);
	ck_assert_int_eq(weft_chan_send(g_full, &x), 0);
	ck_assert_int_eq(weft_cond_init(&g_cond), 0);
	ck_assert_int_eq(weft_sem_init(&g_sem, 0), 0);
	ck_assert_int_eq(weft_waitgroup_init(&g_wg), 0);
	ck_assert_int_eq(weft_waitgroup_add(&g_wg, 1), 0);
	g_group = weft_group_create(0);
	ck_assert_ptr_nonnull(g_group);
	ck_assert_ptr_nonnull(weft_group_spawn(g_group, scene_sleep, NULL));
	g_sleeper = spawn_named("joined", scene_sleep);
	atomic_store(&g_release_offload, 0);

	for (i = 0; i < n; i++)
		s[i].task = spawn_named(s[i].name, s[i].fn);
	/* The waits whose words carry numbers known only now. */
	snprintf(s[1].want, sizeof(s[1].want), "read on fd %d", g_pipe[0]);
	snprintf(s[2].want, sizeof(s[2].want), "write on fd %d",
	    g_full_pipe[1]);
	snprintf(s[3].want, sizeof(s[3].want), "accept on fd %d", g_listener);
	snprintf(s[4].want, sizeof(s[4].want), "channel send on %p (length 1, "
	    "capacity 1)", (void *)g_full);
	snprintf(s[5].want, sizeof(s[5].want), "channel receive on %p "
	    "(length 0, capacity 3)", (void *)g_empty);
	snprintf(s[7].want, sizeof(s[7].want), "mutex %p, held by task %llu",
	    (void *)&g_mu, (unsigned long long)weft_task_id(s[6].task));
	snprintf(s[13].want, sizeof(s[13].want), "join of task %llu",
	    (unsigned long long)weft_task_id(g_sleeper));
	snprintf(s[16].want, sizeof(s[16].want), "fetch of %s", g_url);

	/* Let every one of them reach its wait (from main, a sleep would
	 * not run them: a join does); the fetch needs its connection made
	 * and its request sent. */
	ck_assert_int_eq(weft_join(spawn_named("pause", pause_300ms), NULL), 0);
	mfd = memfd_create("dump", MFD_CLOEXEC);
	ck_assert_int_ge(mfd, 0);
	ck_assert_int_eq(weft_dump(mfd), 0);
	dump = slurp_memfd(mfd);
	ck_assert_msg(strstr(dump, "main (the thread's own stack)") != NULL,
	    "%s", dump);
	for (i = 0; i < n; i++) {
		char *b = task_block(dump, s[i].name);

		ck_assert_msg(strstr(b, ": parked for ") != NULL,
		    "%s is not parked:\n%s", s[i].name, b);
		ck_assert_msg(strstr(b, s[i].want) != NULL,
		    "%s: wanted \"%s\" in:\n%s", s[i].name, s[i].want, b);
		ck_assert_msg(strstr(b, "spawned at ") != NULL, "%s", b);
		if (by_libunwind(dump) && SWITCH_KEEPS_REGISTERS)
			ck_assert_msg(in_backtrace(b, s[i].fn_name),
			    "%s: no %s in its backtrace:\n%s", s[i].name,
			    s[i].fn_name, b);
		free(b);
	}
	free(dump);
	close(mfd);

	/* Every wait ends with the cancellation. */
	atomic_store(&g_release_offload, 1);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(weft_cancel(s[i].task), 0);
	ck_assert_int_eq(weft_cancel(g_sleeper), 0);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(weft_join(s[i].task, NULL), 0);
	ck_assert_int_eq(weft_join(g_sleeper, NULL), 0);
	ck_assert_int_eq(weft_group_cancel(g_group), 0);
	weft_group_destroy(g_group);
	weft_chan_destroy(g_full);
	weft_chan_destroy(g_empty);
	close(g_pipe[0]);
	close(g_pipe[1]);
	close(g_full_pipe[0]);
	close(g_full_pipe[1]);
	close(g_listener);
	close(g_silent);
}
END_TEST

/*
 * libunwind is opened by the first backtrace, not at exec: a program that
 * never dumps does not load it.  Built with it, on x86-64 and in a
 * dynamically linked program, the dump then says it walked with it.
 */
START_TEST(libunwind_opened_by_the_first_dump)
{
	char *dump;
	int mfd;

	if (check_forks())
		ck_assert(!library_mapped("libunwind"));
	mfd = memfd_create("dump", MFD_CLOEXEC);
	ck_assert_int_ge(mfd, 0);
	ck_assert_int_eq(weft_dump(mfd), 0);
	dump = slurp_memfd(mfd);
#if defined(HAVE_LIBUNWIND) && defined(__x86_64__)
	ck_assert_msg(by_libunwind(dump), "%s", dump);
	ck_assert(library_mapped("libunwind"));
#else
	ck_assert_msg(strstr(dump, "backtraces by frame pointers"), "%s", dump);
#endif
	free(dump);
	close(mfd);
}
END_TEST

START_TEST(dump_bad_descriptors)
{
	int p[2];

	errno = 0;
	ck_assert_int_eq(weft_dump(-1), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	close(p[1]);
	errno = 0;
	ck_assert_int_eq(weft_dump(p[1]), -1);
	ck_assert_int_eq(errno, EBADF);
	/* A reader gone: EPIPE, and no SIGPIPE to end the process. */
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	errno = 0;
	ck_assert_int_eq(weft_dump(p[1]), -1);
	ck_assert_int_eq(errno, EPIPE);
	close(p[1]);
}
END_TEST

/* ---- deadlock, in this process ------------------------------------------- */

static weft_chan *g_dl;

static void *dl_holder(void *a)
{
	int x;

	(void)a;
	weft_mutex_lock(&g_mu);
	weft_chan_recv(g_dl, &x);
	weft_mutex_unlock(&g_mu);
	return NULL;
}

/* Runs fn with stderr in a memfd; what it wrote. */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
	int mfd = memfd_create("stderr", MFD_CLOEXEC), saved = dup(2);
	char *s;

	ck_assert(mfd >= 0 && saved >= 0);
	fflush(stderr);
	ck_assert_int_eq(dup2(mfd, 2), 2);
	fn(arg);
	fflush(stderr);
	ck_assert_int_eq(dup2(saved, 2), 2);
	close(saved);
	s = slurp_memfd(mfd);
	close(mfd);
	return s;
}

struct dl_result {
	int recv_rc, recv_err, lock_rc, lock_err;
};

static void deadlock_scene(void *arg)
{
	struct dl_result *r = arg;
	weft_task *t;
	int x;

	g_dl = weft_chan_create(sizeof(int), 0);
	ck_assert_ptr_nonnull(g_dl);
	t = spawn_named("dlholder", dl_holder);
	ck_assert_int_eq(weft_yield(), 0);
	/* Main waits on a channel nobody will send on: EDEADLK. */
	errno = 0;
	r->recv_rc = weft_chan_recv(g_dl, &x);
	r->recv_err = errno;
	/* And on the mutex the parked task holds: EDEADLK too. */
	errno = 0;
	r->lock_rc = weft_mutex_lock(&g_mu);
	r->lock_err = errno;
	/* Let the holder go. */
	ck_assert_int_eq(weft_cancel(t), 0);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	weft_chan_destroy(g_dl);
}

START_TEST(deadlock_reported_and_edeadlk)
{
	struct dl_result r;
	char *err;

	if (TEST_UNDER_TSAN) {
		/* Its own thread could still end the waits, as far as weft
		 * can tell: no deadlock is ever seen. */
		fprintf(stderr, "deadlock_reported_and_edeadlk: skipped under "
		    "ThreadSanitizer (it runs a thread of its own)\n");
		return;
	}
	err = capture_stderr(deadlock_scene, &r);

	ck_assert_int_eq(r.recv_rc, -1);
	ck_assert_int_eq(r.recv_err, EDEADLK);
	ck_assert_int_eq(r.lock_rc, -1);
	ck_assert_int_eq(r.lock_err, EDEADLK);
	ck_assert_msg(strstr(err, "all tasks are asleep") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "\"dlholder\": parked") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "channel receive") != NULL, "%s", err);
	free(err);
}
END_TEST

/* Another thread that will send is no deadlock, whatever it takes. */
static void *late_sender(void *a)
{
	int x = 42;

	(void)a;
	usleep(200 * 1000);
	weft_chan_send(g_dl, &x);
	return NULL;
}

static void other_thread_scene(void *arg)
{
	struct dl_result *r = arg;
	pthread_t th;
	int x = 0;

	g_dl = weft_chan_create(sizeof(int), 0);
	ck_assert_ptr_nonnull(g_dl);
	ck_assert_int_eq(pthread_create(&th, NULL, late_sender, NULL), 0);
	r->recv_rc = weft_chan_recv(g_dl, &x);
	r->recv_err = x;
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	weft_chan_destroy(g_dl);
}

START_TEST(other_thread_is_no_deadlock)
{
	struct dl_result r;
	char *err = capture_stderr(other_thread_scene, &r);

	ck_assert_int_eq(r.recv_rc, 0);
	ck_assert_int_eq(r.recv_err, 42);
	ck_assert_msg(strstr(err, "all tasks are asleep") == NULL, "%s", err);
	free(err);
}
END_TEST

/* A select with a descriptor case waits on the outside world: another
 * process writing later is no deadlock. */
START_TEST(select_on_descriptor_is_no_deadlock)
{
	struct weft_select_case c;
	int p[2], status;
	pid_t pid;
	char ch;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		usleep(200 * 1000);
		_exit(write(p[1], "x", 1) == 1 ? 0 : 1);
	}
	memset(&c, 0, sizeof(c));
	c.op = WEFT_SELECT_READ;
	c.fd = p[0];
	errno = 0;
	ck_assert_msg(weft_select(&c, 1, -1) == 0, "weft_select: %s",
	    strerror(errno));
	ck_assert_int_eq(read(p[0], &ch, 1), 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* ---- in a process of its own --------------------------------------------- */

struct child {
	pid_t pid;
	int out, err, in;             /* its stdout, stderr, stdin */
};

static void child_start(struct child *c, const char *mode,
    const char *const *env)
{
	int o[2], e[2], i[2];

	ck_assert(pipe2(o, O_CLOEXEC) == 0 && pipe2(e, O_CLOEXEC) == 0 &&
	    pipe2(i, O_CLOEXEC) == 0);
	c->pid = fork();
	ck_assert_int_ge(c->pid, 0);
	if (c->pid == 0) {
		dup2(i[0], 0);
		dup2(o[1], 1);
		dup2(e[1], 2);
		for (; env && *env; env += 2)
			setenv(env[0], env[1], 1);
		execl("./tests/debug_child", "debug_child", mode, (char *)NULL);
		_exit(127);
	}
	close(o[1]);
	close(e[1]);
	close(i[0]);
	c->out = o[0];
	c->err = e[0];
	c->in = i[1];
}

/* Read fd until it holds want (or ends, or 20 s pass); what came. */
static char *read_until(int fd, const char *want, char *buf, size_t size)
{
	size_t len = strlen(buf);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int64_t end = weft_now() + 20000 * MS_NS;
	ssize_t n;

	while ((!want || !strstr(buf, want)) && len + 1 < size &&
	    weft_now() < end) {
		if (poll(&p, 1, 1000) != 1)
			continue;
		if ((n = read(fd, buf + len, size - len - 1)) <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
	}
	return buf;
}

static int child_end(struct child *c)
{
	int status = -1;

	close(c->in);
	ck_assert_int_eq(waitpid(c->pid, &status, 0), c->pid);
	close(c->out);
	close(c->err);
	return status;
}

START_TEST(signal_dump_from_plain_sleep)
{
	const char *env[] = { "WEFT_DUMP_SIGNAL", "USR1", NULL };
	static char out[4096], err[65536];
	struct child c;
	int status;

	if (TEST_UNDER_TSAN) {
		/* It holds the signal until the watcher makes an
		 * intercepted call, and weft's calls are raw. */
		fprintf(stderr, "signal_dump_from_plain_sleep: skipped under "
		    "ThreadSanitizer (it defers signals)\n");
		return;
	}
	out[0] = err[0] = '\0';
	child_start(&c, "stuck", env);
	read_until(c.out, "ready", out, sizeof(out));
	ck_assert_msg(strstr(out, "ready"), "child said: %s", out);
	ck_assert_int_eq(kill(c.pid, SIGUSR1), 0);
	read_until(c.err, "end of weft dump", err, sizeof(err));
	ck_assert_msg(strstr(err, "weft dump on a signal"), "%s", err);
	ck_assert_msg(strstr(err, "task 1 \"stuck\": running"), "%s", err);
	ck_assert_msg(strstr(err, "\"ticker\": "), "%s", err);
	/* And it went on: the plain sleep(2) ran to its end. */
	read_until(c.out, "went on", out, sizeof(out));
	ck_assert_msg(strstr(out, "slept 2 went on"), "child said: %s", out);
	status = child_end(&c);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "status %#x", status);
}
END_TEST

START_TEST(watchdog_names_the_hog)
{
	const char *env[] = { "WEFT_WATCHDOG_MS", "100", NULL };
	static char out[256], err[8192];
	struct child c;
	int status;

	out[0] = err[0] = '\0';
	child_start(&c, "hog", env);
	read_until(c.out, "done", out, sizeof(out));
	read_until(c.err, NULL, err, sizeof(err));
	status = child_end(&c);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "status %#x", status);
	ck_assert_msg(strstr(err, "weft watchdog: task 1 \"hog\" has held"),
	    "%s", err);
	ck_assert_msg(strstr(err, "compute_without_parking"), "%s", err);
	ck_assert_msg(!strstr(err, "ThreadSanitizer"), "%s", err);
	/* Once per episode. */
	ck_assert_ptr_null(strstr(strstr(err, "weft watchdog") + 1,
	    "weft watchdog"));
}
END_TEST

/* A task stuck in a plain blocking call: the watchdog names the call
 * and leaves it alone (the sleep runs its whole 2 s). */
START_TEST(watchdog_names_a_blocking_call)
{
	const char *env[] = { "WEFT_WATCHDOG_MS", "100", NULL };
	static char out[256], err[8192];
	struct child c;
	int status;

	out[0] = err[0] = '\0';
	child_start(&c, "stuck", env);
	read_until(c.out, "went on", out, sizeof(out));
	read_until(c.err, NULL, err, sizeof(err));
	status = child_end(&c);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "status %#x", status);
	ck_assert_msg(strstr(out, "slept 2 went on"), "child said: %s", out);
	ck_assert_msg(strstr(err, "weft watchdog: task 1 \"stuck\" has held"),
	    "%s", err);
	ck_assert_msg(strstr(err, "sleep"), "%s", err);
	ck_assert_msg(!strstr(err, "ThreadSanitizer"), "%s", err);
	if (strstr(err, "#0 ") && !strstr(err, "(the thread did not answer)"))
		ck_assert_msg(strstr(err, "stuck_in_plain_sleep"), "%s", err);
}
END_TEST

START_TEST(watchdog_silent_for_polite_tasks)
{
	const char *env[] = { "WEFT_WATCHDOG_MS", "100", NULL };
	static char out[256], err[8192];
	struct child c;
	int status;

	out[0] = err[0] = '\0';
	child_start(&c, "polite", env);
	read_until(c.out, "done", out, sizeof(out));
	read_until(c.err, NULL, err, sizeof(err));
	status = child_end(&c);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "status %#x", status);
	ck_assert_msg(strstr(out, "done"), "%s", out);
	ck_assert_msg(!strstr(err, "weft watchdog"), "%s", err);
}
END_TEST

START_TEST(deadlock_report_switch)
{
	const char *off[] = { "WEFT_DEADLOCK_REPORT", "0", NULL };
	static char out[256], err[8192];
	struct child c;

	out[0] = err[0] = '\0';
	child_start(&c, "deadlock", NULL);
	read_until(c.out, "main:", out, sizeof(out));
	read_until(c.err, NULL, err, sizeof(err));
	child_end(&c);
	ck_assert_msg(strstr(out, "main: EDEADLK"), "%s", out);
	ck_assert_msg(strstr(err, "all tasks are asleep"), "%s", err);
	ck_assert_msg(strstr(err, "\"waiter\": parked"), "%s", err);

	out[0] = err[0] = '\0';
	child_start(&c, "deadlock", off);
	read_until(c.out, "main:", out, sizeof(out));
	read_until(c.err, NULL, err, sizeof(err));
	child_end(&c);
	ck_assert_msg(strstr(out, "main: EDEADLK"), "%s", out);
	ck_assert_msg(!strstr(err, "all tasks are asleep"), "%s", err);
}
END_TEST

START_TEST(gdb_commands_on_a_live_process)
{
	static char out[256], gout[65536];
	const char *srcdir = getenv("srcdir");
	char cmd[1024];
	struct child c;
	FILE *g;
	size_t n;

	if (system("gdb --version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "gdb_commands_on_a_live_process: skipped, "
		    "gdb is not installed\n");
		return;
	}
	out[0] = '\0';
	child_start(&c, "parked", NULL);
	read_until(c.out, "ready", out, sizeof(out));
	ck_assert_msg(strstr(out, "ready"), "%s", out);
	snprintf(cmd, sizeof(cmd), "gdb -nx -q -batch -p %d "
	    "-x %s/share/weft-gdb.py -ex 'info weft-tasks' -ex 'weft-bt 3' "
	    "-ex 'weft-bt 1' 2>&1", (int)c.pid, srcdir ? srcdir : ".");
	g = popen(cmd, "r");
	ck_assert_ptr_nonnull(g);
	n = fread(gout, 1, sizeof(gout) - 1, g);
	gout[n] = '\0';
	pclose(g);
	child_end(&c);
	if (strstr(gout, "ptrace: Operation not permitted")) {
		fprintf(stderr, "gdb_commands_on_a_live_process: skipped, "
		    "ptrace is not permitted here\n");
		return;
	}
	ck_assert_msg(strstr(gout, "task 1 \"holder\": parked for"), "%s",
	    gout);
	ck_assert_msg(strstr(gout, "task 2 \"waiter\": parked for"), "%s",
	    gout);
	ck_assert_msg(strstr(gout, "mutex 0x"), "%s", gout);
	ck_assert_msg(strstr(gout, "held by task 1"), "%s", gout);
	ck_assert_msg(strstr(gout, "task 3 \"reader\": parked for"), "%s",
	    gout);
	ck_assert_msg(strstr(gout, "runs reads_the_pipe"), "%s", gout);
	/* weft-bt 3, then weft-bt 1: their own functions (the jmp switch
	 * keeps no registers a debugger can read). */
	if (SWITCH_KEEPS_REGISTERS) {
		ck_assert_msg(strstr(gout, " in reads_the_pipe "), "%s", gout);
		ck_assert_msg(strstr(gout, " in holds_mutex_wants_channel "),
		    "%s", gout);
	} else {
		ck_assert_msg(strstr(gout, "has no saved registers"), "%s",
		    gout);
	}
}
END_TEST

/*
 * The same commands on a core file taken with gcore.  gdb 13's gcore
 * cannot read through Linux 6.13's guard regions and leaves the stacks
 * out: the child makes PROT_NONE guard pages instead.
 */
START_TEST(gdb_commands_on_a_core_file)
{
	const char *env[] = { "WEFT_GUARD_REGIONS", "0", NULL };
	static char out[256], gout[65536];
	const char *srcdir = getenv("srcdir");
	char cmd[1024], exe[512], core[128];
	struct child c;
	ssize_t len;
	FILE *g;
	size_t n;

	if (TEST_UNDER_ASAN || TEST_UNDER_TSAN) {
		/* Their shadow memory makes gcore's core useless to gdb. */
		fprintf(stderr, "gdb_commands_on_a_core_file: skipped under "
		    "a sanitizer\n");
		return;
	}
	if (system("gdb --version >/dev/null 2>&1") != 0 ||
	    system("command -v gcore >/dev/null 2>&1") != 0) {
		fprintf(stderr, "gdb_commands_on_a_core_file: skipped, gdb or "
		    "gcore is not installed\n");
		return;
	}
	out[0] = '\0';
	child_start(&c, "parked", env);
	read_until(c.out, "ready", out, sizeof(out));
	ck_assert_msg(strstr(out, "ready"), "%s", out);
	snprintf(cmd, sizeof(cmd), "/proc/%d/exe", (int)c.pid);
	len = readlink(cmd, exe, sizeof(exe) - 1);
	ck_assert_int_gt(len, 0);
	exe[len] = '\0';
	snprintf(core, sizeof(core), "/tmp/weft-test-core-%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "gcore -o %s %d >/dev/null 2>&1", core,
	    (int)c.pid);
	n = (size_t)system(cmd);
	child_end(&c);
	snprintf(cmd, sizeof(cmd), "%s.%d", core, (int)c.pid);
	if (n != 0 || access(cmd, R_OK) != 0) {
		unlink(cmd);
		fprintf(stderr, "gdb_commands_on_a_core_file: skipped, gcore "
		    "could not take a core here\n");
		return;
	}
	snprintf(cmd, sizeof(cmd), "gdb -nx -q -batch %s %s.%d "
	    "-x %s/share/weft-gdb.py -ex 'info weft-tasks' -ex 'weft-bt 2' "
	    "2>&1", exe, core, (int)c.pid, srcdir ? srcdir : ".");
	g = popen(cmd, "r");
	ck_assert_ptr_nonnull(g);
	n = fread(gout, 1, sizeof(gout) - 1, g);
	gout[n] = '\0';
	pclose(g);
	snprintf(cmd, sizeof(cmd), "%s.%d", core, (int)c.pid);
	unlink(cmd);
	ck_assert_msg(strstr(gout, "task 2 \"waiter\": parked for"), "%s",
	    gout);
	ck_assert_msg(strstr(gout, "held by task 1"), "%s", gout);
	ck_assert_msg(strstr(gout, "runs wants_mutex"), "%s", gout);
	if (SWITCH_KEEPS_REGISTERS)
		ck_assert_msg(strstr(gout, " in wants_mutex "), "%s", gout);
}
END_TEST

static Suite *debug_suite(void)
{
	Suite *s = suite_create("debug");
	TCase *tc = tcase_create("dump");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, dump_names_every_wait);
	tcase_add_test(tc, dump_bad_descriptors);
	tcase_add_test(tc, libunwind_opened_by_the_first_dump);
	tcase_add_test(tc, deadlock_reported_and_edeadlk);
	tcase_add_test(tc, other_thread_is_no_deadlock);
	tcase_add_test(tc, select_on_descriptor_is_no_deadlock);
	suite_add_tcase(s, tc);

	tc = tcase_create("process");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, signal_dump_from_plain_sleep);
	tcase_add_test(tc, watchdog_names_the_hog);
	tcase_add_test(tc, watchdog_names_a_blocking_call);
	tcase_add_test(tc, watchdog_silent_for_polite_tasks);
	tcase_add_test(tc, deadlock_report_switch);
	tcase_add_test(tc, gdb_commands_on_a_live_process);
	tcase_add_test(tc, gdb_commands_on_a_core_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(debug_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * Helpers shared by the weft Check suites.  Only static inline functions, so
 * a suite that does not use one gets no unused-function warning.
 *
 * Include "config.h" before this header (for HAVE_VALGRIND_VALGRIND_H).
 */
#ifndef WEFT_TEST_UTIL_H
#define WEFT_TEST_UTIL_H

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#include "proc_util.h"

#define MS_NS ((int64_t)1000000)

/* Built with AddressSanitizer (gcc and clang spell it differently). */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_UNDER_ASAN 1
#endif
#endif
#ifndef TEST_UNDER_ASAN
#define TEST_UNDER_ASAN 0
#endif

/* Built with ThreadSanitizer, which runs a thread of its own and holds
 * signals back until its next intercepted call. */
#if defined(__SANITIZE_THREAD__)
#define TEST_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_UNDER_TSAN 1
#endif
#endif
#ifndef TEST_UNDER_TSAN
#define TEST_UNDER_TSAN 0
#endif

/* Running under Valgrind: asked by the environment or detected. */
static inline int under_valgrind(void)
{
	const char *env = getenv("WEFT_UNDER_VALGRIND");

	if (env != NULL && *env != '\0' && *env != '0')
		return 1;
#ifdef HAVE_VALGRIND_VALGRIND_H
	if (RUNNING_ON_VALGRIND)
		return 1;
#endif
	return 0;
}

/* Is a library whose path holds name mapped into this process? */
static inline int library_mapped(const char *name)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int found = 0;

	ck_assert_ptr_nonnull(f);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, name) != NULL;
	fclose(f);
	return found;
}

/* Check runs each test in its own process unless CK_FORK=no. */
static inline int check_forks(void)
{
	const char *env = getenv("CK_FORK");

	return !(env != NULL && strcmp(env, "no") == 0);
}

/* ---- file descriptors and loopback sockets (I/O suites) ----------------- */

/*
 * Raise RLIMIT_NOFILE's soft limit to the hard limit; returns the soft
 * limit now in force (or -1).
 */
static inline long raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) != 0)
			return -1;
	}
	return rl.rlim_cur > (rlim_t)0x7fffffff ? 0x7fffffffL : (long)rl.rlim_cur;
}

/* 127.0.0.1:port (port in host order). */
static inline struct sockaddr_in loopback_addr(uint16_t port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* The local port (host order) a socket is bound to; 0 on error. */
static inline uint16_t local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	if (getsockname(fd, (struct sockaddr *)&a, &len) != 0 || a.sin_family != AF_INET)
		return 0;
	return ntohs(a.sin_port);
}

/*
 * A TCP socket bound to 127.0.0.1 on an ephemeral port, listening with
 * `backlog` unless backlog < 0 (then bound only: connections to it are
 * refused).  Stores the port; returns the fd or -1.
 */
static inline int loopback_socket(int backlog, uint16_t *port)
{
	struct sockaddr_in a = loopback_addr(0);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    (backlog >= 0 && listen(fd, backlog) != 0) ||
	    (*port = local_port(fd)) == 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Is fd an open descriptor? */
static inline int fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

/* Does fd have O_NONBLOCK set (0 also when fd is not open)? */
static inline int fd_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl != -1 && (fl & O_NONBLOCK) != 0;
}

/* A descriptor number that is not open (and below the fd limit). */
static inline int unused_fd(void)
{
	int fd;

	for (fd = 200; fd < 1000; fd++)
		if (!fd_is_open(fd))
			return fd;
	return -1;
}

/*
 * Generous bounds scale up under Valgrind and ASan, which slow everything
 * down; they only ever bound how long something may take, never how short.
 */
static inline int64_t slow_factor(void)
{
	return (under_valgrind() || TEST_UNDER_ASAN) ? 4 : 1;
}

/*
 * Guard regions (madvise MADV_GUARD_INSTALL, Linux 6.13): a guard page that
 * does not split the mapping.  Where the kernel has them, weft's guarded
 * stacks cost no mapping each and the guard budget is unlimited, unless
 * WEFT_GUARD_REGIONS=0 was in the environment when the process made its
 * first weft call.  This probe is the tests' own, independent of weft's.
 */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

static inline int kernel_has_guard_regions(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	int ok;

	if (p == MAP_FAILED)
		return 0;
	ok = madvise(p, page, MADV_GUARD_INSTALL) == 0;
	munmap(p, 2 * page);
	return ok;
}

/* Does this process's weft use guard regions (as far as the tests know)? */
static inline int expect_guard_regions(void)
{
	const char *env = getenv("WEFT_GUARD_REGIONS");

	if (env != NULL && strcmp(env, "0") == 0)
		return 0;
	return kernel_has_guard_regions();
}

/*
 * Make weft use PROT_NONE guard pages, two mappings per guarded stack, as
 * on kernels without guard regions.  Only works before the process's first
 * weft call, so only when each test has its own process: returns 0 (after
 * printing why) when it cannot be done.
 */
static inline int use_mprotect_guards(const char *who)
{
	if (!check_forks()) {
		printf("%s: CK_FORK=no, mapping-budget mode not testable\n", who);
		return 0;
	}
	setenv("WEFT_GUARD_REGIONS", "0", 1);
	return 1;
}

/* Number of mappings of this process (lines of /proc/self/maps). */
static inline long mapping_count(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	long n = 0;
	int c;

	if (f == NULL)
		return -1;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/*
 * `expr` must fail with -1 and errno `err`.  errno is cleared first so a
 * stale value cannot make the check pass.
 */
#define assert_fails(expr, err) do { \
	int want_ = (err); \
	errno = 0; \
	int rc_ = (expr); \
	int errno_ = errno; \
	ck_assert_msg(rc_ == -1 && errno_ == want_, \
	    "%s: expected -1 errno %d (%s), got %d errno %d (%s)", #expr, \
	    want_, strerror(want_), rc_, errno_, strerror(errno_)); \
} while (0)

/* Same for calls that return a pointer: NULL and errno `err`. */
#define assert_fails_null(expr, err) do { \
	int want_ = (err); \
	errno = 0; \
	const void *p_ = (expr); \
	int errno_ = errno; \
	ck_assert_msg(p_ == NULL && errno_ == want_, \
	    "%s: expected NULL errno %d (%s), got %p errno %d (%s)", #expr, \
	    want_, strerror(want_), p_, errno_, strerror(errno_)); \
} while (0)

/*
 * Checks made inside a task are recorded, not asserted: a failing ck_assert
 * leaves the test by exit() or longjmp(), neither of which belongs on a task
 * stack.  The test asserts task_checks_passed() once back outside the tasks.
 */
struct task_failure {
	int line;
	const char *what;
};

static inline struct task_failure *task_failure_slot(void)
{
	static struct task_failure first;

	return &first;
}

static inline void task_check_note(int ok, int line, const char *what)
{
	struct task_failure *f = task_failure_slot();

	if (!ok && f->line == 0) {
		f->line = line;
		f->what = what;
	}
}

static inline void task_checks_reset(void)
{
	struct task_failure *f = task_failure_slot();

	f->line = 0;
	f->what = NULL;
}

#define TASK_CHECK(cond) task_check_note(!!(cond), __LINE__, #cond)

#define assert_task_checks_passed() do { \
	const struct task_failure *f_ = task_failure_slot(); \
	ck_assert_msg(f_->line == 0, "check inside a task failed at line %d: %s", \
	    f_->line, f_->what ? f_->what : ""); \
} while (0)

/* A task check that the call fails with -1 and errno `err`. */
#define TASK_CHECK_FAILS(expr, err) do { \
	errno = 0; \
	int rc_ = (expr); \
	task_check_note(rc_ == -1 && errno == (err), __LINE__, \
	    #expr " fails with " #err); \
} while (0)

/* Integers carried in the void * of a task's argument or result. */
#define U2P(x) ((void *)(uintptr_t)(x))
#define P2U(p) ((uintptr_t)(p))

/* Tasks spawned and not yet reaped in the calling thread's runtime. */
static inline uint64_t live_tasks(void)
{
	struct weft_stats st;

	ck_assert_int_eq(weft_stats(&st), 0);
	return st.tasks_live;
}

/* Spawn fn(arg) from main and join it; returns its result. */
static inline void *run_task(void *(*fn)(void *), void *arg)
{
	weft_task *t = weft_spawn(fn, arg);
	void *r = U2P(0xdead);

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, &r), 0);
	return r;
}

/* Spawn fa(a) and fb(b) from main, side by side, and join both. */
static inline void run_pair(void *(*fa)(void *), void *a,
    void *(*fb)(void *), void *b)
{
	weft_task *ta = weft_spawn(fa, a), *tb = weft_spawn(fb, b);

	ck_assert_ptr_nonnull(ta);
	ck_assert_ptr_nonnull(tb);
	ck_assert_int_eq(weft_join(ta, NULL), 0);
	ck_assert_int_eq(weft_join(tb, NULL), 0);
}

/*
 * Run body(arg) while the process has no descriptor left: the soft limit
 * lowered to 64 and every free number below it taken; then everything is
 * given back.  Not under Valgrind, which keeps descriptors of its own.
 */
static inline void run_without_fds(void (*body)(void *), void *arg)
{
	struct rlimit rl, low;
	int first = -1, fd;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	low = rl;
	low.rlim_cur = 64;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		if (first < 0)
			first = fd;
	ck_assert_int_eq(errno, EMFILE);
	body(arg);
	for (fd = first; fd >= 0 && fd < 64; fd++)
		close(fd);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

/* Inside a task: yield n times, noting any failure. */
static inline void yield_n(int n)
{
	while (n-- > 0)
		TASK_CHECK(weft_yield() == 0);
}

/*
 * Checks made on other OS threads: the first failing line is kept with an
 * atomic, then asserted on the test's thread after pthread_join.
 */
static atomic_int g_xfail_line __attribute__((unused));

#define XCHECK(cond) do { \
	if (!(cond)) { \
		int z_ = 0; \
		atomic_compare_exchange_strong(&g_xfail_line, &z_, __LINE__); \
	} \
} while (0)

#define assert_xchecks_passed() \
	ck_assert_msg(atomic_load(&g_xfail_line) == 0, \
	    "check on another thread failed at line %d", atomic_load(&g_xfail_line))

#endif /* WEFT_TEST_UTIL_H */

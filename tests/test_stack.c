/*
 * Stacks: custom sizes, guard policies, statistics, the stack cache, the
 * runtime settings, running out of memory, and overflow reports.
 *
 * Overflows and out-of-memory runs happen in a child process this file
 * forks itself, with the child's stderr captured through a pipe: the child
 * is expected to die (SIGABRT with a report) or to exit with a code that
 * names the first check it failed.  They are skipped under Valgrind and
 * AddressSanitizer, which own SIGSEGV and the address-space limits.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "weft.h"
#include "test_util.h"

#define KiB ((size_t)1024)

static struct weft_stats stats(void)
{
	struct weft_stats st;

	ck_assert_int_eq(weft_stats(&st), 0);
	return st;
}

static uint64_t stacks_total(void)
{
	struct weft_stats st = stats();

	return st.stacks_guarded + st.stacks_canary;
}

static int skip_unsafe(const char *what)
{
	if (under_valgrind() || TEST_UNDER_ASAN) {
		printf("test_stack: skipping %s under %s\n", what,
		    TEST_UNDER_ASAN ? "AddressSanitizer" : "Valgrind");
		return 1;
	}
	return 0;
}

/* ---- using the stack --------------------------------------------------- */

/*
 * Fill `len` bytes of a local array with a pattern, park a few times while
 * other tasks run, and check the pattern survived.  Returns a checksum, or
 * 0 if the memory changed under it.
 */
static __attribute__((noinline)) uintptr_t use_array(size_t len, uintptr_t seed)
{
	volatile unsigned char buf[100 * 1024];
	uintptr_t sum = 0;
	size_t i;

	if (len > sizeof(buf))
		len = sizeof(buf);
	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(seed + i * 7);
	weft_yield();
	weft_sleep(1);
	weft_yield();
	for (i = 0; i < len; i++) {
		if (buf[i] != (unsigned char)(seed + i * 7))
			return 0;
		sum += buf[i];
	}
	return sum + 1;
}

static uintptr_t expected_sum(size_t len, uintptr_t seed)
{
	uintptr_t sum = 0;
	size_t i;

	for (i = 0; i < len; i++)
		sum += (unsigned char)(seed + i * 7);
	return sum + 1;
}

static void *big_array_fn(void *arg)
{
	return U2P(use_array(100 * KiB, P2U(arg)));
}

/* 1 KiB frames, every byte written, checked on the way back up. */
static __attribute__((noinline)) uintptr_t recurse_touch(unsigned depth, uintptr_t seed)
{
	volatile unsigned char buf[1024];
	uintptr_t sum = 0;
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(seed + depth + i);
	if (depth > 0) {
		if (depth % 16 == 0)
			weft_yield();
		sum = recurse_touch(depth - 1, seed);
		if (sum == 0)
			return 0;
	}
	for (i = 0; i < sizeof(buf); i++)
		if (buf[i] != (unsigned char)(seed + depth + i))
			return 0;
	__asm__ volatile("" : : "r"(buf) : "memory");
	return sum + buf[depth % sizeof(buf)] + 1;
}

static uintptr_t recurse_expected(unsigned depth, uintptr_t seed)
{
	uintptr_t sum = 0;

	for (;;) {
		sum += (unsigned char)(seed + depth + depth % 1024) + 1;
		if (depth == 0)
			return sum;
		depth--;
	}
}

static void *recurse_fn(void *arg)
{
	return U2P(recurse_touch(150, P2U(arg)));
}

static weft_task *spawn_with(void *(*fn)(void *), void *arg, size_t size, int guard)
{
	weft_attr a;
	weft_task *t;

	ck_assert_int_eq(weft_attr_init(&a), 0);
	if (size)
		ck_assert_int_eq(weft_attr_setstacksize(&a, size), 0);
	ck_assert_int_eq(weft_attr_setguard(&a, guard), 0);
	t = weft_spawn_attr(fn, arg, &a);
	ck_assert_msg(t != NULL, "spawn (size %zu guard %d): %s", size, guard,
	    strerror(errno));
	return t;
}

START_TEST(custom_stack_sizes)
{
	static const int guards[] = { WEFT_GUARD_AUTO, WEFT_GUARD_PAGE, WEFT_GUARD_CANARY };
	weft_task *arr[3], *rec[3];
	void *r;
	int g;

	/* Three of each at once, so their stacks interleave in use. */
	for (g = 0; g < 3; g++) {
		arr[g] = spawn_with(big_array_fn, U2P(g + 1), 256 * KiB, guards[g]);
		rec[g] = spawn_with(recurse_fn, U2P(g + 11), 256 * KiB, guards[g]);
	}
	for (g = 0; g < 3; g++) {
		ck_assert_int_eq(weft_join(arr[g], &r), 0);
		ck_assert_uint_eq(P2U(r), expected_sum(100 * KiB, g + 1));
		ck_assert_int_eq(weft_join(rec[g], &r), 0);
		ck_assert_uint_eq(P2U(r), recurse_expected(150, g + 11));
	}
}
END_TEST

static __attribute__((noinline)) uintptr_t small_use(uintptr_t seed)
{
	volatile unsigned char buf[4096];
	uintptr_t sum = 0;
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(seed ^ i);
	weft_yield();
	for (i = 0; i < sizeof(buf); i++)
		sum += buf[i];
	return sum;
}

static void *small_fn(void *arg)
{
	return U2P(small_use(P2U(arg)));
}

START_TEST(smallest_stack)
{
	uintptr_t want = 0;
	weft_task *t[2];
	void *r;
	size_t i;
	int g;

	for (i = 0; i < 4096; i++)
		want += (unsigned char)(5 ^ i);
	for (g = 0; g < 2; g++)
		t[g] = spawn_with(small_fn, U2P(5), WEFT_STACK_MIN,
		    g ? WEFT_GUARD_CANARY : WEFT_GUARD_PAGE);
	for (g = 0; g < 2; g++) {
		ck_assert_int_eq(weft_join(t[g], &r), 0);
		ck_assert_uint_eq(P2U(r), want);
	}
}
END_TEST

/* The runtime default size applies to tasks spawned afterwards. */
START_TEST(runtime_stack_size)
{
	weft_task *t;
	void *r;

	ck_assert_int_eq(weft_set_stack_size(256 * KiB), 0);
	t = weft_spawn(big_array_fn, U2P(3));
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), expected_sum(100 * KiB, 3));
	/* A size that is not a page multiple is rounded, not refused. */
	ck_assert_int_eq(weft_set_stack_size(200 * KiB + 1), 0);
	t = weft_spawn(big_array_fn, U2P(4));
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), expected_sum(100 * KiB, 4));
	ck_assert_int_eq(weft_set_stack_size(WEFT_STACK_DEFAULT), 0);
}
END_TEST

START_TEST(settings_errors)
{
	assert_fails(weft_set_stack_size(0), EINVAL);
	assert_fails(weft_set_stack_size(1), EINVAL);
	assert_fails(weft_set_stack_size(WEFT_STACK_MIN - 1), EINVAL);
	ck_assert_int_eq(weft_set_stack_size(WEFT_STACK_MIN), 0);
	ck_assert_int_eq(weft_set_stack_size(WEFT_STACK_DEFAULT), 0);

	assert_fails(weft_set_guard(3), EINVAL);
	assert_fails(weft_set_guard(-1), EINVAL);
	assert_fails(weft_set_guard(7), EINVAL);
	ck_assert_int_eq(weft_set_guard(WEFT_GUARD_PAGE), 0);
	ck_assert_int_eq(weft_set_guard(WEFT_GUARD_CANARY), 0);
	ck_assert_int_eq(weft_set_guard(WEFT_GUARD_AUTO), 0);

	assert_fails(weft_stats(NULL), EINVAL);
}
END_TEST

/* ---- guard policies and statistics ----------------------------------- */

static void *park_fn(void *arg)
{
	weft_yield();
	weft_sleep(1);
	weft_yield();
	return arg;
}

/* Guarded stacks the process may map: vm.max_map_count less a quarter,
 * two mappings per stack (0 if the limit cannot be read). */
static uint64_t expected_guard_budget(void)
{
	unsigned long limit = 0;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%lu", &limit) != 1)
		limit = 0;
	fclose(f);
	return (limit - limit / 4) / 2;
}

/*
 * The guard budget as weft_stats reports it: unlimited with guard regions;
 * otherwise, since every guarded stack of this process belongs to this
 * runtime, what is left plus what is in use is the whole budget.
 */
static void assert_budget(const struct weft_stats *st)
{
	uint64_t budget = expected_guard_budget();

	if (expect_guard_regions())
		ck_assert_msg(st->guard_budget == UINT64_MAX,
		    "guard regions: budget %" PRIu64 ", expected unlimited",
		    st->guard_budget);
	else if (budget != 0)
		ck_assert_msg(st->guard_budget + st->stacks_guarded == budget,
		    "guard budget %" PRIu64 " + guarded stacks %" PRIu64
		    " != %" PRIu64, st->guard_budget, st->stacks_guarded, budget);
}

static void check_policies_and_stats(void)
{
	enum { N = 10 };
	weft_task *c[N], *p[N];
	struct weft_stats st0, st;
	void *r;
	int i;

	st0 = stats();
	assert_budget(&st0);
	for (i = 0; i < N; i++) {
		c[i] = spawn_with(park_fn, U2P(i + 100), 0, WEFT_GUARD_CANARY);
		p[i] = spawn_with(park_fn, U2P(i + 200), 0, WEFT_GUARD_PAGE);
	}
	st = stats();
	ck_assert_uint_eq(st.tasks_live, st0.tasks_live + 2 * N);
	ck_assert_uint_eq(st.tasks_spawned, st0.tasks_spawned + 2 * N);
	ck_assert_uint_ge(st.stacks_canary, N);
	ck_assert_uint_ge(st.stacks_guarded, N);
	ck_assert_uint_ge(st.arenas, 1);
	assert_budget(&st);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(weft_join(c[i], &r), 0);
		ck_assert_uint_eq(P2U(r), i + 100);
		ck_assert_int_eq(weft_join(p[i], &r), 0);
		ck_assert_uint_eq(P2U(r), i + 200);
	}
	st = stats();
	ck_assert_uint_eq(st.tasks_live, st0.tasks_live);
	ck_assert_uint_gt(st.switches, st0.switches);
	assert_budget(&st);
}

START_TEST(guard_policies_and_stats)
{
	check_policies_and_stats();
}
END_TEST

START_TEST(guard_policies_and_stats_mprotect)
{
	if (!use_mprotect_guards("test_stack"))
		return;
	check_policies_and_stats();
}
END_TEST

/* With mprotect guards and the default limit, the documented budget. */
START_TEST(default_guard_budget)
{
	struct weft_stats st;

	if (!use_mprotect_guards("test_stack"))
		return;
	if (expected_guard_budget() != 24574) {
		printf("test_stack: vm.max_map_count is not 65530; default budget not checked\n");
		return;
	}
	st = stats();
	ck_assert_uint_eq(st.guard_budget, 24574);
	ck_assert_uint_eq(st.stacks_guarded, 0);
}
END_TEST

/* Where the kernel has guard regions, guarded stacks are unlimited. */
START_TEST(guard_regions_budget)
{
	struct weft_stats st;

	if (!kernel_has_guard_regions()) {
		printf("test_stack: kernel has no guard regions; not checked\n");
		return;
	}
	if (!expect_guard_regions()) {
		printf("test_stack: WEFT_GUARD_REGIONS=0 in the environment; not checked\n");
		return;
	}
	st = stats();
	ck_assert_uint_eq(st.guard_budget, UINT64_MAX);
}
END_TEST

/* weft_set_guard changes the kind of stack later default spawns get. */
START_TEST(runtime_guard_policy)
{
	struct weft_stats st0, st;
	weft_task *t;
	void *r;

	/* Leave a guarded default stack in the cache: it must not be used. */
	t = weft_spawn(park_fn, U2P(1));
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, NULL), 0);

	ck_assert_int_eq(weft_set_guard(WEFT_GUARD_CANARY), 0);
	st0 = stats();
	t = weft_spawn(park_fn, U2P(2));
	ck_assert_ptr_nonnull(t);
	st = stats();
	ck_assert_uint_eq(st.stacks_canary, st0.stacks_canary + 1);
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), 2);

	ck_assert_int_eq(weft_set_guard(WEFT_GUARD_PAGE), 0);
	st0 = stats();
	t = weft_spawn(park_fn, U2P(3));
	ck_assert_ptr_nonnull(t);
	st = stats();
	ck_assert_uint_eq(st.stacks_canary, st0.stacks_canary);
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), 3);
	ck_assert_int_eq(weft_set_guard(WEFT_GUARD_AUTO), 0);
}
END_TEST

/* ---- the stack cache -------------------------------------------------------- */

static void *ret_fn(void *arg)
{
	return arg;
}

START_TEST(stack_reuse)
{
	uint64_t before, peak = 0;
	int i;

	/* One stack in use or cached before the loop. */
	{
		weft_task *w = weft_spawn(ret_fn, NULL);

		ck_assert_ptr_nonnull(w);
		ck_assert_int_eq(weft_join(w, NULL), 0);
	}
	before = stacks_total();
	for (i = 0; i < 1000; i++) {
		weft_task *t = weft_spawn(ret_fn, U2P(i));
		uint64_t now = stacks_total();
		void *r = NULL;

		ck_assert_ptr_nonnull(t);
		if (now > peak)
			peak = now;
		ck_assert_int_eq(weft_join(t, &r), 0);
		ck_assert_uint_eq(P2U(r), i);
	}
	ck_assert_msg(peak <= before + 1 && stacks_total() <= before + 1,
	    "1000 sequential tasks grew the stacks from %" PRIu64 " to %" PRIu64
	    " (peak %" PRIu64 ")", before, stacks_total(), peak);
	ck_assert_uint_ge(stats().stacks_cached, 1);
}
END_TEST

START_TEST(cache_is_bounded)
{
	enum { N = 200 };
	weft_task *t[N];
	struct weft_stats st;
	int i;

	for (i = 0; i < N; i++) {
		t[i] = weft_spawn(park_fn, U2P(i));
		ck_assert_ptr_nonnull(t[i]);
	}
	ck_assert_uint_ge(stacks_total(), N);
	for (i = 0; i < N; i++)
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
	st = stats();
	ck_assert_uint_le(st.stacks_cached, 64);
	ck_assert_uint_ge(st.stacks_cached, 1);
	/* No task is left: every stack still counted is a cached one. */
	ck_assert_uint_eq(st.stacks_guarded + st.stacks_canary, st.stacks_cached);
}
END_TEST

/*
 * An arena whose last stack came back rests: still mapped, so the next
 * burst of tasks reuses its pages instead of faulting in new ones, and
 * unmapped once it has rested a second (the loop looks while it waits).
 */
static void *sleep_fn(void *ms)
{
	ck_assert_int_eq(weft_sleep((int64_t)P2U(ms)), 0);
	return NULL;
}

static void spawn_park_join(int n, int guard)
{
	weft_task **t = calloc((size_t)n, sizeof(*t));
	int i;

	ck_assert_ptr_nonnull(t);
	for (i = 0; i < n; i++) {
		t[i] = spawn_with(park_fn, U2P(i), 0, guard);
		ck_assert_ptr_nonnull(t[i]);
	}
	for (i = 0; i < n; i++)
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
	free(t);
}

static void check_arenas_rest(int guard)
{
	/* More than the cache (64) and than one arena's slots (256). */
	enum { N = 1000 };
	struct weft_stats st0, st1, st2, st3;

	st0 = stats();
	spawn_park_join(N, guard);
	st1 = stats();
	ck_assert_uint_gt(st1.arenas, st0.arenas);
	ck_assert_uint_ge(st1.arenas_resting, 1);
	ck_assert_uint_le(st1.arenas_resting, st1.arenas);
	/* A second burst finds the resting arenas: no new mapping. */
	spawn_park_join(N, guard);
	st2 = stats();
	ck_assert_uint_eq(st2.arenas, st1.arenas);
	ck_assert_uint_ge(st2.arenas_resting, 1);
	/* Past a second of rest they go back to the system: main waits
	 * in the loop (its own weft_sleep would sleep the thread). */
	ck_assert_int_eq(weft_join(weft_spawn(sleep_fn, U2P(1300)), NULL), 0);
	st3 = stats();
	ck_assert_uint_eq(st3.arenas_resting, 0);
	ck_assert_uint_eq(st3.arenas, st2.arenas - st2.arenas_resting);
	/* The cached stacks keep theirs. */
	ck_assert_uint_ge(st3.arenas, 1);
	ck_assert_uint_eq(st3.stacks_cached, st2.stacks_cached);
}

START_TEST(arenas_rest_then_go)
{
	check_arenas_rest(WEFT_GUARD_PAGE);
	check_arenas_rest(WEFT_GUARD_CANARY);
}
END_TEST

/* Resident set size in bytes, from /proc/self/statm. */
static long rss_bytes(void)
{
	long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%ld %ld", &size, &resident), 2);
	fclose(f);
	return resident * sysconf(_SC_PAGESIZE);
}

static void *deep_then_park_fn(void *arg)
{
	return U2P(use_array(100 * KiB, P2U(arg)));
}

static void *yield_some_fn(void *arg)
{
	int i;

	for (i = 0; i < 10; i++)
		weft_yield();
	return arg;
}

/*
 * A stack going back to the cache gives back the pages the task used:
 * the resident size grows by much less than the 100 KiB the task touched.
 * With a companion task, the deep task's parks really switch away; alone,
 * its yields and sleep find nothing else to run.
 */
static void check_pages_given_back(int companion)
{
	weft_task *t, *c = NULL;
	long rss0, rss1;
	void *r;

	if (under_valgrind()) {
		printf("test_stack: resident size not checked under Valgrind\n");
		return;
	}
	/* Runtime, task pool, timer heap and two cached default stacks. */
	t = weft_spawn(yield_some_fn, NULL);
	c = weft_spawn(deep_then_park_fn, U2P(1));
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	ck_assert_int_eq(weft_join(c, NULL), 0);

	rss0 = rss_bytes();
	t = weft_spawn(deep_then_park_fn, U2P(9));
	ck_assert_ptr_nonnull(t);
	if (companion) {
		c = weft_spawn(yield_some_fn, U2P(2));
		ck_assert_ptr_nonnull(c);
	}
	ck_assert_int_eq(weft_join(t, &r), 0);
	ck_assert_uint_eq(P2U(r), expected_sum(100 * KiB, 9));
	if (companion)
		ck_assert_int_eq(weft_join(c, NULL), 0);
	rss1 = rss_bytes();
	ck_assert_uint_ge(stats().stacks_cached, 1);
	ck_assert_msg(rss1 - rss0 < 48 * (long)KiB,
	    "resident size grew by %ld KiB after a task that touched 100 KiB "
	    "of stack was cached (%s)", (rss1 - rss0) / (long)KiB,
	    companion ? "it switched out while deep" : "it ran alone");
}

/*
 * New stacks have their top pages committed in batches (stack.c,
 * arena_populate) that grow with the slots carved: never a whole arena
 * ahead of its tasks.  N parked tasks hold about N pages of stack, at
 * most the next batch (64) more.
 */
START_TEST(committed_pages_follow_tasks)
{
	enum { N = 100 };
	weft_task *t[N];
	long rss0, rss1, page = sysconf(_SC_PAGESIZE);
	int i;

	/* Both touch memory of their own per stack (ASan its shadow). */
	if (under_valgrind() || TEST_UNDER_ASAN) {
		printf("test_stack: resident size not checked under %s\n",
		    TEST_UNDER_ASAN ? "AddressSanitizer" : "Valgrind");
		return;
	}
	/* The runtime's own first pages: one task spawned and joined. */
	ck_assert_int_eq(weft_join(weft_spawn(park_fn, NULL), NULL), 0);
	rss0 = rss_bytes();
	for (i = 0; i < N; i++)
		ck_assert_ptr_nonnull(t[i] = spawn_with(park_fn, U2P(i), 0,
		    WEFT_GUARD_PAGE));
	rss1 = rss_bytes();
	printf("test_stack: %d new stacks: resident size +%ld pages\n", N,
	    (rss1 - rss0) / page);
	ck_assert_msg(rss1 - rss0 >= (N - 1) * page,
	    "%d new stacks, resident size +%ld pages", N, (rss1 - rss0) / page);
	/* Their tasks' records (a few hundred bytes each) come on top. */
	ck_assert_msg(rss1 - rss0 <= (N + 64 + 16) * page,
	    "%d new stacks, resident size +%ld pages: committed ahead of them",
	    N, (rss1 - rss0) / page);
	for (i = 0; i < N; i++)
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
}
END_TEST

START_TEST(cached_stack_pages_given_back)
{
	check_pages_given_back(1);
}
END_TEST

START_TEST(cached_stack_pages_given_back_alone)
{
	check_pages_given_back(0);
}
END_TEST

/* ---- child processes ---------------------------------------------------------- */

struct child_out {
	int status;
	int timed_out;
	size_t len;
	char err[16384];
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Run body(arg) in a forked child with stderr captured.  The child never
 * returns into Check: body ends with _exit or dies.  A child still alive
 * after 60 s is killed (Check's own timeout does not exist with CK_FORK=no).
 */
static void run_child(void (*body)(void *), void *arg, struct child_out *out)
{
	int64_t deadline = mono_ms() + 60000;
	int fds[2];
	pid_t pid;

	memset(out, 0, sizeof(*out));
	ck_assert_int_eq(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		close(fds[0]);
		setrlimit(RLIMIT_CORE, &no_core);
		if (dup2(fds[1], STDERR_FILENO) == -1)
			_exit(120);
		close(fds[1]);
		body(arg);
		_exit(121);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd pfd = { fds[0], POLLIN, 0 };
		int64_t left = deadline - mono_ms();
		char scratch[4096], *dst = scratch;
		size_t room = sizeof(scratch);
		ssize_t n;

		if (left <= 0) {
			kill(pid, SIGKILL);
			out->timed_out = 1;
			break;
		}
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		if (out->len + 1 < sizeof(out->err)) {
			dst = out->err + out->len;
			room = sizeof(out->err) - 1 - out->len;
		}
		n = read(fds[0], dst, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (dst != scratch)
			out->len += (size_t)n;
	}
	close(fds[0]);
	out->err[out->len] = '\0';
	while (waitpid(pid, &out->status, 0) == -1)
		ck_assert_int_eq(errno, EINTR);
	ck_assert_msg(!out->timed_out, "child timed out; its stderr:\n%s", out->err);
}

static void assert_exited_zero(const struct child_out *out)
{
	ck_assert_msg(WIFEXITED(out->status) && WEXITSTATUS(out->status) == 0,
	    "child %s %d; its stderr:\n%s",
	    WIFEXITED(out->status) ? "exited with" : "killed by signal",
	    WIFEXITED(out->status) ? WEXITSTATUS(out->status) : WTERMSIG(out->status),
	    out->err);
}

#define child_fail(code, ...) do { \
	fprintf(stderr, __VA_ARGS__); \
	fputc('\n', stderr); \
	_exit(code); \
} while (0)

/* ---- overflow ---------------------------------------------------------------- */

/*
 * Recursion that cannot become a loop: a 512-byte frame written in full,
 * then an asm statement after the call that uses the frame.
 */
static __attribute__((noinline)) int recurse_forever(int depth, int limit)
{
	volatile char buf[512];
	int r = 0;
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(depth + (int)i);
	if (limit < 0 || depth < limit)
		r = recurse_forever(depth + 1, limit);
	__asm__ volatile("" : : "r"(buf) : "memory");
	return r + buf[depth % (int)sizeof(buf)];
}

static void *deep_fn(void *arg)
{
	(void)arg;
	return U2P(recurse_forever(0, -1));
}

struct overflow_case {
	int guard;          /* attribute guard policy */
	size_t size;
};

enum { OVERFLOW_STACK = 64 * 1024 };

/* In a child: a task "deep" of that policy and size recurses without end;
 * its id goes to stderr first.  Returns only if it survives (a failure). */
static void run_deep(int guard, size_t size)
{
	weft_attr a;
	weft_task *t;

	if (weft_attr_init(&a) || (size && weft_attr_setstacksize(&a, size)) ||
	    weft_attr_setguard(&a, guard) || weft_attr_setname(&a, "deep"))
		child_fail(10, "attr setup failed: %s", strerror(errno));
	t = weft_spawn_attr(deep_fn, NULL, &a);
	if (t == NULL)
		child_fail(11, "spawn failed: %s", strerror(errno));
	fprintf(stderr, "id=%" PRIu64 "\n", weft_task_id(t));
	weft_join(t, NULL);
	child_fail(12, "survived unbounded recursion");
}

static void overflow_guard_child(void *arg)
{
	const struct overflow_case *oc = arg;

	run_deep(oc->guard, oc->size);
}

/*
 * Writes `over` bytes more than the stack holds, in one block: every byte
 * from the top of this frame down, so the canary below the stack is
 * certainly overwritten.  Then it returns, and the task switches out.
 */
static __attribute__((noinline)) int write_past_bottom(size_t bytes)
{
	volatile char block[bytes];
	size_t i;

	for (i = bytes; i-- > 0;)
		block[i] = (char)i;
	__asm__ volatile("" : : "r"(block) : "memory");
	return block[bytes / 2];
}

static void *canary_deep_fn(void *arg)
{
	size_t bytes = P2U(arg);

	write_past_bottom(bytes);
	weft_yield();                   /* the next task runs: a switch-out */
	weft_yield();
	return NULL;
}

static void *sleep_long_fn(void *arg)
{
	(void)arg;
	weft_sleep(60000);
	return NULL;
}

static void *yield_loop_fn(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 1000; i++)
		weft_yield();
	return NULL;
}

/*
 * Arena stacks sit next to each other, so writing below one lands in its
 * neighbour.  Tasks spawned before and after the deep one (same size and
 * policy) make sure the memory below it belongs to a parked task that never
 * runs again, whichever way slots are handed out.
 */
static void overflow_canary_child(void *arg)
{
	const struct overflow_case *oc = arg;
	weft_task *pad[4], *t;
	weft_attr a;
	int i;

	if (weft_attr_init(&a) || weft_attr_setstacksize(&a, oc->size) ||
	    weft_attr_setguard(&a, WEFT_GUARD_CANARY))
		child_fail(10, "attr setup failed: %s", strerror(errno));
	for (i = 0; i < 2; i++)
		if ((pad[i] = weft_spawn_attr(sleep_long_fn, NULL, &a)) == NULL)
			child_fail(11, "pad spawn failed: %s", strerror(errno));
	if (weft_attr_setname(&a, "deep"))
		child_fail(10, "setname failed: %s", strerror(errno));
	/* About 16 KiB past the bottom of a 64 KiB stack. */
	t = weft_spawn_attr(canary_deep_fn, U2P(oc->size + 16 * 1024), &a);
	if (t == NULL)
		child_fail(11, "spawn failed: %s", strerror(errno));
	if (weft_attr_setname(&a, NULL))
		child_fail(10, "setname failed: %s", strerror(errno));
	pad[2] = weft_spawn_attr(yield_loop_fn, NULL, &a);
	pad[3] = weft_spawn_attr(sleep_long_fn, NULL, &a);
	if (pad[2] == NULL || pad[3] == NULL)
		child_fail(11, "pad spawn failed: %s", strerror(errno));
	fprintf(stderr, "id=%" PRIu64 "\n", weft_task_id(t));
	weft_join(t, NULL);
	child_fail(12, "overflow of a canary stack went unnoticed");
}

/* The child died of SIGABRT after printing the report for task "deep". */
static void assert_overflow_report(const struct child_out *out, const char *how)
{
	unsigned long long id = 0;
	const char *p = strstr(out->err, "id=");
	char want[160];

	ck_assert_msg(p != NULL && sscanf(p, "id=%llu", &id) == 1 && id != 0,
	    "child printed no task id; its stderr:\n%s", out->err);
	ck_assert_msg(WIFSIGNALED(out->status) && WTERMSIG(out->status) == SIGABRT,
	    "child %s %d, expected SIGABRT; its stderr:\n%s",
	    WIFSIGNALED(out->status) ? "killed by signal" : "exited with",
	    WIFSIGNALED(out->status) ? WTERMSIG(out->status) : WEXITSTATUS(out->status),
	    out->err);
	ck_assert_msg(strstr(out->err, "overflowed") != NULL,
	    "no overflow report; stderr:\n%s", out->err);
	snprintf(want, sizeof(want), "weft: task %llu \"deep\" overflowed its %d-byte stack (%s",
	    id, OVERFLOW_STACK, how);
	ck_assert_msg(strstr(out->err, want) != NULL,
	    "expected \"%s\" in stderr:\n%s", want, out->err);
}

START_TEST(overflow_guard_page)
{
	struct overflow_case oc = { WEFT_GUARD_PAGE, OVERFLOW_STACK };
	struct child_out out;

	if (skip_unsafe("stack overflow"))
		return;
	run_child(overflow_guard_child, &oc, &out);
	assert_overflow_report(&out, "guard page hit at 0x");
}
END_TEST

/* The same with PROT_NONE guard pages where the kernel has guard regions
 * (the child's first weft call comes after the setenv). */
START_TEST(overflow_guard_page_mprotect)
{
	struct overflow_case oc = { WEFT_GUARD_PAGE, OVERFLOW_STACK };
	struct child_out out;

	if (skip_unsafe("stack overflow") || !use_mprotect_guards("test_stack"))
		return;
	run_child(overflow_guard_child, &oc, &out);
	assert_overflow_report(&out, "guard page hit at 0x");
}
END_TEST

/* The default policy gives a guarded stack while the budget lasts. */
START_TEST(overflow_default_policy)
{
	struct overflow_case oc = { WEFT_GUARD_AUTO, OVERFLOW_STACK };
	struct child_out out;

	if (skip_unsafe("stack overflow"))
		return;
	run_child(overflow_guard_child, &oc, &out);
	assert_overflow_report(&out, "guard page hit at 0x");
}
END_TEST

START_TEST(overflow_canary)
{
	struct overflow_case oc = { WEFT_GUARD_CANARY, OVERFLOW_STACK };
	struct child_out out;

	if (skip_unsafe("stack overflow"))
		return;
	run_child(overflow_canary_child, &oc, &out);
	assert_overflow_report(&out, "canary overwritten, seen at switch");
}
END_TEST

/* A stack that came out of the cache still has its guard page. */
static void overflow_cached_child(void *arg)
{
	weft_task *t;

	(void)arg;
	t = weft_spawn(ret_fn, NULL);
	if (t == NULL || weft_join(t, NULL) != 0)
		child_fail(11, "warm-up task failed: %s", strerror(errno));
	run_deep(WEFT_GUARD_AUTO, 0);
}

START_TEST(overflow_cached_stack)
{
	struct child_out out;
	unsigned long long id = 0;
	const char *p;
	char want[160];

	if (skip_unsafe("stack overflow"))
		return;
	run_child(overflow_cached_child, NULL, &out);
	p = strstr(out.err, "id=");
	ck_assert_msg(p != NULL && sscanf(p, "id=%llu", &id) == 1,
	    "no id; stderr:\n%s", out.err);
	ck_assert_msg(WIFSIGNALED(out.status) && WTERMSIG(out.status) == SIGABRT,
	    "expected SIGABRT; stderr:\n%s", out.err);
	snprintf(want, sizeof(want), "weft: task %llu \"deep\" overflowed its %zu-byte stack (guard page hit at 0x",
	    id, WEFT_STACK_DEFAULT);
	ck_assert_msg(strstr(out.err, want) != NULL,
	    "expected \"%s\" in stderr:\n%s", want, out.err);
}
END_TEST

/* ---- a SIGSEGV that is not an overflow is not reported as one ---------------- */

static void *bad_write_fn(void *arg)
{
	*(volatile int *)arg = 1;
	return NULL;
}

static void *no_access_page(void)
{
	void *p = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_NONE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		child_fail(13, "mmap: %s", strerror(errno));
	return p;
}

static void segv_default_child(void *arg)
{
	void *bad = no_access_page();
	weft_task *t;

	(void)arg;
	t = weft_spawn(bad_write_fn, bad);
	if (t == NULL)
		child_fail(11, "spawn failed: %s", strerror(errno));
	weft_join(t, NULL);
	child_fail(12, "survived a write to a PROT_NONE page");
}

static void own_segv_handler(int sig)
{
	static const char msg[] = "own handler\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(43);
	_exit(42);
}

static void segv_chained_child(void *arg)
{
	struct sigaction sa;
	void *bad = no_access_page();
	weft_task *t;

	(void)arg;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = own_segv_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) == -1)
		child_fail(13, "sigaction: %s", strerror(errno));
	/* The runtime is created now, after the application's handler. */
	t = weft_spawn(bad_write_fn, bad);
	if (t == NULL)
		child_fail(11, "spawn failed: %s", strerror(errno));
	weft_join(t, NULL);
	child_fail(12, "survived a write to a PROT_NONE page");
}

START_TEST(segv_not_overflow_default)
{
	struct child_out out;

	if (skip_unsafe("SIGSEGV handling"))
		return;
	run_child(segv_default_child, NULL, &out);
	ck_assert_msg(WIFSIGNALED(out.status) && WTERMSIG(out.status) == SIGSEGV,
	    "child %s %d, expected SIGSEGV; stderr:\n%s",
	    WIFSIGNALED(out.status) ? "killed by signal" : "exited with",
	    WIFSIGNALED(out.status) ? WTERMSIG(out.status) : WEXITSTATUS(out.status),
	    out.err);
	ck_assert_msg(strstr(out.err, "overflowed") == NULL,
	    "a stray SIGSEGV was reported as an overflow:\n%s", out.err);
}
END_TEST

START_TEST(segv_not_overflow_chained)
{
	struct child_out out;

	if (skip_unsafe("SIGSEGV handling"))
		return;
	run_child(segv_chained_child, NULL, &out);
	ck_assert_msg(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 42,
	    "the application's SIGSEGV handler did not run (child %s %d); stderr:\n%s",
	    WIFEXITED(out.status) ? "exited with" : "killed by signal",
	    WIFEXITED(out.status) ? WEXITSTATUS(out.status) : WTERMSIG(out.status),
	    out.err);
	ck_assert_msg(strstr(out.err, "own handler") != NULL, "stderr:\n%s", out.err);
	ck_assert_msg(strstr(out.err, "overflowed") == NULL,
	    "a stray SIGSEGV was reported as an overflow:\n%s", out.err);
}
END_TEST

/* ---- the handler stays: faults of the application, then an overflow ------ */

static sigjmp_buf recover_at;
static volatile sig_atomic_t own_faults;

static void recovering_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	own_faults++;
	siglongjmp(recover_at, 1);
}

/*
 * The application recovers from faults of its own (its handler was there
 * before weft's); weft's handler passes each one on and stays installed,
 * so a task overflow afterwards is still reported.
 */
static void foreign_faults_child(void *arg)
{
	struct sigaction sa, now;
	struct overflow_case oc = { WEFT_GUARD_PAGE, OVERFLOW_STACK };
	volatile int *bad = no_access_page();
	weft_task *t;
	int i;

	(void)arg;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = recovering_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) == -1)
		child_fail(13, "sigaction: %s", strerror(errno));
	t = weft_spawn(ret_fn, NULL);          /* weft installs its handler */
	if (t == NULL || weft_join(t, NULL) != 0)
		child_fail(11, "warm-up task failed: %s", strerror(errno));
	for (i = 0; i < 3; i++)
		if (sigsetjmp(recover_at, 1) == 0)
			*bad = i;
	if (own_faults != 3)
		child_fail(14, "the application's handler ran %d times, not 3",
		    (int)own_faults);
	if (sigaction(SIGSEGV, NULL, &now) == -1 ||
	    ((now.sa_flags & SA_SIGINFO) && now.sa_sigaction == recovering_handler))
		child_fail(15, "weft's SIGSEGV handler is gone");
	overflow_guard_child(&oc);
}

START_TEST(overflow_reported_after_foreign_faults)
{
	struct child_out out;

	if (skip_unsafe("SIGSEGV handling"))
		return;
	run_child(foreign_faults_child, NULL, &out);
	assert_overflow_report(&out, "guard page hit at 0x");
}
END_TEST

/* Unbounded recursion on a canary stack runs off the arena's bottom: the
 * fault is reported as that task's overflow, not a plain SIGSEGV. */
static void canary_recursion_child(void *arg)
{
	(void)arg;
	run_deep(WEFT_GUARD_CANARY, OVERFLOW_STACK);
}

START_TEST(overflow_canary_recursion)
{
	struct child_out out;

	if (skip_unsafe("stack overflow"))
		return;
	run_child(canary_recursion_child, NULL, &out);
	assert_overflow_report(&out, "ran below its stack, fault at 0x");
}
END_TEST

/* ---- out of memory: spawn fails with ENOMEM, never aborts ------------------ */

static long vm_size(void)
{
	long size = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL || fscanf(f, "%ld", &size) != 1)
		child_fail(13, "cannot read /proc/self/statm");
	fclose(f);
	return size * sysconf(_SC_PAGESIZE);
}

static void enomem_child(void *arg)
{
	enum { MAX = 2000 };
	static weft_task *t[MAX];
	struct rlimit old, lim;
	weft_attr page, canary;
	weft_task *w;
	void *r;
	int n, i, err;

	(void)arg;
	/* Runtime, task pool and first stack before the limit. */
	w = weft_spawn(ret_fn, U2P(1));
	if (w == NULL || weft_join(w, NULL) != 0)
		child_fail(11, "warm-up failed: %s", strerror(errno));
	/* Sizes no earlier stack has, so no cached stack or arena slot fits
	 * (with CK_FORK=no the child inherits the test process's runtime). */
	if (weft_attr_init(&page) || weft_attr_setguard(&page, WEFT_GUARD_PAGE) ||
	    weft_attr_setstacksize(&page, 112 * KiB) ||
	    weft_attr_init(&canary) || weft_attr_setguard(&canary, WEFT_GUARD_CANARY) ||
	    weft_attr_setstacksize(&canary, 96 * KiB))
		child_fail(10, "attr setup failed");
	if (getrlimit(RLIMIT_AS, &old) == -1)
		child_fail(13, "getrlimit: %s", strerror(errno));
	lim = old;
	lim.rlim_cur = (rlim_t)vm_size() + 8 * 1024 * 1024;
	if (setrlimit(RLIMIT_AS, &lim) == -1)
		child_fail(13, "setrlimit: %s", strerror(errno));

	/* An arena (256 stacks of 96 KiB) cannot be mapped in 8 MiB. */
	errno = 0;
	w = weft_spawn_attr(ret_fn, NULL, &canary);
	err = errno;
	if (w != NULL || err != ENOMEM)
		child_fail(20, "canary spawn under an 8 MiB margin: %p, errno %d (%s)",
		    (void *)w, err, strerror(err));

	/* Guarded stacks fit until the margin is used up. */
	for (n = 0; n < MAX; n++) {
		errno = 0;
		t[n] = weft_spawn_attr(ret_fn, U2P(n + 1), &page);
		if (t[n] == NULL)
			break;
	}
	err = errno;
	if (n == MAX)
		child_fail(21, "%d guarded spawns fit in an 8 MiB margin", MAX);
	if (err != ENOMEM)
		child_fail(22, "spawn failed with errno %d (%s), expected ENOMEM",
		    err, strerror(err));

	/* Memory back: everything works again. */
	if (setrlimit(RLIMIT_AS, &old) == -1)
		child_fail(13, "setrlimit: %s", strerror(errno));
	w = weft_spawn_attr(ret_fn, U2P(7), &canary);
	if (w == NULL)
		child_fail(23, "canary spawn after the limit was lifted: %s", strerror(errno));
	if (weft_join(w, &r) != 0 || P2U(r) != 7)
		child_fail(24, "join after the limit was lifted");
	for (i = 0; i < n; i++)
		if (weft_join(t[i], &r) != 0 || P2U(r) != (uintptr_t)i + 1)
			child_fail(25, "task %d spawned under the limit: bad join", i);
	if (weft_run() != 0)
		child_fail(26, "weft_run: %s", strerror(errno));
	fprintf(stderr, "%d guarded stacks fit in the margin\n", n);
	_exit(0);
}

START_TEST(spawn_enomem)
{
	struct child_out out;

	if (skip_unsafe("address-space limits"))
		return;
	run_child(enomem_child, NULL, &out);
	assert_exited_zero(&out);
}
END_TEST

static Suite *stack_suite(void)
{
	Suite *s = suite_create("stack");
	TCase *tc;

	tc = tcase_create("sizes");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, custom_stack_sizes);
	tcase_add_test(tc, smallest_stack);
	tcase_add_test(tc, runtime_stack_size);
	tcase_add_test(tc, settings_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("guards");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, guard_policies_and_stats);
	tcase_add_test(tc, guard_policies_and_stats_mprotect);
	tcase_add_test(tc, default_guard_budget);
	tcase_add_test(tc, guard_regions_budget);
	tcase_add_test(tc, runtime_guard_policy);
	suite_add_tcase(s, tc);

	tc = tcase_create("cache");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, stack_reuse);
	tcase_add_test(tc, cache_is_bounded);
	tcase_add_test(tc, arenas_rest_then_go);
	tcase_add_test(tc, committed_pages_follow_tasks);
	tcase_add_test(tc, cached_stack_pages_given_back);
	tcase_add_test(tc, cached_stack_pages_given_back_alone);
	suite_add_tcase(s, tc);

	tc = tcase_create("overflow");
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, overflow_guard_page);
	tcase_add_test(tc, overflow_guard_page_mprotect);
	tcase_add_test(tc, overflow_default_policy);
	tcase_add_test(tc, overflow_canary);
	tcase_add_test(tc, overflow_cached_stack);
	tcase_add_test(tc, segv_not_overflow_default);
	tcase_add_test(tc, segv_not_overflow_chained);
	tcase_add_test(tc, overflow_reported_after_foreign_faults);
	tcase_add_test(tc, overflow_canary_recursion);
	suite_add_tcase(s, tc);

	tc = tcase_create("enomem");
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, spawn_enomem);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(stack_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

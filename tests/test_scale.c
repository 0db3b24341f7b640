/*
 * Scale: 300,000 sleeping tasks alive at once with the system's default
 * limits.  With PROT_NONE guard pages that is more than the mapping budget
 * allows, so canary arenas must take over; with guard regions (Linux 6.13)
 * every stack can be guarded.  And guard pages forced past the kernel's
 * mapping limit: spawn fails with ENOMEM, nothing aborts; with guard
 * regions there is no such limit.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"
#include "test_util.h"

enum { FULL_TASKS = 300000, VALGRIND_TASKS = 2000, NAP_MS = 200 };

static uintptr_t mix(uintptr_t i)
{
	return i * 2654435761u + 17;
}

static long g_n, g_started, g_finished, g_max_live, g_sleep_errors, g_naps;

/*
 * Sleeps NAP_MS, and again while some task has not started yet, so that no
 * task finishes before all have started whatever the machine's speed: all
 * g_n tasks and their stacks are alive together by construction, and the
 * test checks the runtime held them.
 */
static void *sleeper_fn(void *arg)
{
	long live;

	g_started++;
	do {
		g_naps++;
		if (weft_sleep(NAP_MS) != 0) {
			g_sleep_errors++;
			break;
		}
	} while (g_started < g_n);
	live = g_started - g_finished;
	if (live > g_max_live)
		g_max_live = live;
	g_finished++;
	return U2P(mix(P2U(arg)));
}

/*
 * regions: whether guarded stacks are unlimited (guard regions) or bounded
 * by the mapping budget, after which arenas must take over.
 */
static void run_sleepers(int regions)
{
	int vg = under_valgrind();
	struct weft_stats st0, st;
	weft_task **t;
	int64_t t0, elapsed;
	long i;

	g_n = vg ? VALGRIND_TASKS : FULL_TASKS;
	g_started = g_finished = g_max_live = g_sleep_errors = g_naps = 0;
	t = calloc((size_t)g_n, sizeof(*t));
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_stats(&st0), 0);

	for (i = 0; i < g_n; i++) {
		t[i] = weft_spawn(sleeper_fn, U2P(i));
		if (t[i] == NULL)
			ck_abort_msg("spawn %ld of %ld failed: %s", i, g_n, strerror(errno));
	}
	/* Spawning runs nothing. */
	ck_assert_int_eq(g_started, 0);
	ck_assert_int_eq(g_finished, 0);
	ck_assert_int_eq(weft_stats(&st), 0);
	ck_assert_uint_eq(st.tasks_live, st0.tasks_live + (uint64_t)g_n);
	ck_assert_uint_ge(st.stacks_guarded + st.stacks_canary, (uint64_t)g_n);
	printf("test_scale: %ld tasks: %" PRIu64 " guarded stacks, %" PRIu64
	    " canary stacks in %" PRIu64 " arenas\n", g_n, st.stacks_guarded,
	    st.stacks_canary, st.arenas);
	ck_assert_uint_ge(st.arenas, 1);
	if (regions) {
		/* Guard regions do not split mappings: all guarded, few maps. */
		long maps = mapping_count();

		printf("test_scale: %ld mappings\n", maps);
		ck_assert_uint_ge(st.stacks_guarded, (uint64_t)g_n);
		ck_assert_uint_eq(st.guard_budget, UINT64_MAX);
		ck_assert_msg(maps > 0 && maps < 20000, "%ld mappings for %ld guarded stacks",
		    maps, g_n);
	} else if (!vg) {
		/* More tasks than the guard budget: arenas took over. */
		ck_assert_uint_gt(st.stacks_canary, 0);
		ck_assert_uint_eq(st.guard_budget, 0);
	}

	t0 = weft_now();
	for (i = 0; i < g_n; i++) {
		void *r = NULL;

		if (weft_join(t[i], &r) != 0)
			ck_abort_msg("join %ld failed: %s", i, strerror(errno));
		if (P2U(r) != mix((uintptr_t)i))
			ck_abort_msg("task %ld returned %#" PRIxPTR, i, P2U(r));
	}
	elapsed = weft_now() - t0;
	printf("test_scale: all ran in %lld ms, %ld naps\n",
	    (long long)(elapsed / MS_NS), g_naps);

	ck_assert_int_eq(g_sleep_errors, 0);
	ck_assert_int_eq(g_started, g_n);
	ck_assert_int_eq(g_finished, g_n);
	ck_assert_int_eq(g_max_live, g_n);
	ck_assert_int_ge(g_naps, g_n);
	ck_assert_int_ge(elapsed, NAP_MS * MS_NS);
	ck_assert_int_eq(weft_stats(&st), 0);
	ck_assert_uint_eq(st.tasks_live, st0.tasks_live);
	ck_assert_uint_le(st.stacks_cached, 64);
	free(t);
}

START_TEST(many_sleeping_tasks)
{
	run_sleepers(expect_guard_regions());
}
END_TEST

/* The same where each guarded stack costs two mappings. */
START_TEST(many_sleeping_tasks_mapping_budget)
{
	if (under_valgrind()) {
		printf("test_scale: mapping-budget run skipped under Valgrind\n");
		return;
	}
	if (!use_mprotect_guards("test_scale"))
		return;
	run_sleepers(0);
}
END_TEST

/* ---- guard pages forced past the kernel's mapping limit -------------------- */

static void *ret_fn(void *arg)
{
	return arg;
}

/*
 * vm.max_map_count allows about 32,700 guarded stacks (two mappings each).
 * Forcing WEFT_GUARD_PAGE beyond that must make spawn fail with ENOMEM, and
 * the runtime must carry on: every task spawned joins, and spawning works
 * again afterwards.  Nothing is asserted while the process is at the limit.
 */
START_TEST(guard_pages_past_map_limit)
{
	enum { CAP = 70000 };
	weft_task **t;
	weft_attr page, canary;
	weft_task *c = NULL, *again;
	int n, i, err, canary_err = 0, bad_joins = 0;
	void *r;

	if (under_valgrind() || TEST_UNDER_ASAN) {
		printf("test_scale: mapping-limit test skipped under %s\n",
		    TEST_UNDER_ASAN ? "AddressSanitizer" : "Valgrind");
		return;
	}
	if (!use_mprotect_guards("test_scale"))
		return;
	t = calloc(CAP, sizeof(*t));
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_attr_init(&page), 0);
	ck_assert_int_eq(weft_attr_setguard(&page, WEFT_GUARD_PAGE), 0);
	ck_assert_int_eq(weft_attr_init(&canary), 0);
	ck_assert_int_eq(weft_attr_setguard(&canary, WEFT_GUARD_CANARY), 0);

	for (n = 0; n < CAP; n++) {
		errno = 0;
		t[n] = weft_spawn_attr(ret_fn, U2P(n + 1), &page);
		if (t[n] == NULL)
			break;
	}
	err = errno;
	/* At the limit an arena may or may not still fit; either is fine,
	 * as long as failure is ENOMEM. */
	errno = 0;
	c = weft_spawn_attr(ret_fn, U2P(1), &canary);
	if (c == NULL)
		canary_err = errno;
	for (i = 0; i < n; i++)
		if (weft_join(t[i], &r) != 0 || P2U(r) != (uintptr_t)i + 1)
			bad_joins++;
	if (c != NULL && (weft_join(c, &r) != 0 || P2U(r) != 1))
		bad_joins++;

	printf("test_scale: %d guarded stacks before spawn failed (%s)\n", n, strerror(err));
	ck_assert_msg(n < CAP, "%d guarded stacks and no failure", CAP);
	ck_assert_msg(n > 1000, "only %d guarded stacks", n);
	ck_assert_msg(err == ENOMEM, "spawn failed with %d (%s), expected ENOMEM",
	    err, strerror(err));
	ck_assert_msg(c != NULL || canary_err == ENOMEM,
	    "canary spawn at the limit failed with %d (%s)", canary_err,
	    strerror(canary_err));
	ck_assert_int_eq(bad_joins, 0);

	again = weft_spawn_attr(ret_fn, U2P(9), &page);
	ck_assert_ptr_nonnull(again);
	ck_assert_int_eq(weft_join(again, &r), 0);
	ck_assert_uint_eq(P2U(r), 9);
	again = weft_spawn(ret_fn, U2P(10));
	ck_assert_ptr_nonnull(again);
	ck_assert_int_eq(weft_join(again, &r), 0);
	ck_assert_uint_eq(P2U(r), 10);
	ck_assert_int_eq(weft_run(), 0);
	free(t);
}
END_TEST

/*
 * With guard regions, guarded stacks cost no mapping each: far more than
 * the kernel's mapping limit would allow at two mappings per stack.
 */
START_TEST(guard_regions_past_map_limit)
{
	enum { N = 70000 };
	weft_task **t;
	weft_attr page;
	long maps = -1;
	int n, i, bad_joins = 0;
	void *r;

	if (under_valgrind()) {
		printf("test_scale: guard-region test skipped under Valgrind\n");
		return;
	}
	if (!expect_guard_regions()) {
		printf("test_scale: no guard regions (kernel or WEFT_GUARD_REGIONS=0); skipped\n");
		return;
	}
	t = calloc(N, sizeof(*t));
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_attr_init(&page), 0);
	ck_assert_int_eq(weft_attr_setguard(&page, WEFT_GUARD_PAGE), 0);
	for (n = 0; n < N; n++) {
		t[n] = weft_spawn_attr(ret_fn, U2P(n + 1), &page);
		if (t[n] == NULL)
			break;
	}
	if (n == N)
		maps = mapping_count();
	for (i = 0; i < n; i++)
		if (weft_join(t[i], &r) != 0 || P2U(r) != (uintptr_t)i + 1)
			bad_joins++;
	free(t);
	ck_assert_msg(n == N, "guarded spawn %d failed: %s", n, strerror(errno));
	ck_assert_int_eq(bad_joins, 0);
	printf("test_scale: %d guarded stacks in %ld mappings\n", N, maps);
	ck_assert_msg(maps > 0 && maps < 10000, "%d guarded stacks took %ld mappings", N, maps);
}
END_TEST

static Suite *scale_suite(void)
{
	Suite *s = suite_create("scale");
	TCase *tc;

	tc = tcase_create("sleepers");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, many_sleeping_tasks);
	tcase_add_test(tc, many_sleeping_tasks_mapping_budget);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, guard_pages_past_map_limit);
	tcase_add_test(tc, guard_regions_past_map_limit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(scale_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * bench_sleep — many sleeping tasks: wall time and memory per task.
 *
 * For each N: spawn N tasks that each weft_sleep(100), join them all, and
 * report
 *   - wall time from before the first spawn to after the last join, beside
 *     two baselines measured in the same process: one task sleeping 100 ms,
 *     and the kernel's price for committing one page per task (N pages
 *     touched in a new mapping, one per WEFT_STACK_DEFAULT bytes, the way
 *     stacks are laid out) -- the floor for any design where a sleeping
 *     task holds one page.  That mapping is unmapped before the first
 *     spawn, so weft's stacks get the same, recently used, physical pages:
 *     in a VM the first touch of a page the host has taken back costs
 *     several times more, and the two figures would not compare;
 *   - resident memory per task: VmRSS when every task is asleep (read by a
 *     monitor task spawned after the sleepers, so it runs once they all
 *     parked) and VmHWM at the end (reset after the page baseline through
 *     /proc/self/clear_refs), each minus VmRSS before the first spawn,
 *     divided by N; page tables (VmPTE) are shown apart since VmRSS does
 *     not count them;
 *   - weft_stats at the all-asleep point: guarded and canary stacks, arenas.
 *
 * Each N runs in its own process (fork + exec of this program with
 * --child) so RSS high-water marks do not mix.
 *
 * Usage: bench_sleep [--guard auto|page|canary] [N...]
 *        (default: auto guard; N = 100000 then 1000000)
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft.h"
#include "bench.h"

#define SLEEP_MS 100
/* Targets, set for N = 100,000. */
#define TARGET_N 100000
#define TARGET_WALL_MS 300.0
#define TARGET_RSS_PER_TASK 5120 /* bytes */

static const long default_ns[] = { 100000, 1000000 };
static const char *const guard_names[] = { "auto", "page", "canary" };

/* What the monitor task sees once every sleeper has parked. */
struct snapshot {
	int64_t at;
	long long rss, pte;
	struct weft_stats st;
};

static long sleep_failures;

static void *
sleeper(void *arg)
{
	(void)arg;
	if (weft_sleep(SLEEP_MS) != 0)
		sleep_failures++;
	return NULL;
}

static void *
monitor(void *arg)
{
	struct snapshot *snap = arg;

	snap->at = bench_now();
	snap->rss = bench_status_bytes("VmRSS");
	snap->pte = bench_status_bytes("VmPTE");
	weft_stats(&snap->st);
	return NULL;
}

static void
must_join(weft_task *t)
{
	if (weft_join(t, NULL) != 0) {
		perror("weft_join");
		exit(1);
	}
}

/* Wall time of one task sleeping SLEEP_MS: the floor for any N. */
static double
sleep_baseline_ms(void)
{
	int64_t t0 = bench_now();
	weft_task *t = weft_spawn(sleeper, NULL);

	if (t == NULL) {
		perror("weft_spawn");
		exit(1);
	}
	must_join(t);
	return (double)(bench_now() - t0) / 1e6;
}

/* ms to commit n pages, one near the top of each WEFT_STACK_DEFAULT slot of
 * a new mapping, unmapped again afterwards (not timed). */
static double
page_baseline_ms(long n)
{
	size_t slot = WEFT_STACK_DEFAULT, len = (size_t)n * slot;
	char *p;
	int64_t t0, t1;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	t0 = bench_now();
	for (long i = 0; i < n; i++)
		((volatile char *)p)[(size_t)(i + 1) * slot - 64] = 1;
	t1 = bench_now();
	munmap(p, len);
	return (double)(t1 - t0) / 1e6;
}

/* Reset VmHWM to the current RSS, so the peak read at the end is weft's and
 * not the page baseline's (Linux 4.0 and later); 0 when done. */
static int
reset_hwm(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	int ok;

	if (f == NULL)
		return -1;
	ok = fputs("5", f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static void
report(long n, double wall, double base, double pages, int64_t t0,
    int64_t t_spawned, const struct snapshot *snap, long long rss0,
    long long pte0, long long hwm)
{
	double asleep = (double)(snap->rss - rss0) / (double)n;
	/* Without a VmHWM reset the peak would be the page baseline's. */
	double peak = hwm < 0 ? asleep : (double)(hwm - rss0) / (double)n;

	printf("sleep: N=%ld  wall %.1f ms", n, wall);
	if (n == TARGET_N)
		printf(" (target <= %.0f ms: %s)", TARGET_WALL_MS,
		    wall <= TARGET_WALL_MS ? "met" : "MISSED");
	printf("  baselines: 1 task %.1f ms, committing %ld pages %.1f ms\n",
	    base, n, pages);
	printf("sleep: N=%ld  beyond the 100 ms sleep %.0f ns/task, "
	    "page commit alone %.0f ns/task (%.2fx the page floor); spawn "
	    "loop %.1f ms, all asleep at %.1f ms\n", n,
	    (wall - base) * 1e6 / (double)n, pages * 1e6 / (double)n,
	    (wall - base) / pages, (double)(t_spawned - t0) / 1e6,
	    (double)(snap->at - t0) / 1e6);
	printf("sleep: N=%ld  RSS/task %.0f B all asleep", n, asleep);
	if (hwm >= 0)
		printf(", %.0f B peak (VmHWM)", peak);
	if (n == TARGET_N)
		printf(" (target <= %d B: %s)", TARGET_RSS_PER_TASK,
		    peak <= TARGET_RSS_PER_TASK ? "met" : "MISSED");
	printf("  page tables %.0f B/task\n",
	    (double)(snap->pte - pte0) / (double)n);
	printf("sleep: N=%ld  stacks_guarded %llu  stacks_canary %llu  "
	    "arenas %llu  guard_budget ", n,
	    (unsigned long long)snap->st.stacks_guarded,
	    (unsigned long long)snap->st.stacks_canary,
	    (unsigned long long)snap->st.arenas);
	if (snap->st.guard_budget == UINT64_MAX)
		printf("unlimited");
	else
		printf("%llu", (unsigned long long)snap->st.guard_budget);
	printf("  (weft_stats, all asleep)\n");
}

static int
run_one(long n, int guard)
{
	weft_task **tasks = malloc((size_t)n * sizeof *tasks);
	weft_task *mon;
	struct snapshot snap;
	long long rss0, pte0, hwm;
	int64_t t0, t_spawned, t1;
	double base, pages;
	int hwm_ok;

	if (tasks == NULL) {
		perror("malloc");
		return 1;
	}
	if (weft_set_guard(guard) != 0) {
		perror("weft_set_guard");
		return 1;
	}
	memset(tasks, 0, (size_t)n * sizeof *tasks); /* resident before rss0 */
	memset(&snap, 0, sizeof snap);
	base = sleep_baseline_ms(); /* also creates the runtime before rss0 */
	pages = page_baseline_ms(n);
	hwm_ok = reset_hwm() == 0;

	rss0 = bench_status_bytes("VmRSS");
	pte0 = bench_status_bytes("VmPTE");
	t0 = bench_now();
	for (long i = 0; i < n; i++) {
		tasks[i] = weft_spawn(sleeper, NULL);
		if (tasks[i] == NULL) {
			fprintf(stderr, "sleep: N=%ld: weft_spawn failed after "
			    "%ld tasks: %s\n", n, i, strerror(errno));
			return 1;
		}
	}
	mon = weft_spawn(monitor, &snap);
	if (mon == NULL) {
		perror("weft_spawn");
		return 1;
	}
	t_spawned = bench_now();
	for (long i = 0; i < n; i++)
		must_join(tasks[i]);
	must_join(mon);
	t1 = bench_now();
	hwm = hwm_ok ? bench_status_bytes("VmHWM") : -1;
	free(tasks);

	if (guard != WEFT_GUARD_AUTO)
		printf("sleep: N=%ld  guard policy %s\n", n, guard_names[guard]);
	report(n, (double)(t1 - t0) / 1e6, base, pages, t0, t_spawned, &snap,
	    rss0, pte0, hwm);
	if (sleep_failures != 0) {
		fprintf(stderr, "sleep: N=%ld: %ld weft_sleep calls failed\n",
		    n, sleep_failures);
		return 1;
	}
	fflush(stdout);
	return 0;
}

/* Run one N in a fresh process; 0 when it succeeded. */
static int
run_child(const char *argv0, long n, int guard)
{
	char arg[32];
	int status;
	pid_t pid;

	snprintf(arg, sizeof arg, "%ld", n);
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		execl("/proc/self/exe", argv0, "--child", arg,
		    guard_names[guard], (char *)NULL);
		/* No /proc: run here, in the forked copy. */
		_exit(run_one(n, guard));
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			perror("waitpid");
			return 1;
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		fprintf(stderr, "sleep: N=%ld: child killed by signal %d "
		    "(%s)\n", n, WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		fprintf(stderr, "sleep: N=%ld: child exited with status %d\n",
		    n, WEXITSTATUS(status));
	return 1;
}

static int
parse_guard(const char *prog, const char *s)
{
	for (int g = 0; g < 3; g++)
		if (strcmp(s, guard_names[g]) == 0)
			return g;
	fprintf(stderr, "%s: guard must be auto, page or canary: %s\n", prog,
	    s);
	exit(2);
}

int
main(int argc, char **argv)
{
	int failed = 0, guard = WEFT_GUARD_AUTO, i = 1;

	if (argc == 4 && strcmp(argv[1], "--child") == 0)
		return run_one(bench_arg_count(argv[0], argv[2]),
		    parse_guard(argv[0], argv[3]));
	if (argc > 1 && strcmp(argv[1], "--guard") == 0) {
		if (argc < 3) {
			fprintf(stderr, "usage: %s [--guard auto|page|canary] "
			    "[N...]\n", argv[0]);
			return 2;
		}
		guard = parse_guard(argv[0], argv[2]);
		i = 3;
	}
	if (i == argc) {
		for (size_t k = 0; k < sizeof default_ns / sizeof *default_ns;
		    k++)
			failed |= run_child(argv[0], default_ns[k], guard);
	}
	for (; i < argc; i++)
		failed |= run_child(argv[0], bench_arg_count(argv[0], argv[i]),
		    guard);
	return failed;
}

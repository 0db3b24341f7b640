/*
 * bench_pq: unmodified libpq fanned out over tasks, without and with
 * libweft-hook (weft-hook(7)).
 *
 * The program is linked with libweft and libpq only.  It starts a
 * PostgreSQL server of its own on a Unix socket (tests/pg_server.sh), then
 * runs itself twice: as it is, where libpq's calls block the thread and
 * the queries run one after another, and under LD_PRELOAD=libweft-hook,
 * where they overlap.  Each run: N tasks, each connecting and running
 * SELECT pg_sleep(0.3); the wall time of the whole, connections included.
 *
 *   bench_pq [N]      (default 20)
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft.h"
#include "bench.h"

static const char *conninfo;

static void *one(void *arg)
{
	PGconn *c = PQconnectdb(conninfo);
	PGresult *r = PQexec(c, "SELECT pg_sleep(0.3)");
	int ok = PQresultStatus(r) == PGRES_TUPLES_OK;

	(void)arg;
	PQclear(r);
	PQfinish(c);
	return ok ? NULL : (void *)1;
}

/* The child: N tasks; prints the wall time in seconds. */
static int fan_out(int n)
{
	weft_task **t = calloc((size_t)n, sizeof(*t));
	int64_t start = bench_now();
	int i, failed = 0;
	void *r;

	for (i = 0; i < n; i++)
		if (!(t[i] = weft_spawn(one, NULL)))
			return 1;
	for (i = 0; i < n; i++)
		if (weft_join(t[i], &r) != 0 || r)
			failed++;
	printf("%.3f\n", (double)(bench_now() - start) / 1e9);
	free(t);
	return failed != 0;
}

/* Run ourselves as the child, preloading the hook or not; the seconds it
 * printed, or -1. */
static double run_child(const char *self, int n, int hooked)
{
	char count[16], out[64] = "";
	int p[2], status;
	ssize_t got;
	pid_t pid;

	snprintf(count, sizeof(count), "%d", n);
	if (pipe(p) != 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], 1);
		if (hooked)
			setenv("LD_PRELOAD", HOOK_SO, 1);
		else
			unsetenv("LD_PRELOAD");
		execl(self, self, "--child", count, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	got = read(p[0], out, sizeof(out) - 1);
	close(p[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0 || got <= 0)
		return -1;
	return atof(out);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/weft-bench-pq-XXXXXX", cmd[512], info[256];
	int n = 20, port = 30000 + (int)(getpid() % 20000), rc;
	double plain, hooked;

	if (argc == 3 && strcmp(argv[1], "--child") == 0) {
		conninfo = getenv("BENCH_PQ_CONNINFO");
		return conninfo ? fan_out(atoi(argv[2])) : 1;
	}
	if (argc > 1)
		n = (int)bench_arg_count(argv[0], argv[1]);
	if (!mkdtemp(dir))
		return 1;
	snprintf(cmd, sizeof(cmd), "sh %s start %s %d", PG_SERVER, dir, port);
	rc = system(cmd);
	if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
		printf("bench_pq: skipped: no PostgreSQL server could be "
		    "started (Debian: postgresql)\n");
		rmdir(dir);
		return 0;
	}
	snprintf(info, sizeof(info), "host=%s port=%d dbname=postgres "
	    "user=weft", dir, port);
	setenv("BENCH_PQ_CONNINFO", info, 1);
	plain = run_child(argv[0], n, 0);
	hooked = run_child(argv[0], n, 1);
	snprintf(cmd, sizeof(cmd), "sh %s stop %s", PG_SERVER, dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_pq: the server did not stop\n");
	if (plain < 0 || hooked < 0) {
		printf("bench_pq: a run failed\n");
		return 1;
	}
	printf("bench_pq: %d tasks, each PQconnectdb + SELECT pg_sleep(0.3) "
	    "through unmodified libpq (wall, connections included)\n", n);
	printf("  without libweft-hook %7.3f s   with it %7.3f s   "
	    "%.1fx faster (one after another: %.1f s of sleeping)\n", plain,
	    hooked, plain / hooked, 0.3 * n);
	return 0;
}

/*
 * pq_fanout: unmodified libpq queries, run concurrently in weft tasks.
 *
 *   pq_fanout CONNINFO [TASKS]
 *
 * Each task connects with PQconnectdb and runs SELECT pg_sleep(0.3)
 * with PQexec: plain blocking libpq, not a line of it changed.  Linked
 * with libweft-hook (weft-hook(7)), libpq's poll, recv and send park only
 * the task that called them, so TASKS queries take about 0.3 s, not
 * TASKS x 0.3 s.  For example, against a server on a Unix socket:
 *
 *   pq_fanout "host=/tmp/pg port=5432 dbname=postgres" 50
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

#include "weft.h"

struct query {
	const char *conninfo;
	int ok;
	char pid[16];
};

static void *run_query(void *arg)
{
	struct query *q = arg;
	PGconn *conn = PQconnectdb(q->conninfo);
	PGresult *res;

	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "connect: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	res = PQexec(conn, "SELECT pg_sleep(0.3), pg_backend_pid()");
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		snprintf(q->pid, sizeof(q->pid), "%s", PQgetvalue(res, 0, 1));
		q->ok = 1;
	} else {
		fprintf(stderr, "query: %s", PQerrorMessage(conn));
	}
	PQclear(res);
	PQfinish(conn);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 10, i, ok = 0;
	struct query *q;
	weft_task **t;
	int64_t start;

	if (argc < 2 || n <= 0) {
		fprintf(stderr, "usage: %s CONNINFO [TASKS]\n", argv[0]);
		return 2;
	}
	q = calloc((size_t)n, sizeof(*q));
	t = calloc((size_t)n, sizeof(*t));
	if (!q || !t)
		return 1;
	start = weft_now();
	for (i = 0; i < n; i++) {
		q[i].conninfo = argv[1];
		if (!(t[i] = weft_spawn(run_query, &q[i]))) {
			perror("weft_spawn");
			return 1;
		}
	}
	for (i = 0; i < n; i++) {
		weft_join(t[i], NULL);
		ok += q[i].ok;
	}
	printf("%d of %d queries of pg_sleep(0.3) done in %.3f s "
	    "(one after another: %.1f s)\n", ok, n,
	    (double)(weft_now() - start) / 1e9, 0.3 * n);
	free(q);
	free(t);
	return ok == n ? 0 : 1;
}

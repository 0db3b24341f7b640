/*
 * libweft-hook with a client library no one here wrote: libpq, unmodified,
 * against a PostgreSQL server this suite starts on a private Unix socket
 * (tests/pg_server.sh; no TCP port at all).  The suite skips, saying why,
 * when PostgreSQL is not installed.
 */
#include "config.h"

#include <check.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft.h"
#include "test_util.h"

#define FANOUT 50

static char g_dir[64];
static char g_conninfo[160];
static const char *g_why;        /* why the suite skips, or NULL */

#define SKIP_IF_NO_SERVER() \
	do { \
		if (g_why) { \
			printf("%s: skipped: %s\n", __func__, g_why); \
			return; \
		} \
	} while (0)

static PGconn *connect_db(void)
{
	PGconn *c = PQconnectdb(g_conninfo);

	ck_assert_ptr_nonnull(c);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect: %s",
	    PQerrorMessage(c));
	return c;
}

/* One query's single value, as text (freed by the caller). */
static char *query_value(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	char *v;

	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
	    PQerrorMessage(c));
	v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

START_TEST(outside_tasks_libpq_is_plain_libpq)
{
	PGconn *c;
	char *v;

	SKIP_IF_NO_SERVER();
	c = connect_db();
	v = query_value(c, "SELECT 40 + 2");
	ck_assert_str_eq(v, "42");
	free(v);
	PQfinish(c);
}
END_TEST

static void *in_task(void *arg)
{
	void (*fn)(void) = (void (*)(void))arg;

	fn();
	return NULL;
}

/* Run a test's body in a task: libpq's calls are interposed only there. */
#define RUN_IN_TASK(body) \
	do { \
		weft_task *t_ = weft_spawn(in_task, (void *)(body)); \
		ck_assert_ptr_nonnull(t_); \
		ck_assert_int_eq(weft_join(t_, NULL), 0); \
	} while (0)

static void one_query(void)
{
	PGconn *c = connect_db();
	char *v = query_value(c, "SELECT 40 + 2");

	ck_assert_str_eq(v, "42");
	free(v);
	PQfinish(c);
}

START_TEST(a_query_in_a_task_gives_the_same_answer)
{
	SKIP_IF_NO_SERVER();
	RUN_IN_TASK(one_query);
}
END_TEST

/* ---- fan-out ---------------------------------------------------------------- */

struct sleeper {
	PGconn *conn;
	int64_t connected, done;
};

static void *connect_task(void *arg)
{
	struct sleeper *s = arg;

	s->conn = connect_db();
	s->connected = weft_now();
	return NULL;
}

static void *sleep_task(void *arg)
{
	struct sleeper *s = arg;
	char *v = query_value(s->conn, "SELECT pg_sleep(0.3), 7");

	free(v);
	s->done = weft_now();
	return NULL;
}

START_TEST(fifty_pg_sleeps_overlap)
{
	struct sleeper s[FANOUT];
	weft_task *t[FANOUT];
	int64_t start, connected, queried;
	int i;

	SKIP_IF_NO_SERVER();
	memset(s, 0, sizeof(s));
	start = weft_now();
	for (i = 0; i < FANOUT; i++)
		ck_assert_ptr_nonnull(t[i] = weft_spawn(connect_task, &s[i]));
	for (i = 0; i < FANOUT; i++)
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
	connected = weft_now();
	for (i = 0; i < FANOUT; i++)
		ck_assert_ptr_nonnull(t[i] = weft_spawn(sleep_task, &s[i]));
	for (i = 0; i < FANOUT; i++)
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
	queried = weft_now();
	printf("%d connections in %.3f s; %d pg_sleep(0.3) in %.3f s\n",
	    FANOUT, (double)(connected - start) / 1e9, FANOUT,
	    (double)(queried - connected) / 1e9);
	/* One after another they take 15 s. */
	ck_assert_int_ge(queried - connected, 300 * MS_NS);
	ck_assert_int_lt(queried - connected, 3000 * MS_NS * slow_factor());
	for (i = 0; i < FANOUT; i++)
		PQfinish(s[i].conn);
}
END_TEST

/* ---- a deadline ends libpq's wait --------------------------------------------- */

static void deadline_query(void)
{
	PGconn *c = connect_db();
	int64_t start = weft_now(), saved;
	PGresult *r;

	saved = weft_deadline_push(start + 150 * MS_NS);
	r = PQexec(c, "SELECT pg_sleep(5)");
	weft_deadline_pop(saved);
	/* libpq's poll failed with ETIMEDOUT: the query failed, soon. */
	ck_assert(r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK);
	ck_assert_int_lt(weft_now() - start, 3000 * MS_NS * slow_factor());
	PQclear(r);
	PQfinish(c);
}

START_TEST(a_deadline_ends_a_long_query)
{
	SKIP_IF_NO_SERVER();
	RUN_IN_TASK(deadline_query);
}
END_TEST

static Suite *pq_suite(void)
{
	Suite *s = suite_create("pq");
	TCase *tc = tcase_create("pq");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, outside_tasks_libpq_is_plain_libpq);
	tcase_add_test(tc, a_query_in_a_task_gives_the_same_answer);
	tcase_add_test(tc, fifty_pg_sleeps_overlap);
	tcase_add_test(tc, a_deadline_ends_a_long_query);
	suite_add_tcase(s, tc);
	return s;
}

static int server(const char *verb, int port)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "sh %s/pg_server.sh %s %s %d",
	    TESTS_SRCDIR, verb, g_dir, port);
	return system(cmd);
}

int main(void)
{
	SRunner *sr;
	int failed, rc, port = 20000 + (int)(getpid() % 20000);

	snprintf(g_dir, sizeof(g_dir), "/tmp/weft-pq-XXXXXX");
	if (!mkdtemp(g_dir)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	rc = server("start", port);
	if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77)
		g_why = "PostgreSQL is not installed (Debian: postgresql)";
	else if (rc != 0) {
		fprintf(stderr, "test_pq: the PostgreSQL server did not "
		    "start\n");
		server("stop", port);
		return EXIT_FAILURE;
	}
	if (g_why)
		printf("pq tests skipped: %s\n", g_why);
	snprintf(g_conninfo, sizeof(g_conninfo),
	    "host=%s port=%d dbname=postgres user=weft", g_dir, port);
	sr = srunner_create(pq_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	server("stop", port);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

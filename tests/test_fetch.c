/*
 * weft_fetch: HTTP exchanges inside tasks (parking only the caller) and
 * outside any task (blocking the thread), against the tests' own HTTP/1.1
 * server (http_server.c), itself a set of weft tasks.
 *
 * Each test creates the runtime it uses and starts its server inside the
 * test (Check runs each test in a fork).  A fetch runs in a task and
 * records what it got in a struct call; the test asserts once the task is
 * joined (ck_assert does not belong on a task stack).  Ordering between
 * tasks comes from program state (the server's request counter), and time
 * is only ever bounded generously, from above, or from below by what was
 * asked for.  Network traffic stays on 127.0.0.1: no name is resolved.
 *
 * Under Valgrind (WEFT_UNDER_VALGRIND=1 with CK_FORK=no) the 64 MiB body
 * shrinks to 4 MiB and the 200 concurrent fetches to 20.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "weft.h"
#include "test_util.h"
#include "http_server.h"

#define MIB ((size_t)1024 * 1024)
/* Hang guard for waits on another task's progress. */
#define GUARD_NS ((int64_t)10000 * MS_NS)

static size_t large_bytes(void)
{
	return under_valgrind() ? 4 * MIB : 64 * MIB;
}

static int concurrency(void)
{
	return under_valgrind() ? 20 : 200;
}

/* FNV-1a, continued from h (start with FNV_START). */
#define FNV_START 0xcbf29ce484222325u
static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3u;
	}
	return h;
}

/* FNV-1a of the first n bytes of the /large pattern. */
static uint64_t pattern_fnv(size_t n)
{
	uint64_t h = FNV_START;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= http_pattern_byte(i);
		h *= 0x100000001b3u;
	}
	return h;
}

/* ---- one fetch, recorded ------------------------------------------------------ */

struct call {
	char url[256];
	weft_fetch_opts opts;
	const weft_fetch_opts *optp;  /* NULL, or &opts */
	int64_t deadline;             /* pushed around the fetch when > 0 */
	int null_url;                 /* pass NULL instead of url */
	const char *long_url;         /* passed instead of url when set */
	weft_response *res;
	int err;                      /* errno after the fetch */
	char msg[512];                /* weft_errmsg() right after it */
	int msg_null;
	int64_t t0, t1;               /* weft_now() before and after */
};

/* No ck_assert here: also used on other threads. */
static void call_setup(struct call *c, const struct http_server *s, const char *path)
{
	memset(c, 0, sizeof(*c));
	if (s != NULL)
		http_server_url(s, path, c->url, sizeof(c->url));
	else
		snprintf(c->url, sizeof(c->url), "%s", path);
	weft_fetch_opts_init(&c->opts);
}

/* The same with opts passed (instead of NULL). */
static void call_setup_opts(struct call *c, const struct http_server *s, const char *path)
{
	call_setup(c, s, path);
	c->optp = &c->opts;
}

static void do_fetch(struct call *c)
{
	const char *m;
	int64_t saved = WEFT_NO_DEADLINE;

	if (c->deadline > 0)
		saved = weft_deadline_push(c->deadline);
	c->t0 = weft_now();
	errno = 0;
	c->res = weft_fetch(c->null_url ? NULL : c->long_url ? c->long_url :
	    c->url, c->optp);
	c->err = errno;
	c->t1 = weft_now();
	m = weft_errmsg();
	c->msg_null = m == NULL;
	snprintf(c->msg, sizeof(c->msg), "%s", m ? m : "");
	if (c->deadline > 0)
		weft_deadline_pop(saved);
}

static void *fetch_task(void *arg)
{
	do_fetch(arg);
	return NULL;
}

static void run_in_task(struct call *c)
{
	weft_task *t = weft_spawn(fetch_task, c);

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, NULL), 0);
}

static void call_free(struct call *c)
{
	weft_response_free(c->res);
	c->res = NULL;
}

static int64_t elapsed_ms(const struct call *c)
{
	return (c->t1 - c->t0) / MS_NS;
}

#define expect_ok(c, status, body, len) expect_ok_at(__LINE__, c, status, body, len)
static void expect_ok_at(int line, const struct call *c, long status,
    const void *body, size_t len)
{
	const char *b;
	size_t blen = (size_t)-1, i;

	ck_assert_msg(c->res != NULL, "line %d: %s: fetch failed: errno %d (%s), \"%s\"",
	    line, c->url, c->err, strerror(c->err), c->msg);
	ck_assert_msg(weft_response_status(c->res) == status,
	    "line %d: %s: status %ld, expected %ld", line, c->url,
	    weft_response_status(c->res), status);
	b = weft_response_body(c->res, &blen);
	ck_assert_msg(b != NULL, "line %d: %s: NULL body", line, c->url);
	ck_assert_msg(blen == len, "line %d: %s: body of %zu bytes, expected %zu",
	    line, c->url, blen, len);
	for (i = 0; i < len && b[i] == ((const char *)body)[i]; i++)
		;
	ck_assert_msg(i == len, "line %d: %s: body differs at byte %zu", line, c->url, i);
	ck_assert_msg(b[len] == '\0', "line %d: %s: body not NUL-terminated", line, c->url);
	ck_assert_msg(!c->msg_null && c->msg[0] == '\0',
	    "line %d: %s: weft_errmsg() after a success: %s", line, c->url,
	    c->msg_null ? "NULL" : c->msg);
}

#define expect_fail(c, err) expect_fail_at(__LINE__, c, err)
static void expect_fail_at(int line, const struct call *c, int err)
{
	ck_assert_msg(c->res == NULL && c->err == err,
	    "line %d: %s: expected NULL errno %d (%s), got %p (status %ld) errno %d (%s) \"%s\"",
	    line, c->url, err, strerror(err), (void *)c->res,
	    weft_response_status(c->res), c->err, strerror(c->err), c->msg);
	ck_assert_msg(!c->msg_null && c->msg[0] != '\0',
	    "line %d: %s: weft_errmsg() is %s after a failure", line, c->url,
	    c->msg_null ? "NULL" : "empty");
}

#define expect_header(c, name, value) expect_header_at(__LINE__, c, name, value)
static void expect_header_at(int line, const struct call *c, const char *name,
    const char *value)
{
	const char *v = weft_response_header(c->res, name);

	if (value == NULL)
		ck_assert_msg(v == NULL, "line %d: %s: header %s is \"%s\", expected none",
		    line, c->url, name, v);
	else
		ck_assert_msg(v != NULL && strcmp(v, value) == 0,
		    "line %d: %s: header %s is %s%s%s, expected \"%s\"", line, c->url, name,
		    v ? "\"" : "", v ? v : "absent", v ? "\"" : "", value);
}

/*
 * The servers live in static storage and a checked teardown stops any that
 * a failed test left running: with CK_FORK=no the tests share the runtime,
 * and a forgotten accept task would keep every later weft_run waiting.
 */
static struct http_server g_srv;
static int g_srv_running;
static struct http_server_thread g_st;
static int g_st_running;

static struct http_server *start_server(void)
{
	ck_assert_msg(http_server_start(&g_srv) == 0, "http_server_start: %s", strerror(errno));
	ck_assert_uint_ne(g_srv.port, 0);
	g_srv_running = 1;
	return &g_srv;
}

/* Stop it and check that nothing, the fetch machinery included, keeps
 * weft_run from returning. */
static void stop_server(struct http_server *s)
{
	g_srv_running = 0;
	ck_assert_msg(http_server_stop(s) == 0,
	    "server: accept loop ended with errno %d (%s), %lu accept errors",
	    s->acceptor_errno, strerror(s->acceptor_errno), s->accept_errors);
	ck_assert_int_eq(weft_run(), 0);
}

/* The server on a thread of its own, for fetches outside any task. */
static struct http_server_thread *start_server_thread(void)
{
	ck_assert_msg(http_server_thread_start(&g_st) == 0, "server thread: %s",
	    strerror(errno));
	g_st_running = 1;
	return &g_st;
}

static void stop_server_thread(struct http_server_thread *st)
{
	g_st_running = 0;
	ck_assert_int_eq(http_server_thread_stop(st), 0);
}

static void teardown(void)
{
	if (g_srv_running) {
		g_srv_running = 0;
		http_server_stop(&g_srv);
	}
	if (g_st_running) {
		g_st_running = 0;
		http_server_thread_stop(&g_st);
	}
}

/* ---- responses: status, body, headers ---------------------------------------------- */

START_TEST(libcurl_is_loaded_by_the_first_fetch)
{
	struct http_server *srv;
	struct call c;

	/* Each test runs in a fresh child of a runner that never fetched:
	 * a program that does not fetch does not load libcurl.  (With
	 * CK_FORK=no an earlier test may have fetched already.) */
	if (check_forks())
		ck_assert(!library_mapped("libcurl"));
	srv = start_server();
	call_setup(&c, srv, "/body");
	run_in_task(&c);
	expect_ok(&c, 200, "hello, weft\n", 12);
	call_free(&c);
	ck_assert(library_mapped("libcurl"));
	stop_server(srv);
}
END_TEST

START_TEST(get_body)
{
	struct http_server *srv;
	struct call c;
	size_t len;

	srv = start_server();
	call_setup(&c, srv, "/body");
	run_in_task(&c);
	expect_ok(&c, 200, "hello, weft\n", 12);
	ck_assert_str_eq(weft_response_url(c.res), c.url);
	expect_header(&c, "Content-Length", "12");
	expect_header(&c, "content-type", "text/plain");
	ck_assert_ptr_nonnull(weft_response_body(c.res, NULL));
	call_free(&c);

	/* Initialised options are the same plain GET. */
	call_setup_opts(&c, srv, "/body");
	run_in_task(&c);
	expect_ok(&c, 200, "hello, weft\n", 12);
	len = 0;
	ck_assert_str_eq(weft_response_body(c.res, &len), "hello, weft\n");
	call_free(&c);
	ck_assert_uint_eq(srv->requests, 2);
	stop_server(srv);
}
END_TEST

/* A 404 or a 500 is a response, not an error. */
START_TEST(status_codes)
{
	static const int codes[] = { 201, 404, 418, 500, 503 };
	struct http_server *srv;
	struct call c;
	char path[32], body[32];
	size_t i, len = 99;
	const char *b;

	srv = start_server();
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		snprintf(path, sizeof(path), "/status/%d", codes[i]);
		snprintf(body, sizeof(body), "status %d\n", codes[i]);
		call_setup(&c, srv, path);
		run_in_task(&c);
		expect_ok(&c, codes[i], body, strlen(body));
		call_free(&c);
	}
	/* No body at all: "" and length 0, never NULL. */
	call_setup(&c, srv, "/status/204");
	run_in_task(&c);
	expect_ok(&c, 204, "", 0);
	b = weft_response_body(c.res, &len);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(b, "");
	call_free(&c);

	call_setup(&c, srv, "/no/such/path");
	run_in_task(&c);
	expect_ok(&c, 404, "not found\n", 10);
	call_free(&c);
	stop_server(srv);
}
END_TEST

/* The server sends exactly these, in this order. */
static const char *const hdr_names[] = {
	"Content-Type", "X-Test", "x-test", "X-Spaces", "X-Empty", "Content-Length"
};
static const char *const hdr_values[] = {
	"text/plain", "one", "two", "padded value", "", "8"
};

START_TEST(response_headers)
{
	struct http_server *srv;
	struct call c;
	const char *name, *value;
	size_t i, n = sizeof(hdr_names) / sizeof(hdr_names[0]);

	srv = start_server();
	call_setup(&c, srv, "/headers");
	run_in_task(&c);
	expect_ok(&c, 200, "headers\n", 8);

	/* Case-insensitive lookup, first of repeated names, trimmed values. */
	expect_header(&c, "X-Test", "one");
	expect_header(&c, "x-test", "one");
	expect_header(&c, "X-TEST", "one");
	expect_header(&c, "content-type", "text/plain");
	expect_header(&c, "X-Spaces", "padded value");
	expect_header(&c, "x-empty", "");
	expect_header(&c, "X-Missing", NULL);
	expect_header(&c, "X-Tes", NULL);
	expect_header(&c, "X-Test-", NULL);

	/* Iteration: every header once, in the order received. */
	ck_assert_uint_eq(weft_response_header_count(c.res), n);
	for (i = 0; i < n; i++) {
		name = value = NULL;
		ck_assert_int_eq(weft_response_header_at(c.res, i, &name, &value), 0);
		ck_assert_msg(name != NULL && strcasecmp(name, hdr_names[i]) == 0,
		    "header %zu is named \"%s\", expected \"%s\"", i, name ? name : "(null)",
		    hdr_names[i]);
		ck_assert_msg(value != NULL && strcmp(value, hdr_values[i]) == 0,
		    "header %zu (%s) is \"%s\", expected \"%s\"", i, hdr_names[i],
		    value ? value : "(null)", hdr_values[i]);
	}
	name = value = "untouched";
	assert_fails(weft_response_header_at(c.res, n, &name, &value), ERANGE);
	assert_fails(weft_response_header_at(c.res, n + 1000, &name, &value), ERANGE);
	assert_fails(weft_response_header_at(c.res, (size_t)-1, &name, &value), ERANGE);
	assert_fails(weft_response_header_at(NULL, 0, &name, &value), EINVAL);
	call_free(&c);
	stop_server(srv);
}
END_TEST

START_TEST(null_response_accessors)
{
	size_t len = 99;
	const char *name, *value;

	ck_assert_int_eq(weft_response_status(NULL), 0);
	ck_assert_ptr_null(weft_response_body(NULL, &len));
	ck_assert_ptr_null(weft_response_body(NULL, NULL));
	ck_assert_ptr_null(weft_response_header(NULL, "Content-Type"));
	ck_assert_uint_eq(weft_response_header_count(NULL), 0);
	assert_fails(weft_response_header_at(NULL, 0, &name, &value), EINVAL);
	ck_assert_ptr_null(weft_response_url(NULL));
	weft_response_free(NULL);
}
END_TEST

/* HEAD: the head of the GET response, no body (and no wait for one). */
START_TEST(head_request)
{
	struct http_server *srv;
	struct call c;

	srv = start_server();
	call_setup_opts(&c, srv, "/body");
	c.opts.method = "HEAD";
	c.opts.timeout_ms = 5000 * slow_factor();   /* a hang guard only */
	run_in_task(&c);
	ck_assert_msg(c.res != NULL, "HEAD /body failed: errno %d (%s) \"%s\"%s",
	    c.err, strerror(c.err), c.msg,
	    c.err == ETIMEDOUT ? " (waited for the 12 announced body bytes?)" : "");
	expect_ok(&c, 200, "", 0);
	expect_header(&c, "Content-Length", "12");
	call_free(&c);
	stop_server(srv);
}
END_TEST

START_TEST(user_agent)
{
	struct http_server *srv;
	struct call c;
	const char *dflt = "weft/" WEFT_VERSION_STRING;

	srv = start_server();
	call_setup(&c, srv, "/user-agent");
	run_in_task(&c);
	expect_ok(&c, 200, dflt, strlen(dflt));
	call_free(&c);

	call_setup_opts(&c, srv, "/user-agent");
	run_in_task(&c);
	expect_ok(&c, 200, dflt, strlen(dflt));
	call_free(&c);

	call_setup_opts(&c, srv, "/user-agent");
	c.opts.user_agent = "agent-under-test/2.0 (x)";
	run_in_task(&c);
	expect_ok(&c, 200, "agent-under-test/2.0 (x)", 24);
	call_free(&c);

	/* The runtime's next fetch reuses that easy handle: reset. */
	call_setup(&c, srv, "/user-agent");
	run_in_task(&c);
	expect_ok(&c, 200, dflt, strlen(dflt));
	call_free(&c);
	stop_server(srv);
}
END_TEST

START_TEST(request_methods_and_bodies)
{
	static const char bin[] = { 'b', 'i', 'n', '\0', 'a', 'r', 'y', '\xff' };
	static const char *const custom[] = { "X-Custom: custom value", NULL };
	struct http_server *srv;
	struct call c;
	size_t big_len = 2 * MIB + 3, i;
	char *big;

	srv = start_server();
	/* A body with no method: POST, binary-safe both ways. */
	call_setup_opts(&c, srv, "/echo");
	c.opts.body = bin;
	c.opts.body_len = sizeof(bin);
	run_in_task(&c);
	expect_ok(&c, 200, bin, sizeof(bin));
	expect_header(&c, "X-Method", "POST");
	expect_header(&c, "X-Content-Length", "8");
	expect_header(&c, "X-Echo-Header", NULL);
	call_free(&c);

	/* An empty body is still a body: POST, Content-Length: 0. */
	call_setup_opts(&c, srv, "/echo");
	c.opts.body = "";
	c.opts.body_len = 0;
	run_in_task(&c);
	expect_ok(&c, 200, "", 0);
	expect_header(&c, "X-Method", "POST");
	expect_header(&c, "X-Content-Length", "0");
	call_free(&c);

	/* A custom method with a body and a request header. */
	call_setup_opts(&c, srv, "/echo");
	c.opts.method = "PUT";
	c.opts.body = "put body";
	c.opts.body_len = 8;
	c.opts.headers = custom;
	run_in_task(&c);
	expect_ok(&c, 200, "put body", 8);
	expect_header(&c, "X-Method", "PUT");
	expect_header(&c, "X-Echo-Header", "custom value");
	call_free(&c);

	/* A custom method without a body. */
	call_setup_opts(&c, srv, "/echo");
	c.opts.method = "DELETE";
	run_in_task(&c);
	expect_ok(&c, 200, "", 0);
	expect_header(&c, "X-Method", "DELETE");
	call_free(&c);

	/* Defaults: GET, no extra header. */
	call_setup(&c, srv, "/echo");
	run_in_task(&c);
	expect_ok(&c, 200, "", 0);
	expect_header(&c, "X-Method", "GET");
	expect_header(&c, "X-Content-Length", "none");
	expect_header(&c, "X-Echo-Header", NULL);
	call_free(&c);

	/* A body large enough for libcurl to ask "Expect: 100-continue",
	 * which weft never sends. */
	big = malloc(big_len);
	ck_assert_ptr_nonnull(big);
	for (i = 0; i < big_len; i++)
		big[i] = (char)http_pattern_byte(i * 7 + 1);
	call_setup_opts(&c, srv, "/echo");
	c.opts.body = big;
	c.opts.body_len = big_len;
	c.opts.headers = custom;
	run_in_task(&c);
	expect_ok(&c, 200, big, big_len);
	expect_header(&c, "X-Method", "POST");
	expect_header(&c, "X-Echo-Header", "custom value");
	call_free(&c);
	free(big);
	ck_assert_uint_eq(srv->expects, 0);
	stop_server(srv);
}
END_TEST

START_TEST(redirects)
{
	struct http_server *srv;
	struct call c;
	char landed[256], orig[256];

	srv = start_server();
	ck_assert_int_eq(http_server_url(srv, "/redirect/0", landed, sizeof(landed)), 0);

	/* Followed: the final response, its URL, only its headers. */
	call_setup_opts(&c, srv, "/redirect/3");
	c.opts.follow_redirects = 1;
	run_in_task(&c);
	expect_ok(&c, 200, "landed", 6);
	ck_assert_str_eq(weft_response_url(c.res), landed);
	ck_assert_uint_eq(weft_response_header_count(c.res), 3);
	expect_header(&c, "X-Landed", "yes");
	expect_header(&c, "Location", NULL);
	call_free(&c);
	ck_assert_uint_eq(srv->requests, 4);

	/* Not followed (the default, with or without opts): the 302 itself. */
	call_setup_opts(&c, srv, "/redirect/3");
	snprintf(orig, sizeof(orig), "%s", c.url);
	run_in_task(&c);
	expect_ok(&c, 302, "redirect\n", 9);
	expect_header(&c, "Location", "/redirect/2");
	ck_assert_str_eq(weft_response_url(c.res), orig);
	call_free(&c);
	call_setup(&c, srv, "/redirect/1");
	run_in_task(&c);
	expect_ok(&c, 302, "redirect\n", 9);
	expect_header(&c, "location", "/redirect/0");
	call_free(&c);

	/* More redirects than allowed. */
	call_setup_opts(&c, srv, "/redirect/3");
	c.opts.follow_redirects = 1;
	c.opts.max_redirects = 1;
	run_in_task(&c);
	expect_fail(&c, ELOOP);
	/* Exactly as many as allowed. */
	call_setup_opts(&c, srv, "/redirect/3");
	c.opts.follow_redirects = 1;
	c.opts.max_redirects = 3;
	run_in_task(&c);
	expect_ok(&c, 200, "landed", 6);
	call_free(&c);
	/* The default limit is 10. */
	call_setup_opts(&c, srv, "/redirect/10");
	c.opts.follow_redirects = 1;
	run_in_task(&c);
	expect_ok(&c, 200, "landed", 6);
	ck_assert_str_eq(weft_response_url(c.res), landed);
	call_free(&c);
	call_setup_opts(&c, srv, "/redirect/11");
	c.opts.follow_redirects = 1;
	run_in_task(&c);
	expect_fail(&c, ELOOP);
	/* max_redirects 0: none at all. */
	call_setup_opts(&c, srv, "/redirect/1");
	c.opts.follow_redirects = 1;
	c.opts.max_redirects = 0;
	run_in_task(&c);
	expect_fail(&c, ELOOP);
	call_setup_opts(&c, srv, "/redirect/0");
	c.opts.follow_redirects = 1;
	c.opts.max_redirects = 0;
	run_in_task(&c);
	expect_ok(&c, 200, "landed", 6);
	call_free(&c);
	/* -1: no limit; below that: invalid. */
	call_setup_opts(&c, srv, "/redirect/25");
	c.opts.follow_redirects = 1;
	c.opts.max_redirects = -1;
	run_in_task(&c);
	expect_ok(&c, 200, "landed", 6);
	ck_assert_str_eq(weft_response_url(c.res), landed);
	call_free(&c);
	call_setup_opts(&c, srv, "/redirect/1");
	c.opts.follow_redirects = 1;
	c.opts.max_redirects = -2;
	run_in_task(&c);
	expect_fail(&c, EINVAL);
	stop_server(srv);
}
END_TEST

START_TEST(chunked_body)
{
	struct http_server *srv;
	struct call c;
	size_t n = http_chunked_body(NULL, 0);
	char *want = malloc(n);

	ck_assert_ptr_nonnull(want);
	ck_assert_uint_eq(http_chunked_body(want, n), n);
	srv = start_server();
	call_setup(&c, srv, "/chunked");
	run_in_task(&c);
	expect_ok(&c, 200, want, n);
	expect_header(&c, "Transfer-Encoding", "chunked");
	expect_header(&c, "Content-Length", NULL);
	call_free(&c);
	free(want);
	stop_server(srv);
}
END_TEST

/* ---- large bodies, streaming, size cap -------------------------------------------- */

static void expect_pattern_body(const struct call *c, size_t n)
{
	const void *b;
	size_t len = 0;

	ck_assert_msg(c->res != NULL, "%s: fetch failed: errno %d (%s) \"%s\"",
	    c->url, c->err, strerror(c->err), c->msg);
	ck_assert_int_eq(weft_response_status(c->res), 200);
	b = weft_response_body(c->res, &len);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(len, n);
	ck_assert_msg(fnv(FNV_START, b, len) == pattern_fnv(n), "%s: body checksum differs",
	    c->url);
	ck_assert_int_eq(((const char *)b)[len], '\0');
}

START_TEST(large_body)
{
	struct http_server *srv;
	struct call c;
	char path[64];
	size_t n = large_bytes();

	srv = start_server();
	snprintf(path, sizeof(path), "/large/%zu", n);
	call_setup(&c, srv, path);
	run_in_task(&c);
	expect_pattern_body(&c, n);
	expect_header(&c, "Content-Length", path + 7);
	call_free(&c);

	/* Unknown length: chunked. */
	snprintf(path, sizeof(path), "/large-chunked/%zu", 4 * MIB + 1);
	call_setup(&c, srv, path);
	run_in_task(&c);
	expect_pattern_body(&c, 4 * MIB + 1);
	call_free(&c);
	stop_server(srv);
}
END_TEST

struct sink {
	size_t total;
	uint64_t h;
	int calls;
	size_t stop_at;     /* when total reaches it (0: never) */
	int stop_zero;      /* then return 0 (else len - 1) */
};

static size_t sink_cb(const void *data, size_t len, void *arg)
{
	struct sink *s = arg;

	s->calls++;
	s->total += len;
	s->h = fnv(s->h, data, len);
	if (s->stop_at != 0 && s->total >= s->stop_at)
		return s->stop_zero ? 0 : len - 1;
	return len;
}

START_TEST(stream_on_body)
{
	struct http_server *srv;
	struct call c;
	struct sink sk;
	size_t n = 1048576, len = 99, clen;
	const char *b;
	char *want;

	srv = start_server();
	memset(&sk, 0, sizeof(sk));
	sk.h = FNV_START;
	call_setup_opts(&c, srv, "/large/1048576");
	c.opts.on_body = sink_cb;
	c.opts.on_body_arg = &sk;
	run_in_task(&c);
	ck_assert_msg(c.res != NULL, "streamed fetch failed: errno %d (%s) \"%s\"",
	    c.err, strerror(c.err), c.msg);
	ck_assert_int_eq(weft_response_status(c.res), 200);
	ck_assert_uint_eq(sk.total, n);
	ck_assert_msg(sk.h == pattern_fnv(n), "streamed bytes differ from the pattern");
	ck_assert_int_ge(sk.calls, 1);
	/* The response keeps no body. */
	b = weft_response_body(c.res, &len);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(b, "");
	ck_assert_str_eq(c.msg, "");
	call_free(&c);

	/* Chunked: the callback sees the decoded content. */
	clen = http_chunked_body(NULL, 0);
	want = malloc(clen);
	ck_assert_ptr_nonnull(want);
	http_chunked_body(want, clen);
	memset(&sk, 0, sizeof(sk));
	sk.h = FNV_START;
	call_setup_opts(&c, srv, "/chunked");
	c.opts.on_body = sink_cb;
	c.opts.on_body_arg = &sk;
	run_in_task(&c);
	ck_assert_ptr_nonnull(c.res);
	ck_assert_uint_eq(sk.total, clen);
	ck_assert_msg(sk.h == fnv(FNV_START, want, clen), "streamed chunked content differs");
	call_free(&c);
	free(want);
	stop_server(srv);
}
END_TEST

START_TEST(stream_stopped_by_callback)
{
	struct http_server *srv;
	struct call c;
	struct sink sk;

	srv = start_server();
	/* 0 at the first call. */
	memset(&sk, 0, sizeof(sk));
	sk.stop_at = 1;
	sk.stop_zero = 1;
	call_setup_opts(&c, srv, "/large/1048576");
	c.opts.on_body = sink_cb;
	c.opts.on_body_arg = &sk;
	run_in_task(&c);
	expect_fail(&c, ECANCELED);
	ck_assert_int_eq(sk.calls, 1);

	/* A short count after 100000 bytes; also with an unknown length. */
	memset(&sk, 0, sizeof(sk));
	sk.stop_at = 100000;
	call_setup_opts(&c, srv, "/large-chunked/1048576");
	c.opts.on_body = sink_cb;
	c.opts.on_body_arg = &sk;
	run_in_task(&c);
	expect_fail(&c, ECANCELED);
	ck_assert_uint_ge(sk.total, 100000);
	ck_assert_uint_lt(sk.total, 1048576);

	/* Nothing broken for the next fetch. */
	call_setup(&c, srv, "/body");
	run_in_task(&c);
	expect_ok(&c, 200, "hello, weft\n", 12);
	call_free(&c);
	stop_server(srv);
}
END_TEST

START_TEST(max_body)
{
	struct http_server *srv;
	struct call c;
	struct sink sk;

	srv = start_server();
	/* Announced length. */
	call_setup_opts(&c, srv, "/large/100000");
	c.opts.max_body = 1000;
	run_in_task(&c);
	expect_fail(&c, EMSGSIZE);
	call_setup_opts(&c, srv, "/large/100000");
	c.opts.max_body = 100000;
	run_in_task(&c);
	expect_pattern_body(&c, 100000);
	call_free(&c);

	/* Unknown length: enforced while receiving. */
	call_setup_opts(&c, srv, "/large-chunked/100000");
	c.opts.max_body = 1000;
	run_in_task(&c);
	expect_fail(&c, EMSGSIZE);
	call_setup_opts(&c, srv, "/large-chunked/100000");
	c.opts.max_body = 99999;
	run_in_task(&c);
	expect_fail(&c, EMSGSIZE);
	call_setup_opts(&c, srv, "/large-chunked/100000");
	c.opts.max_body = 100000;
	run_in_task(&c);
	expect_pattern_body(&c, 100000);
	call_free(&c);

	/* Ignored when the body is streamed. */
	memset(&sk, 0, sizeof(sk));
	sk.h = FNV_START;
	call_setup_opts(&c, srv, "/large-chunked/100000");
	c.opts.max_body = 1000;
	c.opts.on_body = sink_cb;
	c.opts.on_body_arg = &sk;
	run_in_task(&c);
	expect_ok(&c, 200, "", 0);
	ck_assert_uint_eq(sk.total, 100000);
	ck_assert(sk.h == pattern_fnv(100000));
	call_free(&c);

	call_setup(&c, srv, "/body");
	run_in_task(&c);
	expect_ok(&c, 200, "hello, weft\n", 12);
	call_free(&c);
	stop_server(srv);
}
END_TEST

/* ---- failures ------------------------------------------------------------------- */

START_TEST(broken_responses)
{
	static const char *const paths[] = { "/malformed", "/nothing", "/close-mid-body" };
	struct http_server *srv;
	struct call c;
	size_t i;

	srv = start_server();
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		call_setup(&c, srv, paths[i]);
		run_in_task(&c);
		expect_fail(&c, EPROTO);
	}
	ck_assert_uint_ge(srv->requests, 3);
	stop_server(srv);
}
END_TEST

/* A head over libcurl's limits is the server's fault: EPROTO with words
 * that say so, not "out of memory". */
START_TEST(oversized_response_head)
{
	struct http_server *srv = start_server();
	struct call c;
	const char *v;

	call_setup(&c, srv, "/big-header/2097200");     /* one 2 MiB line */
	run_in_task(&c);
	expect_fail(&c, EPROTO);
	ck_assert_msg(strstr(c.msg, "header") != NULL, "message: %s", c.msg);
	call_setup(&c, srv, "/many-headers/30000");     /* 3 MB of lines */
	run_in_task(&c);
	expect_fail(&c, EPROTO);
	ck_assert_msg(strstr(c.msg, "header") != NULL, "message: %s", c.msg);
	/* A large head within the limits arrives whole. */
	call_setup(&c, srv, "/big-header/90000");
	run_in_task(&c);
	expect_ok(&c, 200, "ok", 2);
	v = weft_response_header(c.res, "X-Big");
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(strlen(v), 90000);
	call_free(&c);
	stop_server(srv);
}
END_TEST

START_TEST(connection_refused)
{
	struct call c;
	char url[64];
	uint16_t port;
	/* Bound, not listening: connections are refused, and no one else can
	 * take the port meanwhile. */
	int fd = loopback_socket(-1, &port);

	ck_assert_int_ge(fd, 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/body", (unsigned)port);
	call_setup(&c, NULL, url);
	run_in_task(&c);
	expect_fail(&c, ECONNREFUSED);
	call_setup_opts(&c, NULL, url);
	c.opts.follow_redirects = 1;
	run_in_task(&c);
	expect_fail(&c, ECONNREFUSED);
	close(fd);
	ck_assert_int_eq(weft_run(), 0);
}
END_TEST

START_TEST(bad_urls)
{
	/* None of these gets as far as resolving a name. */
	static const char *const urls[] = {
		"", "not a url", "http://[::1", "http://", "gopherx://127.0.0.1/",
		"http://127.0.0.1:99999/",
		/* HTTP and HTTPS only (weft_fetch(3): "one HTTP or HTTPS
		 * exchange"), so nothing local is read either. */
		"file:///dev/null", "ftp://127.0.0.1:1/", "dict://127.0.0.1:1/"
	};
	struct http_server *srv;
	struct call c;
	size_t i;

	/* After a fetch that connected, so the handles the bad URLs reuse
	 * remember a connection: the error must not say it made one. */
	srv = start_server();
	call_setup(&c, srv, "/body");
	run_in_task(&c);
	expect_ok(&c, 200, "hello, weft\n", 12);
	call_free(&c);
	stop_server(srv);
	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		call_setup(&c, NULL, urls[i]);
		c.optp = &c.opts;
		run_in_task(&c);
		expect_fail(&c, EINVAL);
	}
	/* NULL url, with and without opts. */
	call_setup(&c, NULL, "");
	c.null_url = 1;
	run_in_task(&c);
	expect_fail(&c, EINVAL);
	c.optp = &c.opts;
	run_in_task(&c);
	expect_fail(&c, EINVAL);
	ck_assert_int_eq(weft_run(), 0);
}
END_TEST

START_TEST(opts_validation)
{
	struct http_server *srv;
	weft_fetch_opts o;
	struct call c;
	const char *dflt = "weft/" WEFT_VERSION_STRING;

	assert_fails(weft_fetch_opts_init(NULL), EINVAL);
	memset(&o, 0xab, sizeof(o));
	ck_assert_int_eq(weft_fetch_opts_init(&o), 0);
	ck_assert_uint_eq(o.size, sizeof(o));
	ck_assert_ptr_null(o.method);
	ck_assert_ptr_null(o.headers);
	ck_assert_ptr_null(o.body);
	ck_assert_uint_eq(o.body_len, 0);
	ck_assert_int_eq(o.timeout_ms, 0);
	ck_assert_int_eq(o.connect_timeout_ms, 0);
	ck_assert_int_eq(o.follow_redirects, 0);
	ck_assert_int_eq(o.max_redirects, 10);
	ck_assert_uint_eq(o.max_body, 0);
	ck_assert_ptr_null(o.user_agent);
	ck_assert_ptr_null(o.on_body);
	ck_assert_ptr_null(o.on_body_arg);

	srv = start_server();
	/* Invalid options fail before anything is sent. */
	call_setup_opts(&c, srv, "/body");
	c.opts.size = 0;
	run_in_task(&c);
	expect_fail(&c, EINVAL);
	call_setup_opts(&c, srv, "/body");
	c.opts.size = 1;
	run_in_task(&c);
	expect_fail(&c, EINVAL);
	call_setup_opts(&c, srv, "/body");
	c.opts.timeout_ms = -1;
	run_in_task(&c);
	expect_fail(&c, EINVAL);
	call_setup_opts(&c, srv, "/body");
	c.opts.connect_timeout_ms = -5;
	run_in_task(&c);
	expect_fail(&c, EINVAL);
	ck_assert_uint_eq(srv->requests, 0);

	/* Fields past the caller's size are not read. */
	call_setup_opts(&c, srv, "/body");
	c.opts.size = offsetof(weft_fetch_opts, timeout_ms);
	c.opts.timeout_ms = -1;
	c.opts.connect_timeout_ms = -1;
	run_in_task(&c);
	expect_ok(&c, 200, "hello, weft\n", 12);
	call_free(&c);
	call_setup_opts(&c, srv, "/user-agent");
	c.opts.size = offsetof(weft_fetch_opts, user_agent);
	c.opts.user_agent = "not read";
	run_in_task(&c);
	expect_ok(&c, 200, dflt, strlen(dflt));
	call_free(&c);
	call_setup_opts(&c, srv, "/redirect/1");
	c.opts.size = offsetof(weft_fetch_opts, follow_redirects);
	c.opts.follow_redirects = 1;
	run_in_task(&c);
	expect_ok(&c, 302, "redirect\n", 9);
	call_free(&c);
	stop_server(srv);
}
END_TEST

static void fetch_in_task_body(void *arg)
{
	run_in_task(arg);
}

/* No descriptor left for the connection: EMFILE, not a refused
 * connection.  The runtime's own descriptors exist already. */
START_TEST(fetch_out_of_descriptors)
{
	struct http_server *srv;
	struct call c;

	if (under_valgrind())
		return;     /* valgrind keeps descriptors of its own */
	srv = start_server();
	call_setup(&c, srv, "/body");
	run_in_task(&c);
	expect_ok(&c, 200, "hello, weft\n", 12);
	call_free(&c);
	/* A new connection, not the one kept alive. */
	call_setup_opts(&c, srv, "/body");
	c.opts.headers = (const char *const[]){ "Connection: close", NULL };
	run_in_task(&c);
	call_free(&c);
	call_setup(&c, srv, "/body");
	run_without_fds(fetch_in_task_body, &c);
	expect_fail(&c, EMFILE);
	stop_server(srv);
}
END_TEST

/* Run c in a task: it must fail with EINVAL and weft_errmsg name word. */
static void expect_invalid(struct call *c, const char *word)
{
	run_in_task(c);
	expect_fail(c, EINVAL);
	ck_assert_msg(strstr(c->msg, word) != NULL, "errmsg: %s", c->msg);
}

/* A size that cuts through a field, or that no structure could have. */
START_TEST(opts_size_between_fields)
{
	static const size_t bad[] = { 12, 20, 30, 50, sizeof(weft_fetch_opts) + 4,
	    (size_t)1 << 30, SIZE_MAX };
	struct http_server *srv = start_server();
	struct call c;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		call_setup_opts(&c, srv, "/body");
		c.opts.size = bad[i];
		expect_invalid(&c, "size");
	}
	/* At a field's end the size is fine. */
	call_setup_opts(&c, srv, "/body");
	c.opts.size = offsetof(weft_fetch_opts, headers);
	run_in_task(&c);
	expect_ok(&c, 200, "hello, weft\n", 12);
	call_free(&c);
	ck_assert_uint_eq(srv->requests, 1);
	stop_server(srv);
}
END_TEST

/* Line breaks that would add headers or requests never reach the wire. */
START_TEST(opts_no_request_smuggling)
{
	static const char *const crlf[] = { "X-A: 1\r\nX-Smuggled: 1", NULL };
	static const char *const lf[] = { "X-A: 1", "X-B: 2\n", NULL };
	static const char *const cr[] = { "X-A: 1\rGET /x HTTP/1.1", NULL };
	static const char *const bad_methods[] = { "", "GET /x", "PO\r\nST",
	    "G\tT", "DEL\"ETE" };
	struct http_server *srv = start_server();
	const char *const *headers[] = { crlf, lf, cr };
	struct call c;
	size_t i;

	for (i = 0; i < 3; i++) {
		call_setup_opts(&c, srv, "/body");
		c.opts.headers = headers[i];
		expect_invalid(&c, "header");
	}
	for (i = 0; i < sizeof(bad_methods) / sizeof(bad_methods[0]); i++) {
		call_setup_opts(&c, srv, "/body");
		c.opts.method = bad_methods[i];
		expect_invalid(&c, "method");
	}
	call_setup_opts(&c, srv, "/body");
	c.opts.user_agent = "weft\r\nX-Smuggled: 1";
	expect_invalid(&c, "user_agent");
	call_setup_opts(&c, srv, "/body");
	c.opts.body = "x";
	c.opts.body_len = SIZE_MAX;
	expect_invalid(&c, "body_len");
	ck_assert_uint_eq(srv->requests, 0);
	/* A URL longer than libcurl can send. */
	call_setup_opts(&c, srv, "/body");
	{
		size_t n = strlen(c.url), len = 1000001;
		char *u = malloc(len + 1);

		ck_assert_ptr_nonnull(u);
		memcpy(u, c.url, n);
		memset(u + n, 'a', len - n);
		u[len] = '\0';
		c.long_url = u;
		expect_invalid(&c, "URL");
		free(u);
	}
	ck_assert_uint_eq(srv->requests, 0);
	/* A method that is a token is sent as it is. */
	call_setup_opts(&c, srv, "/body");
	c.opts.method = "GET";
	run_in_task(&c);
	expect_ok(&c, 200, "hello, weft\n", 12);
	call_free(&c);
	stop_server(srv);
}
END_TEST

/*
 * Binary compatibility: a caller built against a newer <weft.h>, whose
 * structure is larger, is served as long as the fields unknown here are 0.
 */
struct newer_opts {
	weft_fetch_opts o;
	unsigned char later[24];
};

START_TEST(opts_binary_compat)
{
	struct http_server *srv;
	struct newer_opts n;
	struct call c;
	size_t i;

	assert_fails(weft_fetch_opts_init_sized(NULL, sizeof(weft_fetch_opts)), EINVAL);
	assert_fails(weft_fetch_opts_init_sized(&n.o, 0), EINVAL);
	assert_fails(weft_fetch_opts_init_sized(&n.o, sizeof(size_t)), EINVAL);
	/* weft 0.1's structure, which ended at on_body_arg, is the smallest
	 * accepted; a caller built against it is served. */
	assert_fails(weft_fetch_opts_init_sized(&n.o,
	    offsetof(weft_fetch_opts, on_body_arg) + sizeof(void *) - 1), EINVAL);
	ck_assert_int_eq(weft_fetch_opts_init_sized(&n.o,
	    offsetof(weft_fetch_opts, on_body_arg) + sizeof(void *)), 0);
	memset(&n, 0xab, sizeof(n));
	ck_assert_int_eq(weft_fetch_opts_init_sized(&n.o, sizeof(n)), 0);
	ck_assert_uint_eq(n.o.size, sizeof(n));
	ck_assert_int_eq(n.o.max_redirects, 10);
	ck_assert_ptr_null(n.o.on_body_arg);
	for (i = 0; i < sizeof(n.later); i++)
		ck_assert_msg(n.later[i] == 0, "byte %zu past the known fields not zeroed", i);

	srv = start_server();
	call_setup(&c, srv, "/redirect/1");
	c.optp = &n.o;
	n.o.follow_redirects = 1;
	run_in_task(&c);
	expect_ok(&c, 200, "landed", 6);
	call_free(&c);
	ck_assert_uint_eq(srv->requests, 2);
	/* A field unknown to this library is set: refused, nothing sent. */
	n.later[sizeof(n.later) - 1] = 1;
	run_in_task(&c);
	expect_fail(&c, EINVAL);
	n.later[sizeof(n.later) - 1] = 0;
	n.later[0] = 1;
	run_in_task(&c);
	expect_fail(&c, EINVAL);
	ck_assert_uint_eq(srv->requests, 2);
	stop_server(srv);
}
END_TEST

/* weft_errmsg: per task, "" before any fetch and after a success. */
struct errmsg_ctx {
	char url_ok[256], url_refused[256];
	char first[512];
};

static void *errmsg_ok_task(void *arg)
{
	struct errmsg_ctx *x = arg;
	weft_response *r;

	TASK_CHECK(weft_errmsg() != NULL && weft_errmsg()[0] == '\0');
	r = weft_fetch(x->url_ok, NULL);
	TASK_CHECK(r != NULL && weft_response_status(r) == 200);
	TASK_CHECK(weft_errmsg() != NULL && weft_errmsg()[0] == '\0');
	weft_response_free(r);
	return NULL;
}

static void *errmsg_task(void *arg)
{
	struct errmsg_ctx *x = arg;
	weft_response *r;
	weft_task *t;
	const char *m;

	m = weft_errmsg();
	TASK_CHECK(m != NULL && m[0] == '\0');
	errno = 0;
	r = weft_fetch(x->url_refused, NULL);
	TASK_CHECK(r == NULL && errno == ECONNREFUSED);
	m = weft_errmsg();
	TASK_CHECK(m != NULL && m[0] != '\0');
	snprintf(x->first, sizeof(x->first), "%s", m ? m : "");
	/* Another task's success leaves this task's message alone. */
	t = weft_spawn(errmsg_ok_task, x);
	TASK_CHECK(t != NULL);
	if (t != NULL)
		TASK_CHECK(weft_join(t, NULL) == 0);
	m = weft_errmsg();
	TASK_CHECK(m != NULL && strcmp(m, x->first) == 0);
	/* Its own success clears it. */
	r = weft_fetch(x->url_ok, NULL);
	TASK_CHECK(r != NULL);
	m = weft_errmsg();
	TASK_CHECK(m != NULL && m[0] == '\0');
	weft_response_free(r);
	return NULL;
}

START_TEST(errmsg_per_task)
{
	struct http_server *srv;
	struct errmsg_ctx x;
	uint16_t port;
	int fd = loopback_socket(-1, &port);
	weft_task *t;

	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(weft_errmsg());
	srv = start_server();
	memset(&x, 0, sizeof(x));
	http_server_url(srv, "/body", x.url_ok, sizeof(x.url_ok));
	snprintf(x.url_refused, sizeof(x.url_refused), "http://127.0.0.1:%u/", (unsigned)port);
	task_checks_reset();
	t = weft_spawn(errmsg_task, &x);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	assert_task_checks_passed();
	close(fd);
	stop_server(srv);
}
END_TEST

/* ---- time limits and cancellation ---------------------------------------------------- */

START_TEST(timeout_ms)
{
	struct http_server *srv;
	struct call c;

	srv = start_server();
	call_setup_opts(&c, srv, "/slow/5000");
	c.opts.timeout_ms = 200;
	run_in_task(&c);
	expect_fail(&c, ETIMEDOUT);
	/* 5 ms of slack: libcurl's clock is CLOCK_MONOTONIC_RAW. */
	ck_assert_int_ge(elapsed_ms(&c), 195);
	ck_assert_int_lt(elapsed_ms(&c), 4000 * slow_factor());

	/* A body that never ends. */
	call_setup_opts(&c, srv, "/forever");
	c.opts.timeout_ms = 500;
	run_in_task(&c);
	expect_fail(&c, ETIMEDOUT);
	ck_assert_int_ge(elapsed_ms(&c), 495);
	ck_assert_int_lt(elapsed_ms(&c), 4000 * slow_factor());

	/* The runtime's fetching goes on. */
	call_setup(&c, srv, "/body");
	run_in_task(&c);
	expect_ok(&c, 200, "hello, weft\n", 12);
	call_free(&c);
	stop_server(srv);
}
END_TEST

/*
 * connect_timeout_ms: a listener whose accept queue is full (backlog 0,
 * one connection never accepted) drops further SYNs, so a connect hangs
 * locally, without any traffic leaving the machine.
 */
START_TEST(connect_timeout)
{
	struct call c;
	char url[64];
	uint16_t port;
	int l = loopback_socket(0, &port), filler;
	struct sockaddr_in a = loopback_addr(port);

	ck_assert_int_ge(l, 0);
	filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(filler, 0);
	ck_assert_int_eq(connect(filler, (struct sockaddr *)&a, sizeof(a)), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/body", (unsigned)port);
	call_setup_opts(&c, NULL, url);
	c.opts.connect_timeout_ms = 300;
	run_in_task(&c);
	expect_fail(&c, ETIMEDOUT);
	ck_assert_int_ge(elapsed_ms(&c), 295);
	ck_assert_int_lt(elapsed_ms(&c), 4000 * slow_factor());
	close(filler);
	close(l);
	ck_assert_int_eq(weft_run(), 0);
}
END_TEST

START_TEST(task_deadline)
{
	struct http_server *srv;
	struct call c;
	unsigned long requests;

	srv = start_server();
	call_setup(&c, srv, "/slow/5000");
	c.deadline = weft_now() + 200 * MS_NS;
	run_in_task(&c);
	expect_fail(&c, ETIMEDOUT);
	ck_assert_msg(c.t1 >= c.deadline, "ETIMEDOUT %.3f ms before the deadline",
	    (double)(c.deadline - c.t1) / 1e6);
	ck_assert_int_lt(elapsed_ms(&c), 4000 * slow_factor());

	/* The deadline bounds a body that never ends, too. */
	call_setup(&c, srv, "/forever");
	c.deadline = weft_now() + 300 * MS_NS;
	run_in_task(&c);
	expect_fail(&c, ETIMEDOUT);
	ck_assert(c.t1 >= c.deadline);
	ck_assert_int_lt(elapsed_ms(&c), 4000 * slow_factor());

	/* Already past: fails at once, without sending anything. */
	requests = srv->requests;
	call_setup(&c, srv, "/body");
	c.deadline = weft_now();
	run_in_task(&c);
	expect_fail(&c, ETIMEDOUT);
	ck_assert_int_lt(elapsed_ms(&c), 2000 * slow_factor());
	ck_assert_uint_eq(srv->requests, requests);

	/* An outer deadline later than timeout_ms: timeout_ms wins. */
	call_setup_opts(&c, srv, "/slow/5000");
	c.opts.timeout_ms = 200;
	c.deadline = weft_now() + 3000 * MS_NS;
	run_in_task(&c);
	expect_fail(&c, ETIMEDOUT);
	ck_assert_int_lt(c.t1, c.deadline);

	call_setup(&c, srv, "/body");
	run_in_task(&c);
	expect_ok(&c, 200, "hello, weft\n", 12);
	call_free(&c);
	stop_server(srv);
}
END_TEST

/* In a task: park in 1 ms sleeps until *v >= want; 0, or -1 past the guard. */
static int await_count(const volatile unsigned long *v, unsigned long want)
{
	int64_t end = weft_now() + GUARD_NS;

	while (*v < want)
		if (weft_now() > end || weft_sleep(1) != 0)
			return -1;
	return 0;
}

struct cancel_ctx {
	struct http_server *srv;
	weft_task *victim;
	struct call c[2];
	int64_t t_cancel;
	int await_rc, cancel_rc;
};

static void *victim_task(void *arg)
{
	struct cancel_ctx *x = arg;

	do_fetch(&x->c[0]);
	do_fetch(&x->c[1]);     /* cancelled for good: fails at once */
	return NULL;
}

static void *canceller_task(void *arg)
{
	struct cancel_ctx *x = arg;

	/* The request has reached the server: the fetch is under way. */
	x->await_rc = await_count(&x->srv->requests, 1);
	x->t_cancel = weft_now();
	x->cancel_rc = weft_cancel(x->victim);
	return NULL;
}

START_TEST(cancel_while_fetching)
{
	struct http_server *srv;
	struct cancel_ctx x;
	weft_task *k;

	srv = start_server();
	memset(&x, 0, sizeof(x));
	x.srv = srv;
	call_setup(&x.c[0], srv, "/slow/5000");
	call_setup(&x.c[1], srv, "/body");
	x.victim = weft_spawn(victim_task, &x);
	ck_assert_ptr_nonnull(x.victim);
	k = weft_spawn(canceller_task, &x);
	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(weft_join(k, NULL), 0);
	ck_assert_int_eq(weft_join(x.victim, NULL), 0);
	ck_assert_int_eq(x.await_rc, 0);
	ck_assert_int_eq(x.cancel_rc, 0);
	expect_fail(&x.c[0], ECANCELED);
	ck_assert_int_lt((x.c[0].t1 - x.t_cancel) / MS_NS, 1000 * slow_factor());
	ck_assert_int_lt(elapsed_ms(&x.c[0]), 4000 * slow_factor());
	expect_fail(&x.c[1], ECANCELED);
	ck_assert_int_lt(elapsed_ms(&x.c[1]), 1000 * slow_factor());
	ck_assert_uint_eq(srv->requests, 1);
	stop_server(srv);
}
END_TEST

START_TEST(cancel_before_fetch)
{
	struct http_server *srv;
	struct call c;
	weft_task *t;

	srv = start_server();
	call_setup(&c, srv, "/slow/5000");
	t = weft_spawn(fetch_task, &c);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_cancel(t), 0);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	expect_fail(&c, ECANCELED);
	ck_assert_int_lt(elapsed_ms(&c), 1000 * slow_factor());

	/* Cancellation wins over a deadline that has passed. */
	call_setup(&c, srv, "/body");
	c.deadline = weft_now();
	t = weft_spawn(fetch_task, &c);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_cancel(t), 0);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	expect_fail(&c, ECANCELED);
	/* Nothing was sent. */
	ck_assert_uint_eq(srv->requests, 0);
	stop_server(srv);
}
END_TEST

/* ---- many fetches: concurrency, connection reuse, threads ---------------------------------- */

START_TEST(concurrent_fetches)
{
	int n = concurrency(), i;
	struct call *c = calloc((size_t)n, sizeof(*c));
	weft_task **t = calloc((size_t)n, sizeof(*t));
	struct http_server *srv;
	int64_t t0, wall_ms;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_ge(raise_fd_limit(), 4 * n + 64);
	srv = start_server();
	for (i = 0; i < n; i++)
		call_setup(&c[i], srv, "/slow/500");
	t0 = weft_now();
	for (i = 0; i < n; i++) {
		t[i] = weft_spawn(fetch_task, &c[i]);
		ck_assert_ptr_nonnull(t[i]);
	}
	for (i = 0; i < n; i++)
		ck_assert_int_eq(weft_join(t[i], NULL), 0);
	wall_ms = (weft_now() - t0) / MS_NS;
	for (i = 0; i < n; i++) {
		expect_ok(&c[i], 200, "slow\n", 5);
		call_free(&c[i]);
	}
	/* One after another they would take n * 500 ms. */
	ck_assert_msg(wall_ms < 5000 * slow_factor(),
	    "%d fetches of /slow/500 took %lld ms", n, (long long)wall_ms);
	/* Each was in flight at once: each had its own connection. */
	ck_assert_uint_ge(srv->connections, (unsigned long)n);
	ck_assert_uint_eq(srv->requests, (unsigned long)n);
	free(c);
	free(t);
	stop_server(srv);
}
END_TEST

struct seq_ctx {
	struct http_server *srv;
	int n, ok;
};

static void *sequential_task(void *arg)
{
	struct seq_ctx *x = arg;
	struct call c;
	int i;

	for (i = 0; i < x->n; i++) {
		call_setup(&c, x->srv, "/body");
		do_fetch(&c);
		if (c.res != NULL && weft_response_status(c.res) == 200)
			x->ok++;
		call_free(&c);
	}
	return NULL;
}

START_TEST(connection_reuse)
{
	struct http_server *srv;
	struct seq_ctx x;
	weft_task *t;
	int i;

	srv = start_server();
	memset(&x, 0, sizeof(x));
	x.srv = srv;
	x.n = 20;
	t = weft_spawn(sequential_task, &x);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(weft_join(t, NULL), 0);
	ck_assert_int_eq(x.ok, 20);
	ck_assert_uint_eq(srv->requests, 20);
	ck_assert_msg(srv->connections <= 2, "20 sequential fetches used %lu connections",
	    srv->connections);

	/* The connection is the runtime's, not the task's. */
	x.ok = 0;
	x.n = 1;
	for (i = 0; i < 10; i++) {
		t = weft_spawn(sequential_task, &x);
		ck_assert_ptr_nonnull(t);
		ck_assert_int_eq(weft_join(t, NULL), 0);
	}
	ck_assert_int_eq(x.ok, 10);
	ck_assert_msg(srv->connections <= 2, "30 sequential fetches from 11 tasks used "
	    "%lu connections", srv->connections);
	stop_server(srv);
}
END_TEST

/*
 * Several OS threads, each with its own runtime, server and fetches, all
 * making their first fetch at once (libcurl's global init is done once).
 */
struct thread_run {
	pthread_barrier_t *barrier;
	int n;
	int started, ok, stop_rc;
	unsigned long requests;
};

static void *thread_run_main(void *arg)
{
	struct thread_run *r = arg;
	struct http_server srv;
	struct call *c = calloc((size_t)r->n, sizeof(*c));
	weft_task **t = calloc((size_t)r->n, sizeof(*t));
	int i;

	r->started = c != NULL && t != NULL && http_server_start(&srv) == 0;
	pthread_barrier_wait(r->barrier);
	if (!r->started) {
		free(c);
		free(t);
		return NULL;
	}
	for (i = 0; i < r->n; i++) {
		call_setup(&c[i], &srv, "/body");
		t[i] = weft_spawn(fetch_task, &c[i]);
	}
	for (i = 0; i < r->n; i++) {
		if (t[i] == NULL || weft_join(t[i], NULL) != 0)
			continue;
		if (c[i].res != NULL && weft_response_status(c[i].res) == 200 &&
		    strcmp(weft_response_body(c[i].res, NULL), "hello, weft\n") == 0)
			r->ok++;
		call_free(&c[i]);
	}
	r->stop_rc = http_server_stop(&srv);
	r->requests = srv.requests;
	free(c);
	free(t);
	return NULL;
}

START_TEST(runtimes_in_threads)
{
	enum { THREADS = 4 };
	struct thread_run r[THREADS];
	pthread_t th[THREADS];
	pthread_barrier_t b;
	int i, per = under_valgrind() ? 5 : 20;

	ck_assert_int_eq(pthread_barrier_init(&b, NULL, THREADS), 0);
	for (i = 0; i < THREADS; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].barrier = &b;
		r[i].n = per;
		ck_assert_int_eq(pthread_create(&th[i], NULL, thread_run_main, &r[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&b);
	for (i = 0; i < THREADS; i++) {
		ck_assert_msg(r[i].started, "thread %d could not start its server", i);
		ck_assert_msg(r[i].ok == per, "thread %d: %d of %d fetches right", i, r[i].ok, per);
		ck_assert_int_eq(r[i].stop_rc, 0);
		ck_assert_uint_eq(r[i].requests, (unsigned long)per);
	}
}
END_TEST

/* ---- outside any task ------------------------------------------------------------------ */

/*
 * A fetch outside a task blocks the thread, so the server runs on another
 * thread, in that thread's runtime.
 */
START_TEST(outside_task)
{
	struct http_server_thread *st;
	struct call c;
	struct sink sk;
	char url[64];
	uint16_t port;
	int fd = loopback_socket(-1, &port);

	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(weft_errmsg());
	st = start_server_thread();
	ck_assert_ptr_null(weft_self());

	call_setup(&c, &st->srv, "/body");
	do_fetch(&c);
	expect_ok(&c, 200, "hello, weft\n", 12);
	expect_header(&c, "Content-Type", "text/plain");
	call_free(&c);

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/body", (unsigned)port);
	call_setup(&c, NULL, url);
	do_fetch(&c);
	expect_fail(&c, ECONNREFUSED);

	call_setup(&c, NULL, "gopherx://127.0.0.1/");
	do_fetch(&c);
	expect_fail(&c, EINVAL);

	call_setup(&c, &st->srv, "/malformed");
	do_fetch(&c);
	expect_fail(&c, EPROTO);

	/* A success after failures: weft_errmsg() is "" again. */
	call_setup_opts(&c, &st->srv, "/redirect/2");
	c.opts.follow_redirects = 1;
	do_fetch(&c);
	expect_ok(&c, 200, "landed", 6);
	call_free(&c);

	call_setup_opts(&c, &st->srv, "/echo");
	c.opts.method = "PUT";
	c.opts.body = "outside";
	c.opts.body_len = 7;
	do_fetch(&c);
	expect_ok(&c, 200, "outside", 7);
	expect_header(&c, "X-Method", "PUT");
	call_free(&c);

	call_setup_opts(&c, &st->srv, "/slow/5000");
	c.opts.timeout_ms = 200;
	do_fetch(&c);
	expect_fail(&c, ETIMEDOUT);
	ck_assert_int_ge(elapsed_ms(&c), 195);
	ck_assert_int_lt(elapsed_ms(&c), 4000 * slow_factor());

	/* The deadline of the code outside tasks bounds the call; libcurl
	 * gets the time left, so allow 5 ms for its CLOCK_MONOTONIC_RAW. */
	call_setup(&c, &st->srv, "/slow/5000");
	c.deadline = weft_now() + 200 * MS_NS;
	do_fetch(&c);
	expect_fail(&c, ETIMEDOUT);
	ck_assert_int_ge(c.t1, c.deadline - 5 * MS_NS);
	ck_assert_int_lt(elapsed_ms(&c), 4000 * slow_factor());
	ck_assert_int_eq(weft_deadline(), WEFT_NO_DEADLINE);
	call_setup(&c, &st->srv, "/body");
	c.deadline = weft_now();
	do_fetch(&c);
	expect_fail(&c, ETIMEDOUT);
	ck_assert_int_lt(elapsed_ms(&c), 1000 * slow_factor());

	call_setup_opts(&c, &st->srv, "/large-chunked/100000");
	c.opts.max_body = 1000;
	do_fetch(&c);
	expect_fail(&c, EMSGSIZE);

	memset(&sk, 0, sizeof(sk));
	sk.h = FNV_START;
	call_setup_opts(&c, &st->srv, "/large/1048576");
	c.opts.on_body = sink_cb;
	c.opts.on_body_arg = &sk;
	do_fetch(&c);
	expect_ok(&c, 200, "", 0);
	ck_assert_uint_eq(sk.total, 1048576);
	ck_assert(sk.h == pattern_fnv(1048576));
	call_free(&c);

	stop_server_thread(st);
	close(fd);
}
END_TEST

/* ---- SIGPIPE ---------------------------------------------------------------------------- */

/* The third field of a /proc/sys/net/ipv4/tcp_[rw]mem file, or `dflt`. */
static size_t tcp_mem_max(const char *path, size_t dflt)
{
	FILE *f = fopen(path, "r");
	unsigned long a, b, c;
	int n;

	if (f == NULL)
		return dflt;
	n = fscanf(f, "%lu %lu %lu", &a, &b, &c);
	fclose(f);
	return n == 3 ? (size_t)c : dflt;
}

/*
 * A request body larger than anything the two socket buffers can hold, so
 * the client is still writing when the server closes on it.
 */
static size_t unsendable_size(void)
{
	size_t n = 2 * (tcp_mem_max("/proc/sys/net/ipv4/tcp_wmem", 32 * MIB) +
	    tcp_mem_max("/proc/sys/net/ipv4/tcp_rmem", 32 * MIB)) + MIB;

	return n < 8 * MIB ? 8 * MIB : n > 256 * MIB ? 256 * MIB : n;
}

static void sigpipe_default(void)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGPIPE, &sa, NULL), 0);
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	ck_assert_int_eq(pthread_sigmask(SIG_UNBLOCK, &set, NULL), 0);
}

/* SIGPIPE still at its default and deliverable: the test proved something. */
static void sigpipe_still_default(void)
{
	struct sigaction sa;
	sigset_t set;

	ck_assert_int_eq(sigaction(SIGPIPE, NULL, &sa), 0);
	ck_assert_msg(!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL,
	    "weft changed SIGPIPE's disposition");
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, NULL, &set), 0);
	ck_assert_msg(!sigismember(&set, SIGPIPE), "SIGPIPE is blocked");
	ck_assert_int_eq(sigpending(&set), 0);
	ck_assert_msg(!sigismember(&set, SIGPIPE), "SIGPIPE is pending");
}

/* weft_fetch(3): EPROTO when "sending or receiving failed". */
static int send_failure_errno(int e)
{
	return e == EPROTO;
}

static const char *const no_expect[] = { "Expect:", NULL };

START_TEST(sigpipe_in_task)
{
	struct http_server *srv;
	struct call c;
	size_t n = unsendable_size();
	char *body = calloc(1, n);

	ck_assert_ptr_nonnull(body);
	sigpipe_default();
	srv = start_server();
	call_setup_opts(&c, srv, "/drop");
	c.opts.body = body;
	c.opts.body_len = n;
	c.opts.headers = no_expect;     /* send the body at once */
	c.opts.timeout_ms = 20000 * slow_factor();
	run_in_task(&c);
	/* Still alive. */
	ck_assert_msg(c.res == NULL && send_failure_errno(c.err),
	    "POST of %zu bytes to /drop: %p errno %d (%s) \"%s\"", n, (void *)c.res,
	    c.err, strerror(c.err), c.msg);
	ck_assert_str_ne(c.msg, "");
	ck_assert_uint_eq(srv->drops, 1);
	sigpipe_still_default();

	call_setup(&c, srv, "/body");
	run_in_task(&c);
	expect_ok(&c, 200, "hello, weft\n", 12);
	call_free(&c);
	free(body);
	stop_server(srv);
}
END_TEST

START_TEST(sigpipe_outside_task)
{
	struct http_server_thread *st;
	struct call c;
	size_t n = unsendable_size();
	char *body = calloc(1, n);

	ck_assert_ptr_nonnull(body);
	sigpipe_default();
	st = start_server_thread();
	call_setup_opts(&c, &st->srv, "/drop");
	c.opts.body = body;
	c.opts.body_len = n;
	c.opts.headers = no_expect;
	c.opts.timeout_ms = 20000 * slow_factor();
	do_fetch(&c);
	ck_assert_msg(c.res == NULL && send_failure_errno(c.err),
	    "POST of %zu bytes to /drop: %p errno %d (%s) \"%s\"", n, (void *)c.res,
	    c.err, strerror(c.err), c.msg);
	ck_assert_str_ne(c.msg, "");
	sigpipe_still_default();
	stop_server_thread(st);
	ck_assert_uint_eq(st->srv.drops, 1);
	free(body);
}
END_TEST

static Suite *fetch_suite(void)
{
	Suite *s = suite_create("fetch");
	TCase *tc;

	tc = tcase_create("responses");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, libcurl_is_loaded_by_the_first_fetch);
	tcase_add_test(tc, get_body);
	tcase_add_test(tc, status_codes);
	tcase_add_test(tc, response_headers);
	tcase_add_test(tc, null_response_accessors);
	tcase_add_test(tc, head_request);
	tcase_add_test(tc, user_agent);
	tcase_add_test(tc, request_methods_and_bodies);
	tcase_add_test(tc, redirects);
	tcase_add_test(tc, chunked_body);
	suite_add_tcase(s, tc);

	tc = tcase_create("bodies");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, large_body);
	tcase_add_test(tc, stream_on_body);
	tcase_add_test(tc, stream_stopped_by_callback);
	tcase_add_test(tc, max_body);
	suite_add_tcase(s, tc);

	tc = tcase_create("failures");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, broken_responses);
	tcase_add_test(tc, oversized_response_head);
	tcase_add_test(tc, connection_refused);
	tcase_add_test(tc, fetch_out_of_descriptors);
	tcase_add_test(tc, bad_urls);
	tcase_add_test(tc, opts_validation);
	tcase_add_test(tc, opts_binary_compat);
	tcase_add_test(tc, opts_size_between_fields);
	tcase_add_test(tc, opts_no_request_smuggling);
	tcase_add_test(tc, errmsg_per_task);
	suite_add_tcase(s, tc);

	tc = tcase_create("time");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, timeout_ms);
	tcase_add_test(tc, connect_timeout);
	tcase_add_test(tc, task_deadline);
	tcase_add_test(tc, cancel_while_fetching);
	tcase_add_test(tc, cancel_before_fetch);
	suite_add_tcase(s, tc);

	tc = tcase_create("many");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, concurrent_fetches);
	tcase_add_test(tc, connection_reuse);
	tcase_add_test(tc, runtimes_in_threads);
	suite_add_tcase(s, tc);

	tc = tcase_create("outside");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, outside_task);
	suite_add_tcase(s, tc);

	tc = tcase_create("sigpipe");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sigpipe_in_task);
	tcase_add_test(tc, sigpipe_outside_task);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fetch_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * weft_fetch against a real server: nginx (tests/nginx.c) with a private
 * CA, HTTP/2 over TLS and over cleartext, gzip, basic auth, a client
 * certificate and a forward proxy.  The whole suite skips, saying why,
 * when nginx or openssl is absent (.ci/deps installs both).
 *
 * nginx starts once per test case (an unchecked fixture), in the process
 * that runs the tests; each fetch runs in a task.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"
#include "http_server.h"
#include "nginx.h"
#include "test_util.h"

static struct nginx g_ngx;
static int g_up;
static char g_why[256];

static void nginx_setup(void)
{
	g_up = nginx_start(&g_ngx, g_why, sizeof(g_why)) == 0;
	if (!g_up)
		printf("nginx tests skipped: %s\n", g_why);
}

static void nginx_teardown(void)
{
	if (g_up)
		nginx_stop(&g_ngx);
	g_up = 0;
}

#define NEED_NGINX() do { \
	if (!g_up) { \
		printf("%s: skipped: %s\n", __func__, g_why); \
		return; \
	} \
} while (0)

/* One fetch in a task: the response or the errno and message. */
struct call {
	char url[256];
	weft_fetch_opts opts;
	weft_response *res;
	int err;
	char msg[512];
};

static void *call_task(void *arg)
{
	struct call *c = arg;

	errno = 0;
	c->res = weft_fetch(c->url, &c->opts);
	c->err = c->res ? 0 : errno;
	snprintf(c->msg, sizeof(c->msg), "%s", weft_errmsg());
	return NULL;
}

static void call_init(struct call *c, const char *scheme, const char *host,
    uint16_t port, const char *path)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->url, sizeof(c->url), "%s://%s:%u%s", scheme, host,
	    (unsigned)port, path);
	weft_fetch_opts_init(&c->opts);
}

/* An HTTPS fetch from localhost:port trusting the test CA. */
static void https_call(struct call *c, uint16_t port, const char *path)
{
	call_init(c, "https", "localhost", port, path);
	c->opts.ca_file = g_ngx.ca;
}

static void call_run(struct call *c)
{
	run_task(call_task, c);
}

#define expect_status(c, st) do { \
	ck_assert_msg((c)->res != NULL, "%s: errno %d (%s): %s", (c)->url, \
	    (c)->err, strerror((c)->err), (c)->msg); \
	ck_assert_int_eq(weft_response_status((c)->res), (st)); \
} while (0)

static void expect_body(const struct call *c, const void *want, size_t len)
{
	size_t got = 0;
	const void *b = weft_response_body(c->res, &got);

	ck_assert_uint_eq(got, len);
	ck_assert_msg(memcmp(b, want, len) == 0, "%s: body differs", c->url);
}

/* 200 and nginx's hello.txt. */
#define expect_hello(c) do { \
	expect_status(c, 200); \
	expect_body(c, NGINX_HELLO, strlen(NGINX_HELLO)); \
} while (0)

static void call_done(struct call *c)
{
	weft_response_free(c->res);
	c->res = NULL;
}

/* www/name's bytes (malloc'd) and length. */
static char *www_file(const char *name, size_t *len)
{
	char path[256];
	FILE *f;
	char *buf;
	long n;

	ck_assert_int_eq(nginx_www_path(&g_ngx, name, path, sizeof(path)), 0);
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* ---- TLS: a private CA ------------------------------------------------------ */

START_TEST(https_private_ca)
{
	struct call c;

	NEED_NGINX();
	/* Trusted through ca_file. */
	https_call(&c, g_ngx.https, "/hello.txt");
	call_run(&c);
	expect_hello(&c);
	call_done(&c);

	/* The system's store does not know the CA: refused, and said why. */
	call_init(&c, "https", "localhost", g_ngx.https, "/hello.txt");
	call_run(&c);
	ck_assert_ptr_null(c.res);
	ck_assert_int_eq(c.err, ECONNABORTED);
	ck_assert_msg(strstr(c.msg, "certificate") != NULL, "message: %s", c.msg);

	/* insecure: no check at all. */
	call_init(&c, "https", "localhost", g_ngx.https, "/hello.txt");
	c.opts.insecure = 1;
	call_run(&c);
	expect_status(&c, 200);
	call_done(&c);

	/* A CA file that is not there is the caller's mistake. */
	call_init(&c, "https", "localhost", g_ngx.https, "/hello.txt");
	c.opts.ca_file = "/nonexistent/ca.pem";
	call_run(&c);
	ck_assert_ptr_null(c.res);
	ck_assert_int_eq(c.err, EINVAL);
	ck_assert_str_ne(c.msg, "");
}
END_TEST

/* Fetches of one runtime share TLS sessions: a second connection resumes
 * the first one's session instead of a full handshake. */
START_TEST(tls_sessions_resumed)
{
	struct call c;
	long before;
	int i;

	NEED_NGINX();
	before = nginx_resumed(&g_ngx, g_ngx.https);
	for (i = 0; i < 3; i++) {
		/* /once/ closes each connection: every fetch makes one. */
		https_call(&c, g_ngx.https, "/once/hello.txt");
		c.opts.http_version = WEFT_HTTP_1_1;
		call_run(&c);
		expect_hello(&c);
		call_done(&c);
	}
	ck_assert_int_ge(nginx_resumed(&g_ngx, g_ngx.https) - before, 2);
}
END_TEST

START_TEST(mutual_tls)
{
	struct call c;

	NEED_NGINX();
	/* No client certificate: nginx answers 400 itself. */
	https_call(&c, g_ngx.mtls, "/hello.txt");
	call_run(&c);
	expect_status(&c, 400);
	call_done(&c);

	https_call(&c, g_ngx.mtls, "/hello.txt");
	c.opts.client_cert = g_ngx.client_cert;
	c.opts.client_key = g_ngx.client_key;
	call_run(&c);
	expect_hello(&c);
	call_done(&c);

	/* A key without its certificate, and a certificate that is not a
	 * file: EINVAL, before or from libcurl. */
	call_init(&c, "https", "localhost", g_ngx.mtls, "/hello.txt");
	c.opts.client_key = g_ngx.client_key;
	call_run(&c);
	ck_assert_ptr_null(c.res);
	ck_assert_int_eq(c.err, EINVAL);
	https_call(&c, g_ngx.mtls, "/hello.txt");
	c.opts.client_cert = "/nonexistent/client.pem";
	c.opts.client_key = g_ngx.client_key;
	call_run(&c);
	ck_assert_ptr_null(c.res);
	ck_assert_int_eq(c.err, EINVAL);
}
END_TEST

/* ---- HTTP versions ---------------------------------------------------------- */

START_TEST(http_versions)
{
	struct call c;

	NEED_NGINX();
	/* Over TLS, HTTP/2 when offered. */
	https_call(&c, g_ngx.https, "/hello.txt");
	call_run(&c);
	expect_status(&c, 200);
	ck_assert_int_eq(weft_response_http_version(c.res), 20);
	call_done(&c);

	/* Forced HTTP/1.1 on the same server. */
	https_call(&c, g_ngx.https, "/hello.txt");
	c.opts.http_version = WEFT_HTTP_1_1;
	call_run(&c);
	expect_status(&c, 200);
	ck_assert_int_eq(weft_response_http_version(c.res), 11);
	call_done(&c);

	/* Cleartext HTTP/2 with prior knowledge. */
	call_init(&c, "http", "127.0.0.1", g_ngx.h2c, "/hello.txt");
	c.opts.http_version = WEFT_HTTP_2;
	call_run(&c);
	expect_status(&c, 200);
	ck_assert_int_eq(weft_response_http_version(c.res), 20);
	expect_body(&c, NGINX_HELLO, strlen(NGINX_HELLO));
	call_done(&c);

	/* Plain http:// by default is HTTP/1.1. */
	call_init(&c, "http", "127.0.0.1", g_ngx.http, "/hello.txt");
	call_run(&c);
	expect_status(&c, 200);
	ck_assert_int_eq(weft_response_http_version(c.res), 11);
	call_done(&c);

	ck_assert_int_eq(weft_response_http_version(NULL), -1);
	call_init(&c, "http", "127.0.0.1", g_ngx.http, "/hello.txt");
	c.opts.http_version = 3;
	call_run(&c);
	ck_assert_ptr_null(c.res);
	ck_assert_int_eq(c.err, EINVAL);
}
END_TEST

/* ---- 200 concurrent GETs share an HTTP/2 connection ------------------------- */

enum { CONCURRENT = 200 };
static struct call g_calls[CONCURRENT];

/* The 200 fetches, on a thread of their own: a runtime whose connection
 * cache is empty (with CK_FORK=no the earlier tests' HTTP/1.1
 * connections would otherwise be reused). */
static void *concurrent_gets(void *arg)
{
	weft_task *t[CONCURRENT];
	int i, *joined = arg;

	for (i = 0; i < CONCURRENT; i++) {
		https_call(&g_calls[i], g_ngx.https, "/hello.txt");
		t[i] = weft_spawn(call_task, &g_calls[i]);
	}
	for (i = 0; i < CONCURRENT; i++)
		*joined += t[i] && weft_join(t[i], NULL) == 0;
	return NULL;
}

START_TEST(http2_multiplexing)
{
	pthread_t th;
	long before, conns;
	int i, joined = 0;

	NEED_NGINX();
	before = nginx_connections(&g_ngx, g_ngx.https);
	ck_assert_int_eq(pthread_create(&th, NULL, concurrent_gets, &joined), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(joined, CONCURRENT);
	for (i = 0; i < CONCURRENT; i++) {
		expect_status(&g_calls[i], 200);
		ck_assert_int_eq(weft_response_http_version(g_calls[i].res), 20);
		call_done(&g_calls[i]);
	}
	conns = nginx_connections(&g_ngx, g_ngx.https) - (before > 0 ? before : 0);
	printf("http2_multiplexing: %d GETs over %ld connection(s)\n", CONCURRENT, conns);
	ck_assert_int_ge(conns, 1);
	ck_assert_int_le(conns, 4);
}
END_TEST

/* ---- gzip -------------------------------------------------------------------- */

START_TEST(gzip_decoding)
{
	struct call c;
	size_t len;
	char *want;
	const char *enc;

	NEED_NGINX();
	want = www_file("big.txt", &len);
	call_init(&c, "http", "127.0.0.1", g_ngx.http, "/big.txt");
	c.opts.compressed = 1;
	call_run(&c);
	expect_status(&c, 200);
	enc = weft_response_header(c.res, "Content-Encoding");
	ck_assert_ptr_nonnull(enc);
	ck_assert_str_eq(enc, "gzip");
	expect_body(&c, want, len);
	call_done(&c);

	/* Without compressed, nothing is asked and the body comes plain. */
	call_init(&c, "http", "127.0.0.1", g_ngx.http, "/big.txt");
	call_run(&c);
	expect_status(&c, 200);
	ck_assert_ptr_null(weft_response_header(c.res, "Content-Encoding"));
	expect_body(&c, want, len);
	call_done(&c);
	free(want);
}
END_TEST

/* ---- basic auth --------------------------------------------------------------- */

START_TEST(basic_auth)
{
	struct call c;

	NEED_NGINX();
	call_init(&c, "http", "127.0.0.1", g_ngx.http, "/private/secret.txt");
	call_run(&c);
	expect_status(&c, 401);
	call_done(&c);

	call_init(&c, "http", "127.0.0.1", g_ngx.http, "/private/secret.txt");
	c.opts.userpwd = "weft:wrong";
	call_run(&c);
	expect_status(&c, 401);
	call_done(&c);

	call_init(&c, "http", "127.0.0.1", g_ngx.http, "/private/secret.txt");
	c.opts.userpwd = "weft:secret";
	call_run(&c);
	expect_status(&c, 200);
	expect_body(&c, "secret\n", 7);
	call_done(&c);
}
END_TEST

/* ---- a proxy in front of weft's own test server ------------------------------- */

START_TEST(through_proxy)
{
	struct http_server_thread st;
	char proxy[64];
	struct call c;
	const char *via;

	NEED_NGINX();
	ck_assert_int_eq(http_server_thread_start(&st), 0);
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%u", (unsigned)g_ngx.proxy);

	/* Through the proxy named in the options. */
	call_init(&c, "http", "127.0.0.1", st.srv.port, "/body");
	c.opts.proxy = proxy;
	call_run(&c);
	expect_status(&c, 200);
	expect_body(&c, "hello, weft\n", 12);
	via = weft_response_header(c.res, "X-Proxied-By");
	ck_assert_ptr_nonnull(via);
	ck_assert_str_eq(via, "weft-test-nginx");
	call_done(&c);

	/* NULL: the environment's proxy; "": none, whatever it says. */
	setenv("http_proxy", proxy, 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	call_init(&c, "http", "127.0.0.1", st.srv.port, "/body");
	call_run(&c);
	expect_status(&c, 200);
	ck_assert_ptr_nonnull(weft_response_header(c.res, "X-Proxied-By"));
	call_done(&c);
	call_init(&c, "http", "127.0.0.1", st.srv.port, "/body");
	c.opts.proxy = "";
	call_run(&c);
	expect_status(&c, 200);
	ck_assert_ptr_null(weft_response_header(c.res, "X-Proxied-By"));
	call_done(&c);
	unsetenv("http_proxy");

	/* A proxy that is not there (nothing listens on its port). */
	{
		uint16_t closed;
		int fd = loopback_socket(-1, &closed);

		ck_assert_int_ge(fd, 0);
		snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%u", (unsigned)closed);
		call_init(&c, "http", "127.0.0.1", st.srv.port, "/body");
		c.opts.proxy = proxy;
		call_run(&c);
		close(fd);
	}
	ck_assert_ptr_null(c.res);
	ck_assert_int_eq(c.err, ECONNREFUSED);
	ck_assert_int_eq(http_server_thread_stop(&st), 0);
	ck_assert_uint_ge(st.srv.requests, 2);
}
END_TEST

static Suite *nginx_suite(void)
{
	Suite *s = suite_create("nginx");
	TCase *tc = tcase_create("nginx");

	tcase_add_unchecked_fixture(tc, nginx_setup, nginx_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, https_private_ca);
	tcase_add_test(tc, tls_sessions_resumed);
	tcase_add_test(tc, mutual_tls);
	tcase_add_test(tc, http_versions);
	tcase_add_test(tc, http2_multiplexing);
	tcase_add_test(tc, gzip_decoding);
	tcase_add_test(tc, basic_auth);
	tcase_add_test(tc, through_proxy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(nginx_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

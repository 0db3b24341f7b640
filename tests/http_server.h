/*
 * A small HTTP/1.1 server for the fetch tests, written with weft's own I/O
 * (weft_accept, weft_read, weft_send, weft_close, weft_sleep), so it
 * exercises the I/O layer as well.  It listens on 127.0.0.1 on an
 * ephemeral port: one accept task, one task per connection, keep-alive
 * (several requests per connection, Content-Length request bodies).
 *
 * Endpoints (by path; HEAD gets the head of the GET response):
 *   /body             200 "hello, weft\n"
 *   /status/NNN       status NNN (200..599), body "status NNN\n" (none for
 *                     204 and 304)
 *   /headers          200 with Content-Type, "X-Test: one", "x-test: two",
 *                     X-Spaces (padded value), an empty X-Empty, then
 *                     Content-Length, in that order; body "headers\n"
 *   /echo             200, X-Method: <method>, X-Echo-Header: <X-Custom of
 *                     the request> (only when sent), X-Content-Length: the
 *                     request's Content-Length or "none", body = request body
 *   /redirect/N       302 to /redirect/N-1; /redirect/0: 200 "landed"
 *   /slow/MS          weft_sleep(MS), then 200 "slow\n"
 *   /forever          Content-Length: 1000000000, then 16 bytes every 10 ms
 *                     until the client goes away
 *   /chunked          chunked body (http_chunked_body), in separate writes
 *   /large/N          N bytes of http_pattern_byte, Content-Length
 *   /large-chunked/N  the same, chunked, no Content-Length
 *   /big-header/N     a header line "X-Big: " with N bytes (a multiple of
 *                     100), body "ok", then closes
 *   /many-headers/N   N header lines of 100 bytes each, body "ok", closes
 *   /close-mid-body   Content-Length: 100, sends 10 bytes and closes
 *   /malformed        "THIS IS NOT HTTP\r\n\r\n" and closes
 *   /nothing          closes without sending anything
 *   /user-agent       200, body = the request's User-Agent
 *   /drop             closes as soon as the request head is read, without
 *                     reading the body (the client's writes then fail)
 *   anything else     404
 *
 * Writes use weft_send with MSG_NOSIGNAL: a client that goes away must not
 * kill the test process with SIGPIPE (the SIGPIPE test depends on it).
 */
#ifndef WEFT_TEST_HTTP_SERVER_H
#define WEFT_TEST_HTTP_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "weft.h"

struct http_conn;

struct http_server {
	uint16_t port;              /* 127.0.0.1 port, host order */
	int fd;                     /* listening socket */
	weft_task *acceptor;
	struct http_conn *conns;    /* connection tasks not yet joined */
	int stopping;
	/* Counters, updated by the server's tasks. */
	unsigned long connections;  /* accepted */
	unsigned long requests;     /* request heads parsed */
	unsigned long drops;        /* /drop requests */
	unsigned long expects;      /* requests with "Expect: 100-continue" */
	unsigned long accept_errors;/* unexpected weft_accept failures */
	int acceptor_errno;         /* why the accept loop ended */
};

/*
 * Listen on 127.0.0.1 (port 0: the kernel picks; s->port tells) and spawn
 * the accept task in the calling thread's runtime.  0, or -1 and errno.
 */
int http_server_start(struct http_server *s);

/*
 * weft_close the listening socket, cancel the connection tasks and join
 * every task of the server.  0, or -1 if the accept loop ended for another
 * reason than the stop or had unexpected errors.
 */
int http_server_stop(struct http_server *s);

/* "http://127.0.0.1:<port><path>" into buf; 0, or -1 if it does not fit. */
int http_server_url(const struct http_server *s, const char *path,
    char *buf, size_t cap);

/* Byte i of the /large bodies: a hash of i, so a shifted block shows. */
static inline unsigned char http_pattern_byte(uint64_t i)
{
	return (unsigned char)((i * 0x9e3779b97f4a7c15u) >> 56);
}

/* The decoded content of /chunked into buf (cap bytes); returns its length. */
size_t http_chunked_body(char *buf, size_t cap);

/*
 * The same server in its own OS thread with its own runtime, for callers
 * that block their thread (weft_fetch outside any task).
 */
struct http_server_thread {
	struct http_server srv;
	pthread_t thread;
	int pipe[2];                /* a byte on it stops the server */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int state;                  /* 0 starting, 1 running, -1 failed */
	int start_errno;
	int stop_rc;
};

int http_server_thread_start(struct http_server_thread *t);
/* Stops and joins the thread; http_server_stop's result, or -1. */
int http_server_thread_stop(struct http_server_thread *t);

#endif /* WEFT_TEST_HTTP_SERVER_H */

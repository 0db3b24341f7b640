/*
 * The fetch tests' HTTP/1.1 server (see http_server.h), built on weft's
 * own I/O.  Deliberately plain: one request at a time per connection, a
 * head of at most 64 KiB, Content-Length request bodies only.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "weft.h"
#include "http_server.h"

#define HEAD_MAX ((size_t)64 * 1024)
#define BODY_MAX ((long long)64 * 1024 * 1024)
#define LARGE_BLOCK ((size_t)256 * 1024)
#define CHUNK_BLOCK ((size_t)64 * 1024)

struct http_conn {
	struct http_server *srv;
	struct http_conn *next;
	weft_task *task;
	int fd;
	int finished;
	char *buf;                  /* received, not yet consumed */
	size_t len, cap;
};

struct request {
	char method[16];
	char path[512];
	char custom[256];           /* X-Custom */
	char agent[256];            /* User-Agent */
	int has_custom, has_agent;
	int keep_alive;
	int expect_continue;
	int chunked;
	int head;                   /* HEAD: no body in the response */
	long long content_length;   /* -1: none */
	char *body;
	size_t body_len;
};

/* ---- sending --------------------------------------------------------------- */

/*
 * All n bytes or -1.  weft_send parks until everything is written or an
 * error stops it; MSG_NOSIGNAL: a vanished client gives EPIPE, no SIGPIPE.
 */
static int send_all(int fd, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	return weft_send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

static int send_str(int fd, const char *s)
{
	return send_all(fd, s, strlen(s));
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 413: return "Content Too Large";
	case 418: return "I'm a teapot";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

/*
 * A complete response: status line, `headers` (each ending in CRLF), then
 * Content-Length (not for 204/304) and the body (not for HEAD).  Returns 0
 * to keep the connection, -1 to close it.
 */
static int respond(struct http_conn *c, const struct request *rq, int status,
    const char *headers, const void *body, size_t len)
{
	char head[2048];
	int nobody = status == 204 || status == 304;
	size_t n;
	char *msg;
	int rc;

	n = (size_t)snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n%s%s", status,
	    reason(status), headers ? headers : "",
	    rq->keep_alive ? "" : "Connection: close\r\n");
	if (!nobody && n < sizeof(head))
		n += (size_t)snprintf(head + n, sizeof(head) - n,
		    "Content-Length: %zu\r\n", len);
	if (n + 2 >= sizeof(head))
		return -1;
	memcpy(head + n, "\r\n", 3);
	n += 2;
	if (rq->head || nobody)
		len = 0;
	if (len > 16384) {
		rc = send_all(c->fd, head, n) == 0 && send_all(c->fd, body, len) == 0;
	} else {
		/* One write for small responses: no Nagle stall between parts. */
		msg = malloc(n + len + 1);
		if (msg == NULL)
			return -1;
		memcpy(msg, head, n);
		if (len > 0)
			memcpy(msg + n, body, len);
		rc = send_all(c->fd, msg, n + len) == 0;
		free(msg);
	}
	return rc && rq->keep_alive ? 0 : -1;
}

static int respond_text(struct http_conn *c, const struct request *rq,
    int status, const char *headers, const char *text)
{
	return respond(c, rq, status, headers, text, strlen(text));
}

/* ---- receiving --------------------------------------------------------------- */

static void consume(struct http_conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* At least one more byte into c->buf; -1 at EOF, on error or when full. */
static int fill(struct http_conn *c)
{
	ssize_t r;

	if (c->len + 1 >= c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8192;
		char *b;

		if (cap > HEAD_MAX + 1)
			return -1;
		b = realloc(c->buf, cap);
		if (b == NULL)
			return -1;
		c->buf = b;
		c->cap = cap;
	}
	r = weft_read(c->fd, c->buf + c->len, c->cap - c->len - 1);
	if (r <= 0)
		return -1;
	c->len += (size_t)r;
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

static int copy_field(char *dst, size_t cap, const char *src, size_t len)
{
	if (len == 0 || len >= cap)
		return -1;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

static int parse_header(struct request *rq, char *line)
{
	char *colon = strchr(line, ':'), *value, *end;

	if (colon == NULL || colon == line)
		return -1;
	*colon = '\0';
	value = trim(colon + 1);
	if (strcasecmp(line, "Content-Length") == 0) {
		errno = 0;
		rq->content_length = strtoll(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' || rq->content_length < 0)
			return -1;
	} else if (strcasecmp(line, "Connection") == 0) {
		if (strcasecmp(value, "close") == 0)
			rq->keep_alive = 0;
		else if (strcasecmp(value, "keep-alive") == 0)
			rq->keep_alive = 1;
	} else if (strcasecmp(line, "Expect") == 0) {
		rq->expect_continue = strcasecmp(value, "100-continue") == 0;
	} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
		rq->chunked = 1;
	} else if (strcasecmp(line, "X-Custom") == 0) {
		snprintf(rq->custom, sizeof(rq->custom), "%s", value);
		rq->has_custom = 1;
	} else if (strcasecmp(line, "User-Agent") == 0) {
		snprintf(rq->agent, sizeof(rq->agent), "%s", value);
		rq->has_agent = 1;
	}
	return 0;
}

/* head: NUL-terminated request line and header lines, each ending in CRLF. */
static int parse_head(struct request *rq, char *head)
{
	char *line = head, *end, *sp1, *sp2, *q;

	end = strstr(line, "\r\n");
	if (end == NULL)
		return -1;
	*end = '\0';
	sp1 = strchr(line, ' ');
	sp2 = strrchr(line, ' ');
	if (sp1 == NULL || sp1 == sp2)
		return -1;
	if (copy_field(rq->method, sizeof(rq->method), line, (size_t)(sp1 - line)) != 0 ||
	    copy_field(rq->path, sizeof(rq->path), sp1 + 1, (size_t)(sp2 - sp1 - 1)) != 0)
		return -1;
	if ((q = strchr(rq->path, '?')) != NULL)
		*q = '\0';
	if (strcmp(sp2 + 1, "HTTP/1.1") == 0)
		rq->keep_alive = 1;
	else if (strcmp(sp2 + 1, "HTTP/1.0") == 0)
		rq->keep_alive = 0;
	else
		return -1;
	rq->head = strcmp(rq->method, "HEAD") == 0;
	for (line = end + 2; *line != '\0'; line = end + 2) {
		end = strstr(line, "\r\n");
		if (end == NULL)
			return -1;
		*end = '\0';
		if (parse_header(rq, line) != 0)
			return -1;
	}
	return 0;
}

/*
 * The next request head: 0, or -1 when the connection is over (EOF, error,
 * cancellation, garbage: a 400 has then been sent).
 */
static int read_head(struct http_conn *c, struct request *rq)
{
	char *end;
	size_t n;

	memset(rq, 0, sizeof(*rq));
	rq->content_length = -1;
	while ((end = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL) == NULL)
		if (fill(c) != 0)
			return -1;
	n = (size_t)(end - c->buf);
	end[2] = '\0';               /* keep the last header's CRLF */
	if (parse_head(rq, c->buf) != 0) {
		rq->keep_alive = 0;
		respond_text(c, rq, 400, NULL, "bad request\n");
		return -1;
	}
	consume(c, n + 4);
	return 0;
}

/* Exactly n body bytes into dst, from the buffer first; 0 or -1. */
static int read_exact(struct http_conn *c, char *dst, size_t n)
{
	size_t have = c->len < n ? c->len : n;

	memcpy(dst, c->buf, have);
	consume(c, have);
	while (have < n) {
		ssize_t r = weft_read(c->fd, dst + have, n - have);

		if (r <= 0)
			return -1;
		have += (size_t)r;
	}
	return 0;
}

/* ---- endpoints ---------------------------------------------------------------- */

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A decimal number making up all of s, at most max; 0 or -1. */
static int parse_num(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0' && *out <= max ? 0 : -1;
}

static const char *const chunk_text[] = { "hello", ", ", "chunked", " world\n" };
#define BIG_CHUNK 4011          /* 0xFAB: a size with hex letters */
#define BIG_SPLIT 1000          /* sent in two writes, split here */
#define TAIL_TEXT "tail\n"      /* sent with a chunk extension */

static void big_chunk_fill(char *p)
{
	size_t i;

	for (i = 0; i < BIG_CHUNK; i++)
		p[i] = (char)('a' + i % 26);
}

size_t http_chunked_body(char *buf, size_t cap)
{
	size_t i, n = 0, total = BIG_CHUNK + strlen(TAIL_TEXT);

	for (i = 0; i < sizeof(chunk_text) / sizeof(chunk_text[0]); i++)
		total += strlen(chunk_text[i]);
	if (buf == NULL || cap < total)
		return total;
	for (i = 0; i < sizeof(chunk_text) / sizeof(chunk_text[0]); i++) {
		memcpy(buf + n, chunk_text[i], strlen(chunk_text[i]));
		n += strlen(chunk_text[i]);
	}
	big_chunk_fill(buf + n);
	n += BIG_CHUNK;
	memcpy(buf + n, TAIL_TEXT, strlen(TAIL_TEXT));
	return total;
}

/* Pieces in separate writes, 2 ms apart, so the client reassembles. */
static int serve_chunked(struct http_conn *c, const struct request *rq)
{
	char line[64], big[BIG_CHUNK];
	size_t i;

	if (send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n") != 0)
		return -1;
	if (rq->head)
		return rq->keep_alive ? 0 : -1;
	for (i = 0; i < sizeof(chunk_text) / sizeof(chunk_text[0]); i++) {
		snprintf(line, sizeof(line), "%zx\r\n", strlen(chunk_text[i]));
		if (send_str(c->fd, line) != 0 || send_str(c->fd, chunk_text[i]) != 0 ||
		    send_str(c->fd, "\r\n") != 0 || weft_sleep(2) != 0)
			return -1;
	}
	big_chunk_fill(big);
	if (send_str(c->fd, "FAB\r\n") != 0 || send_all(c->fd, big, BIG_SPLIT) != 0 ||
	    weft_sleep(2) != 0 ||
	    send_all(c->fd, big + BIG_SPLIT, BIG_CHUNK - BIG_SPLIT) != 0 ||
	    send_str(c->fd, "\r\n") != 0 || weft_sleep(2) != 0)
		return -1;
	snprintf(line, sizeof(line), "%zx;name=value\r\n", strlen(TAIL_TEXT));
	if (send_str(c->fd, line) != 0 || send_str(c->fd, TAIL_TEXT "\r\n") != 0 ||
	    send_str(c->fd, "0\r\n\r\n") != 0)
		return -1;
	return rq->keep_alive ? 0 : -1;
}

static void pattern_fill(unsigned char *p, uint64_t off, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = http_pattern_byte(off + i);
}

static int serve_large(struct http_conn *c, const struct request *rq,
    uint64_t total, int chunked)
{
	char head[256];
	size_t block = chunked ? CHUNK_BLOCK : LARGE_BLOCK;
	unsigned char *buf = malloc(block + 32);
	uint64_t off;
	int rc = 0;

	if (buf == NULL)
		return -1;
	if (chunked)
		snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n"
		    "Content-Type: application/octet-stream\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n");
	else
		snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n"
		    "Content-Type: application/octet-stream\r\n"
		    "Content-Length: %llu\r\n\r\n", (unsigned long long)total);
	if (send_str(c->fd, head) != 0)
		rc = -1;
	for (off = 0; rc == 0 && !rq->head && off < total; off += block) {
		size_t n = total - off < block ? (size_t)(total - off) : block;

		if (chunked) {
			int h = snprintf((char *)buf, 32, "%zx\r\n", n);

			pattern_fill(buf + h, off, n);
			memcpy(buf + h + n, "\r\n", 2);
			rc = send_all(c->fd, buf, (size_t)h + n + 2);
		} else {
			pattern_fill(buf, off, n);
			rc = send_all(c->fd, buf, n);
		}
	}
	if (rc == 0 && chunked && !rq->head)
		rc = send_str(c->fd, "0\r\n\r\n");
	free(buf);
	return rc == 0 && rq->keep_alive ? 0 : -1;
}

/* Announces a gigabyte and trickles 16 bytes every 10 ms until cut off. */
static int serve_forever(struct http_conn *c, const struct request *rq)
{
	if (send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n") != 0)
		return -1;
	if (rq->head)
		return rq->keep_alive ? 0 : -1;
	while (send_str(c->fd, "0123456789abcdef") == 0 && weft_sleep(10) == 0)
		;
	return -1;
}

/* A head of n bytes: one "X-Big" line of n bytes, or (many) n lines of
 * 100 bytes each; then a two-byte body.  The connection closes after. */
static int serve_big_head(struct http_conn *c, uint64_t n, int many)
{
	char line[128];
	uint64_t i;
	int rc = send_str(c->fd, "HTTP/1.1 200 OK\r\n");

	if (!many && rc == 0)
		rc = send_str(c->fd, "X-Big: ");
	for (i = 0; rc == 0 && i < n; i++) {
		if (many) {
			snprintf(line, sizeof(line), "X-Line-%09llu: %086d\r\n",
			    (unsigned long long)i, 0);
		} else {
			memset(line, 'a', 100);
			line[100] = '\0';
			i += 99;
		}
		rc = send_str(c->fd, line);
	}
	if (rc == 0)
		send_str(c->fd, "\r\nContent-Length: 2\r\n\r\nok" + (many ? 2 : 0));
	return -1;
}

static int serve_echo(struct http_conn *c, const struct request *rq)
{
	char headers[512], clen[32] = "none";

	if (rq->content_length >= 0)
		snprintf(clen, sizeof(clen), "%lld", rq->content_length);
	snprintf(headers, sizeof(headers),
	    "Content-Type: application/octet-stream\r\nX-Method: %s\r\n"
	    "X-Content-Length: %s\r\n%s%s%s", rq->method, clen,
	    rq->has_custom ? "X-Echo-Header: " : "",
	    rq->has_custom ? rq->custom : "", rq->has_custom ? "\r\n" : "");
	return respond(c, rq, 200, headers, rq->body, rq->body_len);
}

static int dispatch(struct http_conn *c, const struct request *rq)
{
	const char *p = rq->path;
	unsigned long long n;
	char text[64], headers[128];

	if (strcmp(p, "/body") == 0)
		return respond_text(c, rq, 200, "Content-Type: text/plain\r\n", "hello, weft\n");
	if (starts(p, "/status/") && parse_num(p + 8, 599, &n) == 0 && n >= 200) {
		snprintf(text, sizeof(text), "status %llu\n", n);
		return respond_text(c, rq, (int)n, "Content-Type: text/plain\r\n", text);
	}
	if (strcmp(p, "/headers") == 0)
		return respond_text(c, rq, 200, "Content-Type: text/plain\r\n"
		    "X-Test: one\r\nx-test: two\r\nX-Spaces:    padded value  \t\r\n"
		    "X-Empty:\r\n", "headers\n");
	if (strcmp(p, "/echo") == 0)
		return serve_echo(c, rq);
	if (starts(p, "/redirect/") && parse_num(p + 10, 1000, &n) == 0) {
		if (n == 0)
			return respond_text(c, rq, 200,
			    "Content-Type: text/plain\r\nX-Landed: yes\r\n", "landed");
		snprintf(headers, sizeof(headers), "Location: /redirect/%llu\r\n", n - 1);
		return respond_text(c, rq, 302, headers, "redirect\n");
	}
	if (starts(p, "/slow/") && parse_num(p + 6, 3600000, &n) == 0) {
		if (weft_sleep((int64_t)n) != 0)
			return -1;
		return respond_text(c, rq, 200, "Content-Type: text/plain\r\n", "slow\n");
	}
	if (strcmp(p, "/forever") == 0)
		return serve_forever(c, rq);
	if (strcmp(p, "/chunked") == 0)
		return serve_chunked(c, rq);
	if (starts(p, "/large/") && parse_num(p + 7, (1ull << 40), &n) == 0)
		return serve_large(c, rq, n, 0);
	if (starts(p, "/large-chunked/") && parse_num(p + 15, (1ull << 40), &n) == 0)
		return serve_large(c, rq, n, 1);
	if (starts(p, "/big-header/") && parse_num(p + 12, (1ull << 30), &n) == 0)
		return serve_big_head(c, n, 0);
	if (starts(p, "/many-headers/") && parse_num(p + 14, (1ull << 24), &n) == 0)
		return serve_big_head(c, n, 1);
	if (strcmp(p, "/close-mid-body") == 0) {
		send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
		return -1;
	}
	if (strcmp(p, "/malformed") == 0) {
		send_str(c->fd, "THIS IS NOT HTTP\r\n\r\n");
		return -1;
	}
	if (strcmp(p, "/nothing") == 0)
		return -1;
	if (strcmp(p, "/user-agent") == 0)
		return respond_text(c, rq, 200, "Content-Type: text/plain\r\n", rq->agent);
	return respond_text(c, rq, 404, "Content-Type: text/plain\r\n", "not found\n");
}

/* One request; 0 to go on with the next on this connection, -1 to close. */
static int serve_one(struct http_conn *c)
{
	struct request rq;
	int rc;

	if (read_head(c, &rq) != 0)
		return -1;
	c->srv->requests++;
	if (rq.expect_continue)
		c->srv->expects++;
	if (strcmp(rq.path, "/drop") == 0) {
		c->srv->drops++;
		return -1;
	}
	rq.keep_alive = rq.keep_alive && !rq.chunked;
	if (rq.chunked)
		return respond_text(c, &rq, 501, NULL, "chunked requests unsupported\n");
	if (rq.content_length > BODY_MAX) {
		rq.keep_alive = 0;
		return respond_text(c, &rq, 413, NULL, "too large\n");
	}
	if (rq.content_length > 0) {
		if (rq.expect_continue && send_str(c->fd, "HTTP/1.1 100 Continue\r\n\r\n") != 0)
			return -1;
		rq.body_len = (size_t)rq.content_length;
		rq.body = malloc(rq.body_len);
		if (rq.body == NULL || read_exact(c, rq.body, rq.body_len) != 0) {
			free(rq.body);
			return -1;
		}
	}
	rc = dispatch(c, &rq);
	free(rq.body);
	return rc;
}

static void *conn_main(void *arg)
{
	struct http_conn *c = arg;

	while (serve_one(c) == 0)
		;
	weft_close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->finished = 1;
	return NULL;
}

/* ---- accept loop, start and stop -------------------------------------------------- */

/* Join the connection tasks that have finished. */
static void reap(struct http_server *s)
{
	struct http_conn **pp = &s->conns, *c;

	while ((c = *pp) != NULL) {
		if (c->finished) {
			*pp = c->next;
			weft_join(c->task, NULL);
			free(c);
		} else {
			pp = &c->next;
		}
	}
}

static void *accept_main(void *arg)
{
	struct http_server *s = arg;
	struct http_conn *c;
	int fd, one = 1;

	for (;;) {
		fd = weft_accept(s->fd, NULL, NULL);
		if (fd < 0) {
			if (s->stopping || errno == EBADF || errno == ECANCELED)
				break;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			s->accept_errors++;
			if (weft_sleep(10) != 0)
				break;
			continue;
		}
		if (s->stopping) {
			weft_close(fd);
			errno = ECANCELED;
			break;
		}
		s->connections++;
		reap(s);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			weft_close(fd);
			continue;
		}
		c->srv = s;
		c->fd = fd;
		c->task = weft_spawn(conn_main, c);
		if (c->task == NULL) {
			weft_close(fd);
			free(c);
			continue;
		}
		c->next = s->conns;
		s->conns = c;
	}
	s->acceptor_errno = errno;
	return NULL;
}

int http_server_start(struct http_server *s)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int saved;

	memset(s, 0, sizeof(*s));
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s->fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(s->fd, SOMAXCONN) != 0 ||
	    getsockname(s->fd, (struct sockaddr *)&a, &alen) != 0)
		goto fail;
	s->port = ntohs(a.sin_port);
	s->acceptor = weft_spawn(accept_main, s);
	if (s->acceptor == NULL)
		goto fail;
	return 0;
fail:
	saved = errno;
	close(s->fd);
	s->fd = -1;
	errno = saved;
	return -1;
}

int http_server_stop(struct http_server *s)
{
	struct http_conn *c;
	int ok = 1;

	s->stopping = 1;
	/* Wakes the parked accept with EBADF; the cancel covers an accept
	 * task that has not run yet. */
	if (weft_close(s->fd) != 0)
		ok = 0;
	s->fd = -1;
	weft_cancel(s->acceptor);
	if (weft_join(s->acceptor, NULL) != 0)
		ok = 0;
	s->acceptor = NULL;
	while ((c = s->conns) != NULL) {
		s->conns = c->next;
		weft_cancel(c->task);
		if (weft_join(c->task, NULL) != 0)
			ok = 0;
		free(c);
	}
	if (s->acceptor_errno != EBADF && s->acceptor_errno != ECANCELED)
		ok = 0;
	if (s->accept_errors != 0)
		ok = 0;
	return ok ? 0 : -1;
}

int http_server_url(const struct http_server *s, const char *path,
    char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "http://127.0.0.1:%u%s", (unsigned)s->port, path);

	return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* ---- the server in its own thread ---------------------------------------------------- */

static void *stop_waiter(void *arg)
{
	struct http_server_thread *t = arg;
	char b;

	while (weft_read(t->pipe[0], &b, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

static void publish(struct http_server_thread *t, int state, int err)
{
	pthread_mutex_lock(&t->lock);
	t->state = state;
	t->start_errno = err;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

static void *server_thread_main(void *arg)
{
	struct http_server_thread *t = arg;
	weft_task *w;

	if (http_server_start(&t->srv) != 0) {
		publish(t, -1, errno);
		return NULL;
	}
	w = weft_spawn(stop_waiter, t);
	if (w == NULL) {
		int err = errno;

		http_server_stop(&t->srv);
		publish(t, -1, err);
		return NULL;
	}
	publish(t, 1, 0);
	/* Runs the server's tasks until a byte arrives on the pipe. */
	if (weft_join(w, NULL) != 0)
		t->stop_rc = -1;
	if (http_server_stop(&t->srv) != 0)
		t->stop_rc = -1;
	return NULL;
}

int http_server_thread_start(struct http_server_thread *t)
{
	int err;

	memset(t, 0, sizeof(*t));
	if (pipe2(t->pipe, O_CLOEXEC) != 0)
		return -1;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	err = pthread_create(&t->thread, NULL, server_thread_main, t);
	if (err == 0) {
		pthread_mutex_lock(&t->lock);
		while (t->state == 0)
			pthread_cond_wait(&t->cond, &t->lock);
		pthread_mutex_unlock(&t->lock);
		if (t->state == 1)
			return 0;
		pthread_join(t->thread, NULL);
		err = t->start_errno;
	}
	close(t->pipe[0]);
	close(t->pipe[1]);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	errno = err;
	return -1;
}

int http_server_thread_stop(struct http_server_thread *t)
{
	int rc = write(t->pipe[1], "x", 1) == 1 ? 0 : -1;

	if (rc == 0 && pthread_join(t->thread, NULL) != 0)
		rc = -1;
	close(t->pipe[0]);
	close(t->pipe[1]);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	return rc == 0 ? t->stop_rc : -1;
}

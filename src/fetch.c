/*
 * weft_fetch: HTTP that looks blocking, over libcurl's multi_socket API.
 *
 * Each runtime has one CURLM, created by its first fetch, so connections
 * are reused between the fetches of a thread.  libcurl tells us which
 * sockets to watch (socket_cb) and when to call it back (timer_cb); we
 * register the sockets with the runtime's poller and keep the timer.  An
 * internal "driver" task then calls curl_multi_socket_action for every
 * socket event and timer expiry, on its own stack, outside any libcurl
 * callback (libcurl refuses calls made from its callbacks).  A fetching
 * task adds its easy handle and parks; the driver wakes it when libcurl
 * says the transfer is done.  A deadline or weft_cancel wakes it early: it
 * then removes its handle itself, which abandons the transfer.
 *
 * The driver does not count as a task for weft_run, and waits of fetching
 * tasks count as external waits, so deadlock detection still works.
 */
#include "weft_int.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

#include "runtime.h"

#define DRIVER_STACK ((size_t)512 * 1024)   /* libcurl and TLS go deep */
/* weft_fetch_opts as weft 0.1 shipped it: the smallest size accepted.
 * Fields added later go after on_body_arg; older callers stop there. */
#define OPTS_FIRST_SIZE \
	(offsetof(weft_fetch_opts, on_body_arg) + sizeof(void *))

struct csock;
struct transfer;

struct weft__fetcher {
	struct weft_rt *rt;
	CURLM *multi;
	struct weft_task *driver;
	int64_t timer_at;            /* libcurl's timeout; INT64_MAX: none */
	struct csock *pending;       /* sockets with events to hand over */
	struct csock *socks;         /* every socket libcurl asked us to watch */
	struct transfer *transfers;  /* in flight */
};

/* A socket libcurl watches: registered level-triggered with the poller. */
struct csock {
	struct weft__pollsrc src;
	struct weft__fetcher *f;
	curl_socket_t fd;
	uint32_t events;             /* seen, not yet handed to libcurl */
	unsigned char queued, removed;
	struct csock *next_pending;
	struct csock *next, *prev;
};

struct header {
	char *name;                  /* "name\0value\0" in one allocation */
	char *value;
};

/* One exchange, on the fetching task's stack while it waits. */
struct transfer {
	struct transfer *next, *prev;
	CURL *easy;
	struct weft_task *task;
	struct weft_fetch_opts opts;
	struct curl_slist *req_headers;
	CURLcode result;
	int done;
	int too_large, aborted, no_memory;
	char *body;
	size_t body_len, body_cap;
	struct header *headers;
	size_t nheaders, cap_headers;
	char errbuf[CURL_ERROR_SIZE];
};

struct weft_response {
	long status;
	char *url;
	char *body;
	size_t body_len;
	struct header *headers;
	size_t nheaders;
};

/* ---- libcurl, once per process ------------------------------------------ */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- error messages ----------------------------------------------------- */

static void set_errmsg(struct weft_task *self, const char *msg)
{
	free(self->errmsg);
	self->errmsg = msg && *msg ? strdup(msg) : NULL;
}

const char *weft_errmsg(void)
{
	struct weft_rt *rt = weft__rt_peek();
	const char *m = rt ? rt->sched.current->errmsg : NULL;

	return m ? m : "";
}

/* ---- response bookkeeping ----------------------------------------------- */

static void headers_free(struct header *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(h[i].name);
	free(h);
}

static void transfer_free(struct transfer *x)
{
	if (x->easy)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->req_headers);
	free(x->body);
	headers_free(x->headers, x->nheaders);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct transfer *x = arg;
	size_t len = size * n, cap;
	char *b;

	if (x->opts.on_body) {
		if (x->opts.on_body(data, len, x->opts.on_body_arg) != len) {
			x->aborted = 1;
			return 0;
		}
		return len;
	}
	/* libcurl 7.88 stops only announced lengths: count here too. */
	if (x->opts.max_body && x->body_len + len > x->opts.max_body) {
		x->too_large = 1;
		return 0;
	}
	if (x->body_len + len + 1 > x->body_cap) {
		cap = x->body_cap ? x->body_cap : 4096;
		while (cap < x->body_len + len + 1)
			cap *= 2;
		if (!(b = realloc(x->body, cap))) {
			x->no_memory = 1;
			return 0;
		}
		x->body = b;
		x->body_cap = cap;
	}
	memcpy(x->body + x->body_len, data, len);
	x->body_len += len;
	return len;
}

static char *trim(char *s, char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r' || end[-1] == '\n'))
		end--;
	*end = '\0';
	return s;
}

static int header_add(struct transfer *x, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	struct header *h;
	char *copy, *value;

	if (!colon)
		return 0;
	if (x->nheaders == x->cap_headers) {
		size_t cap = x->cap_headers ? 2 * x->cap_headers : 16;

		if (!(h = realloc(x->headers, cap * sizeof(*h))))
			return -1;
		x->headers = h;
		x->cap_headers = cap;
	}
	if (!(copy = malloc(len + 1)))
		return -1;
	memcpy(copy, line, len);
	copy[len] = '\0';
	value = copy + (colon - line);
	*value++ = '\0';
	trim(copy, value - 1);       /* names start at once: trim the end */
	x->headers[x->nheaders].name = copy;
	x->headers[x->nheaders].value = trim(value, copy + len);
	x->nheaders++;
	return 0;
}

/* Header lines arrive one by one; a status line starts a new response
 * (after a redirect or a 100 Continue), whose headers replace the old. */
static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
	struct transfer *x = arg;
	size_t len = size * n;

	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		headers_free(x->headers, x->nheaders);
		x->headers = NULL;
		x->nheaders = x->cap_headers = 0;
		return len;
	}
	if (header_add(x, line, len) == -1) {
		x->no_memory = 1;
		return 0;
	}
	return len;
}

/* ---- the easy handle ---------------------------------------------------- */

/* The caller's options, as far as its size says it knows them. */
static int opts_read(const weft_fetch_opts *in, struct weft_fetch_opts *o)
{
	size_t n, i;

	weft_fetch_opts_init_sized(o, sizeof(*o));
	if (!in)
		return 0;
	/* Fields past the caller's size keep their defaults. */
	n = in->size;
	if (n < sizeof(in->size))
		return weft__fail(EINVAL);
	if (n > sizeof(*o)) {
		/* A newer caller: fine if it left the fields we lack unset. */
		for (i = sizeof(*o); i < n; i++)
			if (((const unsigned char *)in)[i])
				return weft__fail(EINVAL);
		n = sizeof(*o);
	}
	memcpy(o, in, n);
	o->size = sizeof(*o);
	if (o->timeout_ms < 0 || o->connect_timeout_ms < 0 ||
	    o->max_redirects < -1)
		return weft__fail(EINVAL);
	return 0;
}

static int set_method(CURL *e, const struct weft_fetch_opts *o)
{
	const char *m = o->method;
	int rc = 0;

	if (o->body) {
		rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)o->body_len);
		rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, o->body);
	}
	if (!m || (strcmp(m, "GET") == 0 && !o->body) ||
	    (strcmp(m, "POST") == 0 && o->body))
		return rc;
	if (strcmp(m, "HEAD") == 0)
		return rc | curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	return rc | curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
}

static int set_headers(struct transfer *x)
{
	const char *const *h;
	struct curl_slist *l;

	/* No "Expect: 100-continue" pause before sending a body. */
	if (!(x->req_headers = curl_slist_append(NULL, "Expect:")))
		return -1;
	for (h = x->opts.headers; h && *h; h++) {
		if (!(l = curl_slist_append(x->req_headers, *h)))
			return -1;
		x->req_headers = l;
	}
	return curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->req_headers);
}

/* Make x->easy for url; timeout_ms is the whole exchange's limit, or 0. */
static int transfer_setup(struct transfer *x, const char *url,
    int64_t timeout_ms)
{
	const struct weft_fetch_opts *o = &x->opts;
	CURL *e;
	int rc = 0;

	if (!(e = x->easy = curl_easy_init()))
		return weft__fail(ENOMEM);
	rc |= curl_easy_setopt(e, CURLOPT_URL, url);
	/* HTTP only, also where a redirect points. */
	rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	rc |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	rc |= curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	rc |= curl_easy_setopt(e, CURLOPT_USERAGENT,
	    o->user_agent ? o->user_agent : "weft/" WEFT_VERSION_STRING);
	rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)o->connect_timeout_ms);
	if (o->follow_redirects) {
		rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
		rc |= curl_easy_setopt(e, CURLOPT_MAXREDIRS,
		    (long)o->max_redirects);
	}
	if (o->max_body && !o->on_body)
		rc |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
		    (curl_off_t)o->max_body);
	rc |= set_method(e, o);
	if (rc || set_headers(x) != CURLE_OK)
		return weft__fail(ENOMEM);
	return 0;
}

static int connected(const struct transfer *x)
{
	char *ip = NULL;

	return curl_easy_getinfo(x->easy, CURLINFO_PRIMARY_IP, &ip) ==
	    CURLE_OK && ip && *ip;
}

/* What errno a failed exchange means. */
static int curl_errno(const struct transfer *x)
{
	long os = 0;

	if (x->too_large)
		return EMSGSIZE;
	if (x->aborted)
		return ECANCELED;
	if (x->no_memory)
		return ENOMEM;
	switch (x->result) {
	case CURLE_UNSUPPORTED_PROTOCOL:
		/* Also said of a server answering in HTTP/0.9 or worse:
		 * if a connection was made, the reply was the problem. */
		return connected(x) ? EPROTO : EINVAL;
	case CURLE_URL_MALFORMAT:
		return EINVAL;
	case CURLE_COULDNT_RESOLVE_HOST:
		return EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &os);
		return os == EHOSTUNREACH || os == ENETUNREACH ? (int)os :
		    ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return ETIMEDOUT;
	case CURLE_FILESIZE_EXCEEDED:
		return EMSGSIZE;
	case CURLE_TOO_MANY_REDIRECTS:
		return ELOOP;
	case CURLE_OUT_OF_MEMORY:
		return ENOMEM;
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return EPROTO;
	default:
		return EIO;
	}
}

static const char *curl_message(const struct transfer *x)
{
	if (x->too_large)
		return "response body larger than max_body";
	if (x->aborted)
		return "transfer stopped by the on_body callback";
	if (x->errbuf[0])
		return x->errbuf;
	return curl_easy_strerror(x->result);
}

/* Move what the exchange produced into a response. */
static weft_response *respond(struct transfer *x)
{
	weft_response *r = calloc(1, sizeof(*r));
	char *url = NULL;

	if (!r)
		return weft__fail_null(ENOMEM);
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &url);
	if (!(r->url = strdup(url ? url : "")) ||
	    (!x->body && !(x->body = malloc(1)))) {
		free(r->url);
		free(r);
		return weft__fail_null(ENOMEM);
	}
	x->body[x->body_len] = '\0';
	r->body = x->body;
	r->body_len = x->body_len;
	r->headers = x->headers;
	r->nheaders = x->nheaders;
	x->body = NULL;
	x->headers = NULL;
	x->nheaders = 0;
	return r;
}

/* The end of every fetch: a response, or NULL with errno and a message. */
static weft_response *finish(struct weft_task *self, struct transfer *x,
    int err, const char *msg)
{
	weft_response *r = NULL;

	if (!err && x->result == CURLE_OK && !x->too_large && !x->aborted &&
	    !x->no_memory) {
		set_errmsg(self, NULL);
		r = respond(x);
	} else if (!err) {
		err = curl_errno(x);
		msg = curl_message(x);
	}
	if (err)
		set_errmsg(self, msg ? msg : strerror(err));
	transfer_free(x);
	if (err)
		errno = err;
	return r;
}

/* ---- the driver --------------------------------------------------------- */

static void sock_ready(struct weft__pollsrc *src, uint32_t events)
{
	struct csock *s = (struct csock *)src;
	struct weft__fetcher *f = s->f;

	s->events |= events;
	if (!s->queued) {
		s->queued = 1;
		s->next_pending = f->pending;
		f->pending = s;
	}
	weft__unpark(f->rt, f->driver, 0);
}

static void sock_unlist(struct weft__fetcher *f, struct csock *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		f->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
}

static int socket_cb(CURL *e, curl_socket_t fd, int what, void *arg,
    void *sockp)
{
	struct weft__fetcher *f = arg;
	struct csock *s = sockp;
	uint32_t ev = 0;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			/* The fd may be closed already: the poller
			 * forgives that. */
			weft__poller_del(&f->rt->poller, fd);
			curl_multi_assign(f->multi, fd, NULL);
			sock_unlist(f, s);
			if (s->queued)
				s->removed = 1;   /* freed when dequeued */
			else
				free(s);
		}
		return 0;
	}
	if (!s) {
		if (!(s = calloc(1, sizeof(*s))))
			return -1;
		s->src.ready = sock_ready;
		s->f = f;
		s->fd = fd;
		s->next = f->socks;
		if (f->socks)
			f->socks->prev = s;
		f->socks = s;
		curl_multi_assign(f->multi, fd, s);
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev |= EPOLLIN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev |= EPOLLOUT;
	return weft__poller_set(&f->rt->poller, fd, ev, &s->src) == -1 ? -1 : 0;
}

static int timer_cb(CURLM *m, long ms, void *arg)
{
	struct weft__fetcher *f = arg;

	(void)m;
	f->timer_at = ms < 0 ? INT64_MAX : weft_now() + (int64_t)ms * 1000000;
	/* The driver may be parked on the old time: let it look again. */
	weft__unpark(f->rt, f->driver, 0);
	return 0;
}

static int curl_mask(uint32_t ev)
{
	int mask = 0;

	if (ev & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
		mask |= CURL_CSELECT_IN;
	if (ev & EPOLLOUT)
		mask |= CURL_CSELECT_OUT;
	if (ev & EPOLLERR)
		mask |= CURL_CSELECT_ERR;
	return mask;
}

/* Transfers libcurl finished: wake their tasks. */
static void collect(struct weft__fetcher *f)
{
	struct transfer *x;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(f->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &x);
		/* The message does not survive the removal. */
		x->result = msg->data.result;
		x->done = 1;
		weft__unpark(f->rt, x->task, 0);
	}
}

static void drive(struct weft__fetcher *f)
{
	struct csock *s;
	uint32_t ev;
	int running;

	while ((s = f->pending)) {
		f->pending = s->next_pending;
		s->queued = 0;
		if (s->removed) {
			free(s);
			continue;
		}
		ev = s->events;
		s->events = 0;
		curl_multi_socket_action(f->multi, s->fd, curl_mask(ev),
		    &running);
	}
	if (f->timer_at != INT64_MAX && f->timer_at <= weft_now()) {
		f->timer_at = INT64_MAX;
		curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0,
		    &running);
	}
	collect(f);
}

static void *driver_main(void *arg)
{
	struct weft__fetcher *f = arg;

	for (;;) {
		drive(f);
		weft__park_until(f->rt, f->timer_at, WEFT__PARK_NOINTR);
	}
	return NULL;
}

static struct weft__fetcher *fetcher_get(struct weft_rt *rt)
{
	struct weft__fetcher *f = rt->fetcher;
	weft_attr attr;
	int err;

	if (f)
		return f;
	if (!(f = calloc(1, sizeof(*f))))
		return weft__fail_null(ENOMEM);
	f->rt = rt;
	f->timer_at = INT64_MAX;
	if (!(f->multi = curl_multi_init()))
		goto fail;
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	weft_attr_init(&attr);
	weft_attr_setstacksize(&attr, DRIVER_STACK);
	weft_attr_setguard(&attr, WEFT_GUARD_PAGE);
	weft_attr_setname(&attr, "weft-fetch");
	if (!(f->driver = weft_spawn_attr(driver_main, f, &attr)))
		goto fail;
	/* Internal: weft_run does not wait for it, nobody joins it. */
	rt->tasks.unfinished--;
	rt->tasks.live--;
	rt->fetcher = f;
	return f;
fail:
	err = errno ? errno : ENOMEM;
	if (f->multi)
		curl_multi_cleanup(f->multi);
	free(f);
	return weft__fail_null(err);
}

void weft__fetch_term(struct weft__fetcher *f)
{
	struct transfer *x;
	struct csock *s;

	if (!f)
		return;
	/* Tasks still waiting on a transfer will never run again. */
	for (x = f->transfers; x; x = x->next) {
		curl_multi_remove_handle(f->multi, x->easy);
		transfer_free(x);
	}
	curl_multi_cleanup(f->multi);
	while ((s = f->socks)) {
		f->socks = s->next;
		free(s);
	}
	while ((s = f->pending)) {
		f->pending = s->next_pending;
		if (s->removed)
			free(s);
	}
	free(f);
}

/* ---- weft_fetch --------------------------------------------------------- */

static void transfer_link(struct weft__fetcher *f, struct transfer *x)
{
	x->prev = NULL;
	x->next = f->transfers;
	if (f->transfers)
		f->transfers->prev = x;
	f->transfers = x;
}

static void transfer_unlink(struct weft__fetcher *f, struct transfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		f->transfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
}

/* Inside a task: hand the transfer to the multi handle and park. */
static weft_response *fetch_parked(struct weft_rt *rt, struct transfer *x)
{
	struct weft_task *self = rt->sched.current;
	struct weft__fetcher *f = fetcher_get(rt);
	int err;

	if (!f)
		return finish(self, x, errno, "cannot start the fetch driver");
	if ((err = weft__interrupted(self)))
		return finish(self, x, err, NULL);
	if (curl_multi_add_handle(f->multi, x->easy) != CURLM_OK)
		return finish(self, x, ENOMEM, NULL);
	transfer_link(f, x);
	x->task = self;
	rt->sched.external++;
	do
		err = weft__park(rt);
	while (!err && !x->done);
	rt->sched.external--;
	transfer_unlink(f, x);
	curl_multi_remove_handle(f->multi, x->easy);
	if (!x->done)
		return finish(self, x, err, err == ETIMEDOUT ?
		    "deadline passed" : err == ECANCELED ? "cancelled" : NULL);
	return finish(self, x, 0, NULL);
}

/* Outside a task: the same exchange, blocking the thread. */
static weft_response *fetch_blocking(struct weft_rt *rt, struct transfer *x)
{
	x->result = curl_easy_perform(x->easy);
	return finish(&rt->sched.main_task, x, 0, NULL);
}

weft_response *weft_fetch(const char *url, const weft_fetch_opts *opts)
{
	struct weft_rt *rt;
	struct transfer x;
	int64_t timeout, left, deadline;

	memset(&x, 0, sizeof(x));
	if (!(rt = weft__rt_get()))
		return NULL;
	if (!url || opts_read(opts, &x.opts) == -1) {
		set_errmsg(rt->sched.current, url ? "invalid weft_fetch_opts" :
		    "no URL");
		return weft__fail_null(EINVAL);
	}
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		set_errmsg(rt->sched.current, curl_easy_strerror(curl_init_rc));
		return weft__fail_null(ENOMEM);
	}
	timeout = x.opts.timeout_ms;
	deadline = rt->sched.main_task.scope_deadline;
	if (!weft__in_task(&rt->sched) && deadline != INT64_MAX) {
		/* Outside a task main's deadline bounds the whole call. */
		left = (deadline - weft_now() + 999999) / 1000000;
		if (left <= 0) {
			set_errmsg(rt->sched.current, "deadline passed");
			return weft__fail_null(ETIMEDOUT);
		}
		if (!timeout || left < timeout)
			timeout = left;
	}
	if (transfer_setup(&x, url, timeout) == -1) {
		transfer_free(&x);
		set_errmsg(rt->sched.current, "out of memory");
		return weft__fail_null(ENOMEM);
	}
	if (weft__in_task(&rt->sched))
		return fetch_parked(rt, &x);
	return fetch_blocking(rt, &x);
}

/* ---- options and responses ---------------------------------------------- */

int weft_fetch_opts_init_sized(weft_fetch_opts *opts, size_t size)
{
	/* size is the caller's sizeof: a caller built against an older,
	 * smaller header must not be written past its end. */
	if (!opts || size < OPTS_FIRST_SIZE)
		return weft__fail(EINVAL);
	memset(opts, 0, size);
	opts->size = size;
	opts->max_redirects = 10;
	return 0;
}

long weft_response_status(const weft_response *r)
{
	return r ? r->status : 0;
}

const void *weft_response_body(const weft_response *r, size_t *len)
{
	if (len)
		*len = r ? r->body_len : 0;
	return r ? r->body : NULL;
}

const char *weft_response_header(const weft_response *r, const char *name)
{
	size_t i;

	if (!r || !name)
		return NULL;
	for (i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

size_t weft_response_header_count(const weft_response *r)
{
	return r ? r->nheaders : 0;
}

int weft_response_header_at(const weft_response *r, size_t i,
    const char **name, const char **value)
{
	if (!r)
		return weft__fail(EINVAL);
	if (i >= r->nheaders)
		return weft__fail(ERANGE);
	if (name)
		*name = r->headers[i].name;
	if (value)
		*value = r->headers[i].value;
	return 0;
}

const char *weft_response_url(const weft_response *r)
{
	return r ? r->url : NULL;
}

void weft_response_free(weft_response *r)
{
	if (!r)
		return;
	free(r->url);
	free(r->body);
	headers_free(r->headers, r->nheaders);
	free(r);
}

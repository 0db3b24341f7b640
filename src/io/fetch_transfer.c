/*
 * One fetch exchange: the easy handle with weft_fetch's options, the body
 * and header callbacks, what libcurl's results mean as errno values, and
 * weft_fetch itself.  Inside a task the exchange runs on the runtime's
 * multi handle (fetch_driver.c); outside one, curl_easy_perform blocks
 * the thread.
 */
#include "base/compiler.h"
#include "base/error.h"
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/sys.h"
#include "io/fetch.h"

/* libcurl builds a request in a buffer of 1 MiB and says "out of memory"
 * past it: a longer URL is the caller's mistake, EINVAL. */
#define URL_MAX 1000000

/* ---- the response as it arrives ----------------------------------------- */

void weft__transfer_free(struct weft__transfer *x)
{
	if (x->easy && x->shelf)
		weft__shelf_give(x->shelf, x->easy);
	else if (x->easy)
		curl_easy_cleanup(x->easy);
	x->easy = NULL;
	if (x->req_headers)
		curl_slist_free_all(x->req_headers);
	free(x->body);
	weft__headers_free(x->headers, x->nheaders);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct weft__transfer *x = arg;
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
		if (!(b = weft__realloc(x->body, cap))) {
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

static int header_add(struct weft__transfer *x, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	struct weft__header *h;
	char *copy, *value;

	if (!colon)
		return 0;
	if (x->nheaders == x->cap_headers) {
		size_t cap = x->cap_headers ? 2 * x->cap_headers : 16;

		if (!(h = weft__realloc(x->headers, cap * sizeof(*h))))
			return -1;
		x->headers = h;
		x->cap_headers = cap;
	}
	if (!(copy = weft__malloc(len + 1)))
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
	struct weft__transfer *x = arg;
	size_t len = size * n;

	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		x->head_done = 0;
		weft__headers_free(x->headers, x->nheaders);
		x->headers = NULL;
		x->nheaders = x->cap_headers = 0;
		return len;
	}
	if ((len == 2 && line[0] == '\r') || (len == 1 && line[0] == '\n'))
		x->head_done = 1;
	if (header_add(x, line, len) == -1) {
		x->no_memory = 1;
		return 0;
	}
	return len;
}

/* ---- the easy handle ---------------------------------------------------- */

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

static int set_headers(struct weft__transfer *x)
{
	const char *const *h;
	struct curl_slist *l;

	/* No "Expect: 100-continue" pause before sending a body. */
	if (weft__fault(WEFT__FAULT_CURL) ||
	    !(x->req_headers = curl_slist_append(NULL, "Expect:")))
		return -1;
	for (h = x->opts.headers; h && *h; h++) {
		if (weft__fault(WEFT__FAULT_CURL) ||
		    !(l = curl_slist_append(x->req_headers, *h)))
			return -1;
		x->req_headers = l;
	}
	return curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->req_headers);
}

/* May HTTP/2 come for url: over TLS (by ALPN), or asked for outright? */
static int may_multiplex(const struct weft_fetch_opts *o, const char *url)
{
	return o->http_version == WEFT_HTTP_2 ||
	    strncasecmp(url, "https:", 6) == 0;
}

/* TLS, proxy, authentication, encodings and the HTTP version. */
static int set_connection(CURL *e, const struct weft_fetch_opts *o,
    const char *url)
{
	static const long versions[] = {
		[WEFT_HTTP_ANY] = CURL_HTTP_VERSION_2TLS,
		[WEFT_HTTP_1_1] = CURL_HTTP_VERSION_1_1,
		[WEFT_HTTP_2] = CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE,
	};
	int rc = 0;

	if (o->ca_file)
		rc |= curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
	if (o->insecure) {
		rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (o->client_cert)
		rc |= curl_easy_setopt(e, CURLOPT_SSLCERT, o->client_cert);
	if (o->client_key)
		rc |= curl_easy_setopt(e, CURLOPT_SSLKEY, o->client_key);
	/* "" turns the environment's proxy off too. */
	if (o->proxy)
		rc |= curl_easy_setopt(e, CURLOPT_PROXY, o->proxy);
	if (o->userpwd) {
		rc |= curl_easy_setopt(e, CURLOPT_USERPWD, o->userpwd);
		rc |= curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
	}
	/* "": every encoding this libcurl decodes. */
	if (o->compressed)
		rc |= curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	rc |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
	    versions[o->http_version]);
	/* Where HTTP/2 may come, wait for a connection being set up that
	 * can multiplex rather than open another beside it; for HTTP/1.1
	 * that wait would only put requests one after another. */
	if (may_multiplex(o, url))
		rc |= curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	return rc;
}

/* x->origin: the scheme and authority of url, if HTTP/2 may come. */
static void set_origin(struct weft__transfer *x, const char *url)
{
	const char *auth = strstr(url, "://");
	size_t n;

	x->origin[0] = '\0';
	if (!auth || !may_multiplex(&x->opts, url))
		return;
	n = (size_t)(auth + 3 - url) + strcspn(auth + 3, "/?#");
	if (n < sizeof(x->origin)) {
		memcpy(x->origin, url, n);
		x->origin[n] = '\0';
	}
}

/* Make x->easy for url; timeout_ms is the whole exchange's limit, or 0. */
static int transfer_setup(struct weft__transfer *x, const char *url,
    int64_t timeout_ms)
{
	const struct weft_fetch_opts *o = &x->opts;
	CURL *e;
	int rc = 0;

	if (weft__fault(WEFT__FAULT_CURL))
		return weft__fail(ENOMEM);
	e = x->shelf ? weft__shelf_take(x->shelf) : NULL;
	if (!e && !(e = curl_easy_init()))
		return weft__fail(ENOMEM);
	x->easy = e;
	x->url = url;
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
	rc |= set_connection(e, o, url);
	set_origin(x, url);
	if (rc || set_headers(x) != CURLE_OK)
		return weft__fail(ENOMEM);
	return 0;
}

static int connected(const struct weft__transfer *x)
{
	char *ip = NULL;

	return curl_easy_getinfo(x->easy, CURLINFO_PRIMARY_IP, &ip) ==
	    CURLE_OK && ip && *ip;
}

/*
 * libcurl records no system error when it cannot even make the socket:
 * look whether a descriptor can be made now.  EMFILE or ENFILE, or 0.
 */
static int descriptor_shortage(void)
{
	int fd = weft__sys_eventfd();

	if (fd >= 0) {
		weft__sys_close(fd);
		return 0;
	}
	return errno == EMFILE || errno == ENFILE ? errno : 0;
}

/* Did libcurl give up in the middle of a response head, where "out of
 * memory" is its word for a header line over CURL_MAX_HTTP_HEADER? */
static int head_too_large(const struct weft__transfer *x)
{
	return x->result == CURLE_OUT_OF_MEMORY && !x->no_memory &&
	    !x->head_done && connected(x);
}

/* What errno a failed exchange means. */
static int curl_errno(const struct weft__transfer *x)
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
		if (os == 0)
			os = descriptor_shortage();
		return os == EHOSTUNREACH || os == ENETUNREACH ||
		    os == EMFILE || os == ENFILE ? (int)os : ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return ETIMEDOUT;
	case CURLE_FILESIZE_EXCEEDED:
		return EMSGSIZE;
	case CURLE_TOO_MANY_REDIRECTS:
		return ELOOP;
	case CURLE_COULDNT_RESOLVE_PROXY:
		return EHOSTUNREACH;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		/* The TLS handshake failed, or the peer's certificate was
		 * refused: libcurl's words (weft_errmsg) say which. */
		return ECONNABORTED;
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CRL_BADFILE:
		/* ca_file, client_cert or client_key is not usable. */
		return EINVAL;
	case CURLE_OUT_OF_MEMORY:
		/* What libcurl also says of a header line longer than it
		 * accepts: the reply is at fault. */
		return head_too_large(x) ? EPROTO : ENOMEM;
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

static const char *curl_message(const struct weft__transfer *x)
{
	if (x->too_large)
		return "response body larger than max_body";
	if (x->aborted)
		return "transfer stopped by the on_body callback";
	if (head_too_large(x))
		return "response header line longer than libcurl accepts "
		    "(CURL_MAX_HTTP_HEADER)";
	if (x->errbuf[0])
		return x->errbuf;
	return curl_easy_strerror(x->result);
}

/* Move what the exchange produced into a response. */
static weft_response *respond(struct weft__transfer *x)
{
	weft_response *r = weft__calloc(1, sizeof(*r));
	char *url = NULL;
	long version = 0;

	if (!r)
		return weft__fail_null(ENOMEM);
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(x->easy, CURLINFO_HTTP_VERSION, &version);
	r->http_version = version == CURL_HTTP_VERSION_1_0 ? 10 :
	    version == CURL_HTTP_VERSION_2_0 ? 20 :
	    version == CURL_HTTP_VERSION_3 ? 30 : 11;
	curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &url);
	if (!(r->url = weft__strdup(url ? url : "")) ||
	    (!x->body && !(x->body = weft__malloc(1)))) {
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
weft_response *weft__transfer_finish(struct weft_task *self,
    struct weft__transfer *x, int err, const char *msg)
{
	weft_response *r = NULL;

	if (!err && x->result == CURLE_OK && !x->too_large && !x->aborted &&
	    !x->no_memory) {
		weft__task_set_errmsg(self, NULL);
		r = respond(x);
	} else if (!err) {
		err = curl_errno(x);
		msg = curl_message(x);
	}
	if (err)
		weft__task_set_errmsg(self, msg ? msg : strerror(err));
	weft__transfer_free(x);
	if (err)
		errno = err;
	return r;
}

/* ---- weft_fetch --------------------------------------------------------- */

/* Outside a task: the same exchange, blocking the thread. */
static weft_response *fetch_blocking(struct weft_rt *rt,
    struct weft__transfer *x)
{
	x->result = curl_easy_perform(x->easy);
	return weft__transfer_finish(weft__self(rt), x, 0, NULL);
}

weft_response *weft_fetch(const char *url, const weft_fetch_opts *opts)
{
	struct weft_rt *rt;
	struct weft__transfer x;
	int64_t timeout, left, deadline;
	const char *why = url ? "URL longer than 1000000 bytes" : "no URL";

	memset(&x, 0, sizeof(x));
	if (!(rt = weft__rt_get()))
		return NULL;
	if (!url || strnlen(url, URL_MAX + 1) > URL_MAX ||
	    weft__fetch_opts_read(opts, &x.opts, &why) == -1) {
		weft__task_set_errmsg(weft__self(rt), why);
		return weft__fail_null(EINVAL);
	}
	/* libcurl is loaded by the first fetch of the process. */
	if (weft__curl_load(&why) == -1) {
		int err = errno;

		weft__task_set_errmsg(weft__self(rt), why);
		return weft__fail_null(err);
	}
	timeout = x.opts.timeout_ms;
	deadline = weft__main_deadline(rt);
	if (!weft__in_task(rt) && deadline != INT64_MAX) {
		/* Outside a task main's deadline bounds the whole call. */
		left = deadline - weft_now();
		left = left > 0 ? weft__ms_ceil(left) : 0;
		if (left <= 0) {
			weft__task_set_errmsg(weft__self(rt), "deadline passed");
			return weft__fail_null(ETIMEDOUT);
		}
		if (!timeout || left < timeout)
			timeout = left;
	}
	/* Without its driver a fetch in a task fails below, saying why. */
	if (weft__in_task(rt))
		x.shelf = weft__fetch_shelf(rt);
	if (transfer_setup(&x, url, timeout) == -1) {
		weft__transfer_free(&x);
		weft__task_set_errmsg(weft__self(rt), "out of memory");
		return weft__fail_null(ENOMEM);
	}
	if (weft__in_task(rt))
		return weft__fetch_parked(rt, &x);
	return fetch_blocking(rt, &x);
}


/*
 * weft_fetch's options and responses: the ABI-safe options structure and
 * the accessors of what a response holds.
 */
#include "base/compiler.h"
#include "base/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/fetch.h"

/* weft_fetch_opts as weft 0.1 shipped it: the smallest size accepted.
 * Fields added later go after on_body_arg; older callers stop there. */
#define OPTS_FIRST_SIZE \
	(offsetof(weft_fetch_opts, on_body_arg) + sizeof(void *))

void weft__headers_free(struct weft__header *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(h[i].name);
	free(h);
}

/* A newer <weft.h> may append fields; no structure grows past this. */
#define OPTS_MAX_SIZE 4096

/* Where a field of weft_fetch_opts ends: the sizes a caller that knows
 * the structure up to that field has. */
static const size_t field_ends[] = {
	offsetof(weft_fetch_opts, method),
	offsetof(weft_fetch_opts, headers),
	offsetof(weft_fetch_opts, body),
	offsetof(weft_fetch_opts, body_len),
	offsetof(weft_fetch_opts, timeout_ms),
	offsetof(weft_fetch_opts, connect_timeout_ms),
	offsetof(weft_fetch_opts, follow_redirects),
	offsetof(weft_fetch_opts, max_redirects),
	offsetof(weft_fetch_opts, max_body),
	offsetof(weft_fetch_opts, user_agent),
	offsetof(weft_fetch_opts, on_body),
	offsetof(weft_fetch_opts, on_body_arg),
	offsetof(weft_fetch_opts, ca_file),
	offsetof(weft_fetch_opts, insecure),
	offsetof(weft_fetch_opts, compressed),
	offsetof(weft_fetch_opts, client_cert),
	offsetof(weft_fetch_opts, client_key),
	offsetof(weft_fetch_opts, proxy),
	offsetof(weft_fetch_opts, userpwd),
	offsetof(weft_fetch_opts, http_version),
	sizeof(weft_fetch_opts),
};

/* Does a caller's size end at a field, here or in a newer layout? */
static int size_ok(size_t n)
{
	size_t i;

	if (n > sizeof(weft_fetch_opts))
		return n <= OPTS_MAX_SIZE &&
		    n % _Alignof(weft_fetch_opts) == 0;
	for (i = 0; i < sizeof(field_ends) / sizeof(field_ends[0]); i++)
		if (n == field_ends[i])
			return 1;
	return 0;
}

/* Is s free of the bytes that end a line of an HTTP request? */
static int one_line(const char *s)
{
	return !s || !s[strcspn(s, "\r\n")];
}

/* A method is a token: letters and the like, no space or control. */
static int method_ok(const char *m)
{
	const unsigned char *p = (const unsigned char *)m;

	if (!m)
		return 1;
	if (!*p)
		return 0;
	for (; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *p))
			return 0;
	return 1;
}

/* Why o cannot be sent, or NULL. */
static const char *opts_problem(const struct weft_fetch_opts *o)
{
	const char *const *h;

	if (o->timeout_ms < 0 || o->connect_timeout_ms < 0 ||
	    o->max_redirects < -1)
		return "negative timeout or redirect limit";
	if (!method_ok(o->method))
		return "method is not an HTTP token";
	if (!one_line(o->user_agent))
		return "line break in user_agent";
	for (h = o->headers; h && *h; h++)
		if (!one_line(*h))
			return "line break in a header";
	if (o->http_version < WEFT_HTTP_ANY || o->http_version > WEFT_HTTP_2)
		return "http_version is not WEFT_HTTP_ANY, _1_1 or _2";
	if (o->client_key && !o->client_cert)
		return "client_key without client_cert";
	/* libcurl would read a negative length as "strlen(body)". */
	if (o->body && o->body_len > (size_t)INT64_MAX)
		return "body_len too large";
	return NULL;
}

int weft__fetch_opts_read(const weft_fetch_opts *in,
    struct weft_fetch_opts *o, const char **why)
{
	size_t n, i;

	*why = "invalid weft_fetch_opts";
	weft_fetch_opts_init_sized(o, sizeof(*o));
	if (!in)
		return 0;
	/* Fields past the caller's size keep their defaults. */
	n = in->size;
	if (!size_ok(n)) {
		*why = "weft_fetch_opts size does not end at a field";
		return weft__fail(EINVAL);
	}
	if (n > sizeof(*o)) {
		/* A newer caller: fine if it left the fields we lack unset. */
		for (i = sizeof(*o); i < n; i++)
			if (((const unsigned char *)in)[i])
				return weft__fail(EINVAL);
		n = sizeof(*o);
	}
	memcpy(o, in, n);
	o->size = sizeof(*o);
	if ((*why = opts_problem(o)))
		return weft__fail(EINVAL);
	return 0;
}

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

int weft_response_http_version(const weft_response *r)
{
	return r ? r->http_version : -1;
}

void weft_response_free(weft_response *r)
{
	if (!r)
		return;
	free(r->url);
	free(r->body);
	weft__headers_free(r->headers, r->nheaders);
	free(r);
}

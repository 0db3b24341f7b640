/*
 * weft_fetch's options and responses: the ABI-safe options structure and
 * the accessors of what a response holds.
 */
#include "base/compiler.h"
#include "base/error.h"

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

int weft__fetch_opts_read(const weft_fetch_opts *in,
    struct weft_fetch_opts *o)
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
	weft__headers_free(r->headers, r->nheaders);
	free(r);
}

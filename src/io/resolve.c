/*
 * Name resolution through the offload pool: getaddrinfo can only block.
 */
#include "base/compiler.h"
#include "base/error.h"
#include "base/alloc.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "base/sys.h"
#include "core/core.h"
#include "io/pool.h"

/*
 * A lookup owns copies of its arguments: a caller that stops waiting
 * (deadline, cancellation) returns while the worker may still be reading
 * them.
 */
struct lookup {
	char *node, *service;
	struct addrinfo hints;
	int has_hints;
	struct addrinfo *res;
	int rc;
};

static void lookup_free(struct lookup *l)
{
	free(l->node);
	free(l->service);
	free(l);
}

static void *lookup_job(void *arg)
{
	struct lookup *l = arg;

	l->rc = weft__sys_getaddrinfo(l->node, l->service,
	    l->has_hints ? &l->hints : NULL, &l->res);
	return l;
}

/* The caller stopped waiting: free the lookup and what it found, if it
 * ran (result is then the lookup itself). */
static void lookup_discard(void *arg, void *result)
{
	struct lookup *l = arg;

	if (result && l->rc == 0)
		freeaddrinfo(l->res);
	lookup_free(l);
}

static struct lookup *lookup_new(const char *node, const char *service,
    const struct addrinfo *hints)
{
	struct lookup *l = weft__calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	if ((node && !(l->node = weft__strdup(node))) ||
	    (service && !(l->service = weft__strdup(service)))) {
		lookup_free(l);
		return NULL;
	}
	if (hints) {
		/* getaddrinfo reads only these four fields of the hints. */
		l->hints.ai_flags = hints->ai_flags;
		l->hints.ai_family = hints->ai_family;
		l->hints.ai_socktype = hints->ai_socktype;
		l->hints.ai_protocol = hints->ai_protocol;
		l->has_hints = 1;
	}
	return l;
}

int weft_getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	struct weft_rt *rt = weft__rt_peek();
	struct lookup *l;
	void *r;
	int err, rc;

	if (!rt || !weft__in_task(rt))
		return weft__sys_getaddrinfo(node, service, hints, res);
	if (!(l = lookup_new(node, service, hints)))
		return EAI_MEMORY;
	err = weft__offload(rt, lookup_job, l, &r, NULL, 0, lookup_discard);
	if (err) {
		errno = err;
		return EAI_SYSTEM;
	}
	rc = l->rc;
	if (rc == 0)
		*res = l->res;
	lookup_free(l);
	return rc;
}

/*
 * Spawn attributes: what a weft_attr holds.
 */
#ifndef WEFT_CORE_ATTR_H
#define WEFT_CORE_ATTR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/compiler.h"
#include "base/error.h"

#define WEFT__ATTR_MAGIC 0x77656674u   /* "weft" */

/* Copied in and out of the caller's storage, so no alignment is assumed. */
struct weft__attr {
	uint32_t magic;
	int guard;
	int detached;
	int local;                   /* stays on the spawner's worker */
	size_t stack_size;
	char name[WEFT_NAME_MAX];
};

/* attr's contents (the defaults for NULL); 0, or -1 and EINVAL when attr
 * was never initialised.  Inline: every spawn reads one. */
static inline int weft__attr_read(const weft_attr *attr, struct weft__attr *a)
{
	if (!attr) {
		/* Defaults; the name is copied only when there is one. */
		a->guard = WEFT_GUARD_AUTO;
		a->detached = 0;
		a->local = 0;
		a->stack_size = 0;
		a->name[0] = '\0';
		return 0;
	}
	memcpy(a, attr, sizeof(*a));
	return a->magic == WEFT__ATTR_MAGIC ? 0 : weft__fail(EINVAL);
}

/* Copy name into dst (WEFT_NAME_MAX bytes); 0, or -1 and ERANGE. */
int weft__name_copy(char *dst, const char *name);

#endif /* WEFT_CORE_ATTR_H */

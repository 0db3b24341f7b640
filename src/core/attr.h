/*
 * Spawn attributes: what a weft_attr holds.
 */
#ifndef WEFT_CORE_ATTR_H
#define WEFT_CORE_ATTR_H

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

/* Copied in and out of the caller's storage, so no alignment is assumed. */
struct weft__attr {
	uint32_t magic;
	int guard;
	int detached;
	size_t stack_size;
	char name[WEFT_NAME_MAX];
};

/* attr's contents (the defaults for NULL); 0, or -1 and EINVAL when attr
 * was never initialised. */
int weft__attr_read(const weft_attr *attr, struct weft__attr *a);

/* Copy name into dst (WEFT_NAME_MAX bytes); 0, or -1 and ERANGE. */
int weft__name_copy(char *dst, const char *name);

#endif /* WEFT_CORE_ATTR_H */

/*
 * A table of function pointers filled from a library opened with dlopen
 * (libcurl at the first fetch, libunwind at the first backtrace): each
 * entry names a symbol and the offset of the member that takes it.
 */
#ifndef WEFT_BASE_DLSYMS_H
#define WEFT_BASE_DLSYMS_H

#include <dlfcn.h>
#include <stddef.h>
#include <string.h>

struct weft__dlsym {
	size_t offset;                /* of the member in the table */
	const char *name;
};

#define WEFT__DLSYM(type, member, name) { offsetof(type, member), name }

/* Fill table from lib: NULL, or the first name lib lacks (the table is
 * then partly filled). */
static inline const char *weft__dlsyms_fill(void *lib, void *table,
    const struct weft__dlsym *syms, size_t n)
{
	size_t i;
	void *p;

	for (i = 0; i < n; i++) {
		if (!(p = dlsym(lib, syms[i].name)))
			return syms[i].name;
		memcpy((char *)table + syms[i].offset, &p, sizeof(p));
	}
	return NULL;
}

#endif /* WEFT_BASE_DLSYMS_H */

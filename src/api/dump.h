/*
 * The dump's writer, shared by weft_dump, the signal dump, the deadlock
 * report and the watchdog (api/watch.c).
 */
#ifndef WEFT_API_DUMP_H
#define WEFT_API_DUMP_H

#include <stddef.h>
#include <stdint.h>

#include "base/unwind.h"

/* Output to a descriptor through a buffer; err keeps the first failure. */
struct weft__out {
	int fd;
	int err;
	size_t len;
	char buf[4096];
};

void weft__out_init(struct weft__out *o, int fd);
void weft__out_printf(struct weft__out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void weft__out_flush(struct weft__out *o);

/* Return addresses pcs[0..n) by name, one a line after indent, ending
 * at the frame that started the task; weft's own first frames left out
 * when skip_weft. */
void weft__dump_pcs(struct weft__out *o, const uintptr_t *pcs, int n,
    int skip_weft, const char *indent);

/* The frames from r, one a line after indent, weft's own first frames
 * left out. */
void weft__dump_backtrace(struct weft__out *o, const struct weft__regs *r,
    const char *indent);

/* The dump of every runtime (only the caller's when own_only) to fd,
 * under headline; caller: the calling context's registers, for the task
 * that is running it (NULL: none).  0, or -1 and errno. */
int weft__dump_write(int fd, int own_only, const struct weft__regs *caller,
    const char *headline);

#endif /* WEFT_API_DUMP_H */

/*
 * Reading memory that may be gone: the dump reads other threads' task
 * stacks and wait objects while those threads run, and a stack can be
 * unmapped under it.  These copies fail with EFAULT instead of faulting.
 */
#ifndef WEFT_BASE_SAFEREAD_H
#define WEFT_BASE_SAFEREAD_H

#include <stddef.h>
#include <stdint.h>

/* Copy n bytes from src; 0, or -1 and errno (EFAULT: not mapped). */
int weft__safe_read(void *dst, const void *src, size_t n);

/* One word at addr into *val; 0 or -1. */
int weft__safe_word(uintptr_t addr, uintptr_t *val);

/* A NUL-terminated string at src, cut to fit size; 0 or -1. */
int weft__safe_string(char *dst, size_t size, const char *src);

#endif /* WEFT_BASE_SAFEREAD_H */

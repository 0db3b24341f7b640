/*
 * Compiler helpers every file of the library uses (never installed).
 *
 * Naming tiers: weft_ is public (include/weft.h), weft__ crosses files inside
 * the library, plain static names stay inside one file.
 *
 * The layers (see HACKING): base <- core <- io <- sync <- api.  A file
 * includes headers of its own layer and the layers below it, never above.
 * base includes nothing else of weft but the public header.
 */
#ifndef WEFT_BASE_COMPILER_H
#define WEFT_BASE_COMPILER_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "weft.h"

#define weft__likely(x) __builtin_expect(!!(x), 1)
#define weft__unlikely(x) __builtin_expect(!!(x), 0)

/* The structure of type that holds member at ptr. */
#define weft__container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* In a spin-wait loop: let the other hardware thread of the core run. */
#if defined(__x86_64__) || defined(__i386__)
#define weft__cpu_relax() __builtin_ia32_pause()
#else
#define weft__cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

/*
 * While the process has a single thread, no other thread can see a shared
 * object, so its atomics can be plain loads and stores (glibc does the
 * same for its own locks).  glibc clears the flag, for good, when a second
 * thread is created, with a full barrier, before that thread runs.
 */
#ifdef HAVE_SYS_SINGLE_THREADED_H
#include <sys/single_threaded.h>
#define weft__one_thread() (__libc_single_threaded != 0)
#else
#define weft__one_thread() 0
#endif

#endif /* WEFT_BASE_COMPILER_H */

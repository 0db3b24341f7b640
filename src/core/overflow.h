/*
 * Stack overflow: the report that names the task, and the SIGSEGV handler
 * on an alternate signal stack that turns a guard-page hit into it.
 */
#ifndef WEFT_CORE_OVERFLOW_H
#define WEFT_CORE_OVERFLOW_H

struct weft__stack;

/* Write "task N overflowed its S-byte stack (how addr)" to stderr and
 * abort; async-signal-safe. */
__attribute__((noreturn)) void weft__overflow_report(
    const struct weft__stack *s, const char *how, const void *addr);

/* Install the handler (once per process) and an alternate signal stack
 * for the calling thread, unless it has one; *altstack gets ours. */
int weft__overflow_thread_init(void **altstack);
void weft__overflow_thread_term(void *altstack);

#endif /* WEFT_CORE_OVERFLOW_H */

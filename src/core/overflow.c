/*
 * Stack overflow reports.
 *
 * A guarded stack has an inaccessible page (or guard region) below it, so
 * running off its end faults.  The SIGSEGV handler runs on an alternate
 * signal stack, since the task's own stack is what overflowed, and asks
 * the runtime which stack the thread is running on; if the fault is in
 * that stack's guard, or the faulting code's stack pointer is below the
 * stack (a canary stack run off its end, or a frame larger than the guard
 * that jumped over it), it names the task and aborts.  Any other fault is
 * the application's: the handler that was installed before weft's gets
 * it, every time, and weft's stays installed.  Canary stacks are also
 * checked at each switch (stack.h).
 */
#include "base/compiler.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "base/sys.h"
#include "core/overflow.h"
#include "core/runtime.h"

#define ALTSTACK_SIZE (64u * 1024u)

/* Async-signal-safe formatting: no stdio in a signal handler. */
static char *put_str(char *p, char *end, const char *s)
{
	while (*s && p < end)
		*p++ = *s++;
	return p;
}

static char *put_num(char *p, char *end, uint64_t v, unsigned base)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n && p < end)
		*p++ = tmp[--n];
	return p;
}

void weft__overflow_report(const struct weft__stack *s, const char *how,
    const void *addr)
{
	char buf[256], *p = buf, *end = buf + sizeof(buf) - 1;
	const struct weft_task *t = s->task;

	p = put_str(p, end, "weft: task ");
	p = put_num(p, end, t ? t->id : 0, 10);
	p = put_str(p, end, " \"");
	p = put_str(p, end, t ? t->name : "");
	p = put_str(p, end, "\" overflowed its ");
	p = put_num(p, end, s->size, 10);
	p = put_str(p, end, "-byte stack (");
	p = put_str(p, end, how);
	if (addr) {
		p = put_str(p, end, " 0x");
		p = put_num(p, end, (uintptr_t)addr, 16);
	}
	p = put_str(p, end, ")\n");
	if (weft__sys_write(STDERR_FILENO, buf, (size_t)(p - buf)) < 0)
		p = buf; /* nothing more to do: we are about to abort */
	abort();
}

/* The weft stack the thread runs on now, if any (async-signal-safe). */
static struct weft__stack *running_stack(void)
{
	struct weft_rt *rt = weft__tls_rt;

	if (!rt || !weft__in_task(rt))
		return NULL;
	return weft__self(rt)->stack;
}

static struct sigaction previous_segv;
static pthread_once_t segv_once = PTHREAD_ONCE_INIT;

/* Was the faulting code's stack pointer below s, the stack it runs on? */
static int sp_below(const struct weft__stack *s, const void *ucv)
{
#if defined(__x86_64__) && defined(REG_RSP)
	const ucontext_t *uc = ucv;

	return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP] < (uintptr_t)s->lo;
#else
	(void)s;
	(void)ucv;
	return 0;
#endif
}

/* The application's fault: hand it to the handler that was there first. */
static void forward(int sig, siginfo_t *si, void *uc)
{
	const struct sigaction *p = &previous_segv;

	if (p->sa_flags & SA_SIGINFO) {
		p->sa_sigaction(sig, si, uc);
	} else if (p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN) {
		p->sa_handler(sig);
	} else {
		/* The default: let the instruction fault again and the
		 * process die of it, with its core. */
		weft__sys_sigaction(SIGSEGV, p, NULL);
	}
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	struct weft__stack *s = running_stack();

	/* Only faults the kernel raised (si_code > 0) say where. */
	if (s && si->si_code > 0) {
		if (weft__stack_guard_hit(s, si->si_addr))
			weft__overflow_report(s, "guard page hit at",
			    si->si_addr);
		if (sp_below(s, uc))
			weft__overflow_report(s, "ran below its stack, fault at",
			    si->si_addr);
	}
	forward(sig, si, uc);
}

static void segv_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	weft__sys_sigaction(SIGSEGV, &sa, &previous_segv);
}

int weft__overflow_thread_init(void **altstack)
{
	stack_t ss, old;

	*altstack = NULL;
	pthread_once(&segv_once, segv_install);
	/* The handler runs on the faulting thread: it needs its own
	 * alternate stack.  Keep one the application set up. */
	if (weft__sys_sigaltstack(NULL, &old) == 0 &&
	    !(old.ss_flags & SS_DISABLE))
		return 0;
	ss.ss_sp = weft__sys_mmap(ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS);
	if (ss.ss_sp == MAP_FAILED)
		return -1;
	ss.ss_size = ALTSTACK_SIZE;
	ss.ss_flags = 0;
	if (weft__sys_sigaltstack(&ss, NULL) == -1) {
		weft__sys_munmap(ss.ss_sp, ALTSTACK_SIZE);
		return -1;
	}
	*altstack = ss.ss_sp;
	return 0;
}

void weft__overflow_thread_term(void *altstack)
{
	stack_t ss;

	if (!altstack)
		return;
	memset(&ss, 0, sizeof(ss));
	ss.ss_flags = SS_DISABLE;
	weft__sys_sigaltstack(&ss, NULL);
	weft__sys_munmap(altstack, ALTSTACK_SIZE);
}

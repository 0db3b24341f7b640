/*
 * Stack walks for the dump and the watchdog.  See unwind.h.
 */
#include "base/compiler.h"
#include "base/error.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/auxv.h>
#include <ucontext.h>

#include "config.h"
#include "base/dlsyms.h"
#include "base/saferead.h"
#include "base/unwind.h"

#if !defined(__x86_64__)
#undef HAVE_LIBUNWIND
#endif
#ifdef HAVE_LIBUNWIND
#include <libunwind.h>
#endif

/* ---- frame pointers: the walk that needs nothing ------------------------ */

static int walk_frame_pointers(uintptr_t ip, uintptr_t bp, uintptr_t *pcs,
    int max)
{
	uintptr_t next_bp, ret;
	int n = 0;

	while (n < max && ip) {
		pcs[n++] = ip;
		/* The caller's frame is higher up the stack, and aligned. */
		if (!bp || (bp & 7) || weft__safe_word(bp, &next_bp) == -1 ||
		    weft__safe_word(bp + sizeof(uintptr_t), &ret) == -1 ||
		    next_bp <= bp)
			break;
		ip = ret;
		bp = next_bp;
	}
	return n;
}

/* ---- libunwind, loaded at its first use ---------------------------------- */

#ifdef HAVE_LIBUNWIND

/*
 * libunwind is opened by the first walk, not linked: a program that never
 * asks for a backtrace does not load it and the two libraries it pulls in
 * at exec (half a millisecond of start-up here).  The watchdog, whose
 * signal handler walks, opens it when it starts (weft__unwind_load).  The
 * names are the header's own, stringified, so they follow its macros.
 * Where it cannot be opened (not installed, or a static program, which
 * has no dynamic loader to open it with) walks follow frame pointers.
 */
#define STR_(x) #x
#define STR(x) STR_(x)
#define UNWIND_SONAME "libunwind-x86_64.so.8"

struct unw_api {
	unw_accessors_t *(*get_accessors)(unw_addr_space_t);
	unw_addr_space_t *local_as;
	unw_addr_space_t (*create_addr_space)(unw_accessors_t *, int);
	int (*init_remote)(unw_cursor_t *, unw_addr_space_t, void *);
	int (*init_local2)(unw_cursor_t *, unw_context_t *, int);
	int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
	int (*step)(unw_cursor_t *);
	int (*get_proc_name)(unw_cursor_t *, char *, size_t, unw_word_t *);
};

#define ENTRY(member, fn) WEFT__DLSYM(struct unw_api, member, STR(fn))
static const struct weft__dlsym entries[] = {
	ENTRY(get_accessors, unw_get_accessors),
	ENTRY(local_as, unw_local_addr_space),
	ENTRY(create_addr_space, unw_create_addr_space),
	ENTRY(init_remote, unw_init_remote),
	ENTRY(init_local2, unw_init_local2),
	ENTRY(get_reg, unw_get_reg),
	ENTRY(step, unw_step),
	ENTRY(get_proc_name, unw_get_proc_name),
};

static struct unw_api lib;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static _Atomic int lib_ready;        /* every entry point found */

static unw_addr_space_t safe_as;

static int safe_access_mem(unw_addr_space_t as, unw_word_t addr,
    unw_word_t *val, int write, void *arg)
{
	uintptr_t v;

	(void)as;
	(void)arg;
	if (write || weft__safe_word((uintptr_t)addr, &v) == -1)
		return -UNW_EINVAL;
	*val = (unw_word_t)v;
	return 0;
}

/* The first frame's registers come from the walk's struct weft__regs. */
static int regs_access_reg(unw_addr_space_t as, unw_regnum_t reg,
    unw_word_t *val, int write, void *arg)
{
	const struct weft__regs *r = arg;

	(void)as;
	if (write)
		return -UNW_EREADONLYREG;
	switch (reg) {
	case UNW_X86_64_RIP: *val = r->ip; return 0;
	case UNW_X86_64_RSP: *val = r->sp; return 0;
	case UNW_X86_64_RBP: *val = r->bp; return 0;
	case UNW_X86_64_RBX: *val = r->bx; return 0;
	case UNW_X86_64_R12: *val = r->r12; return 0;
	case UNW_X86_64_R13: *val = r->r13; return 0;
	case UNW_X86_64_R14: *val = r->r14; return 0;
	case UNW_X86_64_R15: *val = r->r15; return 0;
	default: return -UNW_EBADREG;
	}
}

static int no_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val,
    int write, void *arg)
{
	(void)as;
	(void)reg;
	(void)val;
	(void)write;
	(void)arg;
	return -UNW_EBADREG;
}

/* Open libunwind and make the address space whose accessors are the
 * local ones (unwind tables found with dl_iterate_phdr, names from the
 * objects' symbol tables) but read memory safely. */
static void lib_open(void)
{
	unw_accessors_t acc;
	void *h;

	if (getauxval(AT_BASE) == 0)
		return;                      /* static: no dynamic loader */
	if (!(h = dlopen(UNWIND_SONAME, RTLD_NOW | RTLD_LOCAL)))
		return;
	if (weft__dlsyms_fill(h, &lib, entries,
	    sizeof(entries) / sizeof(entries[0]))) {
		dlclose(h);
		return;
	}
	acc = *lib.get_accessors(*lib.local_as);
	acc.access_mem = safe_access_mem;
	acc.access_reg = regs_access_reg;
	acc.access_fpreg = no_fpreg;
	acc.resume = NULL;
	safe_as = lib.create_addr_space(&acc, 0);
	atomic_store_explicit(&lib_ready, 1, memory_order_release);
}

int weft__unwind_load(void)
{
	pthread_once(&lib_once, lib_open);
	return atomic_load_explicit(&lib_ready, memory_order_acquire) ? 0 : -1;
}

/* The return addresses from c outwards, at most max. */
static int collect(unw_cursor_t *c, uintptr_t *pcs, int max)
{
	unw_word_t ip;
	int n = 0;

	do {
		if (lib.get_reg(c, UNW_REG_IP, &ip) < 0 || !ip)
			break;
		pcs[n++] = (uintptr_t)ip;
	} while (n < max && lib.step(c) > 0);
	return n;
}

int weft__unwind(const struct weft__regs *r, uintptr_t *pcs, int max)
{
	struct weft__regs copy = *r;
	unw_cursor_t c;

	if (weft__unwind_load() == -1 || !safe_as ||
	    lib.init_remote(&c, safe_as, &copy) < 0)
		return walk_frame_pointers(r->ip, r->bp, pcs, max);
	return collect(&c, pcs, max);
}

/* In a signal handler: no loading here, only what is loaded already. */
int weft__unwind_signal(void *ucontext, uintptr_t *pcs, int max)
{
	const ucontext_t *uc = ucontext;
	unw_cursor_t c;

	if (!atomic_load_explicit(&lib_ready, memory_order_acquire))
		return walk_frame_pointers(
		    (uintptr_t)uc->uc_mcontext.gregs[REG_RIP],
		    (uintptr_t)uc->uc_mcontext.gregs[REG_RBP], pcs, max);
	if (lib.init_local2(&c, (unw_context_t *)ucontext,
	    UNW_INIT_SIGNAL_FRAME) < 0)
		return 0;
	return collect(&c, pcs, max);
}

/* The symbol table's name for pc, which knows static functions too. */
static int proc_name(uintptr_t pc, char *buf, size_t size, uintptr_t *off)
{
	struct weft__regs r = { .ip = pc };
	unw_cursor_t c;
	unw_word_t o = 0;

	if (weft__unwind_load() == -1 || !safe_as ||
	    lib.init_remote(&c, safe_as, &r) < 0 ||
	    lib.get_proc_name(&c, buf, size, &o) < 0)
		return -1;
	*off = (uintptr_t)o;
	return 0;
}

const char *weft__unwind_method(void)
{
	return weft__unwind_load() == 0 ? "libunwind" : "frame pointers";
}

#else /* frame pointers only */

int weft__unwind_load(void)
{
	return -1;
}

int weft__unwind(const struct weft__regs *r, uintptr_t *pcs, int max)
{
	return walk_frame_pointers(r->ip, r->bp, pcs, max);
}

int weft__unwind_signal(void *ucontext, uintptr_t *pcs, int max)
{
#if defined(__x86_64__)
	const ucontext_t *uc = ucontext;

	return walk_frame_pointers((uintptr_t)uc->uc_mcontext.gregs[REG_RIP],
	    (uintptr_t)uc->uc_mcontext.gregs[REG_RBP], pcs, max);
#else
	(void)ucontext;
	(void)pcs;
	(void)max;
	return 0;
#endif
}

static int proc_name(uintptr_t pc, char *buf, size_t size, uintptr_t *off)
{
	(void)pc;
	(void)buf;
	(void)size;
	(void)off;
	return -1;
}

const char *weft__unwind_method(void)
{
	return "frame pointers";
}

#endif

void weft__symbolize(uintptr_t pc, char *buf, size_t size)
{
	char name[256];
	uintptr_t off;
	Dl_info di;

	if (proc_name(pc, name, sizeof(name), &off) == 0) {
		snprintf(buf, size, off ? "%s+%#lx" : "%s", name,
		    (unsigned long)off);
		return;
	}
	if (dladdr((void *)pc, &di) && di.dli_sname && di.dli_saddr) {
		off = pc - (uintptr_t)di.dli_saddr;
		snprintf(buf, size, off ? "%s+%#lx" : "%s", di.dli_sname,
		    (unsigned long)off);
		return;
	}
	if (dladdr((void *)pc, &di) && di.dli_fname) {
		const char *base = strrchr(di.dli_fname, '/');

		snprintf(buf, size, "%s+%#lx", base ? base + 1 : di.dli_fname,
		    (unsigned long)(pc - (uintptr_t)di.dli_fbase));
		return;
	}
	snprintf(buf, size, "%#lx", (unsigned long)pc);
}

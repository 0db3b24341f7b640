/*
 * Failure injection: the per-thread countdown.  See fault.h.
 */
#include "base/fault.h"

#ifdef WEFT_FAULT_INJECTION

#include <execinfo.h>
#include <stdlib.h>

/* Per thread, so a test's helper threads (a server, the pool) are not
 * counted: only the runtime under test fails. */
static __thread unsigned fault_mask;
static __thread unsigned long fault_left;
static __thread int fault_hit;

int weft__fault(enum weft__fault_kind kind)
{
	if (!(fault_mask & (unsigned)kind) || fault_left == 0)
		return 0;
	if (--fault_left != 0)
		return 0;
	fault_hit = 1;
	/* WEFT_FAULT_TRACE in the environment: say where it struck. */
	if (getenv("WEFT_FAULT_TRACE")) {
		void *frames[16];

		backtrace_symbols_fd(frames, backtrace(frames, 16), 2);
	}
	return 1;
}

void weft__fault_arm(unsigned mask, unsigned long nth)
{
	fault_mask = mask;
	fault_left = nth;
	fault_hit = 0;
}

void weft__fault_disarm(void)
{
	fault_mask = 0;
	fault_left = 0;
}

int weft__fault_hits(void)
{
	return fault_hit;
}

#endif /* WEFT_FAULT_INJECTION */

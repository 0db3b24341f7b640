/*
 * Safe reads: process_vm_readv(2) on our own process, which reports an
 * unmapped address as EFAULT.  Where it is missing (ENOSYS, EPERM under
 * some sandboxes), write(2) into a pipe, which does the same.
 */
#include "base/compiler.h"
#include "base/error.h"

#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/saferead.h"
#include "base/sys.h"

static int via_pipe(void *dst, const void *src, size_t n)
{
	int p[2];
	ssize_t w = -1;

	if (weft__sys_pipe(p) == -1)
		return -1;
	if (n <= 4096 && (w = weft__sys_write(p[1], src, n)) == (ssize_t)n)
		w = weft__sys_read(p[0], dst, n);
	weft__sys_close(p[0]);
	weft__sys_close(p[1]);
	return w == (ssize_t)n ? 0 : weft__fail(EFAULT);
}

int weft__safe_read(void *dst, const void *src, size_t n)
{
	struct iovec local = { dst, n }, remote = { (void *)src, n };
	ssize_t r;

	if (n == 0)
		return 0;
	r = weft__sys_process_vm_readv(&local, &remote);
	if (r == (ssize_t)n)
		return 0;
	if (r == -1 && (errno == ENOSYS || errno == EPERM))
		return via_pipe(dst, src, n);
	return weft__fail(EFAULT);
}

int weft__safe_word(uintptr_t addr, uintptr_t *val)
{
	return weft__safe_read(val, (const void *)addr, sizeof(*val));
}

int weft__safe_string(char *dst, size_t size, const char *src)
{
	size_t i;

	if (!size)
		return 0;
	/* A byte at a time would be slow; a chunk may cross into an
	 * unmapped page, so fall back to bytes when it fails. */
	if (weft__safe_read(dst, src, size) == -1) {
		for (i = 0; i + 1 < size; i++)
			if (weft__safe_read(dst + i, src + i, 1) == -1 ||
			    dst[i] == '\0')
				break;
		dst[i] = '\0';
		return i ? 0 : -1;
	}
	dst[size - 1] = '\0';
	return 0;
}

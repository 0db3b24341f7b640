/*
 * weft_fdopen: a stdio stream whose reads and writes are weft_read and
 * weft_write, so fgets, getline, fprintf and fscanf park only the calling
 * task (fopencookie(3)).
 */
#include "base/compiler.h"
#include "base/error.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/sys.h"
#include "io/fd.h"

static ssize_t cookie_read(void *cookie, char *buf, size_t n)
{
	return weft_read((int)(intptr_t)cookie, buf, n);
}

/* stdio takes 0 for an error here (errno says which); a part written
 * before the error is counted. */
static ssize_t cookie_write(void *cookie, const char *buf, size_t n)
{
	ssize_t r = weft_write((int)(intptr_t)cookie, buf, n);

	return r < 0 ? 0 : r;
}

static int cookie_close(void *cookie)
{
	return weft_close((int)(intptr_t)cookie);
}

/* O_RDONLY, O_WRONLY or O_RDWR for an fdopen(3) mode; -1 if invalid. */
static int mode_access(const char *mode)
{
	int plus;

	if (!mode || !mode[0] || !strchr("rwa", mode[0]))
		return -1;
	plus = strchr(mode + 1, '+') != NULL;
	if (mode[1 + strspn(mode + 1, "+be")] != '\0')
		return -1;
	if (plus)
		return O_RDWR;
	return mode[0] == 'r' ? O_RDONLY : O_WRONLY;
}

FILE *weft_fdopen(int fd, const char *mode)
{
	static const cookie_io_functions_t io = {
		.read = cookie_read, .write = cookie_write,
		.seek = NULL, .close = cookie_close,
	};
	int want = mode_access(mode), fl;

	if (want == -1)
		return weft__fail_null(EINVAL);
	if ((fl = weft__sys_fcntl(fd, F_GETFL, 0)) == -1)
		return NULL;                      /* EBADF */
	/* As fdopen(3): the stream may not do what the descriptor can't. */
	fl &= O_ACCMODE;
	if ((want == O_RDWR && fl != O_RDWR) ||
	    (want == O_RDONLY && fl == O_WRONLY) ||
	    (want == O_WRONLY && fl == O_RDONLY))
		return weft__fail_null(EINVAL);
	return fopencookie((void *)(intptr_t)fd, mode, io);
}

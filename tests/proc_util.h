/*
 * What the process holds, read from /proc: for the tests and the soak,
 * which must show that nothing accumulates.  Only static inline functions.
 */
#ifndef WEFT_TEST_PROC_UTIL_H
#define WEFT_TEST_PROC_UTIL_H

#include <dirent.h>
#include <stdio.h>

/* How many descriptors the process has open (the directory's own aside);
 * -1 if /proc cannot say. */
static inline int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

/* Resident memory in KiB (VmRSS); -1 if /proc cannot say. */
static inline long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

#endif /* WEFT_TEST_PROC_UTIL_H */

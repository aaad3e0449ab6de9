// SPDX-License-Identifier: Apache-2.0
/* What every step of microvm-jailer uses: the failing exit with its undo
 * list, path formatting, cgroup file writes, mkdir -p. Calls nothing else
 * of the jailer's (the undo functions are registered by the steps). */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jailer/jailer.h"

const char *jail_step = "start";
static void (*undo[4])(void);
static unsigned nr_undo;

void jail_undo_on_fail(void (*fn)(void))
{
	if (nr_undo < sizeof(undo) / sizeof(undo[0]))
		undo[nr_undo++] = fn;
}

void jail_undo_forget(void)
{
	nr_undo = 0;
}

/* Names the failed step, undoes what this run built (latest first),
 * exits 1. */
void jail_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "microvm-jailer: %s: ", jail_step);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	while (nr_undo)
		undo[--nr_undo]();
	exit(1);
}

void jail_path(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		jail_fail("path too long: %s", out);
}

void jail_write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : write(fd, text, strlen(text));

	if (n != (ssize_t)strlen(text))
		jail_fail("cannot write '%s' to %s: %s", text, path,
			  strerror(errno));
	close(fd);
}

void jail_mkdirs(char *path, mode_t mode)
{
	char *p;

	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, mode) && errno != EEXIST)
			jail_fail("mkdir %s: %s", path, strerror(errno));
		*p = '/';
	}
	if (mkdir(path, mode) && errno != EEXIST)
		jail_fail("mkdir %s: %s", path, strerror(errno));
}

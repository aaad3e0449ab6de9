// SPDX-License-Identifier: Apache-2.0
/* What booting needs on either architecture: the kernel and initrd files
 * read whole (size-capped), and the kernel command line: the user's boot
 * args joined with what the monitor adds. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/vmm.h"

/* Offset of a "--" token in s, or -1. */
static long find_init_separator(const char *s)
{
	const char *p;

	for (p = strstr(s, "--"); p; p = strstr(p + 1, "--")) {
		if ((p == s || p[-1] == ' ') && (p[2] == ' ' || p[2] == '\0'))
			return p - s;
	}
	return -1;
}

int cmdline_build(char *out, size_t out_size, const char *user,
		  const char *additions)
{
	long sep = find_init_separator(user);
	size_t head = sep < 0 ? strlen(user) : (size_t)sep;
	const char *tail = sep < 0 ? "" : user + sep;
	int n;

	while (head && user[head - 1] == ' ')
		head--;
	n = snprintf(out, out_size, "%.*s%s%s%s%s", (int)head, user,
		     head && *additions ? " " : "", additions,
		     *tail && (head || *additions) ? " " : "", tail);
	if (n < 0 || (size_t)n >= out_size || (size_t)n >= BOOT_CMDLINE_MAX)
		return -E2BIG;
	return 0;
}

int read_file_capped(const char *path, size_t max, uint8_t **buf, size_t *size)
{
	struct stat st;
	size_t done = 0;
	int ret = 0, fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		ret = -errno;
	else if (!S_ISREG(st.st_mode))
		ret = -EINVAL;
	else if ((uint64_t)st.st_size > max)
		ret = -EFBIG;
	if (ret)
		goto out;
	*buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!*buf) {
		ret = -ENOMEM;
		goto out;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, *buf + done, (size_t)st.st_size - done);

		if (n <= 0) { /* shrank under us, or an I/O error */
			ret = n < 0 ? -errno : -EIO;
			free(*buf);
			*buf = NULL;
			goto out;
		}
		done += (size_t)n;
	}
	*size = done;
out:
	close(fd);
	return ret;
}

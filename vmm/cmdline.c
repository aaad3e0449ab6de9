// SPDX-License-Identifier: Apache-2.0
/* The kernel command line: the user's boot args joined with what the
 * monitor adds (either architecture). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

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

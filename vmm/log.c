// SPDX-License-Identifier: Apache-2.0
/* Leveled log lines on stderr, one write(2) per line so threads never
 * interleave inside a line. */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "vmm/vmm.h"

static enum log_level current_level = LOG_INFO;

static const char *const level_names[] = {
	[LOG_OFF] = "Off",   [LOG_ERROR] = "Error", [LOG_WARN] = "Warning",
	[LOG_INFO] = "Info", [LOG_DEBUG] = "Debug",
};

void log_set_level(enum log_level level)
{
	current_level = level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (level == LOG_OFF || level > current_level)
		return;
	n = snprintf(line, sizeof(line), "[microvm:%s] ", level_names[level]);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return; /* nowhere left to report it */
}

// SPDX-License-Identifier: Apache-2.0
/* The logger: one line per message, one write(2) per line so threads never
 * interleave inside a line, to stderr or to the file/FIFO of PUT /logger
 * (opened non-blocking: a FIFO with no reader drops lines, never blocks).
 * A module filter keeps only the lines logged from source files under
 * that path (Firecracker filters by Rust module path; ours are files).
 * Format: "<UTC time> [<instance id>:<thread>(:<LEVEL>(:<file>:<line>))] msg". */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

static struct {
	enum log_level level;
	bool show_level, show_origin;
	int fd;
	char id[72];
	char module[LOG_MODULE_MAX];
} logger = { LOG_INFO, false, false, STDERR_FILENO, "anonymous-instance", "" };

static __thread const char *thread_name = "main";

static const char *const level_names[] = {
	[LOG_OFF] = "OFF",   [LOG_ERROR] = "ERROR", [LOG_WARN] = "WARN",
	[LOG_INFO] = "INFO", [LOG_DEBUG] = "DEBUG", [LOG_TRACE] = "TRACE",
};

void log_set_instance_id(const char *id)
{
	snprintf(logger.id, sizeof(logger.id), "%s", id);
}

void log_set_thread_name(const char *name)
{
	thread_name = name;
}

static int log_open(const char *path)
{
	int fd = open(path,
		      O_RDWR | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC,
		      0600);

	if (fd < 0)
		return -errno;
	if (logger.fd != STDERR_FILENO)
		close(logger.fd);
	logger.fd = fd;
	return 0;
}

int log_configure(const struct logger_cfg *l)
{
	int ret = l->path[0] ? log_open(l->path) : 0;

	if (ret)
		return ret;
	if (l->has_level)
		logger.level = (enum log_level)l->level;
	if (l->has_show_level)
		logger.show_level = l->show_level;
	if (l->has_show_origin)
		logger.show_origin = l->show_origin;
	if (l->has_module)
		strcpy(logger.module, l->module);
	return 0;
}

static int format_prefix(char *line, size_t size, enum log_level level,
			 const char *file, int lineno)
{
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* not strftime: it may reread /etc/localtime, which seccomp forbids */
	n = snprintf(line, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09ld [%s:%s",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec, logger.id, thread_name);
	if (logger.show_level)
		n += snprintf(line + n, size - (size_t)n, ":%s",
			      level_names[level]);
	if (logger.show_origin)
		n += snprintf(line + n, size - (size_t)n, ":%s:%d", file,
			      lineno);
	return n + snprintf(line + n, size - (size_t)n, "] ");
}

void log_write(enum log_level level, const char *file, int lineno,
	       const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (level == LOG_OFF || level > logger.level ||
	    strncmp(file, logger.module, strlen(logger.module)))
		return;
	n = format_prefix(line, sizeof(line), level, file, lineno);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(logger.fd, line, (size_t)n) != n)
		metrics_inc(M_LOGGER_MISSED);
}

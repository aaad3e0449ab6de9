// SPDX-License-Identifier: Apache-2.0
/* Metrics: relaxed atomic counters bumped from any thread; metrics_flush()
 * (VMM thread: every 60 s and on FlushMetrics) writes one JSON line of the
 * deltas since the last flush (and of the stored values), grouped as
 * METRICS_LIST says. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

#define METRIC_GROUP(id, group, name) group,
#define METRIC_NAME(id, group, name) name,
static const char *const metric_groups[] = { METRICS_LIST(METRIC_GROUP) };
static const char *const metric_names[] = { METRICS_LIST(METRIC_NAME) };

static uint64_t counters[M__COUNT];
static bool stored[M__COUNT]; /* a value, not a counter: never reset */
static int metrics_fd = -1;

void metrics_inc(enum metric_id id)
{
	__atomic_fetch_add(&counters[id], 1, __ATOMIC_RELAXED);
}

void metrics_add(enum metric_id id, uint64_t n)
{
	__atomic_fetch_add(&counters[id], n, __ATOMIC_RELAXED);
}

void metrics_store(enum metric_id id, uint64_t value)
{
	stored[id] = true;
	__atomic_store_n(&counters[id], value, __ATOMIC_RELAXED);
}

/* A counter's delta since the last flush, or a stored value. */
static uint64_t take(unsigned i)
{
	if (stored[i])
		return __atomic_load_n(&counters[i], __ATOMIC_RELAXED);
	return __atomic_exchange_n(&counters[i], 0, __ATOMIC_RELAXED);
}

int metrics_open(const char *path)
{
	if (metrics_fd >= 0)
		return -EALREADY;
	metrics_fd = open(path,
			  O_RDWR | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC,
			  0600);
	return metrics_fd < 0 ? -errno : 0;
}

/* Appends `"group": {` when the group changes; returns the new length. */
static size_t open_group(char *buf, size_t n, size_t size, unsigned i)
{
	if (i && !strcmp(metric_groups[i], metric_groups[i - 1]))
		return n + (size_t)snprintf(buf + n, size - n, ",");
	return n + (size_t)snprintf(buf + n, size - n, "%s\"%s\":{",
				    i ? "}," : "", metric_groups[i]);
}

int metrics_flush(void)
{
	char buf[8192];
	struct timespec ts;
	size_t n;
	unsigned i;
	ssize_t written;

	if (metrics_fd < 0)
		return -ENODEV;
	clock_gettime(CLOCK_REALTIME, &ts);
	n = (size_t)snprintf(buf, sizeof(buf), "{\"utc_timestamp_ms\":%lld,",
			     (long long)ts.tv_sec * 1000 +
				     ts.tv_nsec / 1000000);
	for (i = 0; i < M__COUNT && n < sizeof(buf) - 128; i++) {
		n = open_group(buf, n, sizeof(buf), i);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\"%s\":%llu",
				      metric_names[i],
				      (unsigned long long)take(i));
	}
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "}}\n");
	written = write(metrics_fd, buf, n);

	if (written < 0)
		return -errno;
	return (size_t)written == n ? 0 : -EIO;
}

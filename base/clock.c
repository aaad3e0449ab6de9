// SPDX-License-Identifier: Apache-2.0
/* The one clock helper: time since a clock_gettime() reading. */
#include "base/base.h"

uint64_t elapsed_us(const struct timespec *from, clockid_t clock)
{
	struct timespec now;

	clock_gettime(clock, &now);
	return (uint64_t)((now.tv_sec - from->tv_sec) * 1000000 +
			  (now.tv_nsec - from->tv_nsec) / 1000);
}

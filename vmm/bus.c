// SPDX-License-Identifier: Apache-2.0
/* Port-I/O and MMIO dispatch: a short list of non-overlapping ranges,
 * filled by the builder before any vCPU runs and read-only afterwards. */
#include <errno.h>
#include <string.h>

#include "vmm/vmm.h"

int bus_add(struct bus *bus, uint64_t base, uint64_t len, bus_access_fn access,
	    void *dev)
{
	unsigned i;

	if (len == 0 || base + len < base)
		return -EINVAL;
	for (i = 0; i < bus->count; i++) {
		const struct bus_range *r = &bus->ranges[i];

		if (base < r->base + r->len && r->base < base + len)
			return -EEXIST;
	}
	if (bus->count == BUS_MAX_RANGES)
		return -ENOSPC;
	bus->ranges[bus->count++] =
		(struct bus_range){ base, len, access, dev };
	return 0;
}

bool bus_dispatch(const struct bus *bus, uint64_t addr, uint8_t *data,
		  uint32_t len, bool is_write)
{
	unsigned i;

	for (i = 0; i < bus->count; i++) {
		const struct bus_range *r = &bus->ranges[i];

		if (addr >= r->base && addr - r->base < r->len &&
		    len <= r->len - (addr - r->base)) {
			r->access(r->dev, addr - r->base, data, len, is_write);
			return true;
		}
	}
	if (!is_write)
		memset(data, 0xff, len);
	return false;
}

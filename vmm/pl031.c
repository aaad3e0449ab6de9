// SPDX-License-Identifier: Apache-2.0
/* The PL031 real-time clock (ARM DDI 0224), the arm64 machine's RTC as in
 * Firecracker, on MMIO: 32-bit registers only.
 * - DR reads the host's time (clock_fn) plus the offset a write to LR set
 *   (the guest may set its clock; LR reads back what was loaded);
 * - MR, IMSC (and CR, whose start bit stays set) keep what was written;
 *   the match interrupt is never raised (RIS stays 0; ICR has nothing to
 *   clear): Linux reads and sets the time, an alarm it sets never fires;
 * - the PrimeCell ID registers at 0xfe0-0xffc say "PL031", which Linux's
 *   AMBA bus reads to bind the driver.
 * Other offsets and sizes read zero and ignore writes. Not saved in
 * snapshots. vCPU threads. */
#include <string.h>

#include "vmm/vmm.h"

#define DR 0x000
#define MR 0x004
#define LR 0x008
#define CR 0x00c
#define IMSC 0x010
#define RIS 0x014
#define MIS 0x018
#define ICR 0x01c
#define ID_START 0xfe0
#define CR_START 1u

/* PeriphID0-3 then PCellID0-3, one byte in each 32-bit register. */
static const uint8_t primecell_id[8] = { 0x31, 0x10, 0x04, 0x00,
					 0x0d, 0xf0, 0x05, 0xb1 };

static time_t host_time(void)
{
	return time(NULL);
}

void pl031_init(struct pl031 *r, time_t (*clock_fn)(void))
{
	pthread_mutex_init(&r->lock, NULL);
	r->offset = 0;
	r->lr = r->mr = r->imsc = 0;
	r->clock_fn = clock_fn ? clock_fn : host_time;
}

static uint32_t now(const struct pl031 *r)
{
	return (uint32_t)((int64_t)r->clock_fn() + r->offset);
}

static uint32_t pl031_read(const struct pl031 *r, uint64_t off)
{
	switch (off) {
	case DR:
		return now(r);
	case MR:
		return r->mr;
	case LR:
		return r->lr;
	case CR:
		return CR_START;
	case IMSC:
		return r->imsc;
	default: /* RIS, MIS: no match interrupt */
		return off >= ID_START && off < ID_START + 32 ?
			       primecell_id[(off - ID_START) / 4] :
			       0;
	}
}

static void pl031_write(struct pl031 *r, uint64_t off, uint32_t value)
{
	if (off == MR)
		r->mr = value;
	else if (off == IMSC)
		r->imsc = value & 1;
	else if (off == LR) {
		r->lr = value;
		r->offset = (int64_t)value - (int64_t)r->clock_fn();
	}
}

void pl031_access(void *dev, uint64_t off, uint8_t *data, uint32_t len,
		  bool is_write)
{
	struct pl031 *r = dev;
	uint32_t value = 0;

	if (len != 4 || off % 4) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	pthread_mutex_lock(&r->lock);
	if (is_write) {
		memcpy(&value, data, 4);
		pl031_write(r, off, value);
	} else {
		value = pl031_read(r, off);
		memcpy(data, &value, 4);
	}
	pthread_mutex_unlock(&r->lock);
}

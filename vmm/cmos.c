// SPDX-License-Identifier: Apache-2.0
/* The CMOS RTC (MC146818) on ports 0x70 (index) and 0x71 (data), the
 * cheapest way that ends the guest's RTC loops at their first pass:
 * - the clock registers read the host's UTC time (clock_fn), in BCD and
 *   24-hour mode, the one mode register B offers (writes to its mode
 *   bits are ignored); register A's update-in-progress bit is never set,
 *   register D says the time is valid, register C has no interrupt flag;
 * - the guest cannot set the clock (writes to the time and date are
 *   ignored) and gets no RTC interrupt (IRQ 8);
 * - every other index (alarms, register A's divider and rate, NVRAM up
 *   to 0x7f) is a byte of RAM the guest reads back.
 * Bit 7 of the index (the NMI mask) is ignored. Any byte is accepted from
 * the guest; other access sizes read all-ones. Not saved in snapshots
 * (a restored guest sees fresh NVRAM and the host's time).
 * vCPU threads. */
#include <string.h>

#include "vmm/vmm.h"

#define CMOS_INDEX 0
#define CMOS_DATA 1

#define REG_SECONDS 0x00
#define REG_MINUTES 0x02
#define REG_HOURS 0x04
#define REG_WEEKDAY 0x06
#define REG_DAY 0x07
#define REG_MONTH 0x08
#define REG_YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define REG_CENTURY 0x32 /* where PCs (and ACPI's FADT) keep it */

#define A_UIP 0x80
#define A_DEFAULT 0x26 /* 32.768 kHz time base, 1024 Hz periodic rate */
#define B_MODE_MASK 0x07 /* binary/BCD, 24-hour, daylight saving */
#define B_24H 0x02
#define D_VALID_TIME 0x80

/* clock_gettime, not time(): the vCPU filter allows only the former
 * (the call is made when the vDSO cannot answer). */
static time_t host_time(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

void cmos_init(struct cmos *c, time_t (*clock_fn)(void))
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->clock_fn = clock_fn ? clock_fn : host_time;
	c->ram[REG_A] = A_DEFAULT;
	c->ram[REG_B] = B_24H;
}

static uint8_t bcd(int v)
{
	return (uint8_t)((v / 10 % 10) << 4 | v % 10);
}

/* The time and date; the alarm (indexes 1, 3, 5) is RAM. */
static bool is_clock_reg(uint8_t index)
{
	switch (index) {
	case REG_SECONDS:
	case REG_MINUTES:
	case REG_HOURS:
	case REG_WEEKDAY:
	case REG_DAY:
	case REG_MONTH:
	case REG_YEAR:
	case REG_CENTURY:
		return true;
	default:
		return false;
	}
}

/* Clock register `index` (is_clock_reg) now, in BCD. */
static uint8_t clock_reg(struct cmos *c, uint8_t index)
{
	time_t now = c->clock_fn();
	struct tm tm;

	if (!gmtime_r(&now, &tm))
		memset(&tm, 0, sizeof(tm));
	switch (index) {
	case REG_SECONDS:
		return bcd(tm.tm_sec);
	case REG_MINUTES:
		return bcd(tm.tm_min);
	case REG_HOURS:
		return bcd(tm.tm_hour);
	case REG_WEEKDAY:
		return bcd(tm.tm_wday + 1);
	case REG_DAY:
		return bcd(tm.tm_mday);
	case REG_MONTH:
		return bcd(tm.tm_mon + 1);
	case REG_YEAR:
		return bcd(tm.tm_year % 100);
	default:
		return bcd(19 + tm.tm_year / 100);
	}
}

static uint8_t cmos_read(struct cmos *c)
{
	if (is_clock_reg(c->index))
		return clock_reg(c, c->index);
	switch (c->index) {
	case REG_A:
		return c->ram[REG_A] & ~A_UIP;
	case REG_C:
		return 0;
	case REG_D:
		return D_VALID_TIME;
	default:
		return c->ram[c->index];
	}
}

static void cmos_write(struct cmos *c, uint8_t v)
{
	if (is_clock_reg(c->index))
		return;
	switch (c->index) {
	case REG_B:
		c->ram[REG_B] = (uint8_t)((v & ~B_MODE_MASK) | B_24H);
		break;
	case REG_C:
	case REG_D:
		break;
	default:
		c->ram[c->index] = v;
		break;
	}
}

void cmos_access(void *dev, uint64_t off, uint8_t *data, uint32_t len,
		 bool is_write)
{
	struct cmos *c = dev;

	if (len != 1 || off > CMOS_DATA) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&c->lock);
	if (off == CMOS_INDEX && is_write)
		c->index = *data & 0x7f;
	else if (off == CMOS_INDEX)
		*data = 0xff; /* the index register is write-only */
	else if (is_write)
		cmos_write(c, *data);
	else
		*data = cmos_read(c);
	pthread_mutex_unlock(&c->lock);
}

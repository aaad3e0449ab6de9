// SPDX-License-Identifier: Apache-2.0
/* The CMOS RTC: Linux's update-in-progress loop (mc146818_avoid_UIP)
 * passes at once, the clock reads the given time in BCD, the guest cannot
 * set it, and NVRAM keeps what the guest writes. */
#include "tests/unit/unit.h"

#define INDEX 0
#define DATA 1

/* 2026-11-25 16:07:09 UTC, a Wednesday */
static time_t fixed_time(void)
{
	return 1795622829;
}

static void out8(struct cmos *c, uint64_t off, uint8_t v)
{
	cmos_access(c, off, &v, 1, true);
}

static uint8_t in8(struct cmos *c, uint64_t off)
{
	uint8_t v = 0x5a;

	cmos_access(c, off, &v, 1, false);
	return v;
}

static uint8_t reg(struct cmos *c, uint8_t index)
{
	out8(c, INDEX, index);
	return in8(c, DATA);
}

static void set_reg(struct cmos *c, uint8_t index, uint8_t v)
{
	out8(c, INDEX, index);
	out8(c, DATA, v);
}

static void test_rtc_works(void **state)
{
	struct cmos c;

	cmos_init(&c, fixed_time);
	assert_int_equal(reg(&c, 0x0a) & 0x80, 0); /* no update in progress */
	assert_int_equal(reg(&c, 0x0a), 0x26);
	assert_int_equal(reg(&c, 0x0b), 0x02); /* BCD, 24-hour */
	assert_int_equal(reg(&c, 0x0c), 0x00);
	assert_int_equal(reg(&c, 0x0d), 0x80); /* valid; bit 6 clear */
}

static void test_time_in_bcd(void **state)
{
	struct cmos c;

	cmos_init(&c, fixed_time);
	assert_int_equal(reg(&c, 0x00), 0x09);
	assert_int_equal(reg(&c, 0x02), 0x07);
	assert_int_equal(reg(&c, 0x04), 0x16);
	assert_int_equal(reg(&c, 0x06), 0x04); /* Sunday is 1 */
	assert_int_equal(reg(&c, 0x07), 0x25);
	assert_int_equal(reg(&c, 0x08), 0x11);
	assert_int_equal(reg(&c, 0x09), 0x26);
	assert_int_equal(reg(&c, 0x32), 0x20);
	out8(&c, INDEX, 0x80 | 0x09); /* NMI mask bit */
	assert_int_equal(in8(&c, DATA), 0x26);
}

/* Host time, as the VM gets it: a plausible date. */
static void test_host_time(void **state)
{
	struct cmos c;

	cmos_init(&c, NULL);
	assert_in_range(reg(&c, 0x32), 0x20, 0x21);
	assert_in_range(reg(&c, 0x08), 0x01, 0x12);
	assert_in_range(reg(&c, 0x07), 0x01, 0x31);
}

static void test_guest_writes(void **state)
{
	struct cmos c;
	unsigned i;

	cmos_init(&c, fixed_time);
	set_reg(&c, 0x00, 0x59);
	set_reg(&c, 0x09, 0x99);
	assert_int_equal(reg(&c, 0x00), 0x09); /* the clock is the host's */
	assert_int_equal(reg(&c, 0x09), 0x26);
	set_reg(&c, 0x0a, 0xa6); /* UIP is read-only */
	assert_int_equal(reg(&c, 0x0a), 0x26);
	set_reg(&c, 0x0b, 0x80 | 0x10 | 0x04); /* SET, UIE, binary */
	assert_int_equal(reg(&c, 0x0b), 0x80 | 0x10 | 0x02);
	set_reg(&c, 0x0d, 0x00);
	assert_int_equal(reg(&c, 0x0d), 0x80);
	set_reg(&c, 0x01, 0x30); /* alarm seconds */
	assert_int_equal(reg(&c, 0x01), 0x30);
	for (i = 0x0e; i < 0x80; i++)
		if (i != 0x32)
			set_reg(&c, (uint8_t)i, (uint8_t)(i ^ 0xa5));
	for (i = 0x0e; i < 0x80; i++)
		if (i != 0x32)
			assert_int_equal(reg(&c, (uint8_t)i), i ^ 0xa5);
}

static void test_other_accesses(void **state)
{
	struct cmos c;
	uint8_t wide[2] = { 0, 0 };

	cmos_init(&c, fixed_time);
	assert_int_equal(in8(&c, INDEX), 0xff);
	cmos_access(&c, DATA, wide, 2, false);
	assert_memory_equal(wide, "\xff\xff", 2);
	out8(&c, 2, 0x12);
	assert_int_equal(in8(&c, 2), 0xff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rtc_works),
		cmocka_unit_test(test_time_in_bcd),
		cmocka_unit_test(test_host_time),
		cmocka_unit_test(test_guest_writes),
		cmocka_unit_test(test_other_accesses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

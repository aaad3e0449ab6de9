// SPDX-License-Identifier: Apache-2.0
/* The PL031 RTC (arm64): DR reads the clock, a write to LR sets the
 * guest's time (DR then counts from it), the PrimeCell ID registers say
 * PL031 as Linux's AMBA bus reads them, match registers keep their value
 * and raise no interrupt, odd accesses read zero. */
#include "tests/unit/unit.h"

static time_t clock_now = 1795622829; /* 2026-11-25 16:07:09 UTC */

static time_t test_clock(void)
{
	return clock_now;
}

static uint32_t rd(struct pl031 *r, uint64_t off)
{
	uint32_t v = 0x5a5a5a5a;

	pl031_access(r, off, (uint8_t *)&v, 4, false);
	return v;
}

static void wr(struct pl031 *r, uint64_t off, uint32_t v)
{
	pl031_access(r, off, (uint8_t *)&v, 4, true);
}

static void test_reads_clock_and_sets_time(void **state)
{
	struct pl031 r;

	pl031_init(&r, test_clock);
	assert_int_equal(rd(&r, 0x000), 1795622829u);
	wr(&r, 0x008, 1000); /* LR: the guest sets its clock */
	assert_int_equal(rd(&r, 0x008), 1000);
	clock_now += 5;
	assert_int_equal(rd(&r, 0x000), 1005);
	assert_int_equal(rd(&r, 0x00c), 1); /* CR: started */
}

static void test_primecell_id(void **state)
{
	static const uint32_t id[8] = { 0x31, 0x10, 0x04, 0x00,
					0x0d, 0xf0, 0x05, 0xb1 };
	struct pl031 r;
	unsigned i;

	pl031_init(&r, test_clock);
	for (i = 0; i < 8; i++)
		assert_int_equal(rd(&r, 0xfe0 + 4 * i), id[i]);
}

static void test_match_without_interrupt(void **state)
{
	struct pl031 r;
	uint8_t b = 0x5a;

	pl031_init(&r, test_clock);
	wr(&r, 0x004, 1234); /* MR */
	wr(&r, 0x010, 3); /* IMSC: bit 0 only */
	assert_int_equal(rd(&r, 0x004), 1234);
	assert_int_equal(rd(&r, 0x010), 1);
	clock_now = 1234;
	assert_int_equal(rd(&r, 0x014), 0); /* RIS */
	assert_int_equal(rd(&r, 0x018), 0); /* MIS */
	pl031_access(&r, 0x000, &b, 1, false); /* a byte read of DR */
	assert_int_equal(b, 0);
	assert_int_equal(rd(&r, 0x002), 0); /* unaligned */
	assert_int_equal(rd(&r, 0x800), 0); /* no register */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_clock_and_sets_time),
		cmocka_unit_test(test_primecell_id),
		cmocka_unit_test(test_match_without_interrupt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

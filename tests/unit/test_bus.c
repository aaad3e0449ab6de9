// SPDX-License-Identifier: Apache-2.0
/* The port bus: ranges do not overlap, and a port no device claims reads
 * all-ones, which is what tells Linux there is no PCI (the config-mechanism
 * checks of arch/x86/pci/direct.c fail) without a device of its own. */
#include "tests/unit/unit.h"

static unsigned hits;

static void count_access(void *dev, uint64_t off, uint8_t *data, uint32_t len,
			 bool is_write)
{
	memset(data, 0, len);
	hits++;
}

static uint32_t inl(struct bus *b, uint64_t port)
{
	uint32_t v = 0;

	bus_dispatch(b, port, (uint8_t *)&v, 4, false);
	return v;
}

static uint8_t inb(struct bus *b, uint64_t port)
{
	uint8_t v = 0;

	bus_dispatch(b, port, &v, 1, false);
	return v;
}

static void outl(struct bus *b, uint64_t port, uint32_t v)
{
	bus_dispatch(b, port, (uint8_t *)&v, 4, true);
}

static void outb(struct bus *b, uint64_t port, uint8_t v)
{
	bus_dispatch(b, port, &v, 1, true);
}

/* pci_check_type1() and pci_check_type2() as Linux 6.1 runs them. */
static void test_no_pci(void **state)
{
	struct bus b = { .count = 0 };

	assert_int_equal(bus_add(&b, 0x3f8, 8, count_access, NULL), 0);
	outb(&b, 0xcfb, 0x01);
	(void)inl(&b, 0xcf8);
	outl(&b, 0xcf8, 0x80000000);
	assert_int_not_equal(inl(&b, 0xcf8), 0x80000000);
	outb(&b, 0xcfb, 0x00);
	outb(&b, 0xcf8, 0x00);
	outb(&b, 0xcfa, 0x00);
	assert_false(inb(&b, 0xcf8) == 0x00 && inb(&b, 0xcfa) == 0x00);
	outl(&b, 0xcf8, 0x80000000 | 0x08); /* read_pci_config: no device */
	assert_int_equal(inl(&b, 0xcfc), 0xffffffff);
	assert_int_equal(hits, 0);
}

static void test_ranges(void **state)
{
	struct bus b = { .count = 0 };

	hits = 0;
	assert_int_equal(bus_add(&b, 0x60, 5, count_access, NULL), 0);
	assert_int_equal(bus_add(&b, 0x64, 2, count_access, NULL), -EEXIST);
	assert_int_equal(bus_add(&b, 0x70, 2, count_access, NULL), 0);
	assert_int_equal(bus_add(&b, 0x70, 0, count_access, NULL), -EINVAL);
	assert_int_equal(inb(&b, 0x71), 0);
	assert_int_equal(inb(&b, 0x72), 0xff);
	assert_int_equal(inl(&b, 0x63), 0xffffffff); /* runs past the range */
	assert_int_equal(hits, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_pci),
		cmocka_unit_test(test_ranges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

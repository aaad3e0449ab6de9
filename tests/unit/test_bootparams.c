// SPDX-License-Identifier: Apache-2.0
/* Boot layout: e820, command line assembly, initrd placement, the zero
 * page, the PVH start info and the MP table. */
#include <asm/bootparam.h>

#include "tests/unit/unit.h"

static void test_e820_small(void **state)
{
	struct guest_mem m;
	struct e820_ent e[E820_MAX];
	unsigned n;

	assert_int_equal(gmem_create(&m, 128 * MIB, false), 0);
	n = e820_build(&m, e, E820_MAX);
	assert_int_equal(n, 3);
	assert_int_equal(e[0].addr, 0);
	assert_int_equal(e[0].size, BOOT_EBDA_START);
	assert_int_equal(e[0].type, 1);
	assert_int_equal(e[1].addr, BOOT_EBDA_START);
	assert_int_equal(e[1].type, 2); /* MP table lives here */
	assert_int_equal(e[2].addr, MIB);
	assert_int_equal(e[2].addr + e[2].size, 128 * MIB);
	assert_int_equal(e820_build(&m, e, 2), 2); /* never overflows out */
	gmem_destroy(&m);
}

static void test_e820_above_4g(void **state)
{
	struct guest_mem m;
	struct e820_ent e[E820_MAX];

	assert_int_equal(gmem_create(&m, 5120 * MIB, false), 0);
	assert_int_equal(e820_build(&m, e, E820_MAX), 4);
	assert_int_equal(e[2].addr + e[2].size, GMEM_LOW_LIMIT);
	assert_int_equal(e[3].addr, GMEM_HIGH_START);
	assert_int_equal(e[3].size, 5120 * MIB - GMEM_LOW_LIMIT);
	gmem_destroy(&m);
}

static void test_cmdline(void **state)
{
	char out[BOOT_CMDLINE_MAX];
	static char big[BOOT_CMDLINE_MAX + 8];

	assert_int_equal(cmdline_build(out, sizeof(out), "console=ttyS0", ""),
			 0);
	assert_string_equal(out, "console=ttyS0");
	assert_int_equal(cmdline_build(out, sizeof(out), "a=1 b", "dev=x"), 0);
	assert_string_equal(out, "a=1 b dev=x");
	/* additions go before init's arguments */
	assert_int_equal(
		cmdline_build(out, sizeof(out), "a=1 -- ls -l", "dev=x"), 0);
	assert_string_equal(out, "a=1 dev=x -- ls -l");
	assert_int_equal(cmdline_build(out, sizeof(out), "-- ls", "dev=x"), 0);
	assert_string_equal(out, "dev=x -- ls");
	assert_int_equal(cmdline_build(out, sizeof(out), "a --", "d"), 0);
	assert_string_equal(out, "a d --");
	/* "--" inside a word is not the separator */
	assert_int_equal(cmdline_build(out, sizeof(out), "x=a--b", "d"), 0);
	assert_string_equal(out, "x=a--b d");
	assert_int_equal(cmdline_build(out, sizeof(out), "", ""), 0);
	assert_string_equal(out, "");
	memset(big, 'a', BOOT_CMDLINE_MAX - 1);
	assert_int_equal(cmdline_build(out, sizeof(out), big, ""), 0);
	assert_int_equal(cmdline_build(out, sizeof(out), big, "d"), -E2BIG);
	big[BOOT_CMDLINE_MAX - 1] = 'a';
	assert_int_equal(cmdline_build(out, sizeof(out), big, ""), -E2BIG);
}

static void test_initrd_place(void **state)
{
	struct guest_mem m;
	uint64_t addr;

	assert_int_equal(gmem_create(&m, 64 * MIB, false), 0);
	assert_int_equal(
		initrd_place(&m, 20 * MIB, UINT64_MAX, 4 * MIB + 1, &addr), 0);
	assert_int_equal(addr % 4096, 0);
	assert_true(addr >= 20 * MIB);
	assert_true(addr + 4 * MIB + 1 <= 64 * MIB);
	/* honours the kernel's initrd_addr_max */
	assert_int_equal(initrd_place(&m, 2 * MIB, 32 * MIB - 1, MIB, &addr),
			 0);
	assert_int_equal(addr, 31 * MIB);
	/* would overlap the kernel */
	assert_int_equal(initrd_place(&m, 60 * MIB, UINT64_MAX, 8 * MIB, &addr),
			 -E2BIG);
	assert_int_equal(initrd_place(&m, 0, UINT64_MAX, 65 * MIB, &addr),
			 -E2BIG);
	gmem_destroy(&m);
}

static void test_zero_page(void **state)
{
	struct guest_mem m;
	struct kernel_image k = { .bzimage = true };
	struct boot_layout b = { 0x3000000, 12345, "console=ttyS0 -- ls" };
	struct boot_params bp;

	assert_int_equal(gmem_create(&m, 64 * MIB, false), 0);
	k.setup_header_len = 0x20;
	memset(k.setup_header, 0x11, k.setup_header_len);
	assert_int_equal(zero_page_write(&m, &k, &b), 0);
	memcpy(&bp, m.host + BOOT_ZERO_PAGE_ADDR, sizeof(bp));
	assert_int_equal(bp.hdr.setup_sects, 0x11); /* copied header */
	assert_int_equal(bp.hdr.type_of_loader, 0xff);
	assert_int_equal(bp.hdr.cmd_line_ptr, BOOT_CMDLINE_ADDR);
	assert_int_equal(bp.hdr.ramdisk_image, 0x3000000);
	assert_int_equal(bp.hdr.ramdisk_size, 12345);
	assert_int_equal(bp.e820_entries, 3);
	assert_int_equal(bp.e820_table[2].addr, MIB);
	assert_string_equal((char *)m.host + BOOT_CMDLINE_ADDR,
			    "console=ttyS0 -- ls");
	/* an ELF kernel gets a default header */
	k.setup_header_len = 0;
	assert_int_equal(zero_page_write(&m, &k, &b), 0);
	memcpy(&bp, m.host + BOOT_ZERO_PAGE_ADDR, sizeof(bp));
	assert_int_equal(bp.hdr.boot_flag, 0xaa55);
	assert_int_equal(bp.hdr.header, 0x53726448);
	gmem_destroy(&m);
}

static void test_pvh_start_info(void **state)
{
	struct guest_mem m;
	struct boot_layout b = { 0x3000000, 4096, "console=ttyS0" };
	uint32_t u32[4];
	uint64_t u64[4];

	assert_int_equal(gmem_create(&m, 64 * MIB, false), 0);
	assert_int_equal(pvh_write_start_info(&m, &b), 0);
	memcpy(u32, m.host + BOOT_PVH_INFO_ADDR, sizeof(u32));
	assert_int_equal(u32[0], 0x336ec578); /* magic */
	assert_int_equal(u32[1], 1); /* version */
	assert_int_equal(u32[3], 1); /* one module: the initrd */
	memcpy(u64, m.host + BOOT_PVH_INFO_ADDR + 16, sizeof(u64));
	assert_int_equal(u64[1], BOOT_CMDLINE_ADDR);
	memcpy(u32, m.host + BOOT_PVH_INFO_ADDR + 48, 4);
	assert_int_equal(u32[0], 3); /* memmap entries */
	memcpy(u64, m.host + u64[0], 2 * sizeof(u64[0])); /* module */
	assert_int_equal(u64[0], 0x3000000);
	assert_int_equal(u64[1], 4096);
	gmem_destroy(&m);
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

static void test_mptable(void **state)
{
	struct guest_mem m;
	const uint8_t *mpf, *table;
	uint32_t physptr;
	uint16_t len, count;
	unsigned cpus = 0, isa_irqs = 0, i, off;

	assert_int_equal(gmem_create(&m, 64 * MIB, false), 0);
	assert_int_equal(mptable_write(&m, 0), -E2BIG);
	assert_int_equal(mptable_write(&m, VM_MAX_VCPUS + 1), -E2BIG);
	assert_int_equal(mptable_write(&m, 7), 0);
	mpf = m.host + MPTABLE_ADDR;
	assert_memory_equal(mpf, "_MP_", 4);
	assert_int_equal(sum(mpf, 16), 0);
	memcpy(&physptr, mpf + 4, 4);
	table = m.host + physptr;
	assert_memory_equal(table, "PCMP", 4);
	memcpy(&len, table + 4, 2);
	memcpy(&count, table + 34, 2);
	assert_int_equal(sum(table, len), 0);
	assert_true(physptr + len <= 0xa0000); /* inside the reserved EBDA */
	for (i = 0, off = 44; i < count; i++) {
		if (table[off] == 0) {
			assert_int_equal(table[off + 1], cpus); /* APIC id */
			cpus++;
		}
		if (table[off] == 3) { /* IRQ n on I/O APIC pin n */
			assert_int_equal(table[off + 7], table[off + 5]);
			isa_irqs++;
		}
		off += table[off] == 0 ? 20 : 8;
	}
	assert_int_equal(off, len);
	assert_int_equal(cpus, 7);
	assert_int_equal(isa_irqs, 23); /* pins 0-23 but the cascade (2) */
	gmem_destroy(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_e820_small),
		cmocka_unit_test(test_e820_above_4g),
		cmocka_unit_test(test_cmdline),
		cmocka_unit_test(test_initrd_place),
		cmocka_unit_test(test_zero_page),
		cmocka_unit_test(test_pvh_start_info),
		cmocka_unit_test(test_mptable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

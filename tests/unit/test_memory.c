// SPDX-License-Identifier: Apache-2.0
/* gmem_ptr(): the one checked door into guest memory; a memory file
 * mapped over warm placeholder RAM. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/unit/unit.h"

static void test_ranges_inside_and_outside(void **state)
{
	struct guest_mem m;

	assert_int_equal(gmem_create(&m, 16 * MIB, false), 0);
	assert_ptr_equal(gmem_ptr(&m, 0, 16 * MIB), m.host);
	assert_ptr_equal(gmem_ptr(&m, 16 * MIB - 1, 1), m.host + 16 * MIB - 1);
	assert_null(gmem_ptr(&m, 16 * MIB - 1, 2));
	assert_null(gmem_ptr(&m, 16 * MIB, 1));
	assert_null(gmem_ptr(&m, 1, UINT64_MAX));
	assert_null(gmem_ptr(&m, UINT64_MAX, 2));
	assert_null(gmem_ptr(&m, UINT64_MAX - 4, 8));
	assert_int_equal(gmem_write(&m, 16 * MIB - 2, "abc", 3), -EFAULT);
	assert_int_equal(gmem_write(&m, 100, "abc", 3), 0);
	assert_memory_equal(m.host + 100, "abc", 3);
	gmem_destroy(&m);
}

/* Above 3 GiB the RAM continues at 4 GiB; the gap is not RAM. */
static void test_mmio_gap(void **state)
{
	struct guest_mem m;
	uint64_t gpa, size, off;

	assert_int_equal(gmem_create(&m, 4096 * MIB, false), 0);
	assert_int_equal(gmem_regions(&m), 2);
	gmem_region(&m, 1, &gpa, &size, &off);
	assert_int_equal(gpa, GMEM_HIGH_START);
	assert_int_equal(size, 1024 * MIB);
	assert_int_equal(off, GMEM_LOW_LIMIT);
	assert_non_null(gmem_ptr(&m, GMEM_LOW_LIMIT - 8, 8));
	assert_null(gmem_ptr(&m, GMEM_LOW_LIMIT - 8, 16));
	assert_null(gmem_ptr(&m, BOOT_TIMER_ADDR, 1));
	assert_ptr_equal(gmem_ptr(&m, GMEM_HIGH_START, 1), m.host + off);
	assert_non_null(gmem_ptr(&m, GMEM_HIGH_START + 1024 * MIB - 1, 1));
	assert_null(gmem_ptr(&m, GMEM_HIGH_START + 1024 * MIB - 1, 2));
	gmem_destroy(&m);
}

static void test_bad_sizes(void **state)
{
	struct guest_mem m;

	assert_int_equal(gmem_create(&m, 0, false), -EINVAL);
	assert_int_equal(gmem_create(&m, 4097, false), -EINVAL);
	assert_int_equal(gmem_create(&m, 3 * MIB, true), -EINVAL);
}

/* A warm VM's placeholder RAM replaced by a memory file: same addresses,
 * the file's bytes, writes private to the mapping. */
static void test_remap_file_over_placeholder(void **state)
{
	char path[] = "/tmp/microvm-test-mem-XXXXXX";
	int fd = mkstemp(path);
	struct guest_mem m;
	uint8_t *before;
	char back[6] = "";

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, 2 * MIB), 0);
	assert_int_equal(pwrite(fd, "saved", 5, MIB), 5);
	assert_int_equal(gmem_create(&m, 2 * MIB, false), 0);
	before = m.host;
	memcpy(m.host + MIB, "stale", 5);
	assert_int_equal(gmem_remap_file(&m, fd), 0);
	assert_ptr_equal(m.host, before);
	assert_memory_equal(m.host + MIB, "saved", 5);
	memcpy(m.host + MIB, "clone", 5);
	assert_int_equal(pread(fd, back, 5, MIB), 5);
	assert_string_equal(back, "saved");
	gmem_destroy(&m);
	close(fd);
}

/* What the balloon gives back reads as zero, whatever backs guest RAM;
 * nothing outside guest RAM or off a page boundary is touched. */
static void test_discard_anonymous(void **state)
{
	struct guest_mem m;

	assert_int_equal(gmem_create(&m, 2 * MIB, false), 0);
	memset(m.host, 0xaa, 2 * MIB);
	assert_int_equal(gmem_discard(&m, m.host + 4096, 8192), 0);
	assert_int_equal(m.host[4095], 0xaa);
	assert_int_equal(m.host[4096], 0);
	assert_int_equal(m.host[3 * 4096 - 1], 0);
	assert_int_equal(m.host[3 * 4096], 0xaa);
	assert_int_equal(gmem_discard(&m, m.host + 1, 4096), -EINVAL);
	assert_int_equal(gmem_discard(&m, m.host, 100), -EINVAL);
	assert_int_equal(gmem_discard(&m, m.host, 0), -EINVAL);
	assert_int_equal(gmem_discard(&m, m.host + 2 * MIB - 4096, 8192),
			 -EINVAL);
	assert_int_equal(gmem_discard(&m, m.host - 4096, 4096), -EINVAL);
	assert_int_equal(gmem_discard(&m, m.host + 2 * MIB, 4096), -EINVAL);
	assert_int_equal(m.host[2 * MIB - 1], 0xaa);
	gmem_destroy(&m);
}

/* A snapshot's memory file mapped MAP_PRIVATE: a given-back page reads as
 * zero, not as the file's bytes (MADV_DONTNEED would bring them back),
 * and the file is untouched. */
static void test_discard_private_file(void **state)
{
	char path[] = "/tmp/microvm-test-mem-XXXXXX";
	int fd = mkstemp(path);
	struct guest_mem m;
	char back[6] = "";

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, 2 * MIB), 0);
	assert_int_equal(pwrite(fd, "saved", 5, MIB), 5);
	assert_int_equal(pwrite(fd, "kept!", 5, MIB + 4096), 5);
	assert_int_equal(gmem_map_file(&m, 2 * MIB, fd), 0);
	assert_true(m.file_private);
	assert_int_equal(gmem_track_dirty(&m), 0);
	assert_int_equal(gmem_discard(&m, m.host + MIB, 4096), 0);
	assert_int_equal(m.host[MIB], 0);
	assert_memory_equal(m.host + MIB + 4096, "kept!", 5);
	assert_true(m.dev_dirty[MIB / 4096 / 64] & (1ULL << (MIB / 4096 % 64)));
	memcpy(m.host + MIB, "fresh", 5); /* usable again, privately */
	assert_int_equal(pread(fd, back, 5, MIB), 5);
	assert_string_equal(back, "saved");
	gmem_destroy(&m);
	close(fd);
}

/* 2 MiB huge pages (a hugetlb memfd): whole huge pages are punched out of
 * the memfd; less than one is refused. Skipped without huge pages. */
static void test_discard_huge_pages(void **state)
{
	struct guest_mem m;

	if (gmem_create(&m, 4 * MIB, true)) {
		skip();
		return;
	}
	memset(m.host, 0xaa, 4 * MIB);
	assert_int_equal(gmem_discard(&m, m.host, 4096), -EINVAL);
	assert_int_equal(gmem_discard(&m, m.host + 2 * MIB, 2 * MIB), 0);
	assert_int_equal(m.host[2 * MIB - 1], 0xaa);
	assert_int_equal(m.host[2 * MIB], 0);
	assert_int_equal(m.host[4 * MIB - 1], 0);
	gmem_destroy(&m);
}

/* The smaps VmFlags line of the mapping that holds p ("" if none). */
static void vm_flags_of(const void *p, char *out, size_t size)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool inside = false;

	assert_non_null(f);
	out[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
			inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
		else if (inside && !strncmp(line, "VmFlags:", 8))
			snprintf(out, size, "%s", line);
	}
	fclose(f);
}

/* Anonymous RAM starts on a 2 MiB boundary (transparent huge pages can
 * back every guest 2 MiB range), whatever its size, and is all usable;
 * a booted VM's asks for huge pages. */
static void test_anonymous_ram_is_2m_aligned(void **state)
{
	static const uint64_t sizes[] = { 4096, 2 * MIB + 4096,
					  129 * MIB + 8192, 64 * MIB };
	struct guest_mem m;
	char flags[512];
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		assert_int_equal(gmem_create(&m, sizes[i], false), 0);
		assert_int_equal((uintptr_t)m.host % (2 * MIB), 0);
		m.host[0] = 1;
		m.host[sizes[i] - 1] = 1;
		vm_flags_of(m.host, flags, sizeof(flags));
		assert_null(strstr(flags, " hg"));
		assert_int_equal(gmem_advise_huge(&m), 0);
		vm_flags_of(m.host + sizes[i] - 1, flags, sizeof(flags));
		assert_non_null(strstr(flags, " hg"));
		gmem_destroy(&m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ranges_inside_and_outside),
		cmocka_unit_test(test_mmio_gap),
		cmocka_unit_test(test_remap_file_over_placeholder),
		cmocka_unit_test(test_bad_sizes),
		cmocka_unit_test(test_anonymous_ram_is_2m_aligned),
		cmocka_unit_test(test_discard_anonymous),
		cmocka_unit_test(test_discard_private_file),
		cmocka_unit_test(test_discard_huge_pages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

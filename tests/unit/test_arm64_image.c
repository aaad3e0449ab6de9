// SPDX-License-Identifier: Apache-2.0
/* The arm64 Image loader and the placement of the device tree and the
 * initrd (vmm/arm64/image.c), against well-formed, truncated and hostile
 * images; RAM must be untouched when an image is refused. Arch-neutral:
 * runs natively and under qemu-aarch64-static. */
#include <setjmp.h> /* cmocka needs these before its header */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vmm/arm64/arm64.h"

#define MIB (1ULL << 20)
#define RAM_SIZE (16 * MIB)
#define PAYLOAD 4096
#define CANARY 0xa5

static uint8_t *ram_host;
static struct arm64_ram ram;

/* A 64-byte Image header followed by PAYLOAD bytes of "kernel". */
struct image {
	uint32_t code0, code1;
	uint64_t text_offset, image_size, flags, res2, res3, res4;
	uint32_t magic, res5;
	uint8_t payload[PAYLOAD];
};

static struct image img;

static int setup(void **state)
{
	(void)state;
	ram_host = malloc(RAM_SIZE);
	if (!ram_host)
		return -1;
	memset(ram_host, CANARY, RAM_SIZE);
	ram = (struct arm64_ram){ ram_host, ARM64_DRAM_START, RAM_SIZE };
	memset(&img, 0, sizeof(img));
	img.code0 = htole32(0x91005a4d); /* what Linux's "MZ" add looks like */
	img.text_offset = htole64(0);
	img.image_size = htole64(3 * PAYLOAD);
	img.flags = htole64(0xa); /* LE, 4 KiB pages, anywhere in RAM */
	img.magic = htole32(ARM64_IMAGE_MAGIC);
	for (unsigned i = 0; i < PAYLOAD; i++)
		img.payload[i] = (uint8_t)(i * 7 + 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(ram_host);
	return 0;
}

static int load(size_t size, struct arm64_kernel *k)
{
	return arm64_load_image(&ram, (const uint8_t *)&img, size, k);
}

static void assert_ram_untouched(void)
{
	for (size_t i = 0; i < RAM_SIZE; i += 4096)
		assert_int_equal(ram_host[i], CANARY);
	assert_int_equal(ram_host[RAM_SIZE - 1], CANARY);
}

static void test_loads_at_start_of_ram(void **state)
{
	struct arm64_kernel k;

	(void)state;
	assert_int_equal(load(sizeof(img), &k), 0);
	assert_int_equal(k.entry, ARM64_DRAM_START);
	assert_int_equal(k.end, ARM64_DRAM_START + 3 * PAYLOAD);
	assert_memory_equal(ram_host, &img, sizeof(img));
	/* the rest of image_size (bss) is cleared, what follows is not */
	for (size_t i = sizeof(img); i < 3 * PAYLOAD; i++)
		assert_int_equal(ram_host[i], 0);
	assert_int_equal(ram_host[3 * PAYLOAD], CANARY);
}

static void test_text_offset(void **state)
{
	struct arm64_kernel k;

	(void)state;
	img.text_offset = htole64(0x80000); /* kernels before 5.8 */
	assert_int_equal(load(sizeof(img), &k), 0);
	assert_int_equal(k.entry, ARM64_DRAM_START + 0x80000);
	assert_memory_equal(ram_host + 0x80000, &img, sizeof(img));
	assert_int_equal(ram_host[0], CANARY);
}

/* RAM that does not start on 2 MiB: the kernel goes to the next
 * boundary. */
static void test_2m_alignment(void **state)
{
	struct arm64_kernel k;

	(void)state;
	ram.gpa = ARM64_DRAM_START + 0x1000;
	assert_int_equal(load(sizeof(img), &k), 0);
	assert_int_equal(k.entry, ARM64_DRAM_START + 2 * MIB);
	assert_int_equal(k.entry % (2 * MIB), 0);
	assert_memory_equal(ram_host + 2 * MIB - 0x1000, &img, sizeof(img));
	/* RAM smaller than the way to its first 2 MiB boundary */
	ram.size = 0x1000;
	assert_int_equal(load(sizeof(img), &k), -E2BIG);
}

static void test_exact_fit(void **state)
{
	struct arm64_kernel k;

	(void)state;
	img.image_size = htole64(RAM_SIZE);
	assert_int_equal(load(sizeof(img), &k), 0);
	assert_int_equal(k.end, ARM64_DRAM_START + RAM_SIZE);
	memset(ram_host, CANARY, RAM_SIZE);
	img.image_size = htole64(RAM_SIZE + 1);
	assert_int_equal(load(sizeof(img), &k), -E2BIG);
	img.image_size = htole64(RAM_SIZE - 4096);
	img.text_offset = htole64(8192);
	assert_int_equal(load(sizeof(img), &k), -E2BIG);
	assert_ram_untouched();
}

/* Every truncation of the header is refused. */
static void test_truncated(void **state)
{
	struct arm64_kernel k;

	(void)state;
	for (size_t n = 0; n < ARM64_IMAGE_HEADER_SIZE; n++)
		assert_int_equal(load(n, &k), -ENOEXEC);
	assert_ram_untouched();
}

/* Headers this loader must refuse, each a change of the good one. */
static const struct hostile {
	const char *what;
	uint64_t text_offset, image_size, flags;
	uint32_t magic;
	int err;
} hostile[] = {
	{ "bad magic", 0, 3 * PAYLOAD, 0xa, ARM64_IMAGE_MAGIC ^ 1, -ENOEXEC },
	{ "no magic", 0, 3 * PAYLOAD, 0xa, 0, -ENOEXEC },
	{ "big-endian", 0, 3 * PAYLOAD, 0xb, ARM64_IMAGE_MAGIC, -ENOEXEC },
	{ "image_size 0 (before 3.17)", 0, 0, 0, ARM64_IMAGE_MAGIC, -ENOEXEC },
	{ "image_size below the file", 0, PAYLOAD, 0xa, ARM64_IMAGE_MAGIC,
	  -ENOEXEC },
	{ "text_offset not 4 KiB aligned", 0x80001, 3 * PAYLOAD, 0xa,
	  ARM64_IMAGE_MAGIC, -ENOEXEC },
	{ "text_offset 2 MiB", 2 * MIB, 3 * PAYLOAD, 0xa, ARM64_IMAGE_MAGIC,
	  -ENOEXEC },
	{ "text_offset huge", UINT64_MAX & ~0xfffULL, 3 * PAYLOAD, 0xa,
	  ARM64_IMAGE_MAGIC, -ENOEXEC },
	{ "image_size huge", 0, UINT64_MAX, 0xa, ARM64_IMAGE_MAGIC, -E2BIG },
	{ "text_offset + image_size wraps", 0x1000, UINT64_MAX - 0xfff, 0xa,
	  ARM64_IMAGE_MAGIC, -E2BIG },
	{ "image_size one byte over RAM", 0, RAM_SIZE + 1, 0xa,
	  ARM64_IMAGE_MAGIC, -E2BIG },
};

static void test_hostile_headers(void **state)
{
	for (unsigned i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		const struct hostile *h = &hostile[i];
		struct arm64_kernel k = { 0 };

		setup(state);
		img.text_offset = htole64(h->text_offset);
		img.image_size = htole64(h->image_size);
		img.flags = htole64(h->flags);
		img.magic = htole32(h->magic);
		if (load(sizeof(img), &k) != h->err)
			fail_msg("%s: want %d, got %d", h->what, h->err,
				 load(sizeof(img), &k));
		assert_int_equal(k.entry, 0);
		assert_ram_untouched();
		teardown(state);
	}
}

/* Debian's arm64 kernel (tests/l1-arm64 downloads it) loads, when it is
 * there: a real header this loader must accept. */
static void test_real_image(void **state)
{
	const char *path = "build/l1-arm64/Image";
	struct arm64_ram big = { 0 };
	struct arm64_kernel k;
	uint8_t *file;
	struct stat st;
	FILE *f;

	(void)state;
	if (stat(path, &st) < 0)
		skip();
	file = malloc((size_t)st.st_size);
	big.size = 128 * MIB;
	big.gpa = ARM64_DRAM_START;
	big.host = calloc(1, big.size);
	assert_non_null(file);
	assert_non_null(big.host);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(file, 1, (size_t)st.st_size, f),
			 (size_t)st.st_size);
	fclose(f);
	assert_int_equal(arm64_load_image(&big, file, (size_t)st.st_size, &k),
			 0);
	assert_int_equal(k.entry % (2 * MIB), 0);
	assert_true(k.end - k.entry >= (uint64_t)st.st_size);
	assert_memory_equal(big.host + (k.entry - big.gpa), file,
			    (size_t)st.st_size);
	free(big.host);
	free(file);
}

static void test_place_boot_data(void **state)
{
	uint64_t fdt, initrd;
	const uint64_t end = ARM64_DRAM_START + RAM_SIZE;

	(void)state;
	assert_int_equal(arm64_place_boot_data(&ram, ARM64_DRAM_START + MIB,
					       MIB + 1, &fdt, &initrd),
			 0);
	assert_int_equal(fdt, end - 2 * MIB);
	assert_int_equal(initrd, fdt - MIB - 4096);
	assert_int_equal(initrd % 4096, 0);

	assert_int_equal(arm64_place_boot_data(&ram, ARM64_DRAM_START + MIB, 0,
					       &fdt, &initrd),
			 0);
	assert_int_equal(fdt, end - 2 * MIB);
	assert_int_equal(initrd, 0);

	/* RAM ending off a 2 MiB boundary: the last whole 2 MiB block */
	ram.size = RAM_SIZE - 4096;
	assert_int_equal(arm64_place_boot_data(&ram, ARM64_DRAM_START, 0, &fdt,
					       &initrd),
			 0);
	assert_int_equal(fdt, end - 4 * MIB);
	assert_true(fdt + ARM64_FDT_MAX_SIZE <= ram.gpa + ram.size);
}

static void test_place_boot_data_too_big(void **state)
{
	uint64_t fdt, initrd;
	const uint64_t fdt_at = ARM64_DRAM_START + RAM_SIZE - 2 * MIB;

	(void)state;
	/* the kernel reaches into the device tree's 2 MiB */
	assert_int_equal(arm64_place_boot_data(&ram, fdt_at + 1, 0, &fdt,
					       &initrd),
			 -E2BIG);
	/* an initrd that would overlap the kernel, or wrap */
	assert_int_equal(arm64_place_boot_data(&ram, ARM64_DRAM_START + MIB,
					       RAM_SIZE - 3 * MIB + 1, &fdt,
					       &initrd),
			 -E2BIG);
	assert_int_equal(arm64_place_boot_data(&ram, ARM64_DRAM_START + MIB,
					       RAM_SIZE - 3 * MIB, &fdt,
					       &initrd),
			 0);
	assert_int_equal(arm64_place_boot_data(&ram, ARM64_DRAM_START,
					       UINT64_MAX, &fdt, &initrd),
			 -E2BIG);
	/* a kernel_end outside RAM, RAM smaller than the device tree */
	assert_int_equal(arm64_place_boot_data(&ram, 0x1000, 0, &fdt, &initrd),
			 -E2BIG);
	ram.size = ARM64_FDT_MAX_SIZE - 1;
	assert_int_equal(arm64_place_boot_data(&ram, ARM64_DRAM_START, 0, &fdt,
					       &initrd),
			 -E2BIG);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_loads_at_start_of_ram),
		TEST(test_text_offset),
		TEST(test_2m_alignment),
		TEST(test_exact_fit),
		TEST(test_truncated),
		cmocka_unit_test(test_hostile_headers),
		cmocka_unit_test(test_real_image),
		TEST(test_place_boot_data),
		TEST(test_place_boot_data_too_big),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

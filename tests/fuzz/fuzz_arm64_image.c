// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: the arm64 Image loader (vmm/arm64/image.c) on
 * arbitrary bytes, and the placement of the device tree and an initrd
 * after it. Half of the inputs get the right magic, to go deep quickly.
 * Whatever it accepts must lie in RAM where booting.rst says. */
#include <stdlib.h>
#include <string.h>

#include "vmm/arm64/arm64.h"

#define RAM_SIZE (8ULL << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_placement(const struct arm64_ram *ram, uint64_t kernel_end,
			    uint64_t initrd_size)
{
	uint64_t fdt, initrd;
	uint64_t ram_end = ram->gpa + ram->size;

	if (arm64_place_boot_data(ram, kernel_end, initrd_size, &fdt, &initrd))
		return;
	if (fdt < kernel_end || fdt % ARM64_SZ_2M ||
	    fdt + ARM64_FDT_MAX_SIZE > ram_end)
		abort();
	if (initrd_size && (initrd < kernel_end || initrd % ARM64_SZ_4K ||
			    initrd + initrd_size > fdt))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *host;
	struct arm64_ram ram = { 0, ARM64_DRAM_START, RAM_SIZE };
	struct arm64_kernel k;
	uint8_t *img = malloc(size ? size : 1);
	uint64_t initrd_size = 0, text_offset;

	if (!host)
		host = malloc(RAM_SIZE);
	ram.host = host;
	memcpy(img, data, size);
	if (size >= ARM64_IMAGE_HEADER_SIZE && (data[0] & 1)) {
		uint32_t magic = ARM64_IMAGE_MAGIC; /* little-endian host */

		memcpy(img + 56, &magic, 4);
	}
	if (size >= 40)
		memcpy(&initrd_size, img + 32, 8); /* res2: not read by Linux */
	if (arm64_load_image(&ram, img, size, &k) == 0) {
		memcpy(&text_offset, img + 8, 8);
		if (k.entry < ram.gpa || k.end > ram.gpa + ram.size ||
		    k.end - k.entry < size ||
		    (k.entry - text_offset) % ARM64_SZ_2M ||
		    memcmp(ram.host + (k.entry - ram.gpa), img, size))
			abort();
		check_placement(&ram, k.end, initrd_size % (2 * RAM_SIZE));
	}
	check_placement(&ram, ram.gpa + initrd_size % RAM_SIZE, initrd_size);
	free(img);
	return 0;
}

// SPDX-License-Identifier: Apache-2.0
/* The arm64 Linux `Image` (Documentation/arm64/booting.rst): a 64-byte
 * header, then the kernel, which runs from text_offset bytes past a 2 MiB
 * aligned base and needs image_size bytes there (its bss included). The
 * file is untrusted: every field is checked before RAM is written. */
#include <errno.h>

#include "base/base.h"
#include "vmm/arm64/arm64.h"

#define IMAGE_FLAG_BIG_ENDIAN 1ULL
#define PAGE_4K ARM64_SZ_4K

struct image_header {
	uint64_t text_offset;
	uint64_t image_size;
	uint64_t flags;
	uint32_t magic;
};

static void read_header(const uint8_t *img, struct image_header *h)
{
	h->text_offset = read_le64(img + 8);
	h->image_size = read_le64(img + 16);
	h->flags = read_le64(img + 24);
	h->magic = read_le32(img + 56);
}

/* -ENOEXEC unless the header is one this loader can boot: the magic, a
 * little-endian kernel, an image_size (0 means a kernel older than 3.17,
 * whose size is unknown) that covers the whole file, and a text_offset
 * that is 4 KiB aligned and below 2 MiB (the kernel's own build asserts
 * both). */
static int check_header(const struct image_header *h, size_t size)
{
	if (h->magic != ARM64_IMAGE_MAGIC)
		return -ENOEXEC;
	if (h->flags & IMAGE_FLAG_BIG_ENDIAN)
		return -ENOEXEC;
	if (h->image_size == 0 || h->image_size < size)
		return -ENOEXEC;
	if (h->text_offset % PAGE_4K || h->text_offset >= ARM64_SZ_2M)
		return -ENOEXEC;
	return 0;
}

int arm64_load_image(const struct arm64_ram *ram, const uint8_t *img,
		     size_t size, struct arm64_kernel *out)
{
	struct image_header h;
	uint64_t base, offset;
	int ret;

	if (size < ARM64_IMAGE_HEADER_SIZE)
		return -ENOEXEC;
	read_header(img, &h);
	ret = check_header(&h, size);
	if (ret)
		return ret;
	/* The first 2 MiB boundary in RAM: as low as possible, as the
	 * kernel wants (memory below it is outside its linear map). */
	base = (ARM64_SZ_2M - ram->gpa % ARM64_SZ_2M) % ARM64_SZ_2M;
	if (base > ram->size || h.text_offset > ram->size - base)
		return -E2BIG;
	offset = base + h.text_offset;
	if (h.image_size > ram->size - offset)
		return -E2BIG;
	memcpy(ram->host + offset, img, size);
	memset(ram->host + offset + size, 0, h.image_size - size);
	out->entry = ram->gpa + offset;
	out->end = out->entry + h.image_size;
	return 0;
}

int arm64_place_boot_data(const struct arm64_ram *ram, uint64_t kernel_end,
			  uint64_t initrd_size, uint64_t *fdt_gpa,
			  uint64_t *initrd_gpa)
{
	uint64_t fdt, initrd_len;

	if (ram->size < ARM64_FDT_MAX_SIZE || kernel_end < ram->gpa)
		return -E2BIG;
	/* The last 2 MiB block that lies wholly in RAM. */
	fdt = ram->gpa + ram->size - ARM64_FDT_MAX_SIZE;
	fdt -= fdt % ARM64_SZ_2M;
	if (fdt < kernel_end || fdt < ram->gpa)
		return -E2BIG;
	*fdt_gpa = fdt;
	*initrd_gpa = 0;
	if (!initrd_size)
		return 0;
	initrd_len = initrd_size + (PAGE_4K - initrd_size % PAGE_4K) % PAGE_4K;
	if (initrd_len < initrd_size || initrd_len > fdt - kernel_end)
		return -E2BIG;
	*initrd_gpa = fdt - initrd_len;
	return 0;
}

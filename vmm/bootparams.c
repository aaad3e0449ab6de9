// SPDX-License-Identifier: Apache-2.0
/* The x86 boot-time memory layout: e820 map, initrd placement,
 * and the structures a kernel reads at entry (PVH hvm_start_info, or the
 * Linux zero page for the 64-bit boot protocol). */
#include <asm/bootparam.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/vmm.h"

#define E820_RAM 1
#define E820_RESERVED 2
#define PVH_MAGIC 0x336ec578u
#define PVH_MODLIST_ADDR (BOOT_PVH_INFO_ADDR + 0x40)
#define PVH_MEMMAP_ADDR (BOOT_PVH_INFO_ADDR + 0x80)
#define PAGE_4K 4096ULL

/* Wire layout of Xen's hvm_start_info (version 1) and its tables. */
struct pvh_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};
struct pvh_module {
	uint64_t paddr, size, cmdline_paddr, reserved;
};
struct pvh_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};

static unsigned e820_add(struct e820_ent *out, unsigned n, unsigned max,
			 uint64_t addr, uint64_t size, uint32_t type)
{
	if (n < max && size)
		out[n++] = (struct e820_ent){ addr, size, type };
	return n;
}

unsigned e820_build(const struct guest_mem *mem, struct e820_ent *out,
		    unsigned max)
{
	uint64_t gpa, size, off;
	unsigned n = 0;

	gmem_region(mem, 0, &gpa, &size, &off);
	if (size <= BOOT_HIGH_START)
		return e820_add(out, n, max, 0, size, E820_RAM);
	n = e820_add(out, n, max, 0, BOOT_EBDA_START, E820_RAM);
	n = e820_add(out, n, max, BOOT_EBDA_START,
		     BOOT_HIGH_START - BOOT_EBDA_START, E820_RESERVED);
	n = e820_add(out, n, max, BOOT_HIGH_START, size - BOOT_HIGH_START,
		     E820_RAM);
	if (gmem_regions(mem) > 1) {
		gmem_region(mem, 1, &gpa, &size, &off);
		n = e820_add(out, n, max, gpa, size, E820_RAM);
	}
	return n;
}

int initrd_place(const struct guest_mem *mem, uint64_t kernel_end,
		 uint64_t max_addr, uint64_t size, uint64_t *addr)
{
	uint64_t gpa, low, off, top;

	gmem_region(mem, 0, &gpa, &low, &off);
	top = max_addr < low - 1 ? max_addr + 1 : low;
	if (size > top || ((top - size) & ~(PAGE_4K - 1)) < kernel_end)
		return -E2BIG;
	*addr = (top - size) & ~(PAGE_4K - 1);
	return 0;
}

static int write_cmdline(const struct guest_mem *mem, const char *cmdline)
{
	return gmem_write(mem, BOOT_CMDLINE_ADDR, cmdline, strlen(cmdline) + 1);
}

int pvh_write_start_info(const struct guest_mem *mem,
			 const struct boot_layout *b)
{
	struct pvh_start_info info = {
		.magic = PVH_MAGIC,
		.version = 1,
		.cmdline_paddr = BOOT_CMDLINE_ADDR,
		.memmap_paddr = PVH_MEMMAP_ADDR,
	};
	struct pvh_module mod = { b->initrd_addr, b->initrd_size, 0, 0 };
	struct pvh_memmap_entry map[E820_MAX];
	struct e820_ent e820[E820_MAX];
	unsigned i, n = e820_build(mem, e820, E820_MAX);
	int ret;

	for (i = 0; i < n; i++)
		map[i] = (struct pvh_memmap_entry){ e820[i].addr, e820[i].size,
						    e820[i].type, 0 };
	info.memmap_entries = n;
	if (b->initrd_size) {
		info.nr_modules = 1;
		info.modlist_paddr = PVH_MODLIST_ADDR;
	}
	ret = write_cmdline(mem, b->cmdline);
	if (!ret)
		ret = gmem_write(mem, PVH_MODLIST_ADDR, &mod, sizeof(mod));
	if (!ret)
		ret = gmem_write(mem, PVH_MEMMAP_ADDR, map, n * sizeof(map[0]));
	if (!ret)
		ret = gmem_write(mem, BOOT_PVH_INFO_ADDR, &info, sizeof(info));
	return ret;
}

/* A zero page for a kernel that came without a setup header (ELF). */
static void zero_page_default_header(struct setup_header *hdr)
{
	hdr->boot_flag = 0xaa55;
	hdr->header = 0x53726448; /* "HdrS" */
	hdr->kernel_alignment = 0x01000000;
}

int zero_page_write(const struct guest_mem *mem, const struct kernel_image *k,
		    const struct boot_layout *b)
{
	struct boot_params bp;
	struct e820_ent e820[E820_MAX];
	unsigned i, n = e820_build(mem, e820, E820_MAX);
	int ret;

	memset(&bp, 0, sizeof(bp));
	if (k->setup_header_len)
		memcpy(&bp.hdr, k->setup_header, k->setup_header_len);
	else
		zero_page_default_header(&bp.hdr);
	bp.hdr.type_of_loader = 0xff;
	bp.hdr.cmd_line_ptr = BOOT_CMDLINE_ADDR;
	bp.hdr.cmdline_size = (uint32_t)strlen(b->cmdline);
	bp.hdr.ramdisk_image = (uint32_t)b->initrd_addr;
	bp.hdr.ramdisk_size = (uint32_t)b->initrd_size;
	for (i = 0; i < n; i++) {
		bp.e820_table[i].addr = e820[i].addr;
		bp.e820_table[i].size = e820[i].size;
		bp.e820_table[i].type = e820[i].type;
	}
	bp.e820_entries = (uint8_t)n;
	ret = write_cmdline(mem, b->cmdline);
	if (!ret)
		ret = gmem_write(mem, BOOT_ZERO_PAGE_ADDR, &bp, sizeof(bp));
	return ret;
}

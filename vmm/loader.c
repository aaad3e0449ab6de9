// SPDX-License-Identifier: Apache-2.0
/* Kernel loaders: an ELF vmlinux (PVH entry note, else its 64-bit entry)
 * and a bzImage (64-bit boot protocol). The image is untrusted: every
 * offset and size is checked against the file and guest memory. */
#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/vmm.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define SETUP_HDR_OFFSET 0x1f1
#define BZ_MAGIC_OFFSET 0x202
#define BZ_64BIT_ENTRY_OFFSET 0x200

/* True when [off, off + len) lies inside a buffer of `size` bytes. */
static bool in_file(uint64_t off, uint64_t len, size_t size)
{
	return off <= size && len <= size - off;
}

static int load_segment(const struct guest_mem *mem, const uint8_t *img,
			size_t size, const Elf64_Phdr *ph, uint64_t *end)
{
	uint8_t *dst;

	if (ph->p_filesz > ph->p_memsz ||
	    !in_file(ph->p_offset, ph->p_filesz, size))
		return -ENOEXEC;
	if (ph->p_paddr + ph->p_memsz < ph->p_paddr)
		return -ENOEXEC;
	dst = gmem_ptr(mem, ph->p_paddr, ph->p_memsz);
	if (!dst || ph->p_paddr < BOOT_HIGH_START)
		return -E2BIG;
	memcpy(dst, img + ph->p_offset, ph->p_filesz);
	memset(dst + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
	if (ph->p_paddr + ph->p_memsz > *end)
		*end = ph->p_paddr + ph->p_memsz;
	return 0;
}

/* Looks for the Xen PHYS32_ENTRY note in one PT_NOTE segment. */
static bool find_pvh_note(const uint8_t *img, size_t size, const Elf64_Phdr *ph,
			  uint64_t *entry)
{
	uint64_t off = ph->p_offset, end;

	if (!in_file(ph->p_offset, ph->p_filesz, size))
		return false;
	end = ph->p_offset + ph->p_filesz;
	while (end - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr n;
		uint64_t name_sz, desc_sz;

		memcpy(&n, img + off, sizeof(n));
		off += sizeof(n);
		name_sz = ((uint64_t)n.n_namesz + 3) & ~3ULL;
		desc_sz = ((uint64_t)n.n_descsz + 3) & ~3ULL;
		if (name_sz > end - off || desc_sz > end - off - name_sz)
			return false;
		if (n.n_type == XEN_ELFNOTE_PHYS32_ENTRY && n.n_namesz == 4 &&
		    !memcmp(img + off, "Xen", 4) && n.n_descsz >= 4) {
			uint32_t e;

			memcpy(&e, img + off + name_sz, sizeof(e));
			*entry = e;
			return true;
		}
		off += name_sz + desc_sz;
	}
	return false;
}

static int check_elf_header(const Elf64_Ehdr *eh, size_t size)
{
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64 ||
	    eh->e_type != ET_EXEC || eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    eh->e_phnum == 0 ||
	    !in_file(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr),
		     size))
		return -ENOEXEC;
	return 0;
}

int load_elf(const struct guest_mem *mem, const uint8_t *img, size_t size,
	     struct kernel_image *out)
{
	Elf64_Ehdr eh;
	unsigned i, loaded = 0;
	int ret;

	if (size < sizeof(eh))
		return -ENOEXEC;
	memcpy(&eh, img, sizeof(eh));
	ret = check_elf_header(&eh, size);
	if (ret)
		return ret;
	memset(out, 0, sizeof(*out));
	out->entry = eh.e_entry;
	for (i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_NOTE && !out->pvh)
			out->pvh = find_pvh_note(img, size, &ph, &out->entry);
		if (ph.p_type != PT_LOAD)
			continue;
		ret = load_segment(mem, img, size, &ph, &out->end);
		if (ret)
			return ret;
		loaded++;
	}
	if (!loaded || !gmem_ptr(mem, out->entry, 1))
		return -ENOEXEC;
	return 0;
}

int load_bzimage(const struct guest_mem *mem, const uint8_t *img, size_t size,
		 struct kernel_image *out)
{
	struct setup_header hdr;
	uint64_t setup_size, kernel_size, load = BOOT_HIGH_START;
	uint8_t *dst;

	if (size < SETUP_HDR_OFFSET + sizeof(hdr))
		return -ENOEXEC;
	memcpy(&hdr, img + SETUP_HDR_OFFSET, sizeof(hdr));
	if (memcmp(img + BZ_MAGIC_OFFSET, "HdrS", 4) || hdr.version < 0x020c ||
	    !(hdr.loadflags & LOADED_HIGH) || !(hdr.xloadflags & XLF_KERNEL_64))
		return -ENOEXEC;
	setup_size =
		((uint64_t)(hdr.setup_sects ? hdr.setup_sects : 4) + 1) * 512;
	if (setup_size >= size)
		return -ENOEXEC;
	kernel_size = size - setup_size;
	if (hdr.init_size > kernel_size)
		kernel_size = hdr.init_size;
	dst = gmem_ptr(mem, load, kernel_size);
	if (!dst)
		return -E2BIG;
	memset(out, 0, sizeof(*out));
	memcpy(dst, img + setup_size, size - setup_size);
	out->bzimage = true;
	out->entry = load + BZ_64BIT_ENTRY_OFFSET;
	out->end = load + kernel_size;
	/* The header runs from 0x1f1 to 0x202 + the byte at 0x201. */
	out->setup_header_len = 0x202 + img[0x201] - SETUP_HDR_OFFSET;
	if (out->setup_header_len > sizeof(out->setup_header))
		out->setup_header_len = sizeof(out->setup_header);
	memcpy(out->setup_header, img + SETUP_HDR_OFFSET,
	       out->setup_header_len);
	out->initrd_addr_max = hdr.initrd_addr_max;
	return 0;
}

int load_kernel(const struct guest_mem *mem, const uint8_t *img, size_t size,
		struct kernel_image *out)
{
	if (size >= SELFMAG && !memcmp(img, ELFMAG, SELFMAG))
		return load_elf(mem, img, size, out);
	return load_bzimage(mem, img, size, out);
}

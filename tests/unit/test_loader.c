// SPDX-License-Identifier: Apache-2.0
/* Kernel loaders against well-formed, truncated and hostile images. */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/unit/unit.h"

#define MEM_SIZE (32 * MIB)
#define LOAD_ADDR 0x1000000ULL
#define PVH_ENTRY 0x1000200u

static struct guest_mem mem;

static int setup(void **state)
{
	return gmem_create(&mem, MEM_SIZE, false);
}

static int teardown(void **state)
{
	gmem_destroy(&mem);
	return 0;
}

/* An ELF with one PT_LOAD (16 bytes of file, 64 in memory) and a PT_NOTE
 * holding the Xen PVH entry note. */
struct elf_img {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[2];
	Elf64_Nhdr note;
	char note_name[4];
	uint32_t note_desc;
	uint8_t payload[16];
};

static void make_elf(struct elf_img *e)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->eh.e_ident, ELFMAG, SELFMAG);
	e->eh.e_ident[EI_CLASS] = ELFCLASS64;
	e->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	e->eh.e_type = ET_EXEC;
	e->eh.e_machine = EM_X86_64;
	e->eh.e_entry = LOAD_ADDR;
	e->eh.e_phoff = offsetof(struct elf_img, ph);
	e->eh.e_phentsize = sizeof(Elf64_Phdr);
	e->eh.e_phnum = 2;
	e->ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD,
				 .p_offset = offsetof(struct elf_img, payload),
				 .p_paddr = LOAD_ADDR,
				 .p_filesz = 16,
				 .p_memsz = 64 };
	e->ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE,
				 .p_offset = offsetof(struct elf_img, note),
				 .p_filesz = sizeof(Elf64_Nhdr) + 8 };
	e->note = (Elf64_Nhdr){ .n_namesz = 4, .n_descsz = 4, .n_type = 18 };
	memcpy(e->note_name, "Xen", 4);
	e->note_desc = PVH_ENTRY;
	memset(e->payload, 0xab, sizeof(e->payload));
}

static int load(const struct elf_img *e, size_t size)
{
	struct kernel_image k;

	return load_kernel(&mem, (const uint8_t *)e, size, &k);
}

static void test_elf_pvh(void **state)
{
	struct elf_img e;
	struct kernel_image k;
	uint8_t *dst = mem.host + LOAD_ADDR;

	make_elf(&e);
	memset(dst + 16, 0xcc, 48); /* must be zeroed (bss) */
	assert_int_equal(load_kernel(&mem, (uint8_t *)&e, sizeof(e), &k), 0);
	assert_true(k.pvh);
	assert_false(k.bzimage);
	assert_int_equal(k.entry, PVH_ENTRY);
	assert_int_equal(k.end, LOAD_ADDR + 64);
	assert_int_equal(dst[0], 0xab);
	assert_int_equal(dst[15], 0xab);
	assert_int_equal(dst[16], 0);
	assert_int_equal(dst[63], 0);
}

static void test_elf_without_note_uses_e_entry(void **state)
{
	struct elf_img e;
	struct kernel_image k;

	make_elf(&e);
	e.eh.e_phnum = 1;
	assert_int_equal(load_kernel(&mem, (uint8_t *)&e, sizeof(e), &k), 0);
	assert_false(k.pvh);
	assert_int_equal(k.entry, LOAD_ADDR);
}

static void test_elf_truncated(void **state)
{
	struct elf_img e;
	size_t n;

	make_elf(&e);
	for (n = 0; n < offsetof(struct elf_img, payload) + 16; n++)
		if (n < offsetof(struct elf_img, note))
			assert_int_equal(load(&e, n), -ENOEXEC);
	/* payload cut: the PT_LOAD points past the end of the file */
	assert_int_equal(load(&e, offsetof(struct elf_img, payload) + 8),
			 -ENOEXEC);
}

static void test_elf_bad_headers(void **state)
{
	struct elf_img e;

	make_elf(&e);
	e.eh.e_machine = EM_386;
	assert_int_equal(load(&e, sizeof(e)), -ENOEXEC);
	make_elf(&e);
	e.eh.e_ident[EI_CLASS] = ELFCLASS32;
	assert_int_equal(load(&e, sizeof(e)), -ENOEXEC);
	make_elf(&e);
	e.eh.e_phoff = UINT64_MAX - 8;
	assert_int_equal(load(&e, sizeof(e)), -ENOEXEC);
	make_elf(&e);
	e.eh.e_phnum = 0xffff;
	assert_int_equal(load(&e, sizeof(e)), -ENOEXEC);
	make_elf(&e);
	e.ph[0].p_type = PT_NULL; /* nothing to load */
	assert_int_equal(load(&e, sizeof(e)), -ENOEXEC);
}

static void test_elf_hostile_segments(void **state)
{
	struct elf_img e;

	make_elf(&e);
	e.ph[0].p_paddr = MEM_SIZE - 8; /* runs past the end of RAM */
	assert_int_equal(load(&e, sizeof(e)), -E2BIG);
	make_elf(&e);
	e.ph[0].p_paddr = UINT64_MAX - 16; /* paddr + memsz overflows */
	assert_int_equal(load(&e, sizeof(e)), -ENOEXEC);
	make_elf(&e);
	e.ph[0].p_memsz = UINT64_MAX;
	assert_int_equal(load(&e, sizeof(e)), -ENOEXEC);
	make_elf(&e);
	e.ph[0].p_filesz = 128; /* filesz > memsz */
	assert_int_equal(load(&e, sizeof(e)), -ENOEXEC);
	make_elf(&e);
	e.ph[0].p_offset = UINT64_MAX - 4; /* offset + filesz overflows */
	assert_int_equal(load(&e, sizeof(e)), -ENOEXEC);
	make_elf(&e);
	e.ph[0].p_paddr = 0x7000; /* over the boot structures */
	assert_int_equal(load(&e, sizeof(e)), -E2BIG);
	make_elf(&e);
	e.eh.e_phnum = 1;
	e.eh.e_entry = MEM_SIZE + 4096; /* entry outside RAM */
	assert_int_equal(load(&e, sizeof(e)), -ENOEXEC);
}

static void test_elf_hostile_note(void **state)
{
	struct elf_img e;
	struct kernel_image k;

	make_elf(&e);
	e.note.n_descsz = 0xfffffff0; /* desc runs past the note segment */
	assert_int_equal(load_kernel(&mem, (uint8_t *)&e, sizeof(e), &k), 0);
	assert_false(k.pvh);
	make_elf(&e);
	e.ph[1].p_filesz = UINT64_MAX;
	assert_int_equal(load_kernel(&mem, (uint8_t *)&e, sizeof(e), &k), 0);
	assert_false(k.pvh);
}

/* A minimal bzImage: 1 setup sector + boot sector, then the payload. */
#define BZ_SETUP (2 * 512)
#define BZ_SIZE (BZ_SETUP + 4096)

static void make_bzimage(uint8_t *img)
{
	memset(img, 0, BZ_SIZE);
	img[0x1f1] = 1; /* setup_sects */
	memcpy(img + 0x202, "HdrS", 4);
	img[0x206] = 0x0f; /* version 2.15 */
	img[0x207] = 0x02;
	img[0x201] = 0x6a; /* header length byte: ends at 0x26c */
	img[0x211] = 0x01; /* loadflags: LOADED_HIGH */
	img[0x236] = 0x01; /* xloadflags: XLF_KERNEL_64 */
	memcpy(img + 0x22c, "\xff\xff\xff\x7f", 4); /* initrd_addr_max */
	memcpy(img + 0x260, "\x00\x00\x10\x00", 4); /* init_size = 1 MiB */
	memset(img + BZ_SETUP, 0x90, 4096);
}

static void test_bzimage(void **state)
{
	static uint8_t img[BZ_SIZE];
	struct kernel_image k;

	make_bzimage(img);
	assert_int_equal(load_kernel(&mem, img, BZ_SIZE, &k), 0);
	assert_true(k.bzimage);
	assert_false(k.pvh);
	assert_int_equal(k.entry, BOOT_HIGH_START + 0x200);
	assert_int_equal(k.end, BOOT_HIGH_START + MIB);
	assert_int_equal(k.initrd_addr_max, 0x7fffffff);
	assert_int_equal(k.setup_header_len, 0x26c - 0x1f1);
	assert_int_equal(mem.host[BOOT_HIGH_START], 0x90);
}

static void test_bzimage_hostile(void **state)
{
	static uint8_t img[BZ_SIZE];
	struct kernel_image k;

	make_bzimage(img);
	img[0x202] = 'X'; /* no HdrS */
	assert_int_equal(load_kernel(&mem, img, BZ_SIZE, &k), -ENOEXEC);
	make_bzimage(img);
	img[0x206] = 0x0b; /* 2.11: no 64-bit entry */
	assert_int_equal(load_kernel(&mem, img, BZ_SIZE, &k), -ENOEXEC);
	make_bzimage(img);
	img[0x1f1] = 200; /* setup larger than the file */
	assert_int_equal(load_kernel(&mem, img, BZ_SIZE, &k), -ENOEXEC);
	make_bzimage(img);
	memcpy(img + 0x260, "\x00\x00\x00\x40", 4); /* init_size 1 GiB */
	assert_int_equal(load_kernel(&mem, img, BZ_SIZE, &k), -E2BIG);
	make_bzimage(img);
	img[0x201] = 0xff; /* header length beyond the setup_header */
	assert_int_equal(load_kernel(&mem, img, BZ_SIZE, &k), 0);
	assert_true(k.setup_header_len <= sizeof(k.setup_header));
	assert_int_equal(load_kernel(&mem, img, 0x200, &k), -ENOEXEC);
	assert_int_equal(load_kernel(&mem, img, 0, &k), -ENOEXEC);
}

static void test_read_file_capped(void **state)
{
	char path[] = "/tmp/microvm-unit-XXXXXX";
	int fd = mkstemp(path);
	uint8_t *buf;
	size_t size;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789", 10), 10);
	close(fd);
	assert_int_equal(read_file_capped(path, 9, &buf, &size), -EFBIG);
	assert_int_equal(read_file_capped(path, 10, &buf, &size), 0);
	assert_int_equal(size, 10);
	assert_memory_equal(buf, "0123456789", 10);
	free(buf);
	unlink(path);
	assert_int_equal(read_file_capped(path, 10, &buf, &size), -ENOENT);
	assert_int_equal(read_file_capped("/tmp", 10, &buf, &size), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf_pvh),
		cmocka_unit_test(test_elf_without_note_uses_e_entry),
		cmocka_unit_test(test_elf_truncated),
		cmocka_unit_test(test_elf_bad_headers),
		cmocka_unit_test(test_elf_hostile_segments),
		cmocka_unit_test(test_elf_hostile_note),
		cmocka_unit_test(test_bzimage),
		cmocka_unit_test(test_bzimage_hostile),
		cmocka_unit_test(test_read_file_capped),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

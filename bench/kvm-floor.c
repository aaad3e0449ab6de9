// SPDX-License-Identifier: Apache-2.0
/*
 * The KVM floor for bench/boot.py: the least any monitor must do before a
 * PVH guest's first serial-port write. It creates a VM, its TSS and
 * in-kernel irqchip, one anonymous memory slot of MEM_MIB and one vCPU,
 * loads the ELF's PT_LOAD segments, enters at its PVH entry point (the
 * "Xen" note of type XEN_ELFNOTE_PHYS32_ENTRY) in flat 32-bit protected
 * mode, and runs the vCPU to its first port-I/O write to the serial port
 * (0x3f8), whose byte(s) it writes to stdout before exiting 0. Nothing
 * else: no CPUID, MSRs, PIT, boot parameters or devices.
 * Usage: kvm-floor KERNEL.elf MEM_MIB
 */
#include <elf.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SERIAL_PORT 0x3f8
#define TSS_ADDR 0xfffbd000UL
#define PVH_ENTRY_NOTE 18 /* XEN_ELFNOTE_PHYS32_ENTRY */

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void *read_file(const char *path, size_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	void *data;

	if (fd < 0 || fstat(fd, &st) < 0)
		die(path);
	data = malloc(st.st_size);
	if (!data || read(fd, data, st.st_size) != st.st_size)
		die(path);
	close(fd);
	*size = st.st_size;
	return data;
}

static int in_file(size_t size, uint64_t off, uint64_t len)
{
	return off <= size && len <= size - off;
}

/* The entry point of the PVH note in the segment at [off, off + len). */
static uint32_t pvh_entry(const uint8_t *elf, uint64_t off, uint64_t len)
{
	uint64_t pos = off;

	while (pos + sizeof(Elf64_Nhdr) <= off + len) {
		const Elf64_Nhdr *note = (const void *)(elf + pos);
		uint64_t desc =
			pos + sizeof(*note) + ((note->n_namesz + 3) & ~3u);
		uint32_t entry;

		if (note->n_type == PVH_ENTRY_NOTE && note->n_descsz >= 4 &&
		    desc + 4 <= off + len) {
			memcpy(&entry, elf + desc, sizeof(entry));
			return entry;
		}
		pos = desc + ((note->n_descsz + 3) & ~3u);
	}
	return 0;
}

/* Copies the PT_LOAD segments into guest memory, returns the PVH entry. */
static uint32_t load_elf(const char *path, uint8_t *mem, uint64_t mem_size)
{
	size_t size;
	uint8_t *elf = read_file(path, &size);
	const Elf64_Ehdr *eh = (const void *)elf;
	uint32_t entry = 0;

	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    !in_file(size, eh->e_phoff,
		     (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr))) {
		fprintf(stderr, "%s: not an ELF64 file\n", path);
		exit(1);
	}
	for (int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph =
			(const void *)(elf + eh->e_phoff + i * sizeof(*ph));

		if (!in_file(size, ph->p_offset, ph->p_filesz)) {
			fprintf(stderr, "%s: segment %d outside the file\n",
				path, i);
			exit(1);
		}
		if (ph->p_type == PT_NOTE && !entry)
			entry = pvh_entry(elf, ph->p_offset, ph->p_filesz);
		if (ph->p_type != PT_LOAD)
			continue;
		if (ph->p_paddr > mem_size ||
		    ph->p_filesz > mem_size - ph->p_paddr) {
			fprintf(stderr, "%s: segment %d outside guest memory\n",
				path, i);
			exit(1);
		}
		memcpy(mem + ph->p_paddr, elf + ph->p_offset, ph->p_filesz);
	}
	free(elf);
	if (!entry) {
		fprintf(stderr, "%s: no PVH entry note\n", path);
		exit(1);
	}
	return entry;
}

static void flat_segment(struct kvm_segment *seg, uint8_t type,
			 uint16_t selector)
{
	*seg = (struct kvm_segment){ .base = 0,
				     .limit = 0xffffffff,
				     .selector = selector,
				     .type = type,
				     .present = 1,
				     .db = 1,
				     .s = 1,
				     .g = 1 };
}

/* The PVH boot state: 32-bit protected mode, flat segments, no paging. */
static void enter_pvh(int vcpu_fd, uint32_t entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = entry, .rflags = 2 };

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS");
	flat_segment(&sregs.cs, 0xb, 0x10);
	flat_segment(&sregs.ds, 0x3, 0x18);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.cr0 = 0x11; /* PE | ET */
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		die("KVM_SET_SREGS");
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		die("KVM_SET_REGS");
}

/* Runs the vCPU to its first write to the serial port; prints its data. */
static void run_to_serial_write(int vcpu_fd, struct kvm_run *run)
{
	for (;;) {
		if (ioctl(vcpu_fd, KVM_RUN, 0) < 0)
			die("KVM_RUN");
		if (run->exit_reason != KVM_EXIT_IO) {
			fprintf(stderr, "kvm-floor: unexpected exit %u\n",
				run->exit_reason);
			exit(1);
		}
		if (run->io.direction == KVM_EXIT_IO_OUT &&
		    run->io.port == SERIAL_PORT) {
			const char *data =
				(const char *)run + run->io.data_offset;
			size_t len = (size_t)run->io.size * run->io.count;

			if (write(STDOUT_FILENO, data, len) != (ssize_t)len)
				die("write");
			return;
		}
	}
}

int main(int argc, char **argv)
{
	int kvm, vm, vcpu, run_size;
	uint64_t mem_size;
	uint8_t *mem;
	struct kvm_run *run;
	struct kvm_userspace_memory_region slot = { 0 };

	if (argc != 3) {
		fprintf(stderr, "usage: %s KERNEL.elf MEM_MIB\n", argv[0]);
		return 2;
	}
	mem_size = strtoull(argv[2], NULL, 10) << 20;
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");
	if (ioctl(vm, KVM_SET_TSS_ADDR, TSS_ADDR) < 0)
		die("KVM_SET_TSS_ADDR");
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		die("KVM_CREATE_IRQCHIP");
	mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	slot.memory_size = mem_size;
	slot.userspace_addr = (uintptr_t)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vcpu < 0 || run_size < 0)
		die("KVM_CREATE_VCPU");
	run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");
	enter_pvh(vcpu, load_elf(argv[1], mem, mem_size));
	run_to_serial_write(vcpu, run);
	return 0;
}

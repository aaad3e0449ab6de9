/* SPDX-License-Identifier: Apache-2.0 */
/* vmm/arm64: what an arm64 guest needs to boot, as plain data in and
 * plain bytes out, with no KVM and no host-architecture code, so that it
 * builds and is tested on any host:
 *
 * - image.c: loads an arm64 Linux `Image` (Documentation/arm64/booting.rst)
 *   into guest RAM, and places the initrd and the device tree. The image
 *   is untrusted: every size and offset is checked against the file and
 *   RAM; a bad one is refused with -ENOEXEC (not an Image) or -E2BIG (does
 *   not fit), RAM is not written then.
 * - fdt.c: writes the device tree (libfdt) from a description of the
 *   machine: memory, CPUs, PSCI, the GIC, the timer, serial, RTC, virtio
 *   devices and /chosen, in the layout of layout.h.
 *
 * Functions return 0 or a negative errno. */
#ifndef MICROVM_ARM64_H
#define MICROVM_ARM64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/arm64/layout.h"

/* Guest RAM as this code sees it: `size` bytes at guest-physical `gpa`,
 * mapped at `host`. */
struct arm64_ram {
	uint8_t *host;
	uint64_t gpa;
	uint64_t size;
};

/* ---- image.c ---- */
/* The Image header's magic, "ARM\x64" read little-endian. */
#define ARM64_IMAGE_MAGIC 0x644d5241u
#define ARM64_IMAGE_HEADER_SIZE 64

struct arm64_kernel {
	uint64_t entry; /* guest-physical: the vCPU's PC, x0 = the dtb */
	uint64_t end; /* first byte after image_size (text, data and bss) */
};

/* Copies `img` (an Image of `size` bytes) to RAM at the first 2 MiB
 * boundary of RAM + text_offset, clears the rest of its image_size, and
 * fills `out`. Little-endian Images only. */
int arm64_load_image(const struct arm64_ram *ram, const uint8_t *img,
		     size_t size, struct arm64_kernel *out);

/* Where the device tree and an initrd of `initrd_size` bytes (0: none)
 * go: the device tree at the start of RAM's last 2 MiB, the initrd page
 * aligned right below it, both above `kernel_end`. -E2BIG when RAM is too
 * small for them. */
int arm64_place_boot_data(const struct arm64_ram *ram, uint64_t kernel_end,
			  uint64_t initrd_size, uint64_t *fdt_gpa,
			  uint64_t *initrd_gpa);

/* ---- fdt.c ---- */
enum arm64_gic_version { ARM64_GICV2 = 2, ARM64_GICV3 = 3 };

/* A device on MMIO: its window and its SPI (0 .. ARM64_SPI_COUNT - 1). */
struct arm64_mmio_dev {
	uint64_t base;
	uint64_t size;
	uint32_t spi;
};

/* The GIC's two register regions: the distributor, then the
 * redistributors (GICv3) or the CPU interface (GICv2). */
struct arm64_gic {
	enum arm64_gic_version version;
	uint64_t dist_base, dist_size;
	uint64_t cpu_base, cpu_size; /* GICv3: redistributors */
};

/* The machine the device tree describes. Pointers may be NULL when the
 * matching count or flag says there is nothing. */
struct arm64_machine {
	uint64_t mem_base, mem_size;
	unsigned nr_cpus;
	const uint64_t *mpidrs; /* nr_cpus MPIDR_EL1 values (KVM's) */
	struct arm64_gic gic;
	const struct arm64_mmio_dev *serial; /* an 8250 (ns16550a) */
	const struct arm64_mmio_dev *rtc; /* a PL031 */
	unsigned nr_virtio;
	const struct arm64_mmio_dev *virtio;
	const char *bootargs; /* the kernel command line, NUL-terminated */
	bool has_initrd;
	uint64_t initrd_start, initrd_end; /* [start, end) guest-physical */
};

/* The GIC regions of layout.h for `nr_cpus` vCPUs. */
struct arm64_gic arm64_gic_layout(enum arm64_gic_version version,
				  unsigned nr_cpus);

/* Writes the device tree of `m` into buf (at most `size` bytes, at most
 * ARM64_FDT_MAX_SIZE used). -EINVAL for a description that makes no sense
 * (no CPU, too many, an SPI out of range, a device outside the MMIO window,
 * memory outside the RAM window, a command line too long, an initrd
 * outside memory), -ENOSPC when buf is too small. */
int arm64_fdt_build(const struct arm64_machine *m, void *buf, size_t size);

#endif

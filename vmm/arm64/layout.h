/* SPDX-License-Identifier: Apache-2.0 */
/* The arm64 guest's physical memory map, after Firecracker's aarch64
 * layout:
 *
 *   0                      nothing (faults)
 *   ... 1 GiB - 64 KiB     GICv3 redistributors (128 KiB a vCPU), below
 *                          the distributor; GICv2: CPU interface (8 KiB)
 *   1 GiB - 64 KiB         GICv3 distributor (64 KiB; GICv2: 4 KiB at
 *                          1 GiB - 4 KiB)
 *   1 GiB                  MMIO devices, 4 KiB each: boot timer, RTC
 *                          (PL031), serial (8250), then virtio-mmio
 *   2 GiB                  RAM (up to 1022 GiB): the kernel at its start
 *                          (+ text_offset), the initrd right below the
 *                          device tree, the device tree in the last 2 MiB
 *
 * Interrupts: SPIs, numbered from 0 as the device tree and KVM's irqfd
 * count them (GIC interrupt ID = 32 + SPI). */
#ifndef MICROVM_ARM64_LAYOUT_H
#define MICROVM_ARM64_LAYOUT_H

#define ARM64_SZ_4K 0x1000ULL
#define ARM64_SZ_64K 0x10000ULL
#define ARM64_SZ_2M 0x200000ULL

/* RAM */
#define ARM64_DRAM_START 0x80000000ULL
#define ARM64_DRAM_MAX_SIZE 0xFF80000000ULL /* 1022 GiB */

/* MMIO devices, one ARM64_MMIO_LEN window each, from ARM64_MMIO_START */
#define ARM64_MMIO_START 0x40000000ULL
#define ARM64_MMIO_LEN ARM64_SZ_4K
#define ARM64_BOOT_TIMER_START ARM64_MMIO_START
#define ARM64_RTC_START (ARM64_MMIO_START + ARM64_MMIO_LEN)
#define ARM64_SERIAL_START (ARM64_RTC_START + ARM64_MMIO_LEN)
#define ARM64_VIRTIO_START (ARM64_SERIAL_START + ARM64_MMIO_LEN)
/* The MMIO window ends where RAM starts. */
#define ARM64_MMIO_END ARM64_DRAM_START

/* GICv3: distributor right below the MMIO devices, redistributors below */
#define ARM64_GICV3_DIST_SIZE ARM64_SZ_64K
#define ARM64_GICV3_DIST_START (ARM64_MMIO_START - ARM64_GICV3_DIST_SIZE)
#define ARM64_GICV3_REDIST_SIZE_PER_CPU (2 * ARM64_SZ_64K)
/* GICv2: distributor, and the CPU interface below it */
#define ARM64_GICV2_DIST_SIZE ARM64_SZ_4K
#define ARM64_GICV2_DIST_START (ARM64_MMIO_START - ARM64_GICV2_DIST_SIZE)
#define ARM64_GICV2_CPU_SIZE (2 * ARM64_SZ_4K)
#define ARM64_GICV2_CPU_START (ARM64_GICV2_DIST_START - ARM64_GICV2_CPU_SIZE)
/* The GIC's maintenance interrupt (a PPI) the device tree names. */
#define ARM64_GICV3_MAINT_PPI 9
#define ARM64_GICV2_MAINT_PPI 8

/* The SPIs of the fixed devices; virtio-mmio devices from the next one. */
#define ARM64_RTC_SPI 0
#define ARM64_SERIAL_SPI 1
#define ARM64_VIRTIO_FIRST_SPI 2

/* Interrupts: 128 interrupt IDs (KVM_DEV_ARM_VGIC_GRP_NR_IRQS), of which
 * the first 32 are SGIs and PPIs: 96 SPIs for devices. */
#define ARM64_GIC_NR_IRQS 128
#define ARM64_SPI_COUNT (ARM64_GIC_NR_IRQS - 32)

/* The architected timer's PPIs: secure and non-secure physical, virtual,
 * hypervisor (the order of the binding arm,armv8-timer). */
#define ARM64_TIMER_PPI_SEC_PHYS 13
#define ARM64_TIMER_PPI_PHYS 14
#define ARM64_TIMER_PPI_VIRT 11
#define ARM64_TIMER_PPI_HYP 10

/* Boot: the device tree's size limit (Documentation/arm64/booting.rst),
 * the kernel's command line limit (COMMAND_LINE_SIZE on arm64). */
#define ARM64_FDT_MAX_SIZE ARM64_SZ_2M
#define ARM64_CMDLINE_MAX_SIZE 2048
#define ARM64_MAX_CPUS 32

#endif

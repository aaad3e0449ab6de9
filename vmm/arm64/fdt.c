// SPDX-License-Identifier: Apache-2.0
/* The arm64 guest's device tree, written with libfdt's sequential-write
 * functions, in the order and with the nodes of Firecracker's aarch64
 * device tree: cpus (PSCI enable-method, MPIDR in reg), memory, chosen,
 * the GIC, the architected timer, the APB clock, psci, then the RTC, the
 * serial port and the virtio-mmio devices. Bindings: Linux's
 * Documentation/devicetree/bindings (arm/cpus, arm/psci,
 * interrupt-controller/arm,gic*, timer/arm,arch_timer, serial/8250,
 * rtc/arm,pl031, virtio/mmio). */
#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "vmm/arm64/arm64.h"

#define GIC_PHANDLE 1
#define CLOCK_PHANDLE 2
#define APB_CLOCK_HZ 24000000
/* The first cell of a GIC interrupt specifier, and the trigger types of
 * the third (include/dt-bindings/interrupt-controller/{arm-gic,irq}.h). */
#define GIC_FDT_SPI 0
#define GIC_FDT_PPI 1
#define IRQ_EDGE_RISING 1
#define IRQ_LEVEL_HIGH 4
/* The MPIDR_EL1 affinity fields that cpus' reg holds: Aff3 and Aff2..0. */
#define MPIDR_AFFINITY_MASK 0xff00ffffffULL

/* libfdt's writer with a sticky error: after the first failure every call
 * does nothing, and the caller looks at `err` once at the end. */
struct fdt_writer {
	void *fdt;
	int err;
};

static void begin_node(struct fdt_writer *w, const char *name)
{
	if (!w->err)
		w->err = fdt_begin_node(w->fdt, name);
}

/* A node named "name@unit", unit in hex as device tree names have it. */
static void begin_node_at(struct fdt_writer *w, const char *name, uint64_t unit)
{
	char full[64];

	snprintf(full, sizeof(full), "%s@%llx", name, (unsigned long long)unit);
	begin_node(w, full);
}

static void end_node(struct fdt_writer *w)
{
	if (!w->err)
		w->err = fdt_end_node(w->fdt);
}

static void prop(struct fdt_writer *w, const char *name, const void *val,
		 int len)
{
	if (!w->err)
		w->err = fdt_property(w->fdt, name, val, len);
}

static void prop_string(struct fdt_writer *w, const char *name, const char *val)
{
	prop(w, name, val, (int)strlen(val) + 1);
}

static void prop_empty(struct fdt_writer *w, const char *name)
{
	prop(w, name, NULL, 0);
}

static void prop_u32(struct fdt_writer *w, const char *name, uint32_t val)
{
	fdt32_t be = cpu_to_fdt32(val);

	prop(w, name, &be, sizeof(be));
}

static void prop_u64(struct fdt_writer *w, const char *name, uint64_t val)
{
	fdt64_t be = cpu_to_fdt64(val);

	prop(w, name, &be, sizeof(be));
}

/* reg = <base size> with two cells each (the root's #address-cells and
 * #size-cells); `pairs` such ranges. */
static void prop_reg(struct fdt_writer *w, const uint64_t *ranges,
		     unsigned pairs)
{
	fdt64_t be[4];

	for (unsigned i = 0; i < 2 * pairs; i++)
		be[i] = cpu_to_fdt64(ranges[i]);
	prop(w, "reg", be, (int)(2 * pairs * sizeof(be[0])));
}

/* interrupts = <type number trigger> for each of `n` interrupts. */
static void prop_interrupts(struct fdt_writer *w, uint32_t type,
			    const uint32_t *numbers, unsigned n,
			    uint32_t trigger)
{
	fdt32_t be[12];

	for (unsigned i = 0; i < n; i++) {
		be[3 * i] = cpu_to_fdt32(type);
		be[3 * i + 1] = cpu_to_fdt32(numbers[i]);
		be[3 * i + 2] = cpu_to_fdt32(trigger);
	}
	prop(w, "interrupts", be, (int)(3 * n * sizeof(be[0])));
}

static void add_cpus(struct fdt_writer *w, const struct arm64_machine *m)
{
	begin_node(w, "cpus");
	prop_u32(w, "#address-cells", 2);
	prop_u32(w, "#size-cells", 0);
	for (unsigned i = 0; i < m->nr_cpus; i++) {
		uint64_t reg = m->mpidrs[i] & MPIDR_AFFINITY_MASK;

		begin_node_at(w, "cpu", reg);
		prop_string(w, "device_type", "cpu");
		prop_string(w, "compatible", "arm,arm-v8");
		prop_string(w, "enable-method", "psci");
		prop_u64(w, "reg", reg);
		end_node(w);
	}
	end_node(w);
}

static void add_memory(struct fdt_writer *w, const struct arm64_machine *m)
{
	const uint64_t reg[] = { m->mem_base, m->mem_size };

	begin_node_at(w, "memory", m->mem_base);
	prop_string(w, "device_type", "memory");
	prop_reg(w, reg, 1);
	end_node(w);
}

static void add_chosen(struct fdt_writer *w, const struct arm64_machine *m)
{
	char stdout_path[64];

	begin_node(w, "chosen");
	prop_string(w, "bootargs", m->bootargs);
	if (m->has_initrd) {
		prop_u64(w, "linux,initrd-start", m->initrd_start);
		prop_u64(w, "linux,initrd-end", m->initrd_end);
	}
	if (m->serial) {
		snprintf(stdout_path, sizeof(stdout_path), "/uart@%llx",
			 (unsigned long long)m->serial->base);
		prop_string(w, "stdout-path", stdout_path);
	}
	end_node(w);
}

static void add_gic(struct fdt_writer *w, const struct arm64_gic *gic)
{
	const uint64_t reg[] = { gic->dist_base, gic->dist_size, gic->cpu_base,
				 gic->cpu_size };
	bool v3 = gic->version == ARM64_GICV3;
	const uint32_t maint = v3 ? ARM64_GICV3_MAINT_PPI :
				    ARM64_GICV2_MAINT_PPI;

	begin_node_at(w, "intc", gic->dist_base);
	prop_string(w, "compatible", v3 ? "arm,gic-v3" : "arm,gic-400");
	prop_empty(w, "interrupt-controller");
	prop_u32(w, "#interrupt-cells", 3);
	prop_reg(w, reg, 2);
	prop_u32(w, "phandle", GIC_PHANDLE);
	/* The cells a child (a GICv3 ITS) would use; an interrupt
	 * controller states them even without one. */
	prop_u32(w, "#address-cells", 2);
	prop_u32(w, "#size-cells", 2);
	prop_empty(w, "ranges");
	prop_interrupts(w, GIC_FDT_PPI, &maint, 1, IRQ_LEVEL_HIGH);
	end_node(w);
}

static void add_timer(struct fdt_writer *w)
{
	static const uint32_t ppis[] = { ARM64_TIMER_PPI_SEC_PHYS,
					 ARM64_TIMER_PPI_PHYS,
					 ARM64_TIMER_PPI_VIRT,
					 ARM64_TIMER_PPI_HYP };

	begin_node(w, "timer");
	prop_string(w, "compatible", "arm,armv8-timer");
	prop_empty(w, "always-on");
	prop_interrupts(w, GIC_FDT_PPI, ppis, 4, IRQ_LEVEL_HIGH);
	end_node(w);
}

/* The clock the serial port and the RTC name (the APB's PCLK). */
static void add_clock(struct fdt_writer *w)
{
	begin_node(w, "apb-pclk");
	prop_string(w, "compatible", "fixed-clock");
	prop_u32(w, "#clock-cells", 0);
	prop_u32(w, "clock-frequency", APB_CLOCK_HZ);
	prop_string(w, "clock-output-names", "clk24mhz");
	prop_u32(w, "phandle", CLOCK_PHANDLE);
	end_node(w);
}

/* PSCI 0.2 and later through HVC: KVM answers the guest's calls. */
static void add_psci(struct fdt_writer *w)
{
	begin_node(w, "psci");
	prop_string(w, "compatible", "arm,psci-0.2");
	prop_string(w, "method", "hvc");
	end_node(w);
}

static void add_mmio_reg_and_clock(struct fdt_writer *w,
				   const struct arm64_mmio_dev *dev)
{
	const uint64_t reg[] = { dev->base, dev->size };

	prop_reg(w, reg, 1);
	prop_u32(w, "clocks", CLOCK_PHANDLE);
	prop_string(w, "clock-names", "apb_pclk");
}

/* A PL031 with no interrupt (as Firecracker's: it raises none). */
static void add_rtc(struct fdt_writer *w, const struct arm64_mmio_dev *rtc)
{
	static const char compatible[] = "arm,pl031\0arm,primecell";

	begin_node_at(w, "rtc", rtc->base);
	prop(w, "compatible", compatible, sizeof(compatible));
	add_mmio_reg_and_clock(w, rtc);
	end_node(w);
}

/* An 8250 with byte-wide registers on MMIO; Linux's earlycon finds it
 * through /chosen/stdout-path. */
static void add_serial(struct fdt_writer *w,
		       const struct arm64_mmio_dev *serial)
{
	begin_node_at(w, "uart", serial->base);
	prop_string(w, "compatible", "ns16550a");
	add_mmio_reg_and_clock(w, serial);
	prop_interrupts(w, GIC_FDT_SPI, &serial->spi, 1, IRQ_EDGE_RISING);
	end_node(w);
}

/* dma-coherent: the "device" is the host's CPU, coherent with the guest's
 * (QEMU's virt machine says so too), which spares the guest cache
 * maintenance on every buffer. */
static void add_virtio(struct fdt_writer *w, const struct arm64_mmio_dev *dev)
{
	const uint64_t reg[] = { dev->base, dev->size };

	begin_node_at(w, "virtio_mmio", dev->base);
	prop_string(w, "compatible", "virtio,mmio");
	prop_reg(w, reg, 1);
	prop_interrupts(w, GIC_FDT_SPI, &dev->spi, 1, IRQ_EDGE_RISING);
	prop_u32(w, "interrupt-parent", GIC_PHANDLE);
	prop_empty(w, "dma-coherent");
	end_node(w);
}

static void add_root(struct fdt_writer *w, const struct arm64_machine *m)
{
	begin_node(w, "");
	prop_string(w, "compatible", "linux,dummy-virt");
	prop_u32(w, "#address-cells", 2);
	prop_u32(w, "#size-cells", 2);
	prop_u32(w, "interrupt-parent", GIC_PHANDLE);
	add_cpus(w, m);
	add_memory(w, m);
	add_chosen(w, m);
	add_gic(w, &m->gic);
	add_timer(w);
	add_clock(w);
	add_psci(w);
	if (m->rtc)
		add_rtc(w, m->rtc);
	if (m->serial)
		add_serial(w, m->serial);
	for (unsigned i = 0; i < m->nr_virtio; i++)
		add_virtio(w, &m->virtio[i]);
	end_node(w);
}

/* [base, base + size) lies in [lo, hi) and is not empty. */
static bool range_within(uint64_t base, uint64_t size, uint64_t lo, uint64_t hi)
{
	return size && base >= lo && base < hi && size <= hi - base;
}

static bool mmio_dev_ok(const struct arm64_mmio_dev *dev)
{
	return range_within(dev->base, dev->size, ARM64_MMIO_START,
			    ARM64_MMIO_END) &&
	       dev->spi < ARM64_SPI_COUNT;
}

static bool gic_ok(const struct arm64_gic *gic)
{
	return (gic->version == ARM64_GICV2 || gic->version == ARM64_GICV3) &&
	       range_within(gic->dist_base, gic->dist_size, 0,
			    ARM64_MMIO_START) &&
	       range_within(gic->cpu_base, gic->cpu_size, 0, ARM64_MMIO_START);
}

static bool devices_ok(const struct arm64_machine *m)
{
	if (m->serial && !mmio_dev_ok(m->serial))
		return false;
	if (m->rtc && !range_within(m->rtc->base, m->rtc->size,
				    ARM64_MMIO_START, ARM64_MMIO_END))
		return false;
	if (m->nr_virtio && !m->virtio)
		return false;
	for (unsigned i = 0; i < m->nr_virtio; i++)
		if (!mmio_dev_ok(&m->virtio[i]))
			return false;
	return true;
}

static bool machine_ok(const struct arm64_machine *m)
{
	uint64_t mem_end = m->mem_base + m->mem_size;

	if (m->nr_cpus == 0 || m->nr_cpus > ARM64_MAX_CPUS || !m->mpidrs)
		return false;
	if (!range_within(m->mem_base, m->mem_size, ARM64_DRAM_START,
			  ARM64_DRAM_START + ARM64_DRAM_MAX_SIZE))
		return false;
	if (!m->bootargs || strnlen(m->bootargs, ARM64_CMDLINE_MAX_SIZE) >=
				    ARM64_CMDLINE_MAX_SIZE)
		return false;
	if (m->has_initrd &&
	    (m->initrd_start < m->mem_base || m->initrd_end < m->initrd_start ||
	     m->initrd_end > mem_end))
		return false;
	return gic_ok(&m->gic) && devices_ok(m);
}

struct arm64_gic arm64_gic_layout(enum arm64_gic_version version,
				  unsigned nr_cpus)
{
	uint64_t redist_size = nr_cpus * ARM64_GICV3_REDIST_SIZE_PER_CPU;

	if (version == ARM64_GICV2)
		return (struct arm64_gic){
			.version = ARM64_GICV2,
			.dist_base = ARM64_GICV2_DIST_START,
			.dist_size = ARM64_GICV2_DIST_SIZE,
			.cpu_base = ARM64_GICV2_CPU_START,
			.cpu_size = ARM64_GICV2_CPU_SIZE,
		};
	return (struct arm64_gic){
		.version = ARM64_GICV3,
		.dist_base = ARM64_GICV3_DIST_START,
		.dist_size = ARM64_GICV3_DIST_SIZE,
		.cpu_base = ARM64_GICV3_DIST_START - redist_size,
		.cpu_size = redist_size,
	};
}

int arm64_fdt_build(const struct arm64_machine *m, void *buf, size_t size)
{
	struct fdt_writer w = { .fdt = buf };

	if (!machine_ok(m))
		return -EINVAL;
	if (size > ARM64_FDT_MAX_SIZE)
		size = ARM64_FDT_MAX_SIZE;
	w.err = fdt_create(buf, (int)size);
	if (!w.err)
		w.err = fdt_finish_reservemap(buf);
	add_root(&w, m);
	if (!w.err)
		w.err = fdt_finish(buf);
	if (w.err == -FDT_ERR_NOSPACE)
		return -ENOSPC;
	return w.err ? -EINVAL : 0;
}

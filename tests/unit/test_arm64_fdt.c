// SPDX-License-Identifier: Apache-2.0
/* The arm64 device tree (vmm/arm64/fdt.c): built from a machine
 * description, then read back with libfdt (fdt_check_full, lookups by
 * path and compatible) and decompiled by dtc, which must not warn.
 * Arch-neutral: runs natively and under qemu-aarch64-static. */
#include <setjmp.h> /* cmocka needs these before its header */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/arm64/arm64.h"

#define BUF_SIZE (64 * 1024)
#define MEM_SIZE (256ULL << 20)
#define INITRD_START (ARM64_DRAM_START + (64ULL << 20))
#define INITRD_END (INITRD_START + 0x123456)
#define CMDLINE "console=ttyS0 earlycon reboot=k panic=1"

static const uint64_t mpidrs[] = { 0x80000000, 0x80000001 };
static const struct arm64_mmio_dev serial = { ARM64_SERIAL_START,
					      ARM64_MMIO_LEN, 1 };
static const struct arm64_mmio_dev rtc = { ARM64_RTC_START, ARM64_MMIO_LEN, 0 };
static const struct arm64_mmio_dev virtio[] = {
	{ ARM64_VIRTIO_START + ARM64_MMIO_LEN, ARM64_MMIO_LEN, 3 },
	{ ARM64_VIRTIO_START, ARM64_MMIO_LEN, 2 },
};
static uint8_t buf[BUF_SIZE];

/* Two vCPUs, GICv3, serial, RTC, two virtio devices and an initrd. */
static struct arm64_machine full_machine(void)
{
	return (struct arm64_machine){
		.mem_base = ARM64_DRAM_START,
		.mem_size = MEM_SIZE,
		.nr_cpus = 2,
		.mpidrs = mpidrs,
		.gic = arm64_gic_layout(ARM64_GICV3, 2),
		.serial = &serial,
		.rtc = &rtc,
		.nr_virtio = 2,
		.virtio = virtio,
		.bootargs = CMDLINE,
		.has_initrd = true,
		.initrd_start = INITRD_START,
		.initrd_end = INITRD_END,
	};
}

static void build_ok(const struct arm64_machine *m)
{
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(arm64_fdt_build(m, buf, sizeof(buf)), 0);
	assert_int_equal(fdt_check_full(buf, fdt_totalsize(buf)), 0);
}

static int node(const char *path)
{
	int off = fdt_path_offset(buf, path);

	if (off < 0)
		fail_msg("no node %s: %s", path, fdt_strerror(off));
	return off;
}

static const void *getprop(const char *path, const char *name, int want_len)
{
	int len;
	const void *p = fdt_getprop(buf, node(path), name, &len);

	if (!p)
		fail_msg("%s has no %s", path, name);
	if (want_len >= 0)
		assert_int_equal(len, want_len);
	return p;
}

static const char *get_string(const char *path, const char *name)
{
	return getprop(path, name, -1);
}

static uint32_t get_u32(const char *path, const char *name)
{
	return fdt32_ld(getprop(path, name, 4));
}

/* The i-th value of a property of `count` 64-bit values. */
static uint64_t get_u64_at(const char *path, const char *name, int count, int i)
{
	const uint8_t *p = getprop(path, name, 8 * count);

	return fdt64_ld((const fdt64_t *)(p + 8 * i)); /* 4-byte aligned */
}

/* The i-th 32-bit cell of a property of `count` cells. */
static uint32_t get_cell(const char *path, const char *name, int count, int i)
{
	const fdt32_t *p = getprop(path, name, 4 * count);

	return fdt32_ld(&p[i]);
}

static void test_root_cpus_memory(void **state)
{
	struct arm64_machine m = full_machine();

	(void)state;
	build_ok(&m);
	assert_string_equal(get_string("/", "compatible"), "linux,dummy-virt");
	assert_int_equal(get_u32("/", "#address-cells"), 2);
	assert_int_equal(get_u32("/", "#size-cells"), 2);
	assert_int_equal(get_u32("/", "interrupt-parent"),
			 get_u32("/intc@3fff0000", "phandle"));
	assert_int_equal(get_u32("/cpus", "#address-cells"), 2);
	assert_int_equal(get_u32("/cpus", "#size-cells"), 0);
	for (int i = 0; i < 2; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/cpus/cpu@%d", i);
		assert_string_equal(get_string(path, "device_type"), "cpu");
		assert_string_equal(get_string(path, "enable-method"), "psci");
		/* MPIDR's affinity fields; bit 31 (RES1) is not one */
		assert_int_equal(get_u64_at(path, "reg", 1, 0), i);
	}
	assert_int_equal(fdt_path_offset(buf, "/cpus/cpu@2"),
			 -FDT_ERR_NOTFOUND);
	assert_string_equal(get_string("/memory@80000000", "device_type"),
			    "memory");
	assert_int_equal(get_u64_at("/memory@80000000", "reg", 2, 0),
			 ARM64_DRAM_START);
	assert_int_equal(get_u64_at("/memory@80000000", "reg", 2, 1), MEM_SIZE);
}

static void test_chosen(void **state)
{
	struct arm64_machine m = full_machine();
	const char *stdout_path;

	(void)state;
	build_ok(&m);
	assert_string_equal(get_string("/chosen", "bootargs"), CMDLINE);
	assert_int_equal(get_u64_at("/chosen", "linux,initrd-start", 1, 0),
			 INITRD_START);
	assert_int_equal(get_u64_at("/chosen", "linux,initrd-end", 1, 0),
			 INITRD_END);
	stdout_path = get_string("/chosen", "stdout-path");
	assert_string_equal(stdout_path, "/uart@40002000");
	assert_int_equal(node(stdout_path), node("/uart@40002000"));

	m.has_initrd = false;
	m.serial = NULL;
	build_ok(&m);
	assert_null(
		fdt_getprop(buf, node("/chosen"), "linux,initrd-start", NULL));
	assert_null(fdt_getprop(buf, node("/chosen"), "stdout-path", NULL));
	assert_int_equal(fdt_node_offset_by_compatible(buf, -1, "ns16550a"),
			 -FDT_ERR_NOTFOUND);
}

static void test_gic_timer_psci(void **state)
{
	struct arm64_machine m = full_machine();
	const char *gic = "/intc@3fff0000";
	static const uint32_t timer_ppis[] = { 13, 14, 11, 10 };

	(void)state;
	build_ok(&m);
	assert_string_equal(get_string(gic, "compatible"), "arm,gic-v3");
	assert_non_null(getprop(gic, "interrupt-controller", 0));
	assert_int_equal(get_u32(gic, "#interrupt-cells"), 3);
	assert_int_equal(get_u64_at(gic, "reg", 4, 0), 0x3fff0000);
	assert_int_equal(get_u64_at(gic, "reg", 4, 1), 0x10000);
	/* two redistributors of 128 KiB right below the distributor */
	assert_int_equal(get_u64_at(gic, "reg", 4, 2), 0x3ffb0000);
	assert_int_equal(get_u64_at(gic, "reg", 4, 3), 0x40000);
	assert_int_equal(get_cell(gic, "interrupts", 3, 1),
			 ARM64_GICV3_MAINT_PPI);

	assert_string_equal(get_string("/timer", "compatible"),
			    "arm,armv8-timer");
	assert_non_null(getprop("/timer", "always-on", 0));
	for (int i = 0; i < 4; i++) {
		assert_int_equal(get_cell("/timer", "interrupts", 12, 3 * i),
				 1); /* PPI */
		assert_int_equal(get_cell("/timer", "interrupts", 12,
					  3 * i + 1),
				 timer_ppis[i]);
		assert_int_equal(get_cell("/timer", "interrupts", 12,
					  3 * i + 2),
				 4); /* level high */
	}
	assert_string_equal(get_string("/psci", "compatible"), "arm,psci-0.2");
	assert_string_equal(get_string("/psci", "method"), "hvc");
}

static void test_gicv2(void **state)
{
	struct arm64_machine m = full_machine();
	const char *gic = "/intc@3ffff000";

	(void)state;
	m.gic = arm64_gic_layout(ARM64_GICV2, 2);
	build_ok(&m);
	assert_string_equal(get_string(gic, "compatible"), "arm,gic-400");
	assert_int_equal(get_u64_at(gic, "reg", 4, 0), 0x3ffff000);
	assert_int_equal(get_u64_at(gic, "reg", 4, 1), 0x1000);
	assert_int_equal(get_u64_at(gic, "reg", 4, 2), 0x3fffd000);
	assert_int_equal(get_u64_at(gic, "reg", 4, 3), 0x2000);
	assert_int_equal(get_cell(gic, "interrupts", 3, 1),
			 ARM64_GICV2_MAINT_PPI);
	assert_int_equal(get_u32("/", "interrupt-parent"),
			 get_u32(gic, "phandle"));
}

static void test_devices(void **state)
{
	struct arm64_machine m = full_machine();
	uint32_t clock;
	int off, found = 0;

	(void)state;
	build_ok(&m);
	clock = get_u32("/apb-pclk", "phandle");
	assert_int_equal(get_u32("/apb-pclk", "clock-frequency"), 24000000);

	assert_string_equal(get_string("/uart@40002000", "compatible"),
			    "ns16550a");
	assert_int_equal(get_u64_at("/uart@40002000", "reg", 2, 0),
			 ARM64_SERIAL_START);
	assert_int_equal(get_u32("/uart@40002000", "clocks"), clock);
	assert_int_equal(get_cell("/uart@40002000", "interrupts", 3, 0), 0);
	assert_int_equal(get_cell("/uart@40002000", "interrupts", 3, 1), 1);

	off = node("/rtc@40001000");
	assert_int_equal(fdt_node_check_compatible(buf, off, "arm,pl031"), 0);
	assert_int_equal(fdt_node_check_compatible(buf, off, "arm,primecell"),
			 0);
	assert_int_equal(get_u32("/rtc@40001000", "clocks"), clock);
	assert_string_equal(get_string("/rtc@40001000", "clock-names"),
			    "apb_pclk");

	/* each virtio device with its window and its SPI */
	for (off = fdt_node_offset_by_compatible(buf, -1, "virtio,mmio");
	     off >= 0;
	     off = fdt_node_offset_by_compatible(buf, off, "virtio,mmio")) {
		const fdt64_t *reg = fdt_getprop(buf, off, "reg", NULL);
		const fdt32_t *irq = fdt_getprop(buf, off, "interrupts", NULL);
		uint64_t base = fdt64_ld(&reg[0]);
		int i = base == virtio[0].base ? 0 : 1;

		assert_int_equal(base, virtio[i].base);
		assert_int_equal(fdt64_ld(&reg[1]), ARM64_MMIO_LEN);
		assert_int_equal(fdt32_ld(&irq[1]), virtio[i].spi);
		assert_non_null(fdt_getprop(buf, off, "dma-coherent", NULL));
		found++;
	}
	assert_int_equal(found, 2);
}

/* The largest machine: 32 vCPUs, an SPI for each of 95 virtio devices. */
static void test_largest_machine_fits(void **state)
{
	static struct arm64_mmio_dev many[ARM64_SPI_COUNT - 1];
	static uint64_t ids[ARM64_MAX_CPUS];
	static char long_cmdline[ARM64_CMDLINE_MAX_SIZE];
	static uint8_t big[ARM64_FDT_MAX_SIZE];
	struct arm64_machine m = full_machine();
	int n = 0;

	(void)state;
	for (unsigned i = 0; i < ARM64_MAX_CPUS; i++)
		ids[i] = (i / 16) << 8 | i % 16;
	for (unsigned i = 0; i < ARM64_SPI_COUNT - 1; i++)
		many[i] = (struct arm64_mmio_dev){ ARM64_VIRTIO_START +
							   i * ARM64_MMIO_LEN,
						   ARM64_MMIO_LEN, i + 1 };
	memset(long_cmdline, 'x', sizeof(long_cmdline) - 1);
	m.nr_cpus = ARM64_MAX_CPUS;
	m.mpidrs = ids;
	m.gic = arm64_gic_layout(ARM64_GICV3, ARM64_MAX_CPUS);
	m.nr_virtio = ARM64_SPI_COUNT - 1;
	m.virtio = many;
	m.bootargs = long_cmdline;
	assert_int_equal(arm64_fdt_build(&m, big, sizeof(big)), 0);
	assert_int_equal(fdt_check_full(big, fdt_totalsize(big)), 0);
	assert_true(fdt_totalsize(big) < sizeof(big));
	assert_true(fdt_path_offset(big, "/cpus/cpu@10f") >= 0);
	for (int off = fdt_node_offset_by_compatible(big, -1, "virtio,mmio");
	     off >= 0;
	     off = fdt_node_offset_by_compatible(big, off, "virtio,mmio"))
		n++;
	assert_int_equal(n, ARM64_SPI_COUNT - 1);
}

static void test_buffer_too_small(void **state)
{
	struct arm64_machine m = full_machine();
	int size;

	(void)state;
	build_ok(&m);
	size = (int)fdt_totalsize(buf);
	assert_int_equal(arm64_fdt_build(&m, buf, (size_t)size - 1), -ENOSPC);
	assert_int_equal(arm64_fdt_build(&m, buf, 16), -ENOSPC);
	assert_int_equal(arm64_fdt_build(&m, buf, (size_t)size), 0);
	assert_int_equal(fdt_check_full(buf, (size_t)size), 0);
}

static void expect_invalid(const struct arm64_machine *m)
{
	memset(buf, 0x5a, 64);
	assert_int_equal(arm64_fdt_build(m, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(buf[0], 0x5a); /* nothing written */
}

/* The full machine with `change` applied to `m` is refused. */
#define INVALID_WITH(change)                             \
	do {                                             \
		struct arm64_machine m = full_machine(); \
		change;                                  \
		expect_invalid(&m);                      \
	} while (0)

static void test_invalid_machines(void **state)
{
	static char too_long[ARM64_CMDLINE_MAX_SIZE + 1];

	(void)state;
	memset(too_long, 'x', sizeof(too_long) - 1);
	INVALID_WITH(m.nr_cpus = 0);
	INVALID_WITH(m.nr_cpus = ARM64_MAX_CPUS + 1);
	INVALID_WITH(m.mpidrs = NULL);
	INVALID_WITH(m.mem_base = 0);
	INVALID_WITH(m.mem_size = 0);
	INVALID_WITH(m.mem_size = ARM64_DRAM_MAX_SIZE + 4096);
	INVALID_WITH(m.mem_size = UINT64_MAX);
	INVALID_WITH(m.bootargs = NULL);
	INVALID_WITH(m.bootargs = too_long);
	INVALID_WITH(m.initrd_end = INITRD_START - 1);
	INVALID_WITH(m.initrd_start = 0x1000);
	INVALID_WITH(m.initrd_end = ARM64_DRAM_START + MEM_SIZE + 1);
	INVALID_WITH(m.gic.version = 4);
	INVALID_WITH(m.gic.dist_base = ARM64_MMIO_START);
	INVALID_WITH(m.nr_virtio = 3; m.virtio = NULL);
}

/* A device outside the MMIO window, or with no SPI, is refused whether
 * it is a virtio device, the serial port or the RTC. */
static void test_invalid_devices(void **state)
{
	const struct arm64_mmio_dev bad[] = {
		{ ARM64_VIRTIO_START, ARM64_MMIO_LEN, ARM64_SPI_COUNT },
		{ ARM64_DRAM_START, ARM64_MMIO_LEN, 2 },
		{ ARM64_MMIO_START - ARM64_MMIO_LEN, ARM64_MMIO_LEN, 2 },
		{ ARM64_VIRTIO_START, 0, 2 },
		{ ARM64_VIRTIO_START, UINT64_MAX, 2 },
		{ ARM64_MMIO_END - 0x800, ARM64_MMIO_LEN, 2 },
	};

	(void)state;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		INVALID_WITH(m.nr_virtio = 1; m.virtio = &bad[i]);
		INVALID_WITH(m.serial = &bad[i]);
		if (i > 0) /* the RTC's SPI is not used */
			INVALID_WITH(m.rtc = &bad[i]);
	}
}

/* Runs `cmd`, returns its exit status and its output (stdout + stderr). */
static int run(const char *cmd, char *out, size_t out_size)
{
	FILE *p = popen(cmd, "r");
	size_t n;

	assert_non_null(p);
	n = fread(out, 1, out_size - 1, p);
	out[n] = 0;
	return pclose(p);
}

/* dtc decompiles the blob without a warning; the source says what the
 * tree says. */
static void test_dtc_accepts_it(void **state)
{
	char dtb[] = "/tmp/microvm-arm64-fdt-XXXXXX";
	char cmd[256], out[16384];
	struct arm64_machine m = full_machine();
	int fd;

	(void)state;
	build_ok(&m);
	fd = mkstemp(dtb);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, fdt_totalsize(buf)),
			 (ssize_t)fdt_totalsize(buf));
	close(fd);
	snprintf(cmd, sizeof(cmd), "dtc -I dtb -O dts -o /dev/null %s 2>&1",
		 dtb);
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
	if (out[0])
		fail_msg("dtc warned:\n%s", out);
	snprintf(cmd, sizeof(cmd), "dtc -I dtb -O dts %s 2>/dev/null", dtb);
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
	unlink(dtb);
	assert_non_null(strstr(out, "bootargs = \"" CMDLINE "\";"));
	assert_non_null(strstr(out, "enable-method = \"psci\";"));
	assert_non_null(strstr(out, "virtio_mmio@40003000 {"));
	assert_non_null(
		strstr(out, "compatible = \"arm,pl031\\0arm,primecell\";"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_cpus_memory),
		cmocka_unit_test(test_chosen),
		cmocka_unit_test(test_gic_timer_psci),
		cmocka_unit_test(test_gicv2),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_largest_machine_fits),
		cmocka_unit_test(test_buffer_too_small),
		cmocka_unit_test(test_invalid_machines),
		cmocka_unit_test(test_invalid_devices),
		cmocka_unit_test(test_dtc_accepts_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

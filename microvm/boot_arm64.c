// SPDX-License-Identifier: Apache-2.0
/* The arm64 machine (microvm.h "boot_*.c"), after Firecracker's aarch64
 * layout (vmm/arm64/layout.h): vCPUs with PSCI and their GIC, an arm64
 * `Image` at the start of RAM, the initrd and the device tree at its end
 * (vmm/arm64), the boot CPU entering the kernel with x0 = the device tree;
 * the serial console as an 8250 on MMIO (Linux's earlycon finds it
 * through /chosen/stdout-path), a PL031 RTC, and the virtio-mmio devices
 * (virtio/virtio.h's arm64 slots), each a device tree node with its SPI.
 * VMM thread. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "microvm/microvm.h"
#include "virtio/virtio.h"
#include "vmm/arm64/machine.h"

/* What the device tree needs besides RAM and the command line. */
struct arm64_boot {
	struct arm64_kernel k;
	uint64_t fdt, initrd_start, initrd_end;
	struct arm64_gic gic;
	uint64_t mpidrs[VM_MAX_VCPUS];
	struct arm64_mmio_dev virtio[VIRTIO_MAX_DEVICES];
};

static struct arm64_ram guest_ram(const struct vm *vm)
{
	return (struct arm64_ram){ vm->mem.host, GMEM_BASE, vm->mem.size };
}

static int load_image_file(struct vm *vm, const char *path,
			   struct arm64_kernel *k)
{
	struct arm64_ram ram = guest_ram(vm);
	uint8_t *img;
	size_t size;
	int ret = vm_read_boot_file(vm, "kernel", path, &img, &size);

	if (ret)
		return ret;
	ret = arm64_load_image(&ram, img, size, k);
	free(img);
	return vm_kernel_loaded(vm, ret, path,
				"an arm64 Image (little-endian)");
}

/* The initrd (path may be empty: none) right below the device tree. */
static int place_initrd_file(struct vm *vm, const char *path,
			     struct arm64_boot *b)
{
	struct arm64_ram ram = guest_ram(vm);
	uint8_t *img = NULL;
	size_t size = 0;
	int ret = path[0] ? vm_read_boot_file(vm, "initrd", path, &img, &size) :
			    0;

	if (ret)
		return ret;
	ret = arm64_place_boot_data(&ram, b->k.end, size, &b->fdt,
				    &b->initrd_start);
	if (!ret)
		ret = gmem_write(&vm->mem, b->initrd_start, img, size);
	b->initrd_end = b->initrd_start + size;
	free(img);
	if (ret)
		return vm_fail(
			vm, ret,
			"initrd %s (%zu bytes) and the device tree do not fit in guest memory above the kernel; raise mem_size_mib",
			path, size);
	return 0;
}

/* The vCPUs (their MPIDRs into b), then the GIC over them. KVM's limit
 * is its GIC's: a host with only a GICv2 runs 8 vCPUs in a VM. */
static int create_vcpus(struct vm *vm, bool smt, struct arm64_boot *b)
{
	int max = arm64_max_vcpus(vm);
	unsigned i;
	int ret = 0;

	if (smt)
		return vm_fail(
			vm, -EINVAL,
			"smt is not available on arm64; set it to false");
	if (max > 0 && vm->nr_vcpus > (unsigned)max)
		return vm_fail(
			vm, -E2BIG,
			"this host's KVM runs at most %d vCPUs in a VM (8 where its GIC is a GICv2); vcpu_count is %u",
			max, vm->nr_vcpus);
	for (i = 0; i < vm->nr_vcpus && !ret; i++) {
		ret = vcpu_open(vm, i);
		if (!ret)
			ret = arm64_vcpu_init(&vm->vcpus[i], &b->mpidrs[i]);
	}
	if (ret)
		return vm_fail(vm, ret, "cannot create vCPU %u: %s", i - 1,
			       strerror(-ret));
	ret = arm64_gic_create(vm, &b->gic);
	if (ret)
		return vm_fail(vm, ret, "cannot create the GIC: %s",
			       strerror(-ret));
	return 0;
}

int vm_use_cpu_template(struct vm *vm, const struct cpu_template *t,
			struct kvm_cpuid2 *cpuid)
{
	struct config_err e = { "" };

	if (cpu_template_arch_check("the snapshot's CPU template", &e))
		return vm_fail(vm, -ENOTSUP, "%s", e.msg);
	return 0;
}

/* A snapshot load's vCPUs and GIC: the saved registers replace what a
 * boot would set (vm_boot_setup). */
int vm_create_vcpus(struct vm *vm, bool smt, const struct cpu_template *t)
{
	struct arm64_boot b = { 0 };

	return t ? vm_use_cpu_template(vm, t, NULL) : create_vcpus(vm, smt, &b);
}

int vm_add_arch_devices(struct vm *vm)
{
	int ret = bus_add(&vm->mmio, ARM64_SERIAL_START, 8, serial_access,
			  vm->serial);

	pl031_init(&vm->rtc, NULL);
	if (!ret)
		ret = bus_add(&vm->mmio, ARM64_RTC_START, ARM64_MMIO_LEN,
			      pl031_access, &vm->rtc);
	if (ret)
		return vm_fail(vm, ret,
			       "cannot place the serial port and RTC: %s",
			       strerror(-ret));
	return 0;
}

int vm_send_ctrl_alt_del(struct vm *vm)
{
	return -ENOTSUP;
}

/* The device tree's node of every virtio device vm_add_devices placed. */
static void describe_virtio(const struct vm *vm, struct arm64_boot *b)
{
	for (unsigned i = 0; i < vm->nr_vdevs; i++)
		b->virtio[i] = (struct arm64_mmio_dev){ vdev_mmio_base(i),
							VIRTIO_MMIO_SIZE,
							vdev_irq(i) };
}

static int write_device_tree(struct vm *vm, const char *boot_args,
			     struct arm64_boot *b)
{
	static const struct arm64_mmio_dev serial = { ARM64_SERIAL_START,
						      ARM64_MMIO_LEN,
						      ARM64_SERIAL_SPI };
	static const struct arm64_mmio_dev rtc = { ARM64_RTC_START,
						   ARM64_MMIO_LEN,
						   ARM64_RTC_SPI };
	struct arm64_machine m = {
		.mem_base = GMEM_BASE,
		.mem_size = vm->mem.size,
		.nr_cpus = vm->nr_vcpus,
		.mpidrs = b->mpidrs,
		.gic = b->gic,
		.serial = &serial,
		.rtc = &rtc,
		.nr_virtio = vm->nr_vdevs,
		.virtio = b->virtio,
		.bootargs = vm->cmdline,
		.has_initrd = b->initrd_end > b->initrd_start,
		.initrd_start = b->initrd_start,
		.initrd_end = b->initrd_end,
	};
	void *fdt = gmem_ptr(&vm->mem, b->fdt, ARM64_FDT_MAX_SIZE);
	int ret = cmdline_build(vm->cmdline, sizeof(vm->cmdline), boot_args,
				vm->cmdline_extra);

	if (ret)
		return vm_fail(vm, ret,
			       "kernel command line longer than %d bytes",
			       BOOT_CMDLINE_MAX - 1);
	describe_virtio(vm, b);
	ret = fdt ? arm64_fdt_build(&m, fdt, ARM64_FDT_MAX_SIZE) : -E2BIG;
	if (ret)
		return vm_fail(vm, ret, "cannot write the device tree: %s",
			       strerror(-ret));
	return 0;
}

int vm_boot_setup(struct vm *vm, const struct vm_config *cfg, bool boot_timer)
{
	struct arm64_boot b = { 0 };
	int ret = load_image_file(vm, cfg->boot.kernel_path, &b.k);

	if (!ret)
		ret = place_initrd_file(vm, cfg->boot.initrd_path, &b);
	if (!ret) /* the GIC first: the irqfds' routes are the vGIC's */
		ret = create_vcpus(vm, cfg->machine.smt, &b);
	if (!ret)
		ret = vm_add_devices(vm, cfg, boot_timer);
	if (!ret)
		ret = write_device_tree(vm, cfg->boot.boot_args, &b);
	if (!ret &&
	    (ret = arm64_vcpu_set_boot_regs(&vm->vcpus[0], b.k.entry, b.fdt)))
		vm_fail(vm, ret, "cannot set boot registers: %s",
			strerror(-ret));
	return ret;
}

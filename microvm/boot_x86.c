// SPDX-License-Identifier: Apache-2.0
/* The x86_64 machine (microvm.h "boot_*.c"): an ELF vmlinux (PVH) or a
 * bzImage with its initrd, the zero page or PVH start info, the MP table,
 * the vCPUs with the CPU template (vmm/cpu_template.h), the boot CPU's
 * registers; the legacy devices on port I/O (serial, i8042 whose reset
 * command stops the VM, CMOS RTC). VMM thread. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microvm/microvm.h"
#include "vmm/cpu_template.h"

static void on_guest_reset(void *opaque)
{
	vm_request_exit(opaque, EXIT_OK);
}

int vm_send_ctrl_alt_del(struct vm *vm)
{
	i8042_send_ctrl_alt_del(&vm->i8042);
	return 0;
}

static int load_kernel_file(struct vm *vm, const char *path,
			    struct kernel_image *k)
{
	uint8_t *img;
	size_t size;
	int ret = vm_read_boot_file(vm, "kernel", path, &img, &size);

	if (ret)
		return ret;
	ret = load_kernel(&vm->mem, img, size, k);
	free(img);
	return vm_kernel_loaded(
		vm, ret, path,
		"an x86_64 ELF vmlinux or a bzImage (boot protocol >= 2.12)");
}

static int load_initrd_file(struct vm *vm, const char *path,
			    const struct kernel_image *k, struct boot_layout *b)
{
	uint64_t max = k->bzimage ? k->initrd_addr_max : UINT64_MAX;
	uint8_t *img;
	size_t size;
	int ret = vm_read_boot_file(vm, "initrd", path, &img, &size);

	if (ret)
		return ret;
	ret = initrd_place(&vm->mem, k->end, max, size, &b->initrd_addr);
	if (!ret)
		ret = gmem_write(&vm->mem, b->initrd_addr, img, size);
	b->initrd_size = size;
	free(img);
	if (ret)
		return vm_fail(
			vm, ret,
			"initrd %s (%zu bytes) does not fit in guest memory above the kernel; raise mem_size_mib",
			path, size);
	return 0;
}

static int write_boot_info(struct vm *vm, const char *boot_args,
			   const struct kernel_image *k, struct boot_layout *b)
{
	int ret = cmdline_build(vm->cmdline, sizeof(vm->cmdline), boot_args,
				vm->cmdline_extra);

	if (ret)
		return vm_fail(vm, ret,
			       "kernel command line longer than %d bytes",
			       BOOT_CMDLINE_MAX - 1);
	b->cmdline = vm->cmdline;
	ret = k->pvh ? pvh_write_start_info(&vm->mem, b) :
		       zero_page_write(&vm->mem, k, b);
	if (!ret)
		ret = mptable_write(&vm->mem, vm->nr_vcpus);
	if (ret)
		return vm_fail(vm, ret, "cannot write boot structures: %s",
			       strerror(-ret));
	return 0;
}

int vm_add_arch_devices(struct vm *vm)
{
	int ret;

	i8042_init(&vm->i8042, on_guest_reset, vm_irq_pulse, vm);
	cmos_init(&vm->cmos, NULL);
	ret = bus_add(&vm->pio, SERIAL_PORT, 8, serial_access, vm->serial);
	if (!ret)
		ret = bus_add(&vm->pio, I8042_PORT, 5, i8042_access,
			      &vm->i8042);
	if (!ret)
		ret = bus_add(&vm->pio, CMOS_PORT, 2, cmos_access, &vm->cmos);
	if (ret)
		return vm_fail(vm, ret, "cannot place legacy devices: %s",
			       strerror(-ret));
	return 0;
}

/* A CPU template on this host: it fits the host's CPU and KVM, its CPUID
 * changes go into KVM's supported CPUID before each vCPU's normalisation,
 * and its MSRs are remembered so snapshots save them. A snapshot load
 * (cpuid NULL: the vCPUs get their saved CPUID) checks KVM only. */
int vm_use_cpu_template(struct vm *vm, const struct cpu_template *t,
			struct kvm_cpuid2 *cpuid)
{
	char why[sizeof(vm->err)];
	unsigned i;
	int ret = cpuid ? cpu_template_check_host(t, cpuid, why, sizeof(why)) :
			  0;

	if (!ret)
		ret = cpu_template_check_kvm(t, vm->kvm_fd, why, sizeof(why));
	if (!ret && cpuid)
		ret = cpu_template_apply_cpuid(t, cpuid, why, sizeof(why));
	if (ret && !cpuid)
		return vm_fail(
			vm, ret,
			"the snapshot's CPU template (%s) cannot run here: %s",
			cpu_template_name(t->kind), why);
	if (ret)
		return vm_fail(vm, ret, "%s", why);
	for (i = 0; i < t->nr_msrs; i++)
		vm->template_msrs[i] = t->msrs[i].addr;
	vm->nr_template_msrs = t->nr_msrs;
	return 0;
}

int vm_create_vcpus(struct vm *vm, bool smt, const struct cpu_template *t)
{
	struct kvm_cpuid2 *cpuid = cpuid_get_supported(vm->kvm_fd);
	char why[sizeof(vm->err)];
	unsigned i;
	int ret = 0;

	if (!cpuid)
		return vm_fail(vm, -EIO, "KVM_GET_SUPPORTED_CPUID failed");
	if (t && (ret = vm_use_cpu_template(vm, t, cpuid))) {
		free(cpuid);
		return ret;
	}
	vm->smt = smt;
	for (i = 0; i < vm->nr_vcpus && !ret; i++)
		ret = vcpu_create(vm, i, cpuid, smt, t);
	free(cpuid);
	if (ret) {
		/* a template MSR's failure is named in vm->err */
		snprintf(why, sizeof(why), "%s",
			 vm->err[0] ? vm->err : strerror(-ret));
		return vm_fail(vm, ret, "cannot create vCPU %u: %s", i - 1,
			       why);
	}
	return 0;
}

int vm_boot_setup(struct vm *vm, const struct vm_config *cfg, bool boot_timer)
{
	struct kernel_image k;
	struct boot_layout b = { 0 };
	struct cpu_template *buf = malloc(sizeof(*buf)); /* a static one */
	int ret = buf ? load_kernel_file(vm, cfg->boot.kernel_path, &k) :
			vm_fail(vm, -ENOMEM, "out of memory");

	if (!ret && cfg->boot.initrd_path[0])
		ret = load_initrd_file(vm, cfg->boot.initrd_path, &k, &b);
	if (!ret)
		ret = vm_add_devices(vm, cfg, boot_timer);
	if (!ret)
		ret = write_boot_info(vm, cfg->boot.boot_args, &k, &b);
	if (!ret)
		ret = vm_create_vcpus(vm, cfg->machine.smt,
				      config_cpu_template(cfg, buf));
	free(buf);
	if (!ret && (ret = vcpu_setup_boot_regs(&vm->vcpus[0], &k)))
		vm_fail(vm, ret, "cannot set boot registers: %s",
			strerror(-ret));
	return ret;
}

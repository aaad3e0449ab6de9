// SPDX-License-Identifier: Apache-2.0
/* The arm64 machine's KVM side: vmm/arm64/machine.h. */
#include <errno.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/arch.h"
#include "vmm/arm64/machine.h"

#define MPIDR_EL1 ARM64_SYS_REG(3, 0, 0, 0, 5)
#define CORE_REG(field)                                        \
	(KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | \
	 offsetof(struct kvm_regs, field) / sizeof(uint32_t))

int arch_vm_init(struct vm *vm)
{
	return 0;
}

unsigned arch_irq_line(unsigned spi)
{
	return KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT | (32 + spi);
}

static int get_reg(struct vcpu *v, uint64_t id, uint64_t *value)
{
	struct kvm_one_reg reg = { .id = id, .addr = (uintptr_t)value };

	return ioctl(v->fd, KVM_GET_ONE_REG, &reg) < 0 ? -errno : 0;
}

static int set_reg(struct vcpu *v, uint64_t id, uint64_t value)
{
	struct kvm_one_reg reg = { .id = id, .addr = (uintptr_t)&value };

	return ioctl(v->fd, KVM_SET_ONE_REG, &reg) < 0 ? -errno : 0;
}

void arch_report_exit(struct vcpu *v, const char *what)
{
	uint64_t pc = 0;

	if (get_reg(v, CORE_REG(regs.pc), &pc))
		log_err("vCPU %u: %s (exit reason %u); PC unknown", v->index,
			what, v->run->exit_reason);
	else
		log_err("vCPU %u: %s (exit reason %u) at PC 0x%llx", v->index,
			what, v->run->exit_reason, (unsigned long long)pc);
}

int arm64_vcpu_init(struct vcpu *v, uint64_t *mpidr)
{
	struct kvm_vcpu_init init;

	if (ioctl(v->vm->vm_fd, KVM_ARM_PREFERRED_TARGET, &init) < 0)
		return -errno;
	init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
	if (v->index > 0) /* started by the guest with PSCI CPU_ON */
		init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
	if (ioctl(v->fd, KVM_ARM_VCPU_INIT, &init) < 0)
		return -errno;
	return get_reg(v, MPIDR_EL1, mpidr);
}

static int gic_set(int fd, uint32_t group, uint64_t attr, const void *value)
{
	struct kvm_device_attr a = { .group = group,
				     .attr = attr,
				     .addr = (uintptr_t)value };

	return ioctl(fd, KVM_SET_DEVICE_ATTR, &a) < 0 ? -errno : 0;
}

int arm64_max_vcpus(const struct vm *vm)
{
	return ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
}

/* KVM_CREATE_DEVICE of a GICv3, else a GICv2: vm->irqchip_fd. */
static int gic_create_device(struct vm *vm, struct arm64_gic *gic)
{
	struct kvm_create_device dev = { .type = KVM_DEV_TYPE_ARM_VGIC_V3 };

	*gic = arm64_gic_layout(ARM64_GICV3, vm->nr_vcpus);
	if (ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &dev) < 0) {
		dev.type = KVM_DEV_TYPE_ARM_VGIC_V2;
		*gic = arm64_gic_layout(ARM64_GICV2, vm->nr_vcpus);
		if (ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &dev) < 0)
			return -errno;
	}
	vm->irqchip_fd = (int)dev.fd;
	vm->gic_version = gic->version;
	return 0;
}

int arm64_gic_create(struct vm *vm, struct arm64_gic *gic)
{
	uint32_t nr_irqs = ARM64_GIC_NR_IRQS;
	bool v3;
	int ret = gic_create_device(vm, gic);

	if (ret)
		return ret;
	v3 = gic->version == ARM64_GICV3;
	ret = gic_set(vm->irqchip_fd, KVM_DEV_ARM_VGIC_GRP_ADDR,
		      v3 ? KVM_VGIC_V3_ADDR_TYPE_DIST :
			   KVM_VGIC_V2_ADDR_TYPE_DIST,
		      &gic->dist_base);
	if (!ret)
		ret = gic_set(vm->irqchip_fd, KVM_DEV_ARM_VGIC_GRP_ADDR,
			      v3 ? KVM_VGIC_V3_ADDR_TYPE_REDIST :
				   KVM_VGIC_V2_ADDR_TYPE_CPU,
			      &gic->cpu_base);
	if (!ret)
		ret = gic_set(vm->irqchip_fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0,
			      &nr_irqs);
	if (!ret)
		ret = gic_set(vm->irqchip_fd, KVM_DEV_ARM_VGIC_GRP_CTRL,
			      KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
	return ret;
}

int arm64_vcpu_set_boot_regs(struct vcpu *v, uint64_t entry, uint64_t fdt)
{
	int ret = set_reg(v, CORE_REG(regs.pc), entry);

	return ret ? ret : set_reg(v, CORE_REG(regs.regs[0]), fdt);
}

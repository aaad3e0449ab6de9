// SPDX-License-Identifier: Apache-2.0
/* The checks of an arm64 state file's vCPU and VM sections (format.c
 * calls them on each, before anything trusts it): counts within their
 * arrays, every register id an arm64 one of at most 16 bytes, every GIC
 * attribute in a group a snapshot of its GIC version sets, at an offset
 * inside its frame. */
#include <errno.h>
#include <stdio.h>

#include "snapshot/snapshot.h"

/* Coprocessors whose registers KVM_GET_REG_LIST names (asm/kvm.h). */
static bool known_coproc(uint64_t id)
{
	switch (id & KVM_REG_ARM_COPROC_MASK) {
	case KVM_REG_ARM_CORE:
	case KVM_REG_ARM_DEMUX:
	case KVM_REG_ARM64_SYSREG:
	case KVM_REG_ARM_FW:
	case KVM_REG_ARM_FW_FEAT_BMAP:
		return true;
	default:
		return false;
	}
}

static int check_reg(const struct snap_vcpu *v, const struct snap_reg *r,
		     char *err, size_t err_size)
{
	if ((r->id & KVM_REG_ARCH_MASK) != KVM_REG_ARM64 ||
	    !known_coproc(r->id) || KVM_REG_SIZE(r->id) > SNAP_MAX_REG_BYTES) {
		snprintf(
			err, err_size,
			"vCPU %u: register id 0x%llx is not an arm64 register of at most %d bytes",
			v->index, (unsigned long long)r->id,
			SNAP_MAX_REG_BYTES);
		return -EINVAL;
	}
	return 0;
}

int snap_check_vcpu(const struct snap_vcpu *v, char *err, size_t err_size)
{
	uint32_t i;
	int ret = 0;

	if (!v->nregs || v->nregs > SNAP_MAX_REGS) {
		snprintf(err, err_size, "vCPU %u has %u registers (1 to %u)",
			 v->index, v->nregs, SNAP_MAX_REGS);
		return -EINVAL;
	}
	if (v->mp_state.mp_state != KVM_MP_STATE_RUNNABLE &&
	    v->mp_state.mp_state != KVM_MP_STATE_STOPPED) {
		snprintf(err, err_size, "vCPU %u: power state %u", v->index,
			 v->mp_state.mp_state);
		return -EINVAL;
	}
	for (i = 0; i < v->nregs && !ret; i++)
		ret = check_reg(v, &v->regs[i], err, err_size);
	return ret;
}

#define GICD_FRAME 0x10000 /* the distributor's 64 KiB */
#define GICR_FRAMES 0x20000 /* a redistributor: RD and SGI frames */
#define GICV2_FRAME 0x1000 /* GICv2: the distributor, the CPU interface */
#define GICV2_MAX_CPUS 8

/* Where a GICv3 attribute's offset must fall, and how wide its value is. */
static bool attr_fits_v3(const struct snap_gic_attr *a)
{
	uint64_t offset = a->attr & KVM_DEV_ARM_VGIC_OFFSET_MASK;
	bool narrow = a->value <= UINT32_MAX;

	switch (a->group) {
	case KVM_DEV_ARM_VGIC_GRP_DIST_REGS:
		return !(a->attr >> 32) && offset < GICD_FRAME && narrow;
	case KVM_DEV_ARM_VGIC_GRP_REDIST_REGS:
		return offset < GICR_FRAMES && narrow;
	case KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS:
		return !(a->attr & 0xffff0000u);
	case KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO:
		return narrow;
	default:
		return false;
	}
}

/* A GICv2 attribute: the distributor's or the CPU interface's registers,
 * of a vCPU the GICv2 can serve, 32 bits wide. */
static bool attr_fits_v2(const struct snap_gic_attr *a)
{
	uint64_t offset = a->attr & KVM_DEV_ARM_VGIC_OFFSET_MASK;
	uint64_t vcpu = a->attr >> KVM_DEV_ARM_VGIC_CPUID_SHIFT;

	return (a->group == KVM_DEV_ARM_VGIC_GRP_DIST_REGS ||
		a->group == KVM_DEV_ARM_VGIC_GRP_CPU_REGS) &&
	       vcpu < GICV2_MAX_CPUS && offset < GICV2_FRAME &&
	       a->value <= UINT32_MAX;
}

int snap_check_vm(const struct snap_vm *vm, char *err, size_t err_size)
{
	uint32_t i;

	if ((vm->gic_version != 2 && vm->gic_version != 3) ||
	    vm->nr_irqs < 64 || vm->nr_irqs > 1024 || vm->nr_irqs % 32) {
		snprintf(err, err_size, "VM section: GICv%u with %u interrupts",
			 vm->gic_version, vm->nr_irqs);
		return -EINVAL;
	}
	if (vm->nattrs > SNAP_MAX_GIC_ATTRS) {
		snprintf(err, err_size,
			 "VM section: %u GIC registers (limit %u)", vm->nattrs,
			 SNAP_MAX_GIC_ATTRS);
		return -EINVAL;
	}
	for (i = 0; i < vm->nattrs; i++) {
		const struct snap_gic_attr *a = &vm->attrs[i];

		if (vm->gic_version == 3 ? !attr_fits_v3(a) :
					   !attr_fits_v2(a)) {
			snprintf(
				err, err_size,
				"VM section: GIC register %u (group %u, attribute 0x%llx, value 0x%llx) is not one a snapshot sets",
				i, a->group, (unsigned long long)a->attr,
				(unsigned long long)a->value);
			return -EINVAL;
		}
	}
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshot/state_arm64.h — an arm64 VM's KVM state in the state file
 * (included by snapshot.h on aarch64 in place of x86's structs).
 *
 * - Each vCPU (a SEC_VCPU section): every register KVM_GET_REG_LIST names,
 *   as (id, value) with the value's size taken from the id's size field
 *   (at most 16 bytes: the FP/SIMD registers; SVE is never turned on),
 *   in KVM's order; its MPIDR and its power state (KVM_GET_MP_STATE). The
 *   architected timer's registers are among them: KVM_REG_ARM_TIMER_CNT
 *   sets the VM's counter offset, so the guest's virtual counter goes on
 *   from the saved value (no jump, as x86's KVM clock).
 * - The VM (SEC_VM): the GIC's state as the device attributes to set,
 *   in order (group, attribute, value). GICv3: the distributor's
 *   registers, then each vCPU's redistributor and CPU interface
 *   registers, and the SPIs' line levels. GICv2 (where KVM has no GICv3):
 *   GICD_IIDR first (written back, it lets KVM set the groups), the
 *   distributor's registers, then each vCPU's banked distributor
 *   registers, its SGIs' pending sources and its CPU interface. Each
 *   set/enable/pending/active register comes after its clear twin
 *   written with all ones, so setting the list leaves exactly the saved
 *   bits, also in a VM that has run (a rewind).
 * - format_arm64.c checks both sections of an untrusted file (sizes,
 *   counts, register ids and sizes, attribute groups and offsets);
 *   kvm_state_arm64.c saves and sets them through KVM.
 */
#ifndef MICROVM_SNAPSHOT_STATE_ARM64_H
#define MICROVM_SNAPSHOT_STATE_ARM64_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_ARCH SNAP_ARCH_AARCH64
#define SNAP_ARCH_NAME "aarch64"
/* KVM lists about 250-500 registers for a vCPU; room for twice that */
#define SNAP_MAX_REGS 1024
#define SNAP_MAX_REG_BYTES 16 /* KVM_REG_SIZE_U128 */
/* The distributor's ~250 attributes plus ~40 per vCPU (32 at most) */
#define SNAP_MAX_GIC_ATTRS 2048

struct snap_reg {
	uint64_t id; /* KVM_REG_ARM64 | size | coprocessor | ... */
	uint8_t value[SNAP_MAX_REG_BYTES]; /* KVM_REG_SIZE(id) bytes used */
};

struct snap_vcpu {
	uint32_t index, nregs;
	uint64_t mpidr; /* MPIDR_EL1, also among regs */
	struct kvm_mp_state mp_state;
	uint32_t reserved;
	struct snap_reg regs[SNAP_MAX_REGS];
};

/* One KVM_SET_DEVICE_ATTR of the GIC. The value is 32 bits wide except
 * for KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS (64). */
struct snap_gic_attr {
	uint32_t group, reserved;
	uint64_t attr, value;
};

struct snap_vm {
	uint32_t gic_version; /* 3, or 2 where KVM has no GICv3 */
	uint32_t nr_irqs; /* KVM_DEV_ARM_VGIC_GRP_NR_IRQS */
	uint32_t nattrs, reserved;
	struct snap_gic_attr attrs[SNAP_MAX_GIC_ATTRS];
};

struct vm;
struct snap_state;
/* kvm_state_arm64.c: before a load sets anything, 0 if every register of
 * each saved vCPU is one this host's KVM lists for its vCPU (and the VM
 * has a GIC of the same version with as many interrupts); else -ENOTSUP
 * with err naming the first that is not. */
MUST_CHECK int snap_check_regs(const struct vm *vm, const struct snap_state *s,
			       char *err, size_t err_size);

#endif

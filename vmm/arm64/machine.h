/* SPDX-License-Identifier: Apache-2.0 */
/* vmm/arm64/machine.c — the arm64 machine's KVM side (aarch64 builds
 * only; the rest of vmm/arm64 is plain data and builds anywhere):
 * vmm/arch.h's functions, each vCPU's KVM_ARM_VCPU_INIT (the preferred
 * target, PSCI 0.2; every vCPU but the first starts powered off and is
 * started by the guest's PSCI CPU_ON), its MPIDR_EL1 for the device tree,
 * the GICv3 (GICv2 where KVM has no v3; vm->gic_version says which) at
 * layout.h's addresses, initialised once every vCPU exists, and the boot
 * CPU's registers.
 * Functions return 0 or -errno. */
#ifndef MICROVM_ARM64_MACHINE_H
#define MICROVM_ARM64_MACHINE_H

#include <stdint.h>

#include "vmm/arm64/arm64.h"
#include "vmm/vmm.h"

/* How many vCPUs KVM runs in this VM (KVM_CAP_MAX_VCPUS: its GIC's
 * limit, 8 with a GICv2); <= 0 when KVM does not say. */
int arm64_max_vcpus(const struct vm *vm);
/* After vcpu_open: KVM_ARM_VCPU_INIT; *mpidr gets MPIDR_EL1. */
MUST_CHECK int arm64_vcpu_init(struct vcpu *v, uint64_t *mpidr);
/* After every vCPU: the GIC into vm->irqchip_fd; *gic its regions. */
MUST_CHECK int arm64_gic_create(struct vm *vm, struct arm64_gic *gic);
/* PC at the kernel's entry, x0 the device tree's address. */
MUST_CHECK int arm64_vcpu_set_boot_regs(struct vcpu *v, uint64_t entry,
					uint64_t fdt);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmm/arch.h — what differs between the x86_64 and the arm64 machine, as
 * the rest of vmm/ needs it. One implementation per architecture, chosen
 * by the compiler: vmm/x86.c (x86_64), vmm/arm64/machine.c (aarch64).
 * The architecture's own set-up (CPUID and boot protocol on x86; vCPU
 * init, GIC and device tree on arm64) is declared in vmm.h (x86) and
 * vmm/arm64/machine.h; microvm/boot_x86.c and microvm/boot_arm64.c put
 * each machine together.
 */
#ifndef MICROVM_VMM_ARCH_H
#define MICROVM_VMM_ARCH_H

#include "base/base.h"

struct vm;
struct vcpu;

/* Right after KVM_CREATE_VM: x86's in-kernel irqchip and PIT; nothing on
 * arm64 (its GIC comes after the vCPUs). 0 or -errno. */
MUST_CHECK int arch_vm_init(struct vm *vm);
/* Logs an exit the monitor cannot handle with where the guest was. */
void arch_report_exit(struct vcpu *v, const char *what);
/* The KVM_IRQ_LINE number of a device interrupt: the ISA IRQ on x86; on
 * arm64 the SPI (0-based, as the device tree counts) with its type. */
unsigned arch_irq_line(unsigned irq);

#endif

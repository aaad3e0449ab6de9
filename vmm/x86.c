// SPDX-License-Identifier: Apache-2.0
/* The x86_64 side of the machine (vmm/arch.h): the in-kernel irqchip and
 * PIT, each vCPU's CPUID, MSRs (a CPU template's, then the boot ones),
 * LAPIC and FPU, the boot CPU's registers (32-bit PVH entry or 64-bit
 * boot protocol with identity page tables), and a fatal exit reported
 * with its RIP and instruction bytes (a triple fault whose vCPU KVM has
 * already reset, as on AMD, without them: they would be the reset
 * vector's). */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/arch.h"
#include "vmm/cpu_template.h"
#include "vmm/vmm.h"

#define KVM_TSS_ADDR 0xfffbd000ULL
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ULL

static int vm_ioctl_enable_emulation_exit(int vm_fd)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_EXIT_ON_EMULATION_FAILURE,
				      .args = { 1 } };

	return ioctl(vm_fd, KVM_ENABLE_CAP, &cap) < 0 ? -errno : 0;
}

unsigned arch_irq_line(unsigned irq)
{
	return irq;
}

/* The in-kernel PIC, IOAPIC and PIT, and the addresses VMX needs. */
int arch_vm_init(struct vm *vm)
{
	int vm_fd = vm->vm_fd;
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t identity = KVM_IDENTITY_MAP_ADDR;

	if (ioctl(vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0 ||
	    ioctl(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0 ||
	    ioctl(vm_fd, KVM_CREATE_IRQCHIP) < 0 ||
	    ioctl(vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return -errno;
	/* Instruction bytes in emulation-failure exits, when KVM has them. */
	if (vm_ioctl_enable_emulation_exit(vm_fd))
		log_debug("KVM_CAP_EXIT_ON_EMULATION_FAILURE unavailable");
	return 0;
}

#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

#define CR0_PE 0x1ULL
#define CR0_ET 0x10ULL
#define CR0_PG 0x80000000ULL
#define CR4_PAE 0x20ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL

#define GDT_CODE32 0x00cf9b000000ffffULL
#define GDT_CODE64 0x00af9b000000ffffULL
#define GDT_DATA 0x00cf93000000ffffULL
#define GDT_TSS 0x00808b0000000067ULL
#define SEL_CODE 0x10 /* __BOOT_CS */
#define SEL_DATA 0x18 /* __BOOT_DS */
#define SEL_TSS 0x20

static int vcpu_set_msrs(struct vcpu *v)
{
	static const uint32_t zeroed[] = {
		MSR_IA32_SYSENTER_CS,
		MSR_IA32_SYSENTER_ESP,
		MSR_IA32_SYSENTER_EIP,
		MSR_STAR,
		MSR_LSTAR,
		MSR_CSTAR,
		MSR_KERNEL_GS_BASE,
		MSR_SYSCALL_MASK,
		MSR_IA32_TSC,
	};
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[ARRAY_SIZE(zeroed) + 2];
	} msrs;
	unsigned i, n = 0;

	memset(&msrs, 0, sizeof(msrs));
	for (i = 0; i < ARRAY_SIZE(zeroed); i++)
		msrs.e[n++].index = zeroed[i];
	msrs.e[n].index = MSR_IA32_MISC_ENABLE;
	msrs.e[n++].data = 1; /* fast strings */
	msrs.e[n].index = MSR_MTRR_DEF_TYPE;
	msrs.e[n++].data = (1 << 11) | 6; /* MTRRs on, write-back */
	msrs.hdr.nmsrs = n;
	if (ioctl(v->fd, KVM_SET_MSRS, &msrs) != (int)n)
		return -EIO;
	return 0;
}

/* The template's MSRs: read from this vCPU (its CPUID set: KVM reads
 * CPUID-dependent MSRs as 0 before), changed, set back. */
static int vcpu_set_template_msrs(struct vcpu *v, const struct cpu_template *t)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[CPU_TEMPLATE_MAX_MSRS];
	} msrs;
	unsigned n;
	int ret;

	if (!t || !t->nr_msrs)
		return 0;
	memset(&msrs, 0, sizeof(msrs));
	ret = cpu_template_read_msrs(t, v->fd, msrs.e, &n, v->vm->err,
				     sizeof(v->vm->err));
	if (ret)
		return ret;
	msrs.hdr.nmsrs = n;
	ret = ioctl(v->fd, KVM_SET_MSRS, &msrs);
	if (ret == (int)n)
		return 0;
	snprintf(v->vm->err, sizeof(v->vm->err),
		 "KVM refused the CPU template's MSR 0x%x",
		 ret >= 0 ? msrs.e[ret].index : 0);
	return -EIO;
}

static uint32_t lvt_mode(uint32_t reg, uint32_t mode)
{
	return (reg & ~0x700u) | (mode << 8);
}

/* LINT0 delivers the PIC's ExtINT, LINT1 the NMI. */
static int vcpu_set_lapic(struct vcpu *v)
{
	struct kvm_lapic_state lapic;
	uint32_t reg;

	if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	memcpy(&reg, &lapic.regs[APIC_LVT0], 4);
	reg = lvt_mode(reg, APIC_MODE_EXTINT);
	memcpy(&lapic.regs[APIC_LVT0], &reg, 4);
	memcpy(&reg, &lapic.regs[APIC_LVT1], 4);
	reg = lvt_mode(reg, APIC_MODE_NMI);
	memcpy(&lapic.regs[APIC_LVT1], &reg, 4);
	return ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0 ? -errno : 0;
}

static int vcpu_set_fpu(struct vcpu *v)
{
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };

	return ioctl(v->fd, KVM_SET_FPU, &fpu) < 0 ? -errno : 0;
}

static int vcpu_set_cpuid(struct vcpu *v, const struct kvm_cpuid2 *supported,
			  bool smt)
{
	size_t size = sizeof(*supported) +
		      supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *c = malloc(size);
	struct cpu_topology topo = { v->index, v->vm->nr_vcpus, smt };
	int ret = 0;

	if (!c)
		return -ENOMEM;
	memcpy(c, supported, size);
	cpuid_normalize(c, &topo);
	if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0)
		ret = -errno;
	free(c);
	return ret;
}

static void set_segment(struct kvm_segment *s, uint16_t sel, uint8_t type,
			bool long_mode)
{
	*s = (struct kvm_segment){ .base = 0,
				   .limit = 0xffffffff,
				   .selector = sel,
				   .type = type,
				   .present = 1,
				   .s = 1,
				   .g = 1 };
	s->l = long_mode && (type & 0x8);
	s->db = !s->l;
}

/* A GDT with __BOOT_CS, __BOOT_DS and a TSS, and the identity page tables
 * (first 1 GiB, 2 MiB pages) the 64-bit entry needs. */
static int write_boot_tables(const struct guest_mem *mem, bool long_mode)
{
	uint64_t gdt[5] = { 0, 0, long_mode ? GDT_CODE64 : GDT_CODE32, GDT_DATA,
			    GDT_TSS };
	uint64_t *pml4 = gmem_ptr(mem, BOOT_PML4_ADDR, 3 * 4096);
	unsigned i;

	if (!pml4 || gmem_write(mem, BOOT_GDT_ADDR, gdt, sizeof(gdt)))
		return -E2BIG;
	if (!long_mode)
		return 0;
	memset(pml4, 0, 3 * 4096);
	pml4[0] = (BOOT_PML4_ADDR + 0x1000) | 0x3;
	pml4[512] = (BOOT_PML4_ADDR + 0x2000) | 0x3; /* PDPT[0] -> PD */
	for (i = 0; i < 512; i++)
		pml4[1024 + i] = ((uint64_t)i << 21) | 0x83; /* 2 MiB, RW, P */
	return 0;
}

static int vcpu_set_boot_sregs(struct vcpu *v, bool long_mode)
{
	struct kvm_sregs sregs;

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	set_segment(&sregs.cs, SEL_CODE, 0xb, long_mode);
	set_segment(&sregs.ds, SEL_DATA, 0x3, long_mode);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr = (struct kvm_segment){
		.limit = 0x67, .selector = SEL_TSS, .type = 0xb, .present = 1
	};
	sregs.gdt.base = BOOT_GDT_ADDR;
	sregs.gdt.limit = 5 * 8 - 1;
	sregs.cr0 = CR0_PE | CR0_ET;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (long_mode) {
		sregs.cr0 |= CR0_PG;
		sregs.cr3 = BOOT_PML4_ADDR;
		sregs.cr4 = CR4_PAE;
		sregs.efer = EFER_LME | EFER_LMA;
	}
	return ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0 ? -errno : 0;
}

int vcpu_setup_boot_regs(struct vcpu *v, const struct kernel_image *k)
{
	struct kvm_regs regs = { .rflags = 2, .rip = k->entry };
	int ret = write_boot_tables(&v->vm->mem, !k->pvh);

	if (!ret)
		ret = vcpu_set_boot_sregs(v, !k->pvh);
	if (ret)
		return ret;
	if (k->pvh)
		regs.rbx = BOOT_PVH_INFO_ADDR;
	else
		regs.rsi = BOOT_ZERO_PAGE_ADDR;
	return ioctl(v->fd, KVM_SET_REGS, &regs) < 0 ? -errno : 0;
}

/* Formats up to 15 instruction bytes at the guest's RIP into out. */
static void format_insn_bytes(struct vcpu *v, uint64_t rip, char *out,
			      size_t size)
{
	struct kvm_translation tr = { .linear_address = rip };
	const uint8_t *bytes = NULL;
	unsigned i, n = 15;
	size_t used = 0;

	if (v->run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
	    v->run->emulation_failure.ndata >= 3 &&
	    (v->run->emulation_failure.flags &
	     KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		bytes = v->run->emulation_failure.insn_bytes;
		n = v->run->emulation_failure.insn_size;
	} else if (ioctl(v->fd, KVM_TRANSLATE, &tr) == 0 && tr.valid) {
		for (; n && !bytes; n--)
			bytes = gmem_ptr(&v->vm->mem, tr.physical_address, n);
		n++;
	}
	snprintf(out, size, "unavailable");
	for (i = 0; bytes && i < n && i < 15 && used + 4 < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%02x",
					 i ? " " : "", bytes[i]);
}

/* Whether the vCPU holds the x86 reset state (CS:IP f000:fff0, CS base
 * 0xffff0000). On AMD, KVM resets a vCPU that triple-faulted before it
 * exits (SVM leaves its state undefined); Intel keeps the fault's state. */
static bool in_reset_state(struct vcpu *v, const struct kvm_regs *regs)
{
	struct kvm_sregs sregs;

	return regs->rip == 0xfff0 &&
	       ioctl(v->fd, KVM_GET_SREGS, &sregs) == 0 &&
	       sregs.cs.selector == 0xf000 && sregs.cs.base == 0xffff0000;
}

void arch_report_exit(struct vcpu *v, const char *what)
{
	struct kvm_regs regs = { 0 };
	char insn[64];

	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0)
		log_err("KVM_GET_REGS: %s", strerror(errno));
	if (v->run->exit_reason == KVM_EXIT_SHUTDOWN &&
	    in_reset_state(v, &regs)) {
		log_err("vCPU %u: %s (exit reason %u); the vCPU was reset by the triple fault (as KVM does on AMD), so its RIP and instruction bytes at the fault are unknown",
			v->index, what, v->run->exit_reason);
		return;
	}
	format_insn_bytes(v, regs.rip, insn, sizeof(insn));
	log_err("vCPU %u: %s (exit reason %u) at RIP 0x%llx, instruction bytes: %s",
		v->index, what, v->run->exit_reason,
		(unsigned long long)regs.rip, insn);
}

int vcpu_create(struct vm *vm, unsigned index,
		const struct kvm_cpuid2 *supported, bool smt,
		const struct cpu_template *t)
{
	struct vcpu *v = &vm->vcpus[index];
	int ret = vcpu_open(vm, index);

	if (!ret)
		ret = vcpu_set_cpuid(v, supported, smt);
	if (!ret)
		ret = vcpu_set_template_msrs(v, t);
	if (!ret)
		ret = vcpu_set_msrs(v);
	if (!ret)
		ret = vcpu_set_lapic(v);
	if (!ret)
		ret = vcpu_set_fpu(v);
	return ret;
}

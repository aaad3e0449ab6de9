// SPDX-License-Identifier: Apache-2.0
/* vCPUs: creation (CPUID, MSRs, LAPIC, FPU), boot registers, and the
 * KVM_RUN loop each vCPU thread runs. An exit the monitor cannot handle is
 * reported with its reason, RIP and instruction bytes (a triple fault
 * whose vCPU KVM has already reset, as on AMD, without them: they would
 * be the reset vector's), and stops the VM with a non-zero code. A stopped
 * vCPU is kicked out of KVM_RUN with a signal plus immediate_exit. */
#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/cpu_template.h"
#include "vmm/vmm.h"

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

/* Only there to interrupt KVM_RUN. */
static void kick_handler(int sig)
{
}

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

int vcpu_create(struct vm *vm, unsigned index,
		const struct kvm_cpuid2 *supported, bool smt,
		const struct cpu_template *t)
{
	struct vcpu *v = &vm->vcpus[index];
	int size, ret;

	v->vm = vm;
	v->index = index;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (v->fd < 0)
		return -errno;
	size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run))
		return -EIO;
	v->run_size = (size_t)size;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return -errno;
	}
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

static void report_exit(struct vcpu *v, const char *what)
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

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint64_t bytes = (uint64_t)run->io.size * run->io.count;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint32_t i;

	if (run->io.data_offset > v->run_size ||
	    bytes > v->run_size - run->io.data_offset)
		return;
	metrics_inc(run->io.direction == KVM_EXIT_IO_OUT ? M_VCPU_IO_OUT :
							   M_VCPU_IO_IN);
	/* --level Trace: one line per exit, to count the guest's exits by
	 * port (docs/kvm-here.md shows how) */
	log_trace("port-I/O %s 0x%x (%u bytes x %u)",
		  run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
		  run->io.port, run->io.size, run->io.count);
	for (i = 0; i < run->io.count; i++, data += run->io.size)
		bus_dispatch(&v->vm->pio, run->io.port, data, run->io.size,
			     run->io.direction == KVM_EXIT_IO_OUT);
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len <= 8 ? run->mmio.len : 8;

	metrics_inc(run->mmio.is_write ? M_VCPU_MMIO_WRITE : M_VCPU_MMIO_READ);
	bus_dispatch(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len,
		     run->mmio.is_write);
}

/* Handles one exit; returns false when the vCPU must stop. */
static bool handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char what[96];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		return true;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ||
		    run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
			vm_request_exit(v->vm, EXIT_OK);
			return false;
		}
		snprintf(what, sizeof(what), "system event %u",
			 run->system_event.type);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(
			what, sizeof(what), "KVM internal error, suberror %u%s",
			run->internal.suberror,
			run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
				" (instruction emulation failed; the guest died)" :
				"");
		break;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what), "VM entry failed, reason 0x%llx",
			 (unsigned long long)
				 run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_SHUTDOWN:
		snprintf(what, sizeof(what), "guest triple fault (shutdown)");
		break;
	default:
		snprintf(what, sizeof(what), "unhandled exit");
		break;
	}
	report_exit(v, what);
	metrics_inc(M_VCPU_FAILURES);
	vm_request_exit(v->vm, EXIT_INTERNAL);
	return false;
}

/* Lets KVM finish the instruction of the exit just handled (an IN or an
 * MMIO read gets its value on the next KVM_RUN) without running the
 * guest further, so a snapshot of a paused vCPU holds no half-done
 * instruction. */
static void complete_pending_exit(struct vcpu *v)
{
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (ioctl(v->fd, KVM_RUN, 0) == 0)
		log_debug("vCPU %u: KVM_RUN ran despite immediate_exit",
			  v->index);
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

/* Applies pause and stop requests; blocks while the VM is paused. Returns
 * true when the thread must exit. Clearing immediate_exit before reading the
 * flags means a request made after the read still interrupts KVM_RUN. */
static bool vcpu_check_requests(struct vcpu *v)
{
	struct vm *vm = v->vm;
	bool stop;

	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&vm->run_lock);
	while (vm->pause_requested && !v->stop_requested) {
		if (!v->paused) {
			complete_pending_exit(v);
			v->paused = true;
			vm->nr_paused++;
			pthread_cond_broadcast(&vm->run_cond);
		}
		pthread_cond_wait(&vm->run_cond, &vm->run_lock);
	}
	if (v->paused) {
		v->paused = false;
		vm->nr_paused--;
	}
	stop = v->stop_requested;
	pthread_mutex_unlock(&vm->run_lock);
	return stop;
}

static void vcpu_thread_exit(struct vcpu *v)
{
	pthread_mutex_lock(&v->vm->run_lock);
	v->vm->nr_running--;
	pthread_cond_broadcast(&v->vm->run_cond);
	pthread_mutex_unlock(&v->vm->run_lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	char name[16];

	snprintf(name, sizeof(name), "vcpu %u", v->index);
	log_set_thread_name(name);
	if (seccomp_enabled && seccomp_install(SECCOMP_THREAD_VCPU)) {
		log_err("vCPU %u: cannot install its seccomp filter", v->index);
		vm_request_exit(v->vm, EXIT_INTERNAL);
		vcpu_thread_exit(v);
		return NULL;
	}
	seccomp_test_hook("vcpu");

	while (!vcpu_check_requests(v)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			log_err("vCPU %u: KVM_RUN: %s", v->index,
				strerror(errno));
			vm_request_exit(v->vm, EXIT_INTERNAL);
			break;
		}
		if (!handle_exit(v))
			break;
	}
	vcpu_thread_exit(v);
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	static const struct sigaction sa = { .sa_handler = kick_handler };
	int ret;

	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	pthread_mutex_lock(&v->vm->run_lock);
	v->vm->nr_running++;
	pthread_mutex_unlock(&v->vm->run_lock);
	ret = pthread_create(&v->thread, NULL, vcpu_thread, v);
	if (ret) {
		vcpu_thread_exit(v);
		return -ret;
	}
	v->started = true;
	return 0;
}

static void vcpu_kick(struct vcpu *v)
{
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_stop(struct vcpu *v)
{
	if (!v->started)
		return;
	pthread_mutex_lock(&v->vm->run_lock);
	v->stop_requested = true;
	pthread_cond_broadcast(&v->vm->run_cond);
	pthread_mutex_unlock(&v->vm->run_lock);
	vcpu_kick(v);
	pthread_join(v->thread, NULL);
	v->started = false;
}

void vm_pause(struct vm *vm)
{
	unsigned i;

	pthread_mutex_lock(&vm->run_lock);
	vm->pause_requested = true;
	pthread_mutex_unlock(&vm->run_lock);
	for (i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].started)
			vcpu_kick(&vm->vcpus[i]);
	pthread_mutex_lock(&vm->run_lock);
	while (vm->nr_paused < vm->nr_running)
		pthread_cond_wait(&vm->run_cond, &vm->run_lock);
	pthread_mutex_unlock(&vm->run_lock);
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->run_lock);
	vm->pause_requested = false;
	pthread_cond_broadcast(&vm->run_cond);
	pthread_mutex_unlock(&vm->run_lock);
}

void vcpu_destroy(struct vcpu *v)
{
	free(v->cpuid);
	v->cpuid = NULL;
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}

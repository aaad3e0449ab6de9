// SPDX-License-Identifier: Apache-2.0
/* Proves that /dev/kvm in the arm64 machine (tests/l1-arm64) runs a guest:
 * a VM with one vCPU (KVM_ARM_VCPU_INIT with the preferred target and
 * PSCI 0.2), a GICv3 at layout.h's addresses, one memory slot holding a
 * few instructions that write to MMIO, read from MMIO, write what they
 * read plus one, then call PSCI SYSTEM_OFF. Each exit is checked; the
 * exit status is 0 only when all of them came as expected. Also prints
 * the capabilities phase 2 relies on. Static aarch64 binary:
 *   make ARCH=arm64 kvm-smoke   (builds it and runs it in the machine) */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/arm64/arm64.h"

#define CODE_GPA ARM64_DRAM_START
#define CODE_SIZE 0x10000
#define MMIO_GPA ARM64_VIRTIO_START
#define READ_VALUE 0x1234
#define PSCI_SYSTEM_OFF 0x84000008

/* The A64 encodings the guest code uses (Arm ARM, C6.2). */
#define MOVZ_X(rd, imm16) (0xd2800000u | (uint32_t)(imm16) << 5 | (rd))
#define MOVK_X_LSL16(rd, imm16) (0xf2a00000u | (uint32_t)(imm16) << 5 | (rd))
#define STR_X(rt, rn, off) (0xf9000000u | (off) / 8 << 10 | (rn) << 5 | (rt))
#define LDR_X(rt, rn, off) (0xf9400000u | (off) / 8 << 10 | (rn) << 5 | (rt))
#define ADD_X_IMM(rd, rn, imm) (0x91000000u | (imm) << 10 | (rn) << 5 | (rd))
#define HVC_0 0xd4000002u
#define B_SELF 0x14000000u

static const uint32_t guest_code[] = {
	MOVZ_X(0, MMIO_GPA & 0xffff),
	MOVK_X_LSL16(0, MMIO_GPA >> 16), /* x0 = the MMIO address */
	MOVZ_X(1, 42),
	STR_X(1, 0, 0), /* exit: write 42 */
	LDR_X(2, 0, 8), /* exit: read, x2 = what the VMM answered */
	ADD_X_IMM(2, 2, 1),
	STR_X(2, 0, 16), /* exit: write it back, plus one */
	MOVZ_X(0, PSCI_SYSTEM_OFF & 0xffff),
	MOVK_X_LSL16(0, PSCI_SYSTEM_OFF >> 16),
	HVC_0, /* exit: PSCI SYSTEM_OFF */
	B_SELF,
};

static void die(const char *what)
{
	fprintf(stderr, "kvm-smoke: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "kvm-smoke: FAILED: %s\n", what);
		exit(1);
	}
	printf("kvm-smoke: ok: %s\n", what);
}

static void print_caps(int kvm, int vm)
{
	static const struct {
		const char *name;
		long cap;
	} caps[] = {
		{ "ARM_PSCI_0_2", KVM_CAP_ARM_PSCI_0_2 },
		{ "ARM_VM_IPA_SIZE", KVM_CAP_ARM_VM_IPA_SIZE },
		{ "ARM_PMU_V3", KVM_CAP_ARM_PMU_V3 },
		{ "ARM_SVE", KVM_CAP_ARM_SVE },
		{ "ARM_PTRAUTH_ADDRESS", KVM_CAP_ARM_PTRAUTH_ADDRESS },
		{ "ARM_EL1_32BIT", KVM_CAP_ARM_EL1_32BIT },
		{ "IRQFD", KVM_CAP_IRQFD },
		{ "IOEVENTFD", KVM_CAP_IOEVENTFD },
		{ "ONE_REG", KVM_CAP_ONE_REG },
		{ "MP_STATE", KVM_CAP_MP_STATE },
		{ "NR_VCPUS", KVM_CAP_NR_VCPUS },
		{ "MAX_VCPUS", KVM_CAP_MAX_VCPUS },
		{ "ARM_IRQ_LINE_LAYOUT_2", KVM_CAP_ARM_IRQ_LINE_LAYOUT_2 },
		{ "ARM_SYSTEM_SUSPEND", KVM_CAP_ARM_SYSTEM_SUSPEND },
	};

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		printf("kvm-smoke: KVM_CAP_%s = %d\n", caps[i].name,
		       ioctl(vm >= 0 ? vm : kvm, KVM_CHECK_EXTENSION,
			     caps[i].cap));
}

static void set_reg(int vcpu, uint64_t id, uint64_t value)
{
	struct kvm_one_reg reg = { .id = id, .addr = (uintptr_t)&value };

	if (ioctl(vcpu, KVM_SET_ONE_REG, &reg) < 0)
		die("KVM_SET_ONE_REG");
}

static void init_vcpu(int vm, int vcpu)
{
	struct kvm_vcpu_init init;
	struct kvm_reg_list probe = { .n = 0 };

	if (ioctl(vm, KVM_ARM_PREFERRED_TARGET, &init) < 0)
		die("KVM_ARM_PREFERRED_TARGET");
	printf("kvm-smoke: preferred target %u\n", init.target);
	init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
	if (ioctl(vcpu, KVM_ARM_VCPU_INIT, &init) < 0)
		die("KVM_ARM_VCPU_INIT");
	/* E2BIG with the number of registers KVM_GET_REG_LIST would name */
	if (ioctl(vcpu, KVM_GET_REG_LIST, &probe) < 0 && errno == E2BIG)
		printf("kvm-smoke: KVM_GET_REG_LIST names %llu registers\n",
		       (unsigned long long)probe.n);
	set_reg(vcpu,
		KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE |
			KVM_REG_ARM_CORE_REG(regs.pc),
		CODE_GPA);
}

static void set_gic_attr(int gic, uint32_t group, uint64_t attr,
			 const void *value, const char *what)
{
	struct kvm_device_attr a = { .group = group,
				     .attr = attr,
				     .addr = (uintptr_t)value };

	if (ioctl(gic, KVM_SET_DEVICE_ATTR, &a) < 0)
		die(what);
}

/* A GICv3 as phase 2 will make it: distributor and redistributors where
 * layout.h puts them, ARM64_GIC_NR_IRQS interrupts, then initialised. */
static void create_gic(int vm)
{
	struct kvm_create_device dev = { .type = KVM_DEV_TYPE_ARM_VGIC_V3 };
	struct kvm_create_device v2 = { .type = KVM_DEV_TYPE_ARM_VGIC_V2,
					.flags = KVM_CREATE_DEVICE_TEST };
	struct arm64_gic gic = arm64_gic_layout(ARM64_GICV3, 1);
	uint32_t nr_irqs = ARM64_GIC_NR_IRQS;

	printf("kvm-smoke: GICv2 emulation %s\n",
	       ioctl(vm, KVM_CREATE_DEVICE, &v2) == 0 ? "available" :
							"not available");
	if (ioctl(vm, KVM_CREATE_DEVICE, &dev) < 0)
		die("KVM_CREATE_DEVICE (GICv3)");
	set_gic_attr(dev.fd, KVM_DEV_ARM_VGIC_GRP_ADDR,
		     KVM_VGIC_V3_ADDR_TYPE_DIST, &gic.dist_base,
		     "GICv3 distributor address");
	set_gic_attr(dev.fd, KVM_DEV_ARM_VGIC_GRP_ADDR,
		     KVM_VGIC_V3_ADDR_TYPE_REDIST, &gic.cpu_base,
		     "GICv3 redistributor address");
	set_gic_attr(dev.fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs,
		     "GICv3 number of interrupts");
	set_gic_attr(dev.fd, KVM_DEV_ARM_VGIC_GRP_CTRL,
		     KVM_DEV_ARM_VGIC_CTRL_INIT, NULL, "GICv3 init");
	printf("kvm-smoke: GICv3 at %#llx (redistributors %#llx)\n",
	       (unsigned long long)gic.dist_base,
	       (unsigned long long)gic.cpu_base);
}

static void add_code_slot(int vm)
{
	void *mem = mmap(NULL, CODE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region slot = {
		.slot = 0,
		.guest_phys_addr = CODE_GPA,
		.memory_size = CODE_SIZE,
	};

	if (mem == MAP_FAILED)
		die("mmap guest memory");
	memcpy(mem, guest_code, sizeof(guest_code));
	slot.userspace_addr = (uintptr_t)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
}

static void run(int vcpu)
{
	if (ioctl(vcpu, KVM_RUN, 0) < 0)
		die("KVM_RUN");
}

static uint64_t mmio_value(const struct kvm_run *r)
{
	uint64_t v = 0;

	memcpy(&v, r->mmio.data, r->mmio.len);
	return v;
}

static void run_guest(int vcpu, struct kvm_run *r)
{
	uint64_t value = READ_VALUE;

	run(vcpu);
	check(r->exit_reason == KVM_EXIT_MMIO && r->mmio.is_write &&
		      r->mmio.phys_addr == MMIO_GPA && r->mmio.len == 8 &&
		      mmio_value(r) == 42,
	      "MMIO write of 42 at the device address");
	run(vcpu);
	check(r->exit_reason == KVM_EXIT_MMIO && !r->mmio.is_write &&
		      r->mmio.phys_addr == MMIO_GPA + 8 && r->mmio.len == 8,
	      "MMIO read of 8 bytes");
	memcpy(r->mmio.data, &value, sizeof(value));
	run(vcpu);
	check(r->exit_reason == KVM_EXIT_MMIO && r->mmio.is_write &&
		      r->mmio.phys_addr == MMIO_GPA + 16 &&
		      mmio_value(r) == READ_VALUE + 1,
	      "the guest wrote back what it read plus one");
	run(vcpu);
	check(r->exit_reason == KVM_EXIT_SYSTEM_EVENT &&
		      r->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN,
	      "PSCI SYSTEM_OFF ends in KVM_EXIT_SYSTEM_EVENT (shutdown)");
}

int main(void)
{
	int kvm, vm, vcpu;
	long run_size;
	struct kvm_run *r;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	check(ioctl(kvm, KVM_GET_API_VERSION, 0) == KVM_API_VERSION,
	      "KVM API version 12");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");
	print_caps(kvm, vm);
	add_code_slot(vm);
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU");
	init_vcpu(vm, vcpu);
	create_gic(vm);
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	r = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 vcpu, 0);
	if (r == MAP_FAILED)
		die("mmap kvm_run");
	run_guest(vcpu, r);
	printf("kvm-smoke: arm64 KVM works\n");
	return 0;
}

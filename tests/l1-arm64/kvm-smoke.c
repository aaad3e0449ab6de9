// SPDX-License-Identifier: Apache-2.0
/* Proves that /dev/kvm in the arm64 machine (tests/l1-arm64) runs guests,
 * and that vmm/arm64's device tree and Image loader boot a real Linux:
 *
 *   kvm-smoke              a VM with one vCPU (KVM_ARM_VCPU_INIT with the
 *     preferred target and PSCI 0.2), a GICv3 at layout.h's addresses, one
 *     memory slot holding a few instructions that write to MMIO, read from
 *     MMIO, write what they read plus one, write a virtio-mmio QueueNotify
 *     (4 bytes) that an ioeventfd takes with no exit to the VMM, then call
 *     PSCI SYSTEM_OFF. Each exit, and the eventfd's count, is checked. Also prints the capabilities phase 2 relies on.
 *   kvm-smoke IMAGE INITRD  boots an arm64 Linux Image with that initrd
 *     in 256 MiB, one vCPU, the device tree of vmm/arm64/fdt.c and a
 *     polled 8250 (console output only, no interrupts); passes when the
 *     guest powers off through PSCI (its init does), printing the time.
 *
 * Exit status 0 only when all went as expected. A test tool, not the VMM:
 * microvm's arm64 machine is phase 2 of issue 18. Static aarch64 binary:
 *   make ARCH=arm64 kvm-smoke   (builds both and runs them in the machine)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vmm/arm64/arm64.h"

#define CODE_GPA ARM64_DRAM_START
#define CODE_SIZE 0x10000
#define MMIO_GPA ARM64_VIRTIO_START
#define READ_VALUE 0x1234
#define PSCI_SYSTEM_OFF 0x84000008
#define QUEUE_NOTIFY 0x50 /* virtio-mmio's register, as virtio/mmio.c */
#define KICKED_QUEUE 1

/* The A64 encodings the guest code uses (Arm ARM, C6.2). */
#define MOVZ_X(rd, imm16) (0xd2800000u | (uint32_t)(imm16) << 5 | (rd))
#define MOVK_X_LSL16(rd, imm16) (0xf2a00000u | (uint32_t)(imm16) << 5 | (rd))
#define STR_X(rt, rn, off) (0xf9000000u | (off) / 8 << 10 | (rn) << 5 | (rt))
#define STR_W(rt, rn, off) (0xb9000000u | (off) / 4 << 10 | (rn) << 5 | (rt))
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
	MOVZ_X(3, KICKED_QUEUE),
	STR_W(3, 0, QUEUE_NOTIFY), /* no exit: the ioeventfd */
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

static uint64_t core_reg(size_t offset)
{
	return KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE |
	       offset / sizeof(uint32_t);
}

/* Initialises the vCPU (preferred target, PSCI 0.2) and returns its
 * MPIDR_EL1, which the device tree names. */
static uint64_t init_vcpu(int vm, int vcpu)
{
	struct kvm_vcpu_init init;
	struct kvm_reg_list probe = { .n = 0 };
	uint64_t mpidr;
	struct kvm_one_reg reg = { .id = ARM64_SYS_REG(3, 0, 0, 0, 5),
				   .addr = (uintptr_t)&mpidr };

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
	if (ioctl(vcpu, KVM_GET_ONE_REG, &reg) < 0)
		die("KVM_GET_ONE_REG MPIDR_EL1");
	printf("kvm-smoke: MPIDR_EL1 %#llx\n", (unsigned long long)mpidr);
	return mpidr;
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

/* Anonymous memory of `size` bytes as slot `slot` at `gpa`. */
static uint8_t *add_slot(int vm, uint32_t slot, uint64_t gpa, uint64_t size)
{
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct kvm_userspace_memory_region region = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
	};

	if (mem == MAP_FAILED)
		die("mmap guest memory");
	region.userspace_addr = (uintptr_t)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
	return mem;
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

/* An ioeventfd on the QueueNotify register for KICKED_QUEUE, as
 * virtio/mmio.c registers one per queue. */
static int add_ioeventfd(int vm)
{
	struct kvm_ioeventfd io = { .datamatch = KICKED_QUEUE,
				    .addr = MMIO_GPA + QUEUE_NOTIFY,
				    .len = 4,
				    .flags = KVM_IOEVENTFD_FLAG_DATAMATCH };

	io.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (io.fd < 0 || ioctl(vm, KVM_IOEVENTFD, &io) < 0)
		die("KVM_IOEVENTFD");
	return io.fd;
}

static void run_guest(int vcpu, int kick, struct kvm_run *r)
{
	uint64_t value = READ_VALUE, kicks = 0;

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
	      "the QueueNotify write made no exit; PSCI SYSTEM_OFF ends in KVM_EXIT_SYSTEM_EVENT (shutdown)");
	check(read(kick, &kicks, sizeof(kicks)) == sizeof(kicks) && kicks == 1,
	      "the ioeventfd counted the QueueNotify write once");
}

#define GUEST_RAM (256ULL << 20)
#define SERIAL_SPI 1
#define BOOT_ARGS "console=ttyS0 earlycon panic=-1 rdinit=/init"
/* What tests/l1-arm64/guest-init.c writes to the kernel log. */
#define INIT_MARK "kvm-smoke-init: running"
#define UART_LCR 3
#define UART_LSR 5
#define UART_LCR_DLAB 0x80
#define UART_LSR_IDLE 0x60 /* transmitter holding register and shift empty */

static uint8_t *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (!f || fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0)
		die(path);
	buf = malloc((size_t)len + 1);
	rewind(f);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len)
		die(path);
	fclose(f);
	*size = (size_t)len;
	return buf;
}

/* The 8250 as far as a polled console needs it: bytes written to THR are
 * the console (echoed and kept), LSR always says the transmitter is
 * empty, the other registers hold what was written. */
struct uart {
	uint8_t regs[8];
	char out[1 << 20];
	size_t len;
};

static void uart_access(struct uart *u, uint64_t off, struct kvm_run *r)
{
	bool thr = off == 0 && !(u->regs[UART_LCR] & UART_LCR_DLAB);

	if (r->mmio.is_write && thr) {
		putchar(r->mmio.data[0]);
		if (u->len < sizeof(u->out) - 1)
			u->out[u->len++] = (char)r->mmio.data[0];
	} else if (r->mmio.is_write) {
		u->regs[off] = r->mmio.data[0];
	} else {
		memset(r->mmio.data, 0, sizeof(r->mmio.data));
		r->mmio.data[0] = off == UART_LSR ? UART_LSR_IDLE :
				  thr		  ? 0 :
						    u->regs[off];
	}
}

/* Image, initrd and device tree in RAM, PC at the kernel, x0 = the dtb. */
static void load_linux(int vm, int vcpu, uint64_t mpidr, const char *image,
		       const char *initrd)
{
	static const struct arm64_mmio_dev serial = { ARM64_SERIAL_START,
						      ARM64_MMIO_LEN,
						      SERIAL_SPI };
	struct arm64_ram ram = { add_slot(vm, 0, ARM64_DRAM_START, GUEST_RAM),
				 ARM64_DRAM_START, GUEST_RAM };
	size_t image_size, initrd_size;
	uint8_t *image_buf = read_file(image, &image_size);
	uint8_t *initrd_buf = read_file(initrd, &initrd_size);
	struct arm64_kernel k;
	uint64_t fdt, initrd_gpa;
	struct arm64_machine m = {
		.mem_base = ram.gpa,
		.mem_size = ram.size,
		.nr_cpus = 1,
		.mpidrs = &mpidr,
		.gic = arm64_gic_layout(ARM64_GICV3, 1),
		.serial = &serial,
		.bootargs = BOOT_ARGS,
		.has_initrd = true,
	};

	check(arm64_load_image(&ram, image_buf, image_size, &k) == 0,
	      "the Image loads");
	check(arm64_place_boot_data(&ram, k.end, initrd_size, &fdt,
				    &initrd_gpa) == 0,
	      "initrd and device tree placed");
	memcpy(ram.host + (initrd_gpa - ram.gpa), initrd_buf, initrd_size);
	m.initrd_start = initrd_gpa;
	m.initrd_end = initrd_gpa + initrd_size;
	check(arm64_fdt_build(&m, ram.host + (fdt - ram.gpa),
			      ARM64_FDT_MAX_SIZE) == 0,
	      "device tree built");
	set_reg(vcpu, core_reg(offsetof(struct kvm_regs, regs.pc)), k.entry);
	set_reg(vcpu, core_reg(offsetof(struct kvm_regs, regs.regs[0])), fdt);
	printf("kvm-smoke: kernel at %#llx, device tree at %#llx, initrd at "
	       "%#llx\n",
	       (unsigned long long)k.entry, (unsigned long long)fdt,
	       (unsigned long long)initrd_gpa);
	free(image_buf);
	free(initrd_buf);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void boot_linux(int vm, int vcpu, struct kvm_run *r, uint64_t mpidr,
		       const char *image, const char *initrd)
{
	static struct uart uart;
	unsigned long other_mmio = 0;
	struct timespec t0;

	load_linux(vm, vcpu, mpidr, image, initrd);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		run(vcpu);
		if (r->exit_reason == KVM_EXIT_SYSTEM_EVENT)
			break;
		if (r->exit_reason != KVM_EXIT_MMIO) {
			fprintf(stderr, "kvm-smoke: exit reason %u\n",
				r->exit_reason);
			exit(1);
		}
		if (r->mmio.phys_addr - ARM64_SERIAL_START < 8) {
			uart_access(&uart,
				    r->mmio.phys_addr - ARM64_SERIAL_START, r);
		} else if (!r->mmio.is_write) { /* nothing else: reads 0 */
			memset(r->mmio.data, 0, sizeof(r->mmio.data));
			other_mmio++;
		}
	}
	printf("\nkvm-smoke: guest powered off after %.2f s (%lu other MMIO "
	       "reads)\n",
	       seconds_since(&t0), other_mmio);
	printf("kvm-smoke: system event type %u\n", r->system_event.type);
	check(r->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN,
	      "PSCI SYSTEM_OFF from the guest");
	check(strstr(uart.out, INIT_MARK) != NULL,
	      "the guest's init ran (its line on the console)");
}

/* The MMIO test: guest_code in a slot of its own. */
static void mmio_smoke(int vm, int vcpu, struct kvm_run *r)
{
	uint8_t *code = add_slot(vm, 0, CODE_GPA, CODE_SIZE);

	memcpy(code, guest_code, sizeof(guest_code));
	set_reg(vcpu, core_reg(offsetof(struct kvm_regs, regs.pc)), CODE_GPA);
	run_guest(vcpu, add_ioeventfd(vm), r);
	printf("kvm-smoke: arm64 KVM works\n");
}

int main(int argc, char **argv)
{
	int kvm, vm, vcpu;
	long run_size;
	struct kvm_run *r;
	uint64_t mpidr;

	if (argc != 1 && argc != 3) {
		fprintf(stderr, "usage: kvm-smoke [IMAGE INITRD]\n");
		return 2;
	}
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	check(ioctl(kvm, KVM_GET_API_VERSION, 0) == KVM_API_VERSION,
	      "KVM API version 12");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");
	print_caps(kvm, vm);
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU");
	mpidr = init_vcpu(vm, vcpu);
	create_gic(vm);
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	r = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 vcpu, 0);
	if (r == MAP_FAILED)
		die("mmap kvm_run");
	if (argc == 1)
		mmio_smoke(vm, vcpu, r);
	else
		boot_linux(vm, vcpu, r, mpidr, argv[1], argv[2]);
	return 0;
}

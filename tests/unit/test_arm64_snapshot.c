// SPDX-License-Identifier: Apache-2.0
/* The arm64 state file (snapshot/state_arm64.h): an encode/decode round
 * trip of registers, power states and GIC attributes, and a decoder that
 * refuses hostile vCPU and VM sections (counts past their arrays, register
 * ids that are not arm64's or too wide, power states, GIC groups and
 * offsets of either GIC version, an x86 file) with a message and no
 * partial state. Built for
 * aarch64 only (the sections are arm64's); runs under qemu-aarch64-static. */
#include <stdio.h>
#include <stdlib.h>

#include "snapshot/snapshot.h"
#include "tests/unit/unit.h"
#include "tests/unit/snapshot_sample.h"

#define SEC_VM 2
#define SEC_VCPU 3
#define TIMER_CTL KVM_REG_ARM_TIMER_CTL
#define CORE_PC                                                \
	(KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | \
	 offsetof(struct kvm_regs, regs.pc) / 4)
#define CORE_V0                                                 \
	(KVM_REG_ARM64 | KVM_REG_SIZE_U128 | KVM_REG_ARM_CORE | \
	 offsetof(struct kvm_regs, fp_regs.vregs[0]) / 4)

static void set_reg(struct snap_vcpu *v, uint64_t id, uint64_t value)
{
	struct snap_reg *r = &v->regs[v->nregs++];

	r->id = id;
	memcpy(r->value, &value, sizeof(value));
}

static void make_vcpu(struct snap_vcpu *v, unsigned index)
{
	memset(v, 0, sizeof(*v));
	v->index = index;
	v->mpidr = 0x80000000u | index;
	v->mp_state.mp_state = index ? KVM_MP_STATE_STOPPED :
				       KVM_MP_STATE_RUNNABLE;
	set_reg(v, CORE_PC, 0x80000000u + index);
	set_reg(v, CORE_V0, 0x1122334455667788u);
	set_reg(v, TIMER_CTL, 1);
	set_reg(v, KVM_REG_ARM_TIMER_CNT, 0x123456789u);
}

static void make_sample(struct sample *x, unsigned vcpus)
{
	unsigned i;

	memset(x, 0, sizeof(*x));
	x->s.config_json = strdup("{\"machine-config\":{}}");
	x->s.nr_vcpus = vcpus;
	x->s.vcpus = calloc(vcpus, sizeof(*x->s.vcpus));
	for (i = 0; i < vcpus; i++)
		make_vcpu(&x->s.vcpus[i], i);
	x->s.vm.gic_version = 3;
	x->s.vm.nr_irqs = 128;
	x->s.vm.nattrs = 3;
	x->s.vm.attrs[0] =
		(struct snap_gic_attr){ KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0,
					0x100 + 4, 0xc };
	x->s.vm.attrs[1] =
		(struct snap_gic_attr){ KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, 0,
					1ULL << 32 | 0x10100, 1 };
	x->s.vm.attrs[2] =
		(struct snap_gic_attr){ KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, 0,
					0xc664, 0x400ULL << 32 };
	x->s.serial.lcr = 3;
	assert_int_equal(snap_encode(&x->s, &x->buf, &x->len), 0);
}

static void test_round_trip(void **state)
{
	struct sample x;
	struct snap_state back;
	const struct snap_vcpu *v;
	char err[256] = "";
	uint64_t value;

	make_sample(&x, 2);
	assert_int_equal(snap_decode(x.buf, x.len, &back, err, sizeof(err)), 0);
	assert_int_equal(back.nr_vcpus, 2);
	v = snap_saved_vcpu(&back, 1);
	assert_non_null(v);
	assert_int_equal(v->nregs, 4);
	assert_int_equal(v->mpidr, 0x80000001u);
	assert_int_equal(v->mp_state.mp_state, KVM_MP_STATE_STOPPED);
	assert_int_equal(v->regs[1].id, CORE_V0);
	memcpy(&value, v->regs[3].value, sizeof(value));
	assert_int_equal(value, 0x123456789u);
	assert_int_equal(back.vm.nattrs, 3);
	assert_int_equal(back.vm.attrs[2].value, 0x400ULL << 32);
	assert_int_equal(back.vm.nr_irqs, 128);
	snap_state_free(&back);
	free_sample(&x);
}

/* An x86 state file names its architecture; an arm64 microvm refuses it
 * before reading a section. */
static void test_x86_file_refused(void **state)
{
	struct sample x;

	make_sample(&x, 1);
	x.buf[12] = 62; /* EM_X86_64 */
	expect_refused(x.buf, x.len,
		       "architecture 62 (x86_64), this microvm is aarch64");
	free_sample(&x);
}

/* The sample (vCPU 0) with v as a second vCPU section. */
static void expect_vcpu_refused(const struct snap_vcpu *v, const char *why)
{
	struct sample x;
	uint8_t *b;
	size_t n;

	make_sample(&x, 1);
	b = with_section(&x, SEC_VCPU, sizeof(*v), v, &n);
	expect_refused(b, n, why);
	free(b);
	free_sample(&x);
}

static void test_hostile_vcpu(void **state)
{
	static struct snap_vcpu v;

	make_vcpu(&v, 1);
	v.nregs = 0;
	expect_vcpu_refused(&v, "vCPU 1 has 0 registers (1 to 1024)");
	v.nregs = SNAP_MAX_REGS + 1;
	expect_vcpu_refused(&v, "vCPU 1 has 1025 registers");
	v.nregs = 0xffffffffu;
	expect_vcpu_refused(&v, "vCPU 1 has 4294967295 registers");
	make_vcpu(&v, 1);
	v.regs[2].id = 0x6030000000100042ULL & ~KVM_REG_ARCH_MASK; /* no arch */
	expect_vcpu_refused(&v, "register id 0x30000000100042 is not an arm64");
	make_vcpu(&v, 1);
	v.regs[2].id = KVM_REG_ARM64 | KVM_REG_SIZE_U2048 | KVM_REG_ARM64_SVE;
	expect_vcpu_refused(&v, "not an arm64 register of at most 16 bytes");
	make_vcpu(&v, 1);
	v.regs[0].id = KVM_REG_ARM64 | KVM_REG_SIZE_U64 |
		       0x00420000; /* coproc */
	expect_vcpu_refused(&v, "register id 0x6030000000420000");
	make_vcpu(&v, 1);
	v.regs[0].id = KVM_REG_X86 | KVM_REG_SIZE_U64;
	expect_vcpu_refused(&v, "is not an arm64 register");
	make_vcpu(&v, 1);
	v.mp_state.mp_state = 77;
	expect_vcpu_refused(&v, "vCPU 1: power state 77");
	make_vcpu(&v, 40);
	expect_vcpu_refused(&v, "vCPU index 40");
}

/* The sample with vm as its VM section. */
static void expect_vm_refused(const struct snap_vm *vm, const char *why)
{
	struct sample x;

	make_sample(&x, 1);
	x.s.vm = *vm;
	free(x.buf);
	assert_int_equal(snap_encode(&x.s, &x.buf, &x.len), 0);
	expect_refused(x.buf, x.len, why);
	free_sample(&x);
}

static void test_hostile_vm(void **state)
{
	struct sample x;
	static struct snap_vm vm;

	make_sample(&x, 1);
	vm = x.s.vm;
	vm.nattrs = SNAP_MAX_GIC_ATTRS + 1;
	expect_vm_refused(&vm, "2049 GIC registers (limit 2048)");
	vm.nattrs = 0xffffffffu;
	expect_vm_refused(&vm, "4294967295 GIC registers");
	vm = x.s.vm;
	vm.gic_version = 4;
	expect_vm_refused(&vm, "GICv4 with 128 interrupts");
	vm = x.s.vm;
	vm.gic_version = 2; /* a redistributor is GICv3's */
	expect_vm_refused(&vm, "GIC register 1 (group 5, attribute");
	vm = x.s.vm;
	vm.nr_irqs = 100;
	expect_vm_refused(&vm, "GICv3 with 100 interrupts");
	vm = x.s.vm;
	vm.attrs[1].group = KVM_DEV_ARM_VGIC_GRP_CTRL; /* not a register */
	expect_vm_refused(&vm, "GIC register 1 (group 4, attribute");
	vm = x.s.vm;
	vm.attrs[0].group = KVM_DEV_ARM_VGIC_GRP_ITS_REGS;
	expect_vm_refused(&vm, "is not one a snapshot sets");
	vm = x.s.vm;
	vm.attrs[0].attr = 0x10000; /* past the distributor's frame */
	expect_vm_refused(&vm, "GIC register 0 (group 1, attribute 0x10000");
	vm = x.s.vm;
	vm.attrs[0].attr = 1ULL << 32 | 0x100; /* a distributor has no MPIDR */
	expect_vm_refused(&vm, "is not one a snapshot sets");
	vm = x.s.vm;
	vm.attrs[0].value = 1ULL << 32; /* a 32-bit register */
	expect_vm_refused(&vm, "value 0x100000000");
	vm = x.s.vm;
	vm.attrs[1].attr = 0x20000; /* past a redistributor's two frames */
	expect_vm_refused(&vm, "GIC register 1");
	vm = x.s.vm;
	vm.attrs[2].attr = 0x1c664; /* not a system register encoding */
	expect_vm_refused(&vm, "GIC register 2");
	free_sample(&x);
}

/* A GICv2 VM's list: the distributor's registers (banked ones with the
 * vCPU's index) and the CPU interface's, decoded as saved; a vCPU past
 * the GICv2's eight, an offset past its 4 KiB frames, a 64-bit value and
 * GICv3's groups are refused. */
static void test_gicv2(void **state)
{
	static const struct snap_gic_attr v2[] = {
		{ KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0, 0x008, 0x0200143b },
		{ KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0, 1ULL << 32 | 0xf20, 2 },
		{ KVM_DEV_ARM_VGIC_GRP_CPU_REGS, 0, 7ULL << 32 | 0xd0, 1 },
	};
	struct sample x;
	struct snap_state back;
	static struct snap_vm vm;
	char err[256] = "";

	make_sample(&x, 1);
	x.s.vm.gic_version = 2;
	x.s.vm.nattrs = ARRAY_SIZE(v2);
	memcpy(x.s.vm.attrs, v2, sizeof(v2));
	free(x.buf);
	assert_int_equal(snap_encode(&x.s, &x.buf, &x.len), 0);
	assert_int_equal(snap_decode(x.buf, x.len, &back, err, sizeof(err)), 0);
	assert_int_equal(back.vm.gic_version, 2);
	assert_int_equal(back.vm.nattrs, ARRAY_SIZE(v2));
	assert_memory_equal(back.vm.attrs, v2, sizeof(v2));
	snap_state_free(&back);

	vm = x.s.vm;
	vm.attrs[1].attr = 8ULL << 32 | 0xf20; /* a ninth vCPU */
	expect_vm_refused(&vm, "GIC register 1 (group 1, attribute 0x8000");
	vm = x.s.vm;
	vm.attrs[2].attr = 0x1000; /* past the CPU interface's frame */
	expect_vm_refused(&vm, "GIC register 2 (group 2, attribute 0x1000");
	vm = x.s.vm;
	vm.attrs[0].value = 1ULL << 32;
	expect_vm_refused(&vm, "value 0x100000000");
	vm = x.s.vm;
	vm.attrs[2].group = KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS;
	expect_vm_refused(&vm, "GIC register 2 (group 6, attribute");
	vm = x.s.vm;
	vm.attrs[0].group = KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO;
	expect_vm_refused(&vm, "is not one a snapshot sets");
	free_sample(&x);
}

/* Any single flipped byte, anywhere: refused or decoded, never a crash;
 * whatever decodes passed the section checks. */
static void test_every_flipped_byte(void **state)
{
	struct sample x;
	uint8_t *b;
	size_t i;

	make_sample(&x, 2);
	b = malloc(x.len);
	for (i = 32; i < x.len; i += 61) {
		struct snap_state s;
		char err[256];

		memcpy(b, x.buf, x.len);
		b[i] ^= 0xa5;
		reseal(b, x.len);
		if (!snap_decode(b, x.len, &s, err, sizeof(err))) {
			unsigned k;

			for (k = 0; k < s.nr_vcpus; k++)
				assert_true(s.vcpus[k].nregs <= SNAP_MAX_REGS);
			assert_true(s.vm.nattrs <= SNAP_MAX_GIC_ATTRS);
			snap_state_free(&s);
		}
	}
	free(b);
	free_sample(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_x86_file_refused),
		cmocka_unit_test(test_hostile_vcpu),
		cmocka_unit_test(test_hostile_vm),
		cmocka_unit_test(test_gicv2),
		cmocka_unit_test(test_every_flipped_byte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: Apache-2.0
/* CPUID normalisation on a synthetic "supported" table, and what
 * cpuid_get_supported adds on the real /dev/kvm. */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tests/unit/unit.h"

static struct kvm_cpuid2 *make_table(void)
{
	static const struct kvm_cpuid_entry2 base[] = {
		{ .function = 1, .ebx = 0xff00abcd, .ecx = 0, .edx = 0 },
		{ .function = 4, .index = 0, .eax = 0xfc004121 }, /* L1d */
		{ .function = 4, .index = 3, .eax = 0xfc03c163 }, /* L3 */
		{ .function = 4, .index = 4, .eax = 0 },
		{ .function = 0xa, .eax = 0x07300805, .edx = 0x603 },
		{ .function = 0xb, .index = 0 },
		{ .function = 0xb, .index = 1 },
		{ .function = 0xb, .index = 2, .eax = 9, .ebx = 9 },
		{ .function = 0x40000001, .eax = 0xffffffff },
		{ .function = 0x80000007, .edx = 0x100 }, /* invariant TSC */
		{ .function = 0x80000008, .ebx = 0 },
	};
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + sizeof(base));

	c->nent = ARRAY_SIZE(base);
	memcpy(c->entries, base, sizeof(base));
	return c;
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t fn,
				     uint32_t index)
{
	unsigned i;

	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn &&
		    c->entries[i].index == index)
			return &c->entries[i];
	return NULL;
}

static void test_apic_id_and_counts(void **state)
{
	struct kvm_cpuid2 *c = make_table();
	struct cpu_topology t = { .index = 5, .nr_vcpus = 6 };
	struct kvm_cpuid_entry2 *e;

	cpuid_normalize(c, &t);
	e = find(c, 1, 0);
	assert_int_equal(e->ebx >> 24, 5);
	assert_int_equal((e->ebx >> 16) & 0xff, 6);
	assert_int_equal(e->ebx & 0xffff, 0xabcd); /* brand/clflush kept */
	assert_true(e->ecx & (1u << 31)); /* hypervisor */
	assert_true(e->edx & (1u << 28)); /* HTT: more than one CPU */
	e = find(c, 0xb, 0);
	assert_int_equal(e->edx, 5); /* x2APIC id */
	assert_int_equal(e->eax, 0); /* no SMT: no thread bits */
	assert_int_equal(e->ebx, 1);
	assert_int_equal((e->ecx >> 8) & 0xff, 1);
	e = find(c, 0xb, 1);
	assert_int_equal(e->eax, 3); /* 6 CPUs need 3 bits */
	assert_int_equal(e->ebx, 6);
	assert_int_equal((e->ecx >> 8) & 0xff, 2);
	e = find(c, 0xb, 2);
	assert_int_equal(e->eax, 0);
	assert_int_equal(e->ebx, 0);
	assert_int_equal((e->ecx >> 8) & 0xff, 0); /* invalid level */
	e = find(c, 4, 0);
	assert_int_equal(e->eax >> 26, 5); /* cores per package - 1 */
	assert_int_equal((e->eax >> 14) & 0xfff, 0); /* L1 private */
	e = find(c, 4, 3);
	assert_int_equal((e->eax >> 14) & 0xfff, 5); /* L3 shared by all */
	assert_int_equal(find(c, 4, 4)->eax, 0); /* end marker untouched */
	free(c);
}

static void test_smt_and_single(void **state)
{
	struct kvm_cpuid2 *c = make_table();
	struct cpu_topology t = { .index = 0, .nr_vcpus = 1 };

	cpuid_normalize(c, &t);
	assert_false(find(c, 1, 0)->edx & (1u << 28));
	free(c);
	c = make_table();
	t = (struct cpu_topology){ .index = 3, .nr_vcpus = 4, .smt = true };
	cpuid_normalize(c, &t);
	assert_int_equal(find(c, 0xb, 0)->eax, 1);
	assert_int_equal(find(c, 0xb, 0)->ebx, 2);
	assert_int_equal(find(c, 4, 0)->eax >> 26, 1); /* 2 cores */
	assert_int_equal((find(c, 4, 0)->eax >> 14) & 0xfff, 1);
	free(c);
}

static void test_hypervisor_leaves(void **state)
{
	struct kvm_cpuid2 *c = make_table();
	struct cpu_topology t = { .index = 0, .nr_vcpus = 2 };
	uint32_t kvm;

	cpuid_normalize(c, &t);
	kvm = find(c, 0x40000001, 0)->eax;
	assert_false(kvm & (1u << 7)); /* PV_UNHALT */
	assert_false(kvm & (1u << 11)); /* PV_SEND_IPI */
	assert_false(kvm & (1u << 13)); /* PV_SCHED_YIELD */
	assert_true(kvm & (1u << 3)); /* others (e.g. clocksource2) kept */
	assert_true(find(c, 0x80000008, 0)->ebx & (1u << 2)); /* XSAVEERPTR */
	assert_int_equal(find(c, 0x80000007, 0)->edx, 0); /* no invariant TSC */
	assert_int_equal(find(c, 0xa, 0)->eax, 0); /* no PMU */
	free(c);
}

static struct kvm_cpuid2 *one_leaf(uint32_t fn, uint32_t index, uint32_t ebx,
				   uint32_t ecx)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + sizeof(c->entries[0]));

	c->nent = 1;
	c->entries[0] = (struct kvm_cpuid_entry2){
		.function = fn, .index = index, .ebx = ebx, .ecx = ecx
	};
	return c;
}

static void test_features_subset(void **state)
{
	struct kvm_cpuid2 *have = make_table(), *want;
	char err[200] = "";

	assert_true(cpuid_features_subset(have, have, err, sizeof(err)));
	/* leaf 7 is absent from `have`: any feature there is missing */
	want = one_leaf(7, 0, 0x20, 0);
	assert_false(cpuid_features_subset(want, have, err, sizeof(err)));
	assert_non_null(strstr(err, "CPUID leaf 0x7.0 EBX bits 0x20"));
	free(want);
	/* leaf 1 ECX: a missing feature (bit 0, SSE3) is refused; OSXSAVE
	 * (bit 27) follows the guest's CR4 and is not compared */
	want = one_leaf(1, 0, 0, 1u << 27);
	assert_true(cpuid_features_subset(want, have, err, sizeof(err)));
	free(want);
	want = one_leaf(1, 0, 0, 1u << 0);
	assert_false(cpuid_features_subset(want, have, err, sizeof(err)));
	assert_non_null(strstr(err, "0x1.0 ECX bits 0x1"));
	free(want);
	/* the same leaf with another index is another word */
	want = one_leaf(7, 1, 0x20, 0);
	assert_true(cpuid_features_subset(want, have, err, sizeof(err)));
	free(want);
	free(have);
}

static void test_same_but_dynamic_bits(void **state)
{
	struct kvm_cpuid2 *a = make_table(), *b = make_table();

	assert_true(cpuid_same(a, b));
	find(b, 1, 0)->ecx |= 1u << 27; /* OSXSAVE: the guest's CR4 */
	find(b, 1, 0)->edx |= 1u << 9; /* APIC: its APIC base MSR */
	assert_true(cpuid_same(a, b));
	find(b, 0x80000008, 0)->ebx ^= 1; /* a real difference */
	assert_false(cpuid_same(a, b));
	find(b, 0x80000008, 0)->ebx ^= 1;
	b->nent--;
	assert_false(cpuid_same(a, b));
	free(a);
	free(b);
}

/* On the real /dev/kvm: the TSC-deadline timer is offered whenever KVM
 * says it emulates it (KVM leaves it out of its supported list). */
static void test_supported_has_tsc_deadline(void **state)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	struct kvm_cpuid2 *c;
	bool emulated;

	if (kvm < 0)
		skip();
	emulated = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) >
		   0;
	c = cpuid_get_supported(kvm);
	assert_non_null(c);
	if (emulated)
		assert_true(find(c, 1, 0)->ecx & (1u << 24));
	free(c);
	close(kvm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apic_id_and_counts),
		cmocka_unit_test(test_smt_and_single),
		cmocka_unit_test(test_hypervisor_leaves),
		cmocka_unit_test(test_features_subset),
		cmocka_unit_test(test_same_but_dynamic_bits),
		cmocka_unit_test(test_supported_has_tsc_deadline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

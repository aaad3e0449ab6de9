// SPDX-License-Identifier: Apache-2.0
/* CPUID for a vCPU: what KVM supports, normalised in one place (APIC ids,
 * topology, hypervisor leaves, features this machine's KVM cannot honour).
 * A CPU template changes the supported CPUID before it (vmm/cpu_template.h). */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "vmm/vmm.h"

#define CPUID_MAX_ENTRIES 256

#define LEAF1_ECX_HYPERVISOR (1u << 31)
#define LEAF1_ECX_TSC_DEADLINE (1u << 24)
#define LEAF1_EDX_HTT (1u << 28)
#define KVM_FEATURE_PV_UNHALT (1u << 7)
#define KVM_FEATURE_PV_SEND_IPI (1u << 11)
#define KVM_FEATURE_PV_SCHED_YIELD (1u << 13)
#define EXT7_EDX_INVARIANT_TSC (1u << 8)
#define EXT8_EBX_XSAVEERPTR (1u << 2)
#define LEVEL_TYPE_SMT 1
#define LEVEL_TYPE_CORE 2

enum { EAX, EBX, ECX, EDX };

/* Bits KVM rewrites at run time from the vCPU's own state: OSXSAVE and
 * APIC in leaf 1, OSPKE in leaf 7, the XSAVE area sizes in leaf 0xd. */
static uint32_t dynamic_bits(uint32_t function, uint32_t index, unsigned reg)
{
	if (function == 1)
		return reg == ECX ? 1u << 27 : reg == EDX ? 1u << 9 : 0;
	if (function == 7 && index == 0)
		return reg == ECX ? 1u << 4 : 0;
	if (function == 0xd && index <= 1)
		return reg == EBX ? ~0u : 0;
	return 0;
}

static void entry_regs(const struct kvm_cpuid_entry2 *e, uint32_t regs[4])
{
	regs[EAX] = e->eax;
	regs[EBX] = e->ebx;
	regs[ECX] = e->ecx;
	regs[EDX] = e->edx;
}

/* The words of feature flags a guest may rely on. */
static const struct feature_word {
	uint32_t function, index;
	unsigned reg;
} feature_words[] = {
	{ 1, 0, ECX },		{ 1, 0, EDX },		{ 7, 0, EBX },
	{ 7, 0, ECX },		{ 7, 0, EDX },		{ 7, 1, EAX },
	{ 0xd, 1, EAX },	{ 0x40000001, 0, EAX }, { 0x80000001, 0, ECX },
	{ 0x80000001, 0, EDX }, { 0x80000007, 0, EDX }, { 0x80000008, 0, EBX },
};

static uint32_t feature_bits(const struct kvm_cpuid2 *c,
			     const struct feature_word *w)
{
	unsigned i;

	for (i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		uint32_t regs[4];

		entry_regs(e, regs);
		if (e->function == w->function && e->index == w->index)
			return regs[w->reg] &
			       ~dynamic_bits(w->function, w->index, w->reg);
	}
	return 0;
}

bool cpuid_same(const struct kvm_cpuid2 *a, const struct kvm_cpuid2 *b)
{
	unsigned i, r;

	if (a->nent != b->nent)
		return false;
	for (i = 0; i < a->nent; i++) {
		const struct kvm_cpuid_entry2 *x = &a->entries[i];
		const struct kvm_cpuid_entry2 *y = &b->entries[i];
		uint32_t rx[4], ry[4];

		if (x->function != y->function || x->index != y->index ||
		    x->flags != y->flags)
			return false;
		entry_regs(x, rx);
		entry_regs(y, ry);
		for (r = 0; r < 4; r++)
			if ((rx[r] ^ ry[r]) &
			    ~dynamic_bits(x->function, x->index, r))
				return false;
	}
	return true;
}

bool cpuid_features_subset(const struct kvm_cpuid2 *want,
			   const struct kvm_cpuid2 *have, char *err,
			   size_t err_size)
{
	static const char reg_names[4][4] = { "EAX", "EBX", "ECX", "EDX" };
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(feature_words); i++) {
		const struct feature_word *w = &feature_words[i];
		uint32_t missing = feature_bits(want, w) &
				   ~feature_bits(have, w);

		if (missing) {
			snprintf(
				err, err_size,
				"CPUID leaf 0x%x.%u %s bits 0x%x are not offered by this host's KVM",
				w->function, w->index, reg_names[w->reg],
				missing);
			return false;
		}
	}
	return true;
}

static struct kvm_cpuid2 *cpuid_query(int fd, unsigned long request)
{
	struct kvm_cpuid2 *c = calloc(
		1, sizeof(*c) + CPUID_MAX_ENTRIES * sizeof(c->entries[0]));

	if (!c)
		return NULL;
	c->nent = CPUID_MAX_ENTRIES;
	if (ioctl(fd, request, c) < 0) {
		free(c);
		return NULL;
	}
	return c;
}

/* KVM emulates the TSC-deadline timer but leaves it out of
 * KVM_GET_SUPPORTED_CPUID: a VMM advertises it when the capability says so.
 * Without it a Linux guest needs the PIT to calibrate and run its local
 * APIC timer. */
static void add_tsc_deadline(int kvm_fd, struct kvm_cpuid2 *c)
{
	unsigned i;

	if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) <= 0)
		return;
	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == 1)
			c->entries[i].ecx |= LEAF1_ECX_TSC_DEADLINE;
}

struct kvm_cpuid2 *cpuid_get_supported(int kvm_fd)
{
	struct kvm_cpuid2 *c = cpuid_query(kvm_fd, KVM_GET_SUPPORTED_CPUID);

	if (c)
		add_tsc_deadline(kvm_fd, c);
	return c;
}

struct kvm_cpuid2 *cpuid_get_vcpu(int vcpu_fd)
{
	return cpuid_query(vcpu_fd, KVM_GET_CPUID2);
}

static unsigned order_base_2(unsigned n)
{
	unsigned order = 0;

	while ((1u << order) < n)
		order++;
	return order;
}

static void set_leaf1(struct kvm_cpuid_entry2 *e, const struct cpu_topology *t)
{
	unsigned logical = t->nr_vcpus > 1 ? t->nr_vcpus : 1;

	e->ebx = (e->ebx & 0x0000ffffu) | (t->index << 24) |
		 ((logical > 255 ? 255 : logical) << 16);
	e->ecx |= LEAF1_ECX_HYPERVISOR;
	if (t->nr_vcpus > 1)
		e->edx |= LEAF1_EDX_HTT;
	else
		e->edx &= ~LEAF1_EDX_HTT;
}

/* Deterministic cache parameters: cores sharing a package. */
static void set_leaf4(struct kvm_cpuid_entry2 *e, const struct cpu_topology *t)
{
	unsigned threads = t->smt ? 2 : 1;
	unsigned cores = (t->nr_vcpus + threads - 1) / threads;
	unsigned level = (e->eax >> 5) & 7;
	unsigned sharing = level >= 3 ? t->nr_vcpus : threads;

	if ((e->eax & 0x1f) == 0) /* no more caches */
		return;
	e->eax &= 0x3ff;
	e->eax |= ((sharing - 1) & 0xfff) << 14;
	e->eax |= ((cores - 1) & 0x3f) << 26;
}

/* Extended topology: SMT level then core level, x2APIC id in EDX. */
static void set_leaf_b(struct kvm_cpuid_entry2 *e, const struct cpu_topology *t)
{
	unsigned threads = t->smt ? 2 : 1;

	e->edx = t->index;
	switch (e->index) {
	case 0:
		e->eax = t->smt ? 1 : 0;
		e->ebx = threads;
		e->ecx = (LEVEL_TYPE_SMT << 8) | e->index;
		break;
	case 1:
		e->eax = order_base_2(t->nr_vcpus);
		e->ebx = t->nr_vcpus;
		e->ecx = (LEVEL_TYPE_CORE << 8) | e->index;
		break;
	default:
		e->eax = e->ebx = 0;
		e->ecx = e->index;
		break;
	}
}

void cpuid_normalize(struct kvm_cpuid2 *cpuid, const struct cpu_topology *t)
{
	unsigned i;

	for (i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		switch (e->function) {
		case 1:
			set_leaf1(e, t);
			break;
		case 4:
			set_leaf4(e, t);
			break;
		case 0xa: /* no PMU */
			e->eax = e->ebx = e->ecx = e->edx = 0;
			break;
		case 0xb:
		case 0x1f:
			set_leaf_b(e, t);
			break;
		case 0x40000001: /* hypercalls this KVM may not serve */
			e->eax &= ~(KVM_FEATURE_PV_UNHALT |
				    KVM_FEATURE_PV_SEND_IPI |
				    KVM_FEATURE_PV_SCHED_YIELD);
			break;
		case 0x80000007:
			/* Without an invariant TSC, Linux keeps kvm-clock as its
			 * clocksource, which a snapshot load restores exactly;
			 * a guest on the TSC sees every jump of it (where KVM
			 * cannot offset the TSC, as on kvm_pvm, the wall time
			 * since the snapshot). QEMU hides it by default too. */
			e->edx &= ~EXT7_EDX_INVARIANT_TSC;
			break;
		case 0x80000008:
			e->ebx |= EXT8_EBX_XSAVEERPTR;
			break;
		default:
			break;
		}
	}
}

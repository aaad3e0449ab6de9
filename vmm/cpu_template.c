// SPDX-License-Identifier: Apache-2.0
/* CPU templates on this host (cpu_template.h): whether a static template
 * fits its CPU, Firecracker's KVM capability check, and a template applied
 * to KVM's CPUID and to the vCPUs' MSRs. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/cpu_template.h"

static int fail(int ret, char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(int ret, char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return ret;
}

/* The hosts a static template is for: CPUID leaf 0's vendor and leaf 1's
 * family/model/stepping (Firecracker's cpu_model.rs). */
/* extended family and model, family, model, stepping */
#define SIGNATURE_MASK 0x0fff0fffu
#define SKYLAKE 0x00050654u
#define CASCADE_LAKE 0x00050657u
#define ICE_LAKE 0x000606a6u
#define MILAN 0x00a00f11u
static const struct static_host {
	const char *vendor;
	uint32_t models[4]; /* 0-terminated */
} static_hosts[] = {
	[CPU_TEMPLATE_C3] = { "GenuineIntel",
			      { SKYLAKE, CASCADE_LAKE, ICE_LAKE } },
	[CPU_TEMPLATE_T2] = { "GenuineIntel",
			      { SKYLAKE, CASCADE_LAKE, ICE_LAKE } },
	[CPU_TEMPLATE_T2S] = { "GenuineIntel", { SKYLAKE, CASCADE_LAKE } },
	[CPU_TEMPLATE_T2CL] = { "GenuineIntel", { CASCADE_LAKE, ICE_LAKE } },
	[CPU_TEMPLATE_T2A] = { "AuthenticAMD", { MILAN } },
};

/* ---- the host: vendor, model, KVM capabilities ---- */

/* The index of CPUID entry function.index in c, or -1. */
static int entry_index(const struct kvm_cpuid2 *c, uint32_t function,
		       uint32_t index)
{
	unsigned i;

	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == function &&
		    c->entries[i].index == index)
			return (int)i;
	return -1;
}

static bool model_fits(const struct static_host *h, uint32_t signature)
{
	unsigned i;

	for (i = 0; h->models[i]; i++)
		if (h->models[i] == signature)
			return true;
	return false;
}

int cpu_template_check_host(const struct cpu_template *t,
			    const struct kvm_cpuid2 *supported, char *err,
			    size_t err_size)
{
	int i0 = entry_index(supported, 0, 0),
	    i1 = entry_index(supported, 1, 0);
	const char *name = cpu_template_name(t->kind);
	const struct static_host *h;
	char vendor[13];
	uint32_t signature;

	if (t->kind == CPU_TEMPLATE_NONE || t->kind == CPU_TEMPLATE_CUSTOM)
		return 0;
	h = &static_hosts[t->kind];
	if (i0 < 0 || i1 < 0)
		return fail(
			-ENOTSUP, err, err_size,
			"Failed to get CPU template: Failed to get CPU vendor information: KVM's CPUID has no leaf %s",
			i0 < 0 ? "0" : "1");
	memcpy(vendor, &supported->entries[i0].ebx, 4);
	memcpy(vendor + 4, &supported->entries[i0].edx, 4);
	memcpy(vendor + 8, &supported->entries[i0].ecx, 4);
	vendor[12] = '\0';
	if (strcmp(vendor, h->vendor))
		return fail(
			-ENOTSUP, err, err_size,
			"Failed to get CPU template: CPU vendor mismatched between actual CPU and CPU template. (%s is for %s hosts; this one is %s)",
			name, h->vendor, vendor);
	signature = supported->entries[i1].eax & SIGNATURE_MASK;
	if (!model_fits(h, signature))
		return fail(
			-ENOTSUP, err, err_size,
			"Failed to get CPU template: The current CPU model is not permitted to apply the CPU template. (%s; CPUID signature 0x%x)",
			name, signature);
	if (t->kind == CPU_TEMPLATE_C3 && signature == SKYLAKE)
		log_warn(
			"On processors that do not enumerate FBSDP_NO, PSDP_NO and SBDR_SSDP_NO on IA32_ARCH_CAPABILITIES MSR, the guest kernel does not apply the mitigation against MMIO stale data vulnerability.");
	return 0;
}

/* Firecracker checks these on every x86 host (arch/x86_64/kvm.rs). */
static const uint32_t default_caps[] = {
	KVM_CAP_IRQCHIP,     KVM_CAP_IOEVENTFD,	   KVM_CAP_IRQFD,
	KVM_CAP_USER_MEMORY, KVM_CAP_SET_TSS_ADDR, KVM_CAP_PIT2,
	KVM_CAP_PIT_STATE2,  KVM_CAP_ADJUST_CLOCK, KVM_CAP_DEBUGREGS,
	KVM_CAP_MP_STATE,    KVM_CAP_VCPU_EVENTS,  KVM_CAP_XCRS,
	KVM_CAP_XSAVE,	     KVM_CAP_EXT_CPUID,
};

/* The default list with the template's additions and removals, as
 * Firecracker combines them (a removal moves the last one in its place). */
static unsigned combine_caps(const struct cpu_template *t, uint32_t *caps)
{
	unsigned n = ARRAY_SIZE(default_caps), i, j;

	memcpy(caps, default_caps, sizeof(default_caps));
	for (i = 0; t && i < t->nr_caps; i++) {
		for (j = 0; j < n && caps[j] != t->caps[i].cap; j++)
			;
		if (t->caps[i].remove && j < n)
			caps[j] = caps[--n];
		else if (!t->caps[i].remove && j == n)
			caps[n++] = t->caps[i].cap;
	}
	return n;
}

int cpu_template_check_kvm(const struct cpu_template *t, int kvm_fd, char *err,
			   size_t err_size)
{
	uint32_t caps[ARRAY_SIZE(default_caps) + CPU_TEMPLATE_MAX_CAPS];
	unsigned n = combine_caps(t, caps), i;

	for (i = 0; i < n; i++)
		if (ioctl(kvm_fd, KVM_CHECK_EXTENSION,
			  (unsigned long)caps[i]) <= 0)
			return fail(
				-ENOTSUP, err, err_size,
				"Missing KVM capabilities: 0x%x (KVM_CHECK_EXTENSION %u says this KVM lacks it)",
				caps[i], caps[i]);
	return 0;
}

/* ---- applying a template ---- */

static void apply_register(uint32_t *reg, uint32_t filter, uint32_t value)
{
	*reg = (*reg & ~filter) | value;
}

static void apply_leaf(struct kvm_cpuid_entry2 *e,
		       const struct cpuid_leaf_modifier *l)
{
	e->flags = l->flags;
	apply_register(&e->eax, l->filter[CPUID_EAX], l->value[CPUID_EAX]);
	apply_register(&e->ebx, l->filter[CPUID_EBX], l->value[CPUID_EBX]);
	apply_register(&e->ecx, l->filter[CPUID_ECX], l->value[CPUID_ECX]);
	apply_register(&e->edx, l->filter[CPUID_EDX], l->value[CPUID_EDX]);
}

int cpu_template_apply_cpuid(const struct cpu_template *t,
			     struct kvm_cpuid2 *cpuid, char *err,
			     size_t err_size)
{
	unsigned i;

	for (i = 0; i < t->nr_leaves; i++) {
		const struct cpuid_leaf_modifier *l = &t->leaves[i];
		int at = entry_index(cpuid, l->leaf, l->subleaf);

		if (at < 0)
			return fail(
				-ENOENT, err, err_size,
				"Template changes a CPUID entry not supported by KVM: Leaf: %x, Subleaf: %x",
				l->leaf, l->subleaf);
		apply_leaf(&cpuid->entries[at], l);
	}
	return 0;
}

int cpu_template_apply_msrs(const struct cpu_template *t,
			    struct kvm_msr_entry *msrs, unsigned n, char *err,
			    size_t err_size)
{
	unsigned i, j;

	for (i = 0; i < t->nr_msrs; i++) {
		const struct msr_modifier *m = &t->msrs[i];

		for (j = 0; j < n && msrs[j].index != m->addr; j++)
			;
		if (j == n)
			return fail(
				-ENOENT, err, err_size,
				"Template changes an MSR entry not supported by KVM: Register Address: %x",
				m->addr);
		msrs[j].data = (msrs[j].data & ~m->filter) | m->value;
	}
	return 0;
}

/* The template's MSR addresses, each once, in their order. */
static unsigned msr_addresses(const struct cpu_template *t,
			      struct kvm_msr_entry *out)
{
	unsigned i, j, n = 0;

	for (i = 0; i < t->nr_msrs; i++) {
		for (j = 0; j < n && out[j].index != t->msrs[i].addr; j++)
			;
		if (j == n)
			out[n++] = (struct kvm_msr_entry){
				.index = t->msrs[i].addr
			};
	}
	return n;
}

int cpu_template_read_msrs(const struct cpu_template *t, int vcpu_fd,
			   struct kvm_msr_entry *out, unsigned *n, char *err,
			   size_t err_size)
{
	struct kvm_msrs *msrs =
		calloc(1, sizeof(*msrs) + CPU_TEMPLATE_MAX_MSRS * sizeof(*out));
	int got, ret = 0;

	if (!msrs)
		return -ENOMEM;
	msrs->nmsrs = msr_addresses(t, msrs->entries);
	got = msrs->nmsrs ? ioctl(vcpu_fd, KVM_GET_MSRS, msrs) : 0;
	if (got < 0)
		ret = fail(-errno, err, err_size, "KVM_GET_MSRS: %s",
			   strerror(errno));
	else if ((unsigned)got < msrs->nmsrs)
		ret = fail(-EIO, err, err_size,
			   "Failed to get KVM vcpu msr: 0x%x",
			   msrs->entries[got].index);
	if (!ret) {
		*n = msrs->nmsrs;
		memcpy(out, msrs->entries, *n * sizeof(*out));
		ret = cpu_template_apply_msrs(t, out, *n, err, err_size);
	}
	free(msrs);
	return ret;
}

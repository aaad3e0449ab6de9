/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CPU templates on this host (cpu_template.c); the model is config/'s
 * (config/cpu_template.h). (To be folded into vmm/vmm.h.)
 *
 * Order, as Firecracker's: check the host (vendor, model) and KVM's
 * capabilities; apply the CPUID modifiers to KVM's supported CPUID, then
 * normalise per vCPU (cpuid_normalize, which wins where both write); set it
 * on every vCPU; read the template's MSRs from each vCPU (vcpu_create: its
 * own values, as fresh vCPUs have; Firecracker reads vCPU 0's), apply the
 * MSR modifiers, and set them before the boot MSRs (which win).
 */
#ifndef MICROVM_VMM_CPU_TEMPLATE_H
#define MICROVM_VMM_CPU_TEMPLATE_H

#include "config/cpu_template.h"
#include "vmm/vmm.h"

struct kvm_cpuid2;
struct kvm_msr_entry;

/* A static template's host check, from KVM's supported CPUID (leaf 0's
 * vendor, leaf 1's family/model/stepping, which KVM passes through from
 * the host): -ENOTSUP with Firecracker's message when the vendor or the
 * CPU model does not fit. Custom templates and None always fit. */
MUST_CHECK int cpu_template_check_host(const struct cpu_template *t,
				       const struct kvm_cpuid2 *supported,
				       char *err, size_t err_size);
/* Firecracker's KVM capability check: its default list, plus and minus the
 * template's modifiers (t may be NULL), each KVM_CHECK_EXTENSION'd on
 * kvm_fd. -ENOTSUP naming the first missing one. */
MUST_CHECK int cpu_template_check_kvm(const struct cpu_template *t, int kvm_fd,
				      char *err, size_t err_size);

/* Applies the CPUID modifiers to a CPUID table (KVM's supported one, before
 * cpuid_normalize): each sets its leaf's flags and bits. -ENOENT when a
 * modifier names a leaf.subleaf the table lacks. */
MUST_CHECK int cpu_template_apply_cpuid(const struct cpu_template *t,
					struct kvm_cpuid2 *cpuid, char *err,
					size_t err_size);
/* Applies the MSR modifiers to msrs (each template MSR's current value);
 * -ENOENT when one of the template's MSRs is not among them. */
MUST_CHECK int cpu_template_apply_msrs(const struct cpu_template *t,
				       struct kvm_msr_entry *msrs, unsigned n,
				       char *err, size_t err_size);
/* The MSR values to set on every vCPU: the template's MSRs read from
 * vcpu_fd (whose CPUID is set: KVM reads CPUID-dependent MSRs as 0
 * before) with the modifiers applied. out has room for
 * CPU_TEMPLATE_MAX_MSRS; *n is how many (one per address). -EIO naming the
 * MSR KVM cannot read. */
MUST_CHECK int cpu_template_read_msrs(const struct cpu_template *t, int vcpu_fd,
				      struct kvm_msr_entry *out, unsigned *n,
				      char *err, size_t err_size);

#endif

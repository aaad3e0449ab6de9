/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CPU templates as configuration (cpu_template.c), Firecracker's: what the
 * guest's CPUID and MSRs show, changed bit by bit from what the host's KVM
 * offers. config/config.h includes it (struct vm_config keeps one).
 * Applying one is vmm/'s (vmm/cpu_template.h).
 *
 * - One model serves the static templates (C3, T2, T2S, T2CL for Intel
 *   hosts, T2A for AMD hosts; PUT /machine-config "cpu_template") and the
 *   custom ones (PUT /cpu-config, the config file's "cpu-config"): CPUID
 *   leaf modifiers, MSR modifiers and KVM capabilities to check. The last
 *   one configured wins, as in Firecracker.
 * - A bitmap is Firecracker's "0b" string of '0', '1' and 'x' (leave the
 *   host's bit), most significant bit first; here it is a filter (the bits
 *   the template sets) and a value (what it sets them to). A register
 *   becomes (host & ~filter) | value: a template may set a bit the host
 *   lacks, as Firecracker lets it (KVM may quietly refuse some).
 * - x86_64 only: Firecracker's aarch64 templates (V1N1; reg_modifiers and
 *   vcpu_features) are another model, not in microvm. On arm64 a
 *   cpu_template other than None and any cpu-config are refused where they
 *   are configured (cpu_template_arch_check), with a 400.
 */
#ifndef MICROVM_CONFIG_CPU_TEMPLATE_H
#define MICROVM_CONFIG_CPU_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

struct cJSON;
struct config_err;

/* Limits on a custom template (a 400 on more). KVM's CPUID has at most 256
 * entries, and Firecracker reads at most 256 MSRs in one KVM_GET_MSRS. */
#define CPU_TEMPLATE_MAX_LEAVES 256
#define CPU_TEMPLATE_MAX_MSRS 256
#define CPU_TEMPLATE_MAX_CAPS 64

enum cpu_template_kind {
	CPU_TEMPLATE_NONE,
	CPU_TEMPLATE_C3,
	CPU_TEMPLATE_T2,
	CPU_TEMPLATE_T2S,
	CPU_TEMPLATE_T2CL,
	CPU_TEMPLATE_T2A,
	CPU_TEMPLATE_CUSTOM,
};

enum cpuid_register { CPUID_EAX, CPUID_EBX, CPUID_ECX, CPUID_EDX };

/* One CPUID leaf.subleaf: its KVM flags and a filter/value per register
 * (filter 0: the register is left alone). Several modifiers of one
 * register in a leaf are folded into one, applied in their order. */
struct cpuid_leaf_modifier {
	uint32_t leaf, subleaf, flags;
	uint32_t filter[4], value[4]; /* by enum cpuid_register */
};

struct msr_modifier {
	uint32_t addr;
	uint64_t filter, value;
};

/* "171": check KVM_CHECK_EXTENSION(171) too; "!172": do not check 172
 * (one of Firecracker's default list, cpu_template_check_kvm). */
struct kvm_cap_modifier {
	uint32_t cap;
	bool remove;
};

struct cpu_template {
	enum cpu_template_kind kind;
	unsigned nr_leaves, nr_msrs, nr_caps;
	struct cpuid_leaf_modifier leaves[CPU_TEMPLATE_MAX_LEAVES];
	struct msr_modifier msrs[CPU_TEMPLATE_MAX_MSRS];
	struct kvm_cap_modifier caps[CPU_TEMPLATE_MAX_CAPS];
};

/* "None", "C3", "T2", "T2S", "T2CL", "T2A" (and "Custom"). */
const char *cpu_template_name(enum cpu_template_kind kind);
/* The static template (or None) named exactly so; -EINVAL otherwise. */
MUST_CHECK int cpu_template_from_name(const char *name,
				      enum cpu_template_kind *kind);
/* Fills t with a static template's modifiers; -EINVAL for None/Custom. */
MUST_CHECK int cpu_template_get_static(enum cpu_template_kind kind,
				       struct cpu_template *t);

/* 0 on x86_64; on arm64 -EINVAL with e saying "<what>: CPU templates are
 * x86_64's" and why. */
MUST_CHECK int cpu_template_arch_check(const char *what, struct config_err *e);

/* A custom template from a PUT /cpu-config body (or the config file's
 * "cpu-config" object): refused on arm64, else every field checked; on
 * error -EINVAL and err names the field and what is wrong with it
 * (config_err, as every resource's parser). */
MUST_CHECK int cpu_template_parse(const struct cJSON *j, struct cpu_template *t,
				  struct config_err *e);

/* Snapshots: the applied template in a compact little-endian form (kept in
 * the state file, checked again on load). cpu_template_encoded_size is
 * how many bytes cpu_template_encode writes. */
size_t cpu_template_encoded_size(const struct cpu_template *t);
void cpu_template_encode(const struct cpu_template *t, uint8_t *buf);
/* Decodes untrusted bytes; -EINVAL with e set when they are not one
 * whole, valid encoding. */
MUST_CHECK int cpu_template_decode(const uint8_t *buf, size_t len,
				   struct cpu_template *t,
				   struct config_err *e);

#endif

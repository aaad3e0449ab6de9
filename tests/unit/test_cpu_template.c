// SPDX-License-Identifier: Apache-2.0
/* CPU templates: the static ones applied to Intel-like and AMD-like CPUID
 * tables give Firecracker's bits, the host checks, the custom template's
 * JSON (accepted forms and every rejection), applying and encoding; on a
 * real /dev/kvm (L1), the capability check and the template's MSRs. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tests/unit/unit.h"
#include "vmm/cpu_template.h"

enum { EAX, EBX, ECX, EDX };

static struct cpu_template t;
static char err[512];
static struct config_err ce;

/* What each static template does, as filter/value pairs transcribed from
 * Firecracker's static_cpu_templates/{t2,t2s,t2cl,c3,t2a}.rs (binary literals there, the
 * custom-template bitmaps in cpu_template.c): a second, independent
 * transcription of the same facts. */
struct expect {
	uint32_t leaf, subleaf;
	unsigned reg;
	uint32_t filter, value;
};
#define END                   \
	{                     \
		0, 0, 0, 0, 0 \
	}
static const struct expect t2_common[] = {
	{ 0x1, 0, EAX, 0x0fff3fff, 0x000306f2 },
	{ 0x1, 0, ECX, 0x0004cdfc, 0 },
	{ 0x1, 0, EDX, 0xe8641080, 0x00001080 },
	{ 0x7, 0, EBX, 0xffefda14, 0x00000200 },
	{ 0x7, 0, ECX, 0x40415f5e, 0 },
	{ 0x7, 0, EDX, 0x0000011c, 0 },
	{ 0xd, 0, EAX, 0x000002f8, 0 },
	{ 0xd, 1, EAX, 0x0000000e, 0 },
	END,
};
static const struct expect t2_ext[] = {
	/* T2 and T2S */
	{ 0x80000001, 0, ECX, 0x20000100, 0 },
	{ 0x80000001, 0, EDX, 0x04000000, 0 },
	{ 0x80000008, 0, EBX, 0x00000200, 0 },
	END,
};
static const struct expect t2cl_ext[] = {
	{ 0x80000001, 0, ECX, 0x200001c0, 0 },
	{ 0x80000001, 0, EDX, 0x07c00000, 0 },
	{ 0x80000008, 0, EBX, 0x00000200, 0 },
	END,
};
static const struct expect t2a_ext[] = {
	{ 0x80000001, 0, ECX, 0x200001c4, 0 },
	{ 0x80000001, 0, EDX, 0x06400000, 0 },
	{ 0x80000008, 0, EBX, 0x001c0205, 0x001c0004 },
	END,
};
static const struct expect c3_all[] = {
	{ 0x1, 0, EAX, 0x0fff3fff, 0x000306e4 },
	{ 0x1, 0, ECX, 0x0040dd3c, 0 },
	{ 0x1, 0, EDX, 0xa8641080, 0x00001080 },
	{ 0x7, 0, EBX, 0xffafdd3c, 0 },
	{ 0x7, 0, ECX, 0x4041481e, 0 },
	{ 0x7, 0, EDX, 0x0000000c, 0 },
	{ 0xd, 0, EAX, 0x000002f8, 0 },
	{ 0xd, 1, EAX, 0x0000000e, 0 },
	{ 0x80000001, 0, ECX, 0x00000120, 0 },
	{ 0x80000001, 0, EDX, 0x04000000, 0 },
	END,
};

#define INTEL_EBX 0x756e6547 /* "Genu" */
#define INTEL_EDX 0x49656e69 /* "ineI" */
#define INTEL_ECX 0x6c65746e /* "ntel" */
#define AMD_EBX 0x68747541 /* "Auth" */
#define AMD_EDX 0x69746e65 /* "enti" */
#define AMD_ECX 0x444d4163 /* "cAMD" */
#define CASCADE_LAKE 0x00050657
#define SKYLAKE 0x00050654
#define ICE_LAKE 0x000606a6
#define MILAN 0x00a00f11
#define TURIN 0x00b00f21 /* this machine's EPYC (family 0x1a) */

/* A KVM-like supported CPUID: vendor, signature, and the leaves the
 * templates touch with every other bit `fill`. */
static struct kvm_cpuid2 *host(bool intel, uint32_t signature, uint32_t fill)
{
	static const uint32_t leaves[][2] = {
		{ 0x1, 0 }, { 0x7, 0 },	       { 0xd, 0 },
		{ 0xd, 1 }, { 0x80000001, 0 }, { 0x80000008, 0 },
	};
	unsigned n = ARRAY_SIZE(leaves) + 1, i;
	struct kvm_cpuid2 *c =
		calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

	c->nent = n;
	c->entries[0] = (struct kvm_cpuid_entry2){
		.function = 0,
		.eax = 0xd,
		.ebx = intel ? INTEL_EBX : AMD_EBX,
		.ecx = intel ? INTEL_ECX : AMD_ECX,
		.edx = intel ? INTEL_EDX : AMD_EDX,
	};
	for (i = 0; i < ARRAY_SIZE(leaves); i++)
		c->entries[i + 1] = (struct kvm_cpuid_entry2){
			.function = leaves[i][0],
			.index = leaves[i][1],
			.eax = fill,
			.ebx = fill,
			.ecx = fill,
			.edx = fill,
		};
	c->entries[1].eax = signature;
	return c;
}

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, unsigned reg)
{
	uint32_t *regs[] = { &e->eax, &e->ebx, &e->ecx, &e->edx };

	return regs[reg];
}

/* The register as the expectations say the template leaves it. */
static uint32_t expected(const struct expect *const *lists, uint32_t leaf,
			 uint32_t subleaf, unsigned reg, uint32_t before)
{
	const struct expect *x;

	for (; *lists; lists++)
		for (x = *lists; x->filter; x++)
			if (x->leaf == leaf && x->subleaf == subleaf &&
			    x->reg == reg)
				before = (before & ~x->filter) | x->value;
	return before;
}

/* Applies kind to a host table filled with ones, then with zeros: every
 * register of every leaf is what the expectations say, no more. */
static void check_static(enum cpu_template_kind kind, bool intel,
			 uint32_t signature, const struct expect *const *lists)
{
	static const uint32_t fills[] = { 0xffffffff, 0 };
	unsigned f, i, r;

	assert_int_equal(cpu_template_get_static(kind, &t), 0);
	assert_int_equal(t.kind, kind);
	for (f = 0; f < ARRAY_SIZE(fills); f++) {
		struct kvm_cpuid2 *c = host(intel, signature, fills[f]);
		struct kvm_cpuid2 *before = host(intel, signature, fills[f]);

		assert_int_equal(
			cpu_template_check_host(&t, c, err, sizeof(err)), 0);
		assert_int_equal(
			cpu_template_apply_cpuid(&t, c, err, sizeof(err)), 0);
		for (i = 0; i < c->nent; i++)
			for (r = EAX; r <= EDX; r++) {
				struct kvm_cpuid_entry2 *e = &c->entries[i];
				uint32_t want = expected(
					lists, e->function, e->index, r,
					*reg_of(&before->entries[i], r));

				if (*reg_of(e, r) != want)
					fail_msg(
						"%s leaf 0x%x.%u reg %u: 0x%x, expected 0x%x",
						cpu_template_name(kind),
						e->function, e->index, r,
						*reg_of(e, r), want);
			}
		/* leaves 7 and 0xd get KVM_CPUID_FLAG_SIGNIFCANT_INDEX */
		assert_int_equal(c->entries[2].flags, 1);
		assert_int_equal(c->entries[4].flags, 1);
		assert_int_equal(c->entries[1].flags, 0);
		free(c);
		free(before);
	}
}

static void test_static_templates_bits(void **state)
{
	const struct expect *t2[] = { t2_common, t2_ext, NULL };
	const struct expect *t2cl[] = { t2_common, t2cl_ext, NULL };
	const struct expect *t2a[] = { t2_common, t2a_ext, NULL };
	const struct expect *c3[] = { c3_all, NULL };

	check_static(CPU_TEMPLATE_T2, true, CASCADE_LAKE, t2);
	check_static(CPU_TEMPLATE_T2S, true, CASCADE_LAKE, t2);
	check_static(CPU_TEMPLATE_T2CL, true, CASCADE_LAKE, t2cl);
	check_static(CPU_TEMPLATE_C3, true, SKYLAKE, c3);
	check_static(CPU_TEMPLATE_T2A, false, MILAN, t2a);
}

/* A few of those bits by name, on a host that has every feature. */
static void test_static_templates_named_bits(void **state)
{
	struct kvm_cpuid2 *c = host(true, CASCADE_LAKE, 0xffffffff);

	assert_int_equal(cpu_template_get_static(CPU_TEMPLATE_T2, &t), 0);
	assert_int_equal(cpu_template_apply_cpuid(&t, c, err, sizeof(err)), 0);
	/* family 6, model 0x3f, stepping 2 */
	assert_int_equal(c->entries[1].eax & 0x0fff3fff, 0x000306f2);
	assert_false(c->entries[1].ecx & (1u << 5)); /* VMX */
	assert_true(c->entries[1].ecx & (1u << 28)); /* AVX kept */
	assert_false(c->entries[2].ebx & (1u << 16)); /* AVX512F */
	assert_true(c->entries[2].ebx & (1u << 5)); /* AVX2 kept */
	assert_false(c->entries[5].edx & (1u << 26)); /* 1 GiB pages */
	free(c);
	c = host(false, MILAN, 0);
	assert_int_equal(cpu_template_get_static(CPU_TEMPLATE_T2A, &t), 0);
	assert_int_equal(cpu_template_apply_cpuid(&t, c, err, sizeof(err)), 0);
	/* T2A sets RstrFpErrPtrs and IbrsPreferred/SameMode/EferLmsle */
	assert_int_equal(c->entries[6].ebx, 0x001c0004);
	assert_int_equal(c->entries[1].edx,
			 (1u << 7) | (1u << 12)); /* MCE, MTRR */
	free(c);
}

static void test_static_msrs(void **state)
{
	struct kvm_msr_entry m = { .index = 0x10a, .data = 0xffffffffffffffff };

	/* T2S: IA32_ARCH_CAPABILITIES whole, whatever the host has */
	assert_int_equal(cpu_template_get_static(CPU_TEMPLATE_T2S, &t), 0);
	assert_int_equal(t.nr_msrs, 1);
	assert_int_equal(cpu_template_apply_msrs(&t, &m, 1, err, sizeof(err)),
			 0);
	assert_int_equal(m.data, 0x0c0a0c4c);
	m.data = 0;
	assert_int_equal(cpu_template_apply_msrs(&t, &m, 1, err, sizeof(err)),
			 0);
	assert_int_equal(m.data, 0x0c0a0c4c);
	/* T2CL: the mitigation bits KVM passes through stay, the rest go */
	assert_int_equal(cpu_template_get_static(CPU_TEMPLATE_T2CL, &t), 0);
	m.data = 0xffffffffffffffff;
	assert_int_equal(cpu_template_apply_msrs(&t, &m, 1, err, sizeof(err)),
			 0);
	assert_int_equal(m.data, 0x1d0ae1ff);
	/* T2, C3 and T2A leave MSRs alone */
	assert_int_equal(cpu_template_get_static(CPU_TEMPLATE_T2, &t), 0);
	assert_int_equal(t.nr_msrs, 0);
	assert_int_equal(cpu_template_get_static(CPU_TEMPLATE_C3, &t), 0);
	assert_int_equal(t.nr_msrs, 0);
	assert_int_equal(cpu_template_get_static(CPU_TEMPLATE_T2A, &t), 0);
	assert_int_equal(t.nr_msrs, 0);
	assert_int_equal(cpu_template_get_static(CPU_TEMPLATE_NONE, &t),
			 -EINVAL);
}

static void test_names(void **state)
{
	enum cpu_template_kind k;

	assert_int_equal(cpu_template_from_name("T2CL", &k), 0);
	assert_int_equal(k, CPU_TEMPLATE_T2CL);
	assert_int_equal(cpu_template_from_name("None", &k), 0);
	assert_int_equal(k, CPU_TEMPLATE_NONE);
	assert_int_equal(cpu_template_from_name("C3", &k), 0);
	assert_int_equal(k, CPU_TEMPLATE_C3);
	assert_int_equal(cpu_template_from_name("t2", &k), -EINVAL);
	assert_int_equal(cpu_template_from_name("V1N1", &k), -EINVAL);
	assert_int_equal(cpu_template_from_name("Custom", &k), -EINVAL);
	assert_string_equal(cpu_template_name(CPU_TEMPLATE_T2A), "T2A");
}

static void refused_on(enum cpu_template_kind kind, bool intel,
		       uint32_t signature, const char *needle)
{
	struct kvm_cpuid2 *c = host(intel, signature, 0);

	assert_int_equal(cpu_template_get_static(kind, &t), 0);
	assert_int_equal(cpu_template_check_host(&t, c, err, sizeof(err)),
			 -ENOTSUP);
	if (!strstr(err, needle))
		fail_msg("%s: '%s' lacks '%s'", cpu_template_name(kind), err,
			 needle);
	free(c);
}

static void accepted_on(enum cpu_template_kind kind, bool intel,
			uint32_t signature)
{
	struct kvm_cpuid2 *c = host(intel, signature, 0);

	assert_int_equal(cpu_template_get_static(kind, &t), 0);
	assert_int_equal(cpu_template_check_host(&t, c, err, sizeof(err)), 0);
	free(c);
}

#define VENDOR "CPU vendor mismatched between actual CPU and CPU template."
#define MODEL \
	"The current CPU model is not permitted to apply the CPU template."

static void test_vendor_and_model(void **state)
{
	struct kvm_cpuid2 *c;

	refused_on(CPU_TEMPLATE_T2, false, MILAN, VENDOR);
	refused_on(CPU_TEMPLATE_T2S, false, MILAN, VENDOR);
	refused_on(CPU_TEMPLATE_T2CL, false, MILAN, VENDOR);
	refused_on(CPU_TEMPLATE_C3, false, MILAN, "C3 is for GenuineIntel");
	refused_on(CPU_TEMPLATE_T2A, true, CASCADE_LAKE,
		   "T2A is for AuthenticAMD hosts; this one is GenuineIntel");
	/* the models Firecracker lists for each */
	accepted_on(CPU_TEMPLATE_T2, true, SKYLAKE);
	accepted_on(CPU_TEMPLATE_T2, true, ICE_LAKE);
	accepted_on(CPU_TEMPLATE_T2S, true, SKYLAKE);
	refused_on(CPU_TEMPLATE_T2S, true, ICE_LAKE, MODEL);
	refused_on(CPU_TEMPLATE_T2CL, true, SKYLAKE, MODEL);
	accepted_on(CPU_TEMPLATE_T2CL, true, ICE_LAKE);
	accepted_on(CPU_TEMPLATE_C3, true, ICE_LAKE);
	refused_on(CPU_TEMPLATE_T2A, false, TURIN, "signature 0xb00f21");
	/* the processor type bits (13:12) are not part of the model */
	accepted_on(CPU_TEMPLATE_T2CL, true, CASCADE_LAKE | 0x1000);
	/* custom templates and None fit any host */
	c = host(false, TURIN, 0);
	t = (struct cpu_template){ .kind = CPU_TEMPLATE_CUSTOM };
	assert_int_equal(cpu_template_check_host(&t, c, err, sizeof(err)), 0);
	t.kind = CPU_TEMPLATE_NONE;
	assert_int_equal(cpu_template_check_host(&t, c, err, sizeof(err)), 0);
	/* no vendor leaf: refused, not read past the table */
	assert_int_equal(cpu_template_get_static(CPU_TEMPLATE_T2A, &t), 0);
	c->entries[0].function = 0x42;
	assert_int_equal(cpu_template_check_host(&t, c, err, sizeof(err)),
			 -ENOTSUP);
	assert_non_null(strstr(err, "no leaf 0"));
	free(c);
}

static int parse(const char *json)
{
	cJSON *j = cJSON_Parse(json);
	int ret;

	assert_non_null(j);
	ret = cpu_template_parse(j, &t, &ce);
	snprintf(err, sizeof(err), "%s", ce.msg);
	cJSON_Delete(j);
	return ret;
}

/* Firecracker's docs/cpu_templates/cpu-templates.md example. */
static void test_parse_documented_example(void **state)
{
	struct kvm_cpuid2 *c = host(true, 0xdeadbeef, 0x12345678);

	assert_int_equal(
		parse("{\"kvm_capabilities\": [\"!56\"],"
		      " \"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\","
		      "  \"flags\": 0, \"modifiers\": [{\"register\": \"eax\","
		      "  \"bitmap\": \"0bxxxx000000000011xx00011011110010\"}]}],"
		      " \"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\":"
		      "  \"0b0000000000000000000000000000000000000000000000000000000000000000\"}]}"),
		0);
	assert_int_equal(t.kind, CPU_TEMPLATE_CUSTOM);
	assert_int_equal(t.nr_caps, 1);
	assert_int_equal(t.caps[0].cap, 56);
	assert_true(t.caps[0].remove);
	assert_int_equal(t.nr_leaves, 1);
	assert_int_equal(t.leaves[0].filter[EAX], 0x0fff3fff);
	assert_int_equal(t.leaves[0].value[EAX], 0x000306f2);
	assert_int_equal(t.leaves[0].filter[EBX], 0);
	assert_int_equal(t.nr_msrs, 1);
	assert_int_equal(t.msrs[0].addr, 0x10a);
	assert_true(t.msrs[0].filter == ~0ull && t.msrs[0].value == 0);
	/* x bits keep the host's: 0xdeadbeef's top nibble and bits 15:14 */
	assert_int_equal(cpu_template_apply_cpuid(&t, c, err, sizeof(err)), 0);
	assert_int_equal(c->entries[1].eax, 0xd00386f2);
	assert_int_equal(c->entries[1].ebx, 0x12345678); /* not named */
	free(c);
}

static void test_parse_forms(void **state)
{
	assert_int_equal(parse("{}"), 0);
	assert_int_equal(t.nr_leaves + t.nr_msrs + t.nr_caps, 0);
	/* a contracted bitmap: the missing high bits are x; '_' separates;
	 * "0b" may be left out; leaf and subleaf in binary or hex */
	assert_int_equal(
		parse("{\"cpuid_modifiers\": [{\"leaf\": \"0b111\", \"subleaf\": \"0xA\","
		      " \"flags\": 1, \"modifiers\": ["
		      " {\"register\": \"ebx\", \"bitmap\": \"0b1_0_1\"},"
		      " {\"register\": \"ecx\", \"bitmap\": \"1x0\"}]}]}"),
		0);
	assert_int_equal(t.leaves[0].leaf, 7);
	assert_int_equal(t.leaves[0].subleaf, 10);
	assert_int_equal(t.leaves[0].flags, 1);
	assert_int_equal(t.leaves[0].filter[EBX], 0x7);
	assert_int_equal(t.leaves[0].value[EBX], 0x5);
	assert_int_equal(t.leaves[0].filter[ECX], 0x5);
	assert_int_equal(t.leaves[0].value[ECX], 0x4);
	/* two modifiers of one register apply in their order */
	assert_int_equal(
		parse("{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\","
		      " \"flags\": 0, \"modifiers\": ["
		      " {\"register\": \"eax\", \"bitmap\": \"0b11x\"},"
		      " {\"register\": \"eax\", \"bitmap\": \"0b0x\"}]}]}"),
		0);
	assert_int_equal(t.leaves[0].filter[EAX], 0x6);
	assert_int_equal(t.leaves[0].value[EAX], 0x4);
	/* capabilities: decimal, "!" removes; unknown keys inside ignored */
	assert_int_equal(
		parse("{\"kvm_capabilities\": [\"171\", \"!172\", \"4294967295\"],"
		      " \"msr_modifiers\": [{\"addr\": \"0xc0000080\", \"bitmap\": \"0b1\","
		      " \"comment\": \"EFER.SCE\"}]}"),
		0);
	assert_int_equal(t.nr_caps, 3);
	assert_true(t.caps[0].cap == 171 && !t.caps[0].remove);
	assert_true(t.caps[1].cap == 172 && t.caps[1].remove);
	assert_int_equal(t.caps[2].cap, 4294967295u);
	assert_int_equal(t.msrs[0].addr, 0xc0000080);
	assert_true(t.msrs[0].filter == 1 && t.msrs[0].value == 1);
}

static void rejects(const char *json, const char *needle)
{
	assert_int_equal(parse(json), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("for %s: message '%s' lacks '%s'", json, err, needle);
}

#define LEAF(fields) "{\"cpuid_modifiers\": [{" fields "}]}"
#define OK_LEAF "\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0, "
#define REG(r, b)                                                           \
	LEAF(OK_LEAF "\"modifiers\": [{\"register\": " r ", \"bitmap\": " b \
		     "}]")
#define MSR(a, b) "{\"msr_modifiers\": [{\"addr\": " a ", \"bitmap\": " b "}]}"
#define X32 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

static void test_parse_rejections(void **state)
{
	rejects("[]", "cpu-config: expected a JSON object");
	rejects("{\"vcpu_features\": [{\"index\": 0, \"bitmap\": \"0b1\"}]}",
		"'vcpu_features' is for aarch64 hosts");
	rejects("{\"reg_modifiers\": []}", "'reg_modifiers' is for aarch64");
	rejects("{\"cpu_template\": \"T2\"}", "unknown field 'cpu_template'");
	rejects("{\"cpuid_modifiers\": {}}",
		"cpuid_modifiers: expected an array");
	rejects("{\"cpuid_modifiers\": [1]}",
		"cpuid_modifiers[0]: expected an object");
	rejects(LEAF("\"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": []"),
		"cpuid_modifiers[0]: missing 'leaf'");
	rejects(LEAF("\"leaf\": 1, \"subleaf\": \"0x0\""),
		"cpuid_modifiers[0].leaf: expected a string");
	rejects(LEAF("\"leaf\": \"1\""),
		"cpuid_modifiers[0].leaf: No supported number system prefix found in value [1]");
	rejects(LEAF("\"leaf\": \"0x1g\""),
		"[0x1g] as a number for CPU template - invalid digit");
	rejects(LEAF("\"leaf\": \"0x-1\""), "invalid digit");
	rejects(LEAF("\"leaf\": \"0x100000000\""), "number too large");
	rejects(LEAF("\"leaf\": \"0b\""), "empty string");
	rejects(LEAF("\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"modifiers\": []"),
		"missing 'flags'");
	rejects(LEAF("\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": -1"),
		"flags: expected an integer");
	rejects(LEAF("\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 1.5"),
		"flags: expected an integer");
	rejects(LEAF("\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 4294967296"),
		"flags: expected an integer");
	rejects(LEAF("\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": \"0\""),
		"flags: expected an integer");
	rejects(LEAF(OK_LEAF "\"x\": 1"),
		"cpuid_modifiers[0]: missing 'modifiers'");
	rejects(REG("\"EAX\"", "\"0b1\""),
		"modifiers[0].register: Invalid CPUID register. Must be one of [eax, ebx, ecx, edx]");
	rejects(REG("\"esi\"", "\"0b1\""), "Invalid CPUID register");
	rejects(REG("\"eax\"", "\"0bx" X32 "\""),
		"as a bitmap - string is too long");
	/* Firecracker counts a leading '_' past the 32 digits as too long */
	rejects(REG("\"eax\"", "\"0b_" X32 "\""), "string is too long");
	rejects(REG("\"eax\"", "\"0b12\""), "unknown character: '2'");
	rejects(REG("\"eax\"", "\"0b 1\""), "unknown character: byte 0x20");
	rejects(REG("\"eax\"", "\"0b1\\u00e9\""),
		"unknown character: byte 0xa9");
	rejects(REG("\"eax\"", "7"), "modifiers[0].bitmap: expected a string");
	rejects(LEAF(OK_LEAF "\"modifiers\": [{\"register\": \"eax\"}]"),
		"cpuid_modifiers[0].modifiers[0]: missing 'bitmap'");
	rejects(LEAF(OK_LEAF "\"modifiers\": [\"eax\"]"),
		"modifiers[0]: expected an object");
	rejects(MSR("\"0x10a\"", "\"0bx" X32 X32 "\""), "string is too long");
	rejects(MSR("\"10a\"", "\"0b1\""),
		"msr_modifiers[0].addr: No supported");
	rejects(MSR("\"0x100000000\"", "\"0b1\""), "too large");
	rejects("{\"kvm_capabilities\": [171]}",
		"kvm_capabilities[0]: expected a string");
	rejects("{\"kvm_capabilities\": [\"abc\"]}",
		"Failed to parse string [abc] as a kvm capability - can not convert to numeric");
	rejects("{\"kvm_capabilities\": [\"!\"]}", "kvm capability");
	rejects("{\"kvm_capabilities\": [\"-1\"]}", "invalid digit");
	rejects("{\"kvm_capabilities\": [\"0x10\"]}", "invalid digit");
	rejects("{\"kvm_capabilities\": [\"4294967296\"]}", "too large");
}

/* A body with n copies of item in the array key. */
static char *repeated(const char *key, const char *item, unsigned n)
{
	size_t len = strlen(key) + 16 + n * (strlen(item) + 1);
	char *s = malloc(len), *p = s;
	unsigned i;

	p += sprintf(p, "{\"%s\": [", key);
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? "," : "", item);
	strcpy(p, "]}");
	return s;
}

static void accepts_up_to(const char *key, const char *item, unsigned max,
			  const char *needle)
{
	char *s = repeated(key, item, max);

	assert_int_equal(parse(s), 0);
	free(s);
	s = repeated(key, item, max + 1);
	rejects(s, needle);
	free(s);
}

static void test_parse_counts(void **state)
{
	char reg[256];

	accepts_up_to("kvm_capabilities", "\"1\"", CPU_TEMPLATE_MAX_CAPS,
		      "kvm_capabilities: more than 64 entries");
	accepts_up_to("msr_modifiers",
		      "{\"addr\": \"0x10\", \"bitmap\": \"0b1\"}",
		      CPU_TEMPLATE_MAX_MSRS,
		      "msr_modifiers: more than 256 entries");
	accepts_up_to(
		"cpuid_modifiers",
		"{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": []}",
		CPU_TEMPLATE_MAX_LEAVES,
		"cpuid_modifiers: more than 256 entries");
	/* register modifiers in one leaf: 16 */
	snprintf(reg, sizeof(reg),
		 "{\"register\": \"eax\", \"bitmap\": \"0b1\"}");
	{
		char *mods = repeated("modifiers", reg, 17);
		char *body = malloc(strlen(mods) + 128);

		mods[strlen(mods) - 1] = '\0'; /* drop the closing brace */
		sprintf(body,
			"{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0, %s}]}",
			mods + 1);
		rejects(body,
			"cpuid_modifiers[0].modifiers: more than 16 entries");
		free(body);
		free(mods);
	}
}

static void test_apply_errors(void **state)
{
	struct kvm_cpuid2 *c = host(true, CASCADE_LAKE, 0);
	struct kvm_msr_entry m = { .index = 0x10, .data = 3 };

	/* a leaf KVM does not offer: refused, as Firecracker does */
	assert_int_equal(
		parse("{\"cpuid_modifiers\": [{\"leaf\": \"0x80000021\", \"subleaf\": \"0x0\","
		      " \"flags\": 0, \"modifiers\": []}]}"),
		0);
	assert_int_equal(cpu_template_apply_cpuid(&t, c, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(
		err,
		"Template changes a CPUID entry not supported by KVM: Leaf: 80000021, Subleaf: 0");
	/* a leaf with no register modifiers still sets its flags */
	assert_int_equal(
		parse("{\"cpuid_modifiers\": [{\"leaf\": \"0x80000001\", \"subleaf\": \"0x0\","
		      " \"flags\": 4, \"modifiers\": []}]}"),
		0);
	assert_int_equal(cpu_template_apply_cpuid(&t, c, err, sizeof(err)), 0);
	assert_int_equal(c->entries[5].flags, 4);
	assert_int_equal(c->entries[5].ecx, 0);
	/* MSRs: one the list lacks is refused; x bits keep the value */
	assert_int_equal(
		parse("{\"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": \"0b1\"}]}"),
		0);
	assert_int_equal(cpu_template_apply_msrs(&t, &m, 1, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(
		err,
		"Template changes an MSR entry not supported by KVM: Register Address: 10a");
	assert_int_equal(
		parse("{\"msr_modifiers\": [{\"addr\": \"0x10\", \"bitmap\": \"0b1x0\"}]}"),
		0);
	assert_int_equal(cpu_template_apply_msrs(&t, &m, 1, err, sizeof(err)),
			 0);
	assert_int_equal(m.data, 6); /* 0b011 -> 0b110: bit 1 kept */
	free(c);
}

static void roundtrip(const struct cpu_template *in)
{
	size_t len = cpu_template_encoded_size(in);
	uint8_t *buf = malloc(len);
	static struct cpu_template out;

	cpu_template_encode(in, buf);
	assert_int_equal(cpu_template_decode(buf, len, &out, &ce), 0);
	assert_memory_equal(in, &out, sizeof(out));
	free(buf);
}

static void test_encode_roundtrip(void **state)
{
	enum cpu_template_kind k;

	for (k = CPU_TEMPLATE_C3; k < CPU_TEMPLATE_CUSTOM; k++) {
		assert_int_equal(cpu_template_get_static(k, &t), 0);
		roundtrip(&t);
	}
	assert_int_equal(
		parse("{\"kvm_capabilities\": [\"171\", \"!56\"],"
		      " \"cpuid_modifiers\": [{\"leaf\": \"0x7\", \"subleaf\": \"0x1\","
		      " \"flags\": 1, \"modifiers\": [{\"register\": \"edx\", \"bitmap\": \"0b1x0\"}]}],"
		      " \"msr_modifiers\": [{\"addr\": \"0xc0000080\", \"bitmap\": \"0b1" X32
		      "\"}]}"),
		0);
	roundtrip(&t);
	memset(&t, 0, sizeof(t));
	roundtrip(&t); /* None */
	assert_int_equal(cpu_template_encoded_size(&t), 16);
}

static void decode_rejects(const uint8_t *buf, size_t len, const char *needle)
{
	static struct cpu_template out;

	assert_int_equal(cpu_template_decode(buf, len, &out, &ce), -EINVAL);
	if (!strstr(ce.msg, needle))
		fail_msg("'%s' lacks '%s'", ce.msg, needle);
	assert_int_equal(out.nr_leaves + out.nr_msrs + out.nr_caps, 0);
}

static void test_decode_rejections(void **state)
{
	uint8_t buf[1024], bad[1024];
	size_t len, i;

	assert_int_equal(cpu_template_get_static(CPU_TEMPLATE_T2S, &t), 0);
	t.caps[t.nr_caps++] = (struct kvm_cap_modifier){ 56, true };
	len = cpu_template_encoded_size(&t);
	assert_true(len <= sizeof(buf));
	cpu_template_encode(&t, buf);
	/* every truncation and one byte too many */
	for (i = 0; i < len; i++)
		decode_rejects(buf, i, "CPU template:");
	decode_rejects(buf, len + 1, "bytes, expected");
	memcpy(bad, buf, len);
	bad[0] = 'X';
	decode_rejects(bad, len, "not an encoded template");
	memcpy(bad, buf, len);
	bad[4] = 2; /* version */
	decode_rejects(bad, len, "encoding version 2");
	memcpy(bad, buf, len);
	bad[6] = 7; /* kind */
	decode_rejects(bad, len, "unknown kind 7");
	memcpy(bad, buf, len);
	bad[9] = 0x01; /* nr_leaves 0x106 */
	decode_rejects(bad, len, "at most 256");
	memcpy(bad, buf, len);
	bad[16 + 12 + 16] |= 0x01; /* leaf 1's EAX value bit 0: stepping */
	bad[16 + 12] &= (uint8_t)~0x01; /* ... outside its filter */
	decode_rejects(bad, len, "outside its filter");
	memcpy(bad, buf, len);
	bad[len - 4] = 2; /* a capability's remove flag */
	decode_rejects(bad, len, "not 0 or 1");
	memcpy(bad, buf, len);
	bad[6] = 0; /* None, with modifiers */
	decode_rejects(bad, len, "None with modifiers");
}

/* ---- on a real /dev/kvm (skipped elsewhere; L1 runs them) ---- */

static void test_kvm_capabilities(void **state)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (kvm < 0)
		skip();
	assert_int_equal(cpu_template_check_kvm(NULL, kvm, err, sizeof(err)),
			 0);
	assert_int_equal(parse("{\"kvm_capabilities\": [\"0\", \"!56\"]}"), 0);
	assert_int_equal(cpu_template_check_kvm(&t, kvm, err, sizeof(err)), 0);
	/* a capability no KVM has */
	assert_int_equal(parse("{\"kvm_capabilities\": [\"1000000\"]}"), 0);
	assert_int_equal(cpu_template_check_kvm(&t, kvm, err, sizeof(err)),
			 -ENOTSUP);
	assert_non_null(strstr(err, "Missing KVM capabilities: 0xf4240"));
	/* removing it again after adding it */
	assert_int_equal(
		parse("{\"kvm_capabilities\": [\"1000000\", \"!1000000\"]}"),
		0);
	assert_int_equal(cpu_template_check_kvm(&t, kvm, err, sizeof(err)), 0);
	close(kvm);
}

/* The template's MSRs read from a real vCPU whose CPUID is set. */
static void test_kvm_msrs(void **state)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm, vcpu;
	struct kvm_msr_entry out[CPU_TEMPLATE_MAX_MSRS];
	struct kvm_cpuid2 *c;
	unsigned n = 0;

	if (kvm < 0)
		skip();
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	assert_true(vm >= 0);
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0UL);
	assert_true(vcpu >= 0);
	c = cpuid_get_supported(kvm);
	assert_non_null(c);
	assert_int_equal(ioctl(vcpu, KVM_SET_CPUID2, c), 0);
	/* T2S sets IA32_ARCH_CAPABILITIES whole; listed twice, read once */
	assert_int_equal(cpu_template_get_static(CPU_TEMPLATE_T2S, &t), 0);
	t.msrs[t.nr_msrs++] = t.msrs[0];
	assert_int_equal(
		cpu_template_read_msrs(&t, vcpu, out, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].index, 0x10a);
	assert_int_equal(out[0].data, 0x0c0a0c4c);
	/* T2CL keeps only what KVM reports among the mitigation bits */
	assert_int_equal(cpu_template_get_static(CPU_TEMPLATE_T2CL, &t), 0);
	assert_int_equal(
		cpu_template_read_msrs(&t, vcpu, out, &n, err, sizeof(err)), 0);
	assert_int_equal(out[0].data & 0xffffffffe2f51e00ull, 0);
	/* an MSR KVM does not know */
	assert_int_equal(
		parse("{\"msr_modifiers\": [{\"addr\": \"0x10\", \"bitmap\": \"0b1\"},"
		      " {\"addr\": \"0xdeadbeef\", \"bitmap\": \"0b1\"}]}"),
		0);
	assert_int_equal(cpu_template_read_msrs(&t, vcpu, out, &n, err,
						sizeof(err)),
			 -EIO);
	assert_string_equal(err, "Failed to get KVM vcpu msr: 0xdeadbeef");
	free(c);
	close(vcpu);
	close(vm);
	close(kvm);
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t function)
{
	unsigned i;

	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == function && !c->entries[i].index)
			return &c->entries[i];
	fail_msg("no CPUID leaf 0x%x", function);
	return NULL;
}

/* A templated CPUID (T2A's, whatever this CPU is) is what a real vCPU
 * takes and reports back. */
static void test_kvm_templated_cpuid(void **state)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm, vcpu;
	struct kvm_cpuid2 *c, *got;

	if (kvm < 0)
		skip();
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	assert_true(vm >= 0);
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0UL);
	assert_true(vcpu >= 0);
	c = cpuid_get_supported(kvm);
	assert_non_null(c);
	assert_int_equal(cpu_template_get_static(CPU_TEMPLATE_T2A, &t), 0);
	assert_int_equal(cpu_template_apply_cpuid(&t, c, err, sizeof(err)), 0);
	assert_int_equal(ioctl(vcpu, KVM_SET_CPUID2, c), 0);
	got = cpuid_get_vcpu(vcpu);
	assert_non_null(got);
	assert_int_equal(find(got, 1)->eax & 0x0fff3fff, 0x000306f2);
	assert_int_equal(find(got, 7)->ebx & (1u << 16), 0); /* AVX512F */
	assert_int_equal(find(got, 0x80000008)->ebx & 0x001c0205, 0x001c0004);
	free(got);
	free(c);
	close(vcpu);
	close(vm);
	close(kvm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_static_templates_bits),
		cmocka_unit_test(test_static_templates_named_bits),
		cmocka_unit_test(test_static_msrs),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_vendor_and_model),
		cmocka_unit_test(test_parse_documented_example),
		cmocka_unit_test(test_parse_forms),
		cmocka_unit_test(test_parse_rejections),
		cmocka_unit_test(test_parse_counts),
		cmocka_unit_test(test_apply_errors),
		cmocka_unit_test(test_encode_roundtrip),
		cmocka_unit_test(test_decode_rejections),
		cmocka_unit_test(test_kvm_capabilities),
		cmocka_unit_test(test_kvm_msrs),
		cmocka_unit_test(test_kvm_templated_cpuid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: Apache-2.0
/* CPU templates as configuration (cpu_template.h): Firecracker's static
 * templates as data, its custom-template JSON (PUT /cpu-config) checked
 * field by field, and the compact encoding a snapshot keeps. Applying a
 * template to a vCPU is vmm/cpu_template.c's. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "config/cpu_template.h"

/* How many register modifiers one CPUID leaf modifier may list (one per
 * register is what a template needs). */
#define MAX_REGISTER_MODIFIERS 16

/* ---- the static templates ---- */

static const char *const kind_names[] = {
	[CPU_TEMPLATE_NONE] = "None",	  [CPU_TEMPLATE_C3] = "C3",
	[CPU_TEMPLATE_T2] = "T2",	  [CPU_TEMPLATE_T2S] = "T2S",
	[CPU_TEMPLATE_T2CL] = "T2CL",	  [CPU_TEMPLATE_T2A] = "T2A",
	[CPU_TEMPLATE_CUSTOM] = "Custom",
};

#define TMPL(k) (1u << CPU_TEMPLATE_##k)
#define T2_FAMILY (TMPL(T2) | TMPL(T2S) | TMPL(T2CL) | TMPL(T2A))
#define ALL_STATIC (T2_FAMILY | TMPL(C3))

/* Firecracker's static templates, in its custom-template notation
 * (src/vmm/src/cpu_config/x86_64/static_cpu_templates/ and the same
 * templates as JSON in tests/data/custom_cpu_templates/): each row
 * belongs to the templates of its mask. T2 and T2S differ only in
 * IA32_ARCH_CAPABILITIES. Flags 1 is KVM_CPUID_FLAG_SIGNIFCANT_INDEX. */
static const struct static_cpuid_row {
	unsigned templates;
	uint32_t leaf, subleaf, flags;
	enum cpuid_register reg;
	const char *bitmap;
} static_cpuid[] = {
	/* leaf 1: signature (family 6, model 0x3f/0x3e), feature flags */
	{ T2_FAMILY, 0x1, 0, 0, CPUID_EAX,
	  "0bxxxx000000000011xx00011011110010" },
	{ T2_FAMILY, 0x1, 0, 0, CPUID_ECX,
	  "0bxxxxxxxxxxxxx0xx00xx00x0000000xx" },
	{ T2_FAMILY, 0x1, 0, 0, CPUID_EDX,
	  "0b000x0xxxx00xx0xxxxx1xxxx1xxxxxxx" },
	{ TMPL(C3), 0x1, 0, 0, CPUID_EAX,
	  "0bxxxx000000000011xx00011011100100" },
	{ TMPL(C3), 0x1, 0, 0, CPUID_ECX,
	  "0bxxxxxxxxx0xxxxxx00x000x0xx0000xx" },
	{ TMPL(C3), 0x1, 0, 0, CPUID_EDX,
	  "0b0x0x0xxxx00xx0xxxxx1xxxx1xxxxxxx" },
	/* leaf 7.0: structured extended features */
	{ T2_FAMILY, 0x7, 0, 1, CPUID_EBX,
	  "0b00000000000x000000x00x1xxxx0x0xx" },
	{ T2_FAMILY, 0x7, 0, 1, CPUID_ECX,
	  "0bx0xxxxxxx0xxxxx0x0x00000x0x0000x" },
	{ T2_FAMILY, 0x7, 0, 1, CPUID_EDX,
	  "0bxxxxxxxxxxxxxxxxxxxxxxx0xxx000xx" },
	{ TMPL(C3), 0x7, 0, 1, CPUID_EBX,
	  "0b000000000x0x000000x000x0xx0000xx" },
	{ TMPL(C3), 0x7, 0, 1, CPUID_ECX,
	  "0bx0xxxxxxx0xxxxx0x0xx0xxxxxx0000x" },
	{ TMPL(C3), 0x7, 0, 1, CPUID_EDX,
	  "0bxxxxxxxxxxxxxxxxxxxxxxxxxxxx00xx" },
	/* leaf 0xd: no MPX, AVX-512 or PKRU state; no XSAVEC, XGETBV1, XSAVES */
	{ ALL_STATIC, 0xd, 0, 1, CPUID_EAX,
	  "0bxxxxxxxxxxxxxxxxxxxxxx0x00000xxx" },
	{ ALL_STATIC, 0xd, 1, 1, CPUID_EAX,
	  "0bxxxxxxxxxxxxxxxxxxxxxxxxxxxx000x" },
	/* leaf 0x80000001: extended features */
	{ TMPL(T2) | TMPL(T2S), 0x80000001, 0, 0, CPUID_ECX,
	  "0bxx0xxxxxxxxxxxxxxxxxxxx0xxxxxxxx" },
	{ TMPL(T2) | TMPL(T2S) | TMPL(C3), 0x80000001, 0, 0, CPUID_EDX,
	  "0bxxxxx0xxxxxxxxxxxxxxxxxxxxxxxxxx" },
	{ TMPL(T2CL), 0x80000001, 0, 0, CPUID_ECX,
	  "0bxx0xxxxxxxxxxxxxxxxxxxx000xxxxxx" },
	{ TMPL(T2CL), 0x80000001, 0, 0, CPUID_EDX,
	  "0bxxxxx00000xxxxxxxxxxxxxxxxxxxxxx" },
	{ TMPL(T2A), 0x80000001, 0, 0, CPUID_ECX,
	  "0bxx0xxxxxxxxxxxxxxxxxxxx000xxx0xx" },
	{ TMPL(T2A), 0x80000001, 0, 0, CPUID_EDX,
	  "0bxxxxx00xx0xxxxxxxxxxxxxxxxxxxxxx" },
	{ TMPL(C3), 0x80000001, 0, 0, CPUID_ECX,
	  "0bxxxxxxxxxxxxxxxxxxxxxxx0xx0xxxxx" },
	/* leaf 0x80000008: WBNOINVD off; T2A's IBRS and CLZERO bits */
	{ TMPL(T2) | TMPL(T2S) | TMPL(T2CL), 0x80000008, 0, 0, CPUID_EBX,
	  "0bxxxxxxxxxxxxxxxxxxxxxx0xxxxxxxxx" },
	{ TMPL(T2A), 0x80000008, 0, 0, CPUID_EBX,
	  "0bxxxxxxxxxxx111xxxxxxxx0xxxxxx1x0" },
};

/* IA32_ARCH_CAPABILITIES: T2S sets it whole (a Skylake/Cascade Lake
 * common denominator, FB_CLEAR included); T2CL clears the bits that are
 * not mitigations and passes through those KVM lets through. */
#define MSR_IA32_ARCH_CAPABILITIES 0x10a
static const struct static_msr_row {
	unsigned templates;
	uint32_t addr;
	const char *bitmap;
} static_msrs[] = {
	{ TMPL(T2S), MSR_IA32_ARCH_CAPABILITIES,
	  "0b0000000000000000000000000000000000001100000010100000110001001100" },
	{ TMPL(T2CL), MSR_IA32_ARCH_CAPABILITIES,
	  "0b00000000000000000000000000000000000xxx0x0000x0x0xxx0000xxxxxxxxx" },
};

const char *cpu_template_name(enum cpu_template_kind kind)
{
	return kind < ARRAY_SIZE(kind_names) ? kind_names[kind] : "?";
}

int cpu_template_from_name(const char *name, enum cpu_template_kind *kind)
{
	unsigned k;

	for (k = CPU_TEMPLATE_NONE; k < CPU_TEMPLATE_CUSTOM; k++)
		if (!strcmp(name, kind_names[k])) {
			*kind = k;
			return 0;
		}
	return -EINVAL;
}

/* ---- bitmaps and numbers as Firecracker writes them ---- */

static int bad_character(const char *s, char c, struct config_err *e)
{
	if (c > ' ' && c < 0x7f)
		return config_fail(
			e,
			"Failed to parse string [%s] as a bitmap - unknown character: '%c'",
			s, c);
	return config_fail(
		e,
		"Failed to parse string [%s] as a bitmap - unknown character: byte 0x%02x",
		s, (unsigned char)c);
}

/* An optional "0b", then '0', '1' and 'x' (and '_' separators) read from
 * the least significant end: at most `bits` digits, the missing high ones
 * are 'x'. Firecracker's RegisterValueFilter deserialiser. */
static int parse_bitmap(const char *s, unsigned bits, uint64_t *filter,
			uint64_t *value, struct config_err *e)
{
	const char *digits = strncmp(s, "0b", 2) ? s : s + 2;
	size_t i = strlen(digits);
	unsigned bit = 0;

	*filter = *value = 0;
	while (i-- > 0) {
		char c = digits[i];

		if (bit == bits)
			return config_fail(
				e,
				"Failed to parse string [%s] as a bitmap - string is too long (at most %u bits)",
				s, bits);
		if (c == '_')
			continue;
		if (c != '0' && c != '1' && c != 'x')
			return bad_character(s, c, e);
		if (c != 'x')
			*filter |= 1ull << bit;
		if (c == '1')
			*value |= 1ull << bit;
		bit++;
	}
	return 0;
}

static unsigned digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return (unsigned)(c - '0');
	if (c >= 'a' && c <= 'f')
		return (unsigned)(c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (unsigned)(c - 'A' + 10);
	return 16;
}

/* A u32 by Rust's from_str_radix, which Firecracker uses: an optional
 * '+', then one digit or more. NULL, or why not (Rust's words). */
static const char *parse_digits(const char *s, unsigned radix, uint32_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return "cannot parse integer from empty string";
	if (*s == '+')
		s++;
	if (!*s)
		return "invalid digit found in string";
	for (; *s; s++) {
		unsigned d = digit_value(*s);

		if (d >= radix)
			return "invalid digit found in string";
		if (v > (UINT32_MAX - d) / radix)
			return "number too large to fit in target type";
		v = v * radix + d;
	}
	*out = (uint32_t)v;
	return NULL;
}

/* A leaf, subleaf or MSR address: "0x..." or "0b..." (no decimal). */
static int parse_number(const char *s, uint32_t *out, struct config_err *e)
{
	unsigned radix = !strncmp(s, "0x", 2) ? 16 :
			 !strncmp(s, "0b", 2) ? 2 :
						0;
	const char *why;

	if (!radix)
		return config_fail(
			e,
			"No supported number system prefix found in value [%s]. Make sure to prefix the number with '0x' for hexadecimal numbers or '0b' for binary numbers.",
			s);
	why = parse_digits(s + 2, radix, out);
	if (why)
		return config_fail(
			e,
			"Failed to parse string [%s] as a number for CPU template - %s",
			s, why);
	return 0;
}

/* ---- the model ---- */

/* Adds a register modifier to a leaf's, after those it has. */
static void leaf_add_register(struct cpuid_leaf_modifier *l,
			      enum cpuid_register reg, uint32_t filter,
			      uint32_t value)
{
	l->value[reg] = (l->value[reg] & ~filter) | value;
	l->filter[reg] |= filter;
}

static struct cpuid_leaf_modifier *find_leaf(struct cpu_template *t,
					     uint32_t leaf, uint32_t subleaf)
{
	unsigned i;

	for (i = 0; i < t->nr_leaves; i++)
		if (t->leaves[i].leaf == leaf &&
		    t->leaves[i].subleaf == subleaf)
			return &t->leaves[i];
	return NULL;
}

static int add_static_cpuid(struct cpu_template *t,
			    const struct static_cpuid_row *r)
{
	struct cpuid_leaf_modifier *l = find_leaf(t, r->leaf, r->subleaf);
	uint64_t filter, value;
	struct config_err e;
	int ret = parse_bitmap(r->bitmap, 32, &filter, &value, &e);

	if (ret)
		return ret;
	if (!l) {
		l = &t->leaves[t->nr_leaves++];
		*l = (struct cpuid_leaf_modifier){ .leaf = r->leaf,
						   .subleaf = r->subleaf,
						   .flags = r->flags };
	}
	leaf_add_register(l, r->reg, (uint32_t)filter, (uint32_t)value);
	return 0;
}

static int add_static_msr(struct cpu_template *t,
			  const struct static_msr_row *r)
{
	struct msr_modifier *m = &t->msrs[t->nr_msrs];
	struct config_err e;
	int ret = parse_bitmap(r->bitmap, 64, &m->filter, &m->value, &e);

	m->addr = r->addr;
	if (!ret)
		t->nr_msrs++;
	return ret;
}

int cpu_template_get_static(enum cpu_template_kind kind, struct cpu_template *t)
{
	unsigned i;
	int ret = 0;

	if (kind == CPU_TEMPLATE_NONE || kind >= CPU_TEMPLATE_CUSTOM)
		return -EINVAL;
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	for (i = 0; i < ARRAY_SIZE(static_cpuid) && !ret; i++)
		if (static_cpuid[i].templates & (1u << kind))
			ret = add_static_cpuid(t, &static_cpuid[i]);
	for (i = 0; i < ARRAY_SIZE(static_msrs) && !ret; i++)
		if (static_msrs[i].templates & (1u << kind))
			ret = add_static_msr(t, &static_msrs[i]);
	return ret;
}

/* ---- the custom template's JSON (PUT /cpu-config) ---- */

struct parser {
	struct cpu_template *t;
	struct config_err *e;
};

/* A value that is null counts as absent. */
static const cJSON *member(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNull(v) ? NULL : v;
}

static int get_string(struct parser *p, const cJSON *obj, const char *where,
		      const char *key, const char **out)
{
	const cJSON *v = member(obj, key);

	if (!v)
		return config_fail(p->e, "%s: missing '%s'", where, key);
	if (!cJSON_IsString(v))
		return config_fail(p->e, "%s.%s: expected a string", where,
				   key);
	*out = v->valuestring;
	return 0;
}

static int check_object(struct parser *p, const cJSON *j, const char *where)
{
	return cJSON_IsObject(j) ?
		       0 :
		       config_fail(p->e, "%s: expected an object", where);
}

/* Prefixes the error a value parser wrote with where it was. */
static int located(struct parser *p, int ret, const char *where,
		   const char *key)
{
	char why[CONFIG_ERR_MAX];

	if (!ret)
		return 0;
	snprintf(why, sizeof(why), "%s", p->e->msg);
	return config_fail(p->e, "%s.%s: %s", where, key, why);
}

static int get_number(struct parser *p, const cJSON *obj, const char *where,
		      const char *key, uint32_t *out)
{
	const char *s;
	int ret = get_string(p, obj, where, key, &s);

	if (!ret)
		ret = located(p, parse_number(s, out, p->e), where, key);
	return ret;
}

static int get_bitmap(struct parser *p, const cJSON *obj, const char *where,
		      unsigned bits, uint64_t *filter, uint64_t *value)
{
	const char *s;
	int ret = get_string(p, obj, where, "bitmap", &s);

	if (!ret)
		ret = located(p, parse_bitmap(s, bits, filter, value, p->e),
			      where, "bitmap");
	return ret;
}

/* Calls each(p, item, where) for every item of obj[key], an array of at
 * most max items; an absent array is an empty one. */
static int for_each_item(struct parser *p, const cJSON *obj, const char *where,
			 const char *key, unsigned max,
			 int (*each)(struct parser *, const cJSON *,
				     const char *, void *),
			 void *opaque)
{
	const cJSON *a = member(obj, key), *it;
	char item_where[128];
	unsigned i = 0;
	int ret = 0;

	if (!a)
		return 0;
	if (!cJSON_IsArray(a))
		return config_fail(p->e, "%s%s%s: expected an array", where,
				   *where ? "." : "", key);
	if ((unsigned)cJSON_GetArraySize(a) > max)
		return config_fail(p->e, "%s%s%s: more than %u entries", where,
				   *where ? "." : "", key, max);
	cJSON_ArrayForEach(it, a) {
		snprintf(item_where, sizeof(item_where), "%s%s%s[%u]", where,
			 *where ? "." : "", key, i++);
		ret = each(p, it, item_where, opaque);
		if (ret)
			break;
	}
	return ret;
}

static int parse_register(struct parser *p, const cJSON *j, const char *where,
			  void *opaque)
{
	static const char *const names[] = { "eax", "ebx", "ecx", "edx" };
	struct cpuid_leaf_modifier *l = opaque;
	const char *name;
	uint64_t filter, value;
	unsigned r;
	int ret = check_object(p, j, where);

	if (!ret)
		ret = get_string(p, j, where, "register", &name);

	if (ret)
		return ret;
	for (r = 0; r < ARRAY_SIZE(names) && strcmp(name, names[r]); r++)
		;
	if (r == ARRAY_SIZE(names))
		return config_fail(
			p->e,
			"%s.register: Invalid CPUID register. Must be one of [eax, ebx, ecx, edx]",
			where);
	ret = get_bitmap(p, j, where, 32, &filter, &value);
	if (!ret)
		leaf_add_register(l, r, (uint32_t)filter, (uint32_t)value);
	return ret;
}

static int parse_flags(struct parser *p, const cJSON *j, const char *where,
		       uint32_t *flags)
{
	const cJSON *v = member(j, "flags");

	if (!v)
		return config_fail(p->e, "%s: missing 'flags'", where);
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
	    v->valuedouble > UINT32_MAX ||
	    v->valuedouble != (double)(uint32_t)v->valuedouble)
		return config_fail(
			p->e,
			"%s.flags: expected an integer from 0 to 4294967295",
			where);
	*flags = (uint32_t)v->valuedouble;
	return 0;
}

static int parse_leaf(struct parser *p, const cJSON *j, const char *where,
		      void *opaque)
{
	struct cpuid_leaf_modifier *l = &p->t->leaves[p->t->nr_leaves];
	int ret;

	memset(l, 0, sizeof(*l));
	ret = check_object(p, j, where);
	if (!ret)
		ret = get_number(p, j, where, "leaf", &l->leaf);
	if (!ret)
		ret = get_number(p, j, where, "subleaf", &l->subleaf);
	if (!ret)
		ret = parse_flags(p, j, where, &l->flags);
	if (!ret && !member(j, "modifiers"))
		ret = config_fail(p->e, "%s: missing 'modifiers'", where);
	if (!ret)
		ret = for_each_item(p, j, where, "modifiers",
				    MAX_REGISTER_MODIFIERS, parse_register, l);
	if (!ret)
		p->t->nr_leaves++;
	return ret;
}

static int parse_msr(struct parser *p, const cJSON *j, const char *where,
		     void *opaque)
{
	struct msr_modifier *m = &p->t->msrs[p->t->nr_msrs];
	int ret = check_object(p, j, where);

	if (!ret)
		ret = get_number(p, j, where, "addr", &m->addr);
	if (!ret)
		ret = get_bitmap(p, j, where, 64, &m->filter, &m->value);
	if (!ret)
		p->t->nr_msrs++;
	return ret;
}

/* "171" or "!171": a decimal u32 (Rust's str::parse). */
static int parse_cap(struct parser *p, const cJSON *j, const char *where,
		     void *opaque)
{
	struct kvm_cap_modifier *c = &p->t->caps[p->t->nr_caps];
	const char *s, *why;

	if (!cJSON_IsString(j))
		return config_fail(p->e, "%s: expected a string", where);
	s = j->valuestring;
	c->remove = s[0] == '!';
	why = parse_digits(s + c->remove, 10, &c->cap);
	if (why)
		return config_fail(
			p->e,
			"%s: Failed to parse string [%s] as a kvm capability - can not convert to numeric: %s",
			where, s, why);
	p->t->nr_caps++;
	return 0;
}

static int check_top_keys(struct parser *p, const cJSON *j)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, j) {
		const char *k = it->string;

		if (!strcmp(k, "kvm_capabilities") ||
		    !strcmp(k, "cpuid_modifiers") ||
		    !strcmp(k, "msr_modifiers"))
			continue;
		if (!strcmp(k, "vcpu_features") || !strcmp(k, "reg_modifiers"))
			return config_fail(
				p->e,
				"cpu-config: '%s' is for aarch64 hosts; on x86_64 a template has kvm_capabilities, cpuid_modifiers and msr_modifiers",
				k);
		return config_fail(
			p->e,
			"cpu-config: unknown field '%s', expected one of kvm_capabilities, cpuid_modifiers, msr_modifiers",
			k);
	}
	return 0;
}

int cpu_template_arch_check(const char *what, struct config_err *e)
{
#ifdef __aarch64__
	return config_fail(
		e,
		"%s: CPU templates are x86_64's (CPUID and MSRs); microvm on arm64 has none (Firecracker's aarch64 templates, V1N1 and reg_modifiers, are not implemented)",
		what);
#else
	return 0;
#endif
}

int cpu_template_parse(const cJSON *j, struct cpu_template *t,
		       struct config_err *e)
{
	struct parser p = { t, e };
	int ret;

	memset(t, 0, sizeof(*t));
	t->kind = CPU_TEMPLATE_CUSTOM;
	if (cpu_template_arch_check("cpu-config", e))
		return -EINVAL;
	if (!cJSON_IsObject(j))
		return config_fail(p.e, "cpu-config: expected a JSON object");
	ret = check_top_keys(&p, j);
	if (!ret)
		ret = for_each_item(&p, j, "", "kvm_capabilities",
				    CPU_TEMPLATE_MAX_CAPS, parse_cap, NULL);
	if (!ret)
		ret = for_each_item(&p, j, "", "cpuid_modifiers",
				    CPU_TEMPLATE_MAX_LEAVES, parse_leaf, NULL);
	if (!ret)
		ret = for_each_item(&p, j, "", "msr_modifiers",
				    CPU_TEMPLATE_MAX_MSRS, parse_msr, NULL);
	return ret;
}

/* ---- the encoding in a snapshot ---- */

/* A 16-byte header ("MVCT", version, kind, the three counts, 0), then
 * each leaf (leaf, subleaf, flags, 4 filters, 4 values: 11 u32), each MSR
 * (addr u32, filter u64, value u64), each capability (cap u32, remove
 * u32): all little-endian. */
#define ENC_MAGIC "MVCT"
#define ENC_VERSION 1
#define ENC_HEADER 16
#define ENC_LEAF 44
#define ENC_MSR 20
#define ENC_CAP 8

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	return put16(put16(p, (uint16_t)v), (uint16_t)(v >> 16));
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
	return put32(put32(p, (uint32_t)v), (uint32_t)(v >> 32));
}

static uint16_t get16(const uint8_t **p)
{
	uint16_t v = (uint16_t)((*p)[0] | (*p)[1] << 8);

	*p += 2;
	return v;
}

static uint32_t get32(const uint8_t **p)
{
	uint32_t lo = get16(p);

	return lo | (uint32_t)get16(p) << 16;
}

static uint64_t get64(const uint8_t **p)
{
	uint64_t lo = get32(p);

	return lo | (uint64_t)get32(p) << 32;
}

size_t cpu_template_encoded_size(const struct cpu_template *t)
{
	return ENC_HEADER + t->nr_leaves * ENC_LEAF + t->nr_msrs * ENC_MSR +
	       t->nr_caps * ENC_CAP;
}

void cpu_template_encode(const struct cpu_template *t, uint8_t *buf)
{
	uint8_t *p = buf + 4;
	unsigned i, r;

	memcpy(buf, ENC_MAGIC, 4);
	p = put16(put16(p, ENC_VERSION), (uint16_t)t->kind);
	p = put16(put16(p, (uint16_t)t->nr_leaves), (uint16_t)t->nr_msrs);
	p = put16(put16(p, (uint16_t)t->nr_caps), 0);
	for (i = 0; i < t->nr_leaves; i++) {
		const struct cpuid_leaf_modifier *l = &t->leaves[i];

		p = put32(put32(put32(p, l->leaf), l->subleaf), l->flags);
		for (r = 0; r < 4; r++)
			p = put32(p, l->filter[r]);
		for (r = 0; r < 4; r++)
			p = put32(p, l->value[r]);
	}
	for (i = 0; i < t->nr_msrs; i++)
		p = put64(put64(put32(p, t->msrs[i].addr), t->msrs[i].filter),
			  t->msrs[i].value);
	for (i = 0; i < t->nr_caps; i++)
		p = put32(put32(p, t->caps[i].cap), t->caps[i].remove);
}

static int decode_header(const uint8_t **p, size_t len, struct cpu_template *t,
			 struct config_err *e)
{
	unsigned version, kind;

	if (len < ENC_HEADER || memcmp(*p, ENC_MAGIC, 4))
		return config_fail(e, "CPU template: not an encoded template");
	*p += 4;
	version = get16(p);
	kind = get16(p);
	t->nr_leaves = get16(p);
	t->nr_msrs = get16(p);
	t->nr_caps = get16(p);
	if (version != ENC_VERSION || get16(p))
		return config_fail(
			e, "CPU template: encoding version %u (expected %u)",
			version, ENC_VERSION);
	if (kind > CPU_TEMPLATE_CUSTOM)
		return config_fail(e, "CPU template: unknown kind %u", kind);
	t->kind = kind;
	if (t->nr_leaves > CPU_TEMPLATE_MAX_LEAVES ||
	    t->nr_msrs > CPU_TEMPLATE_MAX_MSRS ||
	    t->nr_caps > CPU_TEMPLATE_MAX_CAPS)
		return config_fail(
			e,
			"CPU template: %u leaves, %u MSRs, %u capabilities (at most %u, %u, %u)",
			t->nr_leaves, t->nr_msrs, t->nr_caps,
			CPU_TEMPLATE_MAX_LEAVES, CPU_TEMPLATE_MAX_MSRS,
			CPU_TEMPLATE_MAX_CAPS);
	if (len != cpu_template_encoded_size(t))
		return config_fail(e, "CPU template: %zu bytes, expected %zu",
				   len, cpu_template_encoded_size(t));
	if (kind == CPU_TEMPLATE_NONE && len != ENC_HEADER)
		return config_fail(e, "CPU template: None with modifiers");
	return 0;
}

static bool decode_leaf(const uint8_t **p, struct cpuid_leaf_modifier *l)
{
	bool ok = true;
	unsigned r;

	l->leaf = get32(p);
	l->subleaf = get32(p);
	l->flags = get32(p);
	for (r = 0; r < 4; r++)
		l->filter[r] = get32(p);
	for (r = 0; r < 4; r++) {
		l->value[r] = get32(p);
		ok &= !(l->value[r] & ~l->filter[r]);
	}
	return ok;
}

static bool decode_msr(const uint8_t **p, struct msr_modifier *m)
{
	m->addr = get32(p);
	m->filter = get64(p);
	m->value = get64(p);
	return !(m->value & ~m->filter);
}

static bool decode_cap(const uint8_t **p, struct kvm_cap_modifier *c)
{
	uint32_t remove;

	c->cap = get32(p);
	remove = get32(p);
	c->remove = remove;
	return remove <= 1;
}

int cpu_template_decode(const uint8_t *buf, size_t len, struct cpu_template *t,
			struct config_err *e)
{
	const uint8_t *p = buf;
	bool ok = true;
	unsigned i;
	int ret;

	memset(t, 0, sizeof(*t));
	ret = decode_header(&p, len, t, e);
	for (i = 0; !ret && i < t->nr_leaves; i++)
		ok &= decode_leaf(&p, &t->leaves[i]);
	for (i = 0; !ret && i < t->nr_msrs; i++)
		ok &= decode_msr(&p, &t->msrs[i]);
	for (i = 0; !ret && i < t->nr_caps; i++)
		ok &= decode_cap(&p, &t->caps[i]);
	if (!ret && !ok)
		ret = config_fail(
			e,
			"CPU template: a modifier sets bits outside its filter, or a capability flag is not 0 or 1");
	if (ret)
		memset(t, 0, sizeof(*t));
	return ret;
}

// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: CPU templates. The first byte picks the way in: a
 * PUT /cpu-config body (cpu_template_parse), or a snapshot's encoded
 * template (cpu_template_decode). Whatever is accepted is applied to a
 * CPUID table and MSR list and must survive encode + decode unchanged. */
#include <cjson/cJSON.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/cpu_template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cpu_template t, again;
static struct config_err ce;
static char err[512];

static void apply(void)
{
	static const struct kvm_cpuid_entry2 leaves[] = {
		{ .function = 0 },
		{ .function = 1, .eax = 0x50657 },
		{ .function = 7, .ebx = ~0u },
		{ .function = 0xd, .index = 1 },
	};
	struct kvm_cpuid2 *c = malloc(sizeof(*c) + sizeof(leaves));
	struct kvm_msr_entry msrs[2] = { { .index = 0x10a, .data = ~0ull },
					 { .index = 0x10 } };
	size_t len = cpu_template_encoded_size(&t);
	uint8_t *buf = malloc(len);

	c->nent = ARRAY_SIZE(leaves);
	memcpy(c->entries, leaves, sizeof(leaves));
	(void)cpu_template_check_host(&t, c, err, sizeof(err));
	(void)cpu_template_apply_cpuid(&t, c, err, sizeof(err));
	(void)cpu_template_apply_msrs(&t, msrs, 2, err, sizeof(err));
	cpu_template_encode(&t, buf);
	if (cpu_template_decode(buf, len, &again, &ce) ||
	    memcmp(&t, &again, sizeof(t)))
		abort();
	free(buf);
	free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	cJSON *j;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		if (!cpu_template_decode(data + 1, size - 1, &t, &ce))
			apply();
		return 0;
	}
	text = strndup((const char *)data + 1, size - 1);
	j = text ? cJSON_Parse(text) : NULL;
	if (j && !cpu_template_parse(j, &t, &ce))
		apply();
	cJSON_Delete(j);
	free(text);
	return 0;
}

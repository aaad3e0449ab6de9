// SPDX-License-Identifier: Apache-2.0
/* The state file: an encode/decode round trip, and a decoder that refuses
 * every kind of damage (truncation, bad magic/version/arch, CRC, unknown
 * or repeated or oversized sections, missing parts) with a message and no
 * partial state. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "snapshot/snapshot.h"
#include "tests/unit/unit.h"
#include "tests/unit/snapshot_sample.h"

static void make_sample(struct sample *x, unsigned vcpus)
{
	unsigned i;

	memset(x, 0, sizeof(*x));
	x->s.config_json = strdup("{\"machine-config\":{}}");
	x->s.nr_vcpus = vcpus;
	x->s.vcpus = calloc(vcpus, sizeof(*x->s.vcpus));
	for (i = 0; i < vcpus; i++) {
		x->s.vcpus[i].index = i;
		x->s.vcpus[i].regs.rip = 0x1000 + i;
		x->s.vcpus[i].nmsrs = 3;
		x->s.vcpus[i].ncpuid = 2;
		x->s.vcpus[i].cpuid[1].function = 7;
		x->s.vcpus[i].cpuid[1].ebx = 0x20 + i;
	}
	x->s.vm.clock.clock = 12345;
	x->s.serial.lcr = 3;
	x->s.nr_vdevs = 2;
	x->s.vdevs[1].index = 1;
	x->s.vdevs[1].nr_queues = 2;
	x->s.vdevs[1].queues[1].size = 256;
	x->s.vdevs[1].queues[1].last_avail = 77;
	x->s.vdevs[0].nr_queues = 5; /* the balloon's most */
	x->s.vdevs[0].queues[4].last_avail = 55;
	assert_int_equal(snap_encode(&x->s, &x->buf, &x->len), 0);
}

static void test_round_trip(void **state)
{
	struct sample x;
	struct snap_state back;
	char err[256];

	make_sample(&x, 3);
	assert_int_equal(snap_decode(x.buf, x.len, &back, err, sizeof(err)), 0);
	assert_string_equal(back.config_json, x.s.config_json);
	assert_int_equal(back.nr_vcpus, 3);
	assert_int_equal(back.vcpus[2].regs.rip, 0x1002);
	assert_int_equal(back.vcpus[2].ncpuid, 2);
	assert_int_equal(back.vcpus[2].cpuid[1].ebx, 0x22);
	assert_int_equal(back.vm.clock.clock, 12345);
	assert_int_equal(back.serial.lcr, 3);
	assert_int_equal(back.nr_vdevs, 2);
	assert_int_equal(back.vdevs[1].queues[1].last_avail, 77);
	assert_int_equal(back.vdevs[0].queues[4].last_avail, 55);
	assert_null(back.hotplug);
	snap_state_free(&back);
	free_sample(&x);
}

/* The CPU template applied at boot: kept in its own section, its
 * encoding checked as any other section. */
static void test_cpu_template_section(void **state)
{
	struct sample x;
	struct snap_state back;
	char err[256];
	size_t n;

	make_sample(&x, 1);
	free(x.buf);
	x.s.cpu_template = malloc(sizeof(*x.s.cpu_template));
	assert_int_equal(
		cpu_template_get_static(CPU_TEMPLATE_T2S, x.s.cpu_template), 0);
	assert_int_equal(snap_encode(&x.s, &x.buf, &x.len), 0);
	assert_int_equal(snap_decode(x.buf, x.len, &back, err, sizeof(err)), 0);
	assert_non_null(back.cpu_template);
	assert_int_equal(back.cpu_template->kind, CPU_TEMPLATE_T2S);
	assert_int_equal(back.cpu_template->nr_leaves,
			 x.s.cpu_template->nr_leaves);
	assert_int_equal(back.cpu_template->nr_msrs, x.s.cpu_template->nr_msrs);
	assert_memory_equal(back.cpu_template->msrs, x.s.cpu_template->msrs,
			    x.s.cpu_template->nr_msrs *
				    sizeof(x.s.cpu_template->msrs[0]));
	snap_state_free(&back);
	/* the section is last: damage its encoding's first byte */
	n = cpu_template_encoded_size(x.s.cpu_template);
	x.buf[x.len - n] ^= 0xff;
	reseal(x.buf, x.len);
	expect_refused(x.buf, x.len, "CPU template section: ");
	free_sample(&x);
}

/* --describe-snapshot: the header's version, whatever the rest says. */
static void test_describe(void **state)
{
	char path[] = "/tmp/microvm-describe-XXXXXX", err[256] = "";
	struct sample x;
	uint32_t version = 0, other = 9;
	int fd = mkstemp(path);

	make_sample(&x, 1);
	memcpy(x.buf + 8, &other, 4); /* a version this microvm cannot read */
	assert_true(fd >= 0);
	assert_int_equal(write(fd, x.buf, 40), 40); /* header + a bit */
	assert_int_equal(snap_describe(path, &version, err, sizeof(err)), 0);
	assert_int_equal(version, 9);
	assert_int_equal(ftruncate(fd, 31), 0); /* shorter than a header */
	assert_int_equal(snap_describe(path, &version, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "is not a microvm snapshot"));
	close(fd);
	unlink(path);
	assert_int_equal(snap_describe(path, &version, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "No such file"));
	free_sample(&x);
}

static uint64_t field(const cJSON *region, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(region, key);

	assert_true(cJSON_IsNumber(v));
	return (uint64_t)v->valuedouble;
}

/* The Uffd handshake names the page size in bytes and in KiB, and the
 * hot-plug region, when there is one, after RAM. */
static void test_uffd_message(void **state)
{
	struct guest_mem mem = { .host = (uint8_t *)0x7f0000000000ULL,
				 .size = 256ULL << 20 };
	size_t sizes[] = { 4096, 2u << 20 }, i;
	char buf[SNAP_UFFD_MESSAGE_MAX];

	for (i = 0; i < 2; i++) {
		cJSON *j, *r;

		mem.page_size = sizes[i];
		assert_true(snap_uffd_message(&mem, buf, sizeof(buf)) <
			    sizeof(buf));
		j = cJSON_Parse(buf);
		assert_true(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 1);
		r = cJSON_GetArrayItem(j, 0);
		assert_int_equal(field(r, "base_host_virt_addr"),
				 0x7f0000000000ULL);
		assert_int_equal(field(r, "size"), 256ULL << 20);
		assert_int_equal(field(r, "offset"), 0);
		assert_int_equal(field(r, "page_size"), sizes[i]);
		assert_int_equal(field(r, "page_size_kib"), sizes[i] / 1024);
		cJSON_Delete(j);
	}
	/* a hot-plug region: a second entry, after RAM in the memory file */
	mem.hp.host = (uint8_t *)0x7f8000000000ULL;
	mem.hp.size = 1ULL << 30;
	{
		size_t n = snap_uffd_message(&mem, buf, sizeof(buf));
		cJSON *j = cJSON_Parse(buf), *r;

		assert_true(n < sizeof(buf));
		assert_true(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 2);
		r = cJSON_GetArrayItem(j, 1);
		assert_int_equal(field(r, "base_host_virt_addr"),
				 0x7f8000000000ULL);
		assert_int_equal(field(r, "size"), 1ULL << 30);
		assert_int_equal(field(r, "offset"), 256ULL << 20);
		assert_int_equal(field(r, "page_size_kib"), 2048);
		cJSON_Delete(j);
	}
}

static void test_crc32_known_value(void **state)
{
	static uint8_t bytes[4099];
	unsigned i;

	assert_int_equal(snap_crc32("123456789", 9), 0xcbf43926);
	/* eight bytes at a step, a tail, and an odd start (zlib's values) */
	for (i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(snap_crc32(bytes, sizeof(bytes)), 0x9ce410f9);
	assert_int_equal(snap_crc32(bytes + 1, sizeof(bytes) - 1), 0xe89e8b3e);
	assert_int_equal(snap_crc32(bytes, 0), 0);
}

static void test_header_damage(void **state)
{
	struct sample x;
	uint8_t *b;
	size_t i;

	make_sample(&x, 1);
	b = malloc(x.len);
	expect_refused(x.buf, 0, "truncated");
	expect_refused(x.buf, 31, "truncated");
	for (i = 32; i < x.len; i += x.len / 7)
		expect_refused(x.buf, i, "truncated");
	memcpy(b, x.buf, x.len);
	b[0] = 'X';
	expect_refused(b, x.len, "bad magic");
	memcpy(b, x.buf, x.len);
	b[8] = 1; /* before CPUID was saved */
	expect_refused(b, x.len, "format version 1, this microvm reads 4");
	memcpy(b, x.buf, x.len);
	b[12] = 40;
	expect_refused(b, x.len, "architecture 40 (an unknown ELF machine)");
	b[12] = 183;
	expect_refused(b, x.len,
		       "architecture 183 (aarch64), this microvm is x86_64");
	memcpy(b, x.buf, x.len);
	b[x.len - 1] ^= 0x80;
	expect_refused(b, x.len, "CRC mismatch");
	free(b);
	free_sample(&x);
}

static void test_section_damage(void **state)
{
	struct sample x;
	struct snap_vcpu v = { .index = 0 };
	struct vdev_state d = { .index = 1 };
	uint8_t *b;
	size_t n;

	make_sample(&x, 2);
	b = with_section(&x, 99, 4, NULL, &n);
	expect_refused(b, n, "unknown section type 99");
	free(b);
	b = with_section(&x, 3, sizeof(v), &v, &n); /* vCPU 0 again */
	expect_refused(b, n, "vCPU index 0 repeated");
	free(b);
	v.index = 40;
	b = with_section(&x, 3, sizeof(v), &v, &n);
	expect_refused(b, n, "vCPU index 40");
	free(b);
	v.index = 2;
	v.nmsrs = 100000;
	b = with_section(&x, 3, sizeof(v), &v, &n);
	expect_refused(b, n, "MSRs");
	free(b);
	v.nmsrs = 0; /* and v.ncpuid = 0 */
	b = with_section(&x, 3, sizeof(v), &v, &n);
	expect_refused(b, n, "vCPU 2 has 0 CPUID entries");
	free(b);
	v.ncpuid = SNAP_MAX_CPUID + 1;
	b = with_section(&x, 3, sizeof(v), &v, &n);
	expect_refused(b, n, "CPUID entries (1 to 256)");
	free(b);
	b = with_section(&x, 3, 10, &v, &n);
	expect_refused(b, n, "vCPU section is 10 bytes");
	free(b);
	b = with_section(&x, 5, sizeof(d), &d, &n); /* slot 1 again */
	expect_refused(b, n, "virtio slot 1 repeated");
	free(b);
	d.index = 5;
	d.nr_queues = 9;
	b = with_section(&x, 5, sizeof(d), &d, &n);
	expect_refused(b, n, "has 9 queues");
	free(b);
	d.nr_queues = 1;
	d.queues[0].size = 1024;
	b = with_section(&x, 5, sizeof(d), &d, &n);
	expect_refused(b, n, "size 1024");
	free(b);
	b = with_section(&x, 1, 3, "{}x", &n); /* second config */
	expect_refused(b, n, "two config sections");
	free(b);
	b = with_section(&x, 2, sizeof(x.s.vm), &x.s.vm, &n);
	expect_refused(b, n, "two VM sections");
	free(b);
	free_sample(&x);
}

/* virtio-mem's region: 130 blocks (a bitmap of three words), kept; a
 * second one, a region not in whole blocks, a block count or bitmap that
 * does not match, a block past the region: refused. */
static void test_hotplug_section(void **state)
{
	uint64_t h[4 + 3] = { 1ULL << 32, 130 << 21, 1 << 21, 130,
			      1ULL << 63, 0,	     0x3 };
	size_t len = sizeof(h);
	struct snap_state back;
	struct sample x;
	char err[256];
	uint8_t *b;
	size_t n;

	assert_int_equal(snap_hotplug_size(130), len);
	make_sample(&x, 1);
	b = with_section(&x, 7, (uint32_t)len, h, &n);
	assert_int_equal(snap_decode(b, n, &back, err, sizeof(err)), 0);
	assert_non_null(back.hotplug);
	assert_memory_equal(back.hotplug, h, len);
	snap_state_free(&back);
	free(x.buf); /* and again from the encoder */
	x.s.hotplug = malloc(len);
	memcpy(x.s.hotplug, h, len);
	assert_int_equal(snap_encode(&x.s, &x.buf, &x.len), 0);
	assert_int_equal(snap_decode(x.buf, x.len, &back, err, sizeof(err)), 0);
	assert_memory_equal(back.hotplug, h, len);
	snap_state_free(&back);
	free(b);
	b = with_section(&x, 7, (uint32_t)len, h, &n);
	expect_refused(b, n, "two hot-plug sections");
	free(b);
	free(x.s.hotplug);
	x.s.hotplug = NULL;
	free(x.buf);
	assert_int_equal(snap_encode(&x.s, &x.buf, &x.len), 0);
	h[6] = 0x4; /* block 130 */
	b = with_section(&x, 7, (uint32_t)len, h, &n);
	expect_refused(b, n, "blocks past the region");
	free(b);
	h[6] = 0;
	b = with_section(&x, 7, (uint32_t)len - 8, h, &n);
	expect_refused(b, n, "hot-plug section is 48 bytes, expected 56");
	free(b);
	b = with_section(&x, 7, 16, h, &n);
	expect_refused(b, n, "hot-plug section of 16 bytes");
	free(b);
	h[3] = 131;
	b = with_section(&x, 7, (uint32_t)len, h, &n);
	expect_refused(b, n, "in 131 blocks");
	free(b);
	h[3] = 130;
	h[2] = 0;
	b = with_section(&x, 7, (uint32_t)len, h, &n);
	expect_refused(b, n, "blocks of 0 bytes");
	free(b);
	h[2] = 1 << 21;
	h[0] += 4096;
	b = with_section(&x, 7, (uint32_t)len, h, &n);
	expect_refused(b, n, "hot-plug section: region");
	free(b);
	free_sample(&x);
}

static void test_section_past_end_and_missing_parts(void **state)
{
	struct sample x;
	uint8_t *b;
	size_t n;
	uint32_t huge = 0xfffffff0u;

	make_sample(&x, 1);
	b = with_section(&x, 1, 0, NULL, &n);
	memcpy(b + x.len + 4, &huge, 4); /* claims 4 GiB */
	reseal(b, n);
	expect_refused(b, n, "runs past the end");
	free(b);
	free_sample(&x);
	/* a file with only a header: nothing in it */
	make_sample(&x, 1);
	{
		uint8_t h[32];
		uint64_t zero = 0;

		memcpy(h, x.buf, 32);
		memcpy(h + 16, &zero, 8);
		reseal(h, 32);
		expect_refused(h, 32, "missing config section");
	}
	free_sample(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_cpu_template_section),
		cmocka_unit_test(test_hotplug_section),
		cmocka_unit_test(test_crc32_known_value),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_uffd_message),
		cmocka_unit_test(test_header_damage),
		cmocka_unit_test(test_section_damage),
		cmocka_unit_test(test_section_past_end_and_missing_parts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

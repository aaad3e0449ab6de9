// SPDX-License-Identifier: Apache-2.0
/* The state file: header, CRC-32, typed sections (see snapshot.h). The
 * decoder trusts nothing: sizes, counts, indexes and duplicates are all
 * checked, and a failure says which. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot/snapshot.h"

enum section_type {
	SEC_CONFIG = 1,
	SEC_VM,
	SEC_VCPU,
	SEC_SERIAL,
	SEC_VDEV,
	SEC_CPU_TEMPLATE,
	SEC_HOTPLUG,
};

struct file_header {
	char magic[8];
	uint32_t version, arch;
	uint64_t payload_len;
	uint32_t crc, reserved;
};

struct section_header {
	uint32_t type, len;
};

_Static_assert(sizeof(struct file_header) == 32, "header layout");

/* CRC-32 (IEEE 802.3, reflected, as zlib's) eight bytes at a step
 * ("slicing-by-8"): crc_tables[k][b] is byte b's CRC followed by k zero
 * bytes, so eight table lookups replace eight byte steps. A 100 KB state
 * file took 247 us a byte at a time, on the load path. */
static uint32_t crc_tables[8][256];
static pthread_once_t crc_tables_once = PTHREAD_ONCE_INIT;

static void crc_tables_make(void)
{
	unsigned i, k;

	for (i = 0; i < 256; i++) {
		uint32_t c = i;

		for (k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_tables[0][i] = c;
	}
	for (k = 1; k < 8; k++)
		for (i = 0; i < 256; i++) {
			uint32_t c = crc_tables[k - 1][i];

			crc_tables[k][i] = (c >> 8) ^ crc_tables[0][c & 0xff];
		}
}

uint32_t snap_crc32(const void *buf, size_t len)
{
	const uint32_t(*t)[256] = crc_tables;
	const uint8_t *p = buf;
	uint32_t crc = 0xffffffffu;

	pthread_once(&crc_tables_once, crc_tables_make);
	for (; len >= 8; p += 8, len -= 8) {
		uint32_t lo = crc ^ read_le32(p), hi = read_le32(p + 4);

		crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^
		      t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
		      t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^
		      t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
	}
	for (; len; p++, len--)
		crc = t[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
	return crc ^ 0xffffffffu;
}

/* ---- encoding ---- */

struct writer {
	uint8_t *buf;
	size_t len, cap;
};

static int put(struct writer *w, const void *p, size_t n)
{
	if (w->len + n > w->cap) {
		size_t cap = (w->len + n) * 2;
		uint8_t *b = realloc(w->buf, cap);

		if (!b)
			return -ENOMEM;
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	return 0;
}

static int put_section(struct writer *w, uint32_t type, const void *p, size_t n)
{
	struct section_header h = { type, (uint32_t)n };

	return put(w, &h, sizeof(h)) ?: put(w, p, n);
}

static int put_cpu_template(struct writer *w, const struct cpu_template *t)
{
	size_t n = cpu_template_encoded_size(t);
	uint8_t *buf = malloc(n);
	int ret;

	if (!buf)
		return -ENOMEM;
	cpu_template_encode(t, buf);
	ret = put_section(w, SEC_CPU_TEMPLATE, buf, n);
	free(buf);
	return ret;
}

int snap_encode(const struct snap_state *s, uint8_t **out, size_t *len)
{
	struct file_header h = { .magic = SNAP_MAGIC,
				 .version = SNAP_VERSION,
				 .arch = SNAP_ARCH };
	struct writer w = { 0 };
	unsigned i;
	int ret = put(&w, &h, sizeof(h));

	if (!ret)
		ret = put_section(&w, SEC_CONFIG, s->config_json,
				  strlen(s->config_json));
	if (!ret)
		ret = put_section(&w, SEC_VM, &s->vm, sizeof(s->vm));
	for (i = 0; i < s->nr_vcpus && !ret; i++)
		ret = put_section(&w, SEC_VCPU, &s->vcpus[i],
				  sizeof(s->vcpus[i]));
	if (!ret)
		ret = put_section(&w, SEC_SERIAL, &s->serial,
				  sizeof(s->serial));
	for (i = 0; i < s->nr_vdevs && !ret; i++)
		ret = put_section(&w, SEC_VDEV, &s->vdevs[i],
				  sizeof(s->vdevs[i]));
	if (!ret && s->cpu_template)
		ret = put_cpu_template(&w, s->cpu_template);
	if (!ret && s->hotplug)
		ret = put_section(&w, SEC_HOTPLUG, s->hotplug,
				  snap_hotplug_size(s->hotplug->nr_blocks));
	if (ret) {
		free(w.buf);
		return ret;
	}
	h.payload_len = w.len - sizeof(h);
	h.crc = snap_crc32(w.buf + sizeof(h), w.len - sizeof(h));
	memcpy(w.buf, &h, sizeof(h));
	*out = w.buf;
	*len = w.len;
	return 0;
}

/* ---- decoding ---- */

#ifndef __aarch64__ /* arm64's checks: format_arm64.c */
int snap_check_vcpu(const struct snap_vcpu *v, char *err, size_t err_size)
{
	if (v->nmsrs > SNAP_MAX_MSRS) {
		snprintf(err, err_size, "vCPU %u has %u MSRs (limit %u)",
			 v->index, v->nmsrs, SNAP_MAX_MSRS);
		return -EINVAL;
	}
	if (!v->ncpuid || v->ncpuid > SNAP_MAX_CPUID) {
		snprintf(err, err_size,
			 "vCPU %u has %u CPUID entries (1 to %u)", v->index,
			 v->ncpuid, SNAP_MAX_CPUID);
		return -EINVAL;
	}
	return 0;
}

int snap_check_vm(const struct snap_vm *vm, char *err, size_t err_size)
{
	return 0; /* irqchips, PIT and clock: KVM checks what it is given */
}
#endif

struct reader {
	struct snap_state *s;
	bool seen_config, seen_vm, seen_serial;
	uint32_t vcpu_seen; /* bitmap of vCPU indexes */
	unsigned vdev_seen; /* bitmap of slots */
	char *err;
	size_t err_size;
};

static int fail(struct reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail(struct reader *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, r->err_size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int want_size(struct reader *r, const char *what, uint32_t len,
		     size_t size)
{
	if (len != size)
		return fail(r, "%s section is %u bytes, expected %zu", what,
			    len, size);
	return 0;
}

static int read_config(struct reader *r, const uint8_t *p, uint32_t len)
{
	if (r->seen_config)
		return fail(r, "two config sections");
	if (len == 0 || len > SNAP_MAX_CONFIG)
		return fail(r, "config section of %u bytes (limit %u)", len,
			    SNAP_MAX_CONFIG);
	if (memchr(p, '\0', len))
		return fail(r, "config section holds a NUL byte");
	r->s->config_json = malloc(len + 1);
	if (!r->s->config_json)
		return -ENOMEM;
	memcpy(r->s->config_json, p, len);
	r->s->config_json[len] = '\0';
	r->seen_config = true;
	return 0;
}

static int read_vcpu(struct reader *r, const uint8_t *p, uint32_t len)
{
	struct snap_vcpu v;
	struct snap_vcpu *grown;
	int ret = want_size(r, "vCPU", len, sizeof(v));

	if (ret)
		return ret;
	memcpy(&v, p, sizeof(v));
	if (v.index >= VM_MAX_VCPUS || (r->vcpu_seen & (1U << v.index)))
		return fail(r, "vCPU index %u repeated or above %u", v.index,
			    VM_MAX_VCPUS - 1);
	ret = snap_check_vcpu(&v, r->err, r->err_size);
	if (ret)
		return ret;
	grown = realloc(r->s->vcpus, (r->s->nr_vcpus + 1) * sizeof(v));
	if (!grown)
		return -ENOMEM;
	r->s->vcpus = grown;
	r->s->vcpus[r->s->nr_vcpus++] = v;
	r->vcpu_seen |= 1U << v.index;
	return 0;
}

static int read_vdev(struct reader *r, const uint8_t *p, uint32_t len)
{
	struct vdev_state d;
	unsigned q;
	int ret = want_size(r, "virtio device", len, sizeof(d));

	if (ret)
		return ret;
	memcpy(&d, p, sizeof(d));
	if (d.index >= VIRTIO_MAX_DEVICES || (r->vdev_seen & (1U << d.index)))
		return fail(r, "virtio slot %u repeated or above %u", d.index,
			    VIRTIO_MAX_DEVICES - 1);
	if (d.nr_queues > VDEV_MAX_QUEUES)
		return fail(r, "virtio slot %u has %u queues", d.index,
			    d.nr_queues);
	for (q = 0; q < d.nr_queues; q++)
		if (d.queues[q].size > VQ_MAX_SIZE)
			return fail(r, "virtio slot %u queue %u has size %u",
				    d.index, q, d.queues[q].size);
	r->s->vdevs[r->s->nr_vdevs++] = d;
	r->vdev_seen |= 1U << d.index;
	return 0;
}

static int read_cpu_template(struct reader *r, const uint8_t *p, uint32_t len)
{
	struct config_err e = { "" };

	if (r->s->cpu_template)
		return fail(r, "two CPU template sections");
	r->s->cpu_template = malloc(sizeof(*r->s->cpu_template));
	if (!r->s->cpu_template)
		return fail(r, "out of memory");
	if (cpu_template_decode(p, len, r->s->cpu_template, &e))
		return fail(r, "CPU template section: %s", e.msg);
	return 0;
}

size_t snap_hotplug_size(uint64_t nr_blocks)
{
	return sizeof(struct snap_hotplug) + (nr_blocks + 63) / 64 * 8;
}

/* A region of whole blocks of 4 KiB pages, its bitmap as long as its
 * blocks need and no bit past the last block. */
static int read_hotplug(struct reader *r, const uint8_t *p, uint32_t len)
{
	struct snap_hotplug h;
	uint64_t tail;

	if (r->s->hotplug)
		return fail(r, "two hot-plug sections");
	if (len < sizeof(h))
		return fail(r, "hot-plug section of %u bytes", len);
	memcpy(&h, p, sizeof(h));
	if (!h.block_size || h.block_size % 4096 || h.size % h.block_size ||
	    h.gpa % h.block_size || h.nr_blocks != h.size / h.block_size ||
	    !h.nr_blocks)
		return fail(
			r,
			"hot-plug section: region of %llu bytes at 0x%llx in %llu blocks of %llu bytes",
			(unsigned long long)h.size, (unsigned long long)h.gpa,
			(unsigned long long)h.nr_blocks,
			(unsigned long long)h.block_size);
	if (len != snap_hotplug_size(h.nr_blocks))
		return fail(r, "hot-plug section is %u bytes, expected %zu",
			    len, snap_hotplug_size(h.nr_blocks));
	r->s->hotplug = malloc(len);
	if (!r->s->hotplug)
		return fail(r, "out of memory");
	memcpy(r->s->hotplug, p, len);
	tail = h.nr_blocks % 64;
	if (tail && r->s->hotplug->plugged[h.nr_blocks / 64] >> tail)
		return fail(r, "hot-plug section: blocks past the region");
	return 0;
}

static int read_once(struct reader *r, bool *seen, const char *what, void *dst,
		     size_t size, const uint8_t *p, uint32_t len)
{
	int ret = want_size(r, what, len, size);

	if (ret)
		return ret;
	if (*seen)
		return fail(r, "two %s sections", what);
	memcpy(dst, p, size);
	*seen = true;
	return 0;
}

/* The VM section, then the architecture's checks of it. */
static int read_vm(struct reader *r, const uint8_t *p, uint32_t len)
{
	int ret = read_once(r, &r->seen_vm, "VM", &r->s->vm, sizeof(r->s->vm),
			    p, len);

	return ret ? ret : snap_check_vm(&r->s->vm, r->err, r->err_size);
}

static int read_section(struct reader *r, uint32_t type, const uint8_t *p,
			uint32_t len)
{
	switch (type) {
	case SEC_CONFIG:
		return read_config(r, p, len);
	case SEC_VM:
		return read_vm(r, p, len);
	case SEC_VCPU:
		return read_vcpu(r, p, len);
	case SEC_SERIAL:
		return read_once(r, &r->seen_serial, "serial", &r->s->serial,
				 sizeof(r->s->serial), p, len);
	case SEC_VDEV:
		return read_vdev(r, p, len);
	case SEC_CPU_TEMPLATE:
		return read_cpu_template(r, p, len);
	case SEC_HOTPLUG:
		return read_hotplug(r, p, len);
	default:
		return fail(r, "unknown section type %u", type);
	}
}

static int check_header(struct reader *r, const uint8_t *buf, size_t len)
{
	struct file_header h;

	if (len < sizeof(h))
		return fail(r, "truncated: %zu bytes, the header alone is %zu",
			    len, sizeof(h));
	memcpy(&h, buf, sizeof(h));
	if (memcmp(h.magic, SNAP_MAGIC, sizeof(h.magic)))
		return fail(r, "not a microvm snapshot (bad magic)");
	if (h.version != SNAP_VERSION)
		return fail(r,
			    "snapshot format version %u, this microvm reads %u",
			    h.version, SNAP_VERSION);
	if (h.arch != SNAP_ARCH)
		return fail(
			r,
			"snapshot of architecture %u (%s), this microvm is " SNAP_ARCH_NAME
			": a snapshot loads only on the architecture it was taken on",
			h.arch,
			h.arch == SNAP_ARCH_AARCH64 ? "aarch64" :
			h.arch == SNAP_ARCH_X86_64  ? "x86_64" :
						      "an unknown ELF machine");
	if (h.payload_len != len - sizeof(h))
		return fail(
			r,
			"truncated or padded: payload %zu bytes, header says %llu",
			len - sizeof(h), (unsigned long long)h.payload_len);
	if (snap_crc32(buf + sizeof(h), len - sizeof(h)) != h.crc)
		return fail(r, "CRC mismatch: the file is corrupt");
	return 0;
}

static int check_complete(struct reader *r)
{
	if (!r->seen_config || !r->seen_vm || !r->seen_serial)
		return fail(r, "missing %s section",
			    !r->seen_config ? "config" :
			    !r->seen_vm	    ? "VM" :
					      "serial");
	if (!r->s->nr_vcpus ||
	    r->vcpu_seen != (r->s->nr_vcpus == 32 ? 0xffffffffu :
						    (1U << r->s->nr_vcpus) - 1))
		return fail(r, "vCPU sections are not 0..%u", r->s->nr_vcpus);
	return 0;
}

int snap_decode(const uint8_t *buf, size_t len, struct snap_state *s, char *err,
		size_t err_size)
{
	struct reader r = { .s = s, .err = err, .err_size = err_size };
	size_t off = sizeof(struct file_header);
	int ret;

	memset(s, 0, sizeof(*s));
	ret = check_header(&r, buf, len);
	while (!ret && off < len) {
		struct section_header h;

		if (len - off < sizeof(h)) {
			ret = fail(&r, "truncated section header at %zu", off);
			break;
		}
		memcpy(&h, buf + off, sizeof(h));
		off += sizeof(h);
		if (h.len > len - off) {
			ret = fail(&r, "section at %zu runs past the end",
				   off - sizeof(h));
			break;
		}
		ret = read_section(&r, h.type, buf + off, h.len);
		off += h.len;
	}
	if (!ret)
		ret = check_complete(&r);
	if (ret)
		snap_state_free(s);
	return ret;
}

const struct snap_vcpu *snap_saved_vcpu(const struct snap_state *s,
					unsigned index)
{
	unsigned i;

	for (i = 0; i < s->nr_vcpus; i++)
		if (s->vcpus[i].index == index)
			return &s->vcpus[i];
	return NULL;
}

void snap_state_free(struct snap_state *s)
{
	free(s->config_json);
	free(s->vcpus);
	free(s->cpu_template);
	free(s->hotplug);
	memset(s, 0, sizeof(*s));
}

int snap_read_file(const char *path, struct snap_state *s, char *err,
		   size_t err_size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *buf;
	ssize_t n;
	int ret;

	memset(s, 0, sizeof(*s));
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, err_size, "cannot open %s: %s", path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > SNAP_MAX_FILE) {
		snprintf(err, err_size,
			 "%s: not a regular file of at most %u bytes", path,
			 SNAP_MAX_FILE);
		close(fd);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	n = buf ? read(fd, buf, (size_t)st.st_size + 1) : -1;
	close(fd);
	if (n < 0 || n > st.st_size) {
		snprintf(err, err_size, "cannot read %s", path);
		free(buf);
		return -EINVAL;
	}
	ret = snap_decode(buf, (size_t)n, s, err, err_size);
	free(buf);
	return ret;
}

int snap_describe(const char *path, uint32_t *version, char *err,
		  size_t err_size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct file_header h;
	ssize_t n = fd < 0 ? -1 : read(fd, &h, sizeof(h));
	int saved_errno = errno;

	if (fd >= 0)
		close(fd);
	if (n < 0) {
		snprintf(err, err_size, "cannot read %s: %s", path,
			 strerror(saved_errno));
		return -EINVAL;
	}
	if (n != sizeof(h) || memcmp(h.magic, SNAP_MAGIC, sizeof(h.magic))) {
		snprintf(err, err_size, "%s is not a microvm snapshot", path);
		return -EINVAL;
	}
	*version = h.version;
	return 0;
}

int snap_write_file(const char *path, const struct snap_state *s)
{
	char tmp[CONFIG_PATH_MAX + 8];
	uint8_t *buf;
	size_t len;
	int fd, ret = snap_encode(s, &buf, &len);

	if (ret)
		return ret;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	errno = 0;
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len || fsync(fd) < 0)
		ret = errno ? -errno : -EIO;
	if (fd >= 0)
		close(fd);
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret)
		unlink(tmp);
	free(buf);
	return ret;
}

// SPDX-License-Identifier: Apache-2.0
/*
 * --seccomp-filter FILE: per-thread filters compiled by Firecracker's
 * seccompiler-bin, used instead of microvm's own lists. The file is what
 * seccompiler-bin writes: a bincode map (fixed-width little-endian
 * integers) from thread kind to BPF program:
 *   u64 number of entries; per entry
 *     u64 name length, the name's bytes ("vmm", "api" or "vcpu"),
 *     u64 instruction count, that many 8-byte struct sock_filter.
 * As in Firecracker: at most 100,000 bytes, every one of the three kinds
 * present and no other, at most BPF_MAXINSNS instructions each, and an
 * empty program means no filter on that kind of thread. A kind named
 * twice is refused (seccompiler-bin never writes one).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"

#define FILE_LIMIT 100000 /* Firecracker's DESERIALIZATION_BYTES_LIMIT */

static const char *const kind_names[SECCOMP_FILE_KINDS] = { "api", "vmm",
							    "vcpu" };

struct reader {
	const uint8_t *p;
	size_t left;
};

static bool take(struct reader *r, void *out, size_t n)
{
	if (r->left < n)
		return false;
	memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
	return true;
}

static bool take_u64(struct reader *r, uint64_t *v)
{
	uint8_t b[8];
	int i;

	if (!take(r, b, sizeof(b)))
		return false;
	for (*v = 0, i = 7; i >= 0; i--)
		*v = *v << 8 | b[i];
	return true;
}

static int kind_of(const char *name, size_t len)
{
	int k;

	for (k = 0; k < SECCOMP_FILE_KINDS; k++)
		if (strlen(kind_names[k]) == len &&
		    !memcmp(kind_names[k], name, len))
			return k;
	return -1;
}

/* One entry into progs[its kind]; NULL or why not. */
static const char *parse_entry(struct reader *r, struct sock_fprog *progs,
			       bool *seen)
{
	char name[16];
	uint64_t len, count, i;
	int k;

	if (!take_u64(r, &len))
		return "truncated (a thread kind's name)";
	if (len >= sizeof(name))
		return "invalid thread category (not vmm, api or vcpu)";
	if (!take(r, name, len))
		return "truncated (a thread kind's name)";
	k = kind_of(name, len);
	if (k < 0)
		return "invalid thread category (not vmm, api or vcpu)";
	if (seen[k])
		return "a thread category named twice";
	seen[k] = true;
	if (!take_u64(r, &count))
		return "truncated (a program's length)";
	if (count > BPF_MAXINSNS)
		return "a program longer than 4096 instructions";
	if (count > r->left / sizeof(struct sock_filter))
		return "truncated (a program)";
	progs[k].len = (unsigned short)count;
	progs[k].filter = calloc(count ? count : 1, sizeof(struct sock_filter));
	if (!progs[k].filter)
		return "out of memory";
	for (i = 0; i < count; i++) {
		struct sock_filter *f = &progs[k].filter[i];
		uint8_t b[8];

		if (!take(r, b, sizeof(b)))
			return "truncated (a program)";
		f->code = (uint16_t)(b[0] | b[1] << 8);
		f->jt = b[2];
		f->jf = b[3];
		f->k = (uint32_t)b[4] | (uint32_t)b[5] << 8 |
		       (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;
	}
	return NULL;
}

void seccomp_file_free(struct sock_fprog *progs)
{
	int k;

	for (k = 0; k < SECCOMP_FILE_KINDS; k++) {
		free(progs[k].filter);
		progs[k].filter = NULL;
		progs[k].len = 0;
	}
}

const char *seccomp_file_parse(const uint8_t *buf, size_t len,
			       struct sock_fprog *progs)
{
	struct reader r = { buf, len };
	bool seen[SECCOMP_FILE_KINDS] = { false };
	const char *why = NULL;
	uint64_t entries, i;
	int k;

	memset(progs, 0, SECCOMP_FILE_KINDS * sizeof(*progs));
	if (len > FILE_LIMIT)
		why = "larger than 100000 bytes";
	else if (!take_u64(&r, &entries))
		why = "truncated (the number of thread categories)";
	else if (entries > SECCOMP_FILE_KINDS)
		why = "more thread categories than vmm, api and vcpu";
	for (i = 0; !why && i < entries; i++)
		why = parse_entry(&r, progs, seen);
	for (k = 0; !why && k < SECCOMP_FILE_KINDS; k++)
		if (!seen[k]) {
			static char missing[40];

			snprintf(missing, sizeof(missing),
				 "missing thread category: %s", kind_names[k]);
			why = missing;
		}
	if (why)
		seccomp_file_free(progs);
	return why;
}

const char *seccomp_file_read(const char *path, struct sock_fprog *progs)
{
	static uint8_t buf[FILE_LIMIT + 1];
	size_t n = 0;
	ssize_t got = 1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return strerror(errno);
	while (n < sizeof(buf) && got > 0) {
		got = read(fd, buf + n, sizeof(buf) - n);
		if (got > 0)
			n += (size_t)got;
	}
	close(fd);
	if (got < 0)
		return "cannot read it";
	return seccomp_file_parse(buf, n, progs);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* microvm-uffd's reading of a monitor's handshake (API-CONTRACT.md): the
 * JSON array of regions Firecracker sends, one entry per guest memory
 * mapping, {"base_host_virt_addr", "size", "offset", "page_size_kib", ...}.
 * The text is untrusted: every entry is checked (4 KiB pages, page-aligned,
 * inside the memory file, no wrap past 2^64), no two entries share file
 * bytes or host addresses, and together they are the whole file. Pure: no
 * system call (tests/fuzz/fuzz_uffd_handshake.c). */
#ifndef MICROVM_UFFD_HANDSHAKE_H
#define MICROVM_UFFD_HANDSHAKE_H

#include <stdint.h>

#define UFFD_PAGE 4096ULL
#define UFFD_MAX_REGIONS 8
#define UFFD_HANDSHAKE_MAX 2048 /* the text, its NUL included */

struct uffd_region {
	uint64_t base, size; /* the monitor's mapping */
	uint64_t offset; /* its place in the memory file */
};

/* The regions of NUL-terminated `json` for a memory file of file_size
 * bytes, into out[UFFD_MAX_REGIONS] and *n. 0, or -1 when refused. */
int uffd_parse_regions(const char *json, uint64_t file_size,
		       struct uffd_region *out, unsigned *n);

#endif

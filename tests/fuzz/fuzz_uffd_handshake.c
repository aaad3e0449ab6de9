// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: the monitor's handshake as microvm-uffd reads it
 * (uffd/handshake.c). The input's first 8 bytes are the memory file's size
 * (in pages, at most 2^40), the rest the JSON text, cut at
 * UFFD_HANDSHAKE_MAX - 1 as recvmsg cuts it. An accepted handshake has
 * 1..UFFD_MAX_REGIONS regions, each page-aligned and inside the file,
 * pairwise apart in the file and in the host's addresses, that add up to
 * the whole file: checked here again, independently. */
#include <stdlib.h>
#include <string.h>

#include "uffd/handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct uffd_region *r, unsigned n, uint64_t file)
{
	uint64_t total = 0;
	unsigned i, j;

	if (n == 0 || n > UFFD_MAX_REGIONS)
		abort();
	for (i = 0; i < n; i++) {
		if (!r[i].size ||
		    (r[i].base | r[i].size | r[i].offset) % 4096 ||
		    r[i].offset > file || r[i].size > file - r[i].offset ||
		    r[i].base + r[i].size < r[i].base)
			abort();
		for (j = 0; j < i; j++)
			if ((r[i].offset < r[j].offset + r[j].size &&
			     r[j].offset < r[i].offset + r[i].size) ||
			    (r[i].base < r[j].base + r[j].size &&
			     r[j].base < r[i].base + r[i].size))
				abort();
		total += r[i].size;
	}
	if (total != file)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char json[UFFD_HANDSHAKE_MAX];
	struct uffd_region r[UFFD_MAX_REGIONS];
	uint64_t pages = 0;
	size_t len;
	unsigned n;

	if (size < sizeof(pages))
		return 0;
	memcpy(&pages, data, sizeof(pages));
	pages %= 1ULL << 40;
	len = size - sizeof(pages);
	len = len < sizeof(json) - 1 ? len : sizeof(json) - 1;
	memcpy(json, data + sizeof(pages), len);
	json[len] = '\0';
	if (uffd_parse_regions(json, pages * 4096, r, &n) == 0)
		check(r, n, pages * 4096);
	return 0;
}

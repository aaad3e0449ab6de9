// SPDX-License-Identifier: Apache-2.0
/* microvm-uffd's reading of the handshake (handshake.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uffd/handshake.h"

/* A number after "key": in an entry's text; false when missing. */
static bool field(const char *entry, const char *key, uint64_t *v)
{
	char name[32];
	const char *at;
	char *end;

	snprintf(name, sizeof(name), "\"%s\":", key);
	at = strstr(entry, name);
	if (!at)
		return false;
	errno = 0;
	*v = strtoull(at + strlen(name), &end, 10);
	return !errno && end != at + strlen(name);
}

/* One {...} entry: 4 KiB pages, page-aligned, inside the memory file. */
static bool parse_region(const char *entry, struct uffd_region *r,
			 uint64_t file_size)
{
	uint64_t kib;

	return field(entry, "base_host_virt_addr", &r->base) &&
	       field(entry, "size", &r->size) &&
	       field(entry, "offset", &r->offset) &&
	       field(entry, "page_size_kib", &kib) && /* what E2B's reads */
	       kib == UFFD_PAGE / 1024 && r->size && !(r->base % UFFD_PAGE) &&
	       r->size <= UINT64_MAX - r->base && !(r->size % UFFD_PAGE) &&
	       !(r->offset % UFFD_PAGE) && r->offset <= file_size &&
	       r->size <= file_size - r->offset;
}

static bool overlap(uint64_t a, uint64_t a_len, uint64_t b, uint64_t b_len)
{
	return a < b + b_len && b < a + a_len;
}

/* Whether the last region parsed shares memory-file bytes or host
 * addresses with an earlier one. */
static bool overlaps_earlier(const struct uffd_region *regions, unsigned n)
{
	const struct uffd_region *r = &regions[n - 1];
	unsigned i;

	for (i = 0; i + 1 < n; i++)
		if (overlap(r->offset, r->size, regions[i].offset,
			    regions[i].size) ||
		    overlap(r->base, r->size, regions[i].base, regions[i].size))
			return true;
	return false;
}

int uffd_parse_regions(const char *json, uint64_t file_size,
		       struct uffd_region *out, unsigned *n)
{
	uint64_t total = 0;
	const char *p = json;

	*n = 0;
	while ((p = strchr(p, '{'))) {
		char entry[512];
		const char *end = strchr(p, '}');

		if (!end || end - p >= (long)sizeof(entry) ||
		    *n == UFFD_MAX_REGIONS)
			return -1;
		memcpy(entry, p, (size_t)(end - p));
		entry[end - p] = '\0';
		if (!parse_region(entry, &out[*n], file_size))
			return -1;
		total += out[(*n)++].size;
		if (overlaps_earlier(out, *n))
			return -1;
		p = end;
	}
	return *n && total == file_size ? 0 : -1;
}

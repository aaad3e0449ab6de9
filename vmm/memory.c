// SPDX-License-Identifier: Apache-2.0
/* Guest RAM: one host mapping, split in guest-physical space around the
 * MMIO gap [GMEM_LOW_LIMIT, 4 GiB) on x86; from GMEM_BASE (2 GiB) in one
 * piece on arm64; and virtio-mem's region, a mapping of its own above it,
 * whose plugged blocks are RAM too. gmem_ptr() is the one checked way in.
 * Anonymous RAM is 2 MiB-aligned; a booted VM's asks for transparent huge
 * pages (gmem_advise_huge), a snapshot's never (a memory file is mapped
 * over it, or userfaultfd fills it 4 KiB at a time). */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/memfd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/vmm.h"

#define HUGE_2M (2ULL << 20)

/* Anonymous memory starting on a 2 MiB boundary, so that transparent
 * huge pages can back all of it (guest-physical 2 MiB ranges then fall on
 * host 2 MiB pages): map 2 MiB more than needed, unmap the ends. NULL
 * with errno on failure. */
static uint8_t *map_anonymous(uint64_t size)
{
	size_t len = size + HUGE_2M;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	size_t head;

	if (p == MAP_FAILED)
		return NULL;
	head = (HUGE_2M - (uintptr_t)p % HUGE_2M) % HUGE_2M;
	if (head)
		munmap(p, head);
	munmap(p + head + size, HUGE_2M - head);
	return p + head;
}

static int map_hugetlb_memfd(struct guest_mem *mem)
{
	void *p;
	int fd = memfd_create("microvm-ram",
			      MFD_CLOEXEC | MFD_HUGETLB | MFD_HUGE_2MB);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)mem->size) < 0)
		goto err;
	p = mmap(NULL, mem->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto err;
	mem->host = p;
	mem->memfd = fd;
	return 0;
err:
	close(fd);
	return -errno;
}

int gmem_create(struct guest_mem *mem, uint64_t size, bool huge_2m)
{
	uint64_t align = huge_2m ? HUGE_2M : 4096;

	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
	if (size == 0 || size % align)
		return -EINVAL;
	mem->size = size;
	mem->page_size = align;
	if (huge_2m)
		return map_hugetlb_memfd(mem);
	mem->host = map_anonymous(size);
	return mem->host ? 0 : -errno;
}

int gmem_advise_huge(struct guest_mem *mem)
{
	if (mem->memfd >= 0)
		return -EINVAL; /* hugetlbfs: huge pages already */
	return madvise(mem->host, mem->size, MADV_HUGEPAGE) < 0 ? -errno : 0;
}

static void *map_file_private(void *at, uint64_t size, int fd, off_t off)
{
	return mmap(at, size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_NORESERVE | (at ? MAP_FIXED : 0), fd,
		    off);
}

int gmem_map_file(struct guest_mem *mem, uint64_t size, int fd)
{
	void *p;

	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
	if (size == 0 || size % 4096)
		return -EINVAL;
	p = map_file_private(NULL, size, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	mem->host = p;
	mem->size = size;
	mem->page_size = 4096;
	mem->file_private = true;
	return 0;
}

int gmem_remap_file(struct guest_mem *mem, int fd)
{
	if (!mem->host || mem->memfd >= 0)
		return -EINVAL; /* only anonymous 4 KiB-page RAM */
	if (map_file_private(mem->host, mem->size, fd, 0) == MAP_FAILED)
		return -errno;
	mem->file_private = true;
	return 0;
}

/* Anonymous memory over [p, p + len) of a mapping: the bytes read as
 * zero, and a file mapped there before is no longer read. */
static int map_anonymous_over(uint8_t *p, size_t len)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED;

	return mmap(p, len, PROT_READ | PROT_WRITE, flags, -1, 0) ==
			       MAP_FAILED ?
		       -errno :
		       0;
}

static int drop_pages(const struct guest_mem *mem, uint8_t *p, size_t len)
{
	if (mem->memfd >= 0)
		return fallocate(mem->memfd,
				 FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 p - mem->host, (off_t)len) < 0 ?
			       -errno :
			       0;
	if (mem->file_private)
		return map_anonymous_over(p, len);
	return madvise(p, len, MADV_DONTNEED) < 0 ? -errno : 0;
}

/* Whether host bytes [at, at + len) lie in the mapping [base, base + size)
 * and on `align` boundaries. */
static bool inside(const uint8_t *base, uint64_t size, const uint8_t *at,
		   size_t len, size_t align)
{
	return base && at >= base && at <= base + size &&
	       len <= (size_t)(base + size - at) && len &&
	       !((size_t)(at - base) % align) && !(len % align);
}

int gmem_discard(const struct guest_mem *mem, void *p, size_t len)
{
	uint8_t *at = p;
	int ret;

	if (inside(mem->hp.host, mem->hp.size, at, len, 4096))
		return mem->hp.file_private ?
			       map_anonymous_over(at, len) :
			       (madvise(at, len, MADV_DONTNEED) < 0 ? -errno :
								      0);
	if (!inside(mem->host, mem->size, at, len, mem->page_size))
		return -EINVAL;
	ret = drop_pages(mem, at, len);
	if (!ret)
		gmem_mark_dirty(mem, at, len);
	return ret;
}

int gmem_track_dirty(struct guest_mem *mem)
{
	size_t words = (mem->size / 4096 + 63) / 64;

	mem->dev_dirty = calloc(words, 8);
	mem->logged = calloc(words, 8);
	return mem->dev_dirty && mem->logged ? 0 : -ENOMEM;
}

void gmem_mark_dirty(const struct guest_mem *mem, const void *p, size_t len)
{
	uint64_t first, last, page;

	if (!mem->dev_dirty || !len)
		return;
	first = (uint64_t)((const uint8_t *)p - mem->host) / 4096;
	last = ((uint64_t)((const uint8_t *)p - mem->host) + len - 1) / 4096;
	for (page = first; page <= last && page < mem->size / 4096; page++)
		__atomic_fetch_or(&mem->dev_dirty[page / 64],
				  1ULL << (page % 64), __ATOMIC_RELAXED);
}

int gmem_hotplug_create(struct guest_mem *mem, uint64_t gpa, uint64_t size,
			uint64_t block_size)
{
	struct gmem_hotplug *hp = &mem->hp;
	uint64_t blocks = block_size ? size / block_size : 0;

	if (hp->host || !blocks || block_size % 4096 || size % block_size ||
	    gpa % block_size)
		return -EINVAL;
	hp->plugged = calloc((blocks + 63) / 64, 8);
	hp->host = hp->plugged ? map_anonymous(size) : NULL;
	if (!hp->host) {
		free(hp->plugged);
		hp->plugged = NULL;
		return -ENOMEM;
	}
	hp->gpa = gpa;
	hp->size = size;
	hp->block_size = block_size;
	return 0;
}

int gmem_hotplug_map_file(struct guest_mem *mem, int fd, uint64_t off)
{
	struct gmem_hotplug *hp = &mem->hp;

	if (!hp->host || off % 4096)
		return -EINVAL;
	if (map_file_private(hp->host, hp->size, fd, (off_t)off) == MAP_FAILED)
		return -errno;
	if (hp->file_private)
		close(hp->file_fd);
	hp->file_private = true;
	hp->file_fd = fd;
	hp->file_off = off;
	return 0;
}

int gmem_hotplug_rewind(struct guest_mem *mem, const uint64_t *plugged)
{
	struct gmem_hotplug *hp = &mem->hp;
	uint64_t w, words = (hp->size / hp->block_size + 63) / 64;

	if (!hp->file_private)
		return -ENOTSUP;
	if (map_file_private(hp->host, hp->size, hp->file_fd,
			     (off_t)hp->file_off) == MAP_FAILED)
		return -errno;
	for (w = 0; w < words; w++)
		__atomic_store_n(&hp->plugged[w], plugged[w], __ATOMIC_RELEASE);
	return 0;
}

bool gmem_hotplug_plugged(const struct guest_mem *mem, uint64_t block)
{
	return __atomic_load_n(&mem->hp.plugged[block / 64], __ATOMIC_ACQUIRE) &
	       (1ULL << (block % 64));
}

void gmem_hotplug_set(const struct guest_mem *mem, uint64_t first, uint64_t n,
		      bool plugged)
{
	const struct gmem_hotplug *hp = &mem->hp;
	uint64_t b;
	int ret;

	for (b = first; b < first + n; b++) {
		uint64_t bit = 1ULL << (b % 64);

		if (plugged)
			__atomic_fetch_or(&hp->plugged[b / 64], bit,
					  __ATOMIC_RELEASE);
		else
			__atomic_fetch_and(&hp->plugged[b / 64], ~bit,
					   __ATOMIC_RELEASE);
	}
	if (plugged || !n)
		return;
	ret = gmem_discard(mem, hp->host + first * hp->block_size,
			   n * hp->block_size);
	if (ret)
		log_warn("virtio-mem: cannot give unplugged blocks back: %s",
			 strerror(-ret));
}

void gmem_hotplug_destroy(struct guest_mem *mem)
{
	if (mem->hp.host)
		munmap(mem->hp.host, mem->hp.size);
	if (mem->hp.file_private)
		close(mem->hp.file_fd);
	free(mem->hp.plugged);
	memset(&mem->hp, 0, sizeof(mem->hp));
}

void gmem_destroy(struct guest_mem *mem)
{
	gmem_hotplug_destroy(mem);
	free(mem->dev_dirty);
	free(mem->logged);
	mem->dev_dirty = mem->logged = NULL;
	if (mem->host)
		munmap(mem->host, mem->size);
	if (mem->memfd >= 0)
		close(mem->memfd);
	mem->host = NULL;
	mem->memfd = -1;
}

unsigned gmem_regions(const struct guest_mem *mem)
{
	return mem->size > GMEM_LOW_LIMIT - GMEM_BASE ? 2 : 1;
}

void gmem_region(const struct guest_mem *mem, unsigned i, uint64_t *gpa,
		 uint64_t *size, uint64_t *host_offset)
{
	uint64_t low_max = GMEM_LOW_LIMIT - GMEM_BASE;
	uint64_t low = mem->size < low_max ? mem->size : low_max;

	if (i == 0) {
		*gpa = GMEM_BASE;
		*size = low;
		*host_offset = 0;
	} else {
		*gpa = GMEM_HIGH_START;
		*size = mem->size - low;
		*host_offset = low;
	}
}

/* [gpa, gpa + len) in virtio-mem's region, every block of it plugged. */
static void *hotplug_ptr(const struct guest_mem *mem, uint64_t gpa,
			 uint64_t len)
{
	const struct gmem_hotplug *hp = &mem->hp;
	uint64_t off = gpa - hp->gpa, b;

	if (!hp->host || gpa < hp->gpa || off > hp->size ||
	    len > hp->size - off)
		return NULL;
	for (b = off / hp->block_size; b * hp->block_size < off + len; b++)
		if (!gmem_hotplug_plugged(mem, b))
			return NULL;
	return hp->host + off;
}

void *gmem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	void *p = gmem_ram_ptr(mem, gpa, len);

	return p ? p : hotplug_ptr(mem, gpa, len);
}

void *gmem_ram_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	unsigned i;

	for (i = 0; i < gmem_regions(mem); i++) {
		uint64_t base, size, off;

		gmem_region(mem, i, &base, &size, &off);
		if (gpa < base || gpa - base > size ||
		    len > size - (gpa - base))
			continue;
		return mem->host + off + (gpa - base);
	}
	return NULL;
}

int gmem_write(const struct guest_mem *mem, uint64_t gpa, const void *src,
	       uint64_t len)
{
	void *dst = gmem_ptr(mem, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

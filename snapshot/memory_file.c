// SPDX-License-Identifier: Apache-2.0
/* Guest RAM into the memory file: Full writes every non-zero page of a
 * file truncated to the RAM size (zero pages stay holes); Diff writes, in
 * place, the pages KVM's dirty log and the devices' dirty bitmap name.
 * virtio-mem's region follows, its plugged blocks' non-zero pages, and
 * comes back mapped from the file with the blocks plugged again. Runs of
 * pages go out in one pwrite. A rewind drops, in runs, every page
 * those logs named since the load (kept in mem->logged when a snapshot
 * empties them). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot/snapshot.h"

#define PAGE 4096ULL

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;
	size_t i;

	for (i = 0; i < PAGE / 8; i++)
		if (w[i])
			return false;
	return true;
}

static bool bit(const uint64_t *map, uint64_t i)
{
	return map[i / 64] & (1ULL << (i % 64));
}

/* Writes pages [first, first + n) of the mapping at host to file offset
 * base + their offset in it. */
static int write_run(int fd, const uint8_t *host, uint64_t base, uint64_t first,
		     uint64_t n)
{
	const uint8_t *p = host + first * PAGE;
	uint64_t left = n * PAGE, off = base + first * PAGE;

	while (left) {
		ssize_t w = pwrite(fd, p, left, (off_t)off);

		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		off += (uint64_t)w;
		left -= (uint64_t)w;
	}
	return 0;
}

/* Writes, in runs, the pages of the mapping at host (`pages` of them, at
 * file offset base) set in `dirty`, or (dirty NULL) every page that is not
 * all zeros. */
static int write_pages(int fd, const uint8_t *host, uint64_t pages,
		       uint64_t base, const uint64_t *dirty, uint64_t *written)
{
	uint64_t i, start = 0;
	bool in_run = false;
	int ret = 0;

	for (i = 0; i <= pages && !ret; i++) {
		bool want = i < pages &&
			    (dirty ? bit(dirty, i) :
				     !page_is_zero(host + i * PAGE));

		if (want && !in_run)
			start = i;
		if (!want && in_run) {
			ret = write_run(fd, host, base, start, i - start);
			*written += i - start;
		}
		in_run = want;
	}
	return ret;
}

/* virtio-mem's region after RAM: a diff first zeroes the file's part of
 * it (truncated and grown again: holes on any file system); then every
 * non-zero page of each plugged block. */
static int write_hotplug(int fd, const struct guest_mem *mem, bool diff,
			 uint64_t *written)
{
	const struct gmem_hotplug *hp = &mem->hp;
	uint64_t b;
	int ret = 0;

	if (!hp->host)
		return 0;
	if (diff && (ftruncate(fd, (off_t)mem->size) < 0 ||
		     ftruncate(fd, (off_t)(mem->size + hp->size)) < 0))
		return -errno;
	for (b = 0; b < hp->size / hp->block_size && !ret; b++)
		if (gmem_hotplug_plugged(mem, b))
			ret = write_pages(fd, hp->host + b * hp->block_size,
					  hp->block_size / PAGE,
					  mem->size + b * hp->block_size, NULL,
					  written);
	return ret;
}

/* KVM's dirty log of every slot, merged into one page bitmap (by host
 * offset) with the devices' one; both logs start again empty. */
static int collect_dirty(struct vm *vm, uint64_t *merged)
{
	uint64_t words = (vm->mem.size / PAGE + 63) / 64;
	unsigned slot;

	for (slot = 0; slot < gmem_regions(&vm->mem); slot++) {
		uint64_t gpa, size, off, i, *log;
		struct kvm_dirty_log d = { .slot = slot };

		gmem_region(&vm->mem, slot, &gpa, &size, &off);
		log = calloc((size_t)((size / PAGE + 63) / 64), 8);
		if (!log)
			return -ENOMEM;
		d.dirty_bitmap = log;
		if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &d) < 0) {
			free(log);
			return -errno;
		}
		for (i = 0; i < size / PAGE; i++)
			if (bit(log, i))
				merged[(off / PAGE + i) / 64] |=
					1ULL << ((off / PAGE + i) % 64);
		free(log);
	}
	for (uint64_t w = 0; w < words; w++) {
		merged[w] |= __atomic_exchange_n(&vm->mem.dev_dirty[w], 0,
						 __ATOMIC_RELAXED);
	}
	return 0;
}

static int open_memory_file(const char *path, bool diff, uint64_t size)
{
	struct stat st;
	int fd = open(path,
		      diff ? O_WRONLY | O_CLOEXEC :
			     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		      0600);

	if (fd < 0)
		return -errno;
	if (!diff && ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		return -errno;
	}
	if (diff && (fstat(fd, &st) < 0 || (uint64_t)st.st_size != size)) {
		close(fd);
		return -ERANGE; /* not this VM's memory file */
	}
	return fd;
}

int snap_write_memory(struct vm *vm, const char *path, bool diff,
		      uint64_t *pages_written)
{
	uint64_t words = (vm->mem.size / PAGE + 63) / 64;
	uint64_t *dirty = NULL;
	int fd, ret = 0;

	*pages_written = 0;
	if (diff && !vm->mem.dev_dirty)
		return -ENOTSUP;
	if (vm->mem.dev_dirty) {
		dirty = calloc((size_t)words, 8);
		ret = dirty ? collect_dirty(vm, dirty) : -ENOMEM;
		for (uint64_t w = 0; !ret && w < words; w++)
			vm->mem.logged[w] |= dirty[w]; /* for a rewind */
	}
	fd = ret ? ret :
		   open_memory_file(path, diff, vm->mem.size + vm->mem.hp.size);
	if (fd >= 0) {
		ret = write_pages(fd, vm->mem.host, vm->mem.size / PAGE, 0,
				  diff ? dirty : NULL, pages_written);
		if (!ret)
			ret = write_hotplug(fd, &vm->mem, diff, pages_written);
		if (!ret && fdatasync(fd) < 0)
			ret = -errno;
		close(fd);
	} else {
		ret = fd;
	}
	free(dirty);
	return ret;
}

int snap_save_hotplug(const struct guest_mem *mem, struct snap_hotplug **out)
{
	const struct gmem_hotplug *hp = &mem->hp;
	uint64_t blocks = hp->host ? hp->size / hp->block_size : 0, w;
	struct snap_hotplug *h;

	*out = NULL;
	if (!hp->host)
		return 0;
	h = calloc(1, snap_hotplug_size(blocks));
	if (!h)
		return -ENOMEM;
	*h = (struct snap_hotplug){ hp->gpa, hp->size, hp->block_size, blocks };
	for (w = 0; w < (blocks + 63) / 64; w++)
		h->plugged[w] =
			__atomic_load_n(&hp->plugged[w], __ATOMIC_ACQUIRE);
	*out = h;
	return 0;
}

static int map_hotplug_file(struct guest_mem *mem, const char *mem_path)
{
	int fd = open(mem_path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = gmem_hotplug_map_file(mem, fd, mem->size);
	if (ret)
		close(fd);
	return ret;
}

int snap_restore_hotplug(struct guest_mem *mem, const struct snap_hotplug *h,
			 const char *mem_path, char *err, size_t err_size)
{
	const struct gmem_hotplug *hp = &mem->hp;
	uint64_t b;
	int ret;

	if (!h != !hp->host) {
		snprintf(
			err, err_size,
			"the state file %s hot-pluggable memory, its config %s",
			h ? "has" : "has no", h ? "none" : "has");
		return -EINVAL;
	}
	if (!h)
		return 0;
	if (h->gpa != hp->gpa || h->size != hp->size ||
	    h->block_size != hp->block_size) {
		snprintf(
			err, err_size,
			"the state file's hot-plug region (0x%llx, %llu MiB in blocks of %llu KiB) is not its config's (0x%llx, %llu MiB in blocks of %llu KiB)",
			(unsigned long long)h->gpa,
			(unsigned long long)(h->size >> 20),
			(unsigned long long)(h->block_size >> 10),
			(unsigned long long)hp->gpa,
			(unsigned long long)(hp->size >> 20),
			(unsigned long long)(hp->block_size >> 10));
		return -EINVAL;
	}
	ret = mem_path ? map_hotplug_file(mem, mem_path) : 0;
	if (ret) {
		snprintf(err, err_size, "memory file %s, hot-plug region: %s",
			 mem_path, strerror(-ret));
		return -EINVAL;
	}
	for (b = 0; b < h->nr_blocks; b++)
		if (bit(h->plugged, b))
			gmem_hotplug_set(mem, b, 1, true);
	return 0;
}

/* Drops pages [first, first + n): the next touch reads the memory file
 * again (File: MAP_PRIVATE) or asks the page server (Uffd). */
static int drop_run(const struct guest_mem *mem, uint64_t first, uint64_t n)
{
	return madvise(mem->host + first * PAGE, n * PAGE, MADV_DONTNEED) < 0 ?
		       -errno :
		       0;
}

int snap_rewind_memory(struct vm *vm, uint64_t *pages_dropped)
{
	uint64_t *logged = vm->mem.logged, pages = vm->mem.size / PAGE;
	uint64_t page = 0, start = 0, run = 0;
	int ret;

	*pages_dropped = 0;
	if (!logged)
		return -ENOTSUP;
	ret = collect_dirty(vm, logged);
	while (!ret && page < pages) {
		bool set = logged[page / 64] & (1ULL << (page % 64));

		if (!set && page % 64 == 0 && !logged[page / 64] && !run) {
			page += 64; /* a word of clean pages */
			continue;
		}
		if (set && !run++)
			start = page;
		if (!set && run) {
			ret = drop_run(&vm->mem, start, run);
			*pages_dropped += run;
			run = 0;
		}
		page++;
	}
	if (!ret && run) {
		ret = drop_run(&vm->mem, start, run);
		*pages_dropped += run;
	}
	memset(logged, 0, (size_t)((pages + 63) / 64) * 8);
	return ret;
}

static void populate(uint8_t *p, uint64_t len)
{
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
	if (madvise(p, len, MADV_POPULATE_READ) < 0)
		madvise(p, len, MADV_WILLNEED); /* before Linux 5.14 */
}

int snap_prefetch(const struct guest_mem *mem, const char *ws_path,
		  uint64_t *pages)
{
	uint64_t max = mem->size / PAGE, page, start = 0, n = 0;
	FILE *f = fopen(ws_path, "rb");

	*pages = 0;
	if (!f)
		return -errno;
	while (*pages < max && fread(&page, sizeof(page), 1, f) == 1) {
		if (page >= max)
			continue; /* not this VM's page: ignored */
		if (n && page == start + n) {
			n++;
		} else {
			if (n)
				populate(mem->host + start * PAGE, n * PAGE);
			start = page;
			n = 1;
		}
		(*pages)++;
	}
	if (n)
		populate(mem->host + start * PAGE, n * PAGE);
	fclose(f);
	return 0;
}

// SPDX-License-Identifier: Apache-2.0
/* The memory file of a Diff snapshot: KVM's dirty log (faked) and the
 * pages devices wrote, merged and written in place over a Full one. A
 * rewind drops the pages those logs named since the load, those a Diff
 * snapshot took from them meanwhile included, and no other. */
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>

#include "snapshot/snapshot.h"
#include "tests/unit/fake_kvm.h"
#include "tests/unit/unit.h"

#define PAGE 4096
#define MEM (8 * MIB)
#define KVM_DIRTY_PAGE 3 /* the guest wrote it */
#define DEV_DIRTY_PAGE 100 /* a device wrote it */

/* KVM_GET_DIRTY_LOG fills the whole bitmap of the slot (one bit per page
 * of MEM), as KVM does: a smaller buffer is a heap overflow (finding 4). */
static int fake_kvm_ioctl(unsigned long req, void *arg)
{
	struct kvm_dirty_log *d = arg;
	size_t bytes = (MEM / PAGE + 63) / 64 * 8;
	uint64_t *map = d->dirty_bitmap;

	if (req != KVM_GET_DIRTY_LOG || d->slot != 0)
		return -1;
	if (malloc_usable_size(map) < bytes)
		fail_msg("dirty log buffer of %zu bytes, KVM fills %zu",
			 malloc_usable_size(map), bytes);
	memset(map, 0, bytes);
	map[KVM_DIRTY_PAGE / 64] |= 1ULL << (KVM_DIRTY_PAGE % 64);
	return 0;
}

static void read_page(const char *path, uint64_t page, uint8_t *buf)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, PAGE, (off_t)(page * PAGE)), PAGE);
	close(fd);
}

static void test_diff_writes_guest_and_device_pages(void **state)
{
	char path[] = "/tmp/memfile-unit-XXXXXX";
	uint8_t buf[PAGE];
	struct vm vm = { .vm_fd = FAKE_VM_FD };
	uint64_t written;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(gmem_create(&vm.mem, MEM, false), 0);
	assert_int_equal(gmem_track_dirty(&vm.mem), 0);
	memset(vm.mem.host, 1, PAGE); /* page 0: in the Full snapshot */
	assert_int_equal(snap_write_memory(&vm, path, false, &written), 0);
	assert_int_equal(written, 1);

	memset(vm.mem.host + KVM_DIRTY_PAGE * PAGE, 2, PAGE);
	memset(vm.mem.host + DEV_DIRTY_PAGE * PAGE, 3, PAGE);
	gmem_mark_dirty(&vm.mem, vm.mem.host + DEV_DIRTY_PAGE * PAGE, 1);
	assert_int_equal(snap_write_memory(&vm, path, true, &written), 0);
	assert_int_equal(written, 2);
	read_page(path, KVM_DIRTY_PAGE, buf);
	assert_memory_equal(buf, vm.mem.host + KVM_DIRTY_PAGE * PAGE, PAGE);
	read_page(path, DEV_DIRTY_PAGE, buf);
	assert_memory_equal(buf, vm.mem.host + DEV_DIRTY_PAGE * PAGE, PAGE);
	read_page(path, 0, buf);
	assert_int_equal(buf[0], 1);
	gmem_destroy(&vm.mem);
	unlink(path);
}

#define SNAP_PAGE 200 /* written, then taken by a Diff snapshot */
#define UNLOGGED_PAGE 50 /* written where no log sees it */

static uint8_t page_byte(const struct vm *vm, uint64_t page)
{
	return vm->mem.host[page * PAGE];
}

/* A memory file whose pages all hold 7, mapped as a load maps it. */
static int map_loaded(struct vm *vm, char *path)
{
	static uint8_t sevens[PAGE];
	int fd = mkstemp(path);
	uint64_t page;

	assert_true(fd >= 0);
	memset(sevens, 7, PAGE);
	for (page = 0; page < MEM / PAGE; page++)
		assert_int_equal(pwrite(fd, sevens, PAGE, (off_t)(page * PAGE)),
				 PAGE);
	assert_int_equal(gmem_map_file(&vm->mem, MEM, fd), 0);
	close(fd);
	return gmem_track_dirty(&vm->mem);
}

static void test_rewind_drops_logged_pages(void **state)
{
	char path[] = "/tmp/memfile-unit-XXXXXX";
	char diff[] = "/tmp/memfile-unit-XXXXXX";
	struct vm vm = { .vm_fd = FAKE_VM_FD };
	const uint64_t pages[] = { KVM_DIRTY_PAGE, DEV_DIRTY_PAGE, SNAP_PAGE,
				   UNLOGGED_PAGE };
	uint64_t dropped, written;
	int fd = mkstemp(diff);
	unsigned i;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, MEM), 0);
	close(fd);
	assert_int_equal(map_loaded(&vm, path), 0);
	for (i = 0; i < ARRAY_SIZE(pages); i++)
		memset(vm.mem.host + pages[i] * PAGE, 9, PAGE);
	gmem_mark_dirty(&vm.mem, vm.mem.host + SNAP_PAGE * PAGE, 1);
	assert_int_equal(snap_write_memory(&vm, diff, true, &written), 0);
	gmem_mark_dirty(&vm.mem, vm.mem.host + DEV_DIRTY_PAGE * PAGE, PAGE);

	assert_int_equal(snap_rewind_memory(&vm, &dropped), 0);
	assert_int_equal(dropped, 3);
	assert_int_equal(page_byte(&vm, KVM_DIRTY_PAGE), 7);
	assert_int_equal(page_byte(&vm, DEV_DIRTY_PAGE), 7);
	assert_int_equal(page_byte(&vm, SNAP_PAGE), 7);
	assert_int_equal(page_byte(&vm, UNLOGGED_PAGE), 9);
	/* the logs start again: only what the (fake) KVM names each time */
	assert_int_equal(snap_rewind_memory(&vm, &dropped), 0);
	assert_int_equal(dropped, 1);
	gmem_destroy(&vm.mem);
	unlink(path);
	unlink(diff);
}

static void test_rewind_needs_dirty_tracking(void **state)
{
	struct vm vm = { .vm_fd = FAKE_VM_FD };
	uint64_t dropped;

	assert_int_equal(gmem_create(&vm.mem, MEM, false), 0);
	assert_int_equal(snap_rewind_memory(&vm, &dropped), -ENOTSUP);
	gmem_destroy(&vm.mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diff_writes_guest_and_device_pages),
		cmocka_unit_test(test_rewind_drops_logged_pages),
		cmocka_unit_test(test_rewind_needs_dirty_tracking),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

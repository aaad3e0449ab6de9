// SPDX-License-Identifier: Apache-2.0
/* virtio-balloon driven as Linux's driver drives it (tests/harness):
 * inflated pages read as zero, hostile frame numbers are skipped, stats
 * are held until the polling interval, free page reports go back, the
 * queue numbers follow the features taken, and a snapshot keeps it all. */
#include <stdio.h>
#include <unistd.h>

#include "tests/harness/guest.h"
#include "tests/unit/unit.h"

#define MEM (4 * MIB)
#define PAGE 4096
#define F_STATS_VQ 1
#define F_DEFLATE_ON_OOM 2
#define F_REPORTING 5
#define INFLATEQ 0
#define DEFLATEQ 1
#define R_CONFIG 0x100

/* Guest pages from 1 MiB up, past the harness's rings and buffers. */
#define PFN(i) (uint32_t)((MIB >> 12) + (i))

static int setup(void **state)
{
	return guest_init(MEM);
}

static int teardown(void **state)
{
	guest_fini();
	return 0;
}

static uint8_t *page(uint32_t pfn)
{
	return guest.vm.mem.host + (uint64_t)pfn * PAGE;
}

static void create(unsigned stats_s, bool reporting)
{
	struct balloon_cfg c = { .set = true,
				 .amount_mib = 1,
				 .deflate_on_oom = true,
				 .stats_interval_s = stats_s,
				 .free_page_reporting = reporting };

	assert_int_equal(guest_add_balloon(&c), 0);
}

static void send_pfns(unsigned q, const uint32_t *pfns, unsigned n)
{
	uint16_t used = guest_ring_idx(q, USED_OFF);

	guest_post_buffer(q, pfns, n * 4);
	guest_kick(q);
	assert_int_equal(guest_ring_idx(q, USED_OFF), (uint16_t)(used + 1));
}

static void test_inflate_gives_pages_back(void **state)
{
	uint32_t pfns[] = { PFN(3),
			    PFN(1),
			    PFN(1),
			    PFN(2),
			    0xffffffff,
			    (uint32_t)(GMEM_LOW_LIMIT >> 12) + 5,
			    (uint32_t)(MEM >> 12) };

	create(0, false);
	assert_int_equal(guest_driver_init(2, 3, 1ULL << F_DEFLATE_ON_OOM) &
				 VIRTIO_STATUS_DRIVER_OK,
			 VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(guest_reg_read(R_CONFIG), 256); /* 1 MiB */
	memset(page(PFN(0)), 0xaa, 5 * PAGE);
	/* repeated, unsorted, outside RAM, in the MMIO gap, past the end */
	send_pfns(INFLATEQ, pfns, 7);
	assert_int_equal(page(PFN(0))[PAGE - 1], 0xaa);
	assert_int_equal(page(PFN(1))[0], 0);
	assert_int_equal(page(PFN(3))[PAGE - 1], 0);
	assert_int_equal(page(PFN(4))[0], 0xaa);
	assert_int_equal(guest_status() & VIRTIO_STATUS_NEEDS_RESET, 0);
	/* deflate: the guest uses the page again */
	send_pfns(DEFLATEQ, pfns, 2);
	memset(page(PFN(1)), 0xbb, PAGE);
	send_pfns(INFLATEQ, pfns + 1, 1); /* inflated again: given back */
	assert_int_equal(page(PFN(1))[0], 0);
	/* actual, written by the driver; the rest of config space read-only */
	guest_reg_write(R_CONFIG + 4, 3);
	guest_reg_write(R_CONFIG, 7);
	assert_int_equal(guest_reg_read(R_CONFIG + 4), 3);
	assert_int_equal(guest_reg_read(R_CONFIG), 256);
	vballoon_set_target(guest.balloon, 2);
	assert_int_equal(guest_reg_read(R_CONFIG), 512);
}

/* A stats buffer of (le16 tag, le64 value) entries. */
static uint32_t stats_entry(uint8_t *at, uint16_t tag, uint64_t val)
{
	memcpy(at, &tag, 2);
	memcpy(at + 2, &val, 8);
	return 10;
}

static void post_stats(uint64_t free_mem)
{
	uint8_t buf[40];
	uint32_t n = stats_entry(buf, 4, free_mem);

	n += stats_entry(buf + n, 999, 1); /* a bogus tag */
	n += stats_entry(buf + n, 5, 8 * MIB);
	buf[n++] = 0xff; /* a partial entry */
	guest_post_buffer(2, buf, n);
	guest_kick(2);
}

/* A frame number in virtio-mem's region names no page of boot RAM: the
 * balloon skips it, even in a plugged block (the guest keeps its bytes). */
static void test_hotplugged_pages_are_skipped(void **state)
{
	struct hotplug_cfg h = { true, 16, 2, 4 };
	uint32_t pfn;
	uint8_t *p;

	create(0, false);
	assert_int_equal(guest_add_mem(&h), 0);
	gmem_hotplug_set(&guest.vm.mem, 0, 1, true);
	pfn = (uint32_t)(guest.vm.mem.hp.gpa >> 12);
	p = gmem_ptr(&guest.vm.mem, guest.vm.mem.hp.gpa, PAGE);
	assert_non_null(p);
	p[0] = 0xaa;
	assert_int_equal(guest_driver_init(2, 3, 0) & VIRTIO_STATUS_DRIVER_OK,
			 VIRTIO_STATUS_DRIVER_OK);
	send_pfns(INFLATEQ, &pfn, 1);
	assert_int_equal(p[0], 0xaa);
}

static void test_stats_held_until_the_interval(void **state)
{
	struct balloon_stats st;

	create(1, false);
	assert_int_equal(guest_driver_init(3, 7, 1ULL << F_STATS_VQ) &
				 VIRTIO_STATUS_NEEDS_RESET,
			 0);
	post_stats(123);
	vballoon_stats(guest.balloon, &st);
	assert_int_equal(st.present, (1u << 4) | (1u << 5));
	assert_int_equal(st.value[4], 123);
	assert_int_equal(st.value[5], 8 * MIB);
	assert_int_equal(st.target_pages, 256);
	assert_int_equal(guest_ring_idx(2, USED_OFF), 0); /* held */
	guest_serve(1500); /* the interval: handed back for a refill */
	assert_int_equal(guest_ring_idx(2, USED_OFF), 1);
	/* a snapshot keeps the held buffer: handed back after the load */
	post_stats(456);
	assert_int_equal(guest_snapshot_cycle(0, 0), 0);
	assert_int_equal(guest_ring_idx(2, USED_OFF), 1);
	assert_int_equal(vballoon_set_stats_interval(guest.balloon, 0),
			 -EINVAL);
	assert_int_equal(vballoon_set_stats_interval(guest.balloon, 5), 0);
	guest_serve(500); /* the first update is now */
	assert_int_equal(guest_ring_idx(2, USED_OFF), 2);
	vballoon_stats(guest.balloon, &st);
	assert_int_equal(st.value[4], 456);
}

/* Without stats the reporting queue is number 2 (Linux packs them). */
static void test_free_page_reporting(void **state)
{
	struct seg range = { NULL, 2 * PAGE + 100, (uint64_t)PFN(8) * PAGE };

	create(1, true);
	assert_int_equal(guest_driver_init(3, 7, 1ULL << F_REPORTING) &
				 VIRTIO_STATUS_NEEDS_RESET,
			 0);
	memset(page(PFN(8)), 0xcc, 4 * PAGE);
	guest_post_chain(2, &range, 1);
	guest_kick(2);
	assert_int_equal(guest_ring_idx(2, USED_OFF), 1);
	assert_int_equal(page(PFN(8))[0], 0);
	assert_int_equal(page(PFN(9))[PAGE - 1], 0);
	assert_int_equal(page(PFN(10))[0], 0xcc); /* partly reported: kept */
	/* a driver that took every feature has 4 queues */
	assert_int_equal(guest_driver_init(4, 15,
					   (1ULL << F_REPORTING) |
						   (1ULL << F_STATS_VQ)) &
				 VIRTIO_STATUS_NEEDS_RESET,
			 0);
	range.gpa = (uint64_t)PFN(10) * PAGE;
	range.len = PAGE;
	guest_post_chain(3, &range, 1);
	guest_kick(3);
	assert_int_equal(page(PFN(10))[0], 0);
}

/* A driver must set up every queue it took: a missing one is a broken
 * device, not a crash; a queue past them does not exist. */
static void test_missing_queue_and_crafted_state(void **state)
{
	unsigned i;

	create(1, true);
	assert_int_equal(guest_driver_init(4, 7,
					   (1ULL << F_REPORTING) |
						   (1ULL << F_STATS_VQ)) &
				 VIRTIO_STATUS_NEEDS_RESET,
			 VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(guest_driver_init(2, 3, 0) & VIRTIO_STATUS_NEEDS_RESET,
			 0);
	guest_reg_write(R_QUEUE_SEL, 2);
	assert_int_equal(guest_reg_read(0x034), 0); /* QueueNumMax */
	guest_kick(3);
	for (i = 0; i < sizeof(struct vdev_state); i += 7)
		guest_snapshot_cycle(i, 0x5a); /* refused or harmless */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_hotplugged_pages_are_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflate_gives_pages_back,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_stats_held_until_the_interval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_page_reporting, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_missing_queue_and_crafted_state, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

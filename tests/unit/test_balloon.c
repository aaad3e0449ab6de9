// SPDX-License-Identifier: Apache-2.0
/* virtio-balloon driven as Linux's driver drives it (tests/harness):
 * inflated pages read as zero, hostile frame numbers are skipped, stats
 * are held until the polling interval, free page reports and hints go
 * back, the queue numbers follow the features taken, and a snapshot keeps
 * it all. */
#include <stdio.h>
#include <unistd.h>

#include "tests/harness/guest.h"
#include "tests/unit/unit.h"

#define MEM (4 * MIB)
#define PAGE 4096
#define F_STATS_VQ 1
#define F_DEFLATE_ON_OOM 2
#define F_FREE_PAGE_HINT 3
#define F_REPORTING 5
#define R_INT_STATUS 0x060
#define R_INT_ACK 0x064
#define INT_CONFIG 2
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
/* Linux's balloon posts and kicks its first statistics buffer before
 * DRIVER_OK: the device still reads it once live. */
static void test_stats_posted_before_driver_ok(void **state)
{
	struct balloon_stats st;

	create(1, false);
	guest_driver_negotiate(3, 7, 1ULL << F_STATS_VQ);
	post_stats(77);
	assert_int_equal(guest_driver_ok() & VIRTIO_STATUS_NEEDS_RESET, 0);
	guest_serve(100);
	vballoon_stats(guest.balloon, &st);
	assert_int_equal(st.present, (1u << 4) | (1u << 5));
	assert_int_equal(st.value[4], 77);
}

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

/* Linux's hinting: the command id (readable), then free blocks (writable),
 * then STOP; each chain is used at once. */
static void hint_cmd(unsigned q, uint32_t cmd)
{
	uint16_t used = guest_ring_idx(q, USED_OFF);

	guest_post_buffer(q, &cmd, 4);
	guest_kick(q);
	assert_int_equal(guest_ring_idx(q, USED_OFF), (uint16_t)(used + 1));
}

static void post_range(unsigned q, uint32_t pfn, uint32_t len)
{
	struct seg range = { NULL, len, (uint64_t)pfn * PAGE };

	guest_post_chain(q, &range, 1);
	guest_kick(q);
}

static void hint_range(unsigned q, uint32_t pfn, uint32_t len)
{
	uint16_t used = guest_ring_idx(q, USED_OFF);

	post_range(q, pfn, len);
	assert_int_equal(guest_ring_idx(q, USED_OFF), (uint16_t)(used + 1));
}

static uint32_t host_cmd(void)
{
	return guest_reg_read(R_CONFIG + 8);
}

/* A config interrupt was raised (and is acknowledged). */
static bool config_interrupt(void)
{
	bool raised = guest_reg_read(R_INT_STATUS) & INT_CONFIG;

	guest_reg_write(R_INT_ACK, INT_CONFIG);
	return raised;
}

static void create_hinting(bool stats)
{
	struct balloon_cfg c = { .set = true,
				 .stats_interval_s = stats,
				 .free_page_hinting = true };

	assert_int_equal(guest_add_balloon(&c), 0);
	/* the free page queue follows statistics: 3 with them, else 2 */
	assert_int_equal(guest_driver_init(3 + stats, stats ? 15 : 7,
					   ((uint64_t)stats << F_STATS_VQ) |
						   (1ULL << F_FREE_PAGE_HINT)) &
				 VIRTIO_STATUS_NEEDS_RESET,
			 0);
}

/* A run from start to DONE: the guest echoes the id, sends free blocks
 * (their pages read as zero), stops, and the device acknowledges. */
static void test_hint_run(void **state)
{
	unsigned q = 3;
	struct balloon_hint_status st;

	create_hinting(true);
	assert_int_equal(host_cmd(), 0);
	assert_int_equal(vballoon_hint_status(guest.balloon, &st), 0);
	assert_false(st.guest_cmd_set);
	assert_int_equal(vballoon_hint_start(guest.balloon, true), 0);
	assert_int_equal(host_cmd(), 2);
	assert_true(config_interrupt());
	memset(page(PFN(16)), 0xdd, 8 * PAGE);
	hint_cmd(q, 2);
	hint_range(q, PFN(16), 4 * PAGE);
	hint_range(q, PFN(21), 2 * PAGE + 7); /* a partial page stays */
	assert_int_equal(page(PFN(16))[0], 0);
	assert_int_equal(page(PFN(19))[PAGE - 1], 0);
	assert_int_equal(page(PFN(20))[0], 0xdd);
	assert_int_equal(page(PFN(22))[PAGE - 1], 0);
	assert_int_equal(page(PFN(23))[0], 0xdd);
	assert_int_equal(vballoon_hint_status(guest.balloon, &st), 0);
	assert_true(st.guest_cmd_set);
	assert_int_equal(st.host_cmd, 2);
	assert_int_equal(st.guest_cmd, 2);
	hint_cmd(q, 0); /* STOP: acknowledged with DONE */
	assert_int_equal(host_cmd(), 1);
	assert_true(config_interrupt());
	assert_int_equal(vballoon_hint_status(guest.balloon, &st), 0);
	assert_int_equal(st.guest_cmd, 0);
	/* without acknowledge_on_stop, DONE waits for the host's stop; the
	 * snapshot keeps both ids */
	assert_int_equal(vballoon_hint_start(guest.balloon, false), 0);
	assert_int_equal(host_cmd(), 3);
	hint_cmd(q, 3);
	hint_cmd(q, 0);
	assert_int_equal(host_cmd(), 3);
	assert_int_equal(guest_snapshot_cycle(0, 0), 0);
	assert_int_equal(host_cmd(), 3);
	assert_int_equal(vballoon_hint_status(guest.balloon, &st), 0);
	assert_true(st.guest_cmd_set);
	assert_int_equal(st.guest_cmd, 0);
	config_interrupt();
	assert_int_equal(vballoon_hint_stop(guest.balloon), 0);
	assert_int_equal(host_cmd(), 1);
	assert_true(config_interrupt());
	/* the next run after the snapshot: the ids go on */
	assert_int_equal(vballoon_hint_start(guest.balloon, true), 0);
	assert_int_equal(host_cmd(), 4);
	assert_int_equal(guest_status() & VIRTIO_STATUS_NEEDS_RESET, 0);
}

/* Hints under an id that is not the host's current run are ignored: a
 * late chain of an older run, a range before any id, ranges after DONE,
 * a STOP of an older run does not end the current one. */
static void test_hint_stale_ids(void **state)
{
	unsigned q = 2;

	create_hinting(false);
	memset(page(PFN(16)), 0xee, 4 * PAGE);
	hint_range(q, PFN(16), PAGE); /* no id yet, no run */
	assert_int_equal(page(PFN(16))[0], 0xee);
	assert_int_equal(vballoon_hint_start(guest.balloon, true), 0);
	assert_int_equal(vballoon_hint_start(guest.balloon, true), 0);
	assert_int_equal(host_cmd(), 3);
	hint_cmd(q, 2); /* the guest still on the first run */
	hint_range(q, PFN(16), PAGE);
	assert_int_equal(page(PFN(16))[0], 0xee);
	hint_cmd(q, 0); /* its STOP: not the current run's */
	assert_int_equal(host_cmd(), 3);
	hint_cmd(q, 3);
	hint_range(q, PFN(17), PAGE);
	assert_int_equal(page(PFN(17))[0], 0);
	assert_int_equal(vballoon_hint_stop(guest.balloon), 0);
	hint_range(q, PFN(18), PAGE); /* after DONE: the guest's again */
	assert_int_equal(page(PFN(18))[0], 0xee);
	hint_cmd(q, 0xffffffff); /* a bogus id: recorded, nothing else */
	assert_int_equal(host_cmd(), 1);
	assert_int_equal(guest_status() & VIRTIO_STATUS_NEEDS_RESET, 0);
}

/* Hostile hints: a range past guest RAM or in no RAM breaks the queue
 * (DEVICE_NEEDS_RESET), a short command id is no id, nothing outside RAM
 * is given back; hinting not configured: the API refuses. */
static void test_hint_hostile_ranges(void **state)
{
	unsigned q = 2;
	struct seg tiny = { "\x02", 1, 0 };
	struct balloon_hint_status st;

	create_hinting(false);
	assert_int_equal(vballoon_hint_start(guest.balloon, true), 0);
	guest_post_chain(q, &tiny, 1);
	guest_kick(q);
	assert_int_equal(vballoon_hint_status(guest.balloon, &st), 0);
	assert_false(st.guest_cmd_set);
	hint_cmd(q, 2);
	post_range(q, (uint32_t)(MEM / PAGE) - 1, 2 * PAGE); /* past the end */
	assert_int_equal(guest_status() & VIRTIO_STATUS_NEEDS_RESET,
			 VIRTIO_STATUS_NEEDS_RESET);
	guest_remove_devices();
	create_hinting(false);
	assert_int_equal(vballoon_hint_start(guest.balloon, true), 0);
	hint_cmd(q, 3);
	post_range(q, (uint32_t)(GMEM_LOW_LIMIT >> 12) + 5, PAGE); /* no RAM */
	assert_int_equal(guest_status() & VIRTIO_STATUS_NEEDS_RESET,
			 VIRTIO_STATUS_NEEDS_RESET);
	guest_remove_devices();
	create(0, false);
	assert_int_equal(vballoon_hint_start(guest.balloon, true), -ENOTSUP);
	assert_int_equal(vballoon_hint_stop(guest.balloon), -ENOTSUP);
	assert_int_equal(vballoon_hint_status(guest.balloon, &st), -ENOTSUP);
}

/* Statistics, hinting and reporting together: five queues, in that order
 * after inflate and deflate (Linux's), each doing its work. */
static void test_all_five_queues(void **state)
{
	struct balloon_cfg c = { .set = true,
				 .stats_interval_s = 1,
				 .free_page_hinting = true,
				 .free_page_reporting = true };
	struct seg range = { NULL, 2 * PAGE, (uint64_t)PFN(30) * PAGE };
	uint32_t pfn = PFN(40);

	assert_int_equal(guest_add_balloon(&c), 0);
	assert_int_equal(guest_driver_init(5, 31,
					   (1ULL << F_STATS_VQ) |
						   (1ULL << F_FREE_PAGE_HINT) |
						   (1ULL << F_REPORTING)) &
				 VIRTIO_STATUS_NEEDS_RESET,
			 0);
	memset(page(PFN(30)), 0xee, 16 * PAGE);
	guest_post_chain(4, &range, 1); /* reporting */
	guest_kick(4);
	assert_int_equal(guest_ring_idx(4, USED_OFF), 1);
	assert_int_equal(page(PFN(30))[0], 0);
	assert_int_equal(page(PFN(31))[PAGE - 1], 0);
	assert_int_equal(page(PFN(32))[0], 0xee);
	assert_int_equal(vballoon_hint_start(guest.balloon, false), 0);
	hint_cmd(3, host_cmd()); /* hinting */
	hint_range(3, PFN(36), PAGE);
	assert_int_equal(page(PFN(36))[0], 0);
	assert_int_equal(page(PFN(37))[0], 0xee);
	vballoon_set_target(guest.balloon, 1);
	send_pfns(0, &pfn, 1); /* inflate, as before */
	assert_int_equal(page(PFN(40))[0], 0);
	guest_snapshot_cycle(0, 0);
	assert_false(guest_status() & VIRTIO_STATUS_NEEDS_RESET);
	guest_post_chain(4, &range, 1); /* the fifth queue came back */
	guest_kick(4);
	assert_int_equal(guest_ring_idx(4, USED_OFF), 2);
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
	/* a driver asking for hinting, not offered: refused, and no fifth
	 * queue meanwhile */
	assert_int_equal(guest_driver_init(4, 15,
					   (1ULL << F_REPORTING) |
						   (1ULL << F_STATS_VQ) |
						   (1ULL << F_FREE_PAGE_HINT)) &
				 VIRTIO_STATUS_FEATURES_OK,
			 0);
	guest_reg_write(R_QUEUE_SEL, 4);
	assert_int_equal(guest_reg_read(0x034), 0);
	guest_reg_write(R_QUEUE_SEL, 3);
	assert_int_equal(guest_reg_read(0x034), VQ_MAX_SIZE);
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
		cmocka_unit_test_setup_teardown(
			test_stats_posted_before_driver_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_page_reporting, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_missing_queue_and_crafted_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hint_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_five_queues, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hint_stale_ids, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hint_hostile_ranges, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

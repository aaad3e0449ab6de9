// SPDX-License-Identifier: Apache-2.0
/* virtio-mem driven as Linux's driver drives it (tests/harness): the
 * region above RAM, the requested size growing the usable region in
 * slots, plugged blocks reachable as guest memory and unplugged ones read
 * as zero, a KVM slot per slot in use, a snapshot's state and memory
 * brought back (by a load, then by a rewind), and a hostile driver's
 * requests (or state file) refused without touching RAM. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "snapshot/snapshot.h"
#include "tests/harness/guest.h"
#include "tests/unit/unit.h"

#define MEM (4 * MIB)
#define BLOCK (2 * MIB)
#define R_CONFIG 0x100
#define REGION (1ULL << 32) /* above 4 MiB of RAM and the MMIO gap */
#define PLUG 0
#define UNPLUG 1
#define UNPLUG_ALL 2
#define STATE 3
#define ACK 0
#define NACK 1
#define ERROR 3
#define PLUGGED 0
#define UNPLUGGED 1
#define MIXED 2

struct req {
	uint16_t type, pad[3];
	uint64_t addr;
	uint16_t nb_blocks, pad2[3];
};
struct resp {
	uint16_t type;
	uint16_t state;
};

static int setup(void **state)
{
	return guest_init(MEM);
}

static int teardown(void **state)
{
	guest_fini();
	return 0;
}

/* total MiB in blocks of 2 MiB, slots of 4 MiB; the driver up. */
static void create_of(unsigned total_mib)
{
	struct hotplug_cfg c = { true, total_mib, 2, 4 };

	assert_int_equal(guest_add_mem(&c), 0);
	assert_false(guest_driver_init(1, 1, 0) & VIRTIO_STATUS_NEEDS_RESET);
}

static void create(void)
{
	create_of(16);
}

static uint64_t config64(unsigned off)
{
	return guest_reg_read(R_CONFIG + off) |
	       (uint64_t)guest_reg_read(R_CONFIG + off + 4) << 32;
}

/* Sends one request in a buffer at req_gpa (0: the harness's); returns
 * the response type and state. */
static struct resp send_at(uint16_t type, uint64_t addr, uint16_t n,
			   uint64_t req_gpa)
{
	struct req r = { .type = type, .addr = addr, .nb_blocks = n };
	struct seg segs[2] = { { &r, sizeof(r), req_gpa }, { NULL, 10, 0 } };
	uint16_t used = guest_ring_idx(0, USED_OFF);
	struct resp out;

	guest_post_chain(0, segs, 2);
	guest_kick(0);
	assert_int_equal(guest_ring_idx(0, USED_OFF), (uint16_t)(used + 1));
	memcpy(&out.type, guest.vm.mem.host + segs[1].gpa, 2);
	memcpy(&out.state, guest.vm.mem.host + segs[1].gpa + 8, 2);
	return out;
}

static struct resp send(uint16_t type, uint64_t addr, uint16_t n)
{
	return send_at(type, addr, n, 0);
}

static void test_config_and_requested_size(void **state)
{
	uint32_t gen;

	create();
	guest_reg_write(0x014, 0); /* DeviceFeaturesSel */
	assert_true(guest_reg_read(0x010) & 2); /* UNPLUGGED_INACCESSIBLE */
	assert_int_equal(config64(0), BLOCK);
	assert_int_equal(config64(16), REGION);
	assert_int_equal(config64(24), 16 * MIB);
	assert_int_equal(config64(32), 0); /* usable */
	assert_int_equal(config64(48), 0); /* requested */
	gen = guest_reg_read(0xfc);
	vmem_set_requested(guest.mem, 6);
	assert_int_not_equal(guest_reg_read(0xfc), gen);
	assert_int_equal(config64(48), 6 * MIB);
	assert_int_equal(config64(32), 8 * MIB); /* two slots */
	vmem_set_requested(guest.mem, 2);
	assert_int_equal(config64(32), 8 * MIB); /* never shrinks here */
}

static void test_plug_and_unplug(void **state)
{
	struct vmem_status st;
	uint8_t *p;

	create();
	vmem_set_requested(guest.mem, 6);
	assert_null(gmem_ptr(&guest.vm.mem, REGION, 1));
	assert_int_equal(send(PLUG, REGION, 2).type, ACK);
	assert_int_equal(config64(40), 4 * MIB); /* plugged */
	p = gmem_ptr(&guest.vm.mem, REGION, 2 * BLOCK);
	assert_non_null(p);
	assert_null(gmem_ptr(&guest.vm.mem, REGION, 2 * BLOCK + 1));
	memset(p, 0xaa, 2 * BLOCK);
	assert_int_equal(send(STATE, REGION, 2).state, PLUGGED);
	assert_int_equal(send(STATE, REGION + BLOCK, 2).state, MIXED);
	assert_int_equal(send(STATE, REGION + 2 * BLOCK, 2).state, UNPLUGGED);
	/* plugged again; beyond the requested 6 MiB */
	assert_int_equal(send(PLUG, REGION + BLOCK, 1).type, ERROR);
	assert_int_equal(send(PLUG, REGION + 2 * BLOCK, 2).type, NACK);
	assert_int_equal(send(UNPLUG, REGION + BLOCK, 1).type, ACK);
	assert_int_equal(send(UNPLUG, REGION + BLOCK, 1).type, ERROR);
	assert_null(gmem_ptr(&guest.vm.mem, REGION + BLOCK, 1));
	assert_int_equal(p[BLOCK - 1], 0xaa);
	assert_int_equal(p[BLOCK], 0); /* given back: reads zero */
	vmem_status(guest.mem, &st);
	assert_int_equal(st.plugged_mib, 2);
	assert_int_equal(st.requested_mib, 6);
}

/* The driver's own rings and buffers may sit in plugged memory. */
static void test_buffers_in_plugged_memory(void **state)
{
	struct req r = { .type = STATE, .addr = REGION, .nb_blocks = 1 };
	struct seg unplugged[2] = { { &r, sizeof(r), REGION + 64 },
				    { NULL, 10, 0 } };

	create();
	vmem_set_requested(guest.mem, 2);
	assert_int_equal(send(PLUG, REGION, 1).type, ACK);
	assert_int_equal(send_at(STATE, REGION, 1, REGION + 64).state, PLUGGED);
	assert_int_equal(send(UNPLUG, REGION, 1).type, ACK);
	/* now outside guest memory: the chain is broken */
	guest_post_chain(0, unplugged, 2);
	guest_kick(0);
	assert_true(guest_status() & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_unplug_all(void **state)
{
	create();
	vmem_set_requested(guest.mem, 8);
	assert_int_equal(send(PLUG, REGION + 2 * BLOCK, 2).type, ACK);
	memset(gmem_ptr(&guest.vm.mem, REGION + 2 * BLOCK, BLOCK), 0x55, BLOCK);
	assert_int_equal(send(UNPLUG_ALL, 0, 0).type, ACK);
	assert_int_equal(config64(40), 0);
	assert_int_equal(config64(32), 0); /* until the next request */
	assert_int_equal(guest.vm.mem.hp.host[2 * BLOCK], 0);
	assert_int_equal(send(PLUG, REGION, 1).type, ERROR);
	vmem_set_requested(guest.mem, 8);
	assert_int_equal(send(PLUG, REGION, 1).type, ACK);
}

/* Outside the usable region, misaligned, empty, overflowing, unknown:
 * errors, and guest RAM keeps its bytes. */
static void test_hostile_requests(void **state)
{
	static const struct {
		uint16_t type;
		uint64_t addr;
		uint16_t n;
	} bad[] = {
		{ PLUG, REGION - BLOCK, 1 },
		{ PLUG, 0, 1 },
		{ PLUG, REGION + 4096, 1 },
		{ PLUG, REGION, 0 },
		{ PLUG, REGION + 8 * MIB, 1 },
		{ PLUG, REGION, 5 },
		{ PLUG, REGION, 0xffff },
		{ PLUG, UINT64_MAX - 4095, 2 },
		{ UNPLUG, REGION, 1 },
		{ UNPLUG, REGION + 16 * MIB, 1 },
		{ STATE, REGION + 6 * MIB, 2 },
		{ STATE, UINT64_MAX, 1 },
		{ 7, REGION, 1 },
		{ 0xffff, 0, 0 },
	};
	unsigned i;

	create();
	vmem_set_requested(guest.mem, 8);
	memset(guest.vm.mem.host + MEM - MIB, 0x77, MIB);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(send(bad[i].type, bad[i].addr, bad[i].n).type,
				 ERROR);
	assert_int_equal(config64(40), 0);
	for (i = 0; i < MIB; i++)
		assert_int_equal(guest.vm.mem.host[MEM - MIB + i], 0x77);
	assert_false(guest_status() & VIRTIO_STATUS_NEEDS_RESET);
}

/* A request too short to read, or no room for the response. */
static void test_short_buffers_need_reset(void **state)
{
	struct req r = { .type = STATE, .addr = REGION, .nb_blocks = 1 };
	struct seg no_resp[1] = { { &r, sizeof(r), 0 } };
	struct seg short_req[2] = { { &r, 8, 0 }, { NULL, 10, 0 } };

	create();
	vmem_set_requested(guest.mem, 8);
	guest_post_chain(0, no_resp, 1);
	guest_kick(0);
	assert_true(guest_status() & VIRTIO_STATUS_NEEDS_RESET);
	assert_false(guest_driver_init(1, 1, 0) & VIRTIO_STATUS_NEEDS_RESET);
	guest_post_chain(0, short_req, 2);
	guest_kick(0);
	assert_true(guest_status() & VIRTIO_STATUS_NEEDS_RESET);
}

/* KVM slot 2 + s: slot s of the region (4 MiB) or nothing (size 0). */
static void assert_kvm_slot(unsigned s, bool present)
{
	const struct kvm_userspace_memory_region *r = &guest.kvm_slots[2 + s];

	assert_int_equal(r->memory_size, present ? 4 * MIB : 0);
	if (!present)
		return;
	assert_int_equal(r->guest_phys_addr, REGION + s * 4 * MIB);
	assert_ptr_equal((void *)(uintptr_t)r->userspace_addr,
			 guest.vm.mem.hp.host + s * 4 * MIB);
}

/* A slot is KVM's while a block in it is plugged, and only then. */
static void test_kvm_slot_per_slot_in_use(void **state)
{
	unsigned s;

	create();
	for (s = 0; s < 4; s++)
		assert_kvm_slot(s, false);
	vmem_set_requested(guest.mem, 16);
	for (s = 0; s < 4; s++)
		assert_kvm_slot(s, false); /* usable, nothing plugged */
	assert_int_equal(send(PLUG, REGION, 1).type, ACK);
	assert_kvm_slot(0, true);
	assert_kvm_slot(1, false);
	assert_int_equal(send(PLUG, REGION + BLOCK, 2).type, ACK);
	assert_kvm_slot(0, true);
	assert_kvm_slot(1, true);
	assert_int_equal(send(UNPLUG, REGION, 1).type, ACK);
	assert_kvm_slot(0, true); /* block 1 still there */
	assert_int_equal(send(UNPLUG, REGION + BLOCK, 1).type, ACK);
	assert_kvm_slot(0, false);
	assert_kvm_slot(1, true);
	assert_int_equal(send(PLUG, REGION + 6 * BLOCK, 2).type, ACK);
	assert_kvm_slot(3, true);
	assert_int_equal(send(UNPLUG_ALL, 0, 0).type, ACK);
	for (s = 0; s < 4; s++)
		assert_kvm_slot(s, false);
}

/* KVM refusing a slot (the fake holds 16): the plug fails, nothing is
 * plugged, and the slots before it work on. */
static void test_kvm_refusing_a_slot(void **state)
{
	uint64_t last = REGION + 14 * 4 * MIB; /* slot 14: KVM slot 16 */

	create_of(64);
	vmem_set_requested(guest.mem, 64);
	assert_int_equal(send(PLUG, last, 1).type, ERROR);
	assert_int_equal(send(STATE, last, 1).state, UNPLUGGED);
	assert_null(gmem_ptr(&guest.vm.mem, last, 1));
	assert_int_equal(config64(40), 0);
	assert_int_equal(send(PLUG, REGION, 1).type, ACK);
	assert_kvm_slot(0, true);
	/* a range over slots 13 and 14: the first taken, then given back */
	assert_int_equal(send(PLUG, last - BLOCK, 2).type, ERROR);
	assert_kvm_slot(13, false);
	assert_int_equal(send(STATE, last - BLOCK, 2).state, UNPLUGGED);
}

/* A snapshot of the device and its region: the state file's section, the
 * memory file, then a new device (a load's) with both. Writes the state
 * of the device now into *dev and the region's into *hp. */
static void take_snapshot(const char *mem_path, struct vdev_state *dev,
			  struct snap_hotplug **hp)
{
	uint64_t pages;

	vdev_save(guest.mem, dev);
	assert_int_equal(snap_save_hotplug(&guest.vm.mem, hp), 0);
	assert_non_null(*hp);
	assert_int_equal(snap_write_memory(&guest.vm, mem_path, false, &pages),
			 0);
}

static void test_snapshot_and_restore(void **state)
{
	char path[128], err[256];
	struct vdev_state dev;
	struct snap_hotplug *hp;
	struct vmem_status st;
	struct stat sb;
	uint8_t *p;

	snprintf(path, sizeof(path), "%s/mem", guest.dir);
	create();
	vmem_set_requested(guest.mem, 12);
	assert_int_equal(send(PLUG, REGION + 4 * BLOCK, 2).type, ACK);
	p = gmem_ptr(&guest.vm.mem, REGION + 4 * BLOCK, 2 * BLOCK);
	memset(p, 0x5a, 2 * BLOCK);
	p[2 * BLOCK - 1] = 0x17;
	take_snapshot(path, &dev, &hp);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, MEM + 16 * MIB); /* RAM, the region */
	assert_true((uint64_t)sb.st_blocks * 512 <
		    8 * MIB); /* unplugged: holes */

	/* a load's device: its registers and rings (in RAM, kept) restored */
	guest_remove_devices();
	assert_int_equal(guest_add_mem(&(struct hotplug_cfg){ true, 16, 2, 4 }),
			 0);
	assert_int_equal(snap_restore_hotplug(&guest.vm.mem, hp, path, err,
					      sizeof(err)),
			 0);
	assert_int_equal(vdev_restore(guest.mem, &dev), 0);
	vmem_status(guest.mem, &st);
	assert_int_equal(st.plugged_mib, 4);
	assert_int_equal(st.requested_mib, 12);
	assert_int_equal(config64(32), 12 * MIB); /* usable */
	assert_kvm_slot(2, true);
	assert_kvm_slot(0, false);
	p = gmem_ptr(&guest.vm.mem, REGION + 4 * BLOCK, 2 * BLOCK);
	assert_non_null(p);
	assert_int_equal(p[0], 0x5a);
	assert_int_equal(p[2 * BLOCK - 1], 0x17);
	assert_null(gmem_ptr(&guest.vm.mem, REGION, 1));
	/* written, then unplugged after the load: reads zero, not the
	 * file's bytes */
	p[1] = 0x99;
	assert_int_equal(send(UNPLUG, REGION + 4 * BLOCK, 2).type, ACK);
	assert_int_equal(guest.vm.mem.hp.host[4 * BLOCK], 0);
	assert_kvm_slot(2, false);
	/* a rewind: the snapshot's blocks, bytes and KVM slot again */
	assert_int_equal(gmem_hotplug_rewind(&guest.vm.mem, hp->plugged), 0);
	assert_int_equal(vdev_restore(guest.mem, &dev), 0);
	vmem_status(guest.mem, &st);
	assert_int_equal(st.plugged_mib, 4);
	assert_kvm_slot(2, true);
	p = gmem_ptr(&guest.vm.mem, REGION + 4 * BLOCK, 2 * BLOCK);
	assert_non_null(p);
	assert_int_equal(p[0], 0x5a);
	assert_int_equal(p[1], 0x5a);
	assert_int_equal(p[2 * BLOCK - 1], 0x17);
	assert_null(gmem_ptr(&guest.vm.mem, REGION, 1));
	free(hp);
}

/* A region that did not come from a memory file has nothing to go back
 * to. */
static void test_rewind_needs_the_memory_file(void **state)
{
	uint64_t plugged[1] = { 1 };

	create();
	assert_int_equal(gmem_hotplug_rewind(&guest.vm.mem, plugged), -ENOTSUP);
	assert_false(gmem_hotplug_plugged(&guest.vm.mem, 0));
}

/* The byte at file offset off. */
static uint8_t file_byte(const char *path, uint64_t off)
{
	FILE *f = fopen(path, "rb");
	int c;

	assert_non_null(f);
	assert_int_equal(fseek(f, (long)off, SEEK_SET), 0);
	c = fgetc(f);
	fclose(f);
	assert_int_not_equal(c, EOF);
	return (uint8_t)c;
}

/* A Diff snapshot writes the region again: a page now zero and a block
 * unplugged since the Full one read as zero in the file, a page written
 * since has its new bytes. */
static void test_diff_snapshot_rewrites_the_region(void **state)
{
	char path[128];
	uint64_t pages;
	uint8_t *p;

	snprintf(path, sizeof(path), "%s/mem", guest.dir);
	assert_int_equal(gmem_track_dirty(&guest.vm.mem), 0);
	create();
	vmem_set_requested(guest.mem, 4);
	assert_int_equal(send(PLUG, REGION, 2).type, ACK);
	p = gmem_ptr(&guest.vm.mem, REGION, 2 * BLOCK);
	memset(p, 0x11, 2 * BLOCK);
	assert_int_equal(snap_write_memory(&guest.vm, path, false, &pages), 0);
	assert_int_equal(file_byte(path, MEM + BLOCK), 0x11);
	assert_int_equal(send(UNPLUG, REGION + BLOCK, 1).type, ACK);
	p[0] = 0x33;
	memset(p + 4096, 0, 4096);
	assert_int_equal(snap_write_memory(&guest.vm, path, true, &pages), 0);
	assert_int_equal(file_byte(path, MEM), 0x33);
	assert_int_equal(file_byte(path, MEM + 1), 0x11);
	assert_int_equal(file_byte(path, MEM + 4096), 0);
	assert_int_equal(file_byte(path, MEM + 8192), 0x11);
	assert_int_equal(file_byte(path, MEM + BLOCK), 0);
	assert_int_equal(file_byte(path, MEM + 16 * MIB - 1), 0);
}

/* A state file that does not fit: another region, plugged bytes that are
 * not the blocks', a block outside the usable region, sizes past the
 * region. Refused, with nothing plugged by the device. */
static void test_hostile_snapshot_state(void **state)
{
	struct {
		uint64_t usable, plugged, requested;
	} own;
	char path[128], err[256];
	struct vdev_state dev, bad;
	struct snap_hotplug *hp;
	unsigned i;

	snprintf(path, sizeof(path), "%s/mem", guest.dir);
	create();
	vmem_set_requested(guest.mem, 4);
	assert_int_equal(send(PLUG, REGION, 2).type, ACK);
	take_snapshot(path, &dev, &hp);
	memcpy(&own, dev.own, sizeof(own));
	assert_int_equal(own.plugged, 4 * MIB);

	guest_remove_devices();
	create_of(32);
	assert_int_not_equal(snap_restore_hotplug(&guest.vm.mem, hp, path, err,
						  sizeof(err)),
			     0);
	assert_non_null(strstr(err, "is not its config's"));
	assert_int_not_equal(snap_restore_hotplug(&guest.vm.mem, NULL, path,
						  err, sizeof(err)),
			     0);
	assert_non_null(strstr(err, "has no hot-pluggable memory"));

	guest_remove_devices();
	create();
	assert_int_equal(snap_restore_hotplug(&guest.vm.mem, hp, path, err,
					      sizeof(err)),
			 0);
	for (i = 0; i < 5; i++) {
		typeof(own) o = own;

		if (i == 0)
			o.plugged = 2 * MIB; /* the blocks hold 4 */
		if (i == 1)
			o.usable = 0; /* plugged blocks outside it */
		if (i == 2)
			o.usable = 2 * MIB; /* not whole slots */
		if (i == 3)
			o.requested = 18 * MIB; /* past the region */
		if (i == 4)
			o.usable = 20 * MIB;
		bad = dev;
		memcpy(bad.own, &o, sizeof(o));
		assert_int_equal(vdev_restore(guest.mem, &bad), -EINVAL);
	}
	assert_kvm_slot(0, false);
	assert_int_equal(vdev_restore(guest.mem, &dev), 0);
	assert_kvm_slot(0, true);
	free(hp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_and_requested_size,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_plug_and_unplug, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_buffers_in_plugged_memory,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_unplug_all, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hostile_requests, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_short_buffers_need_reset,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_kvm_slot_per_slot_in_use,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_kvm_refusing_a_slot, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_and_restore,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_rewind_needs_the_memory_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_snapshot_state,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_diff_snapshot_rewrites_the_region, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

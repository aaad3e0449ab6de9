// SPDX-License-Identifier: Apache-2.0
/* The virtio devices driven as a guest drives them (tests/harness): a
 * driver that activates a device without every queue ready, or resets it,
 * must get DEVICE_NEEDS_RESET or nothing, never a crash (findings 1 and
 * 2). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mmds/mmds.h"
#include "snapshot/snapshot.h"
#include "tests/harness/guest.h"
#include "tests/harness/inet.h"
#include "tests/unit/unit.h"

#define MEM (1 * MIB)
#define PAGE 4096
#define NET_HDR_LEN 12 /* virtio_net_hdr_v1 */
#define RXQ 0
#define TXQ 1
#define EVQ 2
#define ALL_QUEUES(n) ((1u << (n)) - 1)

static int setup(void **state)
{
	return guest_init(MEM);
}

static int teardown(void **state)
{
	guest_fini();
	return 0;
}

static uint32_t driver_init(unsigned nr_queues, unsigned ready)
{
	return guest_driver_init(nr_queues, ready, 0);
}

static void create_vsock(void)
{
	assert_int_equal(guest_add_vsock(), 0);
}

/* The guest's REQUEST to host port 9, where nobody listens. */
static void vsock_request_to_nobody(void)
{
	struct vsock_hdr h = { .src_cid = 3,
			       .dst_cid = VSOCK_HOST_CID,
			       .src_port = 1024,
			       .dst_port = 9,
			       .type = VSOCK_TYPE_STREAM,
			       .op = VSOCK_OP_REQUEST,
			       .buf_alloc = 65536 };

	guest_post_buffer(TXQ, &h, sizeof(h));
	guest_kick(TXQ);
}

/* Only TX ready: the RST for a port without listener would go to the
 * rx queue, which was never mapped. */
static void test_vsock_activated_without_rx_queue(void **state)
{
	struct vsock_hdr h;
	uint32_t st;
	uint64_t rx;

	create_vsock();
	st = driver_init(3, 1u << TXQ);
	vsock_request_to_nobody();
	assert_true(st & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(guest_ring_idx(TXQ, USED_OFF), 0); /* not touched */

	/* after a reset, the same driver with every queue gets its RST */
	assert_false(driver_init(3, ALL_QUEUES(3)) & VIRTIO_STATUS_NEEDS_RESET);
	rx = guest_post_buffer(RXQ, NULL, BUF_SIZE);
	guest_kick(RXQ);
	vsock_request_to_nobody();
	assert_int_equal(guest_ring_idx(RXQ, USED_OFF), 1);
	memcpy(&h, guest.vm.mem.host + rx, sizeof(h));
	assert_int_equal(h.op, VSOCK_OP_RST);
	assert_int_equal(h.src_port, 9);
}

/* No event queue, then a snapshot load's TRANSPORT_RESET. */
static void test_vsock_transport_reset_without_event_queue(void **state)
{
	uint32_t st;

	create_vsock();
	st = driver_init(3, 1u << RXQ | 1u << TXQ);
	vvsock_transport_reset(guest.vsock);
	assert_true(st & VIRTIO_STATUS_NEEDS_RESET);
}

/* A crafted state file: a live device whose event queue is not ready.
 * The restore is refused; the load's TRANSPORT_RESET touches nothing. */
static void test_restore_refuses_live_device_without_a_queue(void **state)
{
	struct vdev_state st;
	int ret;

	create_vsock();
	assert_false(driver_init(3, ALL_QUEUES(3)) & VIRTIO_STATUS_NEEDS_RESET);
	vdev_save(guest.vm.vdevs[0], &st);
	st.queues[EVQ].ready = 0;
	guest_reg_write(R_STATUS, 0);
	ret = vdev_restore(guest.vm.vdevs[0], &st);
	vvsock_transport_reset(guest.vsock);
	assert_int_equal(ret, -EINVAL);
	st.queues[EVQ].ready = 1;
	assert_int_equal(vdev_restore(guest.vm.vdevs[0], &st), 0);
}

/* A net device "eth0" on a fresh tap; skips without root. */
static void create_net(struct net_cfg *cfg)
{
	int ret = guest_add_net(cfg);

	if (ret == -EPERM)
		skip(); /* creating a tap needs root, as test_net.py does */
	assert_int_equal(ret, 0);
}

/* Only RX ready: a frame on the tap runs the tx path too. */
static void test_net_activated_without_tx_queue(void **state)
{
	struct net_cfg cfg = { 0 };
	uint32_t st;

	create_net(&cfg);
	st = driver_init(2, 1u << RXQ);
	guest_post_buffer(RXQ, NULL, BUF_SIZE);
	guest_kick(RXQ);
	guest_tap_frame(60);
	guest_serve(100);
	assert_true(st & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(guest_ring_idx(RXQ, USED_OFF), 0);
}

/* PATCH /network-interfaces/{id} (finding 7): tx limited to one frame
 * per 100 s; a PATCH of rx only keeps it, one removing tx's ops bucket
 * sends the waiting frame at once; limiting rx, created unlimited, is
 * refused and changes nothing. */
static void test_net_patch_rate_limiter(void **state)
{
	static const uint8_t frame[NET_HDR_LEN + 60] = { 0 };
	const struct token_bucket one_per_100s = { true, 1, 0, 100000, true };
	struct net_cfg cfg = { .tx.ops = one_per_100s };
	struct net_patch p = { .id = "eth0" };

	create_net(&cfg);
	assert_false(driver_init(2, ALL_QUEUES(2)) & VIRTIO_STATUS_NEEDS_RESET);
	guest_post_buffer(TXQ, frame, sizeof(frame));
	guest_post_buffer(TXQ, frame, sizeof(frame));
	guest_kick(TXQ);
	assert_int_equal(guest_ring_idx(TXQ, USED_OFF),
			 1); /* the second waits */

	p.rx.bandwidth = (struct token_bucket){ .present = true };
	assert_int_equal(vnet_update(guest.net, &p), 0);
	assert_int_equal(guest_ring_idx(TXQ, USED_OFF), 1);

	p.rx.bandwidth = one_per_100s;
	p.tx.ops = (struct token_bucket){ .present = true };
	assert_int_equal(vnet_update(guest.net, &p), -ENOTSUP);
	assert_int_equal(guest_ring_idx(TXQ, USED_OFF), 1);

	p.rx.bandwidth.present = false;
	assert_int_equal(vnet_update(guest.net, &p), 0);
	assert_int_equal(guest_ring_idx(TXQ, USED_OFF), 2);
}

/* A snapshot keeps what the entropy device's rate limiter spent (one
 * request per 100 s): a new device restored from it, its bucket full
 * until then, leaves the guest's next request waiting. The same device
 * restored from a state whose bucket was not spent serves it. */
static void test_rng_restore_keeps_spent_tokens(void **state)
{
	const struct token_bucket one_per_100s = { true, 1, 0, 100000, true };
	struct entropy_cfg cfg = { .set = true, .rl.ops = one_per_100s };
	struct vdev_state spent, unspent;

	assert_int_equal(guest_add_rng(&cfg), 0);
	vdev_save(guest.rng, &unspent);
	assert_false(driver_init(1, ALL_QUEUES(1)) & VIRTIO_STATUS_NEEDS_RESET);
	guest_post_buffer(0, NULL, 16);
	guest_kick(0);
	assert_int_equal(guest_ring_idx(0, USED_OFF), 1);
	vdev_save(guest.rng, &spent);

	guest_remove_devices();
	assert_int_equal(guest_add_rng(&cfg), 0);
	assert_int_equal(vdev_restore(guest.rng, &spent), 0);
	guest_post_buffer(0, NULL, 16);
	vdev_serve_restored(guest.rng);
	assert_int_equal(guest_ring_idx(0, USED_OFF), 1); /* it waits */

	memcpy(spent.own, unspent.own, sizeof(spent.own));
	guest_remove_devices();
	assert_int_equal(guest_add_rng(&cfg), 0);
	assert_int_equal(vdev_restore(guest.rng, &spent), 0);
	vdev_serve_restored(guest.rng);
	assert_int_equal(guest_ring_idx(0, USED_OFF), 2);
}

/* The guest's ARP request for `ip`, after a virtio-net header. */
static void arp_request(uint8_t *b, uint32_t ip)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
	uint8_t *f = b + NET_HDR_LEN;

	memset(b, 0, NET_HDR_LEN + 42);
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	put16(f + 12, 0x0806);
	put16(f + 14, 1);
	put16(f + 16, 0x0800);
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, 1);
	memcpy(f + 22, mac, 6);
	put32(f + 28, 0x0a000002); /* 10.0.0.2 */
	put32(f + 38, ip);
}

/* A packet socket on the (now up) tap: what the device writes to it. */
/* The host's IPv6 on a tap that comes up sends its own frames (MLD,
 * router solicitations) to the guest side at a moment of its choosing:
 * off, so the guest sees only what a test sends. */
static void tap_ipv6_off(const char *name)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
		 name);
	f = fopen(path, "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
}

static int watch_tap(const char *name)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ARP) };
	struct timeval tv = { 1, 0 };
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ARP));

	assert_true(fd >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	tap_ipv6_off(name);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	sll.sll_ifindex = (int)if_nametoindex(name);
	assert_int_equal(bind(fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* On an interface with the MMDS (net_mmds.c): the guest's ARP for the
 * MMDS address never reaches the tap and its answer waits for an rx
 * buffer, then comes with a virtio-net header (num_buffers 1); an ARP for
 * another address goes to the tap, unanswered. What the answer says is
 * test_mmds_stack.c's business. */
static void test_net_mmds_detour(void **state)
{
	static struct mmds m;
	static const uint8_t mmds_mac[6] = MMDS_MAC;
	uint8_t frame[NET_HDR_LEN + 42], seen[64];
	struct net_cfg cfg = { 0 };
	uint8_t *rx;
	int tap;

	create_net(&cfg);
	tap = watch_tap(cfg.host_dev);
	assert_int_equal(mmds_init(&m, 1024), 0);
	assert_int_equal(vnet_enable_mmds(guest.net, &m, MMDS_DEFAULT_IPV4), 0);
	assert_false(driver_init(2, ALL_QUEUES(2)) & VIRTIO_STATUS_NEEDS_RESET);
	arp_request(frame, MMDS_DEFAULT_IPV4);
	guest_post_buffer(TXQ, frame, sizeof(frame));
	guest_kick(TXQ);
	assert_int_equal(guest_ring_idx(TXQ, USED_OFF), 1);
	assert_int_equal(guest_ring_idx(RXQ, USED_OFF), 0); /* no buffer */
	rx = guest.vm.mem.host + guest_post_buffer(RXQ, NULL, BUF_SIZE);
	guest_kick(RXQ);
	assert_int_equal(guest_ring_idx(RXQ, USED_OFF), 1);
	assert_int_equal(rx[10], 1); /* num_buffers */
	assert_int_equal(get16(rx + NET_HDR_LEN + 12), 0x0806);
	assert_int_equal(get16(rx + NET_HDR_LEN + 20), 2); /* reply */
	assert_memory_equal(rx + NET_HDR_LEN + 22, mmds_mac, 6);

	arp_request(frame, 0x0a000001); /* 10.0.0.1: the tap's */
	guest_post_buffer(TXQ, frame, sizeof(frame));
	guest_kick(TXQ);
	assert_int_equal(recv(tap, seen, sizeof(seen), 0), 42);
	assert_memory_equal(seen, frame + NET_HDR_LEN, 42);
	assert_int_equal(guest_ring_idx(RXQ, USED_OFF), 1);
	close(tap);
	guest_remove_devices(); /* the stack goes before its service */
	mmds_destroy(&m);
}

/* A restore (load or rewind) leaves net as a new device for the saved
 * state: what the MMDS has not answered yet (the answer to a second ARP,
 * while the first waits in the device for an rx buffer) and the frames
 * waiting in the tap belonged to the guest that is gone; frames that
 * arrive after it are delivered. */
static void test_net_restore_drops_what_was_waiting(void **state)
{
	static struct mmds m;
	uint8_t frame[NET_HDR_LEN + 42];
	struct net_cfg cfg = { 0 };
	struct vdev_state st;
	unsigned i;

	create_net(&cfg);
	assert_int_equal(mmds_init(&m, 1024), 0);
	assert_int_equal(vnet_enable_mmds(guest.net, &m, MMDS_DEFAULT_IPV4), 0);
	assert_false(driver_init(2, ALL_QUEUES(2)) & VIRTIO_STATUS_NEEDS_RESET);
	arp_request(frame, MMDS_DEFAULT_IPV4);
	for (i = 0; i < 2; i++) {
		guest_post_buffer(TXQ, frame, sizeof(frame));
		guest_kick(TXQ);
	}
	guest_tap_frame(60);
	guest_tap_frame(61);
	guest_serve(50);
	vdev_save(guest.net, &st);
	assert_int_equal(vdev_restore(guest.net, &st), 0);
	vdev_serve_restored(guest.net);
	guest_post_buffer(RXQ, NULL, BUF_SIZE);
	guest_kick(RXQ);
	guest_serve(50);
	assert_int_equal(guest_ring_idx(RXQ, USED_OFF), 0);
	guest_tap_frame(62);
	guest_serve(1000);
	assert_int_equal(guest_ring_idx(RXQ, USED_OFF), 1);
	guest_remove_devices();
	mmds_destroy(&m);
}

/* Reads `len` bytes of the device's registers at `off`. */
static uint32_t reg_read(uint64_t off, uint32_t len)
{
	uint32_t v = 0;

	assert_true(bus_dispatch(&guest.vm.mmio, VIRTIO_MMIO_BASE + off,
				 (uint8_t *)&v, len, false));
	return v;
}

/* mtu: offered to the guest (VIRTIO_NET_F_MTU, config offset 10, read
 * whole or in part) and set on the tap. */
static void test_net_mtu(void **state)
{
	struct net_cfg cfg = { .has_mac = true,
			       .mac = { 6, 0, 0, 0, 0, 2 },
			       .mtu = 9000 };
	struct ifreq ifr = { 0 };
	int fd;

	create_net(&cfg);
	assert_true(reg_read(0x010, 4) & (1u << 3)); /* features 0-31 */
	assert_int_equal(reg_read(0x100 + 10, 2), 9000);
	assert_int_equal(reg_read(0x100 + 8, 4), 9000u << 16);
	assert_int_equal(reg_read(0x100 + 11, 1), 9000 >> 8);
	assert_int_equal(reg_read(0x100 + 4, 4), 0x200); /* mac[4..5], status */
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", cfg.host_dev);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_int_equal(ioctl(fd, SIOCGIFMTU, &ifr), 0);
	assert_int_equal(ifr.ifr_mtu, 9000);
	close(fd);
}

/* A drive of `size` bytes starting with `text`. */
static void create_blk(const char *text, off_t size)
{
	struct drive_cfg cfg = { 0 };

	cfg.rl.bandwidth = (struct token_bucket){ true, 1 << 20, 0, 100, true };
	assert_int_equal(guest_add_blk(&cfg, text, size), 0);
}

/* PATCH /drives/{id} before the driver probed, after it reset the
 * device, and with its queue not ready; snapshot/create (quiesce) then. */
static void test_block_patch_without_live_queue(void **state)
{
	struct drive_patch p = { .id = "disk", .has_path = true };
	struct vdev_state st;

	create_blk("", 4096);
	snprintf(p.path, sizeof(p.path), "%s/disk", guest.dir);
	assert_int_equal(vblk_update(guest.blk, &p), 0); /* before the probe */
	assert_false(driver_init(1, 1) & VIRTIO_STATUS_NEEDS_RESET);
	guest_reg_write(R_STATUS, 0);
	assert_int_equal(vblk_update(guest.blk, &p), 0); /* after a reset */

	assert_true(driver_init(1, 0) & VIRTIO_STATUS_NEEDS_RESET);
	p.has_path = false;
	p.has_rl = true;
	p.rl.bandwidth = (struct token_bucket){ true, 2 << 20, 0, 100, true };
	assert_int_equal(vblk_update(guest.blk, &p), 0);
	vdev_save(guest.vm.vdevs[0], &st);
	assert_false(st.activated);
}

/* A block read writes guest memory no vCPU touched: the monitor's dirty
 * bitmap puts that page in the next Diff snapshot (finding 3). */
static void test_block_read_lands_in_diff_snapshot(void **state)
{
	struct {
		uint32_t type, reserved;
		uint64_t sector;
	} req = { 0 /* VIRTIO_BLK_T_IN */, 0, 0 };
	struct seg chain[3] = { { &req, sizeof(req), 0 },
				{ NULL, 512, 0 },
				{ NULL, 1, 0 } };
	char path[96];
	uint8_t page[PAGE];
	uint64_t pages;
	int fd;

	snprintf(path, sizeof(path), "%s/mem", guest.dir);
	assert_int_equal(gmem_track_dirty(&guest.vm.mem), 0);
	create_blk("fresh data", 4096);
	assert_false(driver_init(1, 1) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(snap_write_memory(&guest.vm, path, false, &pages), 0);
	guest_post_chain(0, chain, 3);
	guest_kick(0);
	assert_int_equal(guest_ring_idx(0, USED_OFF), 1);
	assert_int_equal(snap_write_memory(&guest.vm, path, true, &pages), 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, page, PAGE, (off_t)chain[1].gpa), PAGE);
	close(fd);
	assert_memory_equal(page, "fresh data", 10);
}

/* A read longer than one preadv moves (finding 9): nine 255 MiB buffers
 * over the same guest pages. Refused with IOERR before any byte lands in
 * guest memory; its used length is the status byte alone. */
static void test_block_read_longer_than_a_syscall(void **state)
{
	struct {
		uint32_t type, reserved;
		uint64_t sector;
	} req = { 0 /* VIRTIO_BLK_T_IN */, 0, 0 };
	struct seg chain[11] = { { &req, sizeof(req), 0 } };
	uint32_t used_len;
	unsigned i;

	gmem_destroy(&guest.vm.mem);
	assert_int_equal(gmem_create(&guest.vm.mem, 256 * MIB, false), 0);
	for (i = 1; i < 10; i++)
		chain[i] = (struct seg){ NULL, 255 * MIB, MIB };
	chain[10] = (struct seg){ NULL, 1, 0 };
	create_blk("", 3ll << 30);
	assert_false(driver_init(1, 1) & VIRTIO_STATUS_NEEDS_RESET);
	guest.vm.mem.host[MIB] = 0xaa;
	guest_post_chain(0, chain, 11);
	guest_kick(0);
	assert_int_equal(guest_ring_idx(0, USED_OFF), 1);
	memcpy(&used_len, guest.vm.mem.host + QUEUES + USED_OFF + 8, 4);
	assert_int_equal(used_len, 1);
	assert_int_equal(guest.vm.mem.host[chain[10].gpa], 1); /* IOERR */
	assert_int_equal(guest.vm.mem.host[MIB], 0xaa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_vsock_activated_without_rx_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_vsock_transport_reset_without_event_queue, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_restore_refuses_live_device_without_a_queue, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_net_activated_without_tx_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_net_mtu, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_net_restore_drops_what_was_waiting, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_net_mmds_detour, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_rng_restore_keeps_spent_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_net_patch_rate_limiter,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_block_patch_without_live_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_block_read_lands_in_diff_snapshot, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_block_read_longer_than_a_syscall, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: Apache-2.0
/* The virtio devices driven as a guest drives them: register writes
 * through the MMIO bus, rings in a guest-memory buffer, kicks through the
 * kick eventfds served as the VMM loop serves them, with real sockets,
 * files and taps behind the devices and only KVM faked. A driver that
 * activates a device without every queue ready, or resets it, must get
 * DEVICE_NEEDS_RESET or nothing, never a crash (findings 1 and 2). */
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "api/api.h"
#include "snapshot/snapshot.h"
#include "tests/unit/fake_kvm.h"
#include "tests/unit/unit.h"
#include "virtio/virtio.h"

#define MEM (1 * MIB)
#define QSIZE 16
#define QUEUES 0x10000 /* queue q's rings at QUEUES + q * 0x1000 */
#define AVAIL_OFF 0x200
#define USED_OFF 0x400
#define DATA 0x40000 /* descriptor i of queue q: DATA + q * 0x10000 + */
#define BUF_SIZE 0x1000 /*                         i * BUF_SIZE */
#define PAGE 4096

/* virtio-mmio registers and status bits (virtio 1.x, 4.2.2) */
#define R_DRV_FEATURES 0x020
#define R_DRV_FEATURES_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_STATUS 0x070
#define R_QUEUE_DESC_LO 0x080
#define R_QUEUE_DRIVER_LO 0x090
#define R_QUEUE_DEVICE_LO 0x0a0
#define DRIVER_STATUS                                       \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | \
	 VIRTIO_STATUS_FEATURES_OK)

#define NET_HDR_LEN 12 /* virtio_net_hdr_v1 */
#define RXQ 0
#define TXQ 1
#define EVQ 2
#define ALL_QUEUES(n) ((1u << (n)) - 1)

static struct vm vm;
static struct event_loop loop;
static char dir[64];
static struct vvsock *vsock;
static struct vblk *blk;
static struct vnet *net;

/* The VM's ioctls: devices ask for interrupt and kick eventfds; a
 * snapshot for KVM's dirty log, empty here (no vCPU runs). */
static int fake_kvm_ioctl(unsigned long req, void *arg)
{
	struct kvm_dirty_log *log = arg;

	if (req == KVM_IRQFD || req == KVM_IOEVENTFD)
		return 0;
	if (req == KVM_GET_DIRTY_LOG) {
		memset(log->dirty_bitmap, 0, MEM / PAGE / 8);
		return 0;
	}
	errno = ENOTTY;
	return -1;
}

static int setup(void **state)
{
	(void)state;
	memset(&vm, 0, sizeof(vm));
	vm.vm_fd = FAKE_VM_FD;
	vm.loop = &loop;
	snprintf(dir, sizeof(dir), "/tmp/virtio-unit-XXXXXX");
	if (!mkdtemp(dir) || evl_init(&loop))
		return -1;
	return gmem_create(&vm.mem, MEM, false);
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	vvsock_destroy(vsock);
	vblk_destroy(blk);
	if (net)
		vnet_destroy(net);
	vsock = NULL;
	blk = NULL;
	net = NULL;
	gmem_destroy(&vm.mem);
	evl_destroy(&loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? -1 : 0;
}

/* What the VMM loop does with whatever is ready within timeout_ms. */
static void serve_events(int timeout_ms)
{
	struct epoll_event ev[EVL_MAX_SOURCES];
	int i, n = epoll_wait(loop.epfd, ev, EVL_MAX_SOURCES, timeout_ms);

	for (i = 0; i < n; i++) {
		struct evl_source *s = &loop.sources[ev[i].data.u32];

		if (s->fd >= 0)
			s->fn(s->opaque, ev[i].events);
	}
}

static void reg_write(uint64_t off, uint32_t v)
{
	assert_true(bus_dispatch(&vm.mmio, VIRTIO_MMIO_BASE + off,
				 (uint8_t *)&v, 4, true));
}

static uint32_t status(void)
{
	uint32_t v;

	assert_true(bus_dispatch(&vm.mmio, VIRTIO_MMIO_BASE + R_STATUS,
				 (uint8_t *)&v, 4, false));
	return v;
}

static void setup_queue(unsigned q)
{
	uint32_t base = QUEUES + q * 0x1000;

	memset(vm.mem.host + base, 0, 0x1000); /* fresh rings */
	reg_write(R_QUEUE_SEL, q);
	reg_write(R_QUEUE_NUM, QSIZE);
	reg_write(R_QUEUE_DESC_LO, base);
	reg_write(R_QUEUE_DRIVER_LO, base + AVAIL_OFF);
	reg_write(R_QUEUE_DEVICE_LO, base + USED_OFF);
	reg_write(R_QUEUE_READY, 1);
}

/* Linux's probe of the device in slot 0, setting up only the queues in
 * the `ready` mask before DRIVER_OK. Returns the status it reads back. */
static uint32_t driver_init(unsigned nr_queues, unsigned ready)
{
	unsigned q;

	reg_write(R_STATUS, 0);
	reg_write(R_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	reg_write(R_DRV_FEATURES_SEL, 1);
	reg_write(R_DRV_FEATURES, 1); /* VIRTIO_F_VERSION_1 */
	reg_write(R_STATUS, DRIVER_STATUS);
	for (q = 0; q < nr_queues; q++)
		if (ready & (1u << q))
			setup_queue(q);
	reg_write(R_STATUS, DRIVER_STATUS | VIRTIO_STATUS_DRIVER_OK);
	return status();
}

static uint16_t ring_idx(unsigned q, uint64_t off)
{
	uint16_t idx;

	memcpy(&idx, vm.mem.host + QUEUES + q * 0x1000 + off + 2, 2);
	return idx;
}

struct seg {
	const void *data; /* device-readable bytes; NULL: device-writable */
	uint32_t len;
	uint64_t gpa; /* where it is: 0 lets post_chain choose */
};

/* Posts a chain of buffers on queue q (up to 3, or one chain of up to
 * QSIZE at idx 0). */
static void post_chain(unsigned q, struct seg *segs, unsigned n)
{
	uint8_t *rings = vm.mem.host + QUEUES + q * 0x1000;
	uint16_t idx = ring_idx(q, AVAIL_OFF), head = (idx * 3) % QSIZE;
	unsigned i;

	for (i = 0; i < n; i++) {
		uint16_t at = (head + i) % QSIZE;
		struct {
			uint64_t addr;
			uint32_t len;
			uint16_t flags, next;
		} desc = { segs[i].gpa ? segs[i].gpa :
					 DATA + q * 0x10000 + at * BUF_SIZE,
			   segs[i].len,
			   (segs[i].data ? 0 : 2) | (i + 1 < n ? 1 : 0),
			   (uint16_t)((at + 1) % QSIZE) }; /* WRITE, NEXT */

		segs[i].gpa = desc.addr;
		if (segs[i].data)
			memcpy(vm.mem.host + desc.addr, segs[i].data,
			       segs[i].len);
		memcpy(rings + at * sizeof(desc), &desc, sizeof(desc));
	}
	memcpy(rings + AVAIL_OFF + 4 + 2 * (idx % QSIZE), &head, 2);
	idx++;
	memcpy(rings + AVAIL_OFF + 2, &idx, 2);
}

/* One buffer: device-readable `data`, or device-writable when NULL. */
static uint64_t post_buffer(unsigned q, const void *data, uint32_t len)
{
	struct seg seg = { data, len, 0 };

	post_chain(q, &seg, 1);
	return seg.gpa;
}

static void kick(unsigned q)
{
	reg_write(R_QUEUE_NOTIFY, q);
	serve_events(0);
}

static void create_vsock(void)
{
	struct vsock_cfg cfg = { .set = true, .guest_cid = 3 };

	snprintf(cfg.uds_path, sizeof(cfg.uds_path), "%s/v.sock", dir);
	assert_int_equal(vvsock_create(&vm, &cfg, &vsock, vm.cmdline_extra,
				       sizeof(vm.cmdline_extra)),
			 0);
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

	post_buffer(TXQ, &h, sizeof(h));
	kick(TXQ);
}

/* Only TX ready: the RST for a port without listener would go to the
 * rx queue, which was never mapped. */
static void test_vsock_activated_without_rx_queue(void **state)
{
	struct vsock_hdr h;
	uint32_t st;
	uint64_t rx;

	(void)state;
	create_vsock();
	st = driver_init(3, 1u << TXQ);
	vsock_request_to_nobody();
	assert_true(st & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(ring_idx(TXQ, USED_OFF), 0); /* not touched */

	/* after a reset, the same driver with every queue gets its RST */
	assert_false(driver_init(3, ALL_QUEUES(3)) & VIRTIO_STATUS_NEEDS_RESET);
	rx = post_buffer(RXQ, NULL, BUF_SIZE);
	kick(RXQ);
	vsock_request_to_nobody();
	assert_int_equal(ring_idx(RXQ, USED_OFF), 1);
	memcpy(&h, vm.mem.host + rx, sizeof(h));
	assert_int_equal(h.op, VSOCK_OP_RST);
	assert_int_equal(h.src_port, 9);
}

/* No event queue, then a snapshot load's TRANSPORT_RESET. */
static void test_vsock_transport_reset_without_event_queue(void **state)
{
	uint32_t st;

	(void)state;
	create_vsock();
	st = driver_init(3, 1u << RXQ | 1u << TXQ);
	vvsock_transport_reset(vsock);
	assert_true(st & VIRTIO_STATUS_NEEDS_RESET);
}

/* A crafted state file: a live device whose event queue is not ready.
 * The restore is refused; the load's TRANSPORT_RESET touches nothing. */
static void test_restore_refuses_live_device_without_a_queue(void **state)
{
	struct vdev_state st;
	int ret;

	(void)state;
	create_vsock();
	assert_false(driver_init(3, ALL_QUEUES(3)) & VIRTIO_STATUS_NEEDS_RESET);
	vdev_save(vm.vdevs[0], &st);
	st.queues[EVQ].ready = 0;
	reg_write(R_STATUS, 0);
	ret = vdev_restore(vm.vdevs[0], &st);
	vvsock_transport_reset(vsock);
	assert_int_equal(ret, -EINVAL);
	st.queues[EVQ].ready = 1;
	assert_int_equal(vdev_restore(vm.vdevs[0], &st), 0);
}

/* Sends one broadcast frame out of the tap, so that its fd is readable. */
static void frame_to_tap(const char *name)
{
	struct sockaddr_ll sa = { .sll_family = AF_PACKET,
				  .sll_ifindex = (int)if_nametoindex(name),
				  .sll_halen = ETH_ALEN };
	struct ifreq ifr = { .ifr_flags = IFF_UP };
	uint8_t frame[60] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2,
			      0,    0,	  0,	0,    1,    0x88, 0xb5 };
	int ctl = socket(AF_INET, SOCK_DGRAM, 0);
	int raw = socket(AF_PACKET, SOCK_RAW, 0);

	assert_true(ctl >= 0 && raw >= 0 && sa.sll_ifindex > 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	assert_int_equal(ioctl(ctl, SIOCSIFFLAGS, &ifr), 0);
	assert_int_equal(sendto(raw, frame, sizeof(frame), 0,
				(struct sockaddr *)&sa, sizeof(sa)),
			 (ssize_t)sizeof(frame));
	close(raw);
	close(ctl);
}

/* A net device "eth0" on a fresh tap; skips without root. */
static void create_net(struct net_cfg *cfg)
{
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK))
		skip(); /* creating a tap needs root, as test_net.py does */
	snprintf(cfg->id, sizeof(cfg->id), "eth0");
	snprintf(cfg->host_dev, sizeof(cfg->host_dev), "mvmu%d",
		 (int)getpid() % 100000);
	assert_int_equal(vnet_create(&vm, cfg, &net, vm.cmdline_extra,
				     sizeof(vm.cmdline_extra)),
			 0);
}

/* Only RX ready: a frame on the tap runs the tx path too. */
static void test_net_activated_without_tx_queue(void **state)
{
	struct net_cfg cfg = { 0 };
	uint32_t st;

	(void)state;
	create_net(&cfg);
	st = driver_init(2, 1u << RXQ);
	post_buffer(RXQ, NULL, BUF_SIZE);
	kick(RXQ);
	frame_to_tap(cfg.host_dev);
	serve_events(100);
	assert_true(st & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(ring_idx(RXQ, USED_OFF), 0);
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

	(void)state;
	create_net(&cfg);
	assert_false(driver_init(2, ALL_QUEUES(2)) & VIRTIO_STATUS_NEEDS_RESET);
	post_buffer(TXQ, frame, sizeof(frame));
	post_buffer(TXQ, frame, sizeof(frame));
	kick(TXQ);
	assert_int_equal(ring_idx(TXQ, USED_OFF), 1); /* the second waits */

	p.rx.bandwidth = (struct token_bucket){ .present = true };
	assert_int_equal(vnet_update(net, &p), 0);
	assert_int_equal(ring_idx(TXQ, USED_OFF), 1);

	p.rx.bandwidth = one_per_100s;
	p.tx.ops = (struct token_bucket){ .present = true };
	assert_int_equal(vnet_update(net, &p), -ENOTSUP);
	assert_int_equal(ring_idx(TXQ, USED_OFF), 1);

	p.rx.bandwidth.present = false;
	assert_int_equal(vnet_update(net, &p), 0);
	assert_int_equal(ring_idx(TXQ, USED_OFF), 2);
}

/* Reads `len` bytes of the device's registers at `off`. */
static uint32_t reg_read(uint64_t off, uint32_t len)
{
	uint32_t v = 0;

	assert_true(bus_dispatch(&vm.mmio, VIRTIO_MMIO_BASE + off,
				 (uint8_t *)&v, len, false));
	return v;
}

/* mtu: offered to the guest (VIRTIO_NET_F_MTU, config offset 10, read
 * whole or in part) and set on the tap. */
static void test_net_mtu(void **state)
{
	struct net_cfg cfg = { .id = "eth0",
			       .has_mac = true,
			       .mac = { 6, 0, 0, 0, 0, 2 },
			       .mtu = 9000 };
	struct ifreq ifr = { 0 };
	int fd;

	(void)state;
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK))
		skip(); /* creating a tap needs root, as test_net.py does */
	snprintf(cfg.host_dev, sizeof(cfg.host_dev), "mvmm%d",
		 (int)getpid() % 100000);
	assert_int_equal(vnet_create(&vm, &cfg, &net, vm.cmdline_extra,
				     sizeof(vm.cmdline_extra)),
			 0);
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
	struct drive_cfg cfg = { .id = "disk" };
	int fd;

	snprintf(cfg.path, sizeof(cfg.path), "%s/disk", dir);
	fd = open(cfg.path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	assert_int_equal(pwrite(fd, text, strlen(text), 0),
			 (ssize_t)strlen(text));
	close(fd);
	cfg.rl.bandwidth = (struct token_bucket){ true, 1 << 20, 0, 100, true };
	assert_int_equal(vblk_create(&vm, &cfg, &blk, vm.cmdline_extra,
				     sizeof(vm.cmdline_extra)),
			 0);
}

/* PATCH /drives/{id} before the driver probed, after it reset the
 * device, and with its queue not ready; snapshot/create (quiesce) then. */
static void test_block_patch_without_live_queue(void **state)
{
	struct drive_patch p = { .id = "disk", .has_path = true };
	struct vdev_state st;

	(void)state;
	create_blk("", 4096);
	snprintf(p.path, sizeof(p.path), "%s/disk", dir);
	assert_int_equal(vblk_update(blk, &p), 0); /* before the probe */
	assert_false(driver_init(1, 1) & VIRTIO_STATUS_NEEDS_RESET);
	reg_write(R_STATUS, 0);
	assert_int_equal(vblk_update(blk, &p), 0); /* after a reset */

	assert_true(driver_init(1, 0) & VIRTIO_STATUS_NEEDS_RESET);
	p.has_path = false;
	p.has_rl = true;
	p.rl.bandwidth = (struct token_bucket){ true, 2 << 20, 0, 100, true };
	assert_int_equal(vblk_update(blk, &p), 0);
	vdev_save(vm.vdevs[0], &st);
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

	(void)state;
	snprintf(path, sizeof(path), "%s/mem", dir);
	assert_int_equal(gmem_track_dirty(&vm.mem), 0);
	create_blk("fresh data", 4096);
	assert_false(driver_init(1, 1) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(snap_write_memory(&vm, path, false, &pages), 0);
	post_chain(0, chain, 3);
	kick(0);
	assert_int_equal(ring_idx(0, USED_OFF), 1);
	assert_int_equal(snap_write_memory(&vm, path, true, &pages), 0);
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

	(void)state;
	gmem_destroy(&vm.mem);
	assert_int_equal(gmem_create(&vm.mem, 256 * MIB, false), 0);
	for (i = 1; i < 10; i++)
		chain[i] = (struct seg){ NULL, 255 * MIB, MIB };
	chain[10] = (struct seg){ NULL, 1, 0 };
	create_blk("", 3ll << 30);
	assert_false(driver_init(1, 1) & VIRTIO_STATUS_NEEDS_RESET);
	vm.mem.host[MIB] = 0xaa;
	post_chain(0, chain, 11);
	kick(0);
	assert_int_equal(ring_idx(0, USED_OFF), 1);
	memcpy(&used_len, vm.mem.host + QUEUES + USED_OFF + 8, 4);
	assert_int_equal(used_len, 1);
	assert_int_equal(vm.mem.host[chain[10].gpa], 1); /* IOERR */
	assert_int_equal(vm.mem.host[MIB], 0xaa);
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

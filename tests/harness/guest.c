// SPDX-License-Identifier: Apache-2.0
/* The guest-side harness (guest.h): one guest, its devices driven through
 * the real virtio-mmio register path with only KVM faked. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "tests/harness/guest.h"
#include "tests/unit/fake_kvm.h"

#define PAGE 4096

struct guest guest;
/* The host's sockets into the tap (guest_tap_frame): kept open (a packet
 * socket's close waits for an RCU grace period), the tap brought up once. */
static int tap_ctl = -1, tap_raw = -1;

/* A memory slot set or removed (size 0), as KVM keeps them. */
static int set_slot(const struct kvm_userspace_memory_region *r)
{
	if (r->slot >= GUEST_KVM_SLOTS) {
		errno = EINVAL;
		return -1;
	}
	guest.kvm_slots[r->slot] = *r;
	return 0;
}

/* The VM's ioctls: devices ask for interrupt and kick eventfds (and
 * virtio-mem memory slots, kept in guest.kvm_slots); a snapshot for KVM's
 * dirty log, empty here (no vCPU runs). */
static int fake_kvm_ioctl(unsigned long req, void *arg)
{
	struct kvm_dirty_log *log = arg;

	if (req == KVM_IRQFD || req == KVM_IOEVENTFD)
		return 0;
	if (req == KVM_SET_USER_MEMORY_REGION)
		return set_slot(arg);
	if (req == KVM_GET_DIRTY_LOG) {
		memset(log->dirty_bitmap, 0, guest.vm.mem.size / PAGE / 8);
		return 0;
	}
	errno = ENOTTY;
	return -1;
}

int guest_init(size_t mem_size)
{
	memset(&guest, 0, sizeof(guest));
	guest.vm.vm_fd = FAKE_VM_FD;
	guest.vm.loop = &guest.loop;
	snprintf(guest.dir, sizeof(guest.dir), "/tmp/microvm-guest-XXXXXX");
	if (!mkdtemp(guest.dir))
		return -errno;
	if (evl_init(&guest.loop))
		return -errno;
	return gmem_create(&guest.vm.mem, mem_size, false);
}

void guest_remove_devices(void)
{
	vdev_destroy_all(&guest.vm);
	guest.vsock = NULL;
	guest.blk = NULL;
	guest.net = NULL;
	guest.rng = NULL;
	guest.balloon = NULL;
	guest.mem = NULL;
	gmem_hotplug_destroy(&guest.vm.mem);
	memset(guest.kvm_slots, 0, sizeof(guest.kvm_slots));
	guest.slot = 0;
	guest.vm.mmio.count = 0;
	guest.vm.cmdline_extra[0] = 0;
}

/* The tap stays while nobody holds it (on = true) or goes with the last
 * fd: a net device opens a persistent tap much faster than a new one. */
static int persist_tap(bool on)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), ret = 0;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", guest.tap);
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0 ||
	    ioctl(fd, TUNSETPERSIST, on) < 0)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	return ret;
}

void guest_fini(void)
{
	char cmd[128];

	guest_remove_devices();
	if (tap_raw >= 0)
		close(tap_raw);
	if (tap_ctl >= 0)
		close(tap_ctl);
	tap_raw = tap_ctl = -1;
	if (guest.tap[0] && persist_tap(false))
		fprintf(stderr, "guest: tap %s left behind\n", guest.tap);
	gmem_destroy(&guest.vm.mem);
	evl_destroy(&guest.loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", guest.dir);
	if (system(cmd))
		fprintf(stderr, "guest: cannot remove %s\n", guest.dir);
}

/* A device created (ret 0) is the VM's last: *slot names it. */
static int added(int ret, struct vdev **slot)
{
	if (!ret)
		*slot = guest.vm.vdevs[guest.vm.nr_vdevs - 1];
	return ret;
}

int guest_add_blk(struct drive_cfg *cfg, const char *text, off_t size)
{
	int fd;

	snprintf(cfg->id, sizeof(cfg->id), "disk");
	snprintf(cfg->path, sizeof(cfg->path), "%s/disk", guest.dir);
	fd = open(cfg->path, O_CREAT | O_WRONLY, 0600);
	if (fd < 0)
		return -errno;
	/* the same size again is not truncated (no discard, cheap) */
	if ((lseek(fd, 0, SEEK_END) != size && ftruncate(fd, size)) ||
	    pwrite(fd, text, strlen(text), 0) != (ssize_t)strlen(text)) {
		close(fd);
		return -EIO;
	}
	close(fd);
	return added(vblk_create(&guest.vm, cfg), &guest.blk);
}

int guest_add_net(struct net_cfg *cfg)
{
	int ret = 0;

	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK))
		return -EPERM; /* creating a tap needs root */
	snprintf(cfg->id, sizeof(cfg->id), "eth0");
	snprintf(cfg->host_dev, sizeof(cfg->host_dev), "mvmu%d",
		 (int)getpid() % 100000);
	if (!guest.tap[0]) {
		snprintf(guest.tap, sizeof(guest.tap), "%s", cfg->host_dev);
		ret = persist_tap(true);
	}
	return ret ? ret : added(vnet_create(&guest.vm, cfg), &guest.net);
}

int guest_add_vsock(void)
{
	struct vsock_cfg cfg = { .set = true, .guest_cid = 3 };

	snprintf(cfg.uds_path, sizeof(cfg.uds_path), "%s/v.sock", guest.dir);
	snprintf(guest.uds_path, sizeof(guest.uds_path), "%s", cfg.uds_path);
	return added(vvsock_create(&guest.vm, &cfg), &guest.vsock);
}

int guest_add_rng(const struct entropy_cfg *cfg)
{
	return added(vrng_create(&guest.vm, cfg), &guest.rng);
}

int guest_add_balloon(const struct balloon_cfg *cfg)
{
	return added(vballoon_create(&guest.vm, cfg), &guest.balloon);
}

int guest_add_mem(const struct hotplug_cfg *cfg)
{
	static struct vm_config c; /* large: not on the stack */

	vm_config_init(&c);
	c.hotplug = *cfg;
	return added(vmem_kind.add(&guest.vm, &c), &guest.mem);
}

void guest_select(unsigned slot)
{
	struct vdev *d = guest.vm.vdevs[slot];

	guest.slot = slot;
	switch (d->ops->device_id) {
	case VIRTIO_ID_BLOCK:
		guest.blk = d;
		break;
	case VIRTIO_ID_NET:
		guest.net = d;
		break;
	case VIRTIO_ID_VSOCK:
		guest.vsock = d;
		break;
	case VIRTIO_ID_RNG:
		guest.rng = d;
		break;
	case VIRTIO_ID_BALLOON:
		guest.balloon = d;
		break;
	default:
		guest.mem = d;
	}
}

int guest_serve(int timeout_ms)
{
	struct epoll_event ev[EVL_MAX_SOURCES];
	int i, n = epoll_wait(guest.loop.epfd, ev, EVL_MAX_SOURCES, timeout_ms);

	for (i = 0; i < n; i++) {
		struct evl_source *s = &guest.loop.sources[ev[i].data.u32];

		if (s->fd >= 0)
			s->fn(s->opaque, ev[i].events);
	}
	return n > 0 ? n : 0;
}

/* Every access goes to the driven slot's registers: a device is there. */
static void reg_access(uint64_t off, uint32_t *v, bool write)
{
	uint64_t at = vdev_mmio_base(guest.slot) + off;

	if (!bus_dispatch(&guest.vm.mmio, at, (uint8_t *)v, 4, write))
		abort();
}

void guest_reg_write(uint64_t off, uint32_t v)
{
	reg_access(off, &v, true);
}

uint32_t guest_reg_read(uint64_t off)
{
	uint32_t v = 0;

	reg_access(off, &v, false);
	return v;
}

uint32_t guest_status(void)
{
	return guest_reg_read(R_STATUS);
}

void guest_setup_queue(unsigned q)
{
	uint32_t base = QUEUES + q * 0x1000;

	memset(guest.vm.mem.host + base, 0, 0x1000); /* fresh rings */
	guest_reg_write(R_QUEUE_SEL, q);
	guest_reg_write(R_QUEUE_NUM, QSIZE);
	guest_reg_write(R_QUEUE_DESC_LO, base);
	guest_reg_write(R_QUEUE_DRIVER_LO, base + AVAIL_OFF);
	guest_reg_write(R_QUEUE_DEVICE_LO, base + USED_OFF);
	guest_reg_write(R_QUEUE_READY, 1);
}

void guest_driver_negotiate(unsigned nr_queues, unsigned ready,
			    uint64_t features)
{
	unsigned q;

	features |= 1ULL << VIRTIO_F_VERSION_1;
	guest_reg_write(R_STATUS, 0);
	guest_reg_write(R_STATUS,
			VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	guest_reg_write(R_DRV_FEATURES_SEL, 0);
	guest_reg_write(R_DRV_FEATURES, (uint32_t)features);
	guest_reg_write(R_DRV_FEATURES_SEL, 1);
	guest_reg_write(R_DRV_FEATURES, (uint32_t)(features >> 32));
	guest_reg_write(R_STATUS, DRIVER_STATUS);
	for (q = 0; q < nr_queues; q++)
		if (ready & (1u << q))
			guest_setup_queue(q);
}

uint32_t guest_driver_ok(void)
{
	guest_reg_write(R_STATUS, DRIVER_STATUS | VIRTIO_STATUS_DRIVER_OK);
	return guest_status();
}

uint32_t guest_driver_init(unsigned nr_queues, unsigned ready,
			   uint64_t features)
{
	guest_driver_negotiate(nr_queues, ready, features);
	return guest_driver_ok();
}

uint16_t guest_ring_idx(unsigned q, uint64_t off)
{
	uint16_t idx;

	memcpy(&idx, guest.vm.mem.host + QUEUES + q * 0x1000 + off + 2, 2);
	return idx;
}

void guest_post_chain(unsigned q, struct seg *segs, unsigned n)
{
	uint8_t *rings = guest.vm.mem.host + QUEUES + q * 0x1000;
	uint16_t idx = guest_ring_idx(q, AVAIL_OFF), head = (idx * 3) % QSIZE;
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

		uint8_t *to = gmem_ptr(&guest.vm.mem, desc.addr, desc.len);

		segs[i].gpa = desc.addr;
		if (segs[i].data && to)
			memcpy(to, segs[i].data, segs[i].len);
		memcpy(rings + at * sizeof(desc), &desc, sizeof(desc));
	}
	memcpy(rings + AVAIL_OFF + 4 + 2 * (idx % QSIZE), &head, 2);
	idx++;
	memcpy(rings + AVAIL_OFF + 2, &idx, 2);
}

uint64_t guest_post_buffer(unsigned q, const void *data, uint32_t len)
{
	struct seg seg = { data, len, 0 };

	guest_post_chain(q, &seg, 1);
	return seg.gpa;
}

void guest_kick(unsigned q)
{
	guest_reg_write(R_QUEUE_NOTIFY, q);
	guest_serve(0);
}

int guest_snapshot_cycle(size_t at, uint8_t flip)
{
	struct vdev *d = guest.vm.vdevs[guest.slot];
	struct vdev_state st;
	int ret;

	vdev_save(d, &st);
	((uint8_t *)&st)[at % sizeof(st)] ^= flip;
	guest_reg_write(R_STATUS, 0);
	ret = vdev_restore(d, &st);
	vdev_serve_restored(d); /* and its post-restore hook */
	return ret;
}

/* The host's own IPv6 frames (DAD, MLD reports, router solicitations)
 * would reach the tap for about 2 s after it comes up, in the middle of
 * a test's rx counts: IPv6 is turned off on the tap first (no such file
 * when the host has no IPv6: nothing to turn off). */
static void tap_without_ipv6(void)
{
	char path[96];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
		 guest.tap);
	f = fopen(path, "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
}

static bool tap_sockets(void)
{
	struct ifreq ifr = { .ifr_flags = IFF_UP };

	if (tap_raw >= 0)
		return true;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", guest.tap);
	tap_without_ipv6();
	tap_ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (tap_ctl < 0 || ioctl(tap_ctl, SIOCSIFFLAGS, &ifr) < 0)
		return false;
	tap_raw = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	return tap_raw >= 0;
}

void guest_tap_frame(size_t len)
{
	struct sockaddr_ll sa = { .sll_family = AF_PACKET,
				  .sll_ifindex = (int)if_nametoindex(guest.tap),
				  .sll_halen = ETH_ALEN };
	uint8_t frame[ETH_FRAME_LEN] = { 0xff, 0xff, 0xff, 0xff, 0xff,
					 0xff, 2,    0,	   0,	 0,
					 0,    1,    0x88, 0xb5 };

	len = len < ETH_ZLEN	  ? ETH_ZLEN :
	      len > sizeof(frame) ? sizeof(frame) :
				    len;
	if (!tap_sockets() || sa.sll_ifindex <= 0 ||
	    sendto(tap_raw, frame, len, 0, (struct sockaddr *)&sa, sizeof(sa)) <
		    0)
		fprintf(stderr, "guest: no frame to %s\n", guest.tap);
}

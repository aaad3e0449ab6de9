/* SPDX-License-Identifier: Apache-2.0 */
/* A guest without a vCPU: the virtio devices driven as a guest driver
 * drives them, through the MMIO bus (register reads and writes), rings and
 * buffers in a guest-memory buffer, and kicks served as the VMM loop serves
 * them; real files, Unix sockets and taps behind the devices, only the KVM
 * ioctls faked (the harness defines ioctl(), see fake_kvm.h). One guest
 * per process; used by the unit tests and the device fuzzers. */
#ifndef MICROVM_TESTS_GUEST_H
#define MICROVM_TESTS_GUEST_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"
#include "virtio/virtio.h"

/* virtio-mmio registers (virtio 1.x, 4.2.2) */
#define R_DRV_FEATURES 0x020
#define R_DRV_FEATURES_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_STATUS 0x070
#define R_QUEUE_DESC_LO 0x080
#define R_QUEUE_DESC_HI 0x084
#define R_QUEUE_DRIVER_LO 0x090
#define R_QUEUE_DRIVER_HI 0x094
#define R_QUEUE_DEVICE_LO 0x0a0
#define R_QUEUE_DEVICE_HI 0x0a4
#define DRIVER_STATUS                                       \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | \
	 VIRTIO_STATUS_FEATURES_OK)

/* The rings guest_setup_queue() lays out: queue q's at QUEUES + q * 0x1000
 * (avail at +AVAIL_OFF, used at +USED_OFF), its buffers from DATA + q *
 * 0x10000, BUF_SIZE each. */
#define QSIZE 16
#define QUEUES 0x10000
#define AVAIL_OFF 0x200
#define USED_OFF 0x400
#define DATA 0x40000
#define BUF_SIZE 0x1000
#define GUEST_MIN_MEM (DATA + VDEV_MAX_QUEUES * 0x10000)

#define GUEST_KVM_SLOTS 16
struct guest {
	struct vm vm;
	struct event_loop loop;
	char dir[64]; /* a temporary folder for drives and sockets */
	/* the device of each kind last added (or selected), NULL when none */
	struct vdev *blk, *net, *vsock, *rng, *balloon, *mem;
	unsigned slot; /* the device driven: 0 unless guest_select says */
	char tap[16]; /* the net device's tap */
	char uds_path[108]; /* the vsock device's socket */
	/* KVM's memory slots as the fake KVM holds them: each one's guest-
	 * physical start and size (0: none), and the host address given */
	struct kvm_userspace_memory_region kvm_slots[GUEST_KVM_SLOTS];
};
extern struct guest guest;

/* A guest with mem_size bytes of RAM (at least GUEST_MIN_MEM) and no
 * device. 0 or -errno. */
int guest_init(size_t mem_size);
/* Destroys the devices, the RAM and the folder. */
void guest_fini(void);
/* Destroys the devices only (and virtio-mem's region); the next one
 * created takes slot 0 again. */
void guest_remove_devices(void);

/* Devices, each in the next MMIO slot. 0 or -errno. */
/* A drive "disk" of `size` bytes starting with `text`, rate limiter and
 * engine as cfg says (its id and path are set here). The file is kept
 * for the next drive of the same size (the bytes past `text` too). */
int guest_add_blk(struct drive_cfg *cfg, const char *text, off_t size);
/* A net device "eth0" on the guest's tap (created persistent the first
 * time, removed by guest_fini); -EPERM when not root. */
int guest_add_net(struct net_cfg *cfg);
int guest_add_vsock(void);
int guest_add_rng(const struct entropy_cfg *cfg);
int guest_add_balloon(const struct balloon_cfg *cfg);
/* virtio-mem as a VM is built with it: its region mapped above RAM,
 * given to (fake) KVM, the device attached. */
int guest_add_mem(const struct hotplug_cfg *cfg);

/* Drives the device in `slot` from now on (register accesses, snapshot
 * cycles) and makes it the one of its kind (guest.blk, ...). */
void guest_select(unsigned slot);

/* The VMM loop: serves whatever is ready within timeout_ms. Returns how
 * many sources it served. */
int guest_serve(int timeout_ms);
/* Register accesses to the device driven (off: from its MMIO base). */
void guest_reg_write(uint64_t off, uint32_t v);
uint32_t guest_reg_read(uint64_t off);
uint32_t guest_status(void);
/* Queue q at the standard layout, fresh rings, ready. */
void guest_setup_queue(unsigned q);
/* Linux's probe of slot 0 setting up only the queues in `ready` before
 * DRIVER_OK, with VERSION_1 plus `features`. Returns the status then. */
uint32_t guest_driver_init(unsigned nr_queues, unsigned ready,
			   uint64_t features);
/* The same in two steps: all but DRIVER_OK, then DRIVER_OK (returns the
 * status), for a driver that posts buffers in between. */
void guest_driver_negotiate(unsigned nr_queues, unsigned ready,
			    uint64_t features);
uint32_t guest_driver_ok(void);
/* The avail (off AVAIL_OFF) or used (USED_OFF) index of standard queue q. */
uint16_t guest_ring_idx(unsigned q, uint64_t off);

struct seg {
	const void *data; /* device-readable bytes; NULL: device-writable */
	uint32_t len;
	uint64_t gpa; /* where it is: 0 lets guest_post_chain choose */
};
/* Posts a chain on standard queue q (up to 3, or one chain of up to QSIZE
 * at idx 0). A readable segment's bytes are copied where gmem_ptr says
 * (nowhere when its gpa is not guest memory). */
void guest_post_chain(unsigned q, struct seg *segs, unsigned n);
/* One buffer: device-readable `data`, or device-writable when NULL. */
uint64_t guest_post_buffer(unsigned q, const void *data, uint32_t len);
/* The driver's notify write, then the VMM loop serves the kick. */
void guest_kick(unsigned q);

/* A snapshot of the driven device taken and loaded again: saved (in-flight
 * requests finished), reset, restored from the state with byte `at`
 * xor-ed with `flip` (0: as saved; a crafted state file otherwise), then
 * served as after a load (vsock: TRANSPORT_RESET). Returns what
 * vdev_restore returned. */
int guest_snapshot_cycle(size_t at, uint8_t flip);

/* Host side: sends a frame of len bytes (60..1514) out of the net
 * device's tap, so that the device sees it arrive. */
void guest_tap_frame(size_t len);

#endif

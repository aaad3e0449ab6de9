/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio/ — the virtio devices: split virtqueues, the virtio-mmio (version 2)
 * transport, and one file per device.
 *
 * Contract:
 * - The guest is hostile. Every descriptor, ring index and buffer address is
 *   checked through gmem_ptr(); a chain longer than the queue, a loop, a
 *   buffer outside guest RAM, a write into a device-readable buffer or an
 *   indirect table inside an indirect table makes vq_pop() fail, and the
 *   transport then sets DEVICE_NEEDS_RESET and raises a config interrupt.
 *   microvm never crashes and never touches memory outside the guest.
 * - Threads: register accesses (mmio.c) come from vCPU threads under the
 *   device lock; queue notifications arrive through ioeventfds on the VMM
 *   thread, which runs the device's queue_notify; interrupts go out through
 *   irqfds. A device's queues are only touched on the VMM thread.
 */
#ifndef MICROVM_VIRTIO_H
#define MICROVM_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/vmm.h"

#define VIRTIO_F_VERSION_1 32
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

#define VIRTIO_MMIO_SIZE 0x1000
#ifdef __aarch64__
/* Slot i: MMIO at VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE, right after the
 * serial port (vmm/arm64/layout.h), and SPI VIRTIO_MMIO_IRQ_BASE + i: its
 * irqfd's GSI, since KVM's default routing on the vGIC takes GSI n to
 * SPI n (GIC interrupt ID 32 + n). The guest finds each device in the
 * device tree (microvm/boot_arm64.c), not on the command line. */
#define VIRTIO_MMIO_BASE ARM64_VIRTIO_START
#define VIRTIO_MMIO_IRQ_BASE ARM64_VIRTIO_FIRST_SPI
#define VIRTIO_MAX_DEVICES CONFIG_MAX_DEVICES
#define VIRTIO_MMIO_ON_CMDLINE false
_Static_assert(VIRTIO_MMIO_IRQ_BASE + VIRTIO_MAX_DEVICES <= ARM64_SPI_COUNT,
	       "an SPI for every slot");
_Static_assert(VIRTIO_MMIO_BASE + VIRTIO_MAX_DEVICES * VIRTIO_MMIO_SIZE <=
		       ARM64_MMIO_END,
	       "the MMIO slots fit below RAM");
#else
/* Slot i: MMIO at VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE, IRQ 5 + i,
 * named on the guest's command line ("virtio_mmio.device="). */
#define VIRTIO_MMIO_BASE 0xd0000000ULL
#define VIRTIO_MMIO_IRQ_BASE 5
/* The I/O APIC's last pin, which the MP table routes (vmm/mptable.c) as
 * Firecracker's does: 19 devices; a guest does not find a device whose
 * IRQ its MP table lacks. */
#define VIRTIO_MMIO_IRQ_LAST 23
#define VIRTIO_MAX_DEVICES (VIRTIO_MMIO_IRQ_LAST - VIRTIO_MMIO_IRQ_BASE + 1)
#define VIRTIO_MMIO_ON_CMDLINE true
_Static_assert(VIRTIO_MMIO_IRQ_BASE > SERIAL_IRQ &&
		       VIRTIO_MMIO_IRQ_BASE > I8042_KBD_IRQ,
	       "virtio IRQs above the legacy devices'");
_Static_assert(VIRTIO_MMIO_BASE + VIRTIO_MAX_DEVICES * VIRTIO_MMIO_SIZE <=
		       IOAPIC_ADDR,
	       "the MMIO slots fit below the I/O APIC");
#endif
_Static_assert(VIRTIO_MAX_DEVICES == CONFIG_MAX_DEVICES,
	       "the API refuses the devices that have no slot");
#define VQ_MAX_SIZE 256

/* ---- queue.c: split virtqueues ---- */
struct vq {
	uint16_t size; /* set by the driver, <= VQ_MAX_SIZE, power of 2 */
	bool ready;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t last_avail; /* next avail entry we will take */
	uint16_t used_idx; /* our copy of used->idx */
	uint16_t signalled_used; /* used_idx when we last interrupted */
	bool event_idx; /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect; /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	/* host views of the rings, checked by vq_activate() */
	uint8_t *desc, *avail, *used;
};

/* One descriptor chain, as host iovecs. Device-readable buffers come
 * first, then device-writable ones (the spec's order, enforced). */
struct vq_chain {
	uint16_t head;
	unsigned nr_out, nr_in; /* readable, writable buffers */
	struct iovec iov[VQ_MAX_SIZE];
	uint64_t in_len; /* total bytes the device may write */
};

/* Takes the next available chain. Returns 1 with *chain filled, 0 when the
 * queue is empty, -EFAULT/-EINVAL when the guest broke the ring (the device
 * must then be reset). VMM thread. */
int vq_pop(struct vq *q, const struct guest_mem *mem, struct vq_chain *chain);
/* Returns a chain to the guest with `len` bytes written. 0 or -EFAULT. */
int vq_push(struct vq *q, uint16_t head, uint32_t len);
/* vq_push in two steps, for a frame spread over several chains: fill the
 * used entries, then publish them all at once. */
int vq_fill(struct vq *q, uint16_t head, uint32_t len);
void vq_flush(struct vq *q);
/* Gives back the last n popped chains (not yet filled) to the ring. */
void vq_unpop(struct vq *q, uint16_t n);
/* Whether the guest wants an interrupt for what was pushed since the last
 * one (EVENT_IDX's used_event, or the avail flags). */
bool vq_needs_interrupt(struct vq *q);
/* With EVENT_IDX, the driver kicks only when its avail index crosses the
 * one we last asked for; this asks for a kick at the next chain the driver
 * adds, however many it has queued already. */
void vq_kick_on_next_avail(struct vq *q);
void vq_reset(struct vq *q);
/* Checks and maps the rings of a ready queue (size, alignment, every byte
 * in guest RAM) and starts its indexes at 0. 0 or -EINVAL/-EFAULT. */
MUST_CHECK int vq_activate(struct vq *q, const struct guest_mem *mem);
/* The same checks and mapping, keeping the indexes (snapshot restore). */
MUST_CHECK int vq_map(struct vq *q, const struct guest_mem *mem);
/* Copies len bytes between buf and the iovecs' bytes starting at off
 * (to_iov: into the iovecs). Returns the bytes copied (less when the
 * iovecs end first). */
size_t iov_copy(const struct iovec *iov, unsigned n, size_t off, void *buf,
		size_t len, bool to_iov);
/* Fills out (room for n entries) with the iovecs' bytes [off, off + len);
 * returns the number of entries. */
unsigned iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len,
		   struct iovec *out);

/* ---- mmio.c: the virtio-mmio transport ---- */
/* virtio device types (vdev_ops.device_id, vdev_find) */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_BALLOON 5
#define VIRTIO_ID_VSOCK 19
#define VIRTIO_ID_MEM 24
/* Room in a snapshot for a device's own state (vdev_ops.save). */
#define VDEV_OWN_STATE_MAX 64

struct vdev;
/* What a device kind does; the transport and the VM's lifecycle (destroy,
 * snapshot save and restore) call it for every device alike. */
struct vdev_ops {
	const char *name;
	uint32_t device_id; /* virtio device type */
	unsigned num_queues; /* the most it has (ioeventfds, snapshots) */
	/* How many of them the driver sets up, by the features it took
	 * (optional: num_queues). Queues past it do not exist for the
	 * guest and are never touched. */
	unsigned (*queues)(const struct vdev *d);
	uint64_t (*features)(struct vdev *d);
	/* Reads or writes config space bytes [off, off + len). */
	void (*config_rw)(struct vdev *d, uint32_t off, uint8_t *buf,
			  uint32_t len, bool write);
	/* The guest set DRIVER_OK with every queue ready. 0 or -errno. */
	int (*activate)(struct vdev *d);
	/* Queue q was kicked (VMM thread). */
	void (*queue_notify)(struct vdev *d, unsigned q);
	void (*reset)(struct vdev *d);
	/* Before a snapshot: finish in-flight requests (optional). */
	void (*quiesce)(struct vdev *d);
	/* Frees the device: vdev_detach() and what the device owns. Safe on
	 * a device whose creation failed halfway (vdev_preinit() first). */
	void (*destroy)(struct vdev *d);
	/* Snapshot: the device's own state beyond transport and queues (its
	 * rate limiters...) into VDEV_OWN_STATE_MAX bytes, and back from
	 * them, untrusted (optional; under the device lock). 0 or -EINVAL. */
	void (*save)(struct vdev *d, uint8_t *own);
	int (*restore)(struct vdev *d, const uint8_t *own);
	/* After a restore, once the guest's rings may be read (optional). */
	void (*restored)(struct vdev *d);
};

/* The most a device has: the balloon with statistics, free page hinting
 * and reporting (inflate, deflate, stats, hinting, reporting). */
#define VDEV_MAX_QUEUES 5
struct vdev {
	const struct vdev_ops *ops;
	void *priv;
	const char *id; /* the API's id (drive_id, iface_id) or NULL */
	struct vm *vm;
	pthread_mutex_t lock;
	unsigned index; /* slot: MMIO base and IRQ */
	uint32_t status;
	uint32_t features_sel, driver_features_sel, queue_sel;
	uint64_t driver_features;
	uint32_t config_generation;
	uint32_t interrupt_status;
	bool activated;
	struct vq queues[VDEV_MAX_QUEUES];
	int kick_fd[VDEV_MAX_QUEUES]; /* ioeventfds */
	struct vdev_kick {
		struct vdev *d;
		unsigned q;
	} kicks[VDEV_MAX_QUEUES]; /* event-loop opaques */
	int irq_fd; /* irqfd */
};

/* Marks a device's fds as not open yet, so that vdev_detach() is safe on
 * a device whose creation failed before vdev_attach(). */
void vdev_preinit(struct vdev *d);
/* Places a device in the next MMIO slot: registers its MMIO range, an
 * ioeventfd per queue (watched by the VMM loop) and an irqfd; on x86
 * appends "virtio_mmio.device=4K@0x...:IRQ" to vm->cmdline_extra (arm64:
 * the device tree names it, from vdev_mmio_base and vdev_irq); the device is
 * then vm->vdevs[its slot]. id (kept, not copied) names it for
 * vdev_find(). 0 or -errno. */
MUST_CHECK int vdev_attach(struct vm *vm, struct vdev *d,
			   const struct vdev_ops *ops, void *priv,
			   const char *id);
void vdev_detach(struct vdev *d);
/* Slot index's MMIO base, and its interrupt, which is also its irqfd's
 * GSI (x86: the I/O APIC pin; arm64: the SPI, 0-based as the device tree
 * counts them). */
uint64_t vdev_mmio_base(unsigned index);
unsigned vdev_irq(unsigned index);
/* The VM's device of this type with this id (id NULL: the first of the
 * type), or NULL. */
struct vdev *vdev_find(const struct vm *vm, uint32_t device_id, const char *id);
/* Destroys every device of the VM (ops->destroy); no slot is left used. */
void vdev_destroy_all(struct vm *vm);
/* Whether device code may touch the queues: the driver set DRIVER_OK
 * with every queue ready (so all are mapped) and has not broken one since.
 * Caller holds the device lock. */
bool vdev_live(const struct vdev *d);
/* Raises the used-buffer interrupt if the guest wants one (VMM thread);
 * nothing before the driver activated the device (its rings unmapped). */
void vdev_notify_used(struct vdev *d, unsigned q);
/* Config space changed: new generation and a config interrupt (caller
 * holds the device lock). */
void vdev_config_changed(struct vdev *d);
/* A guest broke a queue: NEEDS_RESET plus a config interrupt. */
void vdev_fail(struct vdev *d, const char *why);
/* A device's transport and queue state, as a snapshot stores it (fixed
 * layout, no pointers). */
struct vq_state {
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t size, last_avail, used_idx, signalled_used;
	uint8_t ready, event_idx, indirect, pad[5];
};
struct vdev_state {
	uint32_t index, device_id, status, features_sel;
	uint32_t driver_features_sel, queue_sel, config_generation;
	uint32_t interrupt_status, activated, nr_queues;
	uint64_t driver_features;
	struct vq_state queues[VDEV_MAX_QUEUES];
	uint8_t own[VDEV_OWN_STATE_MAX]; /* vdev_ops.save's */
};
/* Snapshot: finishes in-flight work and copies the state out (the
 * device's own with ops->save); marks the used rings dirty (devices write
 * them). VMM thread, vCPUs parked. */
void vdev_save(struct vdev *d, struct vdev_state *out);
/* Restore into an attached device of the same type: registers and queues
 * (rings checked against guest RAM again); no ring is read yet. A device
 * that ran (a rewind) is reset first: in-flight requests finished, host
 * connections closed; the used rings it wrote and those it restores are
 * marked dirty. -EINVAL when the state does not fit this device. */
MUST_CHECK int vdev_restore(struct vdev *d, const struct vdev_state *in);
/* After vdev_restore, once the VMM thread's final seccomp filter is in
 * place: serves each queue once (kicks pending at snapshot time), raises a
 * pending interrupt again, then runs the device's ops->restored. */
void vdev_serve_restored(struct vdev *d);
/* Register access entry point for the MMIO bus (vCPU threads). */
void vdev_mmio_access(void *dev, uint64_t off, uint8_t *data, uint32_t len,
		      bool is_write);
bool vdev_has_feature(const struct vdev *d, unsigned bit);

/* ---- rate_limiter.c: token buckets for block, net and rng ---- */
struct bucket {
	bool on;
	int64_t size, tokens, burst; /* tokens < 0: overdrawn */
	uint64_t refill_ns, last_ns;
};
struct rate_limiter {
	struct bucket bytes, ops;
	int timer_fd; /* -1 when unlimited; else watched by the device */
	bool armed;
	/* rl_watch's: where timer_fd is watched, and what it then serves */
	struct event_loop *loop;
	struct vdev *dev;
	void (*serve)(struct vdev *d);
};
/* A limiter's state in a snapshot (rl_save): each bucket's tokens and
 * what is left of its one-time burst, in RL_STATE_SIZE bytes. */
#define RL_STATE_SIZE 32
struct rate_limiter_cfg;
/* Sets up from the API's config (unset buckets are unlimited). */
MUST_CHECK int rl_init(struct rate_limiter *rl,
		       const struct rate_limiter_cfg *cfg);
/* Whether a PATCH's cfg can apply: -ENOTSUP when it would limit a limiter
 * created unlimited (it has no timer on the event loop), else 0. */
MUST_CHECK int rl_check_update(const struct rate_limiter *rl,
			       const struct rate_limiter_cfg *cfg);
/* Applies a PATCH that rl_check_update accepted: each bucket cfg names
 * starts afresh with its new limit (or none); the others are kept. */
void rl_update(struct rate_limiter *rl, const struct rate_limiter_cfg *cfg);
/* Watches the timer on loop (nothing when unlimited): when it fires,
 * serve(d) runs under the device lock if the device is live. 0 or -errno. */
MUST_CHECK int rl_watch(struct rate_limiter *rl, struct event_loop *loop,
			struct vdev *d, void (*serve)(struct vdev *d));
/* Stops watching (rl_watch) and closes the timer. */
void rl_destroy(struct rate_limiter *rl);
void rl_save(const struct rate_limiter *rl, uint8_t out[RL_STATE_SIZE]);
/* Takes a saved state (untrusted: clamped to the buckets this limiter has
 * now); the buckets refill from now on. */
void rl_restore(struct rate_limiter *rl, const uint8_t in[RL_STATE_SIZE]);
uint64_t rl_now_ns(void);
/* How long until both buckets have a token (0: a request may go now). */
uint64_t rl_blocked_ns(struct rate_limiter *rl, uint64_t now_ns);
/* Charges a request that was let through. */
void rl_consume(struct rate_limiter *rl, uint64_t bytes);
/* True when a request may go now; otherwise arms the timerfd. */
bool rl_admit(struct rate_limiter *rl);
/* The timerfd fired: acknowledge it; the device then retries. */
void rl_timer_fired(struct rate_limiter *rl);

/* ---- the device kinds: one file each, listed in devices.c ---- */
/* A device's create attaches it in the next slot or, failing, frees
 * it; its destroy is ops->destroy (vdev_destroy_all). */
struct vdev_kind {
	/* Creates the devices of this kind that cfg has, in cfg's order. On
	 * failure, -errno and vm->err says which device and why. */
	int (*add)(struct vm *vm, const struct vm_config *cfg);
};
/* Every kind, in the order their devices take the MMIO slots; NULL
 * ends it. A new device kind is one line here. */
extern const struct vdev_kind *const vdev_kinds[];
extern const struct vdev_kind vblk_kind, vnet_kind, vrng_kind, vvsock_kind,
	vballoon_kind, vmem_kind;

/* ---- block.c: virtio-blk ---- */
struct drive_cfg;
/* Opens the drive's file and attaches a virtio-blk device. */
MUST_CHECK int vblk_create(struct vm *vm, const struct drive_cfg *cfg);
/* The Async engine's io_uring, completions signalled on efd. Created
 * disabled and enabled only once restricted to readv, writev and fsync
 * SQEs without flags, with no io_uring_register operation left: code that
 * took over microvm cannot open, connect, rename or unlink through the
 * ring, where seccomp never looks (Firecracker restricts its rings so).
 * 0 or -errno. */
struct io_uring;
MUST_CHECK int vblk_ring_init(struct io_uring *ring, int efd);
/* PATCH /drives/{id} after boot (d: vdev_find's VIRTIO_ID_BLOCK): a new
 * backing file (the guest is told its new size) and/or a new rate
 * limiter. VMM thread. 0 or -errno. */
MUST_CHECK int vblk_update(struct vdev *d, const struct drive_patch *p);

/* ---- net.c: virtio-net on a tap device ---- */
struct net_cfg;
MUST_CHECK int vnet_create(struct vm *vm, const struct net_cfg *cfg);
struct net_patch;
/* PATCH /network-interfaces/{id} after boot (d: VIRTIO_ID_NET): the rx
 * and tx rate limiters' buckets it names. VMM thread. 0, or -ENOTSUP
 * (nothing changed) when it would limit a direction created unlimited. */
MUST_CHECK int vnet_update(struct vdev *d, const struct net_patch *p);
/* The metadata service answers at ipv4 on this interface (net_mmds.c):
 * the guest's frames for it never reach the tap. Before the guest runs. */
MUST_CHECK int vnet_enable_mmds(struct vdev *d, struct mmds *m, uint32_t ipv4);

/* ---- net_mmds.c: virtio-net's detour to the metadata service ---- */
#define VIRTIO_NET_HDR_LEN 12 /* virtio_net_hdr_v1 */
struct net_mmds;
/* A stack for m at ipv4, and a timer on loop for its retransmissions,
 * which calls wake(opaque) to pull the stack's frames. 0 or -errno. */
MUST_CHECK int net_mmds_create(struct mmds *m, uint32_t ipv4,
			       struct event_loop *loop, evl_fn wake,
			       void *opaque, struct net_mmds **out);
void net_mmds_destroy(struct net_mmds *nm);
/* A rewind or load: the stack as created (mmds_stack_reset), its timer
 * disarmed. NULL: nothing. */
void net_mmds_reset(struct net_mmds *nm);
/* A tx chain's bytes (virtio-net header first): their length when the
 * metadata service took the frame, 0 when it goes to the tap. */
size_t net_mmds_from_guest(struct net_mmds *nm, const struct iovec *iov,
			   unsigned n);
/* The service's next frame for the guest, a zeroed virtio-net header
 * first, into buf (cap >= VIRTIO_NET_HDR_LEN + MMDS_FRAME_MAX): its
 * length, or 0. */
size_t net_mmds_to_guest(struct net_mmds *nm, uint8_t *buf, size_t cap);

/* ---- rng.c: virtio-rng ---- */
struct entropy_cfg;
MUST_CHECK int vrng_create(struct vm *vm, const struct entropy_cfg *cfg);

/* ---- balloon.c: virtio-balloon ---- */
#define BALLOON_PAGES_PER_MIB 256 /* the 4 KiB pages of the target */
/* The guest's statistics by virtio tag (VIRTIO_BALLOON_S_SWAP_IN = 0 ...
 * S_DIRECT_RECLAIM = 15), the last value it sent for each, and the sizes. */
#define BALLOON_NR_STATS 16
struct balloon_stats {
	uint32_t target_pages, actual_pages;
	uint32_t present; /* a bit per tag the guest has sent */
	uint64_t value[BALLOON_NR_STATS];
};
struct balloon_cfg;
MUST_CHECK int vballoon_create(struct vm *vm, const struct balloon_cfg *cfg);
/* PATCH /balloon (d: VIRTIO_ID_BALLOON): the new target; the guest is
 * told with a config interrupt once its driver runs. VMM thread. */
void vballoon_set_target(struct vdev *d, unsigned amount_mib);
/* PATCH /balloon/statistics: the new interval, the first update now.
 * -EINVAL when it would turn statistics on or off (only before boot). */
MUST_CHECK int vballoon_set_stats_interval(struct vdev *d, unsigned interval_s);
void vballoon_stats(struct vdev *d, struct balloon_stats *out);
/* Free page hinting (PATCH /balloon/hinting/start, /stop, GET
 * /balloon/hinting/status): -ENOTSUP unless free_page_hinting was set.
 * Start: a new command id for the guest's run; acknowledge_on_stop: DONE
 * once the guest stops, else stop sets it. */
struct balloon_hint_status {
	uint32_t host_cmd, guest_cmd; /* guest_cmd: once guest_cmd_set */
	bool guest_cmd_set;
};
MUST_CHECK int vballoon_hint_start(struct vdev *d, bool ack_on_stop);
MUST_CHECK int vballoon_hint_stop(struct vdev *d);
MUST_CHECK int vballoon_hint_status(struct vdev *d,
				    struct balloon_hint_status *out);

/* ---- mem.c: virtio-mem ---- */
struct hotplug_cfg;
/* Attaches the device of a region already mapped (vm->mem.hp); nothing
 * requested, nothing plugged, no slot of it given to KVM yet. */
MUST_CHECK int vmem_create(struct vm *vm, const struct hotplug_cfg *cfg);
/* PATCH /hotplug/memory (d: VIRTIO_ID_MEM; the size checked against the
 * block and the total): the new requested size; the usable region grows
 * to hold it, in slots; the guest is told with a config interrupt once
 * its driver runs. VMM thread. */
void vmem_set_requested(struct vdev *d, unsigned requested_mib);
struct vmem_status {
	unsigned plugged_mib, requested_mib;
};
void vmem_status(struct vdev *d, struct vmem_status *out);

/* ---- vsock_mux.c: the vsock host side, on Unix sockets ----
 * Host -> guest: a client connects to uds_path and sends "CONNECT <port>\n";
 * when the guest accepts, it reads "OK <host_port>\n" and the stream is raw.
 * Guest -> host: a guest connect to CID 2, port P connects to
 * "<uds_path>_<P>". Flow control is the virtio spec's credit scheme; every
 * packet the guest sends is checked (CIDs, type, op, length, credit) and a
 * bad one resets its connection. Not thread safe: the device lock. */
#define VSOCK_HOST_CID 2
#define VSOCK_TYPE_STREAM 1
enum vsock_op {
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE,
	VSOCK_OP_RST,
	VSOCK_OP_SHUTDOWN,
	VSOCK_OP_RW,
	VSOCK_OP_CREDIT_UPDATE,
	VSOCK_OP_CREDIT_REQUEST,
};
#define VSOCK_SHUTDOWN_RCV 1
#define VSOCK_SHUTDOWN_SEND 2
struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
#define VSOCK_HDR_LEN 44
#define VSOCK_MAX_CONNS 1023
#define VSOCK_CONN_BUF (64 * 1024) /* our buf_alloc, per connection */
#define VSOCK_MAX_PAYLOAD (64 * 1024)
#define VSOCK_FIRST_HOST_PORT (1U << 30)

struct vsock_mux;
/* Listens on uds_path (a stale socket there is replaced). 0 or -errno. */
MUST_CHECK int vsock_mux_create(uint64_t guest_cid, const char *uds_path,
				struct vsock_mux **out);
void vsock_mux_destroy(struct vsock_mux *m);
/* An epoll fd, readable when a host socket needs vsock_mux_poll(). */
int vsock_mux_fd(const struct vsock_mux *m);
void vsock_mux_poll(struct vsock_mux *m);
/* One packet from the guest's tx queue: its header and the `avail` bytes
 * that followed it in the chain. */
void vsock_mux_from_guest(struct vsock_mux *m, const struct vsock_hdr *h,
			  const struct iovec *payload, unsigned niov,
			  size_t avail);
/* Whether a packet waits for the guest (control or readable data). */
bool vsock_mux_has_rx(const struct vsock_mux *m);
/* Writes the next packet into a guest rx buffer of at least VSOCK_HDR_LEN
 * bytes; returns its length, or 0 when nothing could be produced. */
size_t vsock_mux_to_guest(struct vsock_mux *m, const struct iovec *iov,
			  unsigned niov);
/* Drops every connection (device or transport reset): host sockets are
 * closed, nothing is sent to the guest. */
void vsock_mux_reset(struct vsock_mux *m);
unsigned vsock_mux_nr_conns(const struct vsock_mux *m);

/* ---- vsock.c: virtio-vsock ---- */
struct vsock_cfg;
MUST_CHECK int vvsock_create(struct vm *vm, const struct vsock_cfg *cfg);
/* After a snapshot restore (its ops->restored): every connection is
 * dropped and the guest gets VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the
 * event queue. */
void vvsock_transport_reset(struct vdev *d);

#endif

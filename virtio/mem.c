// SPDX-License-Identifier: Apache-2.0
/* virtio-mem (/hotplug/memory), as Firecracker's: a region of guest-
 * physical memory above RAM (vmm/memory.c's gmem_hotplug) that the guest
 * plugs and unplugs in blocks, toward the size the host requests (config
 * space). One queue of requests: plug, unplug, unplug all, state; each
 * answered in its writable buffer. Plugged blocks are guest RAM (gmem_ptr
 * reaches them); unplugged ones go back to the host. The usable part of
 * the region grows in slots as the requested size does and drops to
 * nothing on unplug all, as in Firecracker.
 *
 * Each slot of the region is a KVM memory slot of its own, there only
 * while a block in it is plugged (as in Firecracker): a guest touching a
 * slot it has plugged nothing in gets no host memory, only MMIO exits
 * that nothing answers (reads as all ones). A snapshot keeps the sizes
 * (vdev_ops.save); the plugged blocks go with the memory
 * (snapshot/memory_file.c), and a restore checks the sizes against them
 * and gives KVM the slots in use again.
 *
 * The guest is hostile: a range outside the usable region, misaligned,
 * empty, plugging plugged blocks or unplugging unplugged ones, and an
 * unknown request type get VIRTIO_MEM_RESP_ERROR; plugging beyond the
 * requested size gets NACK; a request or response buffer too short sets
 * DEVICE_NEEDS_RESET. Only blocks of the region are ever given back.
 * A device reset changes no block (the virtio spec). */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "virtio/virtio.h"

#define F_UNPLUGGED_INACCESSIBLE 1
#define REQ_PLUG 0
#define REQ_UNPLUG 1
#define REQ_UNPLUG_ALL 2
#define REQ_STATE 3
#define RESP_ACK 0
#define RESP_NACK 1
#define RESP_ERROR 3
#define STATE_PLUGGED 0
#define STATE_UNPLUGGED 1
#define STATE_MIXED 2
#define MIB (1ULL << 20)
/* Linux adds hot-plugged memory in 128 MiB sections: the region starts on
 * a 1 GiB boundary (or its block's, when larger). */
#define REGION_ALIGN (1ULL << 30)
#define FIRST_KVM_SLOT 2 /* after the RAM's one or two */

/* struct virtio_mem_req: le16 type, 6 bytes of padding, then (plug,
 * unplug, state) le64 addr, le16 nb_blocks and 6 more. */
struct mem_req {
	uint16_t type, pad[3];
	uint64_t addr;
	uint16_t nb_blocks, pad2[3];
};
/* struct virtio_mem_resp: le16 type, padding, le16 state. */
#define RESP_SIZE 10

struct vmem {
	struct vdev dev;
	uint64_t slot_size; /* bytes */
	uint64_t usable, plugged, requested; /* config space, bytes */
	bool *in_kvm; /* per slot: given to KVM */
	struct vq_chain chain;
};

/* What a snapshot keeps of the device itself (vdev_ops.save). */
struct mem_state {
	uint64_t usable, plugged, requested;
};
_Static_assert(sizeof(struct mem_state) <= VDEV_OWN_STATE_MAX, "fits");

/* VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE: the guest must not read unplugged
 * memory (it is not in a KVM slot). */
static uint64_t mem_features(struct vdev *d)
{
	(void)d;
	return (1ULL << VIRTIO_RING_F_EVENT_IDX) |
	       (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
	       (1ULL << F_UNPLUGGED_INACCESSIBLE);
}

/* struct virtio_mem_config: block_size, node_id (0: no ACPI PXM) and
 * padding, addr, region_size, usable_region_size, plugged_size,
 * requested_size. Read-only for the driver. */
static void mem_config_rw(struct vdev *d, uint32_t off, uint8_t *buf,
			  uint32_t len, bool write)
{
	const struct vmem *m = d->priv;
	const struct gmem_hotplug *hp = &d->vm->mem.hp;
	uint64_t space[7] = { hp->block_size, 0,	  hp->gpa,     hp->size,
			      m->usable,      m->plugged, m->requested };

	if (write)
		return;
	memset(buf, 0, len);
	if (off < sizeof(space) && len <= sizeof(space) - off)
		memcpy(buf, (uint8_t *)space + off, len);
}

/* The first block of a request's range when the range is aligned, not
 * empty and inside the usable region; else -1. */
static int64_t first_block(const struct vmem *m, const struct mem_req *r)
{
	const struct gmem_hotplug *hp = &m->dev.vm->mem.hp;
	uint64_t off = r->addr - hp->gpa;

	if (!r->nb_blocks || r->addr < hp->gpa || off % hp->block_size ||
	    off >= m->usable ||
	    (uint64_t)r->nb_blocks * hp->block_size > m->usable - off)
		return -1;
	return (int64_t)(off / hp->block_size);
}

static unsigned range_state(const struct vmem *m, uint64_t first, uint64_t n)
{
	const struct guest_mem *mem = &m->dev.vm->mem;
	uint64_t b, plugged = 0;

	for (b = first; b < first + n; b++)
		plugged += gmem_hotplug_plugged(mem, b);
	return plugged == n ? STATE_PLUGGED :
	       plugged	    ? STATE_MIXED :
			      STATE_UNPLUGGED;
}

static uint64_t blocks_per_slot(const struct vmem *m)
{
	return m->slot_size / m->dev.vm->mem.hp.block_size;
}

static uint64_t nr_slots(const struct vmem *m)
{
	return m->dev.vm->mem.hp.size / m->slot_size;
}

/* Gives slot s of the region to KVM, or takes it back. */
static int set_kvm_slot(struct vmem *m, uint64_t s, bool in)
{
	const struct gmem_hotplug *hp = &m->dev.vm->mem.hp;
	struct kvm_userspace_memory_region r = {
		.slot = (uint32_t)(FIRST_KVM_SLOT + s),
		.guest_phys_addr = hp->gpa + s * m->slot_size,
		.memory_size = in ? m->slot_size : 0,
		.userspace_addr =
			(uint64_t)(uintptr_t)(hp->host + s * m->slot_size),
	};

	if (ioctl(m->dev.vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return -errno;
	m->in_kvm[s] = in;
	return 0;
}

/* Slots [first, last] go to KVM when a block in them is plugged and come
 * back when none is. 0 or -errno (a slot KVM did not take). */
static int sync_kvm_slots(struct vmem *m, uint64_t first, uint64_t last)
{
	uint64_t s;
	int ret;

	for (s = first; s <= last; s++) {
		bool used = range_state(m, s * blocks_per_slot(m),
					blocks_per_slot(m)) != STATE_UNPLUGGED;

		if (used == m->in_kvm[s])
			continue;
		ret = set_kvm_slot(m, s, used);
		if (ret)
			return ret;
	}
	return 0;
}

/* Blocks [first, first + n) plugged or unplugged, with their slots. */
static int set_blocks(struct vmem *m, uint64_t first, uint64_t n, bool on)
{
	const struct guest_mem *mem = &m->dev.vm->mem;
	uint64_t s0 = first / blocks_per_slot(m);
	uint64_t s1 = (first + n - 1) / blocks_per_slot(m);
	int ret;

	gmem_hotplug_set(mem, first, n, on);
	ret = sync_kvm_slots(m, s0, s1);
	if (ret && on) {
		log_warn("virtio-mem: KVM refused a memory slot: %s",
			 strerror(-ret));
		gmem_hotplug_set(mem, first, n, false);
		/* and takes back those it took before the refusal */
		if (sync_kvm_slots(m, s0, s1))
			log_warn("virtio-mem: KVM kept a memory slot");
	} else if (ret) {
		log_warn("virtio-mem: KVM kept a memory slot: %s",
			 strerror(-ret));
	}
	return on ? ret : 0;
}

/* Plugs or unplugs the range when every block of it is in the other
 * state. */
static uint16_t plug(struct vmem *m, const struct mem_req *r, bool on)
{
	const struct guest_mem *mem = &m->dev.vm->mem;
	int64_t first = first_block(m, r);
	uint64_t len = (uint64_t)r->nb_blocks * mem->hp.block_size;

	if (first < 0 || range_state(m, (uint64_t)first, r->nb_blocks) !=
				 (on ? STATE_UNPLUGGED : STATE_PLUGGED))
		return RESP_ERROR;
	if (on && m->plugged + len > m->requested)
		return RESP_NACK;
	if (set_blocks(m, (uint64_t)first, r->nb_blocks, on))
		return RESP_ERROR;
	m->plugged = on ? m->plugged + len : m->plugged - len;
	return RESP_ACK;
}

static uint16_t unplug_all(struct vmem *m)
{
	const struct guest_mem *mem = &m->dev.vm->mem;

	set_blocks(m, 0, mem->hp.size / mem->hp.block_size, false);
	m->plugged = 0;
	m->usable = 0;
	return RESP_ACK;
}

/* A request's answer: the response type, and the state for REQ_STATE. */
static uint16_t answer(struct vmem *m, const struct mem_req *r, uint16_t *state)
{
	int64_t first;

	switch (r->type) {
	case REQ_PLUG:
		return plug(m, r, true);
	case REQ_UNPLUG:
		return plug(m, r, false);
	case REQ_UNPLUG_ALL:
		return unplug_all(m);
	case REQ_STATE:
		first = first_block(m, r);
		if (first < 0)
			return RESP_ERROR;
		*state =
			(uint16_t)range_state(m, (uint64_t)first, r->nb_blocks);
		return RESP_ACK;
	default:
		return RESP_ERROR;
	}
}

/* Serves the popped chain: -EINVAL when its buffers are too short for a
 * request and its response, -EFAULT when the used ring is broken. */
static int serve_chain(struct vmem *m)
{
	struct vq_chain *c = &m->chain;
	struct mem_req req;
	uint8_t resp[RESP_SIZE] = { 0 };
	uint16_t type, state = 0;

	if (iov_copy(c->iov, c->nr_out, 0, &req, sizeof(req), false) <
		    sizeof(req) ||
	    c->in_len < RESP_SIZE)
		return -EINVAL;
	type = answer(m, &req, &state);
	if (type != RESP_ACK)
		log_warn("virtio-mem: request %u for %u blocks at 0x%llx: %s",
			 req.type, req.nb_blocks, (unsigned long long)req.addr,
			 type == RESP_NACK ? "beyond the requested size" :
					     "refused");
	memcpy(resp, &type, 2);
	memcpy(resp + 8, &state, 2);
	iov_copy(c->iov + c->nr_out, c->nr_in, 0, resp, RESP_SIZE, true);
	return vq_push(&m->dev.queues[0], c->head, RESP_SIZE);
}

static void mem_queue_notify(struct vdev *d, unsigned q)
{
	struct vmem *m = d->priv;
	int ret;

	while ((ret = vq_pop(&d->queues[q], &d->vm->mem, &m->chain)) > 0) {
		ret = serve_chain(m);
		if (ret) {
			vdev_fail(d, ret == -EINVAL ? "request too short" :
						      "bad used ring");
			return;
		}
	}
	if (ret < 0)
		vdev_fail(d, "bad descriptor chain");
	vdev_notify_used(d, q);
}

static void mem_save(struct vdev *d, uint8_t *own)
{
	const struct vmem *m = d->priv;
	struct mem_state st = { m->usable, m->plugged, m->requested };

	memcpy(own, &st, sizeof(st));
}

/* Untrusted: sizes within the region, in blocks (usable: in slots), the
 * plugged size that of the blocks the memory came back with, every one of
 * them in the usable region. */
static int mem_restore(struct vdev *d, const uint8_t *own)
{
	struct vmem *m = d->priv;
	const struct gmem_hotplug *hp = &d->vm->mem.hp;
	uint64_t blocks = hp->size / hp->block_size, b, plugged = 0;
	struct mem_state st;

	memcpy(&st, own, sizeof(st));
	if (st.usable > hp->size || st.usable % m->slot_size ||
	    st.requested > hp->size || st.requested % hp->block_size)
		return -EINVAL;
	for (b = 0; b < blocks; b++) {
		if (!gmem_hotplug_plugged(&d->vm->mem, b))
			continue;
		if (b * hp->block_size >= st.usable)
			return -EINVAL;
		plugged += hp->block_size;
	}
	if (plugged != st.plugged)
		return -EINVAL;
	m->usable = st.usable;
	m->plugged = st.plugged;
	m->requested = st.requested;
	return sync_kvm_slots(m, 0, nr_slots(m) - 1) ? -EINVAL : 0;
}

static void mem_destroy(struct vdev *d)
{
	struct vmem *m = d->priv;

	vdev_detach(d);
	free(m->in_kvm);
	free(m);
}

static const struct vdev_ops mem_ops = {
	.name = "virtio-mem",
	.device_id = VIRTIO_ID_MEM,
	.num_queues = 1,
	.features = mem_features,
	.config_rw = mem_config_rw,
	.queue_notify = mem_queue_notify,
	.destroy = mem_destroy,
	.save = mem_save,
	.restore = mem_restore,
};

int vmem_create(struct vm *vm, const struct hotplug_cfg *cfg)
{
	struct vmem *m = calloc(1, sizeof(*m));
	int ret;

	if (!m)
		return -ENOMEM;
	vdev_preinit(&m->dev);
	m->dev.priv = m;
	m->slot_size = cfg->slot_size_mib * MIB;
	m->in_kvm = calloc(vm->mem.hp.size / m->slot_size, sizeof(bool));
	ret = m->in_kvm ? vdev_attach(vm, &m->dev, &mem_ops, m, NULL) : -ENOMEM;
	if (ret)
		mem_destroy(&m->dev);
	return ret;
}

void vmem_set_requested(struct vdev *d, unsigned requested_mib)
{
	struct vmem *m = d->priv;

	pthread_mutex_lock(&d->lock);
	m->requested = requested_mib * MIB;
	if (m->usable < m->requested)
		m->usable = (m->requested + m->slot_size - 1) / m->slot_size *
			    m->slot_size;
	if (d->activated)
		vdev_config_changed(d);
	pthread_mutex_unlock(&d->lock);
}

void vmem_status(struct vdev *d, struct vmem_status *out)
{
	const struct vmem *m = d->priv;

	pthread_mutex_lock(&d->lock);
	out->plugged_mib = (unsigned)(m->plugged / MIB);
	out->requested_mib = (unsigned)(m->requested / MIB);
	pthread_mutex_unlock(&d->lock);
}

/* Above guest RAM and the MMIO gap. */
static uint64_t region_gpa(const struct guest_mem *mem, uint64_t block_size)
{
	uint64_t align = block_size > REGION_ALIGN ? block_size : REGION_ALIGN;
	uint64_t end = GMEM_HIGH_START, gpa, size, off;
	unsigned i;

	for (i = 0; i < gmem_regions(mem); i++) {
		gmem_region(mem, i, &gpa, &size, &off);
		if (gpa + size > end)
			end = gpa + size;
	}
	return (end + align - 1) / align * align;
}

static int add_mem(struct vm *vm, const struct vm_config *cfg)
{
	const struct hotplug_cfg *h = &cfg->hotplug;
	uint64_t block = h->block_size_mib * MIB;
	int ret;

	if (!h->set)
		return 0;
	ret = gmem_hotplug_create(&vm->mem, region_gpa(&vm->mem, block),
				  h->total_size_mib * MIB, block);
	if (!ret)
		ret = vmem_create(vm, h);
	if (ret)
		snprintf(
			vm->err, sizeof(vm->err),
			"virtio-mem device (%u MiB of hot-pluggable memory): %s",
			h->total_size_mib, strerror(-ret));
	return ret;
}

const struct vdev_kind vmem_kind = { add_mem };

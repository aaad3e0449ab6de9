// SPDX-License-Identifier: Apache-2.0
/* The virtio-mmio transport, version 2 (virtio 1.x "modern"): the register
 * file a vCPU reads and writes (under the device lock), queue kicks through
 * ioeventfds handled on the VMM thread, interrupts through an irqfd.
 * An x86 guest finds the devices through "virtio_mmio.device=" on the
 * kernel command line, which vdev_attach() writes; an arm64 guest in the
 * device tree. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "virtio/virtio.h"

#define MMIO_MAGIC 0x74726976 /* "virt" */
#define MMIO_VERSION 2
#define MMIO_VENDOR 0x004d564d /* "MVM" */
#define INT_USED 1
#define INT_CONFIG 2

enum {
	R_MAGIC = 0x000,
	R_VERSION = 0x004,
	R_DEVICE_ID = 0x008,
	R_VENDOR_ID = 0x00c,
	R_DEV_FEATURES = 0x010,
	R_DEV_FEATURES_SEL = 0x014,
	R_DRV_FEATURES = 0x020,
	R_DRV_FEATURES_SEL = 0x024,
	R_QUEUE_SEL = 0x030,
	R_QUEUE_NUM_MAX = 0x034,
	R_QUEUE_NUM = 0x038,
	R_QUEUE_READY = 0x044,
	R_QUEUE_NOTIFY = 0x050,
	R_INT_STATUS = 0x060,
	R_INT_ACK = 0x064,
	R_STATUS = 0x070,
	R_QUEUE_DESC_LO = 0x080,
	R_QUEUE_DESC_HI = 0x084,
	R_QUEUE_DRIVER_LO = 0x090,
	R_QUEUE_DRIVER_HI = 0x094,
	R_QUEUE_DEVICE_LO = 0x0a0,
	R_QUEUE_DEVICE_HI = 0x0a4,
	R_CONFIG_GEN = 0x0fc,
	R_CONFIG = 0x100,
};

bool vdev_has_feature(const struct vdev *d, unsigned bit)
{
	return d->driver_features & (1ULL << bit);
}

static unsigned nr_queues(const struct vdev *d)
{
	return d->ops->queues ? d->ops->queues(d) : d->ops->num_queues;
}

static struct vq *selected_queue(struct vdev *d)
{
	return d->queue_sel < nr_queues(d) ? &d->queues[d->queue_sel] : NULL;
}

static void raise_irq(struct vdev *d, uint32_t why)
{
	uint64_t one = 1;

	d->interrupt_status |= why;
	if (write(d->irq_fd, &one, sizeof(one)) < 0)
		log_warn("%s: irqfd: %s", d->ops->name, strerror(errno));
}

void vdev_fail(struct vdev *d, const char *why)
{
	log_warn("%s: the guest broke a queue (%s): device needs reset",
		 d->ops->name, why);
	d->status |= VIRTIO_STATUS_NEEDS_RESET;
	raise_irq(d, INT_CONFIG);
}

void vdev_config_changed(struct vdev *d)
{
	d->config_generation++;
	raise_irq(d, INT_CONFIG);
}

bool vdev_live(const struct vdev *d)
{
	return d->activated && !(d->status & VIRTIO_STATUS_NEEDS_RESET);
}

void vdev_notify_used(struct vdev *d, unsigned q)
{
	if (d->activated && vq_needs_interrupt(&d->queues[q]))
		raise_irq(d, INT_USED);
}

static uint32_t read_reg(struct vdev *d, uint64_t off)
{
	struct vq *q = selected_queue(d);
	uint64_t features;

	switch (off) {
	case R_MAGIC:
		return MMIO_MAGIC;
	case R_VERSION:
		return MMIO_VERSION;
	case R_DEVICE_ID:
		return d->ops->device_id;
	case R_VENDOR_ID:
		return MMIO_VENDOR;
	case R_DEV_FEATURES:
		features = d->ops->features(d) | (1ULL << VIRTIO_F_VERSION_1);
		return d->features_sel < 2 ?
			       (uint32_t)(features >> (32 * d->features_sel)) :
			       0;
	case R_QUEUE_NUM_MAX:
		return q ? VQ_MAX_SIZE : 0;
	case R_QUEUE_READY:
		return q ? q->ready : 0;
	case R_INT_STATUS:
		return d->interrupt_status;
	case R_STATUS:
		return d->status;
	case R_CONFIG_GEN:
		return d->config_generation;
	default:
		return 0;
	}
}

static void reset_device(struct vdev *d)
{
	unsigned i;

	if (d->activated && d->ops->reset)
		d->ops->reset(d);
	for (i = 0; i < VDEV_MAX_QUEUES; i++)
		vq_reset(&d->queues[i]);
	d->status = d->interrupt_status = 0;
	d->driver_features = 0;
	d->features_sel = d->driver_features_sel = d->queue_sel = 0;
	d->activated = false;
}

/* Buffers a driver made available before DRIVER_OK (Linux's balloon
 * kicks its statistics queue before it, against the spec) were dropped by
 * on_kick while the device was not live: each queue is kicked once more
 * at activation, served on the VMM thread. */
static void kick_all(struct vdev *d)
{
	uint64_t one = 1;
	unsigned i;

	for (i = 0; i < nr_queues(d); i++)
		if (write(d->kick_fd[i], &one, sizeof(one)) < 0)
			log_warn("%s: kick: %s", d->ops->name, strerror(errno));
}

/* Every queue of the device must be ready: a queue that is not is never
 * mapped, and device code may then touch none of them. */
static int activate(struct vdev *d)
{
	unsigned i;
	int ret;

	for (i = 0; i < nr_queues(d); i++) {
		struct vq *q = &d->queues[i];

		if (!q->ready)
			return -EINVAL;
		q->event_idx = vdev_has_feature(d, VIRTIO_RING_F_EVENT_IDX);
		q->indirect = vdev_has_feature(d, VIRTIO_RING_F_INDIRECT_DESC);
		ret = vq_activate(q, &d->vm->mem);
		if (ret)
			return ret;
	}
	ret = d->ops->activate ? d->ops->activate(d) : 0;
	d->activated = !ret;
	if (d->activated)
		kick_all(d);
	return ret;
}

static void write_status(struct vdev *d, uint32_t v)
{
	uint64_t offered = d->ops->features(d) | (1ULL << VIRTIO_F_VERSION_1);

	if (v == 0) {
		reset_device(d);
		return;
	}
	if ((v & VIRTIO_STATUS_FEATURES_OK) &&
	    ((d->driver_features & ~offered) ||
	     !vdev_has_feature(d, VIRTIO_F_VERSION_1)))
		v &= ~(uint32_t)VIRTIO_STATUS_FEATURES_OK; /* refuse */
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !d->activated &&
	    (v & VIRTIO_STATUS_FEATURES_OK) && activate(d)) {
		vdev_fail(d,
			  "a queue not ready or badly laid out at DRIVER_OK");
		return;
	}
	d->status = v | (d->status & VIRTIO_STATUS_NEEDS_RESET);
}

static void set_addr_half(uint64_t *addr, uint32_t v, bool high)
{
	*addr = high ? (*addr & 0xffffffffULL) | ((uint64_t)v << 32) :
		       (*addr & ~0xffffffffULL) | v;
}

/* Queue registers: only while the queue is not live. */
static void write_queue_reg(struct vdev *d, uint64_t off, uint32_t v)
{
	struct vq *q = selected_queue(d);

	if (!q || d->activated)
		return;
	switch (off) {
	case R_QUEUE_NUM:
		q->size = (uint16_t)(v <= VQ_MAX_SIZE ? v : 0);
		break;
	case R_QUEUE_READY:
		q->ready = v & 1;
		break;
	case R_QUEUE_DESC_LO:
	case R_QUEUE_DESC_HI:
		set_addr_half(&q->desc_gpa, v, off == R_QUEUE_DESC_HI);
		break;
	case R_QUEUE_DRIVER_LO:
	case R_QUEUE_DRIVER_HI:
		set_addr_half(&q->avail_gpa, v, off == R_QUEUE_DRIVER_HI);
		break;
	default:
		set_addr_half(&q->used_gpa, v, off == R_QUEUE_DEVICE_HI);
		break;
	}
}

static void write_reg(struct vdev *d, uint64_t off, uint32_t v)
{
	uint64_t one = 1;

	switch (off) {
	case R_DEV_FEATURES_SEL:
		d->features_sel = v;
		break;
	case R_DRV_FEATURES_SEL:
		d->driver_features_sel = v;
		break;
	case R_DRV_FEATURES:
		if (d->driver_features_sel < 2 &&
		    !(d->status & VIRTIO_STATUS_FEATURES_OK))
			set_addr_half(&d->driver_features, v,
				      d->driver_features_sel == 1);
		break;
	case R_QUEUE_SEL:
		d->queue_sel = v;
		break;
	case R_QUEUE_NOTIFY: /* normally caught by the ioeventfd */
		if (v < d->ops->num_queues &&
		    write(d->kick_fd[v], &one, sizeof(one)) < 0)
			log_warn("%s: kick: %s", d->ops->name, strerror(errno));
		break;
	case R_INT_ACK:
		d->interrupt_status &= ~v;
		break;
	case R_STATUS:
		write_status(d, v);
		break;
	default:
		write_queue_reg(d, off, v);
		break;
	}
}

void vdev_mmio_access(void *dev, uint64_t off, uint8_t *data, uint32_t len,
		      bool is_write)
{
	struct vdev *d = dev;
	uint32_t v = 0;

	pthread_mutex_lock(&d->lock);
	if (off >= R_CONFIG) {
		d->ops->config_rw(d, (uint32_t)(off - R_CONFIG), data, len,
				  is_write);
	} else if (len != 4 || (off & 3)) {
		if (!is_write)
			memset(data, 0, len); /* registers are 32-bit only */
	} else if (is_write) {
		memcpy(&v, data, 4);
		write_reg(d, off, v);
	} else {
		v = read_reg(d, off);
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&d->lock);
}

/* A queue kick on the VMM thread: runs the device's queue handler. */
static void on_kick(void *opaque, uint32_t events)
{
	struct vdev_kick *k = opaque;
	struct vdev *d = k->d;
	uint64_t n;

	if (read(d->kick_fd[k->q], &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&d->lock);
	if (vdev_live(d) && k->q < nr_queues(d))
		d->ops->queue_notify(d, k->q);
	pthread_mutex_unlock(&d->lock);
}

static int attach_kick(struct vm *vm, struct vdev *d, uint64_t base, unsigned q)
{
	struct kvm_ioeventfd io = { .datamatch = q,
				    .addr = base + R_QUEUE_NOTIFY,
				    .len = 4,
				    .flags = KVM_IOEVENTFD_FLAG_DATAMATCH };

	d->kick_fd[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->kick_fd[q] < 0)
		return -errno;
	io.fd = d->kick_fd[q];
	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0)
		return -errno;
	d->kicks[q] = (struct vdev_kick){ d, q };
	return evl_add(vm->loop, d->kick_fd[q], on_kick, &d->kicks[q]);
}

void vdev_preinit(struct vdev *d)
{
	unsigned q;

	d->vm = NULL;
	d->irq_fd = -1;
	for (q = 0; q < VDEV_MAX_QUEUES; q++)
		d->kick_fd[q] = -1;
}

uint64_t vdev_mmio_base(unsigned index)
{
	return VIRTIO_MMIO_BASE + (uint64_t)index * VIRTIO_MMIO_SIZE;
}

unsigned vdev_irq(unsigned index)
{
	return VIRTIO_MMIO_IRQ_BASE + index;
}

/* x86's guest finds the device on its command line. */
static void name_on_cmdline(struct vm *vm, uint64_t base, unsigned irq)
{
	size_t used = strlen(vm->cmdline_extra);

	snprintf(vm->cmdline_extra + used, sizeof(vm->cmdline_extra) - used,
		 "%svirtio_mmio.device=4K@0x%llx:%u", used ? " " : "",
		 (unsigned long long)base, irq);
}

int vdev_attach(struct vm *vm, struct vdev *d, const struct vdev_ops *ops,
		void *priv, const char *id)
{
	uint64_t base = vdev_mmio_base(vm->nr_vdevs);
	unsigned irq = vdev_irq(vm->nr_vdevs), q;
	struct kvm_irqfd irqfd = { .gsi = irq };
	int ret;

	if (vm->nr_vdevs == VIRTIO_MAX_DEVICES)
		return -ENOSPC;
	if (ops->num_queues > VDEV_MAX_QUEUES)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	d->ops = ops;
	d->priv = priv;
	d->id = id;
	d->vm = vm;
	d->index = vm->nr_vdevs;
	for (q = 0; q < VDEV_MAX_QUEUES; q++)
		d->kick_fd[q] = -1;
	d->irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->irq_fd < 0)
		return -errno;
	irqfd.fd = (uint32_t)d->irq_fd;
	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
		return -errno;
	for (q = 0, ret = 0; q < ops->num_queues && !ret; q++)
		ret = attach_kick(vm, d, base, q);
	if (!ret)
		ret = bus_add(&vm->mmio, base, VIRTIO_MMIO_SIZE,
			      vdev_mmio_access, d);
	if (ret)
		return ret;
	if (VIRTIO_MMIO_ON_CMDLINE)
		name_on_cmdline(vm, base, irq);
	vm->vdevs[vm->nr_vdevs++] = d;
	return 0;
}

void vdev_detach(struct vdev *d)
{
	unsigned q;

	for (q = 0; q < VDEV_MAX_QUEUES; q++) {
		if (d->kick_fd[q] < 0)
			continue;
		if (d->vm)
			evl_remove(d->vm->loop, d->kick_fd[q]);
		close(d->kick_fd[q]);
		d->kick_fd[q] = -1;
	}
	if (d->irq_fd >= 0)
		close(d->irq_fd);
	d->irq_fd = -1;
}

struct vdev *vdev_find(const struct vm *vm, uint32_t device_id, const char *id)
{
	unsigned i;

	for (i = 0; i < vm->nr_vdevs; i++) {
		struct vdev *d = vm->vdevs[i];

		if (d->ops->device_id == device_id &&
		    (!id || (d->id && !strcmp(d->id, id))))
			return d;
	}
	return NULL;
}

void vdev_destroy_all(struct vm *vm)
{
	unsigned i;

	for (i = 0; i < vm->nr_vdevs; i++)
		vm->vdevs[i]->ops->destroy(vm->vdevs[i]);
	vm->nr_vdevs = 0;
}

/* The used rings are the device's writes into guest RAM that no chain
 * marked (queue.c marks the buffers): diff snapshots and rewinds need
 * them. Caller holds the device lock. */
static void mark_used_rings(struct vdev *d)
{
	unsigned i;

	for (i = 0; d->activated && i < d->ops->num_queues; i++)
		if (d->queues[i].ready && d->queues[i].used)
			gmem_mark_dirty(&d->vm->mem, d->queues[i].used,
					6 + 8u * d->queues[i].size);
}

void vdev_save(struct vdev *d, struct vdev_state *out)
{
	unsigned i;

	pthread_mutex_lock(&d->lock);
	if (d->activated && d->ops->quiesce)
		d->ops->quiesce(d);
	*out = (struct vdev_state){
		.index = d->index,
		.device_id = d->ops->device_id,
		.status = d->status,
		.features_sel = d->features_sel,
		.driver_features_sel = d->driver_features_sel,
		.queue_sel = d->queue_sel,
		.config_generation = d->config_generation,
		.interrupt_status = d->interrupt_status,
		.activated = d->activated,
		.nr_queues = d->ops->num_queues,
		.driver_features = d->driver_features,
	};
	for (i = 0; i < d->ops->num_queues; i++) {
		const struct vq *q = &d->queues[i];

		struct vq_state *st = &out->queues[i];

		st->desc_gpa = q->desc_gpa;
		st->avail_gpa = q->avail_gpa;
		st->used_gpa = q->used_gpa;
		st->size = q->size;
		st->last_avail = q->last_avail;
		st->used_idx = q->used_idx;
		st->signalled_used = q->signalled_used;
		st->ready = q->ready;
		st->event_idx = q->event_idx;
		st->indirect = q->indirect;
	}
	mark_used_rings(d);
	if (d->ops->save)
		d->ops->save(d, out->own);
	pthread_mutex_unlock(&d->lock);
}

static int restore_queue(struct vdev *d, unsigned i, const struct vq_state *s)
{
	struct vq *q = &d->queues[i];

	q->desc_gpa = s->desc_gpa;
	q->avail_gpa = s->avail_gpa;
	q->used_gpa = s->used_gpa;
	q->size = s->size;
	q->last_avail = s->last_avail;
	q->used_idx = s->used_idx;
	q->signalled_used = s->signalled_used;
	q->ready = s->ready;
	q->event_idx = s->event_idx;
	q->indirect = s->indirect;
	if (!d->activated || i >= nr_queues(d))
		return 0;
	return q->ready ? vq_map(q, &d->vm->mem) : -EINVAL; /* as activate() */
}

int vdev_restore(struct vdev *d, const struct vdev_state *in)
{
	unsigned i;
	int ret = 0;

	if (in->device_id != d->ops->device_id ||
	    in->nr_queues != d->ops->num_queues)
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	mark_used_rings(d); /* a rewind: what the device wrote is dropped */
	reset_device(d);
	d->status = in->status;
	d->features_sel = in->features_sel;
	d->driver_features_sel = in->driver_features_sel;
	d->queue_sel = in->queue_sel;
	d->config_generation = in->config_generation;
	d->interrupt_status = in->interrupt_status;
	d->driver_features = in->driver_features;
	d->activated = in->activated;
	for (i = 0; i < d->ops->num_queues && !ret; i++)
		ret = restore_queue(d, i, &in->queues[i]);
	if (!ret && d->ops->restore)
		ret = d->ops->restore(d, in->own);
	if (!ret && d->activated && d->ops->activate)
		ret = d->ops->activate(d);
	if (!ret)
		mark_used_rings(d);
	if (ret) {
		reset_device(d);
		pthread_mutex_unlock(&d->lock);
		return -EINVAL;
	}
	pthread_mutex_unlock(&d->lock);
	return 0;
}

void vdev_serve_restored(struct vdev *d)
{
	uint64_t one = 1;
	unsigned i;

	pthread_mutex_lock(&d->lock);
	for (i = 0; vdev_live(d) && i < nr_queues(d); i++)
		d->ops->queue_notify(d, i);
	if (d->interrupt_status && write(d->irq_fd, &one, sizeof(one)) < 0)
		log_warn("%s: cannot raise the restored interrupt",
			 d->ops->name);
	pthread_mutex_unlock(&d->lock);
	if (d->ops->restored)
		d->ops->restored(d);
}

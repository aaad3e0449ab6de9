// SPDX-License-Identifier: Apache-2.0
/* virtio-vsock: three queues (rx, tx, event) and a 64-bit guest CID in
 * config space. Packets go to and come from the Unix-socket muxer
 * (vsock_mux.c); this file only moves them between the queues and the
 * muxer, on the VMM thread, under the device lock. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtio.h"

#define RXQ 0
#define TXQ 1
#define EVQ 2
#define EVENT_TRANSPORT_RESET 0

struct vvsock {
	struct vdev dev;
	struct event_loop *loop;
	uint64_t guest_cid;
	struct vsock_mux *mux;
	struct vq_chain chain;
	/* TRANSPORT_RESET sent, not yet handled: the guest would reset any
	 * connection made before it gets to the event, so nothing goes to it
	 * until it gives the event buffer back (and kicks: we ask for it). */
	bool reset_pending;
};

static uint64_t vsock_features(struct vdev *d)
{
	return (1ULL << VIRTIO_RING_F_EVENT_IDX) |
	       (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
}

static void vsock_config_rw(struct vdev *d, uint32_t off, uint8_t *buf,
			    uint32_t len, bool write)
{
	struct vvsock *v = d->priv;
	uint8_t cfg[8];

	if (write)
		return;
	memcpy(cfg, &v->guest_cid, sizeof(cfg));
	memset(buf, 0, len);
	if (off < sizeof(cfg))
		memcpy(buf, cfg + off,
		       len < sizeof(cfg) - off ? len : sizeof(cfg) - off);
}

/* Packets waiting in the muxer go into the guest's rx buffers. */
static void rx_process(struct vvsock *v)
{
	struct vq *q = &v->dev.queues[RXQ];
	struct vq_chain *c = &v->chain;
	int ret = 0;

	if (v->reset_pending)
		return;
	while (vsock_mux_has_rx(v->mux) &&
	       (ret = vq_pop(q, &v->dev.vm->mem, c)) > 0) {
		size_t len;

		if (c->in_len < VSOCK_HDR_LEN) {
			vdev_fail(&v->dev, "rx buffer smaller than a header");
			return;
		}
		len = vsock_mux_to_guest(v->mux, c->iov + c->nr_out, c->nr_in);
		if (!len) {
			vq_unpop(q, 1);
			break;
		}
		if (vq_push(q, c->head, (uint32_t)len)) {
			vdev_fail(&v->dev, "bad rx used ring");
			return;
		}
	}
	if (ret < 0)
		vdev_fail(&v->dev, "bad rx descriptor chain");
	vdev_notify_used(&v->dev, RXQ);
}

/* Guest packets go to the muxer; a chain too short for a header is
 * returned unread. */
static void tx_process(struct vvsock *v)
{
	struct vq *q = &v->dev.queues[TXQ];
	struct vq_chain *c = &v->chain;
	int ret;

	while ((ret = vq_pop(q, &v->dev.vm->mem, c)) > 0) {
		size_t out = 0;
		struct vsock_hdr h;
		unsigned i;

		for (i = 0; i < c->nr_out; i++)
			out += c->iov[i].iov_len;
		if (iov_copy(c->iov, c->nr_out, 0, &h, sizeof(h), false) ==
		    sizeof(h)) {
			struct iovec body[VQ_MAX_SIZE];
			unsigned n = iov_slice(c->iov, c->nr_out, sizeof(h),
					       out - sizeof(h), body);

			vsock_mux_from_guest(v->mux, &h, body, n,
					     out - sizeof(h));
		}
		if (vq_push(q, c->head, 0)) {
			vdev_fail(&v->dev, "bad tx used ring");
			return;
		}
	}
	if (ret < 0)
		vdev_fail(&v->dev, "bad tx descriptor chain");
	vdev_notify_used(&v->dev, TXQ);
}

static void vsock_queue_notify(struct vdev *d, unsigned q)
{
	struct vvsock *v = d->priv;

	if (q == TXQ)
		tx_process(v);
	if (q == EVQ) /* the guest handled an event, gave its buffer back */
		v->reset_pending = false;
	rx_process(v);
}

/* Device reset (vCPU thread): the guest's connections are gone. */
static void vsock_reset(struct vdev *d)
{
	struct vvsock *v = d->priv;

	vsock_mux_reset(v->mux);
	v->reset_pending = false;
}

/* A host socket is ready (VMM thread). */
static void on_mux_event(void *opaque, uint32_t events)
{
	struct vvsock *v = opaque;

	pthread_mutex_lock(&v->dev.lock);
	vsock_mux_poll(v->mux);
	if (vdev_live(&v->dev))
		rx_process(v);
	pthread_mutex_unlock(&v->dev.lock);
}

void vvsock_transport_reset(struct vdev *d)
{
	struct vvsock *v = d->priv;
	uint32_t event = EVENT_TRANSPORT_RESET;
	struct vq_chain *c = &v->chain;

	pthread_mutex_lock(&v->dev.lock);
	vsock_mux_reset(v->mux);
	if (vdev_live(&v->dev) &&
	    vq_pop(&v->dev.queues[EVQ], &v->dev.vm->mem, c) > 0) {
		size_t n = iov_copy(c->iov + c->nr_out, c->nr_in, 0, &event,
				    sizeof(event), true);

		if (vq_push(&v->dev.queues[EVQ], c->head, (uint32_t)n)) {
			vdev_fail(&v->dev, "bad event used ring");
		} else {
			v->reset_pending = true;
			vq_kick_on_next_avail(&v->dev.queues[EVQ]);
			vdev_notify_used(&v->dev, EVQ);
		}
	} else {
		log_warn("virtio-vsock: no event buffer for TRANSPORT_RESET");
	}
	pthread_mutex_unlock(&v->dev.lock);
}

static void vsock_destroy(struct vdev *d)
{
	struct vvsock *v = d->priv;

	vdev_detach(&v->dev);
	if (v->mux)
		evl_remove(v->loop, vsock_mux_fd(v->mux));
	vsock_mux_destroy(v->mux);
	free(v);
}

static const struct vdev_ops vsock_ops = {
	.name = "virtio-vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.num_queues = 3,
	.features = vsock_features,
	.config_rw = vsock_config_rw,
	.queue_notify = vsock_queue_notify,
	.reset = vsock_reset,
	.destroy = vsock_destroy,
	.restored = vvsock_transport_reset,
};

int vvsock_create(struct vm *vm, const struct vsock_cfg *cfg)
{
	struct vvsock *v = calloc(1, sizeof(*v));
	int ret;

	if (!v)
		return -ENOMEM;
	v->loop = vm->loop;
	v->guest_cid = cfg->guest_cid;
	vdev_preinit(&v->dev);
	v->dev.priv = v;
	ret = vsock_mux_create(cfg->guest_cid, cfg->uds_path, &v->mux);
	if (!ret)
		ret = evl_add(vm->loop, vsock_mux_fd(v->mux), on_mux_event, v);
	if (!ret)
		ret = vdev_attach(vm, &v->dev, &vsock_ops, v, NULL);
	if (ret)
		vsock_destroy(&v->dev);
	return ret;
}

static int add_vsock(struct vm *vm, const struct vm_config *cfg)
{
	int ret = cfg->vsock.set ? vvsock_create(vm, &cfg->vsock) : 0;

	if (ret)
		snprintf(vm->err, sizeof(vm->err),
			 "vsock device (uds_path %s): %s", cfg->vsock.uds_path,
			 strerror(-ret));
	return ret;
}

const struct vdev_kind vvsock_kind = { add_vsock };

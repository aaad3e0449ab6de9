// SPDX-License-Identifier: Apache-2.0
/* virtio-rng (/entropy): one request queue whose device-writable buffers
 * are filled from getrandom() on the VMM thread, under the entropy rate
 * limiter (bytes and ops). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "virtio/virtio.h"

struct vrng {
	struct vdev dev;
	struct rate_limiter rl;
	struct vq_chain chain;
};

static uint64_t rng_features(struct vdev *d)
{
	return (1ULL << VIRTIO_RING_F_EVENT_IDX) |
	       (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
}

static void rng_config_rw(struct vdev *d, uint32_t off, uint8_t *buf,
			  uint32_t len, bool write)
{
	if (!write)
		memset(buf, 0, len); /* virtio-rng has no config space */
}

/* Fills the chain's writable buffers; returns the bytes written. */
static uint32_t fill_random(struct vq_chain *c)
{
	uint32_t total = 0;
	unsigned i;

	for (i = c->nr_out; i < c->nr_out + c->nr_in; i++) {
		ssize_t n = getrandom(c->iov[i].iov_base, c->iov[i].iov_len, 0);

		if (n < 0)
			break;
		total += (uint32_t)n;
		if ((size_t)n < c->iov[i].iov_len)
			break;
	}
	return total;
}

static void rng_process(struct vdev *d)
{
	struct vrng *r = d->priv;
	struct vq *q = &d->queues[0];
	int ret = 0;

	while (rl_admit(&r->rl) &&
	       (ret = vq_pop(q, &d->vm->mem, &r->chain)) > 0) {
		rl_consume(&r->rl, r->chain.in_len);
		if (vq_push(q, r->chain.head, fill_random(&r->chain))) {
			vdev_fail(d, "bad used ring");
			return;
		}
	}
	if (ret < 0)
		vdev_fail(d, "bad descriptor chain");
	vdev_notify_used(d, 0);
}

static void rng_queue_notify(struct vdev *d, unsigned q)
{
	rng_process(d);
}

static void rng_save(struct vdev *d, uint8_t *own)
{
	rl_save(&((struct vrng *)d->priv)->rl, own);
}

static int rng_restore(struct vdev *d, const uint8_t *own)
{
	rl_restore(&((struct vrng *)d->priv)->rl, own);
	return 0;
}

static void rng_destroy(struct vdev *d)
{
	struct vrng *r = d->priv;

	vdev_detach(&r->dev);
	rl_destroy(&r->rl);
	free(r);
}

static const struct vdev_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.num_queues = 1,
	.features = rng_features,
	.config_rw = rng_config_rw,
	.queue_notify = rng_queue_notify,
	.destroy = rng_destroy,
	.save = rng_save,
	.restore = rng_restore,
};

int vrng_create(struct vm *vm, const struct entropy_cfg *cfg)
{
	struct vrng *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	vdev_preinit(&r->dev);
	r->dev.priv = r;
	ret = rl_init(&r->rl, &cfg->rl);
	if (!ret)
		ret = rl_watch(&r->rl, vm->loop, &r->dev, rng_process);
	if (!ret)
		ret = vdev_attach(vm, &r->dev, &rng_ops, r, NULL);
	if (ret)
		rng_destroy(&r->dev);
	return ret;
}

static int add_entropy(struct vm *vm, const struct vm_config *cfg)
{
	int ret = cfg->entropy.set ? vrng_create(vm, &cfg->entropy) : 0;

	if (ret)
		snprintf(vm->err, sizeof(vm->err), "entropy device: %s",
			 strerror(-ret));
	return ret;
}

const struct vdev_kind vrng_kind = { add_entropy };

// SPDX-License-Identifier: Apache-2.0
/* virtio-rng (/entropy): one request queue whose device-writable buffers
 * are filled from getrandom() on the VMM thread, under the entropy rate
 * limiter (bytes and ops). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "virtio/virtio.h"

#define VIRTIO_ID_RNG 4

struct vrng {
	struct vdev dev;
	struct event_loop *loop;
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

static const struct vdev_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.num_queues = 1,
	.features = rng_features,
	.config_rw = rng_config_rw,
	.queue_notify = rng_queue_notify,
};

static void on_rl_timer(void *opaque, uint32_t events)
{
	struct vrng *r = opaque;

	pthread_mutex_lock(&r->dev.lock);
	rl_timer_fired(&r->rl);
	if (vdev_live(&r->dev))
		rng_process(&r->dev);
	pthread_mutex_unlock(&r->dev.lock);
}

int vrng_create(struct vm *vm, const struct entropy_cfg *cfg, struct vrng **out,
		char *cmdline_extra, size_t extra_size)
{
	struct vrng *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	*out = r;
	r->loop = vm->loop;
	vdev_preinit(&r->dev);
	ret = rl_init(&r->rl, &cfg->rl);
	if (!ret && r->rl.timer_fd >= 0)
		ret = evl_add(vm->loop, r->rl.timer_fd, on_rl_timer, r);
	if (!ret)
		ret = vdev_attach(vm, &r->dev, &rng_ops, r, cmdline_extra,
				  extra_size);
	return ret;
}

void vrng_destroy(struct vrng *r)
{
	if (!r)
		return;
	vdev_detach(&r->dev);
	if (r->rl.timer_fd >= 0)
		evl_remove(r->loop, r->rl.timer_fd);
	rl_destroy(&r->rl);
	free(r);
}

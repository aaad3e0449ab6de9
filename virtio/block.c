// SPDX-License-Identifier: Apache-2.0
/* virtio-blk: one request queue served on the VMM thread with preadv/
 * pwritev on the drive's file (io_engine "Sync"). Read-only drives refuse
 * writes with VIRTIO_BLK_S_IOERR and never open the file for writing;
 * FLUSH fsyncs with cache_type Writeback; GET_ID answers the drive id. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "virtio/virtio.h"

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_ID_BYTES 20
#define SECTOR 512
#define SEG_MAX (VQ_MAX_SIZE - 2)

struct blk_config { /* the first fields of virtio_blk_config */
	uint64_t capacity;
	uint32_t size_max, seg_max;
} __attribute__((packed));

struct vblk {
	struct vdev dev;
	int fd;
	uint64_t size; /* bytes; capacity is size / 512 */
	bool read_only, writeback;
	char id[VIRTIO_BLK_ID_BYTES + 1];
	struct vq_chain chain;
	struct iovec data[VQ_MAX_SIZE];
};

static uint64_t blk_features(struct vdev *d)
{
	struct vblk *b = d->priv;

	return (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_FLUSH) |
	       (b->read_only ? 1ULL << VIRTIO_BLK_F_RO : 0) |
	       (1ULL << VIRTIO_RING_F_EVENT_IDX) |
	       (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
}

static void blk_config_rw(struct vdev *d, uint32_t off, uint8_t *buf,
			  uint32_t len, bool write)
{
	struct vblk *b = d->priv;
	struct blk_config c = { .capacity = b->size / SECTOR,
				.seg_max = SEG_MAX };

	if (write)
		return; /* nothing in it is writable */
	memset(buf, 0, len);
	if (off < sizeof(c))
		memcpy(buf, (uint8_t *)&c + off,
		       len < sizeof(c) - off ? len : sizeof(c) - off);
}

/* Splits a chain into header, data buffers and the status byte. Returns
 * the number of data buffers or -1 for a malformed request. */
static int split_request(struct vblk *b, uint32_t *type, uint64_t *sector,
			 uint8_t **status)
{
	struct vq_chain *c = &b->chain;
	struct iovec *last;
	unsigned i, n = 0;

	if (c->nr_out < 1 || c->nr_in < 1 || c->iov[0].iov_len != 16)
		return -1;
	memcpy(type, c->iov[0].iov_base, 4);
	memcpy(sector, (uint8_t *)c->iov[0].iov_base + 8, 8);
	for (i = 1; i < c->nr_out + c->nr_in; i++)
		b->data[n++] = c->iov[i];
	last = &b->data[n - 1];
	*status = (uint8_t *)last->iov_base + last->iov_len - 1;
	if (--last->iov_len == 0)
		n--;
	return (int)n;
}

static uint64_t iov_bytes(const struct iovec *iov, int n)
{
	uint64_t total = 0;
	int i;

	for (i = 0; i < n; i++)
		total += iov[i].iov_len;
	return total;
}

/* Reads or writes the data buffers at sector; the guest may ask for any
 * range, so it is checked against the drive's size. */
static uint8_t blk_rw(struct vblk *b, uint32_t type, uint64_t sector, int n,
		      uint32_t *written)
{
	uint64_t len = iov_bytes(b->data, n);
	ssize_t done;

	if (sector > b->size / SECTOR || len > b->size - sector * SECTOR)
		return VIRTIO_BLK_S_IOERR;
	if (type == VIRTIO_BLK_T_OUT && b->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (type == VIRTIO_BLK_T_IN)
		done = preadv(b->fd, b->data, n, (off_t)(sector * SECTOR));
	else
		done = pwritev(b->fd, b->data, n, (off_t)(sector * SECTOR));
	if (done < 0 || (uint64_t)done != len)
		return VIRTIO_BLK_S_IOERR;
	if (type == VIRTIO_BLK_T_IN)
		*written = (uint32_t)len;
	return VIRTIO_BLK_S_OK;
}

static uint8_t blk_get_id(struct vblk *b, int n, uint32_t *written)
{
	size_t len = strlen(b->id);

	if (n < 1 || b->data[0].iov_len < VIRTIO_BLK_ID_BYTES)
		return VIRTIO_BLK_S_IOERR;
	memset(b->data[0].iov_base, 0, VIRTIO_BLK_ID_BYTES);
	memcpy(b->data[0].iov_base, b->id, len);
	*written = VIRTIO_BLK_ID_BYTES;
	return VIRTIO_BLK_S_OK;
}

static uint8_t blk_execute(struct vblk *b, uint32_t type, uint64_t sector,
			   int n, uint32_t *written)
{
	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		return blk_rw(b, type, sector, n, written);
	case VIRTIO_BLK_T_FLUSH:
		if (b->writeback && fdatasync(b->fd) < 0)
			return VIRTIO_BLK_S_IOERR;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		return blk_get_id(b, n, written);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

static void blk_queue_notify(struct vdev *d, unsigned qi)
{
	struct vblk *b = d->priv;
	struct vq *q = &d->queues[qi];
	int ret;

	while ((ret = vq_pop(q, &d->vm->mem, &b->chain)) > 0) {
		uint32_t type, written = 0;
		uint64_t sector;
		uint8_t *status;
		int n = split_request(b, &type, &sector, &status);

		if (n < 0) {
			vdev_fail(d, "malformed block request");
			return;
		}
		*status = blk_execute(b, type, sector, n, &written);
		if (vq_push(q, b->chain.head, written + 1)) {
			vdev_fail(d, "bad used ring");
			return;
		}
	}
	if (ret < 0)
		vdev_fail(d, "bad descriptor chain");
	else
		vdev_notify_used(d, qi);
}

static const struct vdev_ops blk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.num_queues = 1,
	.features = blk_features,
	.config_rw = blk_config_rw,
	.queue_notify = blk_queue_notify,
};

static int open_drive(struct vblk *b, const struct drive_cfg *cfg)
{
	struct stat st;

	b->fd = open(cfg->path,
		     (cfg->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd < 0)
		return -errno;
	if (fstat(b->fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return -EINVAL;
	b->size = (uint64_t)st.st_size & ~(uint64_t)(SECTOR - 1);
	return 0;
}

int vblk_create(struct vm *vm, const struct drive_cfg *cfg, struct vblk **out,
		char *cmdline_extra, size_t extra_size)
{
	struct vblk *b = calloc(1, sizeof(*b));
	int ret;

	if (!b)
		return -ENOMEM;
	b->fd = -1;
	b->dev.irq_fd = -1;
	for (unsigned q = 0; q < VDEV_MAX_QUEUES; q++)
		b->dev.kick_fd[q] = -1;
	b->read_only = cfg->read_only;
	b->writeback = cfg->cache == CACHE_WRITEBACK;
	memcpy(b->id, cfg->id, strnlen(cfg->id, VIRTIO_BLK_ID_BYTES));
	*out = b;
	ret = open_drive(b, cfg);
	if (ret)
		return ret;
	return vdev_attach(vm, &b->dev, &blk_ops, b, cmdline_extra, extra_size);
}

void vblk_destroy(struct vblk *b)
{
	if (!b)
		return;
	vdev_detach(&b->dev);
	if (b->fd >= 0)
		close(b->fd);
	free(b);
}

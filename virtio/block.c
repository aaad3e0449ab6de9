// SPDX-License-Identifier: Apache-2.0
/* virtio-blk: one request queue served on the VMM thread. io_engine "Sync"
 * runs preadv/pwritev at once; "Async" queues reads, writes and flushes on
 * an io_uring, submits them in one batch per kick, and completes them when
 * the ring's eventfd fires on the VMM loop. Read-only drives refuse writes
 * with VIRTIO_BLK_S_IOERR and are never opened for writing; FLUSH
 * fdatasyncs with cache_type Writeback; GET_ID answers the drive id. */
#include <errno.h>
#include <liburing.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "virtio/virtio.h"

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
#define RING_DEPTH 128
/* Longest read or write: what one preadv/pwritev can move (Linux's
 * MAX_RW_COUNT); its used length, status byte included, fits 32 bits. */
#define REQ_MAX_BYTES (INT32_MAX & ~4095u)

/* A request in flight on the io_uring; indexed by its chain head. */
struct blk_req {
	bool in_use;
	uint8_t *status;
	uint32_t written; /* bytes the device wrote on success */
	int64_t expect; /* the result that means success */
	struct iovec *iov;
};

struct blk_config { /* the first fields of virtio_blk_config */
	uint64_t capacity;
	uint32_t size_max, seg_max;
} __attribute__((packed));

struct vblk {
	struct vdev dev;
	int fd;
	uint64_t size; /* bytes; capacity is size / 512 */
	bool read_only, writeback;
	char drive_id[CONFIG_ID_MAX]; /* the API's (PATCH) */
	char id[VIRTIO_BLK_ID_BYTES + 1]; /* what GET_ID answers */
	struct vq_chain chain;
	struct iovec data[VQ_MAX_SIZE];
	bool async;
	struct event_loop *loop; /* where ring_efd is watched */
	struct io_uring ring;
	int ring_efd; /* completions: watched by the VMM loop */
	unsigned inflight;
	struct blk_req reqs[VQ_MAX_SIZE];
	struct rate_limiter rl;
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

/* Whether a guest's read or write of len bytes at sector may run: inside
 * the drive and no longer than one system call moves. */
static bool rw_allowed(const struct vblk *b, uint64_t sector, uint64_t len)
{
	return sector <= b->size / SECTOR && len <= b->size - sector * SECTOR &&
	       len <= REQ_MAX_BYTES;
}

/* Reads or writes the data buffers at sector. */
static uint8_t blk_rw(struct vblk *b, uint32_t type, uint64_t sector, int n,
		      uint32_t *written)
{
	uint64_t len = iov_bytes(b->data, n);
	ssize_t done;

	if (!rw_allowed(b, sector, len))
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

/* Queues a read, write or flush on the io_uring. Returns 0, 1 when the
 * request must run synchronously instead, or -EINVAL for a head already in
 * flight (a hostile driver). */
static int blk_submit_async(struct vblk *b, uint16_t head, uint32_t type,
			    uint64_t sector, int n, uint8_t *status)
{
	struct blk_req *r = &b->reqs[head];
	uint64_t len = iov_bytes(b->data, n);
	struct io_uring_sqe *sqe;
	off_t off = (off_t)(sector * SECTOR);

	if (type == VIRTIO_BLK_T_FLUSH ?
		    !b->writeback :
		    (type != VIRTIO_BLK_T_IN && type != VIRTIO_BLK_T_OUT) ||
			    (type == VIRTIO_BLK_T_OUT && b->read_only) ||
			    !rw_allowed(b, sector, len))
		return 1; /* immediate answer or an error status: sync path */
	if (r->in_use)
		return -EINVAL;
	r->iov = malloc((size_t)(n ? n : 1) * sizeof(*r->iov));
	sqe = r->iov ? io_uring_get_sqe(&b->ring) : NULL;
	if (!sqe) {
		free(r->iov);
		return 1;
	}
	memcpy(r->iov, b->data, (size_t)n * sizeof(*r->iov));
	if (type == VIRTIO_BLK_T_IN)
		io_uring_prep_readv(sqe, b->fd, r->iov, (unsigned)n, off);
	else if (type == VIRTIO_BLK_T_OUT)
		io_uring_prep_writev(sqe, b->fd, r->iov, (unsigned)n, off);
	else
		io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data64(sqe, head);
	r->in_use = true;
	r->status = status;
	r->expect = type == VIRTIO_BLK_T_FLUSH ? 0 : (int64_t)len;
	r->written = type == VIRTIO_BLK_T_IN ? (uint32_t)len : 0;
	b->inflight++;
	return 0;
}

static bool blk_has_room(struct vblk *b)
{
	return !b->async || (b->inflight < RING_DEPTH &&
			     io_uring_sq_space_left(&b->ring) > 0);
}

/* Serves one popped chain; false when the device must be reset. */
static bool blk_serve(struct vblk *b, struct vq *q)
{
	uint32_t type, written = 0;
	uint64_t sector;
	uint8_t *status;
	int n = split_request(b, &type, &sector, &status), ret = 1;

	if (n < 0)
		return false;
	rl_consume(&b->rl, type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_OUT ?
				   iov_bytes(b->data, n) :
				   0);
	if (b->async)
		ret = blk_submit_async(b, b->chain.head, type, sector, n,
				       status);
	if (ret < 0)
		return false;
	if (ret == 0)
		return true;
	*status = blk_execute(b, type, sector, n, &written);
	return vq_push(q, b->chain.head, written + 1) == 0;
}

static void blk_process(struct vdev *d)
{
	struct vblk *b = d->priv;
	struct vq *q = &d->queues[0];
	int ret = 0;

	while (blk_has_room(b) && rl_admit(&b->rl) &&
	       (ret = vq_pop(q, &d->vm->mem, &b->chain)) > 0) {
		if (!blk_serve(b, q)) {
			vdev_fail(d, "malformed block request");
			break;
		}
	}
	if (ret < 0)
		vdev_fail(d, "bad descriptor chain");
	if (b->async && io_uring_submit(&b->ring) < 0)
		log_warn("virtio-blk: io_uring_submit: %s", strerror(errno));
	vdev_notify_used(d, 0);
}

static void blk_queue_notify(struct vdev *d, unsigned qi)
{
	blk_process(d);
}

/* Retires one completion; pushes it to the used ring when push is set. */
static void blk_complete(struct vblk *b, struct io_uring_cqe *cqe, bool push)
{
	uint64_t head = io_uring_cqe_get_data64(cqe);
	struct blk_req *r = &b->reqs[head % VQ_MAX_SIZE];

	if (push) {
		*r->status = cqe->res == r->expect ? VIRTIO_BLK_S_OK :
						     VIRTIO_BLK_S_IOERR;
		if (vq_push(&b->dev.queues[0], (uint16_t)head,
			    (cqe->res == r->expect ? r->written : 0) + 1))
			vdev_fail(&b->dev, "bad used ring");
	}
	free(r->iov);
	r->iov = NULL;
	r->in_use = false;
	b->inflight--;
	io_uring_cqe_seen(&b->ring, cqe);
}

static void on_ring_completion(void *opaque, uint32_t events)
{
	struct vblk *b = opaque;
	struct io_uring_cqe *cqe;
	uint64_t n;

	if (read(b->ring_efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&b->dev.lock);
	while (io_uring_peek_cqe(&b->ring, &cqe) == 0)
		blk_complete(b, cqe, b->dev.activated);
	if (vdev_live(&b->dev))
		blk_process(&b->dev); /* room again for held-back requests */
	pthread_mutex_unlock(&b->dev.lock);
}

/* Waits for every request in flight; push: complete them to the guest. */
static void finish_inflight(struct vblk *b, bool push)
{
	struct io_uring_cqe *cqe;

	while (b->async && b->inflight &&
	       io_uring_wait_cqe(&b->ring, &cqe) == 0)
		blk_complete(b, cqe, push);
}

/* Device reset: wait for what is in flight, the guest reuses its memory. */
static void blk_reset(struct vdev *d)
{
	finish_inflight(d->priv, false);
}

/* Before a snapshot: every request completes into guest memory. */
static void blk_quiesce(struct vdev *d)
{
	finish_inflight(d->priv, true);
	vdev_notify_used(d, 0);
}

static void blk_save(struct vdev *d, uint8_t *own)
{
	rl_save(&((struct vblk *)d->priv)->rl, own);
}

static int blk_restore(struct vdev *d, const uint8_t *own)
{
	rl_restore(&((struct vblk *)d->priv)->rl, own);
	return 0;
}

static void blk_destroy(struct vdev *d);

static const struct vdev_ops blk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.num_queues = 1,
	.features = blk_features,
	.config_rw = blk_config_rw,
	.queue_notify = blk_queue_notify,
	.reset = blk_reset,
	.quiesce = blk_quiesce,
	.destroy = blk_destroy,
	.save = blk_save,
	.restore = blk_restore,
};

/* io_uring_register(2) itself: Debian's liburing 2.3 does not export
 * io_uring_register_restrictions or io_uring_enable_rings. */
static int ring_register(struct io_uring *ring, unsigned op, void *arg,
			 unsigned n)
{
	return syscall(__NR_io_uring_register, ring->ring_fd, op, arg, n) < 0 ?
		       -errno :
		       0;
}

int vblk_ring_init(struct io_uring *ring, int efd)
{
	struct io_uring_restriction allowed[] = {
		{ .opcode = IORING_RESTRICTION_SQE_OP,
		  .sqe_op = IORING_OP_READV },
		{ .opcode = IORING_RESTRICTION_SQE_OP,
		  .sqe_op = IORING_OP_WRITEV },
		{ .opcode = IORING_RESTRICTION_SQE_OP,
		  .sqe_op = IORING_OP_FSYNC },
	};
	int ret =
		io_uring_queue_init(RING_DEPTH, ring, IORING_SETUP_R_DISABLED);

	if (ret < 0)
		return ret;
	ret = io_uring_register_eventfd(ring, efd);
	if (!ret)
		ret = ring_register(ring, IORING_REGISTER_RESTRICTIONS, allowed,
				    ARRAY_SIZE(allowed));
	if (!ret)
		ret = ring_register(ring, IORING_REGISTER_ENABLE_RINGS, NULL,
				    0);
	if (ret)
		io_uring_queue_exit(ring);
	return ret < 0 ? ret : 0;
}

static int setup_ring(struct vm *vm, struct vblk *b)
{
	int ret;

	b->ring_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (b->ring_efd < 0)
		return -errno;
	ret = vblk_ring_init(&b->ring, b->ring_efd);
	if (ret)
		return ret;
	b->async = true;
	return evl_add(vm->loop, b->ring_efd, on_ring_completion, b);
}

/* Opens a backing file; its size is rounded down to whole sectors. */
static int open_backing(const char *path, bool read_only, int *fd,
			uint64_t *size)
{
	struct stat st;

	*fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (*fd < 0)
		return -errno;
	if (fstat(*fd, &st) < 0 ||
	    (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
		close(*fd);
		*fd = -1;
		return -EINVAL;
	}
	*size = (uint64_t)st.st_size & ~(uint64_t)(SECTOR - 1);
	return 0;
}

static int swap_backing(struct vblk *b, const char *path)
{
	uint64_t size;
	int fd, ret = open_backing(path, b->read_only, &fd, &size);

	if (ret)
		return ret;
	finish_inflight(b, true); /* on the old file */
	close(b->fd);
	b->fd = fd;
	b->size = size;
	vdev_config_changed(&b->dev);
	vdev_notify_used(&b->dev, 0);
	return 0;
}

int vblk_update(struct vdev *d, const struct drive_patch *p)
{
	struct vblk *b = d->priv;
	int ret = 0;

	pthread_mutex_lock(&b->dev.lock);
	if (p->has_rl) /* before anything changes */
		ret = rl_check_update(&b->rl, &p->rl);
	if (!ret && p->has_path)
		ret = swap_backing(b, p->path);
	if (!ret && p->has_rl)
		rl_update(&b->rl, &p->rl);
	if (!ret && p->has_rl && vdev_live(&b->dev))
		blk_process(
			&b->dev); /* a looser limit frees waiting requests */
	pthread_mutex_unlock(&b->dev.lock);
	return ret;
}

int vblk_create(struct vm *vm, const struct drive_cfg *cfg)
{
	struct vblk *b = calloc(1, sizeof(*b));
	int ret;

	if (!b)
		return -ENOMEM;
	b->fd = -1;
	b->ring_efd = -1;
	b->rl.timer_fd = -1;
	vdev_preinit(&b->dev);
	b->dev.priv = b;
	b->read_only = cfg->read_only;
	b->writeback = cfg->cache == CACHE_WRITEBACK;
	snprintf(b->drive_id, sizeof(b->drive_id), "%s", cfg->id);
	memcpy(b->id, cfg->id, strnlen(cfg->id, VIRTIO_BLK_ID_BYTES));
	b->loop = vm->loop;
	ret = open_backing(cfg->path, cfg->read_only, &b->fd, &b->size);
	if (!ret && cfg->engine == IO_ENGINE_ASYNC)
		ret = setup_ring(vm, b);
	if (!ret)
		ret = rl_init(&b->rl, &cfg->rl);
	if (!ret)
		ret = rl_watch(&b->rl, vm->loop, &b->dev, blk_process);
	if (!ret)
		ret = vdev_attach(vm, &b->dev, &blk_ops, b, b->drive_id);
	if (ret)
		blk_destroy(&b->dev);
	return ret;
}

static void blk_destroy(struct vdev *d)
{
	struct vblk *b = d->priv;

	vdev_detach(&b->dev);
	if (b->async) {
		blk_reset(&b->dev);
		io_uring_queue_exit(&b->ring);
	}
	if (b->ring_efd >= 0) {
		evl_remove(b->loop, b->ring_efd);
		close(b->ring_efd);
	}
	rl_destroy(&b->rl);
	if (b->fd >= 0)
		close(b->fd);
	free(b);
}

/* The root drive is attached first, so it is /dev/vda. */
static int add_drive(struct vm *vm, const struct drive_cfg *d)
{
	int ret = vblk_create(vm, d);
	size_t used;

	if (ret) {
		snprintf(vm->err, sizeof(vm->err), "drive '%s' (%s): %s", d->id,
			 d->path, strerror(-ret));
		return ret;
	}
	used = strlen(vm->cmdline_extra);
	if (d->is_root)
		snprintf(vm->cmdline_extra + used,
			 sizeof(vm->cmdline_extra) - used,
			 d->partuuid[0] ? " root=PARTUUID=%s %s" :
					  "%.0s root=/dev/vda %s",
			 d->partuuid, d->read_only ? "ro" : "rw");
	return 0;
}

/* Drives: the root device first, then the others in configuration order. */
static int add_drives(struct vm *vm, const struct vm_config *cfg)
{
	unsigned i, pass;
	int ret = 0;

	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < cfg->nr_drives && !ret; i++)
			if (cfg->drives[i].is_root == (pass == 0))
				ret = add_drive(vm, &cfg->drives[i]);
	return ret;
}

const struct vdev_kind vblk_kind = { add_drives };

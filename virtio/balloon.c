// SPDX-License-Identifier: Apache-2.0
/* virtio-balloon (/balloon), as Firecracker's. The host sets a target
 * (num_pages in config space); the guest gives pages up toward it and
 * sends their frame numbers on the inflate queue (they go back to the host:
 * gmem_discard), and those it takes back on the deflate queue. Optional
 * queues follow the two, in this order, for the features the driver took:
 * statistics (the device holds the guest's one buffer and hands it back at
 * each polling interval, for the guest to refill), free page hinting and
 * free page reporting (ranges of free guest memory, given back to the
 * host). The numbers are packed: a queue whose feature was not taken
 * leaves no gap (Linux's virtio-mmio numbering).
 *
 * Free page hinting runs when the host asks (PATCH /balloon/hinting/start):
 * a new command id (>= 2) in config space and a config interrupt; the
 * guest sends that id (a readable buffer), then free ranges (writable
 * buffers) whose whole host pages go back at once, then STOP (0). DONE (1)
 * lets the guest take the ranges back: set at the guest's STOP with
 * acknowledge_on_stop, else by PATCH /balloon/hinting/stop. Ranges sent
 * under an id that is not the host's current one are ignored. Linux 6.1
 * keeps hinted blocks off its allocator until DONE, except that its
 * shrinker may take them back under memory pressure at any time (README,
 * "The balloon").
 *
 * The guest is hostile: frame numbers outside guest RAM (or in the MMIO
 * gap) are skipped, a page inflated twice is given back once (a bitmap of
 * inflated pages), unknown statistics tags are ignored, a broken ring sets
 * DEVICE_NEEDS_RESET; only guest RAM is ever given back. With 2 MiB huge
 * pages only whole huge pages go back, once the guest inflated all 512 of
 * their 4 KiB pages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "virtio/virtio.h"

#define F_STATS_VQ 1
#define F_DEFLATE_ON_OOM 2
#define F_FREE_PAGE_HINT 3
#define F_REPORTING 5
#define PFN_SHIFT 12 /* frame numbers count 4 KiB pages */
#define PAGE_4K 4096ULL
#define PFN_BATCH 256 /* frame numbers read and given back at once */
#define STAT_SIZE 10 /* le16 tag, le64 value */
#define MAX_STATS_READ 64 /* a buffer's entries read (Linux sends 16) */
#define Q_INFLATE 0
#define Q_DEFLATE 1
#define NO_QUEUE VDEV_MAX_QUEUES
#define CMD_ID_STOP 0
#define CMD_ID_DONE 1

struct vballoon {
	struct vdev dev;
	struct balloon_cfg cfg;
	uint32_t num_pages, actual; /* config space */
	uint64_t *inflated; /* a bit per 4 KiB page, by offset in guest RAM */
	size_t nr_pages;
	struct event_loop *loop; /* where the stats timer is watched */
	int stats_timer_fd;
	bool stats_held; /* the guest's stats buffer is ours until the tick */
	uint16_t stats_head;
	struct balloon_stats stats;
	struct balloon_hint_status hint;
	uint32_t last_cmd_id; /* the last run's: the next one is its + 1 */
	bool ack_on_stop;
	struct vq_chain chain;
	uint32_t pfns[PFN_BATCH];
};

/* What a snapshot keeps (vdev_ops.save): config space, the interval, the
 * stats buffer the device holds and the hinting run's command ids. The
 * bitmap is not kept: after a load a page inflated again is given back
 * again, which is harmless. */
struct balloon_state {
	uint32_t num_pages, actual, stats_interval_s;
	uint16_t stats_head;
	uint8_t stats_held, ack_on_stop;
	uint32_t host_cmd, guest_cmd, last_cmd_id;
	uint8_t guest_cmd_set, pad[3];
};
_Static_assert(sizeof(struct balloon_state) <= VDEV_OWN_STATE_MAX,
	       "the balloon's state fits a snapshot's room");

static uint64_t offered(const struct vballoon *b)
{
	return (1ULL << VIRTIO_RING_F_EVENT_IDX) |
	       (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
	       ((uint64_t)(b->cfg.stats_interval_s > 0) << F_STATS_VQ) |
	       ((uint64_t)b->cfg.deflate_on_oom << F_DEFLATE_ON_OOM) |
	       ((uint64_t)b->cfg.free_page_hinting << F_FREE_PAGE_HINT) |
	       ((uint64_t)b->cfg.free_page_reporting << F_REPORTING);
}

static uint64_t balloon_features(struct vdev *d)
{
	return offered(d->priv);
}

/* A feature the driver took (a driver may ask for more than offered
 * before FEATURES_OK: its queues must still fit VDEV_MAX_QUEUES). */
static bool taken(const struct vdev *d, unsigned bit)
{
	return vdev_has_feature(d, bit) && (offered(d->priv) >> bit & 1);
}

static unsigned balloon_queues(const struct vdev *d)
{
	return 2 + taken(d, F_STATS_VQ) + taken(d, F_FREE_PAGE_HINT) +
	       taken(d, F_REPORTING);
}

static unsigned stats_queue(const struct vdev *d)
{
	return taken(d, F_STATS_VQ) ? 2 : NO_QUEUE;
}

static unsigned hint_queue(const struct vdev *d)
{
	return taken(d, F_FREE_PAGE_HINT) ? 2 + taken(d, F_STATS_VQ) : NO_QUEUE;
}

static unsigned report_queue(const struct vdev *d)
{
	return taken(d, F_REPORTING) ? balloon_queues(d) - 1 : NO_QUEUE;
}

/* struct virtio_balloon_config: num_pages, actual, free_page_hint_cmd_id
 * (the host's command), poison_val (no page poisoning). The driver writes
 * `actual` only. */
static void balloon_config_rw(struct vdev *d, uint32_t off, uint8_t *buf,
			      uint32_t len, bool write)
{
	struct vballoon *b = d->priv;
	uint32_t space[4] = { b->num_pages, b->actual, b->hint.host_cmd, 0 };

	if (write) {
		if (off == 4 && len == 4)
			memcpy(&b->actual, buf, 4);
		return;
	}
	memset(buf, 0, len);
	if (off < sizeof(space) && len <= sizeof(space) - off)
		memcpy(buf, (uint8_t *)space + off, len);
}

/* The 4 KiB page of guest RAM a frame number names (its index by offset
 * in guest RAM), or -1 when it is not RAM. */
static int64_t page_of(const struct guest_mem *mem, uint32_t pfn)
{
	uint8_t *p = gmem_ram_ptr(mem, (uint64_t)pfn << PFN_SHIFT, PAGE_4K);

	return p ? (int64_t)((uint64_t)(p - mem->host) / PAGE_4K) : -1;
}

static bool test_and_set(uint64_t *bits, size_t i, bool on)
{
	bool was = bits[i / 64] & (1ULL << (i % 64));

	if (on)
		bits[i / 64] |= 1ULL << (i % 64);
	else
		bits[i / 64] &= ~(1ULL << (i % 64));
	return was;
}

/* Whether every 4 KiB page of the host page `unit` is inflated. */
static bool unit_inflated(const struct vballoon *b, uint64_t unit,
			  size_t per_unit)
{
	size_t i, first = unit * per_unit;

	for (i = first; i < first + per_unit; i++)
		if (!(b->inflated[i / 64] & (1ULL << (i % 64))))
			return false;
	return true;
}

/* A run of host pages to give back: [start, start + len) in page_size. */
struct run {
	uint64_t start, len;
};

static void give_back(struct vballoon *b, struct run *r)
{
	const struct guest_mem *mem = &b->dev.vm->mem;
	int ret;

	if (!r->len)
		return;
	ret = gmem_discard(mem, mem->host + r->start * mem->page_size,
			   r->len * mem->page_size);
	if (ret)
		log_warn("virtio-balloon: cannot give %llu bytes back: %s",
			 (unsigned long long)(r->len * mem->page_size),
			 strerror(-ret));
	r->len = 0;
}

/* Neighbours join the run, ascending or descending (Linux sends its
 * pages in either order); anything else starts a new one. No sorting:
 * glibc's qsort asks sysinfo() for the memory size, which the VMM
 * thread's seccomp filter does not allow. */
static void add_to_run(struct vballoon *b, struct run *r, uint64_t unit)
{
	if (r->len && unit == r->start + r->len) {
		r->len++;
		return;
	}
	if (r->len && unit + 1 == r->start) {
		r->start--;
		r->len++;
		return;
	}
	give_back(b, r);
	r->start = unit;
	r->len = 1;
}

/* Inflates (or deflates) the batch's n frame numbers. */
static unsigned balloon_batch(struct vballoon *b, unsigned n, bool inflate)
{
	const struct guest_mem *mem = &b->dev.vm->mem;
	size_t per_unit = mem->page_size / PAGE_4K;
	struct run run = { 0, 0 };
	unsigned i, bad = 0;

	for (i = 0; i < n; i++) {
		int64_t page = page_of(mem, b->pfns[i]);

		if (page < 0) {
			bad++;
		} else if (test_and_set(b->inflated, (size_t)page, inflate) ||
			   !inflate) {
			continue; /* inflated already, or a deflate */
		} else if (unit_inflated(b, (uint64_t)page / per_unit,
					 per_unit)) {
			add_to_run(b, &run, (uint64_t)page / per_unit);
		}
	}
	give_back(b, &run);
	return bad;
}

static size_t readable_bytes(const struct vq_chain *c)
{
	size_t total = 0;
	unsigned i;

	for (i = 0; i < c->nr_out; i++)
		total += c->iov[i].iov_len;
	return total;
}

/* One inflate or deflate request: le32 frame numbers in its readable
 * buffers. */
static void balloon_request(struct vballoon *b, bool inflate)
{
	struct vq_chain *c = &b->chain;
	size_t total = readable_bytes(c), off = 0;
	unsigned bad = 0, n;

	while ((n = (unsigned)((total - off) / 4 < PFN_BATCH ?
				       (total - off) / 4 :
				       PFN_BATCH))) {
		iov_copy(c->iov, c->nr_out, off, b->pfns, n * 4, false);
		bad += balloon_batch(b, n, inflate);
		off += n * 4;
	}
	if (bad)
		log_warn(
			"virtio-balloon: %u frame numbers outside guest RAM ignored",
			bad);
}

/* Gives back the whole host pages inside a free range of guest RAM
 * (vq_pop mapped it: it lies in RAM). */
static void give_back_range(struct vballoon *b, const struct iovec *range)
{
	const struct guest_mem *mem = &b->dev.vm->mem;
	uint64_t off = (uint64_t)((uint8_t *)range->iov_base - mem->host),
		 ps = mem->page_size, start = (off + ps - 1) / ps * ps,
		 end = (off + range->iov_len) / ps * ps;

	if (end > start && gmem_discard(mem, mem->host + start, end - start))
		log_warn("virtio-balloon: a free range stays");
}

/* A free page reporting request: each buffer is a free range. */
static void report_free(struct vballoon *b)
{
	struct vq_chain *c = &b->chain;
	unsigned i;

	for (i = 0; i < c->nr_out + c->nr_in; i++)
		give_back_range(b, &c->iov[i]);
}

/* Sets the host's command (config space) and tells the guest. */
static void set_host_cmd(struct vballoon *b, uint32_t cmd)
{
	b->hint.host_cmd = cmd;
	if (b->dev.activated)
		vdev_config_changed(&b->dev);
}

/* The guest's command id, in a readable buffer: the start of its run
 * (the host's id echoed) or STOP, its end. A STOP that ends the host's
 * current run is acknowledged with DONE when the run asked for it. */
static void hint_guest_cmd(struct vballoon *b, uint32_t cmd)
{
	bool ends_run = b->hint.guest_cmd_set &&
			b->hint.guest_cmd == b->hint.host_cmd &&
			b->hint.host_cmd > CMD_ID_DONE;

	b->hint.guest_cmd = cmd;
	b->hint.guest_cmd_set = true;
	if (cmd <= CMD_ID_DONE && ends_run && b->ack_on_stop)
		set_host_cmd(b, CMD_ID_DONE);
}

/* A free page hinting chain: a command id (readable), free ranges
 * (writable) given back while the guest's id is the host's current run. */
static void hint_free(struct vballoon *b)
{
	struct vq_chain *c = &b->chain;
	uint32_t cmd;
	unsigned i;

	if (readable_bytes(c) >= sizeof(cmd)) {
		iov_copy(c->iov, c->nr_out, 0, &cmd, sizeof(cmd), false);
		hint_guest_cmd(b, cmd);
	}
	if (!c->nr_in)
		return;
	if (!b->hint.guest_cmd_set || b->hint.guest_cmd != b->hint.host_cmd ||
	    b->hint.host_cmd <= CMD_ID_DONE) {
		log_debug("virtio-balloon: free page hints of a stale run");
		return;
	}
	for (i = c->nr_out; i < c->nr_out + c->nr_in; i++)
		give_back_range(b, &c->iov[i]);
}

/* A stats buffer: (tag, value) entries; unknown tags are ignored. */
static void read_stats(struct vballoon *b)
{
	struct vq_chain *c = &b->chain;
	size_t total = readable_bytes(c), off;
	uint8_t entry[STAT_SIZE];
	unsigned n = 0;
	uint16_t tag;

	for (off = 0; off + STAT_SIZE <= total && n < MAX_STATS_READ;
	     off += STAT_SIZE, n++) {
		iov_copy(c->iov, c->nr_out, off, entry, STAT_SIZE, false);
		memcpy(&tag, entry, 2);
		if (tag >= BALLOON_NR_STATS)
			continue;
		memcpy(&b->stats.value[tag], entry + 2, 8);
		b->stats.present |= 1U << tag;
	}
}

/* Hands the held stats buffer back: the guest refills it. */
static int return_stats(struct vballoon *b)
{
	int ret = 0;

	if (b->stats_held)
		ret = vq_push(&b->dev.queues[stats_queue(&b->dev)],
			      b->stats_head, 0);
	b->stats_held = false;
	return ret;
}

/* Serves one chain of queue q; -EFAULT when the used ring is broken. */
static int serve_chain(struct vballoon *b, unsigned q)
{
	struct vdev *d = &b->dev;

	if (q == stats_queue(d)) {
		int ret = return_stats(b); /* a second buffer: the newest */

		read_stats(b);
		b->stats_held = true;
		b->stats_head = b->chain.head;
		return ret;
	}
	if (q == report_queue(d))
		report_free(b);
	else if (q == hint_queue(d))
		hint_free(b);
	else
		balloon_request(b, q == Q_INFLATE);
	return vq_push(&d->queues[q], b->chain.head, 0);
}

static void balloon_queue_notify(struct vdev *d, unsigned q)
{
	struct vballoon *b = d->priv;
	int ret;

	while ((ret = vq_pop(&d->queues[q], &d->vm->mem, &b->chain)) > 0) {
		if (serve_chain(b, q)) {
			vdev_fail(d, "bad used ring");
			return;
		}
	}
	if (ret < 0)
		vdev_fail(d, "bad descriptor chain");
	vdev_notify_used(d, q);
}

static void on_stats_tick(void *opaque, uint32_t events)
{
	struct vballoon *b = opaque;
	struct vdev *d = &b->dev;
	uint64_t n;

	if (read(b->stats_timer_fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&d->lock);
	if (vdev_live(d) && stats_queue(d) != NO_QUEUE && b->stats_held) {
		if (return_stats(b))
			vdev_fail(d, "bad used ring");
		else
			vdev_notify_used(d, stats_queue(d));
	}
	pthread_mutex_unlock(&d->lock);
}

/* Every interval_s seconds from now (first after `first_ns`). */
static int arm_stats_timer(struct vballoon *b, unsigned interval_s,
			   long first_ns)
{
	struct itimerspec t = { { interval_s, 0 }, { interval_s, first_ns } };

	if (first_ns)
		t.it_value.tv_sec = 0;
	return timerfd_settime(b->stats_timer_fd, 0, &t, NULL) < 0 ? -errno : 0;
}

static int balloon_activate(struct vdev *d)
{
	struct vballoon *b = d->priv;

	b->nr_pages = d->vm->mem.size / PAGE_4K;
	if (!b->inflated)
		b->inflated = calloc((b->nr_pages + 63) / 64, 8);
	return b->inflated ? 0 : -ENOMEM;
}

static void balloon_reset(struct vdev *d)
{
	struct vballoon *b = d->priv;

	b->stats_held = false;
	b->actual = 0;
	if (b->inflated)
		memset(b->inflated, 0, (b->nr_pages + 63) / 64 * 8);
}

static void balloon_save(struct vdev *d, uint8_t *own)
{
	const struct vballoon *b = d->priv;
	struct balloon_state st = { .num_pages = b->num_pages,
				    .actual = b->actual,
				    .stats_interval_s = b->cfg.stats_interval_s,
				    .stats_head = b->stats_head,
				    .stats_held = b->stats_held,
				    .ack_on_stop = b->ack_on_stop,
				    .host_cmd = b->hint.host_cmd,
				    .guest_cmd = b->hint.guest_cmd,
				    .last_cmd_id = b->last_cmd_id,
				    .guest_cmd_set = b->hint.guest_cmd_set };

	memcpy(own, &st, sizeof(st));
}

/* Untrusted: a held buffer must be a head of the stats queue, and the
 * interval is the configured one (it was PATCHed into the config). */
static int balloon_restore(struct vdev *d, const uint8_t *own)
{
	struct vballoon *b = d->priv;
	struct balloon_state st;
	unsigned q = stats_queue(d);

	memcpy(&st, own, sizeof(st));
	if (st.stats_held &&
	    (q == NO_QUEUE || st.stats_head >= d->queues[q].size))
		return -EINVAL;
	b->num_pages = st.num_pages;
	b->actual = st.actual;
	b->stats_held = st.stats_held;
	b->stats_head = st.stats_head;
	b->ack_on_stop = st.ack_on_stop;
	b->hint.host_cmd = st.host_cmd;
	b->hint.guest_cmd = st.guest_cmd;
	b->hint.guest_cmd_set = st.guest_cmd_set;
	b->last_cmd_id = st.last_cmd_id;
	return 0;
}

static void balloon_destroy(struct vdev *d)
{
	struct vballoon *b = d->priv;

	vdev_detach(&b->dev);
	if (b->stats_timer_fd >= 0) {
		evl_remove(b->loop, b->stats_timer_fd);
		close(b->stats_timer_fd);
	}
	free(b->inflated);
	free(b);
}

static const struct vdev_ops balloon_ops = {
	.name = "virtio-balloon",
	.device_id = VIRTIO_ID_BALLOON,
	.num_queues = 5,
	.queues = balloon_queues,
	.features = balloon_features,
	.config_rw = balloon_config_rw,
	.activate = balloon_activate,
	.queue_notify = balloon_queue_notify,
	.reset = balloon_reset,
	.destroy = balloon_destroy,
	.save = balloon_save,
	.restore = balloon_restore,
};

/* The statistics timer, when statistics are on. */
static int start_stats(struct vballoon *b)
{
	int ret;

	if (!b->cfg.stats_interval_s)
		return 0;
	b->stats_timer_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (b->stats_timer_fd < 0)
		return -errno;
	ret = arm_stats_timer(b, b->cfg.stats_interval_s, 0);
	return ret ? ret :
		     evl_add(b->loop, b->stats_timer_fd, on_stats_tick, b);
}

int vballoon_create(struct vm *vm, const struct balloon_cfg *cfg)
{
	struct vballoon *b;
	int ret;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	vdev_preinit(&b->dev);
	b->dev.priv = b;
	b->cfg = *cfg;
	b->num_pages = cfg->amount_mib * BALLOON_PAGES_PER_MIB;
	b->stats_timer_fd = -1;
	b->loop = vm->loop;
	ret = start_stats(b);
	if (!ret)
		ret = vdev_attach(vm, &b->dev, &balloon_ops, b, NULL);
	if (ret)
		balloon_destroy(&b->dev);
	return ret;
}

void vballoon_set_target(struct vdev *d, unsigned amount_mib)
{
	struct vballoon *b = d->priv;

	pthread_mutex_lock(&d->lock);
	b->num_pages = amount_mib * BALLOON_PAGES_PER_MIB;
	if (d->activated)
		vdev_config_changed(d);
	pthread_mutex_unlock(&d->lock);
}

int vballoon_set_stats_interval(struct vdev *d, unsigned interval_s)
{
	struct vballoon *b = d->priv;
	int ret = 0;

	pthread_mutex_lock(&d->lock);
	if (!b->cfg.stats_interval_s != !interval_s)
		ret = -EINVAL; /* on or off: only before boot */
	else if (interval_s)
		ret = arm_stats_timer(b, interval_s, 1); /* now, then each */
	if (!ret)
		b->cfg.stats_interval_s = interval_s;
	pthread_mutex_unlock(&d->lock);
	return ret;
}

int vballoon_hint_start(struct vdev *d, bool ack_on_stop)
{
	struct vballoon *b = d->priv;

	if (!b->cfg.free_page_hinting)
		return -ENOTSUP;
	pthread_mutex_lock(&d->lock);
	b->last_cmd_id = b->last_cmd_id + 1 > CMD_ID_DONE ? b->last_cmd_id + 1 :
							    CMD_ID_DONE + 1;
	b->ack_on_stop = ack_on_stop;
	set_host_cmd(b, b->last_cmd_id);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

int vballoon_hint_stop(struct vdev *d)
{
	struct vballoon *b = d->priv;

	if (!b->cfg.free_page_hinting)
		return -ENOTSUP;
	pthread_mutex_lock(&d->lock);
	set_host_cmd(b, CMD_ID_DONE);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

int vballoon_hint_status(struct vdev *d, struct balloon_hint_status *out)
{
	struct vballoon *b = d->priv;

	if (!b->cfg.free_page_hinting)
		return -ENOTSUP;
	pthread_mutex_lock(&d->lock);
	*out = b->hint;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

void vballoon_stats(struct vdev *d, struct balloon_stats *out)
{
	struct vballoon *b = d->priv;

	pthread_mutex_lock(&d->lock);
	*out = b->stats;
	out->target_pages = b->num_pages;
	out->actual_pages = b->actual;
	pthread_mutex_unlock(&d->lock);
}

static int add_balloon(struct vm *vm, const struct vm_config *cfg)
{
	const struct balloon_cfg *b = &cfg->balloon;
	int ret;

	if (!b->set)
		return 0;
	if (b->amount_mib > cfg->machine.mem_size_mib) {
		snprintf(
			vm->err, sizeof(vm->err),
			"balloon: amount_mib (%u MiB) is more than the guest's memory (%u MiB)",
			b->amount_mib, cfg->machine.mem_size_mib);
		return -EINVAL;
	}
	ret = vballoon_create(vm, b);
	if (ret)
		snprintf(vm->err, sizeof(vm->err), "balloon device: %s",
			 strerror(-ret));
	return ret;
}

const struct vdev_kind vballoon_kind = { add_balloon };

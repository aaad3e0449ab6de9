// SPDX-License-Identifier: Apache-2.0
/* virtio-net on a tap device (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR): the
 * 12-byte virtio_net_hdr_v1 travels as is between the guest and the tap.
 * Checksum and TSO offloads are offered, and set on the tap
 * (TUNSETOFFLOAD) once the guest has chosen; mergeable rx buffers spread a
 * frame over several chains, published together. With no guest buffer
 * (or an empty rx bucket) the tap is not read, so nothing spins; a frame
 * the tap cannot take yet is retried, never dropped silently. VMM thread. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "virtio/virtio.h"

#define F_CSUM 0
#define F_GUEST_CSUM 1
#define F_MTU 3
#define F_MAC 5
#define F_GUEST_TSO4 7
#define F_GUEST_TSO6 8
#define F_HOST_TSO4 11
#define F_HOST_TSO6 12
#define F_MRG_RXBUF 15
#define NET_NUM_BUFFERS_OFF 10
#define CONFIG_MTU_OFF 10 /* virtio_net_config: mac[6], status, pairs, mtu */
#define FRAME_MAX (65536 + VIRTIO_NET_HDR_LEN)
#define RXQ 0
#define TXQ 1
#define TAP_DRAIN_MAX 4096 /* frames dropped at most on a restore */

struct vnet {
	struct vdev dev;
	char iface_id[CONFIG_ID_MAX]; /* the API's (PATCH) */
	struct event_loop *loop;
	int tap_fd, retry_fd;
	uint8_t mac[6];
	uint16_t mtu; /* 0: not offered */
	bool has_mac, offloads_set, tap_watched;
	struct rate_limiter rx_rl, tx_rl;
	uint8_t frame[FRAME_MAX]; /* a received frame waiting for buffers */
	size_t frame_len; /* 0: none */
	struct vq_chain chain;
	struct net_mmds *mmds; /* the metadata service's detour, or NULL */
};

static uint64_t net_features(struct vdev *d)
{
	struct vnet *n = d->priv;

	return (1ULL << F_CSUM) | (1ULL << F_GUEST_CSUM) |
	       (1ULL << F_GUEST_TSO4) | (1ULL << F_GUEST_TSO6) |
	       (1ULL << F_HOST_TSO4) | (1ULL << F_HOST_TSO6) |
	       (1ULL << F_MRG_RXBUF) | (n->has_mac ? 1ULL << F_MAC : 0) |
	       (n->mtu ? 1ULL << F_MTU : 0) | (1ULL << VIRTIO_RING_F_EVENT_IDX);
}

/* Copies the bytes of field [start, start + size) that the access
 * [off, off + len) covers into buf (at buf[0] = byte off). */
static void config_field(uint8_t *buf, uint32_t off, uint32_t len,
			 uint32_t start, const void *field, uint32_t size)
{
	uint32_t from = off > start ? off : start;
	uint32_t to = off + len < start + size ? off + len : start + size;

	if (from < to)
		memcpy(buf + (from - off),
		       (const uint8_t *)field + (from - start), to - from);
}

static void net_config_rw(struct vdev *d, uint32_t off, uint8_t *buf,
			  uint32_t len, bool write)
{
	struct vnet *n = d->priv;

	if (write)
		return;
	memset(buf, 0, len);
	config_field(buf, off, len, 0, n->mac, sizeof(n->mac));
	config_field(buf, off, len, CONFIG_MTU_OFF, &n->mtu, sizeof(n->mtu));
}

static void watch_tap(struct vnet *n, bool on)
{
	if (n->tap_watched != on && evl_watch(n->loop, n->tap_fd, on) == 0)
		n->tap_watched = on;
}

/* The guest's offload choice, applied to the tap on the first kick. */
static void set_offloads(struct vnet *n)
{
	unsigned flags = 0;

	if (vdev_has_feature(&n->dev, F_GUEST_CSUM))
		flags |= TUN_F_CSUM;
	if (vdev_has_feature(&n->dev, F_GUEST_TSO4))
		flags |= TUN_F_TSO4;
	if (vdev_has_feature(&n->dev, F_GUEST_TSO6))
		flags |= TUN_F_TSO6;
	if (ioctl(n->tap_fd, TUNSETOFFLOAD, flags) < 0)
		log_warn("virtio-net: TUNSETOFFLOAD: %s", strerror(errno));
	n->offloads_set = true;
}

/* Copies the pending frame into guest chains. Returns 1 when delivered,
 * 0 when the guest has not enough buffers yet, -1 when it broke the ring. */
static int deliver_frame(struct vnet *n)
{
	struct vq *q = &n->dev.queues[RXQ];
	bool merge = vdev_has_feature(&n->dev, F_MRG_RXBUF);
	size_t done = 0;
	uint16_t chains = 0;
	uint8_t *hdr = NULL;
	int ret;

	while (done < n->frame_len) {
		size_t used = 0;
		unsigned i;

		ret = vq_pop(q, &n->dev.vm->mem, &n->chain);
		if (ret <= 0 || (chains && !merge)) {
			vq_unpop(q, (uint16_t)(chains + (ret > 0)));
			q->used_idx -= chains;
			if (ret >
			    0) { /* no merging and one buffer is too small */
				log_debug(
					"virtio-net: %zu-byte frame dropped: the guest's rx buffers are smaller",
					n->frame_len);
				return 1;
			}
			return ret < 0 ? -1 : 0;
		}
		for (i = n->chain.nr_out;
		     i < n->chain.nr_out + n->chain.nr_in &&
		     done < n->frame_len;
		     i++) {
			size_t len = n->chain.iov[i].iov_len;

			if (len > n->frame_len - done)
				len = n->frame_len - done;
			memcpy(n->chain.iov[i].iov_base, n->frame + done, len);
			if (!hdr && len >= VIRTIO_NET_HDR_LEN)
				hdr = n->chain.iov[i].iov_base;
			done += len;
			used += len;
		}
		if (!hdr || vq_fill(q, n->chain.head, (uint32_t)used))
			return -1; /* first buffer shorter than the header */
		chains++;
	}
	memcpy(hdr + NET_NUM_BUFFERS_OFF, &chains, 2);
	vq_flush(q);
	return 1;
}

/* The next frame for the guest, into n->frame: the metadata service's
 * first, then the tap's. false when there is none. */
static bool next_frame(struct vnet *n)
{
	ssize_t got;

	if (n->mmds)
		n->frame_len =
			net_mmds_to_guest(n->mmds, n->frame, sizeof(n->frame));
	if (n->frame_len)
		return true;
	got = read(n->tap_fd, n->frame, sizeof(n->frame));
	if (got < VIRTIO_NET_HDR_LEN)
		return false; /* EAGAIN, or nothing valid */
	n->frame_len = (size_t)got;
	return true;
}

static void rx_process(struct vnet *n)
{
	int ret;

	for (;;) {
		if (!n->frame_len && !next_frame(n))
			break;
		if (!rl_admit(&n->rx_rl)) {
			watch_tap(n, false); /* the rx timer resumes us */
			break;
		}
		ret = deliver_frame(n);
		if (ret < 0) {
			vdev_fail(&n->dev, "bad rx descriptor chain");
			return;
		}
		if (ret == 0) {
			watch_tap(n, false); /* until the guest adds buffers */
			break;
		}
		rl_consume(&n->rx_rl, n->frame_len);
		n->frame_len = 0;
		watch_tap(n, true);
	}
	vdev_notify_used(&n->dev, RXQ);
}

/* One tx chain to the metadata service or, when not for it, to the tap:
 * the bytes taken, or the tap's -1. */
static ssize_t send_frame(struct vnet *n, bool *to_mmds)
{
	size_t len = n->mmds ? net_mmds_from_guest(n->mmds, n->chain.iov,
						   n->chain.nr_out) :
			       0;

	*to_mmds = len > 0;
	if (len)
		return (ssize_t)len;
	return writev(n->tap_fd, n->chain.iov, (int)n->chain.nr_out);
}

/* Sends every chain the guest queued to the metadata service or, when
 * not for it, to the tap; when the tap is full, the chain is given back
 * and retried from the retry timer. */
static void tx_process(struct vnet *n)
{
	struct vq *q = &n->dev.queues[TXQ];
	struct itimerspec retry = { .it_value = { 0, 1000000 } }; /* 1 ms */
	bool answered = false;
	int ret = 0;

	while (rl_admit(&n->tx_rl) &&
	       (ret = vq_pop(q, &n->dev.vm->mem, &n->chain)) > 0) {
		bool to_mmds;
		ssize_t sent = send_frame(n, &to_mmds);

		if (sent < 0 && errno == EAGAIN) {
			vq_unpop(q, 1);
			timerfd_settime(n->retry_fd, 0, &retry, NULL);
			break;
		}
		if (sent < 0)
			log_debug("virtio-net: tap refused a frame: %s",
				  strerror(errno));
		rl_consume(&n->tx_rl, sent > 0 ? (uint64_t)sent : 0);
		answered |= to_mmds;
		if (vq_push(q, n->chain.head, 0)) {
			vdev_fail(&n->dev, "bad tx used ring");
			return;
		}
	}
	if (ret < 0)
		vdev_fail(&n->dev, "bad tx descriptor chain");
	vdev_notify_used(&n->dev, TXQ);
	if (answered && vdev_live(&n->dev))
		rx_process(n); /* the metadata service's answers */
}

static void net_queue_notify(struct vdev *d, unsigned q)
{
	struct vnet *n = d->priv;

	if (!n->offloads_set)
		set_offloads(n);
	if (q == TXQ) {
		tx_process(n);
		return;
	}
	watch_tap(n, true); /* new rx buffers */
	rx_process(n);
}

/* Device reset, on a vCPU thread: no event-loop calls here; the next tap
 * event sees the device inactive and stops watching the tap. */
static void net_reset(struct vdev *d)
{
	struct vnet *n = d->priv;

	n->frame_len = 0;
	n->offloads_set = false;
}

static void net_save(struct vdev *d, uint8_t *own)
{
	struct vnet *n = d->priv;

	rl_save(&n->rx_rl, own);
	rl_save(&n->tx_rl, own + RL_STATE_SIZE);
}

/* Frames the tap holds were sent to the guest that is being replaced: a
 * new device's tap has none (its queue is purged when the last fd goes).
 * Bounded: the host may still be sending. */
static void drop_tap_frames(struct vnet *n)
{
	unsigned i;

	for (i = 0; i < TAP_DRAIN_MAX; i++)
		if (read(n->tap_fd, n->frame, sizeof(n->frame)) < 0 &&
		    errno != EINTR)
			break;
}

/* A restore (a load, or a rewind of a device that ran) leaves the device
 * as one made for the saved state: no frame waiting, none in the tap, the
 * metadata service without connections (the guest's TCP state is the
 * saved one, which knows none of them), the tap not watched until the
 * driver's rx buffers are served (vdev_serve_restored). */
static int net_restore(struct vdev *d, const uint8_t *own)
{
	struct vnet *n = d->priv;

	rl_restore(&n->rx_rl, own);
	rl_restore(&n->tx_rl, own + RL_STATE_SIZE);
	drop_tap_frames(n);
	net_mmds_reset(n->mmds);
	watch_tap(n, false);
	return 0;
}
_Static_assert(2 * RL_STATE_SIZE <= VDEV_OWN_STATE_MAX, "two limiters");

static void net_destroy(struct vdev *d);

static const struct vdev_ops net_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.num_queues = 2,
	.features = net_features,
	.config_rw = net_config_rw,
	.queue_notify = net_queue_notify,
	.reset = net_reset,
	.destroy = net_destroy,
	.save = net_save,
	.restore = net_restore,
};

/* Tap readable, a limiter's tokens back, or the tap has room again. */
static void on_event(void *opaque, uint32_t events)
{
	struct vnet *n = opaque;
	uint64_t count;

	if (read(n->retry_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_debug("virtio-net: retry timer: %s", strerror(errno));
	pthread_mutex_lock(&n->dev.lock);
	if (n->rx_rl.timer_fd >= 0)
		rl_timer_fired(&n->rx_rl);
	if (n->tx_rl.timer_fd >= 0)
		rl_timer_fired(&n->tx_rl);
	if (vdev_live(&n->dev)) {
		tx_process(n);
		rx_process(n);
	} else {
		watch_tap(n, false);
	}
	pthread_mutex_unlock(&n->dev.lock);
}

static int open_tap(struct vnet *n, const char *name)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int hdr = VIRTIO_NET_HDR_LEN;

	n->tap_fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (n->tap_fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(n->tap_fd, TUNSETIFF, &ifr) < 0 ||
	    ioctl(n->tap_fd, TUNSETVNETHDRSZ, &hdr) < 0)
		return -errno;
	return 0;
}

/* The tap takes the MTU the guest is offered, so that the frames the guest
 * sends fit (SIOCSIFMTU needs CAP_NET_ADMIN: without it, a warning). Not
 * on a warm load: its seccomp filter has no SIOCSIFMTU, and the restored
 * guest's tap is set up by whoever made it. */
static void set_tap_mtu(const struct vm *vm, const char *name, unsigned mtu)
{
	struct ifreq ifr = { .ifr_mtu = (int)mtu };
	int fd;

	if (!mtu || vm->warm)
		return;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || ioctl(fd, SIOCSIFMTU, &ifr) < 0)
		log_warn("virtio-net: cannot set %s's MTU to %u: %s", name, mtu,
			 strerror(errno));
	if (fd >= 0)
		close(fd);
}

static int watch_fds(struct vm *vm, struct vnet *n)
{
	int ret = evl_add(vm->loop, n->tap_fd, on_event, n);

	if (!ret)
		ret = evl_add(vm->loop, n->retry_fd, on_event, n);
	if (!ret && n->rx_rl.timer_fd >= 0)
		ret = evl_add(vm->loop, n->rx_rl.timer_fd, on_event, n);
	if (!ret && n->tx_rl.timer_fd >= 0)
		ret = evl_add(vm->loop, n->tx_rl.timer_fd, on_event, n);
	n->tap_watched = true;
	if (!ret)
		watch_tap(n, false); /* until the driver posts rx buffers */
	return ret;
}

int vnet_create(struct vm *vm, const struct net_cfg *cfg)
{
	struct vnet *n = calloc(1, sizeof(*n));
	int ret;

	if (!n)
		return -ENOMEM;
	n->loop = vm->loop;
	n->tap_fd = n->retry_fd = n->rx_rl.timer_fd = n->tx_rl.timer_fd = -1;
	vdev_preinit(&n->dev);
	n->dev.priv = n;
	snprintf(n->iface_id, sizeof(n->iface_id), "%s", cfg->id);
	n->has_mac = cfg->has_mac;
	memcpy(n->mac, cfg->mac, 6);
	n->mtu = (uint16_t)cfg->mtu;
	ret = open_tap(n, cfg->host_dev);
	if (!ret)
		set_tap_mtu(vm, cfg->host_dev, cfg->mtu);
	if (!ret)
		ret = rl_init(&n->rx_rl, &cfg->rx);
	if (!ret)
		ret = rl_init(&n->tx_rl, &cfg->tx);
	n->retry_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!ret && n->retry_fd < 0)
		ret = -errno;
	if (!ret)
		ret = watch_fds(vm, n);
	if (!ret)
		ret = vdev_attach(vm, &n->dev, &net_ops, n, n->iface_id);
	if (ret)
		net_destroy(&n->dev);
	return ret;
}

int vnet_enable_mmds(struct vdev *d, struct mmds *m, uint32_t ipv4)
{
	struct vnet *n = d->priv;

	return net_mmds_create(m, ipv4, n->loop, on_event, n, &n->mmds);
}

int vnet_update(struct vdev *d, const struct net_patch *p)
{
	struct vnet *n = d->priv;
	int ret = rl_check_update(&n->rx_rl, &p->rx);

	if (!ret)
		ret = rl_check_update(&n->tx_rl, &p->tx);
	if (ret)
		return ret;
	pthread_mutex_lock(&n->dev.lock);
	rl_update(&n->rx_rl, &p->rx);
	rl_update(&n->tx_rl, &p->tx);
	if (vdev_live(&n->dev)) { /* a looser limit frees waiting frames */
		tx_process(n);
		rx_process(n);
	}
	pthread_mutex_unlock(&n->dev.lock);
	return 0;
}

static void net_destroy(struct vdev *d)
{
	struct vnet *n = d->priv;
	int *fds[] = { &n->tap_fd, &n->retry_fd, &n->rx_rl.timer_fd,
		       &n->tx_rl.timer_fd };
	unsigned i;

	vdev_detach(&n->dev);
	net_mmds_destroy(n->mmds);
	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] < 0)
			continue;
		evl_remove(n->loop, *fds[i]);
		close(*fds[i]);
		*fds[i] = -1;
	}
	free(n);
}

static int add_nets(struct vm *vm, const struct vm_config *cfg)
{
	unsigned i;
	int ret = 0;

	for (i = 0; i < cfg->nr_nets && !ret; i++) {
		ret = vnet_create(vm, &cfg->nets[i]);
		if (!ret && config_mmds_iface(&cfg->mmds, cfg->nets[i].id))
			ret = vnet_enable_mmds(vm->vdevs[vm->nr_vdevs - 1],
					       vm->mmds, cfg->mmds.ipv4);
		if (ret)
			snprintf(vm->err, sizeof(vm->err),
				 "network interface '%s' (tap %s): %s",
				 cfg->nets[i].id, cfg->nets[i].host_dev,
				 strerror(-ret));
	}
	return ret;
}

const struct vdev_kind vnet_kind = { add_nets };

// SPDX-License-Identifier: Apache-2.0
/* virtio-net's detour to the metadata service, on an interface the MMDS
 * config lists: each frame the guest sends goes to the MMDS stack first
 * (what it consumes never reaches the tap), and the frames the stack
 * answers go to the guest's rx queue ahead of the tap's (net.c). A timerfd
 * on the VMM loop, armed for the stack's next deadline, brings its
 * retransmissions. Nothing here blocks. VMM thread. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "mmds/mmds.h"
#include "virtio/virtio.h"

#define VNET_F_NEEDS_CSUM 1 /* virtio_net_hdr_v1.flags */
#define TX_FRAME_MAX (65536 + VIRTIO_NET_HDR_LEN)

struct net_mmds {
	struct mmds_stack *stack;
	struct event_loop *loop;
	int timer_fd;
	uint64_t armed_at; /* the timer's expiry, UINT64_MAX: disarmed */
	evl_fn wake;
	void *opaque;
	uint8_t tx[TX_FRAME_MAX]; /* a guest frame, header first */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The timer follows the stack's next deadline (a system call only when
 * that changed). */
static void arm_timer(struct net_mmds *nm)
{
	uint64_t at = mmds_stack_deadline(nm->stack);
	struct itimerspec t = { 0 };

	if (at == nm->armed_at)
		return;
	nm->armed_at = at;
	if (at != UINT64_MAX) {
		at = at ? at : 1; /* all zeros would disarm it */
		t.it_value.tv_sec = (time_t)(at / 1000);
		t.it_value.tv_nsec = (long)(at % 1000) * 1000000;
	}
	timerfd_settime(nm->timer_fd, TFD_TIMER_ABSTIME, &t, NULL);
}

static void on_timer(void *opaque, uint32_t events)
{
	struct net_mmds *nm = opaque;
	uint64_t n;

	if (read(nm->timer_fd, &n, sizeof(n)) != sizeof(n))
		return; /* re-armed since it fired */
	nm->armed_at = UINT64_MAX; /* a one-shot timer */
	nm->wake(nm->opaque, events); /* net.c pulls the stack's frames */
}

int net_mmds_create(struct mmds *m, uint32_t ipv4, struct event_loop *loop,
		    evl_fn wake, void *opaque, struct net_mmds **out)
{
	struct net_mmds *nm = calloc(1, sizeof(*nm));
	int ret;

	*out = nm;
	if (!nm)
		return -ENOMEM;
	nm->loop = loop;
	nm->armed_at = UINT64_MAX;
	nm->wake = wake;
	nm->opaque = opaque;
	nm->stack = mmds_stack_create(m, ipv4);
	nm->timer_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!nm->stack || nm->timer_fd < 0)
		return -errno;
	ret = evl_add(loop, nm->timer_fd, on_timer, nm);
	if (ret) {
		close(nm->timer_fd);
		nm->timer_fd = -1;
	}
	return ret;
}

void net_mmds_destroy(struct net_mmds *nm)
{
	if (!nm)
		return;
	if (nm->timer_fd >= 0) {
		evl_remove(nm->loop, nm->timer_fd);
		close(nm->timer_fd);
	}
	mmds_stack_destroy(nm->stack);
	free(nm);
}

void net_mmds_reset(struct net_mmds *nm)
{
	if (!nm)
		return;
	mmds_stack_reset(nm->stack);
	arm_timer(nm);
}

size_t net_mmds_from_guest(struct net_mmds *nm, const struct iovec *iov,
			   unsigned n)
{
	size_t len = 0, i;

	for (i = 0; i < n; i++)
		len += iov[i].iov_len;
	if (len <= VIRTIO_NET_HDR_LEN || len > sizeof(nm->tx))
		return 0; /* no frame, or larger than any for the MMDS */
	iov_copy(iov, n, 0, nm->tx, len, false);
	if (!mmds_stack_from_guest(nm->stack, nm->tx + VIRTIO_NET_HDR_LEN,
				   len - VIRTIO_NET_HDR_LEN,
				   nm->tx[0] & VNET_F_NEEDS_CSUM, now_ms()))
		return 0;
	arm_timer(nm);
	return len;
}

size_t net_mmds_to_guest(struct net_mmds *nm, uint8_t *buf, size_t cap)
{
	size_t len;

	if (cap < VIRTIO_NET_HDR_LEN + MMDS_FRAME_MAX)
		return 0;
	len = mmds_stack_to_guest(nm->stack, buf + VIRTIO_NET_HDR_LEN,
				  cap - VIRTIO_NET_HDR_LEN, now_ms());
	arm_timer(nm);
	if (!len)
		return 0;
	memset(buf, 0, VIRTIO_NET_HDR_LEN); /* no offload; checksums complete */
	return VIRTIO_NET_HDR_LEN + len;
}

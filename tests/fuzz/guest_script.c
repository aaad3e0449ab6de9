// SPDX-License-Identifier: Apache-2.0
/* The device fuzzers' script interpreter (guest_script.h). */
#include <errno.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/timerfd.h>

#include "tests/fuzz/guest_script.h"
#include "tests/harness/guest.h"

enum {
	WRITE,
	READ,
	INIT,
	QUEUE,
	DESC,
	AVAIL,
	KICK,
	MEM,
	HOST,
	SERVE,
	SNAP,
	CHAIN,
	NR_OPS
};

#define PAGE_SIZE 4096

struct input {
	const uint8_t *p;
	size_t left;
};

static uint32_t take(struct input *in, unsigned bytes)
{
	uint32_t v = 0;
	unsigned i;

	for (i = 0; i < bytes && in->left; i++, in->left--)
		v |= (uint32_t)*in->p++ << (8 * i);
	return v;
}

static uint8_t *queue_area(unsigned q)
{
	return guest.vm.mem.host + QUEUES + (q % VDEV_MAX_QUEUES) * 0x1000;
}

static void op_queue(struct input *in)
{
	guest_reg_write(R_QUEUE_SEL, take(in, 1));
	guest_reg_write(R_QUEUE_NUM, take(in, 2));
	guest_reg_write(R_QUEUE_DESC_LO, take(in, 4));
	guest_reg_write(R_QUEUE_DRIVER_LO, take(in, 4));
	guest_reg_write(R_QUEUE_DEVICE_LO, take(in, 4));
	guest_reg_write(R_QUEUE_READY, take(in, 1));
}

static void op_desc(struct input *in)
{
	uint8_t *table = queue_area(take(in, 1));
	unsigned i = take(in, 1);
	struct {
		uint64_t addr;
		uint32_t len;
		uint16_t flags, next;
	} d;

	d.addr = take(in, 4);
	d.len = take(in, 4);
	d.flags = (uint16_t)take(in, 2);
	d.next = (uint16_t)take(in, 2);
	memcpy(table + i * sizeof(d), &d, sizeof(d)); /* i < 256: in the area */
}

static void op_avail(struct input *in)
{
	uint8_t *avail = queue_area(take(in, 1)) + AVAIL_OFF;
	uint16_t head = (uint16_t)take(in, 2), idx;

	memcpy(&idx, avail + 2, 2);
	memcpy(avail + 4 + 2 * (idx % QSIZE), &head, 2);
	idx++;
	memcpy(avail + 2, &idx, 2);
}

static void op_mem(struct input *in)
{
	uint32_t gpa = take(in, 4) % SCRIPT_MEM;
	size_t n = take(in, 1);

	n = n < in->left ? n : in->left;
	n = n < SCRIPT_MEM - gpa ? n : SCRIPT_MEM - gpa;
	memcpy(guest.vm.mem.host + gpa, in->p, n);
	in->p += n;
	in->left -= n;
}

static void op_chain(struct input *in)
{
	unsigned q = take(in, 1) % VDEV_MAX_QUEUES, n = take(in, 1) % 4, i;
	struct seg segs[3];

	for (i = 0; i < n; i++) {
		uint32_t len = take(in, 2);

		segs[i] = (struct seg){ NULL, len % (BUF_SIZE + 1), 0 };
		if (take(in, 1) & 1)
			continue; /* device-writable */
		segs[i].len = (uint32_t)(segs[i].len < in->left ? segs[i].len :
								  in->left);
		segs[i].data = in->p;
		in->p += segs[i].len;
		in->left -= segs[i].len;
	}
	if (n)
		guest_post_chain(q, segs, n);
}

static void step(const struct script_dev *dev, struct input *in)
{
	uint8_t op = (uint8_t)(take(in, 1) % NR_OPS), kind;

	switch (op) {
	case WRITE:
		guest_reg_write(take(in, 2) % 0x200, take(in, 4));
		break;
	case READ:
		guest_reg_read(take(in, 2) % 0x200);
		break;
	case INIT:
		kind = (uint8_t)take(in, 1);
		guest_driver_init(dev->nr_queues, kind, take(in, 4));
		break;
	case QUEUE:
		op_queue(in);
		break;
	case DESC:
		op_desc(in);
		break;
	case AVAIL:
		op_avail(in);
		break;
	case KICK:
		guest_kick(take(in, 1));
		break;
	case MEM:
		op_mem(in);
		break;
	case HOST:
		kind = (uint8_t)take(in, 1);
		if (dev->host)
			dev->host(kind, (uint16_t)take(in, 2));
		break;
	case SERVE:
		guest_serve(0);
		break;
	case SNAP:
		kind = (uint8_t)take(in, 1);
		guest_snapshot_cycle(kind, (uint8_t)take(in, 1));
		break;
	default:
		op_chain(in);
		break;
	}
}

/* A device kept for later inputs (script_life). */
#define MAX_TIMERS 4
struct kept {
	bool live;
	uint8_t cfg;
	unsigned slot;
	struct vdev_state fresh; /* vdev_save's, right after creation */
	int timer[MAX_TIMERS]; /* the timerfds it watched once created */
	struct itimerspec timer_at_create[MAX_TIMERS];
	unsigned nr_timers;
};
static struct kept kept[256]; /* by config byte & cfg_mask */

/* Guest RAM as a fresh guest has it: all zero. Every page is compared
 * with zeros and cleared when it differs, so whatever wrote it during the
 * last input (the script, the device, the kernel through io_uring or a
 * socket) nothing of it is left, and no page is written otherwise:
 * cheaper than madvise(MADV_DONTNEED), whose TLB flushes and the page
 * faults after it took most of an input's time. */
static void zero_guest_ram(void)
{
	static const uint8_t zero[PAGE_SIZE];
	uint8_t *page = guest.vm.mem.host;
	size_t off;

	for (off = 0; off < SCRIPT_MEM; off += PAGE_SIZE)
		if (memcmp(page + off, zero, PAGE_SIZE))
			memset(page + off, 0, PAGE_SIZE);
}

/* The event sources a device added are the loop's slots that were free
 * before it was created; its timers are those timerfd_gettime accepts. */
static void note_timers(struct kept *k, const bool *was_used)
{
	unsigned i;

	k->nr_timers = 0;
	for (i = 0; i < EVL_MAX_SOURCES && k->nr_timers < MAX_TIMERS; i++) {
		int fd = guest.loop.sources[i].fd;

		if (fd >= 0 && !was_used[i] &&
		    timerfd_gettime(fd, &k->timer_at_create[k->nr_timers]) == 0)
			k->timer[k->nr_timers++] = fd;
	}
}

static void create(const struct script_dev *dev, struct kept *k, uint8_t cfg)
{
	bool was_used[EVL_MAX_SOURCES];
	unsigned i;

	if (guest.vm.nr_vdevs == VIRTIO_MAX_DEVICES) {
		guest_remove_devices(); /* more configs than slots */
		memset(kept, 0, sizeof(kept));
	}
	for (i = 0; i < EVL_MAX_SOURCES; i++)
		was_used[i] = guest.loop.sources[i].fd >= 0;
	if (dev->create(cfg))
		abort();
	k->live = true;
	k->cfg = cfg;
	k->slot = guest.vm.nr_vdevs - 1;
	guest_select(k->slot);
	vdev_save(guest.vm.vdevs[k->slot], &k->fresh);
	note_timers(k, was_used);
}

/* The device this input drives, created unless one is kept for it. */
static struct kept *device_for(const struct script_dev *dev, struct input *in)
{
	uint8_t cfg = dev->cfg_mask ? (uint8_t)take(in, 1) : 0;
	struct kept *k = &kept[cfg & dev->cfg_mask];

	if (!k->live)
		create(dev, k, cfg);
	guest_select(k->slot);
	return k;
}

static bool periodic(const struct itimerspec *t)
{
	return t->it_interval.tv_sec || t->it_interval.tv_nsec;
}

static bool armed(const struct itimerspec *t)
{
	return t->it_value.tv_sec || t->it_value.tv_nsec;
}

/* A timer as it was when the device was created: a periodic one with the
 * same period, a one-shot one disarmed with no expiry unread. */
static bool timer_as_created(const struct kept *k, unsigned i)
{
	const struct itimerspec *then = &k->timer_at_create[i];
	struct itimerspec now;
	struct pollfd expired = { .fd = k->timer[i], .events = POLLIN };

	if (timerfd_gettime(k->timer[i], &now) ||
	    memcmp(&now.it_interval, &then->it_interval,
		   sizeof(now.it_interval)))
		return false;
	return periodic(&now) || (!armed(&now) && poll(&expired, 1, 0) == 0);
}

/* Each timer as it was at creation. A periodic one (the balloon's
 * statistics) is set again as it was then, which also drops expiries not
 * read: its next tick comes as long after the next input starts as after
 * a creation. A one-shot one still armed (a rate limiter waiting for its
 * refill) expires now and the loop serves it: the device takes it as it
 * would have later (its limiter waits no more; after the reset nothing is
 * served). */
static void reset_timers(const struct kept *k)
{
	static const struct itimerspec soon = { .it_value = { 0, 1 } };
	struct itimerspec t;
	unsigned i, rounds;
	bool waiting = false;

	for (i = 0; i < k->nr_timers; i++) {
		if (timerfd_gettime(k->timer[i], &t))
			continue;
		if (periodic(&k->timer_at_create[i]))
			timerfd_settime(k->timer[i], 0, &k->timer_at_create[i],
					NULL);
		else if (armed(&t))
			waiting |=
				!timerfd_settime(k->timer[i], 0, &soon, NULL);
	}
	for (rounds = 0; waiting && rounds < 8; rounds++) {
		guest_serve(1);
		for (i = 0, waiting = false; i < k->nr_timers; i++)
			waiting |= !timer_as_created(k, i);
	}
}

/* After the driver's reset and end(): the device back in the state it
 * was created in, or all devices dropped. vdev_restore of the state saved
 * at creation is a rewind (virtio.h): it finishes in-flight requests
 * (io_uring included), closes host connections and sets every register,
 * every queue and the device's own saved state (rate-limiter buckets, the
 * balloon's config space and hinting ids, ...) as they were. The rest was
 * put back by end() (a drive's bytes, a PATCHed limiter or stats
 * interval, host sockets) or is checked here: each of the device's timers
 * must be as created (reset_timers), else every device is destroyed, so
 * that no device state ever reaches the next input (nor looks like a leak
 * to libFuzzer's leak check). Guest RAM is zeroed before each input
 * (zero_guest_ram). */
static void keep_or_drop(const struct script_dev *dev, struct kept *k)
{
	struct vdev *d = guest.vm.vdevs[k->slot];
	unsigned i;

	if (dev->life == FRESH) {
		guest_remove_devices();
		k->live = false;
		return;
	}
	reset_timers(k);
	if (vdev_restore(d, &k->fresh))
		abort(); /* a state it saved itself */
	for (i = 0; i < k->nr_timers; i++)
		if (!timer_as_created(k, i))
			break;
	if (i < k->nr_timers) {
		guest_remove_devices();
		memset(kept, 0, sizeof(kept));
	}
}

void script_run(const struct script_dev *dev, const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct kept *k;

	if (!guest.vm.mem.host) {
		const struct logger_cfg quiet = { .has_level = true,
						  .level = LOG_OFF };

		if (log_configure(&quiet) || guest_init(SCRIPT_MEM) ||
		    atexit(guest_fini))
			abort();
	}
	zero_guest_ram();
	k = device_for(dev, &in);
	while (in.left)
		step(dev, &in);
	guest_reg_write(R_STATUS, 0);
	if (dev->end)
		dev->end(k->cfg);
	keep_or_drop(dev, k);
}

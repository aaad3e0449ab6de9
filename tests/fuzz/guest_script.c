// SPDX-License-Identifier: Apache-2.0
/* The device fuzzers' script interpreter (guest_script.h). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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

void script_run(const struct script_dev *dev, const uint8_t *data, size_t size)
{
	struct input in = { data, size };

	if (!guest.vm.mem.host) {
		const struct logger_cfg quiet = { .has_level = true,
						  .level = LOG_OFF };

		if (log_configure(&quiet) || guest_init(SCRIPT_MEM) ||
		    atexit(guest_fini))
			abort();
	}
	/* zero pages again (only those the last input touched were not) */
	if (madvise(guest.vm.mem.host, SCRIPT_MEM, MADV_DONTNEED))
		abort();
	if (!guest.vm.nr_vdevs && dev->create((uint8_t)take(&in, 1)))
		abort();
	while (in.left)
		step(dev, &in);
	guest_reg_write(R_STATUS, 0);
	if (dev->end)
		dev->end();
	if (!dev->keep)
		guest_remove_devices();
}

// SPDX-License-Identifier: Apache-2.0
/* Split virtqueues (virtio 1.x, 2.6): descriptor table, available ring,
 * used ring. Every index and address the guest gives is checked; a broken
 * chain is an error the transport turns into DEVICE_NEEDS_RESET.
 * VMM thread only. */
#include <errno.h>
#include <string.h>

#include "virtio/virtio.h"

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static uint16_t load16(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)(const void *)p,
			       __ATOMIC_ACQUIRE);
}

static void store16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, v, __ATOMIC_RELEASE);
}

void vq_reset(struct vq *q)
{
	memset(q, 0, sizeof(*q));
}

int vq_map(struct vq *q, const struct guest_mem *mem)
{
	uint64_t n = q->size;

	if (!n || n > VQ_MAX_SIZE || (n & (n - 1)))
		return -EINVAL;
	if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3))
		return -EINVAL;
	q->desc = gmem_ptr(mem, q->desc_gpa, 16 * n);
	q->avail = gmem_ptr(mem, q->avail_gpa, 6 + 2 * n);
	q->used = gmem_ptr(mem, q->used_gpa, 6 + 8 * n);
	if (!q->desc || !q->avail || !q->used)
		return -EFAULT;
	return 0;
}

int vq_activate(struct vq *q, const struct guest_mem *mem)
{
	int ret = vq_map(q, mem);

	if (!ret)
		q->last_avail = q->used_idx = q->signalled_used = 0;
	return ret;
}

/* Adds one buffer to the chain, enforcing readable-before-writable. */
static int add_buffer(const struct guest_mem *mem, struct vq_chain *c,
		      const struct vring_desc *d)
{
	void *p;

	if (d->len == 0)
		return -EINVAL;
	p = gmem_ptr(mem, d->addr, d->len);
	if (!p)
		return -EFAULT;
	if (d->flags & VRING_DESC_F_WRITE) {
		gmem_mark_dirty(mem, p, d->len); /* for diff snapshots */
		c->nr_in++;
		c->in_len += d->len;
	} else if (c->nr_in) {
		return -EINVAL; /* readable after writable */
	} else {
		c->nr_out++;
	}
	c->iov[c->nr_out + c->nr_in - 1] =
		(struct iovec){ .iov_base = p, .iov_len = d->len };
	return 0;
}

/* Switches the walk to an indirect table; returns its entry count. */
static int enter_indirect(const struct vq *q, const struct guest_mem *mem,
			  const struct vring_desc *d, const uint8_t **table)
{
	if (!q->indirect || (d->flags & VRING_DESC_F_NEXT) || d->len == 0 ||
	    d->len % sizeof(*d) || d->len / sizeof(*d) > VQ_MAX_SIZE)
		return -EINVAL;
	*table = gmem_ptr(mem, d->addr, d->len);
	return *table ? (int)(d->len / sizeof(*d)) : -EFAULT;
}

static int walk_chain(const struct vq *q, const struct guest_mem *mem,
		      struct vq_chain *c)
{
	const uint8_t *table = q->desc;
	unsigned max = q->size, idx = c->head, seen = 0;
	bool indirect = false;
	struct vring_desc d;
	int ret;

	for (;;) {
		if (idx >= max || seen++ >= max)
			return -EINVAL; /* out of range, or a loop */
		memcpy(&d, table + idx * sizeof(d), sizeof(d));
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (indirect || seen > 1)
				return -EINVAL; /* nested, or not alone */
			ret = enter_indirect(q, mem, &d, &table);
			if (ret < 0)
				return ret;
			max = (unsigned)ret;
			indirect = true;
			idx = seen = 0;
			continue;
		}
		ret = add_buffer(mem, c, &d);
		if (ret)
			return ret;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		idx = d.next;
	}
}

/* The ring looks empty. With EVENT_IDX the driver kicks only if it sees
 * avail_event at the chain it adds: publish avail_event, fence (x86 too
 * may order a store after a later load), and read the index again. A
 * chain added meanwhile then shows here, or its driver sees avail_event
 * and kicks. The avail index now, as in vq_pop. */
static uint16_t avail_after_asking_for_a_kick(struct vq *q)
{
	store16(q->used + 4 + 8 * q->size, q->last_avail);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load16(q->avail + 2);
}

int vq_pop(struct vq *q, const struct guest_mem *mem, struct vq_chain *chain)
{
	uint16_t avail_idx = load16(q->avail + 2);
	int ret;

	if (avail_idx == q->last_avail && q->event_idx)
		avail_idx = avail_after_asking_for_a_kick(q);
	if (avail_idx == q->last_avail)
		return 0;
	if ((uint16_t)(avail_idx - q->last_avail) > q->size)
		return -EINVAL; /* the guest claims more than the ring holds */
	chain->head = load16(q->avail + 4 + 2 * (q->last_avail % q->size));
	chain->nr_out = chain->nr_in = 0;
	chain->in_len = 0;
	ret = walk_chain(q, mem, chain);
	if (ret)
		return ret;
	q->last_avail++;
	if (q->event_idx) /* avail_event: kick us for every new chain */
		store16(q->used + 4 + 8 * q->size, q->last_avail);
	return 1;
}

void vq_kick_on_next_avail(struct vq *q)
{
	if (q->event_idx)
		store16(q->used + 4 + 8 * q->size, load16(q->avail + 2));
}

int vq_fill(struct vq *q, uint16_t head, uint32_t len)
{
	uint8_t *elem = q->used + 4 + 8 * (q->used_idx % q->size);
	uint32_t id = head;

	if (head >= q->size)
		return -EFAULT;
	memcpy(elem, &id, 4);
	memcpy(elem + 4, &len, 4);
	q->used_idx++;
	return 0;
}

void vq_flush(struct vq *q)
{
	store16(q->used + 2, q->used_idx);
}

int vq_push(struct vq *q, uint16_t head, uint32_t len)
{
	int ret = vq_fill(q, head, len);

	if (!ret)
		vq_flush(q);
	return ret;
}

void vq_unpop(struct vq *q, uint16_t n)
{
	q->last_avail -= n;
}

bool vq_needs_interrupt(struct vq *q)
{
	uint16_t old = q->signalled_used, now = q->used_idx, event;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	q->signalled_used = now;
	if (!q->event_idx)
		return !(load16(q->avail) & VRING_AVAIL_F_NO_INTERRUPT);
	event = load16(q->avail + 4 + 2 * q->size); /* used_event */
	return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

size_t iov_copy(const struct iovec *iov, unsigned n, size_t off, void *buf,
		size_t len, bool to_iov)
{
	size_t done = 0;
	unsigned i;

	for (i = 0; i < n && done < len; i++) {
		size_t chunk;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		chunk = iov[i].iov_len - off;
		if (chunk > len - done)
			chunk = len - done;
		if (to_iov)
			memcpy((uint8_t *)iov[i].iov_base + off,
			       (uint8_t *)buf + done, chunk);
		else
			memcpy((uint8_t *)buf + done,
			       (uint8_t *)iov[i].iov_base + off, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

unsigned iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len,
		   struct iovec *out)
{
	unsigned i, k = 0;

	for (i = 0; i < n && len; i++) {
		size_t chunk;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		chunk = iov[i].iov_len - off;
		if (chunk > len)
			chunk = len;
		out[k].iov_base = (uint8_t *)iov[i].iov_base + off;
		out[k++].iov_len = chunk;
		len -= chunk;
		off = 0;
	}
	return k;
}

// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: descriptor-chain walking. The input is the guest's
 * memory (descriptor table, rings, indirect tables); the queue pops and
 * pushes until the ring is empty or broken. ASan checks that no access
 * leaves guest memory. */
#include <string.h>

#include "virtio/virtio.h"

#define FUZZ_MEM (64 * 1024)
#define QSIZE 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_mem mem;
	static struct vq_chain chain;
	struct vq q;
	int i;

	if (!mem.host && gmem_create(&mem, FUZZ_MEM, false))
		return 0;
	memset(mem.host, 0, FUZZ_MEM);
	memcpy(mem.host, data, size < FUZZ_MEM ? size : FUZZ_MEM);
	vq_reset(&q);
	q.size = QSIZE;
	q.desc_gpa = 0;
	q.avail_gpa = 0x100;
	q.used_gpa = 0x200;
	q.indirect = size & 1;
	q.event_idx = size & 2;
	if (vq_activate(&q, &mem))
		return 0;
	for (i = 0; i < 2 * QSIZE; i++) {
		if (vq_pop(&q, &mem, &chain) <= 0)
			break;
		if (vq_push(&q, chain.head, (uint32_t)chain.in_len))
			break;
		vq_needs_interrupt(&q);
	}
	return 0;
}

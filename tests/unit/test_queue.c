// SPDX-License-Identifier: Apache-2.0
/* Split virtqueues against a fake guest: well-formed chains, and every
 * way a hostile driver can break one. A broken chain is an error (the
 * transport then resets the device), never a crash or an access outside
 * guest memory (ASan checks that under `make SAN=1 check`). */
#include "tests/unit/unit.h"
#include "virtio/virtio.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define QSIZE 8
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define DATA 0x10000
#define MEM (1 * MIB)
#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4

static struct guest_mem mem;
static struct vq q;
static struct vq_chain chain;

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static void set_desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct desc d = { addr, len, flags, next };

	memcpy(mem.host + table + i * sizeof(d), &d, sizeof(d));
}

/* Publishes head as the next available chain. */
static void offer(uint16_t head)
{
	uint16_t idx;

	memcpy(&idx, mem.host + AVAIL + 2, 2);
	memcpy(mem.host + AVAIL + 4 + 2 * (idx % QSIZE), &head, 2);
	idx++;
	memcpy(mem.host + AVAIL + 2, &idx, 2);
}

static int setup(void **state)
{
	if (gmem_create(&mem, MEM, false))
		return -1;
	vq_reset(&q);
	q.size = QSIZE;
	q.ready = true;
	q.desc_gpa = DESC;
	q.avail_gpa = AVAIL;
	q.used_gpa = USED;
	q.indirect = true;
	return vq_activate(&q, &mem);
}

static int teardown(void **state)
{
	gmem_destroy(&mem);
	return 0;
}

static void test_well_formed_chain(void **state)
{
	uint16_t used_idx;
	uint32_t elem[2];

	set_desc(DESC, 0, DATA, 16, F_NEXT, 1);
	set_desc(DESC, 1, DATA + 16, 512, F_NEXT | F_WRITE, 2);
	set_desc(DESC, 2, DATA + 528, 1, F_WRITE, 0);
	offer(0);
	assert_int_equal(vq_pop(&q, &mem, &chain), 1);
	assert_int_equal(chain.head, 0);
	assert_int_equal(chain.nr_out, 1);
	assert_int_equal(chain.nr_in, 2);
	assert_int_equal(chain.in_len, 513);
	assert_ptr_equal(chain.iov[1].iov_base, mem.host + DATA + 16);
	assert_int_equal(vq_pop(&q, &mem, &chain), 0); /* empty now */
	assert_int_equal(vq_push(&q, 0, 513), 0);
	memcpy(&used_idx, mem.host + USED + 2, 2);
	memcpy(elem, mem.host + USED + 4, 8);
	assert_int_equal(used_idx, 1);
	assert_int_equal(elem[0], 0);
	assert_int_equal(elem[1], 513);
	assert_true(vq_needs_interrupt(&q));
	assert_int_equal(vq_push(&q, QSIZE, 1), -EFAULT); /* bad head */
}

static void test_indirect_chain(void **state)
{
	uint64_t table = DATA + 0x1000;

	set_desc(table, 0, DATA, 16, F_NEXT, 1);
	set_desc(table, 1, DATA + 16, 1, F_WRITE, 0);
	set_desc(DESC, 3, table, 2 * sizeof(struct desc), F_INDIRECT, 0);
	offer(3);
	assert_int_equal(vq_pop(&q, &mem, &chain), 1);
	assert_int_equal(chain.nr_out, 1);
	assert_int_equal(chain.nr_in, 1);
}

/* Offers a chain starting at head and expects vq_pop to refuse it. */
static void refuses(uint16_t head, const char *what)
{
	int ret;

	offer(head);
	ret = vq_pop(&q, &mem, &chain);
	if (ret >= 0)
		fail_msg("%s: accepted (%d)", what, ret);
	q.last_avail++; /* the transport would reset; skip it here */
}

static void test_hostile_chains(void **state)
{
	uint64_t table = DATA + 0x2000;

	set_desc(DESC, 0, DATA, 16, F_NEXT, 0); /* points at itself */
	refuses(0, "loop");
	set_desc(DESC, 0, DATA, 16, F_NEXT, 1);
	set_desc(DESC, 1, DATA, 16, F_NEXT, 0); /* 0 -> 1 -> 0 */
	refuses(0, "two-element loop");
	set_desc(DESC, 0, DATA, 16, F_NEXT, QSIZE); /* next out of range */
	refuses(0, "next out of range");
	refuses(QSIZE + 3, "head out of range");
	set_desc(DESC, 0, MEM - 8, 16, 0, 0); /* runs past the end of RAM */
	refuses(0, "buffer past the end of memory");
	set_desc(DESC, 0, UINT64_MAX - 4, 16, 0, 0);
	refuses(0, "address overflow");
	set_desc(DESC, 0, DATA, 0, 0, 0);
	refuses(0, "zero-length buffer");
	set_desc(DESC, 0, DATA, 16, F_WRITE | F_NEXT, 1);
	set_desc(DESC, 1, DATA, 16, 0, 0); /* readable after writable */
	refuses(0, "wrong direction order");
	set_desc(table, 0, DATA, 16, F_INDIRECT, 0);
	set_desc(DESC, 0, table, 16, F_INDIRECT, 0);
	refuses(0, "indirect inside indirect");
	set_desc(DESC, 0, table, 15, F_INDIRECT, 0);
	refuses(0, "indirect table of a partial descriptor");
	set_desc(DESC, 0, MEM - 16, 64, F_INDIRECT, 0);
	refuses(0, "indirect table outside memory");
	set_desc(DESC, 0, table, 16, F_INDIRECT | F_NEXT, 1);
	refuses(0, "indirect with NEXT");
	set_desc(table, 0, DATA, 16, F_NEXT, 0);
	set_desc(DESC, 0, table, 16, F_INDIRECT, 0);
	refuses(0, "loop inside an indirect table");
}

static void test_bogus_avail_index(void **state)
{
	uint16_t idx = (uint16_t)(q.last_avail + QSIZE + 1);

	memcpy(mem.host + AVAIL + 2, &idx, 2); /* claims 9 entries in 8 */
	assert_int_equal(vq_pop(&q, &mem, &chain), -EINVAL);
}

static void test_ring_layout_checked(void **state)
{
	struct vq bad = q;

	bad.size = 3; /* not a power of two */
	assert_int_equal(vq_activate(&bad, &mem), -EINVAL);
	bad = q;
	bad.size = VQ_MAX_SIZE * 2;
	assert_int_equal(vq_activate(&bad, &mem), -EINVAL);
	bad = q;
	bad.desc_gpa = DESC + 8; /* misaligned */
	assert_int_equal(vq_activate(&bad, &mem), -EINVAL);
	bad = q;
	bad.used_gpa = MEM - 16; /* used ring past the end */
	assert_int_equal(vq_activate(&bad, &mem), -EFAULT);
}

/* EVENT_IDX from both sides at once, as a guest's driver and the VMM
 * thread run: the driver (this thread) publishes chains and kicks only
 * when avail_event asks for it, Linux's way; the device (a second thread)
 * waits for kicks and pops. A device that reads the ring empty before its
 * avail_event is visible to the driver misses a kick for good (x86 may
 * order a store after a later load): the ring fills and nothing moves. */
#define RACE_CHAINS 200000
#define STALL_S 3

static int kick_fd;
static volatile bool race_done;

static void *race_device(void *arg)
{
	struct vq_chain c;
	uint64_t n;

	while (!race_done) {
		struct pollfd p = { kick_fd, POLLIN, 0 };

		if (poll(&p, 1, 100) <= 0)
			continue;
		if (read(kick_fd, &n, sizeof(n)) < 0)
			continue;
		while (vq_pop(&q, &mem, &c) > 0)
			vq_push(&q, c.head, 0);
	}
	return NULL;
}

static uint16_t race_load16(uint64_t gpa)
{
	return __atomic_load_n((uint16_t *)(void *)(mem.host + gpa),
			       __ATOMIC_ACQUIRE);
}

/* Publishes chain `avail` and kicks when the device asked for it. */
static void race_offer(uint16_t avail, uint64_t *kicks)
{
	uint16_t head = avail % QSIZE, event, one = 1;

	memcpy(mem.host + AVAIL + 4 + 2 * head, &head, 2);
	__atomic_store_n((uint16_t *)(void *)(mem.host + AVAIL + 2),
			 (uint16_t)(avail + 1), __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	event = race_load16(USED + 4 + 8 * QSIZE);
	if ((uint16_t)(avail - event) < one) { /* vring_need_event */
		uint64_t k = 1;

		(*kicks)++;
		assert_int_equal(write(kick_fd, &k, sizeof(k)), sizeof(k));
	}
}

static void test_event_idx_kicks_never_lost(void **state)
{
	pthread_t device;
	uint16_t avail = 0;
	uint64_t kicks = 0;
	time_t waiting = 0;
	unsigned i;

	for (i = 0; i < QSIZE; i++)
		set_desc(DESC, i, DATA + 16 * i, 16, F_WRITE, 0);
	q.event_idx = true;
	kick_fd = eventfd(0, EFD_CLOEXEC);
	assert_true(kick_fd >= 0);
	race_done = false;
	assert_int_equal(pthread_create(&device, NULL, race_device, NULL), 0);
	for (i = 0; i < RACE_CHAINS;) {
		if ((uint16_t)(avail - race_load16(USED + 2)) >= QSIZE) {
			if (!waiting)
				waiting = time(NULL);
			if (time(NULL) - waiting > STALL_S)
				break; /* the ring is full and the device asleep */
			continue;
		}
		waiting = 0;
		race_offer(avail++, &kicks);
		i++;
	}
	race_done = true;
	pthread_join(device, NULL);
	close(kick_fd);
	if (i < RACE_CHAINS)
		fail_msg("a kick was lost after %u chains (%llu kicks)", i,
			 (unsigned long long)kicks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_well_formed_chain, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_indirect_chain, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hostile_chains, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bogus_avail_index, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ring_layout_checked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_event_idx_kicks_never_lost,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

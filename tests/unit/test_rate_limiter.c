// SPDX-License-Identifier: Apache-2.0
/* Token buckets with an explicit clock: rate, burst, overdraft, ops. */
#include <string.h>

#include "config/config.h"
#include "tests/unit/unit.h"
#include "virtio/virtio.h"

#define MS 1000000ULL

static void test_unlimited(void **state)
{
	struct rate_limiter rl;
	struct rate_limiter_cfg cfg = { 0 };

	assert_int_equal(rl_init(&rl, &cfg), 0);
	assert_int_equal(rl.timer_fd, -1);
	rl_consume(&rl, 1ULL << 40);
	assert_true(rl_admit(&rl));
	rl_destroy(&rl);
}

static void test_bandwidth_rate(void **state)
{
	struct rate_limiter rl;
	struct rate_limiter_cfg cfg = { 0 };
	uint64_t t0;

	cfg.bandwidth =
		(struct token_bucket){ true, 1000, 0, 100, true }; /* 10 KB/s */
	assert_int_equal(rl_init(&rl, &cfg), 0);
	assert_true(rl.timer_fd >= 0);
	t0 = rl.bytes.last_ns;
	assert_int_equal(rl_blocked_ns(&rl, t0), 0); /* starts full */
	rl_consume(&rl, 1000);
	/* empty: one token comes back after refill_time / size */
	assert_int_equal(rl_blocked_ns(&rl, t0), 100 * MS / 1000 + 1);
	assert_int_equal(rl_blocked_ns(&rl, t0 + 100 * MS / 1000 + 1), 0);
	/* overdraw: 5000 bytes out of a 1-token bucket means 0.5 s of debt */
	rl_consume(&rl, 5000);
	assert_true(rl_blocked_ns(&rl, t0 + 100 * MS / 1000 + 1) > 490 * MS);
	assert_int_equal(rl_blocked_ns(&rl, t0 + 501 * MS), 0);
	/* never refills beyond size */
	assert_int_equal(rl_blocked_ns(&rl, t0 + 100000 * MS), 0);
	assert_int_equal(rl.bytes.tokens, 1000);
	rl_destroy(&rl);
}

static void test_burst_and_ops(void **state)
{
	struct rate_limiter rl;
	struct rate_limiter_cfg cfg = { 0 };
	uint64_t t0;
	int i;

	cfg.bandwidth = (struct token_bucket){ true, 100, 900, 1000, true };
	cfg.ops = (struct token_bucket){ true, 2, 0, 1000, true }; /* 2 ops/s */
	assert_int_equal(rl_init(&rl, &cfg), 0);
	t0 = rl.bytes.last_ns;
	rl_consume(&rl, 900); /* paid by the one-time burst */
	assert_int_equal(rl.bytes.tokens, 100);
	assert_int_equal(rl_blocked_ns(&rl, t0), 0);
	rl_consume(&rl, 10); /* second op: ops bucket now empty */
	assert_true(rl_blocked_ns(&rl, t0) > 0);
	assert_int_equal(rl_blocked_ns(&rl, t0 + 501 * MS), 0);
	for (i = 0; i < 10; i++)
		rl_consume(&rl, 0);
	assert_true(rl_blocked_ns(&rl, t0 + 501 * MS) >= 4 * 1000 * MS);
	rl_destroy(&rl);
}

/* The longest refill time the API accepts (Firecracker's bound): its
 * nanoseconds fit in 64 bits, and a debt beyond 2^64 ns waits the longest
 * a timer can, never a wrapped-around few nanoseconds (finding 8). */
static void test_longest_refill_time(void **state)
{
	struct rate_limiter rl;
	struct rate_limiter_cfg cfg = { 0 };
	uint64_t t0;

	cfg.bandwidth = (struct token_bucket){ true, 1, 0,
					       RL_MAX_REFILL_TIME_MS, true };
	assert_int_equal(rl_init(&rl, &cfg), 0);
	assert_int_equal(rl.bytes.refill_ns, RL_MAX_REFILL_TIME_MS * MS);
	t0 = rl.bytes.last_ns;
	rl_consume(&rl, 1);
	assert_int_equal(rl_blocked_ns(&rl, t0),
			 RL_MAX_REFILL_TIME_MS * MS + 1);
	rl_consume(&rl, 10);
	assert_true(rl_blocked_ns(&rl, t0) == UINT64_MAX);
	rl_destroy(&rl);
}

/* A snapshot keeps what a limiter has spent: the restored one starts
 * from the saved tokens and burst (not full), refilling from then. A
 * crafted state cannot give more than the buckets hold. */
static void test_save_restore(void **state)
{
	struct rate_limiter a, b;
	struct rate_limiter_cfg cfg = { 0 };
	uint8_t saved[RL_STATE_SIZE];

	cfg.bandwidth = (struct token_bucket){ true, 1000, 500, 1000, true };
	cfg.ops = (struct token_bucket){ true, 10, 0, 1000, true };
	assert_int_equal(rl_init(&a, &cfg), 0);
	rl_consume(&a, 700); /* burst 500 gone, then 200 tokens */
	rl_save(&a, saved);
	assert_int_equal(rl_init(&b, &cfg), 0);
	rl_restore(&b, saved);
	assert_int_equal(b.bytes.tokens, 800);
	assert_int_equal(b.bytes.burst, 0);
	assert_int_equal(b.ops.tokens, 9);
	assert_int_equal(rl_blocked_ns(&b, b.bytes.last_ns), 0);
	rl_consume(&b, 800);
	assert_true(rl_blocked_ns(&b, b.bytes.last_ns) > 0);
	memset(saved, 0x7f, sizeof(saved)); /* every field huge */
	rl_restore(&b, saved);
	assert_int_equal(b.bytes.tokens, 1000);
	assert_int_equal(b.bytes.burst, 0); /* never more than was left */
	memset(saved, 0x80, sizeof(saved)); /* every field hugely negative */
	rl_restore(&b, saved);
	assert_true(b.bytes.tokens < 0 && b.bytes.burst == 0);
	rl_consume(&b, UINT32_MAX); /* no overflow (SAN) */
	rl_destroy(&a);
	rl_destroy(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unlimited),
		cmocka_unit_test(test_bandwidth_rate),
		cmocka_unit_test(test_burst_and_ops),
		cmocka_unit_test(test_longest_refill_time),
		cmocka_unit_test(test_save_restore),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: virtio-rng driven by a hostile guest script
 * (guest_script.h). Config byte: bit 0 a rate limiter of 1 KiB per
 * 100 ms. No host events. */
#include "tests/fuzz/guest_script.h"
#include "tests/harness/guest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int create(uint8_t cfg)
{
	struct entropy_cfg c = { .set = true };

	if (cfg & 1)
		c.rl.bandwidth =
			(struct token_bucket){ true, 1024, 0, 100, true };
	return guest_add_rng(&c);
}

static const struct script_dev rng = { .nr_queues = 1,
				       .create = create,
				       .life = KEPT,
				       .cfg_mask = 1 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	script_run(&rng, data, size);
	return 0;
}

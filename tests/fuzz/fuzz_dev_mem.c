// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: virtio-mem driven by a hostile guest script
 * (guest_script.h): plug, unplug, unplug-all and state requests of any
 * range and type, buffers anywhere (in plugged memory too). Config byte:
 * bit 0 blocks of 4 MiB (else 2), bit 1 slots of 8 MiB (else 4); the
 * region is 16 MiB, at 4 GiB. Host events: PATCH /hotplug/memory to
 * `arg` blocks at most the region (kind 0, the API's bounds), GET /hotplug/memory (1). */
#include "tests/fuzz/guest_script.h"
#include "tests/harness/guest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned block_mib;

static int create(uint8_t cfg)
{
	struct hotplug_cfg c = { .set = true,
				 .total_size_mib = 16,
				 .block_size_mib = cfg & 1 ? 4 : 2,
				 .slot_size_mib = cfg & 2 ? 8 : 4 };

	block_mib = c.block_size_mib;
	return guest_add_mem(&c);
}

static void host(uint8_t kind, uint16_t arg)
{
	struct vmem_status st;

	if (kind % 2 == 0)
		vmem_set_requested(guest.mem,
				   arg % (16 / block_mib + 1) * block_mib);
	else
		vmem_status(guest.mem, &st);
}

/* FRESH: the hot-plug region (one per VM) is made with the device. */
static const struct script_dev mem = { .nr_queues = 1,
				       .create = create,
				       .host = host,
				       .life = FRESH,
				       .cfg_mask = 3 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	script_run(&mem, data, size);
	return 0;
}

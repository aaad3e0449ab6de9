// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: virtio-balloon driven by a hostile guest script
 * (guest_script.h): frame numbers anywhere, stats with any tags, free
 * page reports of any range, queues missing or extra. Config byte: bit 0
 * statistics (every second), bit 1 free page reporting, bit 2
 * deflate_on_oom. Host events: PATCH /balloon to `arg` MiB (kind 0), PATCH
 * /balloon/statistics to `arg % 3` seconds (1: the first update is due at
 * once, for the next SERVE), GET /balloon/statistics (2). */
#include "tests/fuzz/guest_script.h"
#include "tests/harness/guest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int create(uint8_t cfg)
{
	struct balloon_cfg c = { .set = true,
				 .stats_interval_s = cfg & 1,
				 .free_page_reporting = cfg & 2,
				 .deflate_on_oom = cfg & 4 };

	return guest_add_balloon(&c);
}

static void host(uint8_t kind, uint16_t arg)
{
	struct balloon_stats st;

	if (kind % 3 == 0)
		vballoon_set_target(guest.balloon, arg);
	else if (kind % 3 == 1 &&
		 vballoon_set_stats_interval(guest.balloon, arg % 3))
		return; /* on or off after boot: refused, nothing changed */
	else
		vballoon_stats(guest.balloon, &st);
}

static const struct script_dev balloon = { .nr_queues = 4,
					   .create = create,
					   .host = host };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	script_run(&balloon, data, size);
	return 0;
}

// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: virtio-balloon driven by a hostile guest script
 * (guest_script.h): frame numbers anywhere, stats with any tags, free
 * page reports and hints of any range under any command id, queues
 * missing or extra, config space read and written (WRITE/READ from
 * 0x100: the command id at 0x108). Config byte: bit 0 statistics (every
 * second), bit 1 free page reporting, bit 2 deflate_on_oom, bit 3 free
 * page hinting (all three optional queues: five in all). Host events by kind
 * % 6: PATCH /balloon to `arg` MiB (0), PATCH /balloon/statistics to `arg
 * % 3` seconds (1: the first update is due at once, for the next SERVE),
 * GET /balloon/statistics (2), PATCH /balloon/hinting/start with
 * acknowledge_on_stop = arg & 1 (3), /stop (4), GET /status (5). */
#include <errno.h>
#include <stdlib.h>

#include "tests/fuzz/guest_script.h"
#include "tests/harness/guest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int create(uint8_t cfg)
{
	struct balloon_cfg c = { .set = true,
				 .stats_interval_s = cfg & 1,
				 .free_page_reporting = cfg & 2,
				 .deflate_on_oom = cfg & 4,
				 .free_page_hinting = cfg & 8 };

	return guest_add_balloon(&c);
}

/* The hinting calls: 0, or -ENOTSUP without free_page_hinting. */
static void host_hint(uint8_t kind, uint16_t arg)
{
	struct balloon_hint_status st;
	int ret;

	if (kind == 3)
		ret = vballoon_hint_start(guest.balloon, arg & 1);
	else if (kind == 4)
		ret = vballoon_hint_stop(guest.balloon);
	else
		ret = vballoon_hint_status(guest.balloon, &st);
	if (ret && ret != -ENOTSUP)
		abort();
}

static bool interval_patched; /* by this input */

static void host(uint8_t kind, uint16_t arg)
{
	struct balloon_stats st;

	kind %= 6;
	if (kind == 0)
		vballoon_set_target(guest.balloon, arg);
	else if (kind == 1)
		/* on or off after boot: refused, nothing changed */
		interval_patched |=
			!vballoon_set_stats_interval(guest.balloon, arg % 3);
	else if (kind == 2)
		vballoon_stats(guest.balloon, &st);
	else
		host_hint(kind, arg);
}

/* What host events changed outside the device's snapshot state: the
 * stats interval (on or off cannot change; the script puts its timer back
 * as created). The statistics the guest last sent stay, but they are only
 * ever copied out to the host. */
static void end(uint8_t cfg)
{
	if (interval_patched &&
	    vballoon_set_stats_interval(guest.balloon, cfg & 1))
		abort();
	interval_patched = false;
}

static const struct script_dev balloon = { .nr_queues = 5,
					   .create = create,
					   .host = host,
					   .end = end,
					   .life = KEPT,
					   .cfg_mask = 0xf };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	script_run(&balloon, data, size);
	return 0;
}

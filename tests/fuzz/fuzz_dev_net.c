// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: virtio-net driven by a hostile guest script
 * (guest_script.h) on a real tap (needs root), with the metadata service
 * on it (every tx frame goes through its detour first), no config byte.
 * One device serves every input (KEPT): the rewind to its state at
 * creation (net_restore) drops what would outlive a reset, the metadata
 * service's TCP connections and unsent answers and the frames waiting in
 * its tap, as a new device would not have them; the metadata store is
 * the API's, which no guest writes. A new device for each input cost a
 * tap close (an RCU grace period) and the service's buffers, 3 in 4 of
 * the time. Host event: a frame of `arg` bytes (60..1514) arrives on the
 * tap. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mmds/mmds.h"
#include "tests/fuzz/guest_script.h"
#include "tests/harness/guest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int create(uint8_t cfg)
{
	static struct mmds m; /* the last device's: destroyed after it */
	static bool have_mmds;
	struct net_cfg c = { 0 };
	int ret;

	if (have_mmds)
		mmds_destroy(&m);
	ret = mmds_init(&m, MMDS_DEFAULT_SIZE_LIMIT);
	have_mmds = !ret;
	if (!ret)
		ret = guest_add_net(&c);
	return ret ? ret : vnet_enable_mmds(guest.net, &m, MMDS_DEFAULT_IPV4);
}

static void host(uint8_t kind, uint16_t arg)
{
	guest_tap_frame(arg);
}

static const struct script_dev net = { .nr_queues = 2,
				       .create = create,
				       .host = host,
				       .life = KEPT };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (geteuid() != 0) {
		fprintf(stderr, "fuzz_dev_net: a tap needs root\n");
		exit(1);
	}
	script_run(&net, data, size);
	return 0;
}

// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: virtio-blk driven by a hostile guest script
 * (guest_script.h) on a real 64 KiB drive. Config byte: bit 0 the Async
 * engine (io_uring, completions served by SERVE), bit 1 read-only, bit 2
 * a rate limiter of 4 KiB per 100 ms, bit 3 cache Writeback. Host events:
 * PATCH /drives/disk with the same file (kind 0), a missing one (1), or
 * a new rate limiter of `arg` bytes per 100 ms (2). One drive is kept per
 * config (KEPT), end() puts back what an input changed. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/fuzz/guest_script.h"
#include "tests/harness/guest.h"

#define DRIVE_SIZE (64 * 1024)
#define DRIVE_TEXT "microvm drive"
#define LIMIT ((struct token_bucket){ true, 4096, 0, 100, true })

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int create(uint8_t cfg)
{
	struct drive_cfg c = {
		.engine = cfg & 1 ? IO_ENGINE_ASYNC : IO_ENGINE_SYNC,
		.read_only = cfg & 2,
		.cache = cfg & 8 ? CACHE_WRITEBACK : CACHE_UNSAFE
	};

	if (cfg & 4)
		c.rl.bandwidth = LIMIT;
	return guest_add_blk(&c, DRIVE_TEXT, DRIVE_SIZE);
}

static void host(uint8_t kind, uint16_t arg)
{
	struct drive_patch p = { .id = "disk" };

	if (kind % 3 == 2) {
		p.has_rl = true;
		p.rl.bandwidth =
			(struct token_bucket){ arg != 0, arg, 0, 100, true };
	} else {
		p.has_path = true;
		snprintf(p.path, sizeof(p.path), "%s/%s", guest.dir,
			 kind % 3 ? "missing" : "disk");
	}
	if (vblk_update(guest.blk, &p))
		return; /* refused: the drive is unchanged */
}

/* The limiter as created: a PATCH starts the bucket afresh (the state
 * restored after end() then sets its tokens as they were); an unlimited
 * drive refused any limit. */
static void end_limiter(uint8_t cfg)
{
	struct drive_patch p = { .id = "disk", .has_rl = true };

	p.rl.bandwidth = LIMIT;
	if (cfg & 4 && vblk_update(guest.blk, &p))
		abort();
}

/* The drive's bytes as create() wrote them, whatever the last input wrote
 * (every device of every config shares the file); the limiter as created.
 * A PATCH of the drive's path names the same file or is refused. */
static void end(uint8_t cfg)
{
	static uint8_t fresh[DRIVE_SIZE] = DRIVE_TEXT, now[DRIVE_SIZE];
	static int fd = -1;
	char path[sizeof(guest.dir) + 8];

	snprintf(path, sizeof(path), "%s/disk", guest.dir);
	if (fd < 0)
		fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || pread(fd, now, DRIVE_SIZE, 0) != DRIVE_SIZE)
		abort();
	if (memcmp(now, fresh, DRIVE_SIZE) &&
	    pwrite(fd, fresh, DRIVE_SIZE, 0) != DRIVE_SIZE)
		abort();
	end_limiter(cfg);
}

static const struct script_dev blk = { .nr_queues = 1,
				       .create = create,
				       .host = host,
				       .end = end,
				       .life = KEPT,
				       .cfg_mask = 0xf };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	script_run(&blk, data, size);
	return 0;
}

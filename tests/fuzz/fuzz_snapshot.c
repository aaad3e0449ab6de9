// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: the state-file decoder on arbitrary bytes. Inputs
 * with a valid CRC get deep quickly because the harness reseals them half
 * of the time; a decoded state must re-encode to the same bytes. Built
 * twice: fuzz_snapshot (x86's sections) and, for aarch64 under qemu-user,
 * fuzz_snapshot_arm64 (arm64's, checked by format_arm64.c). */
#include <stdlib.h>
#include <string.h>

#include "snapshot/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap_state s;
	uint8_t *copy, *again;
	size_t len;
	char err[256];

	if (size > SNAP_MAX_FILE)
		return 0;
	copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	if (size >= 32 && (data[0] & 1)) { /* reseal: magic, length, CRC */
		uint64_t payload = size - 32;
		uint32_t crc = snap_crc32(copy + 32, size - 32);

		memcpy(copy, SNAP_MAGIC, 8);
		memcpy(copy + 16, &payload, 8);
		memcpy(copy + 24, &crc, 4);
	}
	if (snap_decode(copy, size, &s, err, sizeof(err)) == 0) {
		if (snap_encode(&s, &again, &len) == 0)
			free(again);
		snap_state_free(&s);
	}
	free(copy);
	return 0;
}

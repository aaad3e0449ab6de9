// SPDX-License-Identifier: Apache-2.0
/* What the state-file unit tests share (test_snapshot_format.c for x86,
 * test_arm64_snapshot.c for arm64): a sample state and its encoding,
 * resealing a file edited on purpose, and the check that a file is refused
 * for the reason named with nothing left allocated. After unit.h. */
#ifndef MICROVM_TESTS_UNIT_SNAPSHOT_SAMPLE_H
#define MICROVM_TESTS_UNIT_SNAPSHOT_SAMPLE_H

#include "snapshot/snapshot.h"

struct sample {
	struct snap_state s;
	uint8_t *buf;
	size_t len;
};

static inline void free_sample(struct sample *x)
{
	snap_state_free(&x->s);
	free(x->buf);
}

/* Recomputes the CRC after a deliberate edit, so the check under test is
 * the one that fires. */
static inline void reseal(uint8_t *buf, size_t len)
{
	uint32_t crc = snap_crc32(buf + 32, len - 32);

	memcpy(buf + 24, &crc, 4);
}

static inline void expect_refused(const uint8_t *buf, size_t len,
				  const char *why)
{
	struct snap_state s;
	char err[256] = "";

	assert_int_equal(snap_decode(buf, len, &s, err, sizeof(err)), -EINVAL);
	if (!strstr(err, why))
		fail_msg("error '%s' does not say '%s'", err, why);
	assert_null(s.vcpus);
	assert_null(s.config_json);
}

/* Appends a section (resealed) to a copy of the sample. */
static inline uint8_t *with_section(const struct sample *x, uint32_t type,
				    uint32_t len, const void *data,
				    size_t *out_len)
{
	uint8_t *b = calloc(1, x->len + 8 + len);
	uint64_t payload = x->len + 8 + len - 32;

	memcpy(b, x->buf, x->len);
	memcpy(b + x->len, &type, 4);
	memcpy(b + x->len + 4, &len, 4);
	if (data)
		memcpy(b + x->len + 8, data, len);
	memcpy(b + 16, &payload, 8);
	*out_len = x->len + 8 + len;
	reseal(b, *out_len);
	return b;
}

#endif

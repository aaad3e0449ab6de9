// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: the MMDS endpoint fed a hostile guest. The input is a
 * script of records, an action byte then its bytes:
 *   0: a raw frame (length byte, bytes), as the guest sent it
 *   1: a TCP segment built with good checksums: port, flags, window, a
 *      sequence and an ACK offset from what the guest and the MMDS last
 *      used on that port (so handshakes and conversations happen), data
 *   2: the clock moves on (two bytes of milliseconds)
 *   3: a JSON merge patch of the store (length byte, text)
 * After each record the guest takes every frame the MMDS has, and checks
 * its checksums. ASan/UBSan check every step; each input starts from a new
 * endpoint and frees it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mmds/mmds.h"
#include "tests/harness/inet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GUEST_IP 0x0a000002u
#define PORTS 4

struct input {
	const uint8_t *p;
	size_t n;
};

struct peer { /* what the guest knows about its connection on a port */
	uint32_t seq, ack;
};

static uint8_t take(struct input *in)
{
	uint8_t b = in->n ? *in->p : 0;

	if (in->n) {
		in->p++;
		in->n--;
	}
	return b;
}

static size_t take_bytes(struct input *in, size_t want, const uint8_t **out)
{
	size_t n = want < in->n ? want : in->n;

	*out = in->p;
	in->p += n;
	in->n -= n;
	return n;
}

static void segment(struct mmds_stack *s, struct input *in, struct peer *peers,
		    uint64_t now)
{
	static uint8_t f[14 + 20 + 20 + 256];
	uint8_t port = take(in) % PORTS, flags = take(in), win = take(in);
	int8_t dseq = (int8_t)take(in), dack = (int8_t)take(in);
	const uint8_t *payload;
	size_t len = take_bytes(in, take(in), &payload);
	uint8_t *ip = f + 14, *t = f + 34;
	struct peer *p = &peers[port];

	memset(f, 0, 54);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(40 + len));
	ip[8] = 64;
	ip[9] = 6;
	put32(ip + 12, GUEST_IP);
	put32(ip + 16, MMDS_DEFAULT_IPV4);
	put16(ip + 10, csum(ip, 20, 0));
	put16(t, (uint16_t)(1000 + port));
	put16(t + 2, MMDS_PORT);
	put32(t + 4, p->seq + (uint32_t)dseq);
	put32(t + 8, p->ack + (uint32_t)dack);
	t[12] = 0x50;
	t[13] = flags;
	put16(t + 14, (uint16_t)(win << 8));
	memcpy(t + 20, payload, len);
	put16(t + 16,
	      csum(t, 20 + len, pseudo(GUEST_IP, MMDS_DEFAULT_IPV4, 20 + len)));
	if (!mmds_stack_from_guest(s, f, 54 + len, false, now))
		abort();
	p->seq += (uint32_t)dseq + (uint32_t)len + !!(flags & 3);
}

/* Takes every frame, checks it as a guest would, notes sequence numbers. */
static void drain(struct mmds_stack *s, struct peer *peers, uint64_t now)
{
	static uint8_t f[MMDS_FRAME_MAX];
	size_t n;

	while ((n = mmds_stack_to_guest(s, f, sizeof(f), now))) {
		const uint8_t *ip = f + 14, *t = ip + 20;
		uint16_t port;

		if (n > sizeof(f) || n < 14)
			abort();
		if (f[12] == 0x08 && f[13] == 0x06)
			continue; /* an ARP reply */
		if (n < 54 || csum(ip, 20, 0) ||
		    csum(t, n - 34,
			 pseudo(MMDS_DEFAULT_IPV4, GUEST_IP, n - 34)))
			abort();
		port = (uint16_t)(t[2] << 8 | t[3]);
		if (port >= 1000 && port < 1000 + PORTS) {
			peers[port - 1000].ack =
				get32(t + 4) +
				(uint32_t)(n - 34 - (t[12] >> 4) * 4) +
				!!(t[13] & 3);
		}
	}
}

static void patch(struct mmds *m, struct input *in)
{
	const uint8_t *text;
	size_t len = take_bytes(in, take(in), &text);
	char *json = strndup((const char *)text, len);
	cJSON *v = json ? cJSON_Parse(json) : NULL;
	const char *err;

	if (v && mmds_store_patch(&m->store, v, &err) == -EINVAL)
		(void)!mmds_store_put(&m->store, v, &err);
	cJSON_Delete(v);
	free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct peer peers[PORTS] = { { 0 } };
	struct mmds m;
	struct mmds_stack *s;
	uint64_t now = 1;

	if (mmds_init(&m, 4096))
		abort();
	m.version = size & 1 ? MMDS_V2 : MMDS_V1;
	s = mmds_stack_create(&m, MMDS_DEFAULT_IPV4);
	if (!s)
		abort();
	while (in.n) {
		const uint8_t *frame;
		size_t len;

		switch (take(&in) % 4) {
		case 0:
			len = take_bytes(&in, take(&in), &frame);
			mmds_stack_from_guest(s, frame, len, size & 2, now);
			break;
		case 1:
			segment(s, &in, peers, now);
			break;
		case 2:
			now += take(&in) | (uint64_t)take(&in) << 8;
			break;
		default:
			patch(&m, &in);
		}
		drain(s, peers, now);
		if (mmds_stack_connections(s) > MMDS_MAX_CONNECTIONS)
			abort();
	}
	mmds_stack_destroy(s);
	mmds_destroy(&m);
	return 0;
}

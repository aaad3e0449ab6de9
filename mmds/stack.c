// SPDX-License-Identifier: Apache-2.0
/* The MMDS's link and network layers for one interface: Ethernet frames in
 * and out, ARP replies for the MMDS address, IPv4 (header checksum checked,
 * options skipped, fragments dropped) carrying TCP to port 80 (checksum
 * checked unless the guest left it to the device), handed to tcp.c; and the
 * frames tcp.c's segments go out in, every checksum computed. A frame is
 * ours when it is ARP for the MMDS address or IPv4 to it (as Firecracker
 * decides); ours and malformed, it is dropped. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mmds/mmds.h"

#define ETH_HLEN 14
#define ETH_P_IPV4 0x0800
#define ETH_P_ARP 0x0806
#define ARP_LEN 28
#define IP_HLEN 20
#define TCP_HLEN 20
#define IPPROTO_TCP_ 6

struct mmds_stack {
	struct mmds *m;
	uint32_t ip;
	uint8_t mac[6], guest_mac[6];
	bool arp_pending;
	uint8_t arp_sha[6];
	uint32_t arp_spa;
	uint16_t ip_id;
	struct mmds_tcp *tcp;
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* The Internet checksum's running sum (RFC 1071). */
static uint32_t sum16(const uint8_t *p, size_t n, uint32_t acc)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		acc += be16(p + i);
	if (n & 1)
		acc += (uint32_t)p[n - 1] << 8;
	return acc;
}

static uint16_t fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)~acc;
}

static uint32_t pseudo_sum(uint32_t src, uint32_t dst, size_t tcp_len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) +
	       IPPROTO_TCP_ + (uint32_t)tcp_len;
}

struct mmds_stack *mmds_stack_create(struct mmds *m, uint32_t ipv4)
{
	static const uint8_t mac[6] = MMDS_MAC;
	struct mmds_stack *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->tcp = mmds_tcp_create(m);
	if (!s->tcp) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	s->m = m;
	s->ip = ipv4;
	memcpy(s->mac, mac, sizeof(mac));
	return s;
}

void mmds_stack_destroy(struct mmds_stack *s)
{
	if (!s)
		return;
	mmds_tcp_destroy(s->tcp);
	free(s);
}

void mmds_stack_reset(struct mmds_stack *s)
{
	mmds_tcp_reset(s->tcp);
	memset(s->guest_mac, 0, sizeof(s->guest_mac));
	s->arp_pending = false;
	s->ip_id = 0;
}

/* ---- from the guest ---- */

/* An ARP request for our address: remembered, answered on the next pull. */
static void arp_input(struct mmds_stack *s, const uint8_t *a)
{
	if (be16(a) != 1 || be16(a + 2) != ETH_P_IPV4 || a[4] != 6 ||
	    a[5] != 4 || be16(a + 6) != 1)
		return;
	memcpy(s->arp_sha, a + 8, 6);
	s->arp_spa = be32(a + 14);
	s->arp_pending = true;
}

/* The MSS option of a SYN, 0 if none; a malformed list ends the search. */
static uint16_t mss_option(const uint8_t *t, size_t doff)
{
	size_t i = TCP_HLEN;

	while (i < doff && t[i] != 0) {
		size_t len = t[i] == 1 ? 1 : i + 1 < doff ? t[i + 1] : 0;

		if (len < 1 || (t[i] != 1 && len < 2) || i + len > doff)
			return 0;
		if (t[i] == 2 && len == 4)
			return be16(t + i + 2);
		i += len;
	}
	return 0;
}

static void tcp_packet(struct mmds_stack *s, const uint8_t *t, size_t len,
		       uint32_t src, bool csum_partial, uint64_t now_ms)
{
	struct mmds_seg seg;
	size_t doff;

	if (len < TCP_HLEN)
		return;
	doff = (size_t)(t[12] >> 4) * 4;
	if (doff < TCP_HLEN || doff > len || be16(t + 2) != MMDS_PORT)
		return;
	if (!csum_partial &&
	    fold(sum16(t, len, pseudo_sum(src, s->ip, len))) != 0)
		return;
	seg = (struct mmds_seg){ .addr = src,
				 .port = be16(t),
				 .seq = be32(t + 4),
				 .ack = be32(t + 8),
				 .flags = t[13] & 0x3f,
				 .window = be16(t + 14),
				 .data = t + doff,
				 .len = len - doff };
	if (seg.flags & TCPF_SYN)
		seg.mss = mss_option(t, doff);
	mmds_tcp_input(s->tcp, &seg, now_ms);
}

static void ipv4_input(struct mmds_stack *s, const uint8_t *p, size_t n,
		       bool csum_partial, uint64_t now_ms)
{
	size_t ihl = (size_t)(p[0] & 15) * 4, total = be16(p + 2);

	if (p[0] >> 4 != 4 || ihl < IP_HLEN || ihl > n || total < ihl ||
	    total > n || fold(sum16(p, ihl, 0)) != 0)
		return;
	if (be16(p + 6) & 0x3fff) /* more fragments, or an offset */
		return;
	if (p[9] != IPPROTO_TCP_)
		return;
	tcp_packet(s, p + ihl, total - ihl, be32(p + 12), csum_partial, now_ms);
}

bool mmds_stack_from_guest(struct mmds_stack *s, const uint8_t *frame,
			   size_t len, bool csum_partial, uint64_t now_ms)
{
	const uint8_t *payload = frame + ETH_HLEN;
	uint16_t type;

	if (len < ETH_HLEN)
		return false;
	type = be16(frame + 12);
	if (type == ETH_P_ARP && len >= ETH_HLEN + ARP_LEN &&
	    be32(payload + 24) == s->ip) {
		arp_input(s, payload);
		return true;
	}
	if (type == ETH_P_IPV4 && len >= ETH_HLEN + IP_HLEN &&
	    be32(payload + 16) == s->ip) {
		memcpy(s->guest_mac, frame + 6, 6);
		ipv4_input(s, payload, len - ETH_HLEN, csum_partial, now_ms);
		return true;
	}
	return false;
}

/* ---- to the guest ---- */

static size_t eth_header(const struct mmds_stack *s, uint8_t *buf,
			 const uint8_t *dst, uint16_t type)
{
	memcpy(buf, dst, 6);
	memcpy(buf + 6, s->mac, 6);
	put16(buf + 12, type);
	return ETH_HLEN;
}

static size_t arp_reply(struct mmds_stack *s, uint8_t *buf)
{
	uint8_t *a = buf + eth_header(s, buf, s->arp_sha, ETH_P_ARP);

	put16(a, 1);
	put16(a + 2, ETH_P_IPV4);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 2);
	memcpy(a + 8, s->mac, 6);
	put32(a + 14, s->ip);
	memcpy(a + 18, s->arp_sha, 6);
	put32(a + 24, s->arp_spa);
	s->arp_pending = false;
	return ETH_HLEN + ARP_LEN;
}

static size_t tcp_header(const struct mmds_stack *s, uint8_t *t,
			 const struct mmds_seg *seg)
{
	size_t hlen = TCP_HLEN + (seg->mss ? 4 : 0), len = hlen + seg->len;

	put16(t, MMDS_PORT);
	put16(t + 2, seg->port);
	put32(t + 4, seg->seq);
	put32(t + 8, seg->ack);
	t[12] = (uint8_t)(hlen / 4) << 4;
	t[13] = seg->flags;
	put16(t + 14, seg->window);
	put32(t + 16, 0); /* checksum, urgent pointer */
	if (seg->mss) {
		t[20] = 2;
		t[21] = 4;
		put16(t + 22, seg->mss);
	}
	if (seg->len)
		memcpy(t + hlen, seg->data, seg->len);
	put16(t + 16, fold(sum16(t, len, pseudo_sum(s->ip, seg->addr, len))));
	return len;
}

static size_t tcp_frame(struct mmds_stack *s, uint8_t *buf,
			const struct mmds_seg *seg)
{
	uint8_t *p = buf + eth_header(s, buf, s->guest_mac, ETH_P_IPV4);
	size_t total = IP_HLEN + tcp_header(s, p + IP_HLEN, seg);

	p[0] = 0x45;
	p[1] = 0;
	put16(p + 2, (uint16_t)total);
	put16(p + 4, s->ip_id++);
	put16(p + 6, 0x4000); /* don't fragment */
	p[8] = 64;
	p[9] = IPPROTO_TCP_;
	put16(p + 10, 0);
	put32(p + 12, s->ip);
	put32(p + 16, seg->addr);
	put16(p + 10, fold(sum16(p, IP_HLEN, 0)));
	return ETH_HLEN + total;
}

size_t mmds_stack_to_guest(struct mmds_stack *s, uint8_t *buf, size_t cap,
			   uint64_t now_ms)
{
	struct mmds_seg seg;

	if (cap < MMDS_FRAME_MAX)
		return 0;
	if (s->arp_pending)
		return arp_reply(s, buf);
	if (!mmds_tcp_output(s->tcp, &seg, now_ms))
		return 0;
	return tcp_frame(s, buf, &seg);
}

uint64_t mmds_stack_deadline(const struct mmds_stack *s)
{
	return mmds_tcp_deadline(s->tcp);
}

unsigned mmds_stack_connections(const struct mmds_stack *s)
{
	return mmds_tcp_count(s->tcp);
}
